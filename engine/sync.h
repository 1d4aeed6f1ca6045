/*
** sync.h: DiffSync's sync executor. Walks a diff depth-first and applies
** each element to the destination store through create/update/delete
** operations (the in-memory defaults here, or the adapter's handlers via
** ms_sync_ops), with DiffSync's ordering, flags, statuses and failure
** handling, and keeps an operations log and per-action counts.
*/
#ifndef MS_SYNC_H
#define MS_SYNC_H

#include <stdint.h>

#include "buf.h"
#include "diff.h"
#include "err.h"
#include "store.h"

/* A handler returns MS_OK with *out set (NULL means "returned None": the
   element's children are skipped), MS_ECRUD for an ObjectCrudException
   (err->msg holds the message; subject to CONTINUE_ON_FAILURE), or any
   other code to stop the sync (the caller keeps the error). */
typedef struct ms_sync_ops {
  void *ud;
  /* Build a record of dst model midx from the element's ids and "+" attrs.
     The record must belong to dst and not be inserted yet (or be the
     stored record itself, which makes the later insert a no-op). */
  int (*create)(void *ud, ms_store *dst, int midx, const ms_delem *e,
                ms_record **out, ms_err *err);
  /* Apply the element's changed attributes to r. */
  int (*update)(void *ud, ms_record *r, const ms_delem *e, ms_record **out,
                ms_err *err);
  /* Delete r in the system behind the store (the executor unlinks it). */
  int (*del)(void *ud, ms_record *r, const ms_delem *e, ms_record **out,
             ms_err *err);
  /* Progress ("sync", current, total); non-zero stops with MS_ECALLBACK. */
  int (*progress)(void *ud, uint64_t cur, uint64_t total);
  /* Checked between elements; non-zero stops with MS_EINTR. */
  int (*interrupted)(void *ud);
  /* After each create/update/delete call (may be NULL): the result name
     (as in the ops log), the resulting record (or NULL), the error
     message for "raise"/"raise_other" and the call's duration. */
  void (*log)(void *ud, const ms_delem *e, const char *result,
              const ms_record *r, const char *msg, double seconds);
  /* Non-zero when create, update and del are the in-memory defaults or
     behave as they do: they change no record but the element's own. */
  int plain;
  /* Non-zero when progress and log read no status of a record the walk
     has passed: subtrees without changes are then skipped all the same
     (their records read as reset once the sync ends), and progress is
     told of the changed elements and of the end. */
  int passive;
  /* moonsync's protect_children policy, off in DiffSync's semantics:
     non-zero refuses (ObjectNotDeleted) the delete of a record whose
     subtree holds one this sync keeps (flagged SKIP_UNMATCHED_DST or
     IGNORE, out of scope, or whose own delete failed). */
  int protect;
} ms_sync_ops;

/* The default in-memory operations (DiffSync's create_base, update_base,
   delete_base): ops->ud is unused. */
extern const ms_sync_ops ms_sync_default_ops;

typedef struct ms_sync_result {
  uint64_t created, updated, deleted;   /* operations that returned a record */
  uint64_t failed;                      /* returned None, or status failure */
  uint64_t errors;                      /* ObjectCrudException */
  uint64_t processed;                   /* progress count */
  int changed;                          /* DiffSync's "changed": any action */
  int failed_action;                    /* MS_ACT_* of the element that
                                           stopped the sync */
  ms_buf ops;                           /* ops log entries (JSON), if kept */
  uint64_t nops;
} ms_sync_result;

/* Applies d to dst (d must be a diff whose dest is dst). flags are the
   global flags. With keep_ops, res->ops collects the operations log.
   Free res->ops with ms_buf_free. Errors: the handler's code, MS_ECRUD
   without CONTINUE_ON_FAILURE, MS_ECALLBACK, MS_EINTR, MS_ENOMEM, and
   store errors (add_child/remove_child). */
int ms_sync_run(ms_diff *d, uint32_t flags, const ms_sync_ops *ops,
                int keep_ops, ms_sync_result *res, ms_err *err);

/* The operations log as a JSON array (the conformance ops.json format). */
void ms_sync_ops_json(ms_buf *b, const ms_sync_result *res);

/* The attrs an element hands to create/update: (dst field name, value)
   pairs in order; count returned. names/values must hold nattrs entries
   of the element's models. */
uint32_t ms_delem_plus(const ms_delem *e, const char **names,
                       const ms_value **values);

#endif
