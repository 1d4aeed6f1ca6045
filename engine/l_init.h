/*
** l_init.h: the entry point of the moonsync.core Lua module.
*/
#ifndef MS_L_INIT_H
#define MS_L_INIT_H

#include <lua.h>

int luaopen_moonsync_core(lua_State *L);

#endif
