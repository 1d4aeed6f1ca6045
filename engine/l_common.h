/*
** l_common.h: what the binding files of moonsync.core (l_*.c) share:
** metatable names, handle layouts and the helpers of l_common.c. Each
** binding file includes this and nothing of another binding; l_init.c
** registers them all. Not a public API.
*/
#ifndef MS_L_COMMON_H
#define MS_L_COMMON_H

#include <lauxlib.h>
#include <lua.h>

#include "buf.h"
#include "diff.h"
#include "err.h"
#include "store.h"

#define MS_MODEL_MT "moonsync.Model"
#define MS_STORE_MT "moonsync.Store"
#define MS_RECORD_MT "moonsync.Record"
#define MS_DIFF_MT "moonsync.Diff"
#define MS_ERROR_MT "moonsync.Error"
#define MS_MAPMARK_MT "moonsync.map"
#define MS_ARENA_MT "moonsync.Arena"
#define MS_LISTMARK_MT "moonsync.list"

/* How deep a Lua value stored in a record (or printed by pyrepr and
   pformat) may nest. A record's field is data from an API or a file: 100
   levels is far beyond any real one, and a deeper value is nearly always
   a table that refers to itself. */
#define MAX_NEST 100

/* Handles. Each holds a reference on what it points into, so no handle
   can outlive the memory it uses: a record handle owns a reference on its
   record's store (a detached record's private store included), a diff on
   both stores. After __gc a handle is NULL and using it raises "... is
   closed" (a finalizer can resurrect an object). */
typedef struct lmodel { ms_model *m; } lmodel;
typedef struct lstore { ms_store *s; } lstore;
typedef struct lrecord { ms_record *r; } lrecord;
typedef struct ldiff { ms_diff *d; ms_store *src, *dst; } ldiff;

#define torecord(L, i) ((lrecord *)luaL_checkudata(L, i, MS_RECORD_MT))

/* {====== checked handles (raise when wrong or closed) ======} */

lmodel *ms_l_tomodel(lua_State *L, int idx);
ms_store *ms_l_checkstore(lua_State *L, int idx);
ms_diff *ms_l_checkdiff(lua_State *L, int idx);
ms_record *ms_l_checkrec(lua_State *L, int idx);

/* {====== errors ======} */

/* Pushes a moonsync.Error {type=, message=} (not raised). */
void ms_l_pusherror(lua_State *L, const char *type, const char *msg);
/* Raises err as a moonsync.Error. Does not return. */
int ms_l_raise(lua_State *L, const ms_err *err);
/* The same with the adapter, model and uid involved as fields. */
int ms_l_raisectx(lua_State *L, const ms_err *err, const ms_store *s,
                  const char *model, const char *uid, size_t uidlen);
/* Is the value at idx a moonsync.Error (by its real metatable)? */
int ms_l_iserror(lua_State *L, int idx);
/* __tostring of errors: "Type: message (adapter 'a', ...)". */
int ms_l_error_tostring(lua_State *L);
/* Message handler adding a traceback to string errors. */
int ms_l_traceback(lua_State *L);

/* {====== values ======} */

/* Pushes a value; null is nil at the top (inner = 0) and core.null inside
   a container (inner = 1). */
void ms_l_push(lua_State *L, const ms_value *v, int inner);
/* Converts the Lua value at idx into the store's arena; `what` names it
   in errors. May raise. */
void ms_l_tovalue_raw(lua_State *L, int idx, ms_store *st, ms_value *out,
                      const char *what);
/* The same without raising: MS_OK, or an error code with the message
   pushed on the stack. */
int ms_l_tovalue(lua_State *L, int idx, ms_store *st, ms_value *out,
                 const char *what);
/* Flags from an integer of known bits or a list of names; raises. */
uint32_t ms_l_checkflags(lua_State *L, int idx, int model);
/* Pushes names[from..to) as a list. */
void ms_l_pushnames(lua_State *L, char **names, uint32_t from, uint32_t to);
/* Pushes b's text and frees it (raises "out of memory" when it failed). */
int ms_l_pushbuf(lua_State *L, ms_buf *b);
/* A new empty store owned by a userdata pushed on the stack. */
ms_store *ms_l_scratch_store(lua_State *L);

/* {====== records ======} */

/* Pushes a handle for a record of a store (it takes a reference). */
void ms_l_pushrecord(lua_State *L, ms_record *r);
/* Points handle h at r (of another store), moving its reference. */
void ms_l_rebind(lrecord *h, ms_record *r);
/* Fills fields of r from the table at tidx. Unknown keys are errors,
   unless creating == 2 (lenient: they are skipped). May raise. */
void ms_l_setfields(lua_State *L, ms_record *r, int tidx, int creating);
/* Raises (ValidationError) unless the table at tidx, or at tidx2 when
   not 0, gives every identifier of r's model (moonsync.null is a value). */
void ms_l_checkids(lua_State *L, const ms_record *r, int tidx, int tidx2);
/* Fills the new record r from the fields table at tidx, identifiers
   checked, model flags from flagsidx when given there, its uid computed
   unless an insert will do it. May raise. */
void ms_l_fillrecord(lua_State *L, ms_record *r, int tidx, int flagsidx,
                     int uid);
/* A new record of model mi in store s (not inserted): see fillrecord. */
ms_record *ms_l_buildrecord(lua_State *L, ms_store *s, int mi, int tidx,
                            int flagsidx, int uid);
/* "unknown", "success", "failure", "error", NULL: record statuses. */
extern const char *const ms_l_statuses[];

/* {====== metatables ======} */

/* Creates metatable `name` with `meth` as __index, `gc` as __gc (and
   __close with closable), protected: getmetatable() returns the name, so
   no job can reach its methods or call its finalizer. */
void ms_l_createmeta(lua_State *L, const char *name, const luaL_Reg *meth,
                     lua_CFunction gc, int closable);
/* Protects the metatable at the top of the stack the same way. */
void ms_l_protect(lua_State *L, const char *name);
/* A protected metatable holding only `field` = value, or = fn. */
void ms_l_markmeta(lua_State *L, const char *name, const char *field,
                   const char *value, lua_CFunction fn);

/* {====== permissions (l_perm.c) ======} */

/* Raises PermissionError unless the active policy lets path be read
   (MS_PERM_READ) or written (MS_PERM_WRITE); returns the resolved path in
   resolved (PATH_MAX bytes). */
const char *ms_l_permit_path(lua_State *L, int kind, const char *path,
                             char *resolved);
/* Raises PermissionError (or a URL error) unless url may be requested. */
void ms_l_permit_url(lua_State *L, const char *url);

/* {====== registration (l_init.c calls these on the module table) ======} */

void ms_l_util_register(lua_State *L);
void ms_l_model_register(lua_State *L);
void ms_l_record_register(lua_State *L);
void ms_l_store_register(lua_State *L);
void ms_l_diff_register(lua_State *L);
void ms_l_sync_register(lua_State *L);
void ms_l_mapping_register(lua_State *L);
void ms_l_http_register(lua_State *L);
void ms_l_perm_register(lua_State *L);
void ms_l_sqlite_register(lua_State *L);
void ms_l_regex_register(lua_State *L);
/* store:map(mapping, source) and store:map_csv(mappings, source, opts):
   the mapping binding's store methods. */
int ms_l_store_map(lua_State *L);
int ms_l_store_map_csv(lua_State *L);

#endif
