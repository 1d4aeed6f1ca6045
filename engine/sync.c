/*
** sync.c: DiffSync's DiffSyncSyncer over the C store (sync.h). Element
** by element, in diff order: look the dest record up by the element's
** keys, mark it unknown, run the operation, then link or unlink the record
** and recurse, exactly as helpers.py sync_diff_element does.
**
** A subtree without changes only has its records' statuses reset. When
** nothing can watch the walk (plain operations, no callback, unchanged
** records not logged) and the dest store is as the diff left it, such a
** subtree is skipped: the store reads the records the diff paired as
** UNKNOWN from then on (ms_record_status). When the sync stops early,
** the records of the subtrees it did not reach leave that set.
*/
#include "sync.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* A set of record pointers (open addressing, linear probing). */
typedef struct syncer {
  ms_diff *d;
  ms_store *dst;
  uint32_t flags;
  const ms_sync_ops *ops;
  int keep;
  ms_sync_result *res;
  ms_err *err;
  uint64_t total;
  ms_recmap doomed;       /* dest records the diff deletes (built lazily) */
  int doomed_ready;
  int lazy;               /* unchanged subtrees are skipped */
  int unwinding;          /* a failure is on its way up: its subtree and
                             the elements before it are done with */
  size_t next;            /* the diff's walk: where this one is in it */
} syncer;

uint32_t ms_delem_plus(const ms_delem *e, const char **names,
                       const ms_value **values) {
  uint32_t i, n = 0;
  if (e->src == NULL) return 0;
  if (e->dst == NULL) {
    const ms_model *m = e->src->model;
    for (i = m->nids; i < m->nids + m->nattrs; i++, n++) {
      names[n] = m->fields[i];
      values[n] = &e->sfields[i];
    }
    return n;
  }
  for (i = 0; i < e->ncmp; i++) {
    uint32_t di = e->cmp[2 * i], si = e->cmp[2 * i + 1];
    if (!ms_delem_changed(e, i)) continue;
    names[n] = e->dst->model->fields[di];
    values[n] = &e->sfields[si];
    n++;
  }
  return n;
}

/* {====== default operations ======} */

/* The index in m of field i of model `from`: the same index when the two
   are one model, else by name (-1: m has no such field). */
static int fieldin(const ms_model *m, const ms_model *from, uint32_t i) {
  return m == from ? (int)i
       : ms_model_field(m, from->fields[i], strlen(from->fields[i]));
}

/* Sets field i of model `from` in m's fields to a copy of v. */
static int setfield(ms_store *dst, ms_value *fields, const ms_model *m,
                    const ms_model *from, uint32_t i, const ms_value *v) {
  int fi = fieldin(m, from, i);
  if (fi < 0) return MS_OK;  /* not a field of the dest model */
  return ms_store_copy_value(dst, v, &fields[fi]);
}

static int def_create(void *ud, ms_store *dst, int midx, const ms_delem *e,
                      ms_record **out, ms_err *err) {
  const ms_record *k = e->src ? e->src : e->dst;
  const ms_value *kf = e->src ? e->sfields : e->dfields;
  const ms_model *m = dst->models[midx];
  ms_record *r = ms_store_new_record(dst, midx);
  uint32_t i;
  (void)ud;
  if (r == NULL) return ms_err_set(err, MS_ENOMEM, "out of memory");
  for (i = 0; i < k->model->nids; i++)
    if (setfield(dst, r->fields, m, k->model, i, &kf[i]) != MS_OK)
      return ms_err_set(err, MS_ENOMEM, "out of memory");
  if (e->src) {
    const ms_model *sm = e->src->model;
    for (i = sm->nids; i < sm->nids + sm->nattrs; i++)
      if (setfield(dst, r->fields, m, sm, i, &e->sfields[i]) != MS_OK)
        return ms_err_set(err, MS_ENOMEM, "out of memory");
  }
  ms_record_set_status(r, MS_ST_SUCCESS, "Created successfully");
  *out = r;
  return MS_OK;
}

static int def_update(void *ud, ms_record *r, const ms_delem *e,
                      ms_record **out, ms_err *err) {
  const ms_model *m = r->model;
  ms_value *f;
  uint32_t i;
  (void)ud;
  f = ms_arena_alloc(&r->store->arena, m->nfields * sizeof *f);
  if (f == NULL) return ms_err_set(err, MS_ENOMEM, "out of memory");
  memcpy(f, r->fields, m->nfields * sizeof *f);
  for (i = 0; i < e->ncmp; i++) {
    uint32_t di = e->cmp[2 * i], si = e->cmp[2 * i + 1];
    int fi;
    if (!ms_delem_changed(e, i)) continue;
    fi = fieldin(m, e->dst->model, di);
    if (fi < (int)m->nids) continue;  /* identifiers never change here */
    if (ms_store_copy_value(r->store, &e->sfields[si], &f[fi]) != MS_OK)
      return ms_err_set(err, MS_ENOMEM, "out of memory");
  }
  r->fields = f;
  ms_record_set_status(r, MS_ST_SUCCESS, "Updated successfully");
  *out = r;
  return MS_OK;
}

static int def_del(void *ud, ms_record *r, const ms_delem *e, ms_record **out,
                   ms_err *err) {
  (void)ud;
  (void)e;
  (void)err;
  ms_record_set_status(r, MS_ST_SUCCESS, "Deleted successfully");
  *out = r;
  return MS_OK;
}

const ms_sync_ops ms_sync_default_ops = {NULL, def_create, def_update, def_del,
                                         NULL, NULL, NULL, 1, 0, 0};

static double now(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* {====== the walk ======} */

static void keysjson(ms_buf *b, const ms_delem *e, int depth) {
  const ms_model *m = e->src ? e->src->model : e->dst->model;
  const ms_value *f = e->src ? e->sfields : e->dfields;
  uint32_t i;
  ms_buf_putc(b, '{');
  for (i = 0; i < m->nids; i++) {
    if (i) ms_buf_putc(b, ',');
    ms_json_nl(b, depth + 1);
    ms_json_str(b, m->fields[i], strlen(m->fields[i]));
    ms_buf_puts(b, ": ");
    ms_value_json(b, &f[i], depth + 1);
  }
  if (m->nids) ms_json_nl(b, depth);
  ms_buf_putc(b, '}');
}

static void logop(syncer *sy, const ms_delem *e, const char *result) {
  ms_buf *b = &sy->res->ops;
  if (!sy->keep) return;
  if (sy->res->nops++) ms_buf_putc(b, ',');
  ms_json_nl(b, 1);
  ms_buf_printf(b, "{");
  ms_json_nl(b, 2);
  ms_buf_printf(b, "\"op\": \"%s\",", ms_action_name(e->action));
  ms_json_nl(b, 2);
  ms_buf_puts(b, "\"model\": ");
  ms_json_str(b, ms_delem_type(e), strlen(ms_delem_type(e)));
  ms_buf_putc(b, ',');
  ms_json_nl(b, 2);
  ms_buf_puts(b, "\"ids\": ");
  keysjson(b, e, 2);
  if (e->action != MS_ACT_DELETE) {
    ms_buf_putc(b, ',');
    ms_json_nl(b, 2);
    ms_buf_puts(b, "\"attrs\": ");
    ms_delem_attrs_json(b, e, '+', 2);
  }
  ms_buf_putc(b, ',');
  ms_json_nl(b, 2);
  ms_buf_printf(b, "\"result\": \"%s\"", result);
  ms_json_nl(b, 1);
  ms_buf_putc(b, '}');
}

void ms_sync_ops_json(ms_buf *b, const ms_sync_result *res) {
  if (res->nops == 0) {
    ms_buf_puts(b, "[]");
    return;
  }
  ms_buf_putc(b, '[');
  ms_buf_add(b, res->ops.data, res->ops.len);
  ms_buf_puts(b, "\n]");
}

/* The dest uid of an element: its keys under the dest model's identifiers
   (DiffSync's create_unique_id(**element.keys)). */
static const char *keyuid(const ms_delem *e, const ms_model *dm, ms_buf *b,
                          size_t *n) {
  const ms_record *k = e->src ? e->src : e->dst;
  const ms_value *kf = e->src ? e->sfields : e->dfields;
  uint32_t i;
  int same = k->model->nids == dm->nids;
  for (i = 0; same && i < dm->nids; i++)
    same = strcmp(k->model->fields[i], dm->fields[i]) == 0;
  if (same) {  /* identifiers never change, so the record's uid holds */
    *n = k->uid_len;
    return k->uid;
  }
  for (i = 0; i < dm->nids; i++) {
    int fi = ms_model_field(k->model, dm->fields[i], strlen(dm->fields[i]));
    if (i) ms_buf_add(b, "__", 2);
    ms_value_pystr(b, fi >= 0 && fi < (int)k->model->nids ? &kf[fi] : &ms_nil);
  }
  *n = b->len;
  return b->data ? b->data : "";
}

static int crudfail(syncer *sy, const ms_delem *e, const char *what) {
  ms_buf ids = MS_BUF_INIT;
  const ms_model *m = e->src ? e->src->model : e->dst->model;
  int rc;
  ms_fields_repr(&ids, m, e->src ? e->sfields : e->dfields, 0, m->nids);
  rc = ms_err_set(sy->err, MS_ECRUD, "Failed to %s %s %s - %s",
                  ms_action_name(e->action), ms_delem_type(e), ids.data ? ids.data : "{}",
                  what);
  ms_buf_free(&ids);
  return rc;
}

/* {====== protected records ======} */

static int collect(ms_recmap *p, const ms_dchildren *c) {
  uint32_t g, i;
  for (g = 0; g < c->ngroups; g++)
    for (i = 0; i < c->groups[g].n; i++) {
      const ms_delem *e = c->groups[g].elems[i];
      if (!(e->has_diffs & MS_HAS_DELETES)) continue;  /* none below */
      if (e->action == MS_ACT_DELETE && e->dst && ms_recmap_put(p, e->dst, e->dst) != MS_OK)
        return MS_ENOMEM;
      if (collect(p, &e->child) != MS_OK) return MS_ENOMEM;
    }
  return MS_OK;
}

/* The group of e's children of model `type`, or NULL. */
static const ms_dgroup *kidgroup(const ms_delem *e, const char *type) {
  uint32_t g;
  if (e == NULL) return NULL;
  for (g = 0; g < e->child.ngroups; g++)
    if (strcmp(e->child.groups[g].type, type) == 0) return &e->child.groups[g];
  return NULL;
}

/* 1 when the diff deletes k, 0 when not, -1 when out of memory. The diff
   lists a deleted record's children in the store's order: k is first
   looked for as element *gi of grp (its element goes to *ke), then in the
   set of every record the diff deletes (gathered once). */
static int doomed(syncer *sy, const ms_dgroup *grp, uint32_t *gi,
                  const ms_record *k, const ms_delem **ke) {
  *ke = NULL;
  if (grp != NULL && *gi < grp->n && grp->elems[*gi]->dst == k) {
    *ke = grp->elems[(*gi)++];
    if ((*ke)->action == MS_ACT_DELETE) return 1;
  }
  if (!sy->doomed_ready) {
    if (collect(&sy->doomed, &sy->d->top) != MS_OK) return -1;
    sy->doomed_ready = 1;
  }
  return ms_recmap_get(&sy->doomed, k) != NULL;
}

/* The first record below r (whose element is e, or NULL) in the dest
   store that deleting r would take along although the diff keeps it: one
   the diff does not delete (its model or record flagged
   SKIP_UNMATCHED_DST, or out of scope), or, once r's children ran
   (natural deletion order), any still there because its own deletion
   failed. NULL when deleting r loses nothing; *oom set when out of
   memory. */
static const ms_record *protected_below(syncer *sy, const ms_record *r,
                                        const ms_delem *e, int children_ran,
                                        int depth, int *oom) {
  uint32_t c, i;
  if (depth > 10000) return NULL;
  for (c = 0; c < r->model->nchildren; c++) {
    int cm = ms_store_model(sy->dst, r->model->children[c].model);
    const ms_dgroup *grp = kidgroup(e, r->model->children[c].model);
    uint32_t gi = 0;
    if (cm < 0) continue;
    for (i = 0; i < r->children[c].n; i++) {
      const ms_record *k = ms_store_child(sy->dst, cm, &r->children[c].items[i]);
      const ms_record *p;
      const ms_delem *ke;
      int d;
      if (k == NULL) continue;
      if (children_ran) return k;
      if ((d = doomed(sy, grp, &gi, k, &ke)) <= 0) {
        *oom = d < 0;
        return d < 0 ? NULL : k;
      }
      if ((p = protected_below(sy, k, ke, 0, depth + 1, oom)) != NULL || *oom)
        return p;
    }
  }
  return NULL;
}

static int element(syncer *sy, ms_delem *e, int dmidx, ms_record *parent);

/* A skipping walk failed at element i of grp (in sync order): the records
   of what it did not reach leave the pending reset; the failed element's
   own subtree too, unless the failure came from below it. */
static void unreached(syncer *sy, const ms_dgroup *grp, uint32_t i) {
  if (!sy->unwinding) ms_delem_unmark(ms_dgroup_at(grp, i));
  while (++i < grp->n) ms_delem_unmark(ms_dgroup_at(grp, i));
  sy->unwinding = 1;
}

/* A group skipped but for its changed elements, whose list it keeps: the
   others count as walked (see element). */
static int changedonly(syncer *sy, const ms_dgroup *grp, int dmidx,
                       ms_record *parent) {
  uint64_t walked = 0;  /* the changed elements and what is below them */
  uint32_t k, i;
  int rc;
  for (k = 0; k < grp->nchanged; k++) {
    ms_delem *e = grp->elems[grp->changed[k]];  /* fetched along the walk */
    walked += 1 + e->child.nelems;
    if ((rc = element(sy, e, dmidx, parent)) != MS_OK) {
      /* the unchanged elements before it were passed, those after it were
         not reached */
      for (i = 0; i < grp->changed[k]; i++)
        if (!grp->elems[i]->has_diffs)
          sy->res->processed += 1 + grp->elems[i]->child.nelems;
      unreached(sy, grp, grp->changed[k]);  /* no order: elems' own */
      return rc;
    }
  }
  sy->res->processed += grp->nelems - walked;
  return MS_OK;
}

/* Syncs the elements of a group (one model). DiffSync looks each element
   up on both sides (get_or_none, get): the group's model is touched in
   both stores before its first element, as those lookups would. */
static int group(syncer *sy, const ms_dgroup *grp, ms_record *parent) {
  ms_store *dst = sy->dst;
  int dmidx = ms_store_model(dst, grp->type), smidx, rc;
  uint32_t i;
  if (dmidx < 0)
    return ms_err_set(sy->err, MS_ESCHEMA, "adapter '%s' has no model '%s'",
                      dst->name, grp->type);
  if ((smidx = ms_store_model(sy->d->src, grp->type)) >= 0)
    ms_store_touch(sy->d->src, smidx);
  ms_store_touch(dst, dmidx);
  if (sy->lazy && grp->changed != NULL && grp->order == NULL)
    return changedonly(sy, grp, dmidx, parent);
  for (i = 0; i < grp->n; i++) {
    /* the elements a few ahead, and the records of those to be walked */
    if (i + 8 < grp->n)
      __builtin_prefetch(&ms_dgroup_at(grp, i + 8)->has_diffs, 0);
    if (i + 4 < grp->n) {
      const ms_delem *ahead = ms_dgroup_at(grp, i + 4);
      if (!sy->lazy || ahead->has_diffs) __builtin_prefetch(ahead->dst, 1);
    }
    if ((rc = element(sy, ms_dgroup_at(grp, i), dmidx, parent)) != MS_OK) {
      if (sy->lazy) unreached(sy, grp, i);
      return rc;
    }
  }
  return MS_OK;
}

/* Syncs groups [0, n) of c under parent. */
static int groups(syncer *sy, const ms_dchildren *c, ms_record *parent) {
  uint32_t g, i;
  int rc;
  for (g = 0; g < c->ngroups; g++)
    if ((rc = group(sy, &c->groups[g], parent)) != MS_OK) {
      while (sy->lazy && ++g < c->ngroups)
        for (i = 0; i < c->groups[g].n; i++)
          ms_delem_unmark(c->groups[g].elems[i]);
      return rc;
    }
  return MS_OK;
}

static int children(syncer *sy, ms_delem *e, ms_record *parent) {
  return groups(sy, &e->child, parent);
}

/* Refuses (MS_ECRUD) to delete dstrec when that would take a record the
   diff keeps along with it. */
static int protect(syncer *sy, const ms_delem *e, const ms_record *dstrec,
                   int children_ran) {
  const ms_record *p;
  char what[256];
  int oom = 0;
  p = protected_below(sy, dstrec, e->dst == dstrec ? e : NULL, children_ran, 0,
                      &oom);
  if (oom) return ms_err_set(sy->err, MS_ENOMEM, "out of memory");
  if (p == NULL) return MS_OK;
  snprintf(what, sizeof what, "its subtree holds %s '%.*s', which this sync "
           "keeps (protected, out of scope, or its deletion failed; policy "
           "protect_children)",
           p->model->name, (int)(p->uid_len > 100 ? 100 : p->uid_len), p->uid);
  return crudfail(sy, e, what);
}

/* sync_model: runs the operation; *out is the resulting record (NULL:
   none, children are skipped). */
static int syncmodel(syncer *sy, ms_delem *e, int dmidx, ms_record *dstrec,
                     int children_ran, ms_record **out) {
  const ms_sync_ops *ops = sy->ops;
  ms_record *r = NULL;
  int rc;
  *out = NULL;
  if (e->action == MS_ACT_NONE) {
    if ((sy->flags & MS_GF_LOG_UNCHANGED_RECORDS) && ops->log)
      ops->log(ops->ud, e, "unchanged", dstrec, NULL, 0);
    *out = dstrec;
    return MS_OK;
  }
  sy->res->changed = 1;
  if (e->action == MS_ACT_CREATE && dstrec != NULL)
    rc = crudfail(sy, e, "it already exists!");
  else if (e->action != MS_ACT_CREATE && dstrec == NULL)
    rc = crudfail(sy, e, "not found!");
  else if (e->action == MS_ACT_DELETE && ops->protect &&
           (rc = protect(sy, e, dstrec, children_ran)) != MS_OK) {
    /* refused: logged like a failed delete */
    if (rc == MS_ECRUD) {
      logop(sy, e, "raise");
      if (ops->log) ops->log(ops->ud, e, "raise", NULL, sy->err->msg, 0);
    }
  } else {
    double t0 = ops->log ? now() : 0;
    const char *result;
    if (e->action == MS_ACT_CREATE)
      rc = ops->create(ops->ud, sy->dst, dmidx, e, &r, sy->err);
    else if (e->action == MS_ACT_UPDATE)
      rc = ops->update(ops->ud, dstrec, e, &r, sy->err);
    else
      rc = ops->del(ops->ud, dstrec, e, &r, sy->err);
    result = rc == MS_ECRUD ? "raise" : rc != MS_OK ? "raise_other"
           : r == NULL ? "none"
           : r->status == MS_ST_FAILURE ? "status_failure" : "ok";
    logop(sy, e, result);
    if (ops->log)
      ops->log(ops->ud, e, result, r, rc != MS_OK ? sy->err->msg : NULL,
               now() - t0);
  }
  if (rc == MS_ECRUD) {
    sy->res->errors++;
    if (sy->flags & MS_GF_CONTINUE_ON_FAILURE) return MS_OK;
  }
  if (rc != MS_OK) {
    sy->res->failed_action = e->action;
    return rc;
  }
  if (r == NULL || r->status == MS_ST_FAILURE) sy->res->failed++;
  else if (e->action == MS_ACT_CREATE) sy->res->created++;
  else if (e->action == MS_ACT_UPDATE) sy->res->updated++;
  else sy->res->deleted++;
  *out = r;
  return MS_OK;
}

/* Tells progress how far the walk is. */
static int tell(syncer *sy) {
  if (sy->ops->progress &&
      sy->ops->progress(sy->ops->ud, sy->res->processed, sy->total))
    return ms_err_set(sy->err, MS_ECALLBACK, "sync stopped by the progress "
                      "callback");
  return MS_OK;
}

/* The changed elements are scattered over the diff and the stores, and
   mostly one or two per list: each costs a few trips to memory, which the
   walk's own order lets start well ahead, one level of pointers a step:
   the element, then its records, fields and child groups, then the lists
   of those groups and the uid a create or delete looks up, then that
   uid's index slot. */
#define STEP 4
static void ahead(syncer *sy) {
  ms_delem *const *w = sy->d->walk;
  size_t i = ++sy->next, n = sy->d->nwalk;
  const ms_delem *e;
  const ms_record *r;
  uint32_t g;
  if (i + 4 * STEP < n) __builtin_prefetch(w[i + 4 * STEP], 0);
  if (i + 3 * STEP < n) {
    e = w[i + 3 * STEP];
    if (e->src) __builtin_prefetch(e->src, 0);
    if (e->dst) __builtin_prefetch(e->dst, 1);
    if (e->sfields) __builtin_prefetch(e->sfields, 0);
    if (e->dfields) __builtin_prefetch(e->dfields, 0);
    if (e->child.ngroups) __builtin_prefetch(e->child.groups, 0);
  }
  if (i + 2 * STEP < n) {
    e = w[i + 2 * STEP];
    for (g = 0; g < e->child.ngroups; g++) {
      __builtin_prefetch(e->child.groups[g].elems, 0);
      if (e->child.groups[g].changed)
        __builtin_prefetch(e->child.groups[g].changed, 0);
    }
    r = e->action == MS_ACT_CREATE ? e->src
      : e->action == MS_ACT_DELETE ? e->dst : NULL;
    if (r && r->uid) __builtin_prefetch(r->uid, 0);
  }
  if (i + STEP < n) {
    /* a create's uid is mostly its source record's; a wrong guess costs
       only the fetch */
    int midx = -1;
    e = w[i + STEP];
    if (e->action == MS_ACT_CREATE) {
      midx = ms_store_model(sy->dst, ms_delem_type(e));
      r = e->src;
    } else if (e->action == MS_ACT_DELETE && e->dst->stored) {
      midx = e->dst->midx;
      r = e->dst;
    }
    if (midx >= 0 && r->uid != NULL)
      ms_store_prefetch(sy->dst, ms_store_keyhash(midx, r->uid, r->uid_len));
  }
}

/* An element of model dmidx in the destination store. */
static int element(syncer *sy, ms_delem *e, int dmidx, ms_record *parent) {
  ms_store *dst = sy->dst;
  int rc, natural = 0, skipch = 0;
  ms_record *dstrec = NULL, *r;
  ms_buf b = MS_BUF_INIT;
  size_t n;
  const char *uid;
  if (sy->ops->interrupted && sy->ops->interrupted(sy->ops->ud))
    return ms_err_set(sy->err, MS_EINTR, "sync interrupted");
  if (sy->lazy && !e->has_diffs) {
    /* every record below is the one the diff paired: as if reset */
    sy->res->processed += 1 + e->child.nelems;
    return MS_OK;
  }
  if (sy->next < sy->d->nwalk && sy->d->walk[sy->next] == e) ahead(sy);
  if (e->dst != NULL && e->dst->stored && e->dst->store == dst &&
      e->dst->midx == dmidx) {
    dstrec = e->dst;  /* still the record its uid names: skip the lookup */
  } else {
    uid = keyuid(e, dst->models[dmidx], &b, &n);
    dstrec = ms_store_get(dst, dmidx, uid, n);
    ms_buf_free(&b);
  }
  if (dstrec != NULL) {
    dstrec->status = MS_ST_UNKNOWN;  /* set_status(UNKNOWN, "") */
    dstrec->msg = MS_MSG_NONE;
    natural = (dstrec->flags & MS_MF_NATURAL_DELETION_ORDER) != 0;
    skipch = (dstrec->flags & MS_MF_SKIP_CHILDREN_ON_DELETE) != 0;
  }
  if (natural && e->action == MS_ACT_DELETE && !skipch &&
      (rc = children(sy, e, dstrec)) != MS_OK)
    return rc;
  if ((rc = syncmodel(sy, e, dmidx, dstrec, natural && !skipch, &r)) != MS_OK)
    return rc;
  if (r == NULL) return MS_OK;  /* no object: children are not processed */
  if (e->action == MS_ACT_CREATE) {
    if (ms_record_uid(r) != MS_OK)
      return ms_err_set(sy->err, MS_ENOMEM, "out of memory");
    if (parent != NULL && (rc = ms_record_add_child(parent, r, sy->err)) != MS_OK)
      return rc;
    if ((rc = ms_store_insert(dst, r, sy->err)) != MS_OK) return rc;
  } else if (e->action == MS_ACT_DELETE) {
    if (parent != NULL &&
        (rc = ms_record_remove_child(parent, r, sy->err)) != MS_OK)
      return rc;
    if ((rc = ms_store_remove(dst, r, skipch, sy->err)) != MS_OK) return rc;
    if (skipch) return MS_OK;
  }
  sy->res->processed++;
  if ((rc = tell(sy)) != MS_OK) return rc;
  if (!(natural && e->action == MS_ACT_DELETE))
    return children(sy, e, r);
  return MS_OK;
}

int ms_sync_run(ms_diff *d, uint32_t flags, const ms_sync_ops *ops,
                int keep_ops, ms_sync_result *res, ms_err *err) {
  syncer sy;
  int rc = MS_OK;
  memset(res, 0, sizeof *res);
  sy.d = d;
  sy.dst = d->dst;
  sy.flags = flags;
  sy.ops = ops;
  sy.keep = keep_ops;
  sy.res = res;
  sy.err = err;
  sy.total = ms_diff_len(d);
  memset(&sy.doomed, 0, sizeof sy.doomed);
  sy.doomed_ready = 0;
  sy.unwinding = 0;
  sy.next = 0;
  /* the store as the diff left it, and nothing to watch the walk */
  sy.lazy = ops->plain && (ops->passive || (!ops->progress && !ops->log)) &&
            !(flags & MS_GF_LOG_UNCHANGED_RECORDS) &&
            d->dst->gen == d->dst_gen && d->dst->epoch + 1 == d->mark_hi;
  if (sy.lazy && d->dst->lazy_hi &&
      (d->dst->lazy_lo != d->mark_lo || d->dst->lazy_hi != d->mark_hi))
    ms_store_settle(d->dst);
  rc = groups(&sy, &d->top, NULL);
  if (sy.lazy) {
    d->dst->lazy_lo = d->mark_lo;
    d->dst->lazy_hi = d->mark_hi;
    /* the subtrees skipped at the end were counted, not told */
    if (rc == MS_OK) rc = tell(&sy);
  }
  ms_recmap_free(&sy.doomed);
  if (res->ops.oom && rc == MS_OK)
    rc = ms_err_set(err, MS_ENOMEM, "out of memory (operations log)");
  return rc;
}
