/*
** l_internal.h: what the binding files (l_*.c) share: metatable names,
** handle layouts and helpers defined in l_core.c. Not a public API.
*/
#ifndef MS_L_INTERNAL_H
#define MS_L_INTERNAL_H

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

typedef struct lmodel { ms_model *m; } lmodel;
typedef struct lstore { ms_store *s; } lstore;
/* A record handle. `own` is set while the record is detached (not yet
   added to an adapter): a private one-record store owns it. */
typedef struct lrecord { ms_record *r; ms_store *own; } lrecord;
typedef struct ldiff { ms_diff *d; } ldiff;

/* Pushes a handle for a stored record; store_idx is its store userdata. */
void ms_l_pushrecord(lua_State *L, ms_record *r, int store_idx);
/* Pushes a moonsync.Error {type=, message=} (not raised). */
void ms_l_pusherror(lua_State *L, const char *type, const char *msg);
/* Flags from an integer or a list of names; raises on unknown names. */
uint32_t ms_l_checkflags(lua_State *L, int idx, int model);
/* "unknown", "success", "failure" or "error". */
const char *ms_l_status_name(int status);
/* Message handler adding a traceback to string errors. */
int ms_l_traceback(lua_State *L);

#endif
