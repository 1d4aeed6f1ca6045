/*
** l_core.h: entry point of the moonsync.core Lua module.
*/
#ifndef MS_L_CORE_H
#define MS_L_CORE_H

#include <lua.h>

int luaopen_moonsync_core(lua_State *L);

/* Adds core.http_client to the module table on top of the stack. */
void ms_l_http_register(lua_State *L);

/* Adds core.sync, core.interrupt, core.interrupted and core.trap_signals
   (l_sync.c). */
void ms_l_sync_register(lua_State *L);

/* Adds core.mapping, core.normalize and store:map (l_mapping.c). */
void ms_l_mapping_register(lua_State *L);

/* Adds core.sandbox, core.permit, core.getenv, core.write_atomic,
   core.lock, core.realpath and core.url_origin (l_perm.c). */
void ms_l_perm_register(lua_State *L);

/* Shared with the other binding files. */
struct ms_store;
struct ms_value;
struct ms_err;
struct ms_store *ms_l_checkstore(lua_State *L, int idx);
/* A new empty store owned by a userdata pushed on the stack. */
struct ms_store *ms_l_scratch_store(lua_State *L);
/* Pushes a value (nil for a top-level null). */
void ms_l_pushvalue(lua_State *L, const struct ms_value *v);
/* Pushes a value inside a container (null as core.null). */
void ms_l_pushvalue_inner(lua_State *L, const struct ms_value *v);
/* Converts the Lua value at idx into the store's arena without raising:
   MS_OK, or an error code with the message pushed on the stack. */
int ms_l_tovalue(lua_State *L, int idx, struct ms_store *s,
                 struct ms_value *out, const char *what);
/* Raises err as a moonsync.Error. */
int ms_l_raise(lua_State *L, const struct ms_err *err);

#endif
