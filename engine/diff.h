/*
** diff.h: DiffSync's diff between two stores, and its output formats.
** The diff is a tree of elements grouped by model type, in DiffSync's
** order; elements point at the records and at the attribute arrays they
** had when the diff was computed (fields are copy-on-write in the store),
** so a diff stays valid while both stores live.
*/
#ifndef MS_DIFF_H
#define MS_DIFF_H

#include <stdint.h>

#include "arena.h"
#include "buf.h"
#include "err.h"
#include "store.h"

enum { MS_ACT_NONE = 0, MS_ACT_CREATE, MS_ACT_UPDATE, MS_ACT_DELETE };

/* "create", "update" or "delete"; NULL for MS_ACT_NONE. */
const char *ms_action_name(int action);

typedef struct ms_delem ms_delem;

typedef struct ms_dgroup {
  const char *type;       /* model name */
  ms_delem **elems;       /* diff order: str() and has_diffs */
  ms_delem **order;       /* the order a Diff class's order_children_<type>
                             hook chose (sync, dict, changes), or NULL:
                             elems' order */
  uint32_t n;
  uint32_t nelems;        /* elements of the group, at every depth */
  uint32_t nchanged;      /* the elements with has_diffs set: how many, */
  uint32_t *changed;      /* and where in elems, ascending; NULL when not
                             kept (the sync then looks at every element) */
} ms_dgroup;

/* Element i of a group in its sync order (DiffSync's get_children). */
/* ms_delem.has_diffs bits */
enum { MS_HAS_DIFFS = 1, MS_HAS_DELETES = 2 };

static inline ms_delem *ms_dgroup_at(const ms_dgroup *g, uint32_t i) {
  return g->order ? g->order[i] : g->elems[i];
}

typedef struct ms_dchildren {
  ms_dgroup *groups;
  uint32_t ngroups;
  uint32_t nelems;        /* elements below, at every depth */
} ms_dchildren;

struct ms_delem {
  ms_record *src, *dst;          /* either may be NULL, not both */
  const ms_value *sfields;       /* src fields at diff time, or NULL */
  const ms_value *dfields;       /* dst fields at diff time, or NULL */
  const uint32_t *cmp;           /* pairs of (dst attr, src attr) field
                                    indices compared; ncmp pairs */
  uint32_t ncmp;
  uint8_t action;                /* MS_ACT_* */
  uint8_t has_diffs;             /* this element or a descendant changes:
                                    MS_HAS_DIFFS, with MS_HAS_DELETES when
                                    one of them is a delete */
  uint8_t demoted;               /* kept only as the path to a scoped
                                    subtree: its own changes are ignored */
  uint8_t scratch;               /* 0 outside of a diff.c pass */
  ms_dchildren child;
};

typedef struct ms_diff {
  ms_arena arena;
  ms_store *src, *dst;
  uint32_t flags;
  uint64_t models_processed;
  ms_dchildren top;
  /* The marks of the dest records this diff paired are the odd ones in
     (mark_lo, mark_hi]; dst_gen is the dest store's gen at diff time. A
     record paired but left out of the diff (ignored, or dropped by a
     scope) has its mark cleared. */
  uint32_t mark_lo, mark_hi;
  uint64_t dst_gen;
  /* The elements with has_diffs set, in the order a sync walks them
     (parents before children): what it reads next, to be fetched ahead.
     A hint only: order hooks and scopes may take the walk elsewhere. */
  ms_delem **walk;
  size_t nwalk;
} ms_diff;

typedef struct ms_summary {
  uint64_t create, update, del, nochange;
  int64_t skip;
} ms_summary;

/* Progress callback: stage "diff", processed, total. Returning non-zero
   stops the diff with MS_ECALLBACK. */
typedef int (*ms_progress_fn)(void *ud, const char *stage, uint64_t cur,
                              uint64_t total);

/* dst.diff_from(src): computes the diff. On success *out is owned by the
   caller (ms_diff_free); the stores must outlive it. Errors: MS_ENOTFOUND
   (dangling child uid), MS_EVALUE (keys/shortname mismatch), MS_EEXISTS
   (repeated shortname), MS_ECALLBACK, MS_ENOMEM. */
int ms_diff_compute(ms_store *src, ms_store *dst, uint32_t flags,
                    ms_progress_fn cb, void *ud, ms_diff **out, ms_err *err);
void ms_diff_free(ms_diff *d);

/* Number of elements (DiffSync's len(diff)). */
uint64_t ms_diff_len(const ms_diff *d);
int ms_diff_has_diffs(const ms_diff *d);
void ms_diff_summary(const ms_diff *d, ms_summary *s);

/* diff.str(), byte-identical to DiffSync's (no trailing newline). */
void ms_diff_str(ms_buf *b, const ms_diff *d);
/* diff.dict() as JSON; indent as ms_value_json. */
void ms_diff_dict_json(ms_buf *b, const ms_diff *d, int indent);
/* diff.summary() as JSON in DiffSync's key order. */
void ms_summary_json(ms_buf *b, const ms_summary *s, int indent);
/* The machine-readable change list (docs/diff-format.md). */
void ms_diff_changes_json(ms_buf *b, const ms_diff *d);

/* A record named by model and uid, for ms_diff_scope. */
typedef struct ms_scope {
  const char *model;
  const char *uid;
  size_t uidlen;
} ms_scope;

/* Clears the marks of the dest records of e and its subtree: they are no
   longer among the records the diff paired. */
void ms_delem_unmark(const ms_delem *e);

/* Narrows a diff: with targets, only the subtrees of matching elements
   stay (the elements on the path to them stay with their own changes
   ignored); elements matching excludes are dropped with their subtrees.
   Returns the number of elements that matched a target. */
uint64_t ms_diff_scope(ms_diff *d, const ms_scope *targets, size_t ntargets,
                       const ms_scope *excludes, size_t nexcludes);

/* Sets the sync order of group g of d: perm[i] is the index in g->elems of
   the element to take i-th; each index exactly once. MS_EVALUE names the
   first repeated or out-of-range index. */
int ms_dgroup_set_order(ms_diff *d, ms_dgroup *g, const uint32_t *perm,
                        ms_err *err);

/* Does attribute pair i of a matched element differ (and count)? */
int ms_delem_changed(const ms_delem *e, uint32_t i);

/* Element helpers. */
static inline const ms_model *ms_delem_model(const ms_delem *e) {
  return e->src ? e->src->model : e->dst->model;
}
/* An element's model name: the type of its group. */
static inline const char *ms_delem_type(const ms_delem *e) {
  return ms_delem_model(e)->name;
}
void ms_delem_name(ms_buf *b, const ms_delem *e);
/* Appends the "+"/"-" attribute dicts (as JSON) of an element: which = '+'
   (source values) or '-' (dest values), only changed keys for updates. */
void ms_delem_attrs_json(ms_buf *b, const ms_delem *e, char which, int indent);

#endif
