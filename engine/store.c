/*
** store.c: models, records and the hash-indexed record store (store.h).
*/
#include "store.h"

#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <strings.h>

#define XXH_INLINE_ALL
#include <xxhash.h>

/* {====== flags ======} */

static const struct { const char *name; uint32_t bit; } gflags[] = {
  {"CONTINUE_ON_FAILURE", MS_GF_CONTINUE_ON_FAILURE},
  {"SKIP_UNMATCHED_SRC", MS_GF_SKIP_UNMATCHED_SRC},
  {"SKIP_UNMATCHED_DST", MS_GF_SKIP_UNMATCHED_DST},
  {"SKIP_UNMATCHED_BOTH", MS_GF_SKIP_UNMATCHED_BOTH},
  {"LOG_UNCHANGED_RECORDS", MS_GF_LOG_UNCHANGED_RECORDS},
  {"NONE", 0},
  {NULL, 0}
}, mflags[] = {
  {"IGNORE", MS_MF_IGNORE},
  {"SKIP_CHILDREN_ON_DELETE", MS_MF_SKIP_CHILDREN_ON_DELETE},
  {"SKIP_UNMATCHED_SRC", MS_MF_SKIP_UNMATCHED_SRC},
  {"SKIP_UNMATCHED_DST", MS_MF_SKIP_UNMATCHED_DST},
  {"SKIP_UNMATCHED_BOTH", MS_MF_SKIP_UNMATCHED_BOTH},
  {"NATURAL_DELETION_ORDER", MS_MF_NATURAL_DELETION_ORDER},
  {"NONE", 0},
  {NULL, 0}
};

int ms_flag_parse(const char *name, int model, uint32_t *flags) {
  int i;
  const char *p = name;
  /* accept "DiffSyncFlags.X" / "DiffSyncModelFlags.X" as well */
  if (strchr(p, '.') != NULL) p = strrchr(p, '.') + 1;
  for (i = 0; (model ? mflags : gflags)[i].name != NULL; i++) {
    if (strcasecmp(p, (model ? mflags : gflags)[i].name) == 0) {
      *flags |= (model ? mflags : gflags)[i].bit;
      return 0;
    }
  }
  return -1;
}

/* {====== models ======} */

static char *xstrdup(const char *s) {
  size_t n = strlen(s) + 1;
  char *p = malloc(n);
  if (p) memcpy(p, s, n);
  return p;
}

void ms_model_ref(ms_model *m) { m->refs++; }

void ms_model_unref(ms_model *m) {
  uint32_t i;
  if (m == NULL || --m->refs > 0) return;
  for (i = 0; i < m->nfields; i++) free(m->fields[i]);
  for (i = 0; i < m->nchildren; i++) {
    free(m->children[i].model);
    free(m->children[i].field);
  }
  free(m->fields);
  free(m->children);
  free(m->shortname);
  free(m->name);
  free(m);
}

int ms_model_field(const ms_model *m, const char *name, size_t n) {
  uint32_t i;
  for (i = 0; i < m->nfields; i++)
    if (m->fields[i] && strncmp(m->fields[i], name, n) == 0 &&
        m->fields[i][n] == '\0')
      return (int)i;
  return -1;
}

int ms_model_child(const ms_model *m, const char *model) {
  uint32_t i;
  for (i = 0; i < m->nchildren; i++)
    if (strcmp(m->children[i].model, model) == 0) return (int)i;
  return -1;
}

static int childfield(const ms_model *m, const char *name) {
  uint32_t i;
  for (i = 0; i < m->nchildren; i++)
    if (strcmp(m->children[i].field, name) == 0) return (int)i;
  return -1;
}

static int badname(const char *s) {
  return s == NULL || *s == '\0';
}

ms_model *ms_model_new(const ms_model_spec *sp, ms_err *err) {
  ms_model *m;
  uint32_t i, j, k;
  const char **lists[3];
  uint32_t counts[3];
  static const char *what[3] = {"identifier", "attribute", "extra field"};
  if (badname(sp->name)) {
    ms_err_set(err, MS_ESCHEMA, "a model needs a non-empty name");
    return NULL;
  }
  if (sp->nids == 0) {
    ms_err_set(err, MS_ESCHEMA, "model '%s': needs at least one identifier",
               sp->name);
    return NULL;
  }
  m = calloc(1, sizeof *m);
  if (m == NULL) goto nomem;
  m->refs = 1;
  m->name = xstrdup(sp->name);
  m->nids = sp->nids;
  m->nattrs = sp->nattrs;
  m->nextras = sp->nextras;
  m->nfields = sp->nids + sp->nattrs + sp->nextras;
  m->flags = sp->flags;
  m->fields = calloc(m->nfields, sizeof *m->fields);
  if (m->name == NULL || m->fields == NULL) goto nomem;
  lists[0] = sp->ids; lists[1] = sp->attrs; lists[2] = sp->extras;
  counts[0] = sp->nids; counts[1] = sp->nattrs; counts[2] = sp->nextras;
  for (k = 0, j = 0; j < 3; j++) {
    for (i = 0; i < counts[j]; i++, k++) {
      const char *f = lists[j][i];
      if (badname(f)) {
        ms_err_set(err, MS_ESCHEMA, "model '%s': empty %s name", sp->name,
                   what[j]);
        goto fail;
      }
      if (f[0] == '_') {
        ms_err_set(err, MS_ESCHEMA,
                   "model '%s': %s '%s': names starting with '_' are reserved",
                   sp->name, what[j], f);
        goto fail;
      }
      if (ms_model_field(m, f, strlen(f)) >= 0) {
        ms_err_set(err, MS_ESCHEMA, "model '%s': field '%s' is declared twice",
                   sp->name, f);
        goto fail;
      }
      if ((m->fields[k] = xstrdup(f)) == NULL) goto nomem;
    }
  }
  if (sp->nchildren) {
    m->children = calloc(sp->nchildren, sizeof *m->children);
    if (m->children == NULL) goto nomem;
  }
  for (i = 0; i < sp->nchildren; i++) {
    const ms_child_decl *c = &sp->children[i];
    if (badname(c->model) || badname(c->field)) {
      ms_err_set(err, MS_ESCHEMA, "model '%s': a child needs a model name and a"
                 " field name", sp->name);
      goto fail;
    }
    if (ms_model_field(m, c->field, strlen(c->field)) >= 0) {
      ms_err_set(err, MS_ESCHEMA, "model '%s': children field '%s' is also an "
                 "identifier or attribute", sp->name, c->field);
      goto fail;
    }
    if (ms_model_child(m, c->model) >= 0 || childfield(m, c->field) >= 0) {
      ms_err_set(err, MS_ESCHEMA, "model '%s': child '%s' (field '%s') is "
                 "declared twice", sp->name, c->model, c->field);
      goto fail;
    }
    m->children[i].model = xstrdup(c->model);
    m->children[i].field = xstrdup(c->field);
    m->nchildren = i + 1;
    if (m->children[i].model == NULL || m->children[i].field == NULL)
      goto nomem;
  }
  if (sp->nshort) {
    m->shortname = calloc(sp->nshort, sizeof *m->shortname);
    if (m->shortname == NULL) goto nomem;
    for (i = 0; i < sp->nshort; i++) {
      int fi = badname(sp->shortname[i]) ? -1
             : ms_model_field(m, sp->shortname[i], strlen(sp->shortname[i]));
      if (fi < 0) {
        ms_err_set(err, MS_ESCHEMA, "model '%s': shortname field '%s' is not "
                   "declared", sp->name, sp->shortname[i] ? sp->shortname[i] : "");
        goto fail;
      }
      m->shortname[i] = (uint32_t)fi;
    }
    m->nshort = sp->nshort;
  }
  return m;
nomem:
  ms_err_set(err, MS_ENOMEM, "out of memory");
fail:
  if (m) {
    m->nfields = m->fields ? m->nfields : 0;
    m->refs = 1;
    ms_model_unref(m);
  }
  return NULL;
}

/* {====== uid and text forms ======} */

void ms_uid_build(ms_buf *b, const ms_model *m, const ms_value *fields) {
  uint32_t i;
  for (i = 0; i < m->nids; i++) {
    if (i) ms_buf_add(b, "__", 2);
    ms_value_pystr(b, &fields[i]);
  }
}

void ms_shortname_build(ms_buf *b, const ms_model *m, const ms_value *fields) {
  uint32_t i;
  if (m->nshort == 0) {
    ms_uid_build(b, m, fields);
    return;
  }
  for (i = 0; i < m->nshort; i++) {
    if (i) ms_buf_add(b, "__", 2);
    ms_value_pystr(b, &fields[m->shortname[i]]);
  }
}

void ms_fields_repr(ms_buf *b, const ms_model *m, const ms_value *fields,
                    uint32_t from, uint32_t to) {
  uint32_t i;
  ms_buf_putc(b, '{');
  for (i = from; i < to; i++) {
    if (i > from) ms_buf_puts(b, ", ");
    ms_pyrepr_str(b, m->fields[i], strlen(m->fields[i]));
    ms_buf_puts(b, ": ");
    ms_value_pyrepr(b, &fields[i]);
  }
  ms_buf_putc(b, '}');
}

uint64_t ms_fields_fingerprint(const ms_model *m, const ms_value *fields) {
  uint64_t h = XXH3_64bits(m->name, strlen(m->name));
  uint32_t i;
  for (i = m->nids; i < m->nids + m->nattrs; i++) {
    uint64_t k = XXH3_64bits_withSeed(m->fields[i], strlen(m->fields[i]), h);
    h = ms_value_hash(&fields[i], k);
  }
  return h;
}

/* A source-id index entry, in the store's arena. */
typedef struct refcell {
  ms_record *rec;
  ms_value id;
  int midx;
} refcell;

static uint64_t refhash(int midx, const ms_value *id) {
  return ms_value_hash(id, (uint64_t)midx * 0x9e3779b97f4a7c15ULL + 7) | 1;
}

static size_t reffind(const ms_store *s, uint64_t h, int midx, const ms_value *id) {
  size_t mask = s->caprefs - 1, i = (size_t)h & mask;
  for (;;) {
    const ms_refslot *sl = &s->refs[i];
    const refcell *c = sl->cell;
    if (c == NULL) return i;
    if (sl->hash == h && c->midx == midx && ms_value_eq(&c->id, id)) return i;
    i = (i + 1) & mask;
  }
}

int ms_store_ref_put(ms_store *s, int midx, const ms_value *id, ms_record *r) {
  uint64_t h = refhash(midx, id);
  size_t i;
  refcell *c;
  if ((s->nrefs + 1) * 4 > s->caprefs * 3) {
    size_t cap = s->caprefs ? s->caprefs * 2 : 1024, k;
    ms_refslot *n = calloc(cap, sizeof *n);
    if (n == NULL) return MS_ENOMEM;
    for (k = 0; k < s->caprefs; k++) {
      if (s->refs[k].cell != NULL) {
        size_t j = (size_t)s->refs[k].hash & (cap - 1);
        while (n[j].cell != NULL) j = (j + 1) & (cap - 1);
        n[j] = s->refs[k];
      }
    }
    free(s->refs);
    s->refs = n;
    s->caprefs = cap;
  }
  i = reffind(s, h, midx, id);
  if (s->refs[i].cell != NULL) {
    ((refcell *)s->refs[i].cell)->rec = r;
    return MS_OK;
  }
  c = ms_arena_alloc(&s->arena, sizeof *c);
  if (c == NULL || ms_store_copy_value(s, id, &c->id) != MS_OK) return MS_ENOMEM;
  c->rec = r;
  c->midx = midx;
  s->refs[i].hash = h;
  s->refs[i].cell = c;
  s->nrefs++;
  return MS_OK;
}

ms_record *ms_store_ref_get(const ms_store *s, int midx, const ms_value *id) {
  size_t i;
  if (s->caprefs == 0) return NULL;
  i = reffind(s, refhash(midx, id), midx, id);
  return s->refs[i].cell ? ((refcell *)s->refs[i].cell)->rec : NULL;
}

void ms_store_or_flags(ms_store *s, int midx, uint32_t flags) {
  ms_recvec *v = &s->bymodel[midx];
  size_t i;
  for (i = 0; i < v->n; i++) v->items[i]->flags |= flags;
}

int ms_err_missing_id(ms_err *err, const ms_model *m, uint32_t i) {
  return ms_err_set(err, MS_EVALIDATION, "%s: identifier '%s' is missing (a "
                    "required field; null is a value, read as None)", m->name,
                    m->fields[i]);
}

void ms_ids_contrast(ms_buf *b, const ms_record *first, const ms_record *second) {
  uint32_t i;
  for (i = 0; i < first->model->nids; i++) {
    if (ms_value_eq(&first->fields[i], &second->fields[i])) continue;
    ms_buf_printf(b, "; identifier '%s' is ", first->model->fields[i]);
    ms_value_pyrepr(b, &first->fields[i]);
    ms_buf_puts(b, " in the first and ");
    ms_value_pyrepr(b, &second->fields[i]);
    ms_buf_puts(b, " in the second, which str() makes the same uid");
  }
}

/* Marks r and its stored descendants reached (mark = tag). */
static void reach(const ms_store *s, ms_record *r, uint32_t tag, int depth) {
  uint32_t c, i;
  r->mark = tag;
  if (depth > 10000) return;
  for (c = 0; c < r->model->nchildren; c++) {
    int cm = ms_store_model(s, r->model->children[c].model);
    if (cm < 0) continue;
    for (i = 0; i < r->children[c].n; i++) {
      ms_record *k = ms_store_child(s, cm, &r->children[c].items[i]);
      if (k != NULL && k->mark != tag) reach(s, k, tag, depth + 1);
    }
  }
}

void ms_store_settle(ms_store *s) {
  uint32_t m;
  size_t k;
  if (s->lazy_hi == 0) return;
  for (m = 0; m < s->nmodels; m++)
    for (k = 0; k < s->bymodel[m].n; k++) {
      ms_record *r = s->bymodel[m].items[k];
      if (ms_record_reset(r)) {
        r->status = MS_ST_UNKNOWN;
        r->msg = MS_MSG_NONE;
      }
    }
  s->lazy_lo = s->lazy_hi = 0;
}

size_t ms_store_orphans(ms_store *s, ms_buf *names, size_t max) {
  /* a fresh epoch, as the differ takes: no mark holds it yet */
  uint32_t tag;
  ms_store_settle(s);
  tag = (s->epoch += 2);
  size_t n = 0, k;
  uint32_t m, t;
  for (t = 0; t < s->ntop; t++) {
    int mi = ms_store_model(s, s->top_level[t]);
    if (mi < 0) continue;
    for (k = 0; k < s->bymodel[mi].n; k++)
      if (s->bymodel[mi].items[k]->stored)
        reach(s, s->bymodel[mi].items[k], tag, 0);
  }
  for (m = 0; m < s->nmodels; m++)
    for (k = 0; k < s->bymodel[m].n; k++) {
      ms_record *r = s->bymodel[m].items[k];
      if (!r->stored) continue;
      if (r->mark == tag) continue;
      if (n < max && names) {
        if (n) ms_buf_puts(names, ", ");
        ms_buf_printf(names, "%s '%.*s'", r->model->name, (int)r->uid_len,
                      r->uid);
      }
      n++;
    }
  return n;
}

/* {====== store ======} */

/* A zeroed hash table of n slots of `size` bytes (the index, the kept
   strings). A large one sits on huge pages, where the kernel allows,
   since probes land anywhere in it, and every page is written at once:
   lazily zeroed pages would be read first by the probes, then faulted
   again when written, and each such fault flushes the TLB of every
   thread of the process. */
static void *newtable(size_t n, size_t size) {
  const size_t huge = (size_t)2 << 20;
  size_t bytes = n * size, i;
  volatile char *page;
  void *p = NULL;
  if (bytes < huge) {
    if ((p = malloc(bytes)) != NULL) memset(p, 0, bytes);
    return p;
  }
  if (posix_memalign(&p, huge, bytes) != 0) return NULL;
#ifdef MADV_HUGEPAGE
  madvise(p, bytes, MADV_HUGEPAGE);
#endif
  for (page = p, i = 0; i < bytes; i += 4096) page[i] = 0;
  memset(p, 0, bytes);
  return p;
}

static ms_store *newstore(const char *name, const char *type, size_t nslots) {
  ms_store *s = calloc(1, sizeof *s);
  if (s == NULL) return NULL;
  s->owners = 1;
  ms_arena_init(&s->arena);
  s->name = xstrdup(name);
  s->type = xstrdup(type ? type : name);
  s->nslots = nslots;
  s->slots = newtable(s->nslots, sizeof *s->slots);
  if (s->name == NULL || s->type == NULL || s->slots == NULL) {
    ms_store_free(s);
    return NULL;
  }
  return s;
}

ms_store *ms_store_new(const char *name, const char *type) {
  return newstore(name, type, 1024);
}

ms_store *ms_store_new_small(const char *name, const char *type) {
  return newstore(name, type, 4);
}

void ms_store_ref(ms_store *s) { s->owners++; }

void ms_store_free(ms_store *s) {
  uint32_t i;
  if (s == NULL || --s->owners > 0) return;
  for (i = 0; i < s->nmodels; i++) {
    ms_model_unref(s->models[i]);
    free(s->bymodel[i].items);
  }
  for (i = 0; i < s->ntop; i++) free(s->top_level[i]);
  free(s->top_level);
  free(s->models);
  free(s->bymodel);
  free(s->slots);
  free(s->refs);
  free(s->islots);
  ms_recmap_free(&s->msgs);
  free(s->name);
  free(s->type);
  ms_arena_free(&s->arena);
  free(s);
}

int ms_store_model(const ms_store *s, const char *name) {
  uint32_t i;
  for (i = 0; i < s->nmodels; i++)
    if (strcmp(s->models[i]->name, name) == 0) return (int)i;
  return -1;
}

int ms_store_add_model(ms_store *s, ms_model *m, ms_err *err) {
  ms_model **models;
  ms_recvec *by;
  if (ms_store_model(s, m->name) >= 0)
    return ms_err_set(err, MS_ESCHEMA, "adapter '%s': model '%s' is declared "
                      "twice", s->name, m->name);
  if (s->nmodels >= 0xffff)
    return ms_err_set(err, MS_ESCHEMA, "adapter '%s': too many models", s->name);
  models = realloc(s->models, (s->nmodels + 1) * sizeof *models);
  if (models == NULL) return ms_err_set(err, MS_ENOMEM, "out of memory");
  s->models = models;
  by = realloc(s->bymodel, (s->nmodels + 1) * sizeof *by);
  if (by == NULL) return ms_err_set(err, MS_ENOMEM, "out of memory");
  s->bymodel = by;
  memset(&by[s->nmodels], 0, sizeof *by);
  ms_model_ref(m);
  models[s->nmodels] = m;
  return (int)s->nmodels++;
}

int ms_store_set_top_level(ms_store *s, const char **names, uint32_t n,
                           ms_err *err) {
  char **top;
  uint32_t i;
  for (i = 0; i < n; i++)
    if (ms_store_model(s, names[i]) < 0)
      return ms_err_set(err, MS_ESCHEMA, "adapter '%s': top_level names '%s',"
                        " which is not one of its models", s->name, names[i]);
  top = calloc(n ? n : 1, sizeof *top);
  if (top == NULL) return ms_err_set(err, MS_ENOMEM, "out of memory");
  for (i = 0; i < n; i++) {
    if ((top[i] = xstrdup(names[i])) == NULL) {
      while (i--) free(top[i]);
      free(top);
      return ms_err_set(err, MS_ENOMEM, "out of memory");
    }
  }
  for (i = 0; i < s->ntop; i++) free(s->top_level[i]);
  free(s->top_level);
  s->top_level = top;
  s->ntop = n;
  return MS_OK;
}

ms_record *ms_store_new_record(ms_store *s, int midx) {
  ms_model *m = s->models[midx];
  ms_record *r = ms_arena_alloc(&s->arena, sizeof *r);
  uint32_t i;
  if (r == NULL) return NULL;
  memset(r, 0, sizeof *r);
  r->model = m;
  r->midx = (uint16_t)midx;
  r->store = s;
  r->flags = m->flags;
  r->status = MS_ST_SUCCESS;  /* DiffSync: a new model starts as success */
  r->fields = ms_arena_alloc(&s->arena, m->nfields * sizeof *r->fields);
  if (r->fields == NULL) return NULL;
  for (i = 0; i < m->nfields; i++) r->fields[i] = ms_nil;
  if (m->nchildren) {
    r->children = ms_arena_alloc(&s->arena, m->nchildren * sizeof *r->children);
    if (r->children == NULL) return NULL;
    memset(r->children, 0, m->nchildren * sizeof *r->children);
  }
  return r;
}

static uint64_t keyhash(int midx, const char *uid, size_t n) {
  return XXH3_64bits(uid, n) ^ ms_model_mix(midx);
}

uint32_t ms_uid_hash(const char *uid, size_t n) {
  return (uint32_t)XXH3_64bits(uid, n);
}

uint64_t ms_store_keyhash(int midx, const char *uid, size_t n) {
  return keyhash(midx, uid, n);
}

static size_t findslot(const ms_store *s, uint64_t h, int midx,
                       const char *uid, size_t n) {
  size_t mask = s->nslots - 1, i = (size_t)h & mask;
  for (;;) {
    const ms_slot *sl = &s->slots[i];
    if (sl->rec == NULL) return i;
    if (sl->hash == h && sl->rec->midx == midx && sl->rec->uid_len == n &&
        memcmp(sl->rec->uid, uid, n) == 0)
      return i;
    i = (i + 1) & mask;
  }
}

static int resize(ms_store *s, size_t nslots) {
  size_t i, mask = nslots - 1;
  ms_slot *slots = newtable(nslots, sizeof *slots);
  if (slots == NULL) return MS_ENOMEM;
  for (i = 0; i < s->nslots; i++) {
    if (s->slots[i].rec != NULL) {
      size_t j = (size_t)s->slots[i].hash & mask;
      while (slots[j].rec != NULL) j = (j + 1) & mask;
      slots[j] = s->slots[i];
    }
  }
  free(s->slots);
  s->slots = slots;
  s->nslots = nslots;
  return MS_OK;
}

static int growindex(ms_store *s) { return resize(s, s->nslots * 2); }

int ms_store_reserve_index(ms_store *s, size_t n) {
  size_t nslots = s->nslots;
  while (n * 4 > nslots * 3) nslots *= 2;
  return nslots != s->nslots ? resize(s, nslots) : MS_OK;
}

int ms_store_reserve(ms_store *s, size_t n, const size_t *per_model) {
  uint32_t m;
  if (ms_store_reserve_index(s, n) != MS_OK) return MS_ENOMEM;
  for (m = 0; m < s->nmodels; m++) {
    ms_recvec *v = &s->bymodel[m];
    size_t want = per_model ? per_model[m] : n;
    ms_record **items;
    if (v->cap >= want) continue;
    items = realloc(v->items, want * sizeof *items);
    if (items == NULL) return MS_ENOMEM;
    v->items = items;
    v->cap = want;
  }
  return MS_OK;
}

/* {====== kept strings ======} */

#define KEEP_MAX 64        /* longer strings are copied each time */
#define KEEP_PROBE 2048    /* strings of a source seen before deciding */

struct ms_islot {
  const char *s;
  uint32_t len, hash;
};

static int growkept(ms_store *s) {
  size_t cap = s->nislots ? s->nislots * 2 : 4096, i, mask = cap - 1;
  struct ms_islot *slots = newtable(cap, sizeof *slots);
  if (slots == NULL) return MS_ENOMEM;
  for (i = 0; i < s->nislots; i++) {
    size_t j;
    if (s->islots[i].s == NULL) continue;
    j = s->islots[i].hash & mask;
    while (slots[j].s != NULL) j = (j + 1) & mask;
    slots[j] = s->islots[i];
  }
  free(s->islots);
  s->islots = slots;
  s->nislots = cap;
  return MS_OK;
}

const char *ms_store_keep(ms_store *s, ms_internstat *st, const char *p,
                          size_t n) {
  struct ms_islot *sl;
  size_t mask, i;
  uint32_t h;
  if (n > KEEP_MAX || (st && st->off)) return ms_arena_strndup(&s->arena, p, n);
  if (s->icount * 2 >= s->nislots && growkept(s) != MS_OK) return NULL;
  h = (uint32_t)XXH3_64bits(p, n);
  mask = s->nislots - 1;
  for (i = h & mask;; i = (i + 1) & mask) {
    sl = &s->islots[i];
    if (sl->s == NULL) break;
    if (sl->hash == h && sl->len == n && memcmp(sl->s, p, n) == 0) {
      if (st) {
        st->hits++;
        st->seen++;
      }
      return sl->s;
    }
  }
  /* a source whose strings seldom repeat is copied from now on */
  if (st && ++st->seen >= KEEP_PROBE && st->hits * 8 < st->seen) st->off = 1;
  sl->s = ms_arena_strndup(&s->arena, p, n);
  if (sl->s == NULL) return NULL;
  sl->len = (uint32_t)n;
  sl->hash = h;
  s->icount++;
  return sl->s;
}

ms_record *ms_store_find(const ms_store *s, int midx, const char *uid,
                         size_t n) {
  uint64_t h = keyhash(midx, uid, n);
  return s->slots[findslot(s, h, midx, uid, n)].rec;
}

ms_record *ms_store_get(const ms_store *s, int midx, const char *uid,
                        size_t n) {
  ms_store_touch(s, midx);
  return ms_store_find(s, midx, uid, n);
}

int ms_record_uid_in(ms_record *r, ms_buf *scratch) {
  ms_store *s = r->store;
  const ms_model *m = r->model;
  ms_buf own = MS_BUF_INIT, *b = scratch ? scratch : &own;
  int rc = MS_OK;
  if (r->stored) return MS_OK;
  if (m->nids == 1 && r->fields[0].type == MS_STR) {
    /* str(s) is s: share the identifier's bytes */
    r->uid = r->fields[0].u.s;
    r->uid_len = r->fields[0].len;
    return MS_OK;
  }
  b->len = 0;
  ms_uid_build(b, m, r->fields);
  if (b->oom ||
      (r->uid = ms_arena_strndup(&s->arena, b->data ? b->data : "", b->len)) == NULL)
    rc = MS_ENOMEM;
  else
    r->uid_len = (uint32_t)b->len;
  ms_buf_free(&own);
  return rc;
}

int ms_record_uid(ms_record *r) { return ms_record_uid_in(r, NULL); }

int ms_store_insert(ms_store *s, ms_record *r, ms_err *err) {
  if (r->stored) return ms_store_insert_hashed(s, r, 0, err);  /* a no-op */
  if (ms_record_uid(r) != MS_OK)
    return ms_err_set(err, MS_ENOMEM, "out of memory");
  return ms_store_insert_hashed(s, r, keyhash(r->midx, r->uid, r->uid_len), err);
}

int ms_store_insert_hashed(ms_store *s, ms_record *r, uint64_t h, ms_err *err) {
  size_t i;
  ms_recvec *v = &s->bymodel[r->midx];
  v->touched = 1;
  if (r->stored) return MS_OK;
  i = findslot(s, h, r->midx, r->uid, r->uid_len);
  if (s->slots[i].rec != NULL) {
    ms_buf why = MS_BUF_INIT;
    ms_ids_contrast(&why, s->slots[i].rec, r);
    ms_err_set(err, MS_EEXISTS, "Object %.*s already present%s", (int)r->uid_len,
               r->uid, why.data && !why.oom ? why.data : "");
    ms_buf_free(&why);
    return MS_EEXISTS;
  }
  if (v->n == v->cap) {
    size_t cap = v->cap ? v->cap * 2 : 64;
    ms_record **items = realloc(v->items, cap * sizeof *items);
    if (items == NULL) return ms_err_set(err, MS_ENOMEM, "out of memory");
    v->items = items;
    v->cap = cap;
  }
  if ((s->count + 1) * 4 > s->nslots * 3) {
    if (growindex(s) != MS_OK) return ms_err_set(err, MS_ENOMEM, "out of memory");
    i = findslot(s, h, r->midx, r->uid, r->uid_len);
  }
  s->slots[i].hash = h;
  s->slots[i].rec = r;
  s->count++;
  s->gen++;
  v->items[v->n++] = r;
  v->live++;
  r->stored = 1;
  return MS_OK;
}

/* Linear-probing deletion with backward shift: no tombstones. */
static void unindex(ms_store *s, ms_record *r) {
  size_t mask = s->nslots - 1;
  size_t i = findslot(s, keyhash(r->midx, r->uid, r->uid_len), r->midx,
                      r->uid, r->uid_len);
  size_t j = i;
  if (s->slots[i].rec != r) return;
  for (;;) {
    size_t k;
    s->slots[i].rec = NULL;
    for (;;) {
      j = (j + 1) & mask;
      if (s->slots[j].rec == NULL) return;
      k = (size_t)s->slots[j].hash & mask;
      /* move j back to i unless its home k lies cyclically in (i, j] */
      if (i <= j ? (i < k && k <= j) : (i < k || k <= j)) continue;
      break;
    }
    s->slots[i] = s->slots[j];
    i = j;
  }
}

/* Drops unlinked records from a model's list once they are the majority,
   so get_all stays proportional to the live records. */
static void compact(ms_recvec *v) {
  size_t i, w = 0;
  if (v->live * 2 >= v->n) return;
  for (i = 0; i < v->n; i++)
    if (v->items[i]->stored) v->items[w++] = v->items[i];
  v->n = w;
}

int ms_store_remove(ms_store *s, ms_record *r, int remove_children,
                    ms_err *err) {
  uint32_t c, i;
  if (!r->stored || r->store != s)
    return ms_err_set(err, MS_ENOTFOUND, "%s %.*s not present in %s",
                      r->model->name, (int)r->uid_len, r->uid, s->name);
  ms_store_touch(s, r->midx);
  unindex(s, r);
  r->stored = 0;
  s->count--;
  s->gen++;
  s->bymodel[r->midx].live--;
  compact(&s->bymodel[r->midx]);
  if (!remove_children) return MS_OK;
  for (c = 0; c < r->model->nchildren; c++) {
    int cm = ms_store_model(s, r->model->children[c].model);
    const ms_uidlist *l = &r->children[c];
    if (cm < 0) continue;
    if (l->n) ms_store_touch(s, cm);
    for (i = 0; i < l->n; i++) {
      ms_record *child = ms_store_child(s, cm, &l->items[i]);
      if (child != NULL) ms_store_remove(s, child, 1, NULL);
    }
  }
  return MS_OK;
}

size_t ms_store_count(const ms_store *s, int midx) {
  if (midx < 0) return s->count;
  ms_store_touch(s, midx);
  return s->bymodel[midx].live;
}

int ms_store_copy_value(ms_store *s, const ms_value *v, ms_value *out) {
  const ms_value src = *v;  /* out may be v */
  uint32_t i, n;
  *out = src;
  switch (src.type) {
    case MS_STR:
      out->u.s = ms_arena_strndup(&s->arena, src.u.s, src.len);
      return out->u.s ? MS_OK : MS_ENOMEM;
    case MS_LIST: case MS_MAP:
      n = src.type == MS_MAP ? 2 * src.len : src.len;
      if (n == 0) { out->u.items = NULL; return MS_OK; }
      out->u.items = ms_arena_alloc(&s->arena, n * sizeof *out->u.items);
      if (out->u.items == NULL) return MS_ENOMEM;
      for (i = 0; i < n; i++)
        if (ms_store_copy_value(s, &src.u.items[i], &out->u.items[i]) != MS_OK)
          return MS_ENOMEM;
      return MS_OK;
    default:
      return MS_OK;
  }
}

int ms_record_set(ms_record *r, uint32_t fi, const ms_value *v, ms_err *err) {
  ms_value *f;
  const ms_model *m = r->model;
  if (fi < m->nids && r->stored && !ms_value_eq(&r->fields[fi], v))
    return ms_err_set(err, MS_EINPUT, "%s %.*s: identifier '%s' of a stored "
                      "record cannot change (remove the record and add a new"
                      " one)", m->name, (int)r->uid_len, r->uid, m->fields[fi]);
  f = ms_arena_alloc(&r->store->arena, m->nfields * sizeof *f);
  if (f == NULL) return ms_err_set(err, MS_ENOMEM, "out of memory");
  memcpy(f, r->fields, m->nfields * sizeof *f);
  f[fi] = *v;
  r->fields = f;
  return MS_OK;
}

/* The position of a uid in a child list, or -1: the list's hashes are
   compared first, its strings only where those match. */
static int listed(const ms_uidlist *l, const char *uid, uint32_t n,
                  uint32_t h) {
  uint32_t i;
  for (i = 0; i < l->n; i++)
    if (l->items[i].hash == h && l->items[i].len == n &&
        memcmp(l->items[i].s, uid, n) == 0)
      return (int)i;
  return -1;
}

static void validtypes(ms_buf *b, const ms_model *m) {
  /* Python's repr of sorted(children.keys()) */
  uint32_t i, j, n = m->nchildren;
  const char *sorted[64];
  if (n > 64) n = 64;
  for (i = 0; i < n; i++) sorted[i] = m->children[i].model;
  for (i = 1; i < n; i++)
    for (j = i; j > 0 && strcmp(sorted[j - 1], sorted[j]) > 0; j--) {
      const char *t = sorted[j];
      sorted[j] = sorted[j - 1];
      sorted[j - 1] = t;
    }
  ms_buf_putc(b, '[');
  for (i = 0; i < n; i++) {
    if (i) ms_buf_puts(b, ", ");
    ms_pyrepr_str(b, sorted[i], strlen(sorted[i]));
  }
  ms_buf_putc(b, ']');
}

static int wrongtype(const ms_record *parent, const ms_record *child,
                     const char *verb, ms_err *err) {
  ms_buf b = MS_BUF_INIT;
  int rc;
  validtypes(&b, parent->model);
  rc = ms_err_set(err, MS_ETYPE, "Unable to %s %s as a child of %s; valid "
                  "types are %s", verb, child->model->name, parent->model->name,
                  b.data ? b.data : "[]");
  ms_buf_free(&b);
  return rc;
}

static int append(ms_record *parent, ms_uidlist *l, const ms_record *child,
                  uint32_t hash, ms_err *err) {
  if (l->n == l->cap) {
    /* a loaded list is exactly its size: it grows by half, not double */
    uint32_t cap = l->cap ? l->cap + l->cap / 2 + 4 : 4;
    ms_childref *items = l->cap >= UINT32_MAX / 2 ? NULL
      : ms_arena_alloc(&parent->store->arena, (size_t)cap * sizeof *items);
    if (items == NULL) return ms_err_set(err, MS_ENOMEM, "out of memory");
    if (l->n) memcpy(items, l->items, l->n * sizeof *items);
    l->items = items;
    l->cap = cap;
  }
  l->items[l->n].rec = NULL;
  if (child->store == parent->store) {
    l->items[l->n].s = child->uid;
    l->items[l->n].rec = (ms_record *)child;
  } else {
    l->items[l->n].s = ms_arena_strndup(&parent->store->arena, child->uid,
                                        child->uid_len);
    if (l->items[l->n].s == NULL)
      return ms_err_set(err, MS_ENOMEM, "out of memory");
  }
  l->items[l->n].len = child->uid_len;
  l->items[l->n].hash = hash;
  l->n++;
  return MS_OK;
}

int ms_record_add_child(ms_record *parent, const ms_record *child,
                        ms_err *err) {
  int c = ms_model_child(parent->model, child->model->name);
  ms_uidlist *l;
  uint32_t h;
  if (c < 0) return wrongtype(parent, child, "store", err);
  l = &parent->children[c];
  h = ms_uid_hash(child->uid, child->uid_len);
  if (listed(l, child->uid, child->uid_len, h) >= 0)
    return ms_err_set(err, MS_EEXISTS, "Already storing a %s with unique_id %.*s",
                      child->model->name, (int)child->uid_len, child->uid);
  return append(parent, l, child, h, err);
}

int ms_record_remove_child(ms_record *parent, const ms_record *child,
                           ms_err *err) {
  int c = ms_model_child(parent->model, child->model->name), i;
  ms_uidlist *l;
  if (c < 0) return wrongtype(parent, child, "find and delete", err);
  l = &parent->children[c];
  i = listed(l, child->uid, child->uid_len,
             ms_uid_hash(child->uid, child->uid_len));
  if (i < 0)
    return ms_err_set(err, MS_ENOTFOUND, "%.*s was not found as a child in %s",
                      (int)child->uid_len, child->uid,
                      parent->model->children[c].field);
  memmove(&l->items[i], &l->items[i + 1], (l->n - (uint32_t)i - 1) *
          sizeof *l->items);
  l->n--;
  return MS_OK;
}

int ms_store_copy_record(ms_store *s, int midx, const ms_record *r,
                         ms_record **out, ms_err *err) {
  ms_record *n;
  uint32_t i, c;
  if (s->models[midx]->nfields != r->model->nfields ||
      s->models[midx]->nchildren != r->model->nchildren)
    return ms_err_set(err, MS_ETYPE, "model '%s' of adapter '%s' does not "
                      "match the record's model", s->models[midx]->name, s->name);
  n = ms_store_new_record(s, midx);
  if (n == NULL) goto nomem;
  for (i = 0; i < r->model->nfields; i++)
    if (ms_store_copy_value(s, &r->fields[i], &n->fields[i]) != MS_OK)
      goto nomem;
  for (c = 0; c < r->model->nchildren; c++) {
    const ms_uidlist *l = &r->children[c];
    ms_uidlist *d = &n->children[c];
    if (l->n == 0) continue;
    d->items = ms_arena_alloc(&s->arena, l->n * sizeof *d->items);
    if (d->items == NULL) goto nomem;
    for (i = 0; i < l->n; i++) {
      d->items[i].s = ms_arena_strndup(&s->arena, l->items[i].s,
                                       l->items[i].len);
      if (d->items[i].s == NULL) goto nomem;
      d->items[i].len = l->items[i].len;
      d->items[i].hash = l->items[i].hash;
      d->items[i].rec = NULL;
    }
    d->n = d->cap = l->n;
  }
  n->flags = r->flags;
  {
    const char *msg;
    int st = ms_record_status(r, &msg);
    ms_record_set_status(n, st, msg);
  }
  *out = n;
  return MS_OK;
nomem:
  return ms_err_set(err, MS_ENOMEM, "out of memory");
}

int ms_store_adopt(ms_store *s, int midx, const ms_record *r, ms_record **out,
                   ms_err *err) {
  int rc = ms_store_copy_record(s, midx, r, out, err);
  if (rc == MS_OK) rc = ms_store_insert(s, *out, err);
  return rc;
}

/* {====== status messages ======} */

const char *const ms_status_msgs[MS_MSG_OWN] = {"", "Created successfully",
  "Updated successfully", "Deleted successfully"};

/* {====== values by record ======} */

struct ms_recslot {
  const ms_record *r;
  const void *v;
};

static size_t recslot(const ms_recmap *m, const ms_record *r) {
  size_t mask = m->cap - 1;
  size_t i = (size_t)(((uintptr_t)r >> 3) * 0x9e3779b97f4a7c15ULL >> 20) & mask;
  while (m->slots[i].r != NULL && m->slots[i].r != r) i = (i + 1) & mask;
  return i;
}

int ms_recmap_put(ms_recmap *m, const ms_record *r, const void *v) {
  size_t i;
  if ((m->n + 1) * 2 > m->cap) {
    ms_recmap g;
    g.cap = m->cap ? m->cap * 2 : 16;
    g.n = m->n;
    if ((g.slots = calloc(g.cap, sizeof *g.slots)) == NULL) return MS_ENOMEM;
    for (i = 0; i < m->cap; i++)
      if (m->slots[i].r != NULL) g.slots[recslot(&g, m->slots[i].r)] = m->slots[i];
    free(m->slots);
    *m = g;
  }
  i = recslot(m, r);
  if (m->slots[i].r == NULL) m->n++;
  m->slots[i].r = r;
  m->slots[i].v = v;
  return MS_OK;
}

const void *ms_recmap_get(const ms_recmap *m, const ms_record *r) {
  return m->cap ? m->slots[recslot(m, r)].v : NULL;
}

void ms_recmap_free(ms_recmap *m) {
  free(m->slots);
  memset(m, 0, sizeof *m);
}

/* A message of its own: few records have one, so the store keeps them
   beside the records. */
const char *ms_record_own_msg(const ms_record *r) {
  const char *msg = ms_recmap_get(&r->store->msgs, r);
  return msg ? msg : "";
}

/* Keeps msg as r's own message; MS_ENOMEM when it cannot. */
static int ownmsg(ms_record *r, const char *msg) {
  ms_store *s = r->store;
  const char *copy = ms_arena_strndup(&s->arena, msg, strlen(msg));
  if (copy == NULL) return MS_ENOMEM;
  return ms_recmap_put(&s->msgs, r, copy);
}

void ms_record_set_status(ms_record *r, int status, const char *msg) {
  int k = MS_MSG_NONE;
  if (msg && *msg) {
    /* DiffSync's own messages are shared, not kept per record */
    for (k = MS_MSG_CREATED; k < MS_MSG_OWN && strcmp(ms_status_msgs[k], msg) != 0;
         k++) {}
    if (k == MS_MSG_OWN && ownmsg(r, msg) != MS_OK) k = MS_MSG_NONE;
  }
  r->status = (uint8_t)status;
  r->msg = (uint8_t)k;
  r->mark = 0;  /* out of any pending reset */
}

/* {====== str() ======} */

static void recstr(ms_buf *b, const ms_store *s, const ms_record *r,
                   size_t indent) {
  const ms_model *m = r->model;
  uint32_t c, i;
  ms_buf_fill(b, ' ', indent);
  ms_buf_printf(b, "%s: ", m->name);
  ms_buf_add(b, r->uid, r->uid_len);
  ms_buf_puts(b, ": ");
  ms_fields_repr(b, m, r->fields, m->nids, m->nids + m->nattrs);
  for (c = 0; c < m->nchildren; c++) {
    const ms_uidlist *l = &r->children[c];
    int cm = ms_store_model(s, m->children[c].model);
    ms_buf_putc(b, '\n');
    ms_buf_fill(b, ' ', indent + 2);
    ms_buf_puts(b, m->children[c].field);
    if (l->n == 0) { ms_buf_puts(b, ": []"); continue; }
    ms_store_touch(s, cm);  /* DiffSync's str() looks each child up */
    for (i = 0; i < l->n; i++) {
      ms_record *ch = ms_store_child(s, cm, &l->items[i]);
      ms_buf_putc(b, '\n');
      if (ch != NULL) {
        recstr(b, s, ch, indent + 4);
      } else {
        ms_buf_fill(b, ' ', indent + 4);
        ms_buf_add(b, l->items[i].s, l->items[i].len);
        ms_buf_puts(b, " (ERROR: details unavailable)");
      }
    }
  }
}

void ms_store_str(ms_buf *b, const ms_store *s) {
  uint32_t t;
  size_t i;
  for (t = 0; t < s->ntop; t++) {
    int mi = ms_store_model(s, s->top_level[t]);
    const ms_recvec *v = &s->bymodel[mi];
    if (t) ms_buf_putc(b, '\n');
    ms_buf_puts(b, s->top_level[t]);
    if (v->live == 0) { ms_buf_puts(b, ": []"); continue; }
    for (i = 0; i < v->n; i++) {
      if (!v->items[i]->stored) continue;
      ms_buf_putc(b, '\n');
      recstr(b, s, v->items[i], 2);
    }
  }
}
