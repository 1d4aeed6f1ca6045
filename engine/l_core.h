/*
** l_core.h: entry point of the moonsync.core Lua module.
*/
#ifndef MS_L_CORE_H
#define MS_L_CORE_H

#include <lua.h>

int luaopen_moonsync_core(lua_State *L);

/* Adds core.http_client to the module table on top of the stack. */
void ms_l_http_register(lua_State *L);

#endif
