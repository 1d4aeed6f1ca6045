-- Nautobot SSoT's IP Fabric utilities held to its own tests
-- (nautobot_ssot/tests/ipfabric/test_utils.py: every convert_media_type
-- case), and the netutils helpers the integrations share.
local ipfabric = require "moonsync.adapters.ipfabric"
local netutils = require "moonsync.netutils"

-- { expected type, media type, interface name }
local CASES = {
  { "virtual", "Virtual", "VLAN1" },
  { "bridge", "Bridge", "Bridge0" },
  { "lag", "LAG", "Po1" },
  { "100base-tx", "100Base-T", "Fa1" },
  { "100base-tx", "100MegabitEthernet", "Fa1" },
  { "1000base-t", "1000BaseT", "Gi1" },
  { "1000base-t", "10/100/1000BaseTX", "Gi1" },
  { "1000base-t", "RJ45", "Gi1" },
  { "1000base-t", "1GigThisUsesDefault", "Gi1" },
  { "1000base-x-sfp", "10/100/1000BaseTX SFP", "Gi1" },
  { "1000base-x-sfp", "1000BaseLX", "Gi1" },
  { "1000base-x-sfp", "1000BaseSX", "Gi1" },
  { "1000base-x-sfp", "1000BaseLR", "Gi1" },
  { "1000base-x-sfp", "1000BaseSR", "Gi1" },
  { "1000base-x-gbic", "10/100/1000BaseTX GBIC", "Gi1" },
  { "2.5gbase-t", "100/1000/2.5GBaseTX", "TwoGi1" },
  { "5gbase-t", "100/1000/2.5G/5GBaseTX", "FiveGi1" },
  { "10gbase-x-xfp", "10GBase XFP", "TenGi1" },
  { "10gbase-x-x2", "10GBase X2", "TenGi1" },
  { "10gbase-x-xenpak", "10GBase XENPAK", "TenGi1" },
  { "10gbase-x-sfpp", "10GBase SFP", "TenGi1" },
  { "10gbase-x-sfpp", "10G", "TenGi1" },
  { "25gbase-x-sfp28", "25G", "TweGi1" },
  { "40gbase-x-qsfpp", "40G", "FoGi1" },
  { "50gbase-x-sfp56", "50G", "FiGi1" },
  { "100gbase-x-qsfp28", "100G QSFP", "HunGi1" },
  { "100gbase-x-cfp", "100G", "HunGi1" },
  { "200gbase-x-qsfp56", "200G QSFP", "TwoHunGi1" },
  { "200gbase-x-cfp2", "200G", "TwoHunGi1" },
  { "400gbase-x-qsfp112", "400G QSFP", "FoHunGi1" },
  { "400gbase-x-osfp", "400G", "FoHunGi1" },
  { "800gbase-x-qsfpdd", "800G QSFP", "EiHunGi1" },
  { "800gbase-x-osfp", "800G", "EiHunGi1" },
  { "1000base-t", "ThisShouldGiveTheDefault", "" },
  { "lag", "", "Po1" },
  { "lag", "", "Port-channel1" },
  { "virtual", "", "Vlan1" },
  { "virtual", "", "Vl1" },
  { "virtual", "", "Loopback1" },
  { "virtual", "", "Lo1" },
  { "virtual", "", "Tu1" },
  { "virtual", "", "Tunnel1" },
  { "virtual", "", "Vxlan1" },
  { "virtual", "", "Vx1" },
  { "100base-tx", "", "FastEthernet1" },
  { "100base-tx", "", "Fa1" },
  { "1000base-t", "", "GigabitEthernet1" },
  { "1000base-t", "", "Gi1" },
  { "10gbase-x-sfpp", "", "TenGigabitEthernet1" },
  { "10gbase-x-sfpp", "", "Te1" },
  { "25gbase-x-sfp28", "", "TwentyFiveGigabitEthernet1" },
  { "40gbase-x-qsfpp", "", "FortyGigabitEthernet1" },
  { "40gbase-x-qsfpp", "", "Fo1" },
  { "50gbase-x-sfp56", "", "FiftyGigabitEthernet1" },
  { "50gbase-x-sfp56", "", "Fi1" },
  { "100gbase-x-qsfp28", "", "HundredGigabitEthernet1" },
  { "100gbase-x-qsfp28", "", "Hu1" },
  { "200gbase-x-qsfp56", "", "TwoHundredGigabitEthernet1" },
}

describe("IP Fabric utilities #ipfabric", function()
  it("convert_media_type gives the type test_utils.py expects for every case", function()
    for _, c in ipairs(CASES) do
      assert.equals(c[1], ipfabric.convert_media_type(c[2], c[3]), ("%q, %q"):format(c[2], c[3]))
    end
  end)

  it("convert_media_type falls back to the configured default interface type", function()
    assert.equals("other", ipfabric.convert_media_type(nil, "weird0", "other"))
    assert.equals("1000base-t", ipfabric.convert_media_type(nil, "pseudo_mgmt"))
  end)

  it("names a new platform's drivers as SSoT's create_platform_object does", function()
    assert.same({ "cisco_ios", "cisco_ios" }, { ipfabric.platform_drivers("ios-xe", "Cisco") })
    assert.same({ "arista_eos", "arista_eos" }, { ipfabric.platform_drivers("eos", "Arista") })
    assert.same({ "juniper_junos", "juniper_junos" }, { ipfabric.platform_drivers("junos", "Juniper") })
    assert.same({ "cisco_nx-os", "" }, { ipfabric.platform_drivers("nx-os", "Cisco") })
  end)

  it("capitalizes vendors as Python's str.capitalize", function()
    assert.equals("Cisco", ipfabric.capitalize("cisco"))
    assert.equals("Hpe", ipfabric.capitalize("HPE"))
  end)

  it("refuses an unknown setting and a setting of the wrong type, naming it", function()
    assert.has_error(function() ipfabric.settings { safe_delete = true } end,
                     "ipfabric settings: unknown setting 'safe_delete'")
    assert.has_error(function() ipfabric.settings { default_interface_mtu = "1500" } end,
                     "ipfabric settings: default_interface_mtu must be a number, not string")
    assert.equals("Site", ipfabric.settings({}).location_type)
  end)
end)

describe("netutils helpers", function()
  it("expands interface names as canonical_interface_name", function()
    assert.equals("GigabitEthernet1/0/1", netutils.canonical_interface_name("Gi1/0/1"))
    assert.equals("Ethernet1", netutils.canonical_interface_name("Eth1"))
    assert.equals("Port-channel40", netutils.canonical_interface_name("Po40"))
    assert.equals("Loopback10", netutils.canonical_interface_name("Lo10"))
    assert.equals("ipip", netutils.canonical_interface_name("ipip"))
    assert.same({ "GigabitEthernet", "1/0/1" }, { netutils.split_interface("GigabitEthernet1/0/1") })
  end)

  it("formats MAC addresses as mac_to_format, refusing what is not one", function()
    assert.equals("52:54:00:9d:f8:16", netutils.mac_to_format("5254.009d.f816", "MAC_COLON_TWO"))
    assert.equals("aabb-ccdd-eeff", netutils.mac_to_format("aa.bb.cc.dd.ee.ff", "MAC_DASH_FOUR"))
    assert.equals("aabbccddeeff", netutils.mac_to_format("AA:BB:CC:DD:EE:FF", "MAC_NO_SPECIAL"))
    assert.has_error(function() netutils.mac_to_format("aa.bb.cc.dd.ee.gg", "MAC_COLON_TWO") end,
                     "There was not a valid mac address in: `aa.bb.cc.dd.ee.gg`")
  end)

  it("converts between netmasks and prefix lengths", function()
    assert.equals(24, netutils.mask_length("255.255.255.0"))
    assert.equals("255.255.255.0", netutils.netmask(24))
    assert.equals("255.255.255.255", netutils.netmask(32))
    assert.equals("0.0.0.0", netutils.netmask(0))
    assert.has_error(function() netutils.mask_length("255.0.255.0") end, "'255.0.255.0' is not a netmask")
  end)
end)
