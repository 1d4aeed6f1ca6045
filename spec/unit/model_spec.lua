local ms = require "moonsync"

describe("moonsync.model", function()
  local Site = ms.model "site" {
    identifiers = { "name" },
    attributes = { "status", "region" },
    children = { device = "devices" },
  }
  local Device = ms.model "device" {
    identifiers = { "site_name", "name" },
    shortname = { "name" },
    attributes = { "role", "serial" },
    extra_fields = { "note" },
  }

  describe("declaration", function()
    it("exposes identifiers, attributes and children", function()
      assert.same({ "name" }, Site.identifiers)
      assert.same({ "status", "region" }, Site.attributes)
      assert.same({ { "device", "devices" } }, Site.children)
    end)

    it("rejects unknown keys", function()
      assert.has_error(function()
        ms.model "x" { identifiers = { "a" }, atributes = { "b" } }
      end)
      local ok, err = pcall(ms.model "x", { identifiers = { "a" }, atributes = { "b" } })
      assert.is_false(ok)
      assert.matches("unknown key 'atributes'", err)
    end)

    it("rejects a field declared as identifier and attribute", function()
      local ok, err = pcall(ms.model "x", { identifiers = { "a" }, attributes = { "a" } })
      assert.is_false(ok)
      assert.equals("SchemaError", err.type)
      assert.equals("model 'x': field 'a' is declared twice", err.message)
    end)

    it("needs an identifier", function()
      local ok, err = pcall(ms.model "x", { attributes = { "a" } })
      assert.is_false(ok)
      assert.matches("needs at least one identifier", tostring(err))
    end)

    it("needs an order for several child types", function()
      local ok, err = pcall(ms.model "x", { identifiers = { "a" },
        children = { device = "devices", vlan = "vlans" } })
      assert.is_false(ok)
      assert.matches("need an order", err)
      local X = ms.model "x" { identifiers = { "a" },
        children = { { device = "devices" }, { vlan = "vlans" } } }
      assert.same({ { "device", "devices" }, { "vlan", "vlans" } }, X.children)
    end)

    it("rejects a shortname naming no field", function()
      local ok, err = pcall(ms.model "x", { identifiers = { "a" }, shortname = { "b" } })
      assert.is_false(ok)
      assert.matches("shortname field 'b' is not declared", tostring(err))
    end)
  end)

  describe("records", function()
    it("build unique ids the way DiffSync does", function()
      assert.equals("ams", Site { name = "ams" }:get_unique_id())
      assert.equals("ams__sw1", Device { site_name = "ams", name = "sw1" }:get_unique_id())
      local Num = ms.model "n" { identifiers = { "a", "b", "c" } }
      assert.equals("10__1.0__True", Num { a = 10, b = 1.0, c = true }:get_unique_id())
    end)

    it("use the shortname when declared", function()
      local d = Device { site_name = "ams", name = "sw1" }
      assert.equals("sw1", d:get_shortname())
      assert.equals("ams", Site { name = "ams" }:get_shortname())
    end)

    it("return identifiers and attributes", function()
      local d = Device { site_name = "ams", name = "sw1", role = "leaf", note = "x" }
      assert.same({ site_name = "ams", name = "sw1" }, d:get_identifiers())
      -- unset attributes are included, as ms.null (DiffSync's None)
      assert.same({ role = "leaf", serial = ms.null }, d:get_attrs())
      assert.equals("x", d.note)
      assert.is_nil(d.serial)
    end)

    it("require every identifier", function()
      local ok, err = pcall(Device, { name = "sw1" })
      assert.is_false(ok)
      assert.matches("device: identifier 'site_name' is missing %(a required field; null is a value, read as None%)", tostring(err))
      -- null is a value: str(None) in the uid
      assert.equals("None__sw1", Device { site_name = ms.null, name = "sw1" }:get_unique_id())
    end)

    it("reject unknown fields", function()
      local ok, err = pcall(Site, { name = "ams", colour = "red" })
      assert.is_false(ok)
      assert.matches("site has no field 'colour'", err)
      local s = Site { name = "ams" }
      ok, err = pcall(function() s.colour = "red" end)
      assert.is_false(ok)
      assert.matches("site has no field 'colour'", err)
    end)

    it("keep typed values", function()
      local s = Site { name = "ams", status = { 1, 2.5, "x", true } }
      assert.same({ 1, 2.5, "x", true }, s.status)
      assert.equals(math.type(s.status[2]), "float")
      s.region = { a = 1 }
      assert.same({ a = 1 }, s.region)
    end)

    it("track child uids with add_child and remove_child", function()
      local s = Site { name = "ams" }
      local d = Device { site_name = "ams", name = "sw1" }
      s:add_child(d)
      assert.same({ "ams__sw1" }, s.devices)
      local ok, err = pcall(s.add_child, s, d)
      assert.is_false(ok)
      assert.equals("ObjectAlreadyExists", err.type)
      assert.equals("Already storing a device with unique_id ams__sw1", err.message)
      ok, err = pcall(d.add_child, d, s)
      assert.is_false(ok)
      assert.equals("ObjectStoreWrongType", err.type)
      assert.matches("Unable to store site as a child of device; valid types are %[%]", err.message)
      s:remove_child(d)
      assert.same({}, s.devices)
      ok, err = pcall(s.remove_child, s, d)
      assert.is_false(ok)
      assert.equals("ObjectNotFound", err.type)
    end)

    it("keep a status message of their own, on any number of records and into a store", function()
      local a = ms.adapter "msgs" { models = { Site, Device } }:new()
      local recs = {}
      for i = 1, 200 do
        recs[i] = a:add(Site { name = "s" .. i })
        recs[i]:set_status("failure", "cable " .. i)
      end
      for i = 1, 200 do assert.same({ "failure", "cable " .. i }, { recs[i]:get_status() }) end
      recs[1]:set_status("success", "Created successfully")
      recs[2]:set_status("unknown")
      recs[3]:set_status("error", "cable 3, again")
      assert.same({ "success", "Created successfully" }, { recs[1]:get_status() })
      assert.same({ "unknown", "" }, { recs[2]:get_status() })
      assert.same({ "error", "cable 3, again" }, { recs[3]:get_status() })
      -- a detached record's message goes with it into the store
      local d = Site { name = "detached" }
      d:set_status("error", "from the field")
      a:add(d)
      assert.same({ "error", "from the field" }, { a:get("site", "detached"):get_status() })
    end)

    it("print like DiffSync", function()
      local d = Device { site_name = "ams", name = "sw1", role = "leaf" }
      assert.equals("device: ams__sw1: {'role': 'leaf', 'serial': None}", d:str())
      assert.equals('device "ams__sw1"', tostring(d))
    end)
  end)
end)
