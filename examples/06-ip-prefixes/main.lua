-- Example 6: IP prefixes kept in two IPAMs that shape them differently.
-- IPAM A writes "10.0.0.5/24" with a numeric VLAN; IPAM B splits network
-- and length and names VLANs "VLAN10". Mappings bring both to one
-- canonical model (the prefix normalizer canonicalizes addresses and
-- host bits), then the diff shows real differences only.
-- Run: bin/moonsync run examples/06-ip-prefixes/main.lua
local ms = require "moonsync"

local here = (arg[0]:match("^(.*)/[^/]*$") or ".")

local Prefix = ms.model "prefix" { identifiers = { "prefix", "vrf" }, attributes = { "vlan", "tenant" } }
local Ipam = ms.adapter "ipam" { models = { Prefix } }

local from_a = ms.mapping { model = Prefix, from = "prefixes", fields = {
  prefix = { path = "prefix", transform = "prefix" },
  vrf = "vrf",
  vlan = "vlan_id",
  tenant = "tenant",
} }
local from_b = ms.mapping { model = Prefix, fields = {
  prefix = { compute = function(r) return r.network .. "/" .. r.length end, transform = "prefix" },
  vrf = "vrf_name",
  vlan = { path = "vlan", transform = function(v) return v and tonumber(v:match("%d+")) end },
  tenant = "owner",
} }

local a = Ipam:new { name = "ipam-a" }
a:load_mapped(from_a, { file = here .. "/ipam_a.json" })
local b = Ipam:new { name = "ipam-b" }
b:load_mapped(from_b, { file = here .. "/ipam_b.json" })

print("IPAM A, canonical:\n" .. a:str() .. "\n")
local diff = b:diff_from(a)
print("What IPAM B must change to match IPAM A:\n" .. diff:str())
b:sync_from(a, { diff = diff })
print("\nAfter the sync: " .. b:diff_from(a):str())
