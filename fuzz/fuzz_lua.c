/*
** fuzz_lua.c: decoders written in Lua on top of the engine: plan files
** (moonsync.plan) and HTTP pagination envelopes (moonsync.http get_all),
** driven by fuzz/lua_target.lua, which reports any error that is not a
** clean moonsync error.
*/
#include <stdio.h>
#include <stdlib.h>

#include <lauxlib.h>
#include <lua.h>
#include <lualib.h>

#include "l_init.h"

#include "fuzz.h"

#ifndef MS_ROOT
#define MS_ROOT "."
#endif

static lua_State *L;
static int target = LUA_NOREF;

static void setup(void) {
  L = luaL_newstate();
  FUZZ_CHECK(L != NULL);
  luaL_openlibs(L);
  lua_getglobal(L, "package");
  lua_pushstring(L, MS_ROOT "/lua/?.lua;" MS_ROOT "/lua/?/init.lua;"
                 MS_ROOT "/lib/?.lua");
  lua_setfield(L, -2, "path");
  lua_getfield(L, -1, "preload");
  lua_pushcfunction(L, luaopen_moonsync_core);
  lua_setfield(L, -2, "moonsync.core");
  lua_pop(L, 2);
  if (luaL_dofile(L, MS_ROOT "/fuzz/lua_target.lua") != LUA_OK) {
    fprintf(stderr, "lua_target.lua: %s\n", lua_tostring(L, -1));
    abort();
  }
  target = luaL_ref(L, LUA_REGISTRYINDEX);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  if (L == NULL) setup();
  lua_rawgeti(L, LUA_REGISTRYINDEX, target);
  lua_pushlstring(L, (const char *)data, size);
  if (lua_pcall(L, 1, 1, 0) != LUA_OK) {
    fprintf(stderr, "fuzz target raised: %s\n", lua_tostring(L, -1));
    abort();
  }
  if (!lua_isnil(L, -1)) {
    fprintf(stderr, "%s\n", lua_tostring(L, -1));
    abort();
  }
  lua_settop(L, 0);
  lua_gc(L, LUA_GCCOLLECT);
  return 0;
}
