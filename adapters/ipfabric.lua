--- IP Fabric -> Nautobot, as Nautobot SSoT's IP Fabric integration does it
-- (nautobot_ssot/integrations/ipfabric): an IP Fabric API client, a
-- source adapter loading SSoT's models (locations from sites, with their
-- devices, interfaces and VLANs; stacks as virtual chassis members) from
-- one snapshot, with SSoT's job settings, and the Nautobot side of the same
-- models, declared on Nautobot's schema, with SSoT's safe delete mode.
--
--   local ipfabric = require "moonsync.adapters.ipfabric"
--   local models = ipfabric.models { safe_delete_mode = true }
--   local src = models.IPFabric:new { url = ..., token_env = "IPFABRIC_TOKEN" }:load()
--   local dst = models.Nautobot:new { url = ..., token_env = "NAUTOBOT_TOKEN" }:load()
--
-- docs/ipfabric.md has the settings, what maps to what, and where moonsync
-- departs from SSoT.
-- @module ipfabric
local ms = require "moonsync"
local http = require "moonsync.http"
local nautobot = require "moonsync.adapters.nautobot"
local rest = require "moonsync.adapters.rest"
local netutils = require "moonsync.netutils"

local fmt, concat, null = string.format, table.concat, ms.null

local M = {}

--- The tag SSoT marks what it writes with, and the one its safe delete
-- mode marks what it would have deleted with.
M.TAG = "SSoT Synced from IPFabric"
M.SAFE_DELETE_TAG = "SSoT Safe Delete"
--- The custom fields SSoT writes: the date of the last sync, a location's site id.
M.LAST_SYNCED_CF = "last_synced_from_sor"
M.SITE_ID_CF = "ipfabric_site_id"
--- The longest serial number and VLAN name Nautobot stores.
M.SERIAL_MAX, M.VLAN_NAME_MAX = 255, 255

--- SSoT's settings: its job form (snapshot, safe_delete_mode,
-- sync_ipfabric_tagged_only, location_filter) and its app configuration
-- (the ipfabric_* settings, without the prefix).
M.DEFAULTS = {
  snapshot = "$last",
  safe_delete_mode = true,
  sync_ipfabric_tagged_only = true,
  location_filter = false,
  canonical_interface_names = false,
  sync_dev_type_to_role = true,
  default_device_role = "Network Device",
  default_device_role_color = "ff0000",
  default_device_status = "Active",
  default_interface_mac = "00:00:00:00:00:01",
  default_interface_mtu = 1500,
  default_interface_type = "1000base-t",
  safe_delete_device_status = "Offline",
  safe_delete_location_status = "Decommissioning",
  safe_delete_vlan_status = "Deprecated",
  safe_delete_ipaddress_status = "Deprecated",
  location_type = "Site",
  debug = false,
}

--- SSoT's data mappings: what each IP Fabric object becomes in Nautobot.
M.data_mappings = {
  { source = "Device", target = "Device", target_url = "/dcim/devices/" },
  { source = "Location", target = "Location", target_url = "/dcim/locations/" },
  { source = "Interfaces", target = "Interfaces", target_url = "/dcim/interfaces/" },
  { source = "IP Addresses", target = "IP Addresses", target_url = "/ipam/ip-addresses/" },
  { source = "VLANs", target = "VLANs", target_url = "/ipam/vlans/" },
}

local function str(v) if v == nil or v == null then return nil end return v end
-- Python's truthiness of a value from the API
local function truthy(v) return v ~= nil and v ~= null and v ~= "" and v ~= 0 and v ~= false end

--- The settings with SSoT's defaults for those not given; unknown ones
-- and values of the wrong type are errors naming them.
function M.settings(given)
  local s = {}
  for k, v in pairs(M.DEFAULTS) do s[k] = v end
  for k, v in pairs(given or {}) do
    local d = M.DEFAULTS[k]
    if d == nil then error(fmt("ipfabric settings: unknown setting '%s'", tostring(k)), 2) end
    local want = (k == "location_filter") and "string" or type(d)
    if v ~= false and type(v) ~= want then
      error(fmt("ipfabric settings: %s must be a %s, not %s", k, want, type(v)), 2)
    end
    s[k] = v
  end
  if s.location_filter == "" then s.location_filter = false end
  return s
end

--- Checks the Nautobot at `url` for what the models need of it: the
-- location type of sites (settings.location_type, "Site") allowing devices
-- and VLANs on its locations. Raises naming what is missing.
function M.check_nautobot(url, token_env, settings)
  local s = M.settings(settings)
  local lt = nautobot.location_type(url, token_env, s.location_type, "location_type")
  local have = {}
  for _, ct in ipairs(lt.content_types) do have[ct] = true end
  for _, ct in ipairs { "dcim.device", "ipam.vlan" } do
    if not have[ct] then
      error(ms.error("ValueError", fmt("Nautobot's location type '%s' (location_type) does not allow %s on its "
        .. "locations: add %s to its content types", lt.name, ct, ct)), 0)
    end
  end
  return lt
end

-- {====== the API client ======}

local Client = {}
Client.__index = Client

--- An IP Fabric client: `url` (the instance, https://ipfabric.example.com),
-- `token` or `token_env` (IPFABRIC_TOKEN), `api_version` (the server's,
-- asked at GET /api/version, unless given: "v7.0"), `page_size` (1000,
-- the SDK's), `concurrency` (4), `timeout` (15 s, SSoT's), `retries`,
-- `insecure`, `ca_file`. Table reads are POSTs that change nothing, so
-- they are retried as GETs are.
function M.client(o)
  o = o or {}
  if type(o.url) ~= "string" or o.url == "" then
    error("ipfabric client: no url given (IPFABRIC_URL): is the environment variable that should hold it set?", 2)
  end
  local c = http.client {
    base_url = o.url:gsub("/+$", ""),
    token = o.token, token_env = not o.token and (o.token_env or "IPFABRIC_TOKEN") or nil,
    token_header = "X-API-Token", token_prefix = "",
    concurrency = o.concurrency or 4, retries = o.retries, timeout = o.timeout or 15,
    retry_unsafe = true, insecure = o.insecure, ca_file = o.ca_file,
  }
  return setmetatable({ http = c, api_version = o.api_version, page_size = o.page_size or 1000 }, Client)
end

--- The API version the client speaks ("v7.0"), and the server's release.
function Client:version()
  if not self.api_version or not self.release then
    local v = self.http:get("/api/version"):json()
    if type(v) ~= "table" or type(v.apiVersion) ~= "string" then
      error(ms.error("HTTPError", "IP Fabric: GET /api/version did not say the API version (apiVersion)"), 0)
    end
    self.api_version = self.api_version or v.apiVersion
    self.release = str(v.releaseVersion) or v.apiVersion
  end
  return self.api_version, self.release
end

-- The version as numbers: "v7.3" -> 7, 3
local function version_numbers(v)
  local major, minor = tostring(v):match("^v?(%d+)%.?(%d*)")
  return tonumber(major) or 0, tonumber(minor) or 0
end

function Client:path(p) return fmt("/api/%s/%s", (self:version()), p) end

--- The id of a snapshot: an id, a name, or $last (the latest loaded, as
-- the SDK has it), $prev (the one before), $lastLocked. A snapshot that
-- is not loaded, or none loaded at all, is an error saying so.
function Client:snapshot_id(ref)
  ref = ref or "$last"
  local list = self.http:get(self:path("snapshots")):json()
  if type(list) ~= "table" then error(ms.error("HTTPError", "IP Fabric: GET snapshots did not answer a list"), 0) end
  local loaded = {}
  for _, sn in ipairs(list) do if sn.state == "loaded" then loaded[#loaded + 1] = sn end end
  table.sort(loaded, function(a, b) return (tonumber(str(a.tsEnd)) or 0) > (tonumber(str(b.tsEnd)) or 0) end)
  if #loaded == 0 then
    error(ms.error("ValueError", "IP Fabric has no loaded snapshot: load one before syncing"), 0)
  end
  local pick
  if ref == "$last" then pick = loaded[1]
  elseif ref == "$prev" then pick = loaded[2]
  elseif ref == "$lastLocked" then
    for _, sn in ipairs(loaded) do if pick == nil and sn.locked == true then pick = sn end end
  else
    for _, sn in ipairs(list) do if sn.id == ref or sn.name == ref then pick = pick or sn end end
    if pick and pick.state ~= "loaded" then
      error(ms.error("ValueError", fmt("IP Fabric snapshot %s is not loaded (state %s)", ref, tostring(pick.state))), 0)
    end
  end
  if not pick then error(ms.error("ValueError", fmt("IP Fabric has no snapshot %s", tostring(ref))), 0) end
  return pick.id
end

-- The body of one page of a table read.
local function table_body(q, start, limit)
  return { columns = q.columns, filters = q.filters, snapshot = q.snapshot, attributeFilters = q.attribute_filters,
           pagination = { limit = limit, start = start } }
end

local function rows_of(r, what)
  local body = r:json()
  if type(body) ~= "table" or type(body.data) ~= "table" then
    error(ms.error("HTTPError", fmt("IP Fabric: %s did not answer a page of rows (data)", what)), 0)
  end
  local meta = type(body._meta) == "table" and body._meta or {}
  return body.data, math.tointeger(tonumber(str(meta.count)))
end

--- Every row of several tables: `reads` is a list of {table =, columns =,
-- filters =, snapshot =, attribute_filters =}; the first page of each is
-- asked for at once, then every remaining page at once. Returns the rows
-- of each, in order. A table whose rows change while paging is an error.
function Client:tables(reads)
  local size = self.page_size
  local firsts = {}
  for i, q in ipairs(reads) do
    firsts[i] = { method = "POST", path = self:path("tables/" .. q.table), json = table_body(q, 0, size) }
  end
  local out, more, owners = {}, {}, {}
  local function failed(r, what)
    local resp = r.response
    error(ms.error("HTTPError", fmt("IP Fabric: reading %s: %s", what, resp and fmt("HTTP %d: %s", resp.status,
      (resp.body or ""):sub(1, 300)) or (r.error and r.error.message or "request failed"))), 0)
  end
  for i, r in ipairs(self.http:request_many(firsts)) do
    local q = reads[i]
    if not r.ok then failed(r, q.table) end
    local rows, count = rows_of(r.response, q.table)
    out[i] = { rows = rows, count = count }
    if count and count > #rows and #rows > 0 then
      for start = #rows, count - 1, #rows do
        more[#more + 1] = { method = "POST", path = firsts[i].path, json = table_body(q, start, #rows) }
        owners[#more] = i
      end
    end
  end
  for j, r in ipairs(#more > 0 and self.http:request_many(more) or {}) do
    local q = reads[owners[j]]
    if not r.ok then failed(r, q.table) end
    local rows = rows_of(r.response, q.table)
    local list = out[owners[j]].rows
    for _, row in ipairs(rows) do list[#list + 1] = row end
  end
  local result = {}
  for i, t in ipairs(out) do
    if t.count and #t.rows ~= t.count then
      error(ms.error("HTTPError", fmt("IP Fabric: %s: expected %d rows, got %d (did the snapshot change while paging?)",
        reads[i].table, t.count, #t.rows)), 0)
    end
    result[i] = t.rows
  end
  return result
end

--- Every row of one table (see Client:tables).
function Client:table(name, q)
  local r = {}
  for k, v in pairs(q or {}) do r[k] = v end
  r.table = name
  return self:tables({ r })[1]
end

-- {====== SSoT's utilities ======}

-- convert_media_type's name rules, compiled once
local NAME_TYPES
local function name_types()
  if not NAME_TYPES then
    NAME_TYPES = {}
    for i, rule in ipairs {
      { "^po(rt-?channel)?\\d", "lag" }, { "^vl(an)?\\d", "virtual" }, { "^lo(opback)?\\d", "virtual" },
      { "^tu(nnel)?\\d", "virtual" }, { "^vx(lan)?\\d", "virtual" }, { "^fa(stethernet)?\\d", "100base-tx" },
      { "^gi(gabitethernet)?\\d", "1000base-t" }, { "^te(ngigabitethernet)?\\d", "10gbase-x-sfpp" },
      { "^twentyfivegigabitethernet\\d", "25gbase-x-sfp28" }, { "^fo(rtygigabitethernet)?\\d", "40gbase-x-qsfpp" },
      { "^fi(ftygigabitethernet)?\\d", "50gbase-x-sfp56" }, { "^hu(ndredgigabitethernet)?\\d", "100gbase-x-qsfp28" },
      { "^twohundredgigabitethernet\\d", "200gbase-x-qsfp56" },
    } do
      NAME_TYPES[i] = { ms.regex(rule[1]), rule[2] }
    end
  end
  return NAME_TYPES
end

local function has(s, part) return s:find(part, 1, true) ~= nil end

--- SSoT's convert_media_type: the Nautobot interface type of an IP Fabric
-- media type, or, with none, of the interface's name; `default` when
-- neither tells.
function M.convert_media_type(media, name, default)
  default = default or M.DEFAULTS.default_interface_type
  if truthy(media) then
    local m = tostring(media):lower():gsub("%-", "")
    if has(m, "virtual") then return "virtual" end
    if has(m, "bridge") then return "bridge" end
    if has(m, "lag") then return "lag" end
    if has(m, "10gbaset") then return "10gbase-t" end
    if has(m, "10g") then
      if has(m, "xfp") then return "10gbase-x-xfp" end
      if has(m, "x2") then return "10gbase-x-x2" end
      if has(m, "xenpak") then return "10gbase-x-xenpak" end
      return "10gbase-x-sfpp"
    end
    if has(m, "2.5gbase") then return "2.5gbase-t" end
    if has(m, "5gbase") then return "5gbase-t" end
    if has(m, "1000base") or has(m, "rj45") or has(m, "1g") then
      if has(m, "gbic") then return "1000base-x-gbic" end
      for _, p in ipairs { "sfp", "sr", "lr", "sx", "lx" } do
        if has(m, p) then return "1000base-x-sfp" end
      end
      return "1000base-t"
    end
    if has(m, "100base") or has(m, "100m") then return "100base-tx" end
    if has(m, "25g") then return "25gbase-x-sfp28" end
    if has(m, "40g") then return "40gbase-x-qsfpp" end
    if has(m, "50g") then return "50gbase-x-sfp56" end
    for _, t in ipairs { { "100g", "100gbase-x-", "qsfp28", "cfp" }, { "200g", "200gbase-x-", "qsfp56", "cfp2" },
                         { "400g", "400gbase-x-", "qsfp112", "osfp" }, { "800g", "800gbase-x-", "qsfpdd", "osfp" } } do
      if has(m, t[1]) then return t[2] .. (has(m, "qsfp") and t[3] or t[4]) end
    end
  elseif name then
    local n = tostring(name):lower()
    for _, r in ipairs(name_types()) do
      if r[1]:search(n) then return r[2] end
    end
  end
  return default
end

-- Python's str.capitalize: the first letter upper, the rest lower
local function capitalize(s)
  s = tostring(s)
  return s:sub(1, 1):upper() .. s:sub(2):lower()
end

-- {====== the models ======}

local function has_tag(kept, name)
  for _, t in ipairs(kept and kept.tags or {}) do if t == name then return true end end
  return false
end

-- A tag list for a PATCH: the record's tags with `add` and without `drop`.
local function tag_list(kept, add, drop)
  local out, seen = {}, {}
  for _, t in ipairs(kept and kept.tags or {}) do
    if t ~= drop and not seen[t] then out[#out + 1] = { name = t }; seen[t] = true end
  end
  if add and not seen[add] then out[#out + 1] = { name = add } end
  return ms.list(out)
end

-- What the safe delete mode's reads and writes share: SSoT's marks on
-- what it writes, the records it never deletes, and its delete.
local function policy(s)
  local p = {}
  local today = os.date("!%Y-%m-%d")
  -- a create carries SSoT's tag; every write the date of the sync
  function p.mark(body, op)
    body.custom_fields = body.custom_fields ~= null and body.custom_fields or {}
    body.custom_fields[M.LAST_SYNCED_CF] = today
    if op.action == "create" then body.tags = ms.list { { name = M.TAG } } end
  end
  -- a record safe-deleted before, back in the source: Active again, untagged
  function p.restore(body, op, kept)
    if op.action == "update" and op.attrs.status == "Active" and has_tag(kept, M.SAFE_DELETE_TAG) then
      body.tags = tag_list(kept, nil, M.SAFE_DELETE_TAG)
    end
  end
  -- never deleted: what safe delete mode marked already, and (Sync Tagged
  -- Only) what SSoT did not write
  function p.flag(tagged_only)
    return function(kept)
      if has_tag(kept, M.SAFE_DELETE_TAG) or (tagged_only and not has_tag(kept, M.TAG)) then
        return { "SKIP_UNMATCHED_DST" }
      end
      return nil
    end
  end
  -- the safe delete: a status and a tag instead of a DELETE
  function p.retire(status)
    if not s.safe_delete_mode then return nil end
    return function(_, _, kept)
      local body = { tags = tag_list(kept, M.SAFE_DELETE_TAG) }
      if status then body.status = { name = status } end
      return body
    end
  end
  return p
end

--- The models of SSoT's IP Fabric integration (diffsync_models.py:
-- location, device, interface, vlan), declared on Nautobot's schema, with
-- the records Nautobot's API needs first (tags, manufacturers, device
-- types, platforms, roles, virtual chassis) and those the interfaces'
-- addresses are written through (prefixes, IP addresses, their
-- assignments), and the two adapter classes over them: `IPFabric` (the
-- source) and `Nautobot` (the target). `settings`: M.DEFAULTS.
function M.models(settings)
  local s = M.settings(settings)
  local api = nautobot.schema()
  local p = policy(s)
  local skip = { "SKIP_UNMATCHED_DST" }
  local only = s.location_filter
  local m = {}
  m.location = api:model "location" {
    resource = "dcim.locations",
    identifiers = { "name" }, attributes = { "site_id", "status" },
    children = { { device = "devices" }, { vlan = "vlans" } },
    fields = { site_id = "custom_fields__" .. M.SITE_ID_CF, status = "status__name" },
    where = only and { name = only } or nil,
    keep = { "tags" }, flag = p.flag(s.sync_ipfabric_tagged_only),
    retire = p.retire(s.safe_delete_location_status),
    write = function(body, _, op, kept)
      if op.action == "create" then body.location_type = { name = s.location_type } end
      p.mark(body, op)
      p.restore(body, op, kept)
    end,
  }
  m.device = api:model "device" {
    resource = "dcim.devices",
    identifiers = { "name" },
    attributes = { "location_name", "model", "vendor", "serial_number", "role", "status", "platform", "vc_name",
                   "vc_priority", "vc_position", "vc_master" },
    children = { interface = "interfaces" },
    fields = {
      location_name = "location__name", model = "device_type__model", vendor = "device_type__manufacturer__name",
      serial_number = { "serial", read = function(v) return v or "" end },
      -- the role's IP Fabric type (custom field ipfabric_type) when it has one, else its name
      role = { "role__name", also = { "role__custom_fields__ipfabric_type" },
               read = function(v, _, at)
                 if not s.sync_dev_type_to_role then return null end
                 local t = at("role__custom_fields__ipfabric_type")
                 if truthy(t) then return tostring(t) end
                 return v
               end },
      status = "status__name", platform = "platform__name",
      vc_name = "virtual_chassis__name",
      -- the master of its virtual chassis (set after the write, see set_masters)
      vc_master = { "virtual_chassis__master", also = { "virtual_chassis" }, send = false,
                    read = function(master, rec, at)
                      if at("virtual_chassis") == nil then return null end
                      return master ~= nil and master.id == rec.id
                    end },
    },
    where = only and { location__name = only } or nil,
    keep = { "tags", "primary_ip4", "primary_ip6" }, flag = p.flag(s.sync_ipfabric_tagged_only),
    retire = p.retire(s.safe_delete_device_status),
    write = function(body, _, op, kept)
      if op.action == "create" and (body.role == nil or body.role == null) then
        body.role = { name = s.default_device_role }
      elseif body.role == null then
        body.role = nil   -- (Sync Device Type to Role off: the role is not the sync's)
      end
      p.mark(body, op)
      p.restore(body, op, kept)
    end,
    after_write = function(adapter, done) return M.set_masters(adapter, done) end,
  }
  m.interface = api:model "interface" {
    resource = "dcim.interfaces",
    identifiers = { "name", "device_name" },
    attributes = { "description", "enabled", "mac_address", "mtu", "type", "mgmt_only", "ip_address",
                   "subnet_mask", "ip_is_primary", "status" },
    fields = {
      device_name = "device__name",
      description = { "description", read = function(v) if v == nil or v == "" then return null end return v end,
                      write = function(v) if v == nil or v == null then return "" end return v end },
      -- SSoT reads every interface as enabled
      enabled = { "enabled", read = function() return true end },
      mac_address = { "mac_address", read = function(v)
                        if not truthy(v) then return s.default_interface_mac end
                        local ok, mac = pcall(netutils.mac_to_format, tostring(v), "MAC_COLON_TWO")
                        return ok and mac:upper() or v
                      end },
      mtu = { "mtu", read = function(v) if not truthy(v) then return s.default_interface_mtu end return v end },
      mgmt_only = { "mgmt_only", read = function(v) return v == true end },
      -- the interface's first IPv4 address, read with the assignments (fill_addresses)
      -- and written through them (write_addresses)
      ip_address = { "id", read = function() return null end, send = false },
      subnet_mask = { "id", read = function() return null end, send = false },
      ip_is_primary = { "id", read = function() return false end, send = false },
      -- SSoT reads an interface's status as its device's
      status = { "device__status__name", send = false },
    },
    where = only and { device__location__name = only } or nil,
    keep = { "tags" }, flag = p.flag(false), retire = p.retire(nil),
    write = function(body, f, op, kept)
      if op.action == "create" then body.status = { name = f.status ~= null and f.status or "Active" } end
      p.mark(body, op)
      p.restore(body, op, kept)
    end,
    after_write = function(adapter, done) return M.write_addresses(adapter, done, s) end,
  }
  m.vlan = api:model "vlan" {
    resource = "ipam.vlans",
    identifiers = { "name", "location" }, attributes = { "vid", "status", "description" },
    fields = {
      -- its (first) location, written through its location assignments
      location = { "locations", read = function(list)
                     local first = type(list) == "table" and list[1]
                     return first and first.name or nil
                   end,
                   write = function(v) return ms.list { { name = v } } end },
      status = "status__name",
    },
    parent = { name = "location" },
    where = { locations = function(v) return type(v) == "table" and #v > 0 end },
    query = only and { location = only } or nil,
    keep = { "tags" }, flag = p.flag(false), retire = p.retire(s.safe_delete_vlan_status),
    write = function(body, _, op, kept)
      p.mark(body, op)
      p.restore(body, op, kept)
    end,
  }
  -- what Nautobot's API needs first, where SSoT's ORM calls create it on
  -- the way: never deleted, created when missing
  local function create_only(fill)
    return function(body, f, op) if op.action == "create" then fill(body, f) end end
  end
  m.tag = api:model "tag" {
    resource = "extras.tags", identifiers = { "name" }, flags = skip,
    write = create_only(function(body)
      body.content_types = ms.list { "dcim.location", "dcim.device", "dcim.interface", "ipam.vlan",
                                     "ipam.ipaddress", "ipam.prefix" }
    end),
  }
  m.manufacturer = api:model "manufacturer" { resource = "dcim.manufacturers", identifiers = { "name" }, flags = skip }
  m.devicetype = api:model "devicetype" {
    resource = "dcim.device-types", identifiers = { "model", "manufacturer" },
    fields = { manufacturer = "manufacturer__name" }, flags = skip,
  }
  m.platform = api:model "platform" {
    resource = "dcim.platforms", identifiers = { "name" }, attributes = { "manufacturer" },
    fields = { manufacturer = "manufacturer__name" }, flags = skip,
    write = create_only(function(body, f)
      body.network_driver, body.napalm_driver = M.platform_drivers(f.name, f.manufacturer)
    end),
  }
  m.role = api:model "role" {
    resource = "extras.roles", identifiers = { "name" }, flags = skip,
    write = create_only(function(body)
      body.content_types = ms.list { "dcim.device" }
      body.color = s.default_device_role_color
    end),
  }
  m.virtualchassis = api:model "virtualchassis" { resource = "dcim.virtual-chassis", identifiers = { "name" },
                                                  flags = skip }
  -- the Global namespace's prefixes and addresses, and the addresses'
  -- interfaces: read to write the interfaces' addresses, never compared
  m.prefix = api:model "prefix" { resource = "ipam.prefixes", identifiers = { "prefix" },
                                  where = { namespace__name = "Global" }, flags = skip }
  m.ipaddress = api:model "ipaddress" {
    resource = "ipam.ip-addresses", identifiers = { "host" }, attributes = { "mask_length" },
    where = { parent__namespace__name = "Global" }, keep = { "tags" }, flags = skip,
  }
  m.ipassignment = api:model "ipassignment" {
    resource = "ipam.ip-address-to-interface", identifiers = { "address", "device", "interface" },
    fields = { address = "ip_address__host", device = "interface__device__name", interface = "interface__name" },
    where = { interface__name = function(v) return v ~= nil end,
              ip_address__parent__namespace__name = "Global" },
    flags = skip,
  }
  local list = { m.tag, m.manufacturer, m.devicetype, m.platform, m.role, m.virtualchassis, m.prefix, m.ipaddress,
                 m.ipassignment, m.location, m.device, m.interface, m.vlan }
  local top = { "tag", "manufacturer", "devicetype", "platform", "role", "virtualchassis", "prefix", "ipaddress",
                "ipassignment", "location" }
  m.list, m.top_level, m.settings = list, top, s
  m.Nautobot = nautobot.adapter "Nautobot" {
    models = list, top_level = top,
    after_load = function(adapter) M.fill_addresses(adapter) end,
  }
  m.IPFabric = M.source_adapter(m, s)
  return m
end

-- netutils' NAPALM_LIB_MAPPER, as SSoT's create_platform_object reads it
M.NAPALM_LIB_MAPPER = {
  aoscx = "aruba_aoscx", asa = "cisco_asa", cisco_wlc_ssh = "cisco_wlc", eos = "arista_eos", f5 = "bigip_f5",
  fortios = "fortinet", huawei_vrp = "huawei", ios = "cisco_ios", iosxr = "cisco_xr", junos = "juniper_junos",
  nxos = "cisco_nxos", nxos_ssh = "cisco_nxos", panos = "paloalto_panos", ros = "mikrotik_routeros",
  srl = "nokia_srl", sros = "nokia_sros", vyos = "vyos",
}

--- A new platform's network and NAPALM drivers, as SSoT names them.
function M.platform_drivers(platform, manufacturer)
  if platform == "ios-xe" then return "cisco_ios", "cisco_ios" end
  local vendor = manufacturer ~= nil and manufacturer ~= null and tostring(manufacturer):lower() or ""
  return vendor .. "_" .. tostring(platform):lower(), M.NAPALM_LIB_MAPPER[platform] or ""
end

-- {====== the Nautobot side: addresses and virtual chassis masters ======}

-- IPv4 addresses in Nautobot's order (numeric)
local function v4_number(host)
  local n = 0
  local parts = { tostring(host):match("^(%d+)%.(%d+)%.(%d+)%.(%d+)$") }
  if #parts ~= 4 then return nil end
  for _, p in ipairs(parts) do
    local v = tonumber(p)
    if v > 255 or (#p > 1 and p:sub(1, 1) == "0") then return nil end
    n = n * 256 + v
  end
  return n
end

-- The adapter's index of the addresses it read (and wrote since):
-- ips[host] = {id, mask, tags}; assigned[interface id] = {{id, host}...};
-- prefixes[length] = {network = true}.
local function address_index(adapter)
  local ix = rawget(adapter, "_ipf")
  if ix then return ix end
  ix = { ips = {}, assigned = {}, prefixes = {} }
  adapter._ipf = ix
  local sid, kept = adapter._sid, adapter._kept.ipaddress or {}
  for _, ip in ipairs(adapter:get_all("ipaddress")) do
    local uid = ip:get_unique_id()
    ix.ips[ip.host] = { id = sid.ipaddress[uid], mask = ip.mask_length, tags = (kept[uid] or {}).tags }
  end
  for _, pr in ipairs(adapter:get_all("prefix")) do
    local net, len = tostring(pr.prefix):match("^(.-)/(%d+)$")
    if net then
      len = tonumber(len)
      ix.prefixes[len] = ix.prefixes[len] or {}
      ix.prefixes[len][pr.prefix] = true
    end
  end
  local ifsid = {}
  for _, i in ipairs(adapter:get_all("interface")) do ifsid[i.device_name .. "\0" .. i.name] = sid.interface[i:get_unique_id()] end
  for _, a in ipairs(adapter:get_all("ipassignment")) do
    local id = ifsid[tostring(a.device) .. "\0" .. tostring(a.interface)]
    if id and v4_number(a.address) then
      ix.assigned[id] = ix.assigned[id] or {}
      local l = ix.assigned[id]
      l[#l + 1] = { id = sid.ipassignment[a:get_unique_id()], host = a.address }
    end
  end
  return ix
end

-- An interface's first IPv4 address, as Nautobot orders them.
local function first_address(ix, interface_id)
  local best
  for _, a in ipairs(ix.assigned[interface_id] or {}) do
    if ix.ips[a.host] and (not best or v4_number(a.host) < v4_number(best)) then best = a.host end
  end
  return best
end

--- After the Nautobot side is read: each interface's first IPv4 address,
-- its mask and whether it is its device's primary address (SSoT's
-- load_interfaces), from the address assignments. An interface safe
-- delete mode marked reads as of status "SSoT Safe Delete" (an interface's
-- status is its device's): back in IP Fabric, it is updated, and unmarked.
function M.fill_addresses(adapter)
  adapter._ipf = nil
  local ix = address_index(adapter)
  local sid, kept = adapter._sid, adapter._kept.device or {}
  local ikept = adapter._kept.interface or {}
  for _, i in ipairs(adapter:get_all("interface")) do
    if has_tag(ikept[i:get_unique_id()], M.SAFE_DELETE_TAG) then i:set { status = M.SAFE_DELETE_TAG } end
    local host = first_address(ix, sid.interface[i:get_unique_id()])
    if host then
      local ip = ix.ips[host]
      local dk = kept[i.device_name] or {}
      local primary = dk.primary_ip4 or dk.primary_ip6
      i:set { ip_address = host, subnet_mask = netutils.netmask(ip.mask),
              ip_is_primary = type(primary) == "table" and primary.id == ip.id }
    end
  end
end

local bulk = rest.bulk

-- The network `host`/`length` falls in, among the Global prefixes: the
-- longest, or nil.
local function covering(ix, host, length)
  for len = 32, 0, -1 do
    local list = ix.prefixes[len]
    if list then
      local net = netutils.network_of(host .. "/" .. len)
      if list[net] then return net end
    end
  end
  return nil
end

--- After interfaces are written: their addresses, as SSoT's Interface
-- create and update write them: the address (and, when no prefix holds
-- it, its network as a prefix) in the Global namespace, its assignment to
-- the interface (an address the interface no longer has is unassigned),
-- and the device's primary address. A safe-deleted interface's address
-- is deprecated and tagged.
function M.write_addresses(adapter, done, s)
  local ix = address_index(adapter)
  local failed = {}
  local unassign, prefixes, ips, patches, assigns, primaries = {}, {}, {}, {}, {}, {}
  local new_ip = {}          -- host -> the item creating it
  local wants = {}           -- k -> {host, sid, item}
  -- what each interface's write needs written beside it
  local function plan(k, d)
    local op = d.op
    local rec = adapter:get_or_none(op.model, op.uid)
    local f = rest.values_after(adapter, op.model, op.uid, op.keys or {}, op.attrs or {})
    if rec then for key, v in pairs(rec:get_identifiers()) do f[key] = f[key] or v end end
    local have = first_address(ix, d.sid)
    if d.retired then
      local ip = have and ix.ips[have]
      if ip and ip.id and not has_tag(ip, M.SAFE_DELETE_TAG) then
        patches[#patches + 1] = { k = k, body = { id = ip.id, status = { name = s.safe_delete_ipaddress_status },
                                                  tags = tag_list(ip, M.SAFE_DELETE_TAG) } }
      end
    else
      local a = op.attrs or {}
      local host = str(f.ip_address)
      -- its address, safe-deleted with it before, is back too
      local back = host and ix.ips[host]
      if back and back.id and has_tag(back, M.SAFE_DELETE_TAG) then
        patches[#patches + 1] = { k = k, body = { id = back.id, status = { name = "Active" },
                                                  tags = tag_list(back, nil, M.SAFE_DELETE_TAG) }, restored = back }
      end
      if op.action == "create" or a.ip_address ~= nil or a.subnet_mask ~= nil or a.ip_is_primary ~= nil then
        -- the addresses it had and no longer has
        for _, asg in ipairs(ix.assigned[d.sid] or {}) do
          if asg.host ~= host and asg.id then unassign[#unassign + 1] = { k = k, body = { id = asg.id }, asg = asg } end
        end
        if host then
          if not v4_number(host) then error(fmt("its address %s is not an IPv4 address", tostring(host)), 0) end
          local ok, length = pcall(netutils.mask_length, str(f.subnet_mask) or "255.255.255.255")
          if not ok then
            failed[k] = fmt("interface %s: %s", op.uid, length)
          else
            local ip = ix.ips[host]
            if ip and ip.mask ~= length then
              patches[#patches + 1] = { k = k, body = { id = ip.id, address = fmt("%s/%d", host, length) }, host = host,
                                        mask = length }
            elseif not ip and not new_ip[host] then
              if not covering(ix, host, length) then
                local net = netutils.network_of(host .. "/" .. length)
                local plen = tonumber(net:match("/(%d+)$"))
                ix.prefixes[plen] = ix.prefixes[plen] or {}
                ix.prefixes[plen][net] = true
                prefixes[#prefixes + 1] = { k = k, body = { prefix = net, namespace = { name = "Global" },
                                                            status = { name = "Active" }, type = "network" } }
              end
              new_ip[host] = true
              ips[#ips + 1] = { k = k, host = host, mask = length,
                                body = { address = fmt("%s/%d", host, length), namespace = { name = "Global" },
                                         status = { name = op.action == "create" and str(f.status) or "Active" },
                                         tags = ms.list { { name = M.TAG } } } }
            end
            wants[k] = { host = host, sid = d.sid, primary = f.ip_is_primary == true, device = f.device_name }
          end
        elseif a.ip_is_primary ~= nil or a.ip_address ~= nil then
          wants[k] = { sid = d.sid, device = f.device_name, clear = have }
        end
      end
    end
  end
  for k, d in ipairs(done) do
    local ok, err = pcall(plan, k, d)
    if not ok then failed[k] = fmt("interface %s: %s", d.op.uid, tostring(err)) end
  end
  local function merge(more) for k, msg in pairs(more) do failed[k] = failed[k] or msg end end
  local _, bad = bulk(adapter, "DELETE", "/api/ipam/ip-address-to-interface/", unassign, "unassigning its old address")
  merge(bad)
  for _, it in ipairs(unassign) do
    if not bad[it.k] then
      local list = ix.assigned[done[it.k].sid] or {}
      for j = #list, 1, -1 do if list[j] == it.asg then table.remove(list, j) end end
    end
  end
  merge(select(2, bulk(adapter, "POST", "/api/ipam/prefixes/", prefixes, "creating the prefix of its address")))
  local made
  made, bad = bulk(adapter, "POST", "/api/ipam/ip-addresses/", ips, "creating its IP address")
  merge(bad)
  for _, it in ipairs(ips) do
    local r = made[it]
    if type(r) == "table" and r.id then ix.ips[it.host] = { id = r.id, mask = it.mask, tags = { M.TAG } } end
  end
  _, bad = bulk(adapter, "PATCH", "/api/ipam/ip-addresses/", patches, "changing its IP address")
  merge(bad)
  for _, it in ipairs(patches) do
    if not bad[it.k] and it.host then ix.ips[it.host].mask = it.mask end
    if not bad[it.k] and it.restored then
      local tags = {}
      for _, t in ipairs(it.body.tags) do tags[#tags + 1] = t.name end
      it.restored.tags = tags
    end
  end
  -- the assignments, then the devices' primary addresses
  for k, w in pairs(wants) do
    local ip = w.host and ix.ips[w.host]
    if w.host and not failed[k] then
      if not (ip and ip.id) then
        failed[k] = fmt("interface %s: its address %s has no Nautobot id", done[k].op.uid, w.host)
      else
        local assigned = false
        for _, asg in ipairs(ix.assigned[w.sid] or {}) do assigned = assigned or asg.host == w.host end
        if not assigned then
          assigns[#assigns + 1] = { k = k, body = { ip_address = { id = ip.id }, interface = { id = w.sid } },
                                    sid = w.sid, host = w.host }
        end
      end
    end
  end
  made, bad = bulk(adapter, "POST", "/api/ipam/ip-address-to-interface/", assigns, "assigning its address")
  merge(bad)
  for _, it in ipairs(assigns) do
    if not bad[it.k] then
      ix.assigned[it.sid] = ix.assigned[it.sid] or {}
      local r = made[it]
      table.insert(ix.assigned[it.sid], { id = type(r) == "table" and r.id or nil, host = it.host })
    end
  end
  local kept = adapter._kept.device or {}
  for k, w in pairs(wants) do
    local dev = adapter._sid.device[w.device]
    if not failed[k] and dev then
      local dk = kept[w.device] or {}
      kept[w.device] = dk
      if w.primary and ix.ips[w.host] then
        local ip = ix.ips[w.host]
        local cur = dk.primary_ip4
        if not (type(cur) == "table" and cur.id == ip.id) then
          primaries[#primaries + 1] = { k = k, body = { id = dev, primary_ip4 = { id = ip.id } } }
          dk.primary_ip4 = { id = ip.id }
        end
      elseif not w.primary then
        -- no longer primary: the device's primary address is cleared when it was this one
        local mine = w.host or w.clear
        local ip = mine and ix.ips[mine]
        local cur = dk.primary_ip4
        if ip and type(cur) == "table" and cur.id == ip.id then
          primaries[#primaries + 1] = { k = k, body = { id = dev, primary_ip4 = null } }
          dk.primary_ip4 = nil
        end
      end
    end
  end
  merge(select(2, bulk(adapter, "PATCH", "/api/dcim/devices/", primaries, "setting the device's primary address")))
  return failed
end

--- After devices are written: the master of each virtual chassis, as
-- SSoT's _get_or_create_virtual_chassis sets it.
function M.set_masters(adapter, done)
  local items = {}
  for k, d in ipairs(done) do
    local op = d.op
    local a = op.attrs or {}
    if not d.retired and (op.action == "create" or a.vc_master ~= nil or a.vc_name ~= nil) then
      local f = rest.values_after(adapter, op.model, op.uid, op.keys or {}, a)
      if f.vc_master == true and str(f.vc_name) then
        local vc = adapter._sid.virtualchassis[f.vc_name]
        if vc == nil then
          items.failed = items.failed or {}
          items.failed[k] = fmt("virtual chassis %s has no Nautobot id: its master was not set", f.vc_name)
        else
          items[#items + 1] = { k = k, body = { id = vc, master = { id = d.sid } } }
        end
      end
    end
  end
  local failed = items.failed or {}
  items.failed = nil
  for k, msg in pairs(select(2, bulk(adapter, "PATCH", "/api/dcim/virtual-chassis/", items,
                                     "setting the virtual chassis master"))) do
    failed[k] = failed[k] or msg
  end
  return failed
end

-- {====== the source: what SSoT's IPFabricDiffSync loads ======}

-- The columns of the tables SSoT reads (the SDK asks for every column;
-- these are the ones its adapter uses).
M.COLUMNS = {
  ["inventory/sites"] = { "id", "siteName" },
  ["inventory/devices"] = { "hostname", "siteName", "vendor", "platform", "model", "sn", "loginIp", "family",
                            "devType" },
  ["inventory/interfaces"] = { "hostname", "sn", "intName", "dscr", "mac", "media", "mtu", "primaryIp" },
  ["addressing/managed-devs"] = { "sn", "intName", "net", "ip", "type" },
  ["platforms/stack/members"] = { "master", "member", "memberSn", "pn", "sn" },
  ["vlan/site-summary"] = { "siteName", "vlanName", "vlanId", "dscr" },
}

--- The source adapter class over the models of M.models: options `url`,
-- `token` or `token_env`, `snapshot` (the settings' unless given),
-- `api_version`, `concurrency`, `page_size`, or a ready `client`.
function M.source_adapter(m, s)
  return ms.adapter "IPFabric" {
    models = m.list, top_level = m.top_level,
    load = function(self)
      local o = self.options
      local c = o.client or M.client(o)
      self.ipfabric = c
      M.load(self, c, s, o.snapshot or s.snapshot)
    end,
  }
end

local function describe(dev)
  return fmt("serial %s, site %s", tostring(str(dev.sn) or "(none)"), tostring(str(dev.siteName) or "(none)"))
end

--- SSoT's load(): sites, their VLANs and devices (a stack as one device
-- per member), each device's interfaces with its managed addresses.
function M.load(self, c, s, snapshot)
  local snap = c:snapshot_id(snapshot)
  local major, minor = version_numbers((c:version()))
  local af = s.location_filter and { siteName = { "ieq", s.location_filter } } or nil
  local names = { "inventory/sites", "vlan/site-summary", "addressing/managed-devs", "inventory/interfaces",
                  "platforms/stack/members", "inventory/devices" }
  local reads = {}
  for i, name in ipairs(names) do
    local cols = M.COLUMNS[name]
    -- loginIpv4 is there from 7.3 on
    if name == "inventory/interfaces" and (major > 7 or (major == 7 and minor >= 3)) then
      cols = { table.unpack(cols) }
      cols[#cols + 1] = "loginIpv4"
    end
    reads[i] = { table = name, columns = cols, snapshot = snap, attribute_filters = af,
                 filters = name == "addressing/managed-devs" and { type = { "eq", "primary" } } or nil }
  end
  local t = c:tables(reads)
  local sites, vlans, managed_rows, interface_rows, stack_rows, devices = t[1], t[2], t[3], t[4], t[5], t[6]
  local function warn(msg, skipped) self:warn(msg, { skipped = skipped }) end
  -- the sites
  local locations, site_of = {}, {}
  for _, site in ipairs(sites) do
    local name = str(site.siteName)
    if not name then
      warn(fmt("Site %s has no name, so it is skipped.", tostring(str(site.id))), true)
    elseif site_of[name] then
      warn(fmt("Duplicate Location discovered: sites %s and %s are both named %s; the first is kept.",
               tostring(str(site_of[name].id)), tostring(str(site.id)), name), true)
    else
      site_of[name] = site
      local id = str(site.id)
      locations[#locations + 1] = self:new_record("location", { name = name,
        site_id = id ~= nil and tostring(id) or null, status = "Active" })
    end
  end
  -- the rows by site: one of a site the snapshot does not list is skipped, and said
  local function by_site(rows, what)
    local out = {}
    for _, r in ipairs(rows) do
      local site = str(r.siteName)
      if site and site_of[site] then
        out[site] = out[site] or {}
        table.insert(out[site], r)
      else
        warn(fmt("%s: its site %s is not among the snapshot's sites, so it is skipped.", what(r), tostring(site)),
             true)
      end
    end
    return out
  end
  local vlans_at = by_site(vlans, function(v)
    return fmt("VLAN %s (%s)", tostring(str(v.vlanName)), tostring(str(v.vlanId)))
  end)
  local devices_at = by_site(devices, function(d) return fmt("Device %s (%s)", tostring(str(d.hostname)), describe(d)) end)
  -- rows by serial number (managed addresses by serial number and address)
  local function by_sn(rows, key)
    local out = {}
    for _, r in ipairs(rows) do
      local sn, k = str(r.sn), key and str(r[key])
      if sn and (k or not key) then
        out[sn] = out[sn] or {}
        if key then out[sn][k] = r else table.insert(out[sn], r) end
      end
    end
    return out
  end
  local managed, interfaces, stacks = by_sn(managed_rows, "ip"), by_sn(interface_rows), by_sn(stack_rows)
  local L = { self = self, s = s, warn = warn, managed = managed, interfaces = interfaces, stacks = stacks,
              seen = {} }
  for _, loc in ipairs(locations) do
    M.load_vlans(L, loc, vlans_at[loc.name] or {})
    for _, dev in ipairs(devices_at[loc.name] or {}) do M.load_device(L, loc, dev) end
  end
end

-- {====== VLANs, devices and interfaces ======}

function M.load_vlans(L, loc, rows)
  local self, warn = L.self, L.warn
  for _, v in ipairs(rows) do
    local vid = math.tointeger(str(v.vlanId))
    if not vid or vid < 1 or vid > 4094 then
      warn(fmt("Not syncing VLAN, NAME: %s due to invalid VLAN ID: %s.", tostring(str(v.vlanName)),
               tostring(str(v.vlanId))), true)
    else
      local description = truthy(v.dscr) and tostring(v.dscr) or fmt("VLAN ID: %d", vid)
      local name = truthy(v.vlanName) and tostring(v.vlanName) or fmt("%s:%d", loc.name, vid)
      if #name > M.VLAN_NAME_MAX then
        warn(fmt("Not syncing VLAN, %s due to character limit exceeding %d.", name, M.VLAN_NAME_MAX), true)
      else
        local uid = self.model.vlan({ name = name, location = loc.name }):get_unique_id()
        local had = self:get_or_none("vlan", uid)
        if had then
          warn(fmt("Duplicate VLAN discovered: %s at %s is VLAN %s and VLAN %d; the first is kept.", name, loc.name,
                   tostring(had.vid), vid), true)
        else
          loc:add_child(self:new_record("vlan", { name = name, location = loc.name, vid = vid, status = "Active",
                                                   description = description }))
        end
      end
    end
  end
end

function M.load_device(L, loc, dev)
  local self, s, warn = L.self, L.s, L.warn
  local hostname, sn, vendor = str(dev.hostname), str(dev.sn), str(dev.vendor)
  local problem
  if not truthy(hostname) then problem = "no hostname"
  elseif not sn then problem = "no serial number"
  elseif not truthy(vendor) then problem = "no vendor"
  end
  if problem then
    warn(fmt("Device %s (%s): %s, so it is skipped.", tostring(hostname), describe(dev), problem), true)
    return
  end
  hostname, sn, vendor = tostring(hostname), tostring(sn), tostring(vendor)
  local role = null
  if s.sync_dev_type_to_role then role = truthy(dev.devType) and tostring(dev.devType) or s.default_device_role end
  local platform = truthy(dev.family) and tostring(dev.family) or null
  local base = { location_name = tostring(dev.siteName),
                 model = truthy(dev.model) and tostring(dev.model) or "Default-" .. vendor,
                 vendor = capitalize(vendor), role = role, status = s.default_device_status, platform = platform,
                 vc_name = null, vc_priority = null, vc_position = null, vc_master = null }
  local function args(over)
    local a = {}
    for k, v in pairs(base) do a[k] = v end
    for k, v in pairs(over) do a[k] = v end
    return a
  end
  local members
  if not L.stacks[sn] then
    members = { args { name = hostname, serial_number = #sn < M.SERIAL_MAX and sn or "" } }
  else
    -- the member with the lowest number is the master; priority and
    -- position are its number
    local list = { table.unpack(L.stacks[sn]) }
    table.sort(list, function(a, b) return (tonumber(str(a.member)) or 0) < (tonumber(str(b.member)) or 0) end)
    members = {}
    for i, mem in ipairs(list) do
      local msn = str(mem.memberSn) and tostring(mem.memberSn) or ""
      local number = math.tointeger(tonumber(str(mem.member)))
      local over = { serial_number = #msn < M.SERIAL_MAX and msn or "", name = fmt("%s-member%s", hostname,
                     tostring(str(mem.member))), vc_name = hostname, vc_master = false, vc_priority = number or null,
                     vc_position = number or null }
      if truthy(mem.pn) then over.model = tostring(mem.pn) end
      if i == 1 then over.name, over.vc_master = hostname, true end
      members[i] = args(over)
    end
  end
  for i, a in ipairs(members) do
    if a.serial_number == "" then
      warn(fmt("Serial Number will not be recorded for %s: it has none, or one longer than %d characters.",
               a.name, M.SERIAL_MAX - 1))
    end
    local had = L.seen[a.name]
    if had then
      warn(fmt("Duplicate Device discovered: %s (%s) and %s (%s) have one hostname; the first is kept, the second "
               .. "is skipped with its interfaces.", a.name, describe(had), a.name, describe(dev)), true)
    else
      L.seen[a.name] = dev
      local rec = self:new_record("device", a)
      loc:add_child(rec)
      self:get_or_instantiate("tag", { name = M.TAG })
      if s.safe_delete_mode then self:get_or_instantiate("tag", { name = M.SAFE_DELETE_TAG }) end
      self:get_or_instantiate("manufacturer", { name = a.vendor })
      self:get_or_instantiate("devicetype", { model = a.model, manufacturer = a.vendor })
      if a.platform ~= null then
        self:get_or_instantiate("platform", { name = a.platform }, { manufacturer = a.vendor })
      end
      self:get_or_instantiate("role", { name = a.role ~= null and a.role or s.default_device_role })
      if a.vc_name ~= null then self:get_or_instantiate("virtualchassis", { name = a.vc_name }) end
      if i == 1 then
        local login = str(dev.loginIp)
        login = login and tostring(login):match("^([^/]+)") or nil
        M.load_interfaces(L, rec, a.name, L.interfaces[sn] or {}, login, L.managed[sn] or {})
      end
    end
  end
end

-- SSoT's pseudo_management_interface: an interface for a management
-- address (behind NAT) that no interface of the device has.
local function pseudo_interface(hostname, list, primary)
  for _, i in ipairs(list) do
    if str(i.primaryIp) == primary then return nil end
  end
  return { hostname = hostname, intName = "pseudo_mgmt", dscr = "pseudo interface for NAT IP address",
           primaryIp = primary, type = "virtual", mgmt_only = true }
end

function M.load_interfaces(L, device, device_name, rows, primary, managed)
  local self, s, warn = L.self, L.s, L.warn
  local list = { table.unpack(rows) }
  local pseudo = pseudo_interface(device_name, list, primary)
  if pseudo then
    list[#list + 1] = pseudo
    if s.debug then self:log(fmt("Pseudo MGMT Interface: %s %s", device_name, tostring(primary))) end
  end
  for _, i in ipairs(list) do
    local ip = str(i.primaryIp)
    if not truthy(ip) then ip = str(i.loginIpv4) end
    if not truthy(ip) then ip = nil end
    if ip and not v4_number(ip) then
      warn(fmt("Interface %s of device %s: its address %s is not an IPv4 address, so the address is skipped.",
               tostring(str(i.intName)), device_name, tostring(ip)), true)
      if ip == primary then primary = nil end
      ip = nil
    end
    local mask
    if ip then
      mask = "255.255.255.255"
      local mi = managed[ip]
      local net = mi and str(mi.net)
      if truthy(net) then
        local len = tostring(net):match("/(%d+)$")
        local ok, m = pcall(netutils.netmask, len)
        if ok then mask = m else warn(fmt("Device %s: managed network %s of %s is not an IPv4 network; its "
                                        .. "address is taken as a host address.", device_name, tostring(net), ip)) end
      end
    end
    local name, host = str(i.intName), str(i.hostname)
    local mac = str(i.mac)
    local problem
    if not truthy(name) then problem = "it has no name"
    elseif not truthy(host) then problem = "it has no hostname"
    elseif truthy(mac) and not pcall(netutils.mac_to_format, tostring(mac), "MAC_COLON_TWO") then
      problem = fmt("its MAC address %s is not one", tostring(mac))
    end
    if problem then
      warn(fmt("Interface %s of device %s: %s, so it is skipped.", tostring(name), device_name, problem), true)
    else
      name = tostring(name)
      if s.canonical_interface_names then name = netutils.canonical_interface_name(name) end
      local uid = self.model.interface({ name = name, device_name = tostring(host) }):get_unique_id()
      if self:get_or_none("interface", uid) then
        warn(fmt("Duplicate Interface discovered: %s of %s (IP Fabric name %s) is listed twice; the first is kept.",
                 name, tostring(host), tostring(i.intName)), true)
      else
        local desc = str(i.dscr)
        local mtu = str(i.mtu)
        device:add_child(self:new_record("interface", {
          name = name, device_name = tostring(host),
          description = desc ~= nil and desc or null,
          enabled = true,
          mac_address = truthy(mac) and netutils.mac_to_format(tostring(mac), "MAC_COLON_TWO"):upper()
                        or s.default_interface_mac,
          mtu = truthy(mtu) and mtu or s.default_interface_mtu,
          type = M.convert_media_type(str(i.media), name, s.default_interface_type),
          mgmt_only = i.mgmt_only == true,
          ip_address = ip or null, subnet_mask = mask or null,
          ip_is_primary = ip ~= nil and ip == primary,
          status = "Active",
        }))
      end
    end
  end
end

M.capitalize = capitalize
return M
