-- Example 1: multiple data sources (DiffSync's examples/01-multiple-data-sources).
-- Run: bin/moonsync run examples/01-multiple-data-sources/main.lua
local here = arg[0]:match("^(.*)/[^/]*$") or "."
package.path = here .. "/?.lua;" .. package.path

local ms = require "moonsync"
local backend = require "backend"

--- Custom Diff class to control the order of the site objects.
local MyDiff = ms.diff_class {
  -- the site children in alphabetical order
  order_children_site = function(children)
    table.sort(children, function(a, b) return a.name < b.name end)
    return children
  end,
}

print("Initializing and loading Backend A...")
local backend_a = backend.BackendA:new { name = "Backend-A" }
backend_a:load()
print(backend_a:str())

print("Initializing and loading Backend B...")
local backend_b = backend.BackendB:new { name = "Backend-B" }
backend_b:load()
print(backend_b:str())

print("Initializing and loading Backend C...")
local backend_c = backend.BackendC:new()
backend_c:load()
print(backend_c:str())

print("Getting diffs from Backend A to Backend B...")
local diff_a_b = backend_a:diff_to(backend_b, { diff_class = MyDiff })
print(diff_a_b:str())

print("Diffs can also be represented as a dictionary...")
print(ms.pformat(diff_a_b:dict()))

print("Syncing changes from Backend A to Backend B...")
backend_a:sync_to(backend_b, { diff = diff_a_b })
print("Getting updated diffs from Backend A to Backend B...")
print(backend_a:diff_to(backend_b):str())
