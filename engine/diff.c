/*
** diff.c: DiffSync's diff calculation (helpers.py DiffSyncDiffer) over the
** C store, and the Diff output formats (diff.py). Pairing a list of
** source and dest records is a hash join on the dest store's index: dest
** records of the list are stamped with an epoch, so a lookup proves that
** the match belongs to this list without building a table per list.
**
** A large diff splits its top-level list in two: a second thread diffs
** the subtrees of the second half into an arena of its own, which the
** diff adopts. Each thread stamps with epochs of its own (every other
** step of four). A dest record listed under two parents could be stamped
** by both threads at once; a thread that finds a stamp of its list
** overwritten says so, and the diff is then made again in one thread.
*/
#include "diff.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

typedef struct pair { ms_record *s, *d; } pair;

typedef struct cmpmap {
  const ms_model *sm, *dm;
  uint32_t *idx;   /* (dst field, src field) pairs */
  uint32_t n;
} cmpmap;

/* What the two threads of a split diff share. */
typedef struct shared {
  uint64_t wdone;   /* records the worker processed (flushed in batches) */
  int stop;         /* the main thread failed: the worker stops early */
} shared;

typedef struct differ {
  ms_diff *d;
  ms_store *src, *dst;
  uint32_t flags;
  ms_progress_fn cb;
  void *ud;
  uint64_t total;
  ms_err *err;
  uint64_t done, flushed;  /* records processed (models_processed) */
  uint64_t *shown;         /* the most the callback was told, over tries */
  uint32_t epoch, estep;   /* last epoch taken, and the step to the next */
  int split;               /* the top-level list may be split */
  int conflict;            /* the split diff must be made again */
  int worker;              /* this is the second thread */
  shared *sh;              /* set while the list is split */
  pair *pairs; size_t npairs, cappairs;
  ms_delem **elems; size_t nelems, capelems;
  ms_delem **walk; size_t nwalk, capwalk;  /* changed elements, pre-order */
  ms_record **recs; size_t nrecs, caprecs;
  cmpmap *maps; size_t nmaps;
} differ;

/* Records per side below which a diff stays in one thread. */
#define SPLIT_MIN 50000
/* The worker reports its progress every this many records. */
#define FLUSH_EVERY 4096

/* Stamps are read and written by both threads of a split diff. */
static inline uint32_t getmark(const ms_record *r) {
  return __atomic_load_n(&r->mark, __ATOMIC_RELAXED);
}
static inline void setmark(ms_record *r, uint32_t v) {
  __atomic_store_n(&r->mark, v, __ATOMIC_RELAXED);
}

#define GROW(df, arr, n, cap) \
  ((n) < (cap) ? MS_OK \
   : grow((void **)&(arr), &(cap), sizeof *(arr), (n) + 1, (df)))

/* Room for `need` items of `size` bytes in *arr (of *cap items). */
static int grow(void **arr, size_t *cap, size_t size, size_t need,
                differ *df) {
  size_t n = *cap ? *cap * 2 : 256;
  void *p;
  while (n < need) n *= 2;
  p = realloc(*arr, n * size);
  if (p == NULL) return ms_err_set(df->err, MS_ENOMEM, "out of memory");
  *arr = p;
  *cap = n;
  return MS_OK;
}

static int report(differ *df, uint64_t cur) {
  if (df->cb == NULL || cur <= *df->shown) return MS_OK;  /* never back */
  *df->shown = cur;
  if (df->cb(df->ud, "diff", cur, df->total))
    return ms_err_set(df->err, MS_ECALLBACK, "diff stopped by the progress "
                      "callback");
  return MS_OK;
}

static int incr(differ *df, uint64_t delta) {
  uint64_t cur;
  if (delta == 0) return MS_OK;
  df->done += delta;
  cur = df->done;
  if (df->sh != NULL) {
    if (df->worker) {  /* no callback here: it may run Lua */
      if (df->done - df->flushed < FLUSH_EVERY) return MS_OK;
      __atomic_add_fetch(&df->sh->wdone, df->done - df->flushed, __ATOMIC_RELAXED);
      df->flushed = df->done;
      if (__atomic_load_n(&df->sh->stop, __ATOMIC_RELAXED))
        return ms_err_set(df->err, MS_ECALLBACK, "diff stopped");
      return MS_OK;
    }
    cur += __atomic_load_n(&df->sh->wdone, __ATOMIC_RELAXED);
  }
  return report(df, cur);
}

/* The attributes compared between a src and a dst model: the dest's
   attributes, in dest order, that the source also has. */
static const cmpmap *getmap(differ *df, const ms_model *sm,
                            const ms_model *dm) {
  size_t i;
  uint32_t a;
  cmpmap *m;
  for (i = 0; i < df->nmaps; i++)
    if (df->maps[i].sm == sm && df->maps[i].dm == dm) return &df->maps[i];
  m = realloc(df->maps, (df->nmaps + 1) * sizeof *m);
  if (m == NULL) return NULL;
  df->maps = m;
  m = &df->maps[df->nmaps];
  m->sm = sm;
  m->dm = dm;
  m->n = 0;
  m->idx = ms_arena_alloc(&df->d->arena, 2 * (dm->nattrs + 1) * sizeof *m->idx);
  if (m->idx == NULL) return NULL;
  for (a = dm->nids; a < dm->nids + dm->nattrs; a++) {
    const char *name = dm->fields[a];
    int si = ms_model_field(sm, name, strlen(name));
    if (si >= (int)sm->nids && si < (int)(sm->nids + sm->nattrs)) {
      m->idx[2 * m->n] = a;
      m->idx[2 * m->n + 1] = (uint32_t)si;
      m->n++;
    }
  }
  df->nmaps++;
  return m;
}

static int shortname_eq(const ms_record *s, const ms_record *d) {
  ms_buf a = MS_BUF_INIT, b = MS_BUF_INIT;
  int eq;
  if (s->model->nshort == 0 && d->model->nshort == 0) return 1;
  ms_shortname_build(&a, s->model, s->fields);
  ms_shortname_build(&b, d->model, d->fields);
  eq = a.len == b.len && (a.len == 0 || memcmp(a.data, b.data, a.len) == 0);
  ms_buf_free(&a);
  ms_buf_free(&b);
  return eq;
}

static int keys_eq(const ms_record *s, const ms_record *d) {
  uint32_t i;
  if (s->model->nids != d->model->nids) return 0;
  for (i = 0; i < s->model->nids; i++) {
    if (strcmp(s->model->fields[i], d->model->fields[i]) != 0) return 0;
    if (!ms_value_eq(&s->fields[i], &d->fields[i])) return 0;
  }
  return 1;
}

static int validate(differ *df, size_t base) {
  size_t i;
  for (i = base; i < df->npairs; i++) {
    const ms_record *s = df->pairs[i].s, *d = df->pairs[i].d;
    ms_buf a = MS_BUF_INIT, b = MS_BUF_INIT;
    int rc;
    if (s == NULL || d == NULL) continue;
    if (!shortname_eq(s, d)) {
      ms_shortname_build(&a, s->model, s->fields);
      ms_shortname_build(&b, d->model, d->fields);
      rc = ms_err_set(df->err, MS_EVALUE, "Shortname mismatch: %s vs %s",
                      a.data ? a.data : "", b.data ? b.data : "");
    } else if (!keys_eq(s, d)) {
      ms_fields_repr(&a, s->model, s->fields, 0, s->model->nids);
      ms_fields_repr(&b, d->model, d->fields, 0, d->model->nids);
      rc = ms_err_set(df->err, MS_EVALUE, "Keys mismatch: %s vs %s",
                      a.data, b.data);
    } else {
      continue;
    }
    ms_buf_free(&a);
    ms_buf_free(&b);
    return rc;
  }
  return MS_OK;
}

static int objlist(differ *df, ms_record **sl, size_t sn, ms_record **dl,
                   size_t dn, int dmidx, const char *type, ms_dchildren *out);

/* Resolves a child uid list (get_by_uids) onto the record stack. */
static int resolve(differ *df, ms_store *st, const char *type,
                   const ms_uidlist *l) {
  int mi = ms_store_model(st, type);
  uint32_t i;
  if (l->n) ms_store_touch(st, mi);  /* get_by_uids */
  for (i = 0; i < l->n; i++) {
    ms_record *r = ms_store_child(st, mi, &l->items[i]);
    if (r == NULL)
      return ms_err_set(df->err, MS_ENOTFOUND, "%s %.*s not present in %s",
                        type, (int)l->items[i].len, l->items[i].s, st->name);
    if (GROW(df, df->recs, df->nrecs, df->caprecs) != MS_OK) return MS_ENOMEM;
    df->recs[df->nrecs++] = r;
  }
  return MS_OK;
}

static int children(differ *df, ms_delem *e, ms_record *s, ms_record *d) {
  const ms_model *sm = s ? s->model : NULL, *dm = d ? d->model : NULL;
  const ms_model *lead = sm ? sm : dm;
  uint32_t c;
  int rc;
  if (s && d) {
    for (c = 0; c < sm->nchildren; c++)
      if (ms_model_child(dm, sm->children[c].model) < 0 &&
          (rc = incr(df, s->children[c].n)) != MS_OK)
        return rc;
    for (c = 0; c < dm->nchildren; c++)
      if (ms_model_child(sm, dm->children[c].model) < 0 &&
          (rc = incr(df, d->children[c].n)) != MS_OK)
        return rc;
  }
  for (c = 0; c < lead->nchildren; c++) {
    const char *type = lead->children[c].model;
    int sc = s ? ms_model_child(sm, type) : -1;
    int dc = d ? ms_model_child(dm, type) : -1;
    size_t base = df->nrecs, sn, dn;
    if (s && d && dc < 0) continue;
    if (sc >= 0 && (rc = resolve(df, df->src, type, &s->children[sc])) != MS_OK)
      return rc;
    sn = df->nrecs - base;
    if (dc >= 0 && (rc = resolve(df, df->dst, type, &d->children[dc])) != MS_OK)
      return rc;
    dn = df->nrecs - base - sn;
    if (sn + dn == 0) continue;  /* nothing on either side */
    rc = objlist(df, df->recs + base, sn, df->recs + base + sn, dn,
                 ms_store_model(df->dst, type), type, &e->child);
    df->nrecs = base;
    if (rc != MS_OK) return rc;
  }
  return MS_OK;
}

/* The has_diffs bits of an element's own action, and of its children. */
static uint8_t selfdiffs(const ms_delem *e) {
  return e->action == MS_ACT_NONE ? 0
       : e->action == MS_ACT_DELETE ? MS_HAS_DIFFS | MS_HAS_DELETES
       : MS_HAS_DIFFS;
}

static uint8_t kiddiffs(const ms_dchildren *c) {
  uint32_t g, i;
  uint8_t bits = 0;
  for (g = 0; g < c->ngroups; g++)
    for (i = 0; i < c->groups[g].n; i++)
      bits |= c->groups[g].elems[i]->has_diffs;
  return bits;
}

/* diff_object_pair: NULL in *out when the pair is skipped. */
static int objpair(differ *df, ms_record *s, ms_record *d, ms_delem **out) {
  uint32_t f = df->flags;
  ms_delem *e;
  uint32_t i;
  size_t at;
  int rc;
  *out = NULL;
  if (((f & MS_GF_SKIP_UNMATCHED_SRC) && !d) ||
      ((f & MS_GF_SKIP_UNMATCHED_DST) && !s) ||
      (s && !d && (s->flags & MS_MF_SKIP_UNMATCHED_SRC)) ||
      (d && !s && (d->flags & MS_MF_SKIP_UNMATCHED_DST)) ||
      (s && (s->flags & MS_MF_IGNORE)) || (d && (d->flags & MS_MF_IGNORE))) {
    if (d != NULL) setmark(d, 0);  /* paired, but not in the diff */
    return incr(df, 1);
  }
  e = ms_arena_alloc(&df->d->arena, sizeof *e);
  if (e == NULL) return ms_err_set(df->err, MS_ENOMEM, "out of memory");
  memset(e, 0, sizeof *e);
  e->src = s;
  e->dst = d;
  e->sfields = s ? s->fields : NULL;
  e->dfields = d ? d->fields : NULL;
  if (s && d) {
    const cmpmap *m = getmap(df, s->model, d->model);
    if (m == NULL) return ms_err_set(df->err, MS_ENOMEM, "out of memory");
    e->cmp = m->idx;
    e->ncmp = m->n;
    e->action = MS_ACT_NONE;
    for (i = 0; i < m->n; i++) {
      if (!ms_value_eq(&e->dfields[m->idx[2 * i]],
                       &e->sfields[m->idx[2 * i + 1]])) {
        e->action = MS_ACT_UPDATE;
        break;
      }
    }
  } else {
    e->action = s ? MS_ACT_CREATE : MS_ACT_DELETE;
  }
  if ((rc = incr(df, (s ? 1 : 0) + (d ? 1 : 0))) != MS_OK) return rc;
  /* in the walk until it proves unchanged, and with it all below it */
  at = df->nwalk;
  if (GROW(df, df->walk, df->nwalk, df->capwalk) != MS_OK) return MS_ENOMEM;
  df->walk[df->nwalk++] = e;
  if ((rc = children(df, e, s, d)) != MS_OK) return rc;
  e->has_diffs = selfdiffs(e) | kiddiffs(&e->child);
  if (!e->has_diffs) df->nwalk = at;
  *out = e;
  return MS_OK;
}

static int namecmp(const void *a, const void *b) {
  const ms_strref *x = a, *y = b;
  size_t n = x->len < y->len ? x->len : y->len;
  int c = memcmp(x->s, y->s, n);
  return c ? c : (x->len > y->len) - (x->len < y->len);
}

/* Diff.add: a repeated (type, shortname) in one Diff is an error. Uids are
   unique per list, so only models with a shortname need the check. */
static int checknames(differ *df, const ms_dgroup *g) {
  ms_strref *names;
  ms_buf b = MS_BUF_INIT;
  uint32_t i;
  int rc = MS_OK;
  if (g->n < 2 || ms_delem_model(g->elems[0])->nshort == 0) return MS_OK;
  names = malloc(g->n * sizeof *names);
  if (names == NULL) return ms_err_set(df->err, MS_ENOMEM, "out of memory");
  for (i = 0; i < g->n; i++) {
    size_t at = b.len;
    ms_delem_name(&b, g->elems[i]);
    names[i].s = (const char *)at;
    names[i].len = (uint32_t)(b.len - at);
  }
  if (b.oom) {
    free(names);
    ms_buf_free(&b);
    return ms_err_set(df->err, MS_ENOMEM, "out of memory");
  }
  for (i = 0; i < g->n; i++) names[i].s = b.data + (size_t)names[i].s;
  qsort(names, g->n, sizeof *names, namecmp);
  for (i = 1; i < g->n; i++) {
    if (namecmp(&names[i - 1], &names[i]) == 0) {
      rc = ms_err_set(df->err, MS_EEXISTS, "Already storing a %s named %.*s",
                      g->type, (int)names[i].len, names[i].s);
      break;
    }
  }
  free(names);
  ms_buf_free(&b);
  return rc;
}

/* The elements of pairs [from, to) onto the element stack: of `own`, or
   of df->pairs when NULL (read by index: that array may move while the
   children are diffed). */
static int objpairs(differ *df, const pair *own, size_t from, size_t to) {
  size_t i;
  int rc;
  for (i = from; i < to; i++) {
    const pair *p = own ? &own[i] : &df->pairs[i];
    ms_record *s = p->s, *d = p->d;
    ms_delem *e;
    if ((rc = objpair(df, s, d, &e)) != MS_OK) return rc;
    if (e == NULL) continue;
    if (GROW(df, df->elems, df->nelems, df->capelems) != MS_OK) return MS_ENOMEM;
    df->elems[df->nelems++] = e;
  }
  return MS_OK;
}

/* A differ writing into d (whose arena is made empty here): of src
   against dst with flags, errors into err. */
static void setup(differ *df, ms_diff *d, ms_store *src, ms_store *dst,
                  uint32_t flags, ms_err *err) {
  ms_arena_init(&d->arena);
  d->src = src;
  d->dst = dst;
  d->flags = flags;
  memset(df, 0, sizeof *df);
  df->d = d;
  df->src = src;
  df->dst = dst;
  df->flags = flags;
  df->err = err;
  df->total = ms_store_count(src, -1) + ms_store_count(dst, -1);
}

static void freescratch(differ *df) {
  free(df->pairs);
  free(df->elems);
  free(df->walk);
  free(df->recs);
  free(df->maps);
}

/* The second half of a split list, diffed by the second thread. */
typedef struct half {
  differ df;
  ms_diff d;        /* its arena holds the half's elements */
  ms_err err;
  pair *pairs;
  size_t n;
  int rc;
} half;

static void *runhalf(void *arg) {
  half *h = arg;
  h->rc = objpairs(&h->df, h->pairs, 0, h->n);
  return NULL;
}

/* Appends from[0..n) to the element array *arr. */
static int append(differ *df, ms_delem ***arr, size_t *len, size_t *cap,
                  ms_delem *const *from, size_t n) {
  if (*len + n > *cap &&
      grow((void **)arr, cap, sizeof **arr, *len + n, df) != MS_OK)
    return MS_ENOMEM;
  if (n) memcpy(*arr + *len, from, n * sizeof *from);
  *len += n;
  return MS_OK;
}

/* A pair's share of the work: its records and their direct children. */
static size_t weight(const pair *p) {
  size_t w = 1;
  uint32_t c;
  if (p->s)
    for (c = 0; c < p->s->model->nchildren; c++) w += p->s->children[c].n;
  if (p->d)
    for (c = 0; c < p->d->model->nchildren; c++) w += p->d->children[c].n;
  return w;
}

/* objpairs over df->pairs[pbase..npairs), the second half (by weight) in
   a second thread. */
static int splitpairs(differ *df, size_t pbase) {
  size_t total = 0, acc = 0, mid, i;
  shared sh;
  half *h;
  pthread_t th;
  int rc;
  df->split = 0;  /* only the top-level list is split */
  for (i = pbase; i < df->npairs; i++) total += weight(&df->pairs[i]);
  for (mid = pbase; mid < df->npairs - 1 && 2 * acc < total; mid++)
    acc += weight(&df->pairs[mid]);
  if (mid == pbase) mid++;
  h = calloc(1, sizeof *h);
  if (h == NULL) return ms_err_set(df->err, MS_ENOMEM, "out of memory");
  h->n = df->npairs - mid;
  h->pairs = malloc(h->n * sizeof *h->pairs);
  if (h->pairs == NULL) {
    free(h);
    return ms_err_set(df->err, MS_ENOMEM, "out of memory");
  }
  memcpy(h->pairs, df->pairs + mid, h->n * sizeof *h->pairs);
  memset(&sh, 0, sizeof sh);
  setup(&h->df, &h->d, df->src, df->dst, df->flags, &h->err);
  h->df.worker = 1;
  h->df.sh = &sh;
  /* epochs: the worker takes E+4, E+8, ..., this thread E+2, E+6, ... */
  h->df.epoch = df->epoch;
  h->df.estep = 4;
  df->epoch -= 2;
  df->estep = 4;
  df->sh = &sh;
  if (pthread_create(&th, NULL, runhalf, h) != 0) {
    df->sh = NULL;
    df->epoch += 2;
    df->estep = 2;
    free(h->pairs);
    free(h);
    return objpairs(df, NULL, pbase, df->npairs);
  }
  rc = objpairs(df, NULL, pbase, mid);
  if (rc != MS_OK) __atomic_store_n(&sh.stop, 1, __ATOMIC_RELAXED);
  pthread_join(th, NULL);
  df->sh = NULL;
  df->estep = 2;
  if (h->df.epoch > df->epoch) df->epoch = h->df.epoch;
  if (rc == MS_OK && h->df.conflict) {
    rc = MS_ECALLBACK;
    df->conflict = 1;
  } else if (rc == MS_OK && h->rc != MS_OK) {
    *df->err = h->err;
    rc = h->rc;
  }
  df->done += h->df.done;
  if (rc == MS_OK) rc = report(df, df->done);  /* the worker's share too */
  if (rc == MS_OK)
    rc = append(df, &df->elems, &df->nelems, &df->capelems, h->df.elems,
                h->df.nelems);
  if (rc == MS_OK)
    rc = append(df, &df->walk, &df->nwalk, &df->capwalk, h->df.walk,
                h->df.nwalk);
  if (rc == MS_OK) ms_arena_adopt(&df->d->arena, &h->d.arena);
  else ms_arena_free(&h->d.arena);
  freescratch(&h->df);
  free(h->pairs);
  free(h);
  return rc;
}

/* Sets a group's nelems and, when some of its elements change and some do
   not, the list of those that do (allocated from a; none without one). */
static int changedlist(ms_arena *a, ms_dgroup *g) {
  uint32_t i, k = 0;
  g->nelems = 0;
  g->nchanged = 0;
  g->changed = NULL;
  for (i = 0; i < g->n; i++) {
    g->nelems += 1 + g->elems[i]->child.nelems;
    if (g->elems[i]->has_diffs) g->nchanged++;
  }
  if (a == NULL || g->nchanged == 0 || g->nchanged == g->n) return MS_OK;
  if ((g->changed = ms_arena_alloc(a, g->nchanged * sizeof *g->changed)) == NULL)
    return MS_ENOMEM;
  for (i = 0; i < g->n; i++)
    if (g->elems[i]->has_diffs) g->changed[k++] = i;
  return MS_OK;
}

static int objlist(differ *df, ms_record **sl, size_t sn, ms_record **dl,
                   size_t dn, int dmidx, const char *type, ms_dchildren *out) {
  size_t pbase = df->npairs, ebase = df->nelems, i, j = 0, n;
  uint32_t epoch;
  ms_dgroup *g;
  int rc;
  /* pair by uid: source order, then dest-only records in dest order */
  df->epoch += df->estep;
  epoch = df->epoch;
  for (i = 0; i < dn; i++)
    if (dl[i]->stored) setmark(dl[i], epoch);
  for (i = 0; i < sn; i++) {
    ms_record *s = sl[i], *d = NULL;
    if (!s->stored) continue;
    if (dmidx >= 0) {
      /* the two sides mostly list the same records in the same order: the
         next unpaired dest record is tried before the index */
      while (j < dn && getmark(dl[j]) != epoch) j++;
      if (j < dn && dl[j]->uid_len == s->uid_len &&
          memcmp(dl[j]->uid, s->uid, s->uid_len) == 0)
        d = dl[j];
      else
        d = ms_store_find(df->dst, dmidx, s->uid, s->uid_len);
      if (d != NULL && getmark(d) == epoch) setmark(d, epoch + 1);
      else d = NULL;
    }
    if (GROW(df, df->pairs, df->npairs, df->cappairs) != MS_OK) return MS_ENOMEM;
    df->pairs[df->npairs].s = s;
    df->pairs[df->npairs++].d = d;
  }
  for (i = 0; i < dn; i++) {
    if (!dl[i]->stored || getmark(dl[i]) != epoch) continue;
    if (GROW(df, df->pairs, df->npairs, df->cappairs) != MS_OK) return MS_ENOMEM;
    df->pairs[df->npairs].s = NULL;
    df->pairs[df->npairs++].d = dl[i];
  }
  if (df->sh != NULL) {
    /* a stamp of this list overwritten by the other thread: the record is
       listed in both halves */
    for (i = 0; i < dn; i++) {
      uint32_t m = getmark(dl[i]);
      if (dl[i]->stored && m != epoch && m != epoch + 1) {
        df->conflict = 1;
        return ms_err_set(df->err, MS_ECALLBACK, "diff split conflict");
      }
    }
  }
  if ((rc = validate(df, pbase)) != MS_OK) return rc;
  if (df->split && df->npairs - pbase >= 2)
    rc = splitpairs(df, pbase);
  else
    rc = objpairs(df, NULL, pbase, df->npairs);
  if (rc != MS_OK) return rc;
  df->npairs = pbase;
  n = df->nelems - ebase;
  if (n == 0) return MS_OK;
  g = ms_arena_alloc(&df->d->arena, (out->ngroups + 1) * sizeof *g);
  if (g == NULL) return ms_err_set(df->err, MS_ENOMEM, "out of memory");
  if (out->ngroups) memcpy(g, out->groups, out->ngroups * sizeof *g);
  out->groups = g;
  g = &g[out->ngroups++];
  g->type = type;
  g->n = (uint32_t)n;
  g->order = NULL;
  g->elems = ms_arena_alloc(&df->d->arena, n * sizeof *g->elems);
  if (g->elems == NULL) return ms_err_set(df->err, MS_ENOMEM, "out of memory");
  memcpy(g->elems, df->elems + ebase, n * sizeof *g->elems);
  df->nelems = ebase;
  if (changedlist(&df->d->arena, g) != MS_OK)
    return ms_err_set(df->err, MS_ENOMEM, "out of memory");
  out->nelems += g->nelems;
  return checknames(df, g);
}

static int listed(char **names, uint32_t n, const char *name) {
  uint32_t i;
  for (i = 0; i < n; i++)
    if (strcmp(names[i], name) == 0) return 1;
  return 0;
}

static int strpcmp(const void *a, const void *b) {
  return strcmp(*(char *const *)a, *(char *const *)b);
}

static int calculate(differ *df) {
  ms_store *src = df->src, *dst = df->dst;
  char **skipped;
  uint32_t i, n = 0;
  int rc = MS_OK;
  /* top-level types on one side only are counted as processed */
  skipped = malloc((src->ntop + dst->ntop + 1) * sizeof *skipped);
  if (skipped == NULL) return ms_err_set(df->err, MS_ENOMEM, "out of memory");
  for (i = 0; i < dst->ntop; i++)
    if (!listed(src->top_level, src->ntop, dst->top_level[i]) &&
        !listed(skipped, n, dst->top_level[i]))
      skipped[n++] = dst->top_level[i];
  for (i = 0; i < src->ntop; i++)
    if (!listed(dst->top_level, dst->ntop, src->top_level[i]) &&
        !listed(skipped, n, src->top_level[i]))
      skipped[n++] = src->top_level[i];
  qsort(skipped, n, sizeof *skipped, strpcmp);
  for (i = 0; i < n && rc == MS_OK; i++) {
    if (listed(dst->top_level, dst->ntop, skipped[i]))
      rc = incr(df, ms_store_count(dst, ms_store_model(dst, skipped[i])));
    else
      rc = incr(df, ms_store_count(src, ms_store_model(src, skipped[i])));
  }
  free(skipped);
  for (i = 0; i < dst->ntop && rc == MS_OK; i++) {
    const char *type = dst->top_level[i];
    int sm, dm;
    if (!listed(src->top_level, src->ntop, type)) continue;
    sm = ms_store_model(src, type);
    dm = ms_store_model(dst, type);
    ms_store_touch(src, sm);   /* get_all on both sides */
    ms_store_touch(dst, dm);
    rc = objlist(df, src->bymodel[sm].items, src->bymodel[sm].n,
                 dst->bymodel[dm].items, dst->bymodel[dm].n, dm,
                 dst->models[dm]->name, &df->d->top);
  }
  return rc;
}

/* One try at the diff; *conflict set when a split diff must be made
   again in one thread. */
static int compute(ms_store *src, ms_store *dst, uint32_t flags, int split,
                   ms_progress_fn cb, void *ud, uint64_t *shown, ms_diff **out,
                   ms_err *err, int *conflict) {
  differ df;
  ms_diff *d = calloc(1, sizeof *d);
  int rc;
  *out = NULL;
  if (d == NULL) return ms_err_set(err, MS_ENOMEM, "out of memory");
  setup(&df, d, src, dst, flags, err);
  df.cb = cb;
  df.ud = ud;
  df.shown = shown;
  ms_store_settle(dst);  /* stamping would lose a pending status reset */
  df.epoch = dst->epoch;
  df.estep = 2;
  d->mark_lo = dst->epoch;
  d->dst_gen = dst->gen;
  df.split = split && df.total >= 2 * SPLIT_MIN;
  rc = calculate(&df);
  dst->epoch = df.epoch;
  d->mark_hi = df.epoch + 1;
  d->models_processed = df.done;
  if (rc == MS_OK && df.nwalk) {
    d->walk = ms_arena_alloc(&d->arena, df.nwalk * sizeof *d->walk);
    if (d->walk == NULL) rc = ms_err_set(err, MS_ENOMEM, "out of memory");
    else memcpy(d->walk, df.walk, df.nwalk * sizeof *d->walk);
    d->nwalk = df.nwalk;
  }
  freescratch(&df);
  *conflict = df.conflict;
  if (rc != MS_OK) {
    ms_diff_free(d);
    return rc;
  }
  *out = d;
  return MS_OK;
}

/* MOONSYNC_DIFF_THREADS=1 keeps every diff in one thread. */
static int splitting(void) {
  const char *v = getenv("MOONSYNC_DIFF_THREADS");
  return v == NULL || strcmp(v, "1") != 0;
}

int ms_diff_compute(ms_store *src, ms_store *dst, uint32_t flags,
                    ms_progress_fn cb, void *ud, ms_diff **out, ms_err *err) {
  uint64_t shown = 0;
  int conflict = 0;
  int rc = compute(src, dst, flags, splitting(), cb, ud, &shown, out, err,
                   &conflict);
  if (conflict)
    rc = compute(src, dst, flags, 0, cb, ud, &shown, out, err, &conflict);
  return rc;
}

void ms_diff_free(ms_diff *d) {
  if (d == NULL) return;
  ms_arena_free(&d->arena);
  free(d);
}

/* {====== queries ======} */

void ms_delem_name(ms_buf *b, const ms_delem *e) {
  if (e->src) ms_shortname_build(b, e->src->model, e->sfields);
  else ms_shortname_build(b, e->dst->model, e->dfields);
}

uint64_t ms_diff_len(const ms_diff *d) { return d->top.nelems; }

int ms_diff_has_diffs(const ms_diff *d) { return kiddiffs(&d->top) != 0; }

static void sumup(const ms_dchildren *c, ms_summary *s) {
  uint32_t g, i;
  for (g = 0; g < c->ngroups; g++) {
    for (i = 0; i < c->groups[g].n; i++) {
      const ms_delem *e = c->groups[g].elems[i];
      switch (e->action) {
        case MS_ACT_CREATE: s->create++; break;
        case MS_ACT_UPDATE: s->update++; break;
        case MS_ACT_DELETE: s->del++; break;
        default: s->nochange++;
      }
      sumup(&e->child, s);
    }
  }
}

void ms_diff_summary(const ms_diff *d, ms_summary *s) {
  memset(s, 0, sizeof *s);
  sumup(&d->top, s);
  s->skip = (int64_t)d->models_processed - (int64_t)s->create -
            2 * (int64_t)s->update - (int64_t)s->del - 2 * (int64_t)s->nochange;
}

int ms_dgroup_set_order(ms_diff *d, ms_dgroup *g, const uint32_t *perm,
                        ms_err *err) {
  ms_delem **order;
  uint32_t i;
  int rc = MS_OK;
  for (i = 0; i < g->n && rc == MS_OK; i++) {
    if (perm[i] >= g->n || g->elems[perm[i]]->scratch)
      rc = ms_err_set(err, MS_EVALUE, "the order of %s elements must name each "
                      "of the %u elements once (position %u)", g->type,
                      (unsigned)g->n, (unsigned)i + 1);
    else
      g->elems[perm[i]]->scratch = 1;
  }
  for (i = 0; i < g->n; i++) g->elems[i]->scratch = 0;
  if (rc != MS_OK) return rc;
  order = g->order ? g->order
                   : ms_arena_alloc(&d->arena, g->n * sizeof *order);
  if (order == NULL) return ms_err_set(err, MS_ENOMEM, "out of memory");
  for (i = 0; i < g->n; i++) order[i] = g->elems[perm[i]];
  g->order = order;
  return MS_OK;
}

/* {====== text output ======} */

int ms_delem_changed(const ms_delem *e, uint32_t i) {
  return !e->demoted &&
         !ms_value_eq(&e->dfields[e->cmp[2 * i]], &e->sfields[e->cmp[2 * i + 1]]);
}

#define changed ms_delem_changed

/* {====== scoping ======} */

static int inscope(const ms_delem *e, const ms_scope *l, size_t n) {
  const ms_record *r = e->src ? e->src : e->dst;
  size_t i;
  for (i = 0; i < n; i++)
    if (strcmp(l[i].model, ms_delem_type(e)) == 0 && l[i].uidlen == r->uid_len &&
        memcmp(l[i].uid, r->uid, r->uid_len) == 0)
      return 1;
  return 0;
}

void ms_delem_unmark(const ms_delem *e) {
  uint32_t g, i;
  if (e->dst != NULL) e->dst->mark = 0;
  for (g = 0; g < e->child.ngroups; g++)
    for (i = 0; i < e->child.groups[g].n; i++)
      ms_delem_unmark(e->child.groups[g].elems[i]);
}

typedef struct scoper {
  const ms_scope *t, *x;
  size_t nt, nx;
  uint64_t hits;
} scoper;

/* Filters c in place; returns whether anything stays. */
static int scopekids(scoper *sc, ms_dchildren *c, int inside) {
  uint32_t g, i, w, gw = 0;
  c->nelems = 0;
  for (g = 0; g < c->ngroups; g++) {
    ms_dgroup *grp = &c->groups[g];
    for (i = 0, w = 0; i < grp->n; i++) {
      ms_delem *e = grp->elems[i];
      int self;
      if (inscope(e, sc->x, sc->nx)) {
        ms_delem_unmark(e);
        continue;
      }
      self = inside || sc->nt == 0 || inscope(e, sc->t, sc->nt);
      if (self && !inside && sc->nt) sc->hits++;
      if (!scopekids(sc, &e->child, self) && !self) {
        ms_delem_unmark(e);
        continue;
      }
      if (!self) {
        e->demoted = 1;
        e->action = MS_ACT_NONE;
      }
      e->has_diffs = selfdiffs(e) | kiddiffs(&e->child);
      e->scratch = 1;
      c->nelems += 1 + e->child.nelems;
      grp->elems[w++] = e;
    }
    if (grp->order) {  /* keep the chosen order of what stays */
      uint32_t k, ow = 0;
      for (k = 0; k < grp->n; k++)
        if (grp->order[k]->scratch) grp->order[ow++] = grp->order[k];
    }
    for (i = 0; i < w; i++) grp->elems[i]->scratch = 0;
    grp->n = w;
    changedlist(NULL, grp);  /* no list: the sync looks at every element */
    if (w) c->groups[gw++] = *grp;
  }
  c->ngroups = gw;
  return gw > 0;
}

uint64_t ms_diff_scope(ms_diff *d, const ms_scope *targets, size_t ntargets,
                       const ms_scope *excludes, size_t nexcludes) {
  scoper sc;
  sc.t = targets;
  sc.nt = ntargets;
  sc.x = excludes;
  sc.nx = nexcludes;
  sc.hits = 0;
  scopekids(&sc, &d->top, 0);
  return sc.hits;
}

static void elemstr(ms_buf *b, const ms_diff *d, const ms_delem *e, int indent);

static void childstr(ms_buf *b, const ms_diff *d, const ms_dchildren *c,
                     int indent) {
  uint32_t g, i;
  int first = 1;
  for (g = 0; g < c->ngroups; g++) {
    int heading = 0;
    for (i = 0; i < c->groups[g].n; i++) {
      const ms_delem *e = c->groups[g].elems[i];
      if (!e->has_diffs) continue;
      if (!heading) {
        if (!first) ms_buf_putc(b, '\n');
        ms_buf_fill(b, ' ', (size_t)indent);
        ms_buf_puts(b, c->groups[g].type);
        heading = 1;
        first = 0;
      }
      ms_buf_putc(b, '\n');
      elemstr(b, d, e, indent + 2);
    }
  }
}

static void elemstr(ms_buf *b, const ms_diff *d, const ms_delem *e, int indent) {
  uint32_t i;
  ms_buf_fill(b, ' ', (size_t)indent);
  ms_buf_printf(b, "%s: ", ms_delem_type(e));
  ms_delem_name(b, e);
  if (e->src && e->dst) {
    for (i = 0; i < e->ncmp; i++) {
      if (!changed(e, i)) continue;
      ms_buf_putc(b, '\n');
      ms_buf_fill(b, ' ', (size_t)indent + 2);
      ms_buf_puts(b, e->dst->model->fields[e->cmp[2 * i]]);
      ms_buf_printf(b, "    %s(", d->src->name);
      ms_value_pystr(b, &e->sfields[e->cmp[2 * i + 1]]);
      ms_buf_printf(b, ")    %s(", d->dst->name);
      ms_value_pystr(b, &e->dfields[e->cmp[2 * i]]);
      ms_buf_putc(b, ')');
    }
  } else if (e->dst) {
    ms_buf_printf(b, " MISSING in %s", d->src->name);
  } else {
    ms_buf_printf(b, " MISSING in %s", d->dst->name);
  }
  if (kiddiffs(&e->child)) {
    ms_buf_putc(b, '\n');
    childstr(b, d, &e->child, indent + 2);
  }
}

void ms_diff_str(ms_buf *b, const ms_diff *d) {
  size_t at = b->len;
  childstr(b, d, &d->top, 0);
  if (b->len == at) ms_buf_puts(b, "(no diffs)");
}

/* {====== JSON output ======} */

static void nl(ms_buf *b, int indent) {
  if (indent >= 0) ms_json_nl(b, indent);
}

static void sep(ms_buf *b, int indent, int *first) {
  if (!*first) ms_buf_puts(b, indent < 0 ? ", " : ",");
  *first = 0;
  nl(b, indent);
}

static int deeper(int indent) { return indent < 0 ? -1 : indent + 1; }

static void key(ms_buf *b, const char *k, size_t n) {
  ms_json_str(b, k, n);
  ms_buf_puts(b, ": ");
}

void ms_delem_attrs_json(ms_buf *b, const ms_delem *e, char which, int indent) {
  int first = 1;
  uint32_t i;
  ms_buf_putc(b, '{');
  if (e->src && e->dst) {
    for (i = 0; i < e->ncmp; i++) {
      uint32_t di = e->cmp[2 * i], si = e->cmp[2 * i + 1];
      const char *name = e->dst->model->fields[di];
      if (!changed(e, i)) continue;
      sep(b, deeper(indent), &first);
      key(b, name, strlen(name));
      ms_value_json(b, which == '+' ? &e->sfields[si] : &e->dfields[di],
                    deeper(indent));
    }
  } else {
    const ms_model *m = ms_delem_model(e);
    const ms_value *f = e->src ? e->sfields : e->dfields;
    for (i = m->nids; i < m->nids + m->nattrs; i++) {
      sep(b, deeper(indent), &first);
      key(b, m->fields[i], strlen(m->fields[i]));
      ms_value_json(b, &f[i], deeper(indent));
    }
  }
  if (!first) nl(b, indent);
  ms_buf_putc(b, '}');
}

static void dictjson(ms_buf *b, const ms_dchildren *c, int indent, int *first);

static void namekey(ms_buf *b, const ms_delem *e) {
  ms_buf n = MS_BUF_INIT;
  ms_delem_name(&n, e);
  if (n.oom) b->oom = 1;
  key(b, n.data ? n.data : "", n.len);
  ms_buf_free(&n);
}

static void elemdict(ms_buf *b, const ms_delem *e, int indent) {
  int first = 1;
  ms_buf_putc(b, '{');
  if (e->dst) {
    sep(b, deeper(indent), &first);
    key(b, "-", 1);
    ms_delem_attrs_json(b, e, '-', deeper(indent));
  }
  if (e->src) {
    sep(b, deeper(indent), &first);
    key(b, "+", 1);
    ms_delem_attrs_json(b, e, '+', deeper(indent));
  }
  if (kiddiffs(&e->child)) dictjson(b, &e->child, indent, &first);
  if (!first) nl(b, indent);
  ms_buf_putc(b, '}');
}

/* Appends "type": {name: element, ...} members for each group with diffs
   to an object already opened at `indent`. */
static void dictjson(ms_buf *b, const ms_dchildren *c, int indent, int *first) {
  uint32_t g, i;
  for (g = 0; g < c->ngroups; g++) {
    int open = 0, inner = 1;
    for (i = 0; i < c->groups[g].n; i++) {
      const ms_delem *e = ms_dgroup_at(&c->groups[g], i);
      if (!e->has_diffs) continue;
      if (!open) {
        sep(b, deeper(indent), first);
        key(b, c->groups[g].type, strlen(c->groups[g].type));
        ms_buf_putc(b, '{');
        open = 1;
      }
      sep(b, deeper(deeper(indent)), &inner);
      namekey(b, e);
      elemdict(b, e, deeper(deeper(indent)));
    }
    if (open) {
      nl(b, deeper(indent));
      ms_buf_putc(b, '}');
    }
  }
}

void ms_diff_dict_json(ms_buf *b, const ms_diff *d, int indent) {
  int first = 1;
  ms_buf_putc(b, '{');
  dictjson(b, &d->top, indent, &first);
  if (!first) nl(b, indent);
  ms_buf_putc(b, '}');
}

void ms_summary_json(ms_buf *b, const ms_summary *s, int indent) {
  const char *names[5] = {"create", "update", "delete", "no-change", "skip"};
  long long v[5];
  int i, first = 1;
  v[0] = (long long)s->create;
  v[1] = (long long)s->update;
  v[2] = (long long)s->del;
  v[3] = (long long)s->nochange;
  v[4] = (long long)s->skip;
  ms_buf_putc(b, '{');
  for (i = 0; i < 5; i++) {
    sep(b, deeper(indent), &first);
    key(b, names[i], strlen(names[i]));
    ms_buf_printf(b, "%lld", v[i]);
  }
  nl(b, indent);
  ms_buf_putc(b, '}');
}

const char *ms_action_name(int a) {
  switch (a) {
    case MS_ACT_CREATE: return "create";
    case MS_ACT_UPDATE: return "update";
    case MS_ACT_DELETE: return "delete";
    default: return NULL;
  }
}

/* ""model": M, "uid": U" of a diff element */
static void modeluid(ms_buf *b, const ms_delem *e) {
  const ms_record *r = e->src ? e->src : e->dst;
  ms_buf_puts(b, "\"model\": ");
  ms_json_str(b, ms_delem_type(e), strlen(ms_delem_type(e)));
  ms_buf_puts(b, ", \"uid\": ");
  ms_json_str(b, r->uid, r->uid_len);
}

/* "{"model": M, "uid": U}" of a diff element, or "null" */
static void elemref(ms_buf *b, const ms_delem *e) {
  if (e == NULL) {
    ms_buf_puts(b, "null");
    return;
  }
  ms_buf_putc(b, '{');
  modeluid(b, e);
  ms_buf_putc(b, '}');
}

/* The unchanged elements on the way to changes, with their parents: what
   a reader needs to place every change in the tree. */
static void context(ms_buf *b, const ms_dchildren *c, const ms_delem *parent,
                    int *first) {
  uint32_t g, i;
  for (g = 0; g < c->ngroups; g++)
    for (i = 0; i < c->groups[g].n; i++) {
      const ms_delem *e = ms_dgroup_at(&c->groups[g], i);
      if (!e->has_diffs) continue;
      if (e->action == MS_ACT_NONE) {
        ms_buf_puts(b, *first ? "\n    " : ",\n    ");
        *first = 0;
        ms_buf_putc(b, '{');
        modeluid(b, e);
        ms_buf_puts(b, ", \"parent\": ");
        elemref(b, parent);
        ms_buf_putc(b, '}');
      }
      context(b, &e->child, e, first);
    }
}

static void changes(ms_buf *b, const ms_dchildren *c, const ms_delem *parent,
                    int *first) {
  uint32_t g, i, k;
  for (g = 0; g < c->ngroups; g++) {
    for (i = 0; i < c->groups[g].n; i++) {
      const ms_delem *e = ms_dgroup_at(&c->groups[g], i);
      const ms_record *r = e->src ? e->src : e->dst;
      const ms_model *m = r->model;
      const ms_value *f = e->src ? e->sfields : e->dfields;
      if (!e->has_diffs) continue;
      if (e->action != MS_ACT_NONE) {
        ms_buf_puts(b, *first ? "\n    " : ",\n    ");
        *first = 0;
        ms_buf_printf(b, "{\"action\": \"%s\", ", ms_action_name(e->action));
        modeluid(b, e);
        ms_buf_puts(b, ", \"parent\": ");
        elemref(b, parent);
        ms_buf_puts(b, ", \"keys\": {");
        for (k = 0; k < m->nids; k++) {
          if (k) ms_buf_puts(b, ", ");
          key(b, m->fields[k], strlen(m->fields[k]));
          ms_value_json(b, &f[k], -1);
        }
        ms_buf_puts(b, "}");
        if (e->src) {
          ms_buf_puts(b, ", \"attrs\": ");
          ms_delem_attrs_json(b, e, '+', -1);
        }
        if (e->dst) {
          ms_buf_puts(b, ", \"before\": ");
          ms_delem_attrs_json(b, e, '-', -1);
          ms_buf_printf(b, ", \"fingerprint\": \"%016llx\"",
                        (unsigned long long)ms_fields_fingerprint(e->dst->model,
                                                                  e->dfields));
        } else {
          ms_buf_puts(b, ", \"fingerprint\": null");
        }
        ms_buf_putc(b, '}');
      }
      changes(b, &e->child, e, first);
    }
  }
}

void ms_diff_changes_json(ms_buf *b, const ms_diff *d) {
  ms_summary s;
  int first = 1;
  ms_diff_summary(d, &s);
  ms_buf_puts(b, "{\n  \"format\": \"moonsync-diff/1\",\n  \"source\": ");
  ms_json_str(b, d->src->name, strlen(d->src->name));
  ms_buf_puts(b, ",\n  \"dest\": ");
  ms_json_str(b, d->dst->name, strlen(d->dst->name));
  ms_buf_puts(b, ",\n  \"summary\": ");
  ms_summary_json(b, &s, -1);
  ms_buf_puts(b, ",\n  \"changes\": [");
  changes(b, &d->top, NULL, &first);
  ms_buf_puts(b, first ? "]" : "\n  ]");
  first = 1;
  ms_buf_puts(b, ",\n  \"context\": [");
  context(b, &d->top, NULL, &first);
  ms_buf_puts(b, first ? "]\n}" : "\n  ]\n}");
}
