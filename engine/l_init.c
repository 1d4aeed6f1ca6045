/*
** l_init.c: luaopen_moonsync_core, the entry of the moonsync.core module:
** one table, filled by the binding of each part of the engine. The
** bindings share l_common.c and never call one another.
*/
#include <lauxlib.h>
#include <lua.h>

#include "l_common.h"
#include "l_init.h"

int luaopen_moonsync_core(lua_State *L) {
  lua_newtable(L);
  ms_l_util_register(L);
  ms_l_model_register(L);
  ms_l_record_register(L);
  ms_l_store_register(L);
  ms_l_diff_register(L);
  ms_l_sync_register(L);
  ms_l_mapping_register(L);
  ms_l_http_register(L);
  ms_l_perm_register(L);
  ms_l_sqlite_register(L);
  ms_l_regex_register(L);
  /* store:map and map_csv are the mapping binding's, on the store's methods */
  luaL_getmetatable(L, MS_STORE_MT);
  lua_getfield(L, -1, "__index");
  lua_pushcfunction(L, ms_l_store_map);
  lua_setfield(L, -2, "map");
  lua_pushcfunction(L, ms_l_store_map_csv);
  lua_setfield(L, -2, "map_csv");
  lua_pop(L, 2);
  return 1;
}
