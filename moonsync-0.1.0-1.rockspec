-- LuaRocks build of the moonsync Lua module (moonsync.core in C, the Lua
-- API, the bundled adapters). The `moonsync` command is built with make.
rockspec_format = "3.0"
package = "moonsync"
version = "0.1.0-1"
source = {
  url = "git+https://example.invalid/moonsync.git",
  tag = "v0.1.0",
}
description = {
  summary = "A Lua-scriptable sync engine written in C (DiffSync semantics)",
  detailed = [[
    moonsync compares two datasets, shows the difference and makes the
    target match the source, with the semantics of Python's DiffSync, at
    native speed: records live in a C store, models, adapters and
    mappings are Lua.
  ]],
  license = "MIT",
}
dependencies = {
  "lua == 5.4",
  "lua-cjson",
  "luafilesystem",
}
external_dependencies = {
  CURL = { header = "curl/curl.h", library = "curl" },
  XXHASH = { header = "xxhash.h" },
  SQLITE = { header = "sqlite3.h", library = "sqlite3" },
  PCRE2 = { header = "pcre2.h", library = "pcre2-8" },
}
build = {
  type = "builtin",
  modules = {
    ["moonsync.core"] = {
      sources = {
        "engine/arena.c", "engine/buf.c", "engine/err.c", "engine/sha256.c", "engine/value.c",
        "engine/json.c", "engine/load.c", "engine/csv.c", "engine/store.c", "engine/diff.c", "engine/sync.c",
        "engine/fixture.c", "engine/http.c", "engine/mapping.c", "engine/perm.c",
        "engine/fsafe.c", "engine/proc.c", "engine/progress.c",
        "engine/l_common.c", "engine/l_model.c", "engine/l_record.c", "engine/l_store.c",
        "engine/l_diff.c", "engine/l_util.c", "engine/l_sync.c", "engine/l_mapping.c",
        "engine/l_http.c", "engine/l_perm.c", "engine/l_sqlite.c", "engine/l_regex.c", "engine/l_init.c",
      },
      defines = { "_GNU_SOURCE" },
      incdirs = { "engine", "$(CURL_INCDIR)", "$(XXHASH_INCDIR)", "$(SQLITE_INCDIR)", "$(PCRE2_INCDIR)" },
      libdirs = { "$(CURL_LIBDIR)", "$(SQLITE_LIBDIR)", "$(PCRE2_LIBDIR)" },
      libraries = { "curl", "sqlite3", "pcre2-8", "pthread", "m" },
    },
    moonsync = "lua/moonsync/init.lua",
    ["moonsync.cli"] = "lua/moonsync/cli.lua",
    ["moonsync.history"] = "lua/moonsync/history.lua",
    ["moonsync.http"] = "lua/moonsync/http.lua",
    ["moonsync.job"] = "lua/moonsync/job.lua",
    ["moonsync.mapping"] = "lua/moonsync/mapping.lua",
    ["moonsync.plan"] = "lua/moonsync/plan.lua",
    ["moonsync.policy"] = "lua/moonsync/policy.lua",
    ["moonsync.redact"] = "lua/moonsync/redact.lua",
    ["moonsync.report"] = "lua/moonsync/report.lua",
    ["moonsync.run"] = "lua/moonsync/run.lua",
    ["moonsync.sandbox"] = "lua/moonsync/sandbox.lua",
    ["moonsync.util"] = "lua/moonsync/util.lua",
    ["moonsync.netutils"] = "lua/moonsync/netutils.lua",
    ["moonsync.writer"] = "lua/moonsync/writer.lua",
    ["moonsync.adapters.json_file"] = "adapters/json_file.lua",
    ["moonsync.adapters.csv_file"] = "adapters/csv_file.lua",
    ["moonsync.adapters.rest"] = "adapters/rest.lua",
    ["moonsync.adapters.nautobot"] = "adapters/nautobot.lua",
    ["moonsync.adapters.netbox"] = "adapters/netbox.lua",
    ["moonsync.adapters.openapi"] = "adapters/openapi.lua",
    ["moonsync.adapters.meraki"] = "adapters/meraki.lua",
    ["moonsync.adapters.nautobot_openapi"] = "adapters/nautobot_openapi.lua",
  },
  copy_directories = { "docs", "examples" },
}
