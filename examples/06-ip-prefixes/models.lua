--- The DiffSync model (DiffSync's examples/06-ip-prefixes/models.py).
local ms = require "moonsync"

local M = {}

--- Example model of a Prefix; each IPAM adapter declares it with its own
-- create, update and delete handlers (DiffSync's IpamAPrefix and
-- IpamBPrefix subclasses).
function M.Prefix(handlers)
  return ms.model "prefix" {
    identifiers = { "prefix" },
    attributes = { "vrf", "vlan_id", "tenant" },
    create = handlers.create,
    update = handlers.update,
    delete = handlers.delete,
  }
end

return M
