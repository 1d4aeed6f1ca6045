-- Example 4: get_or_instantiate and update_or_instantiate (DiffSync's
-- examples/04-get-update-instantiate).
-- Run: bin/moonsync run examples/04-get-update-instantiate/main.lua
local here = arg[0]:match("^(.*)/[^/]*$") or "."
package.path = here .. "/?.lua;" .. package.path

local ms = require "moonsync"
local backends = require "backends"

print("Initializing and loading Backend A...")
local backend_a = backends.BackendA:new { name = "Backend-A" }
backend_a:load()
print(backend_a:str())

print("Initializing and loading Backend B...")
local backend_b = backends.BackendB:new { name = "Backend-B" }
backend_b:load()
print(backend_b:str())

print("Getting diffs from Backend A to Backend B...")
local diff_a_b = backend_a:diff_to(backend_b)
print(diff_a_b:str())

print("Diffs can also be represented as a dictionary...")
print(ms.pformat(diff_a_b:dict()))

print("Syncing changes from Backend A to Backend B...")
backend_a:sync_to(backend_b)
print("Getting updated diffs from Backend A to Backend B...")
print(backend_a:diff_to(backend_b):str())
