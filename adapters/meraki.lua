--- Cisco Meraki -> Nautobot, as Nautobot SSoT's Meraki integration does it
-- (nautobot_ssot/integrations/meraki): a Meraki Dashboard API v1 client,
-- a source adapter loading SSoT's models (networks, hardware, OS versions,
-- devices with their ports, prefixes, prefix locations, IP addresses and
-- IP assignments) with SSoT's job settings, and the Nautobot side of the
-- same models, declared on Nautobot's schema.
--
--   local meraki = require "moonsync.adapters.meraki"
--   local models = meraki.models { network_loctype = "Site" }
--   local src = models.Meraki:new { url = ..., key_env = "MERAKI_API_KEY", org = "123456" }:load()
--   local dst = models.Nautobot:new { url = ..., token_env = "NAUTOBOT_TOKEN" }:load()
--
-- docs/meraki.md has the settings, what maps to what, and where moonsync
-- departs from SSoT.
-- @module meraki
local ms = require "moonsync"
local http = require "moonsync.http"
local nautobot = require "moonsync.adapters.nautobot"
local netutils = require "moonsync.netutils"

local fmt, null = string.format, ms.null

local M = {}

--- Meraki's public API base.
M.BASE_URL = "https://api.meraki.com/api/v1"
--- What SSoT marks the objects it writes with (custom field system_of_record).
M.SYSTEM_OF_RECORD = "Meraki SSoT"
--- The manufacturer and platform SSoT's Meraki objects belong to.
M.VENDOR = "Cisco Meraki"

local is_v6, network_of, mask_length, within = netutils.is_v6, netutils.network_of, netutils.mask_length,
                                              netutils.within

-- {====== the Dashboard API client ======}

local Client = {}
Client.__index = Client

--- A Meraki Dashboard client for one organization: `url` (M.BASE_URL),
-- `key` or `key_env` (MERAKI_API_KEY), `org`, `rate` (10 requests a second,
-- Meraki's per-organization limit), `concurrency` (4), `retries` (6: a
-- 429 is waited out as its Retry-After says), `page_size` (1000).
function M.client(o)
  o = o or {}
  if type(o.org) ~= "string" or o.org == "" then
    error("meraki client: no organization given (org = the Meraki organization id)", 2)
  end
  local c = http.client {
    base_url = ((o.url ~= nil and o.url ~= "") and o.url or M.BASE_URL):gsub("/+$", ""),
    token = o.key, token_env = not o.key and (o.key_env or "MERAKI_API_KEY") or nil,
    token_prefix = "Bearer ",
    concurrency = o.concurrency or 4, rate = o.rate or 10, retries = o.retries or 6,
    backoff = o.backoff or 1, timeout = o.timeout,
  }
  return setmetatable({ http = c, org = o.org, page_size = o.page_size or 1000 }, Client)
end

-- Every item of a paged organization list (perPage, Link: rel=next).
function Client:list(what, per_page)
  return self.http:get_all(fmt("/organizations/%s/%s", self.org, what), {
    pagination = "link", query = { perPage = tostring(math.min(per_page or self.page_size, self.page_size)) } })
end

--- Does the API key reach the organization? (SSoT's validate_organization_exists)
function Client:organization_exists()
  for _, org in ipairs(self.http:get("/organizations"):json()) do
    if tostring(org.id) == self.org then return true end
  end
  return false
end

function Client:networks() return self:list("networks") end
function Client:devices() return self:list("devices", 5000) end
function Client:device_statuses() return self:list("devices/statuses", 1000) end
function Client:uplink_statuses() return self:list("uplinks/statuses", 1000) end
function Client:uplink_addresses() return self:list("devices/uplinks/addresses/byDevice", 1000) end
-- Meraki answers at most 50 switches a page here
function Client:switch_ports() return self:list("switch/ports/bySwitch", 50) end

--- GETs per-device or per-network paths concurrently, within the rate
-- limit. Returns the decoded answers, and for each failed one the error:
-- a 4xx is the API's "not here" (SSoT logs it and goes on with nothing),
-- anything else (5xx, the network) raises, as going on would delete what
-- the answer should have held.
function Client:each(paths)
  local reqs = {}
  for i, p in ipairs(paths) do reqs[i] = { method = "GET", path = p } end
  local out, failed = {}, {}
  for i, r in ipairs(self.http:request_many(reqs)) do
    if r.ok then
      out[i] = r.response:json()
    else
      local status = r.response and r.response.status
      if status and status >= 400 and status < 500 and status ~= 429 then
        failed[i] = fmt("GET %s: HTTP %d: %s", paths[i], status, (r.response.body or ""):sub(1, 200))
      else
        error(ms.error("HTTPError", fmt("Meraki: %s", r.error and r.error.message or "request failed")), 0)
      end
    end
  end
  return out, failed
end

-- {====== settings ======}

local SETTINGS = {
  network_loctype = true, network_loctype_parent = true, parent_location = true, location = true,
  location_map = true, hostname_mapping = true, devicetype_mapping = true, tenant = true,
  device_status = true, controller_group = true, sync_firewall_lan_ips = true,
  allow_dhcp_mgmt_ips = true, debug = true,
}

-- SSoT's job form, checked: mappings are lists of {pattern, role}.
local function check_settings(s)
  for k in pairs(s) do
    if not SETTINGS[k] then error(fmt("meraki settings: unknown setting '%s'", tostring(k)), 3) end
  end
  if type(s.network_loctype) ~= "string" or s.network_loctype == "" then
    error("meraki settings: network_loctype must name the Nautobot location type of networks", 3)
  end
  for _, key in ipairs { "hostname_mapping", "devicetype_mapping" } do
    for i, m in ipairs(s[key] or {}) do
      if type(m) ~= "table" or type(m[1]) ~= "string" or type(m[2]) ~= "string" then
        error(fmt("meraki settings: %s[%d] must be { pattern, role }", key, i), 3)
      end
    end
  end
  for name, v in pairs(s.location_map or {}) do
    if type(v) ~= "table" then error(fmt("meraki settings: location_map[%q] must be a table", name), 3) end
  end
end

--- SSoT's validate_settings: a network location type with a parent needs
-- the parent of every network (parent_location, or location_map entries
-- that all name one). `parent_type` is the type's parent, as Nautobot has it.
function M.validate_settings(s, parent_type)
  if parent_type and not s.parent_location then
    local all = next(s.location_map or {}) ~= nil
    for _, v in pairs(s.location_map or {}) do all = all and v.parent ~= nil end
    if not all then
      error(ms.error("ValueError", fmt("%s requires a parent Location be provided when creating %s Locations "
        .. "and the Parent Location and Location Mapping fields are undefined.",
        s.network_loctype, s.network_loctype)), 0)
    end
  end
end

--- The location type `name` as the Nautobot at `url` has it (see
-- nautobot.location_type), with the error naming the setting.
function M.location_type(url, token_env, name)
  return nautobot.location_type(url, token_env, name, "network_loctype")
end

--- SSoT's data mappings: what each Meraki object becomes in Nautobot.
M.data_mappings = {
  { source = "Networks", target = "Locations", target_url = "/dcim/locations/" },
  { source = "Devices", target = "Devices", target_url = "/dcim/devices/" },
  { source = "Ports", target = "Interfaces", target_url = "/dcim/interfaces/" },
  { source = "Prefixes", target = "Prefixes", target_url = "/ipam/prefixes/" },
  { source = "IP Addresses", target = "IP Addresses", target_url = "/ipam/ip-addresses/" },
}

-- {====== the models ======}

--- The models of SSoT's Meraki integration (diffsync/models/base.py),
-- declared on Nautobot's schema, and the two adapter classes over them:
-- `Meraki` (the source) and `Nautobot` (the target). `settings` are SSoT's
-- job settings (docs/meraki.md).
function M.models(settings)
  settings = settings or {}
  check_settings(settings)
  local s = settings
  local api = nautobot.schema()
  local today = os.date("!%Y-%m-%d")
  local tenant = s.tenant
  local namespace = tenant or "Global"
  -- what SSoT marks its objects with, and how the Nautobot side finds them
  local function mark(body)
    body.custom_fields = body.custom_fields or {}
    body.custom_fields.system_of_record = M.SYSTEM_OF_RECORD
    body.custom_fields.last_synced_from_sor = today
  end
  local owned = tenant and { tenant = tenant } or { cf_system_of_record = M.SYSTEM_OF_RECORD }
  -- with a tenant, SSoT never deletes what it reads (SKIP_UNMATCHED_DST)
  local kept = tenant and { "SKIP_UNMATCHED_DST" } or nil
  -- a record Nautobot needs before SSoT's: made for one content type
  local function for_content_type(ct)
    return function(body, _, op)
      if op.action == "create" then body.content_types = { ct } end
    end
  end
  local names = {
    "tags",
    read = function(v)
      local out = {}
      for i, t in ipairs(v or {}) do out[i] = t.name end
      table.sort(out)
      return ms.list(out)
    end,
    write = function(v)
      local out = {}
      for i, name in ipairs(v == null and {} or v) do out[i] = { name = name } end
      return out
    end,
  }
  local m = {}
  m.network = api:model "network" {
    resource = "dcim.locations",
    identifiers = { "name", "parent" },
    attributes = { "timezone", "notes", "tags", "tenant" },
    fields = { parent = "parent__name", timezone = "time_zone", notes = "comments", tags = names,
               tenant = "tenant__name" },
    where = { location_type__name = s.network_loctype },
    flags = { "SKIP_UNMATCHED_DST" },
    write = function(body, _, op)
      if op.action == "create" then
        body.location_type = { name = s.network_loctype }
        body.status = { name = "Active" }
      end
    end,
  }
  m.hardware = api:model "hardware" {
    resource = "dcim.device-types", identifiers = { "model" },
    where = { manufacturer__name = M.VENDOR },
    flags = kept,
    write = function(body) body.manufacturer = { name = M.VENDOR } end,
  }
  m.osversion = api:model "osversion" {
    resource = "dcim.software-versions", identifiers = { "version" },
    where = { platform__name = M.VENDOR },
    write = function(body, _, op)
      if op.action == "create" then
        body.platform = { name = M.VENDOR }
        body.status = { name = "Active" }
      end
    end,
  }
  m.device = api:model "device" {
    resource = "dcim.devices",
    identifiers = { "name" },
    attributes = { "controller_group", "notes", "serial", "status", "role", "model", "network", "tenant",
                   "version" },
    fields = { controller_group = "controller_managed_device_group__name", notes = "comments",
               status = "status__name", role = "role__name", model = "device_type__model",
               network = "location__name", tenant = "tenant__name", version = "software_version__version" },
    children = { port = "ports" },
    query = owned,
    flags = kept,
    write = function(body, _, op)
      if op.action == "create" then body.platform = { name = M.VENDOR } end
      if type(body.device_type) == "table" and body.device_type ~= null then
        body.device_type.manufacturer = { name = M.VENDOR }
      end
      if type(body.software_version) == "table" and body.software_version ~= null then
        body.software_version.platform = { name = M.VENDOR }
      end
      mark(body)
    end,
  }
  m.port = api:model "port" {
    resource = "dcim.interfaces",
    identifiers = { "name", "device" },
    attributes = { "management", "enabled", "port_type", "port_status", "tagging" },
    fields = {
      device = "device__name", management = "mgmt_only", port_type = "type", port_status = "status__name",
      -- SSoT: tagging is any mode but "access"; written as "tagged" or "access"
      tagging = { "mode", read = function(v) return v ~= "access" end,
                  write = function(v) return v == true and "tagged" or "access" end },
    },
    query = { cf_system_of_record = M.SYSTEM_OF_RECORD },
    flags = kept,
    write = function(body) mark(body) end,
  }
  m.prefix = api:model "prefix" {
    resource = "ipam.prefixes",
    identifiers = { "prefix", "namespace" }, attributes = { "tenant" },
    fields = { namespace = "namespace__name", tenant = "tenant__name" },
    query = owned,
    flags = kept,
    write = function(body, _, op)
      if op.action == "create" then body.status = { name = "Active" } end
      mark(body)
    end,
  }
  m.prefixlocation = api:model "prefixlocation" {
    resource = "ipam.prefix-location-assignments",
    identifiers = { "prefix", "location" },
    fields = { prefix = "prefix__prefix", location = "location__name" },
    -- the assignments of the prefixes the job reads
    where = { prefix__prefix = function(v) return v ~= nil end },
    flags = kept,
    write = function(body)
      if type(body.prefix) == "table" then body.prefix.namespace = { name = namespace } end
    end,
  }
  m.ipaddress = api:model "ipaddress" {
    resource = "ipam.ip-addresses",
    identifiers = { "host", "tenant" }, attributes = { "mask_length", "prefix" },
    fields = { tenant = "tenant__name", prefix = "parent__prefix" },
    query = owned,
    flags = kept,
    write = function(body, f, op)
      if op.action == "create" then
        body.status = { name = "Active" }
        body.namespace = { name = namespace }
      end
      if type(body.parent) == "table" and body.parent ~= null then body.parent.namespace = { name = namespace } end
      if body.address == nil and op.action == "update" and f.host and f.mask_length then
        body.address = fmt("%s/%s", f.host, math.tointeger(f.mask_length) or f.mask_length)
      end
      mark(body)
    end,
  }
  m.ipassignment = api:model "ipassignment" {
    resource = "ipam.ip-address-to-interface",
    identifiers = { "address", "device", "namespace", "port" }, attributes = { "primary" },
    fields = {
      address = "ip_address__host", device = "interface__device__name",
      namespace = "ip_address__parent__namespace__name", port = "interface__name",
      -- the address is its device's primary IPv4 or IPv6 address
      primary = { "ip_address__ip_version", also = { "ip_address", "interface__device__primary_ip4",
                                                      "interface__device__primary_ip6" },
                  send = false,
                  read = function(version, _, at)
                    local ip = at("ip_address")
                    local p = at(version == 6 and "interface__device__primary_ip6"
                                 or "interface__device__primary_ip4")
                    return ip ~= nil and p ~= nil and p.id == ip.id
                  end },
    },
    where = { ip_address__host = function(v) return v ~= nil end },
    flags = kept,
    after_write = function(adapter, done) return M.set_primary(adapter, done) end,
  }
  -- what Nautobot's API needs to exist first, where SSoT's ORM calls
  -- create it on the way: network tags, device roles, the tenant's namespace
  m.tag = api:model "tag" {
    resource = "extras.tags", identifiers = { "name" }, flags = { "SKIP_UNMATCHED_DST" },
    write = for_content_type "dcim.location",
  }
  m.role = api:model "role" {
    resource = "extras.roles", identifiers = { "name" }, flags = { "SKIP_UNMATCHED_DST" },
    write = for_content_type "dcim.device",
  }
  m.namespace = api:model "namespace" {
    resource = "ipam.namespaces", identifiers = { "name" }, flags = { "SKIP_UNMATCHED_DST" },
  }
  local list = { m.tag, m.role, m.namespace, m.network, m.hardware, m.osversion, m.device, m.port,
                 m.prefix, m.prefixlocation, m.ipaddress, m.ipassignment }
  local top = { "tag", "role", "namespace", "network", "hardware", "osversion", "device", "prefix",
                "prefixlocation", "ipaddress", "ipassignment" }
  m.list, m.top_level = list, top
  m.Nautobot = nautobot.adapter "Nautobot" { models = list, top_level = top }
  m.Meraki = M.source_adapter(m, settings)
  return m
end

--- After IP assignments are written: the device's primary IPv4 (IPv6)
-- address is set to those that are primary, and cleared where one no
-- longer is (SSoT's device_primary_ip4 updates).
function M.set_primary(adapter, done)
  local patches, owners = {}, {}
  for k, d in ipairs(done) do
    local op = d.op
    local rec = adapter:get_or_none(op.model, op.uid)
    local f = rec and rec:get_attrs() or {}
    local keys = op.keys or {}
    local primary = op.attrs.primary
    if primary ~= nil then
      local address = keys.address or f.address
      local device = keys.device or f.device
      local ns = keys.namespace or f.namespace
      local tenant = ns ~= "Global" and ns or null
      local ip_uid = adapter.model.ipaddress { host = address, tenant = tenant }:get_unique_id()
      local ip = adapter._sid.ipaddress[ip_uid]
      local dev = adapter._sid.device[device]
      if ip == nil or dev == nil then
        owners[#owners + 1] = k
        patches[#patches + 1] = false
      else
        local field = address:find(":", 1, true) and "primary_ip6" or "primary_ip4"
        local body = { id = dev }
        if primary == true then body[field] = { id = ip }
        else body[field] = null end
        if primary == true or op.action == "update" then
          owners[#owners + 1] = k
          patches[#patches + 1] = body
        end
      end
    end
  end
  local failed, reqs, idx = {}, {}, {}
  for i, body in ipairs(patches) do
    if body == false then
      failed[owners[i]] = "its IP address or device has no Nautobot id: the primary IP was not set"
    else
      reqs[#reqs + 1] = { method = "PATCH", path = "/api/dcim/devices/", json = ms.list { body } }
      idx[#reqs] = owners[i]
    end
  end
  for i, r in ipairs(#reqs > 0 and adapter.client:request_many(reqs) or {}) do
    if not r.ok then
      local resp = r.response
      failed[idx[i]] = fmt("setting the device's primary IP: %s", resp and
        fmt("HTTP %d: %s", resp.status, (resp.body or ""):sub(1, 300)) or (r.error and r.error.message or "failed"))
    end
  end
  return failed
end

-- {====== the source: what SSoT's MerakiAdapter loads ======}

-- SSoT's role rules, as a function(name, model) -> role, what it
-- matches, and its debug line: the hostname mapping's regexes (compiled
-- once) if any, else the device type mapping; the last match wins.
local function role_rules(s)
  local rules, against, says = {}, nil, nil
  if s.hostname_mapping and #s.hostname_mapping > 0 then
    for i, e in ipairs(s.hostname_mapping) do
      local re = ms.regex(e[1])
      rules[i] = { function(v) return re:search(v) ~= nil end, e[2] }
    end
    against, says = "name", "Parsing hostname for device %s to determine role."
  elseif s.devicetype_mapping and #s.devicetype_mapping > 0 then
    for i, e in ipairs(s.devicetype_mapping) do
      rules[i] = { function(v) return v:find(e[1], 1, true) ~= nil end, e[2] }
    end
    against, says = "model", "Parsing device model for device %s to determine role."
  end
  return function(name, model)
    local role = "Unknown"
    local v = against == "name" and name or model or ""
    for _, r in ipairs(rules) do if r[1](v) then role = r[2] end end
    return role
  end, says
end

-- The kind of a device model, as SSoT's adapter tells them apart.
local KINDS = { { "firewall", { "MX", "MG", "Z" } }, { "ap", { "MR", "CW" } }, { "switch", { "MS", "C9300" } } }
local function kind_of(model)
  for _, k in ipairs(KINDS) do
    for _, p in ipairs(k[2]) do if model:sub(1, #p) == p then return k[1] end end
  end
  return nil
end

local function str(v) if v == nil or v == null then return nil end return v end

-- The record of `model` with identifiers `ids` (null ones too, as
-- DiffSync's "None"), or nil.
local function find(self, model, ids)
  return self:get_or_none(model, self.model[model](ids):get_unique_id())
end

-- DiffSync's get_or_instantiate: the record, and whether it is new.
local function get_or_new(self, model, ids, attrs)
  local rec = find(self, model, ids)
  if rec then return rec, false end
  local f = {}
  for k, v in pairs(ids) do f[k] = v end
  for k, v in pairs(attrs or {}) do f[k] = v end
  return self:new_record(model, f), true
end

--- The source adapter class over the models of M.models: options `url`,
-- `key` or `key_env`, `org`, `rate`, `concurrency`, or a ready `client`.
function M.source_adapter(m, s)
  local tenant = s.tenant
  local role_of, says = role_rules(s)
  return ms.adapter "Meraki" {
    models = m.list, top_level = m.top_level,
    load = function(self)
      local o = self.options
      local c = o.client or M.client(o)
      self.meraki = c
      local L = { self = self, c = c, s = s, namespace = tenant or "Global", role_of = role_of, says = says,
                  warn = function(msg, skipped) self:warn(msg, { skipped = skipped }) end }
      if not c:organization_exists() then
        error(ms.error("ValueError", fmt("Meraki organization %s not found among those the API key can reach "
          .. "(SSoT: Incorrect Organization ID specified.)", c.org)), 0)
      end
      -- the networks name the devices' locations even when networks are not loaded
      local networks = c:networks()
      L.network_map = {}
      for _, net in ipairs(networks) do L.network_map[net.id] = net end
      if not s.location then M.load_networks(L, networks) end
      M.load_devices(L)
    end,
  }
end

-- SSoT's resolve_location_name: the job's default location, or the network's name
local function location_of(L, network_id)
  if L.s.location then return L.s.location end
  local net = L.network_map[network_id]
  return net and net.name or nil
end

function M.load_networks(L, networks)
  local self, s = L.self, L.s
  for _, net in ipairs(networks) do
    local name = net.name
    local parent = null
    if s.network_loctype_parent then parent = s.parent_location or null end
    local mapped = (s.location_map or {})[name]
    if mapped then
      if mapped.parent ~= nil then parent = mapped.parent end
      if mapped.name ~= nil then name = mapped.name end
    end
    local notes = str(net.notes)
    local tags = {}
    for i, t in ipairs(type(net.tags) == "table" and net.tags or {}) do tags[i] = t end
    table.sort(tags)
    get_or_new(self, "network", { name = name, parent = parent }, {
      timezone = str(net.timeZone) or null,
      notes = notes and notes ~= "" and notes:gsub("%s+$", "") or "",
      tags = ms.list(tags),
      tenant = tenant or null,
    })
    for _, t in ipairs(tags) do get_or_new(self, "tag", { name = t }) end
  end
end

local function describe(dev)
  return fmt("serial %s, network %s", tostring(str(dev.serial) or "?"), tostring(str(dev.networkId) or "?"))
end

function M.load_devices(L)
  local self, c, s = L.self, L.c, L.s
  local devices = c:devices()
  local statuses = {}
  for _, st in ipairs(c:device_statuses()) do
    if str(st.name) then statuses[st.name] = st.status end
  end
  L.uplink_statuses = {}
  for _, u in ipairs(c:uplink_statuses()) do L.uplink_statuses[u.serial] = u end
  L.switchports = {}
  -- SSoT keys devices by name: of two with one name the later is kept
  local by_name, order = {}, {}
  for _, dev in ipairs(devices) do
    local name = str(dev.name)
    if not name or name == "" then
      L.warn(fmt("Device serial %s is missing hostname so will be skipped.", tostring(str(dev.serial) or "?")),
             true)
    elseif by_name[name] then
      local prev = by_name[name]
      L.warn(fmt("Duplicate device %s found (%s and %s): the later is kept, the other skipped.",
                 name, describe(prev), describe(dev)), true)
      by_name[name] = dev
    else
      by_name[name] = dev
      order[#order + 1] = name
    end
  end
  -- what each kind of device needs, asked for at once
  local kept, paths, need = {}, {}, {}
  local function want(key, path)
    if need[key] == nil then
      paths[#paths + 1] = path
      need[key] = #paths
    end
  end
  for _, name in ipairs(order) do
    local dev = by_name[name]
    local model, serial = str(dev.model), str(dev.serial)
    local problem
    if not model then problem = "no model"
    elseif not serial then problem = "no serial"
    elseif not str(dev.firmware) then problem = "no firmware"
    elseif not location_of(L, dev.networkId) then problem = fmt("its network %s is not among the organization's", tostring(str(dev.networkId)))
    end
    if problem then
      L.warn(fmt("Device %s (%s): %s, so it is skipped.", name, describe(dev), problem), true)
    else
      kept[#kept + 1] = dev
      local kind = kind_of(model)
      if kind then want("mgmt " .. serial, fmt("/devices/%s/managementInterface", serial)) end
      if kind == "firewall" then
        want("uplink " .. serial, fmt("/devices/%s/appliance/uplinks/settings", serial))
        want("ports " .. dev.networkId, fmt("/networks/%s/appliance/ports", dev.networkId))
        if s.sync_firewall_lan_ips then
          want("vlans? " .. dev.networkId, fmt("/networks/%s/appliance/vlans/settings", dev.networkId))
        end
      end
    end
  end
  local answers, failed = c:each(paths)
  local function get(key)
    local i = need[key]
    if not i then return nil end
    if failed[i] then
      L.warn("Meraki API error: " .. failed[i])
      failed[i] = nil
    end
    return answers[i]
  end
  L.get = get
  -- the VLAN calls that depend on each network's VLAN mode
  if s.sync_firewall_lan_ips then
    local more = {}
    for key, i in pairs(need) do
      local net = key:match("^vlans%? (.*)$")
      local st = net and answers[i]
      if type(st) == "table" and st.vlansEnabled == true then
        more[#more + 1] = { key = "vlans " .. net, path = fmt("/networks/%s/appliance/vlans", net) }
      elseif type(st) == "table" and st.vlansEnabled == false then
        more[#more + 1] = { key = "lan " .. net, path = fmt("/networks/%s/appliance/singleLan", net) }
      end
    end
    table.sort(more, function(x, y) return x.path < y.path end)
    local list = {}
    for i, x in ipairs(more) do list[i] = x.path end
    local got, bad = c:each(list)
    for i, x in ipairs(more) do
      paths[#paths + 1] = x.path
      need[x.key] = #paths
      answers[#paths], failed[#paths] = got[i], bad[i]
    end
  end
  -- org-wide answers, only when some device reads them
  local function switchports()
    if not L.switchports_read then
      L.switchports_read = true
      for _, sw in ipairs(c:switch_ports()) do L.switchports[sw.serial] = sw end
    end
    return L.switchports
  end
  L.uplinks_of = function(serial)
    if not L.uplinks then
      L.uplinks = {}
      for _, u in ipairs(c:uplink_addresses()) do
        local list = L.uplinks[u.serial] or {}
        L.uplinks[u.serial] = list
        list[#list + 1] = u
      end
    end
    return L.uplinks[serial] or {}
  end
  for _, dev in ipairs(kept) do
    local name, model, serial = dev.name, dev.model, dev.serial
    local status = "Offline"
    if statuses[name] == "online" then status = s.device_status or "Active" end
    if s.debug and L.says then self:log(fmt(L.says, name)) end
    local role = L.role_of(name, model)
    get_or_new(self, "hardware", { model = model })
    get_or_new(self, "osversion", { version = dev.firmware })
    get_or_new(self, "role", { name = role })
    local notes = str(dev.notes) or ""
    local device = self:new_record("device", {
      name = name,
      controller_group = s.controller_group or null,
      notes = notes:gsub("%s+$", ""),
      serial = serial, status = status, role = role, model = model,
      network = location_of(L, dev.networkId),
      tenant = tenant or null, version = dev.firmware,
    })
    local D = { rec = device, name = name, serial = serial, network = dev.networkId, lan_ip = str(dev.lanIp),
                primary = {} }
    local kind = kind_of(model)
    if kind == "firewall" then
      M.load_firewall_ports(L, D)
    elseif kind == "ap" then
      M.load_ap_ports(L, D)
    elseif kind == "switch" then
      M.load_switch_ports(L, D, switchports())
    end
  end
end

-- {====== ports, prefixes and addresses ======}

local function port(L, D, name, attrs)
  local rec, created = get_or_new(L.self, "port", { name = name, device = D.name }, attrs)
  if created then D.rec:add_child(rec) end
  return rec, created
end

local function mgmt_attrs()
  return { management = true, enabled = true, port_type = "1000base-t", port_status = "Active", tagging = false }
end

function M.load_prefix(L, prefix)
  get_or_new(L.self, "prefix", { prefix = prefix, namespace = L.namespace },
                            { tenant = L.s.tenant or null })
  if L.s.tenant then get_or_new(L.self, "namespace", { name = L.s.tenant }) end
end

function M.load_prefix_location(L, prefix, location)
  get_or_new(L.self, "prefixlocation", { prefix = prefix, location = location })
end

function M.load_ipaddress(L, host, length, prefix)
  length = math.tointeger(tonumber(length)) or length
  local tenant = L.s.tenant or null
  local found = find(L.self, "ipaddress", { host = host, tenant = tenant })
  if found then
    local f = found:get_attrs()
    if f.mask_length ~= length or f.prefix ~= prefix then
      L.warn(fmt("IPAddress %s/%s already loaded. Loaded object using %s mask in %s.", host, tostring(length),
                 tostring(f.mask_length), tostring(f.prefix)))
    end
    return
  end
  L.self:new_record("ipaddress", { host = host, tenant = tenant, mask_length = length, prefix = prefix })
end

-- Of two addresses of one family a device calls primary, Nautobot keeps
-- one: the first stays primary, the later is loaded as not primary (the
-- primary IP is the device's, so the same address on another port is
-- primary there too).
function M.load_ipassignment(L, D, host, portname, primary)
  local ids = { address = host, device = D.name, namespace = L.namespace, port = portname }
  if find(L.self, "ipassignment", ids) then return end
  if primary then
    local fam = is_v6(host) and 6 or 4
    local first = D.primary[fam]
    -- (the same address on two ports is the same primary address)
    if first and first.host ~= host then
      L.warn(fmt("Device %s: %s on %s and %s on %s are both primary IPv%d addresses: %s stays primary.",
                 D.name, first.host, first.port, host, portname, fam, first.host))
      primary = false
    elseif not first then
      D.primary[fam] = { host = host, port = portname }
    end
  end
  ids.primary = primary and true or false
  L.self:new_record("ipassignment", ids)
end

-- an address, its prefix, the prefix's location and the assignment
local function address(L, D, host, length, prefix, portname, primary)
  M.load_prefix(L, prefix)
  M.load_prefix_location(L, prefix, location_of(L, D.network))
  M.load_ipaddress(L, host, length, prefix)
  M.load_ipassignment(L, D, host, portname, primary)
end

-- The management address found through the uplinks (a DHCP address, when
-- allow_dhcp_mgmt_ips is set): SSoT's get_mgmt_port_from_uplinks.
local function dhcp_mgmt(L, D)
  local uplinks = L.uplinks_of(D.serial)
  if #uplinks == 0 then return end
  local ports = type(uplinks[1].uplinks) == "table" and uplinks[1].uplinks or {}
  -- the uplink carrying the device's LAN address, or the first address of any
  local ip, portname = D.lan_ip, nil
  for _, up in ipairs(ports) do
    for _, a in ipairs(type(up.addresses) == "table" and up.addresses or {}) do
      if D.lan_ip then
        if portname == nil and a.address == D.lan_ip then portname = str(up.interface) end
      elseif ip == nil and str(a.address) then
        ip, portname = a.address, str(up.interface)
      end
    end
  end
  if not ip or not portname then
    L.warn(fmt("Device %s (serial %s): no uplink carries its management address %s, so none is loaded.",
               D.name, D.serial, tostring(ip or "(none)")))
    return
  end
  port(L, D, portname, mgmt_attrs())
  address(L, D, ip, 32, network_of(ip), portname, true)
  return true
end

-- A device's management interface names, in name order.
local function mgmt_names(mgmt)
  local names = {}
  for k in pairs(type(mgmt) == "table" and mgmt or {}) do if k ~= "ddnsHostnames" then names[#names + 1] = k end end
  table.sort(names)
  return names
end

-- A switch's or AP's management ports, and their static addresses:
-- returns the prefix of the last one, or nil.
local function management(L, D)
  local mgmt = L.get("mgmt " .. D.serial) or {}
  local prefix
  for _, p in ipairs(mgmt_names(mgmt)) do
    local _, created = port(L, D, p, mgmt_attrs())
    local mp = mgmt[p]
    if created and type(mp) == "table" and mp.usingStaticIp == true then
      local ok, length = pcall(mask_length, mp.staticSubnetMask)
      if not ok or not str(mp.staticIp) then
        L.warn(fmt("Device %s (serial %s) port %s: a static address without a valid netmask (%s), so it is skipped.",
                   D.name, D.serial, p, tostring(str(mp.staticSubnetMask))), true)
      else
        prefix = network_of(mp.staticIp .. "/" .. length)
        address(L, D, mp.staticIp, length, prefix, p, true)
      end
    end
  end
  return prefix
end

function M.load_firewall_ports(L, D)
  local s = L.s
  local mgmt = L.get("mgmt " .. D.serial) or {}
  local settings = L.get("uplink " .. D.serial) or {}
  settings = type(settings.interfaces) == "table" and settings.interfaces or {}
  local lan_ports = L.get("ports " .. D.network) or {}
  local primary_found, mgmt_ip = false, nil
  for _, p in ipairs(mgmt_names(mgmt)) do
    local status = "Planned"
    local us = L.uplink_statuses[D.serial]
    for _, link in ipairs(us and type(us.uplinks) == "table" and us.uplinks or {}) do
      if link.interface == p and link.status == "active" then status = "Active" end
    end
    local ps = settings[p]
    if type(ps) == "table" then
      local tagging = type(ps.vlanTagging) == "table" and ps.vlanTagging.enabled == true
      local _, created = port(L, D, p, { management = true, enabled = ps.enabled == true, port_type = "1000base-t",
                                         port_status = status, tagging = tagging })
      local v4 = type(ps.svis) == "table" and type(ps.svis.ipv4) == "table" and ps.svis.ipv4 or {}
      if created and v4.assignmentMode == "static" and str(v4.address) then
        local ok, prefix = pcall(network_of, v4.address)
        if not ok then
          L.warn(fmt("Device %s (serial %s) port %s: %s, so its address is skipped.", D.name, D.serial, p, prefix), true)
        else
          local host, length
          if type(ps.pppoe) == "table" and ps.pppoe.enabled == true then
            host, length = v4.address, 32
          else
            host, length = v4.address:match("^([^/]+)/?(%d*)$")
            length = tonumber(length) or (is_v6(host) and 128 or 32)
          end
          mgmt_ip = host
          address(L, D, host, length, prefix, p, status == "Active" and not primary_found)
        end
      end
      if status == "Active" then primary_found = true end
    end
  end
  if not mgmt_ip and s.allow_dhcp_mgmt_ips then dhcp_mgmt(L, D) end
  for _, lp in ipairs(type(lan_ports) == "table" and lan_ports or {}) do
    port(L, D, tostring(math.tointeger(lp.number) or lp.number), {
      management = false, enabled = lp.enabled == true, port_type = "1000base-t", port_status = "Active",
      tagging = lp.type == "trunk" })
  end
  if s.sync_firewall_lan_ips then M.load_lan_svis(L, D) end
end

function M.load_switch_ports(L, D, switchports)
  if not management(L, D) and L.s.allow_dhcp_mgmt_ips then dhcp_mgmt(L, D) end
  local sw = switchports[D.serial]
  for _, sp in ipairs(sw and type(sw.ports) == "table" and sw.ports or {}) do
    local _, created = port(L, D, tostring(sp.portId), {
      management = false, enabled = sp.enabled == true, port_type = "1000base-t", port_status = "Active",
      tagging = sp.type == "trunk" })
    if not created then
      L.warn(fmt("Device %s: port %s is listed twice, so the later is skipped.", D.name, tostring(sp.portId)), true)
    end
  end
end

function M.load_ap_ports(L, D)
  local prefix = management(L, D)
  local uplinks = L.uplinks_of(D.serial)
  if #uplinks > 0 then
    for _, up in ipairs(type(uplinks[1].uplinks) == "table" and uplinks[1].uplinks or {}) do
      prefix = M.load_ap_uplink_port(L, D, up, prefix)
    end
  end
end

-- SSoT's load_ap_uplink_ports: an uplink and its addresses (an IPv4
-- address within the management prefix takes its length, others are
-- host prefixes). Returns the prefix the next uplink compares with.
function M.load_ap_uplink_port(L, D, up, prefix)
  local name = str(up.interface)
  if not name then
    L.warn(fmt("Device %s (serial %s): an uplink without an interface name is skipped.", D.name, D.serial), true)
    return prefix
  end
  port(L, D, name, mgmt_attrs())
  for _, a in ipairs(type(up.addresses) == "table" and up.addresses or {}) do
    local ip = str(a.address)
    if ip then
      local length
      if a.protocol == "ipv4" then
        length = 32
        if prefix and within(ip, prefix) then
          length = tonumber(prefix:match("/(%d+)$"))
        else
          prefix = network_of(ip)
        end
      else
        length = 128
        prefix = network_of(ip)
      end
      address(L, D, ip, length, prefix, name, true)
    end
  end
  return prefix
end

-- SSoT's load_lan_svis: a firewall's VLAN interfaces (or its single LAN)
-- with their gateway addresses, never primary.
function M.load_lan_svis(L, D)
  local settings = L.get("vlans? " .. D.network)
  local svis = {}
  if type(settings) == "table" and settings.vlansEnabled == true then
    for _, v in ipairs(L.get("vlans " .. D.network) or {}) do
      local id, subnet, gw = str(v.id), str(v.subnet), str(v.applianceIp)
      if id and subnet and gw then svis[#svis + 1] = { vlan = tostring(id), subnet = subnet, ip = gw } end
    end
  elseif type(settings) == "table" and settings.vlansEnabled == false then
    local lan = L.get("lan " .. D.network) or {}
    if str(lan.subnet) and str(lan.applianceIp) then
      svis[1] = { vlan = "1", subnet = lan.subnet, ip = lan.applianceIp }
    end
  end
  for _, svi in ipairs(svis) do
    local pname = "Vlan" .. svi.vlan
    port(L, D, pname, { management = false, enabled = true, port_type = "virtual", port_status = "Active",
                        tagging = false })
    local ok, prefix = pcall(network_of, svi.subnet)
    if not ok or prefix ~= svi.subnet then
      L.warn(fmt("Device %s (serial %s) %s: subnet %s is not a network, so its address is skipped.", D.name,
                 D.serial, pname, svi.subnet), true)
    else
      local net = L.network_map[D.network]
      M.load_prefix(L, prefix)
      M.load_prefix_location(L, prefix, net and net.name or location_of(L, D.network))
      M.load_ipaddress(L, svi.ip, tonumber(prefix:match("/(%d+)$")), prefix)
      M.load_ipassignment(L, D, svi.ip, pname, false)
    end
  end
end

return M
