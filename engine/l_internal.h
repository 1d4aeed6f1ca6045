/*
** l_internal.h: what the binding files (l_*.c) share: metatable names,
** handle layouts and helpers defined in l_core.c. Not a public API.
*/
#ifndef MS_L_INTERNAL_H
#define MS_L_INTERNAL_H

#include <lauxlib.h>
#include <lua.h>

#include "diff.h"
#include "store.h"

#define MS_MODEL_MT "moonsync.Model"
#define MS_STORE_MT "moonsync.Store"
#define MS_RECORD_MT "moonsync.Record"
#define MS_DIFF_MT "moonsync.Diff"
#define MS_ERROR_MT "moonsync.Error"
#define MS_MAPMARK_MT "moonsync.map"
#define MS_ARENA_MT "moonsync.Arena"
#define MS_LISTMARK_MT "moonsync.list"

#define MAX_NEST 1000

/* Handles. Each holds a reference on what it points into, so no handle
   can outlive the memory it uses: a record handle owns a reference on its
   record's store (a detached record's private store included), a diff on
   both stores. After __gc a handle is NULL and using it raises "... is
   closed" (a finalizer can resurrect an object). */
typedef struct lmodel { ms_model *m; } lmodel;
typedef struct lstore { ms_store *s; } lstore;
typedef struct lrecord { ms_record *r; } lrecord;
typedef struct ldiff { ms_diff *d; ms_store *src, *dst; } ldiff;

/* Pushes a handle for a record of a store (it takes a reference). */
void ms_l_pushrecord(lua_State *L, ms_record *r);
/* The record of the handle at idx; raises when it is closed. */
ms_record *ms_l_checkrec(lua_State *L, int idx);
/* Points handle h at r (of another store), moving its reference. */
void ms_l_rebind(lrecord *h, ms_record *r);
/* Creates metatable `name` with `meth` as __index, `gc` as __gc (and
   __close with closable), protected: getmetatable() returns the name, so
   no job can reach its methods or call its finalizer. */
void ms_l_createmeta(lua_State *L, const char *name, const luaL_Reg *meth,
                     lua_CFunction gc, int closable);
/* Protects the metatable at the top of the stack the same way. */
void ms_l_protect(lua_State *L, const char *name);
/* Raises PermissionError unless the active policy lets path be read
   (MS_PERM_READ) or written (MS_PERM_WRITE); returns the resolved path in
   resolved (PATH_MAX bytes). l_perm.c */
const char *ms_l_permit_path(lua_State *L, int kind, const char *path,
                             char *resolved);
/* Raises PermissionError (or a URL error) unless url may be requested. */
void ms_l_permit_url(lua_State *L, const char *url);
/* Is the value at idx a moonsync.Error (by its real metatable)? */
int ms_l_iserror(lua_State *L, int idx);
/* Pushes a moonsync.Error {type=, message=} (not raised). */
void ms_l_pusherror(lua_State *L, const char *type, const char *msg);
/* Flags from an integer or a list of names; raises on unknown names. */
uint32_t ms_l_checkflags(lua_State *L, int idx, int model);
/* "unknown", "success", "failure" or "error". */
const char *ms_l_status_name(int status);
/* Message handler adding a traceback to string errors. */
int ms_l_traceback(lua_State *L);

#endif
