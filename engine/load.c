/*
** load.c: data documents straight into records (fixture.h). The text is
** read once, front to back, and each record is built while its object is
** read: no document tree is kept. Strings are copied into the store's
** arena, a repeated one once (interned); a file is mapped, not read, and
** the pages behind the reader are released as it goes, so that a load
** holds little more than the records it builds.
**
** The order is DiffSync's: a record is added, linked to its parent, then
** its children are loaded, field by field in the model's order. A
** children list that comes before the record's identifiers, or before a
** children list of an earlier field, is skipped and read again once the
** record is complete.
*/
#include "fixture.h"

#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "json.h"
#include "jsonp.h"

#define RELEASE_STEP ((size_t)16 * 1024 * 1024)  /* pages let go at a time */
#define PROGRESS_STEP ((size_t)1024 * 1024)
#define SIZE_SAMPLE ((size_t)2 * 1024 * 1024)    /* text read before sizing */

/* {====== the loader ======} */

typedef struct seg {
  const struct seg *up;
  const char *field;
  size_t flen, index;
} seg;

typedef struct loader {
  parser ps;
  ms_store *st;
  int skip;                     /* skip duplicates with their subtree */
  ms_arena scratch;             /* escaped keys, values being copied */
  ms_err *err;
  const char *docname;
  ms_internstat **stats;        /* per model, per field */
  size_t **flens;               /* per model, field name lengths */
  size_t **clens;               /* per model, children field lengths */
  /* per model, the key that followed each key last time (a field i, or
     nfields + a children field; [0]: the first key), or -1: objects of a
     model mostly list their keys in one order */
  int **after;
  ms_text *text;                /* a mapped file, or NULL */
  /* the children of the lists being read, gathered so that each list gets
     an array of its exact size */
  ms_childref *kids;
  size_t nkids, capkids;
  ms_buf uid;                   /* a record's uid being built */
  /* the store's size once enough text was read to tell */
  size_t *before;               /* records per model when the load began */
  int sized;
  /* progress */
  const ms_load_progress *progress;
  const char *reported;
  uint64_t records;
  /* a record whose uid was already stored and its place; once the text
     is read again to find the first one (hunt), that one's place */
  const ms_record *dup;
  int hunt;
  ms_buf dup_at, first_at;
} loader;

static const char *tname_at(const char *p) {
  switch (*p) {
    case '{': return "an object";
    case '[': return "a list";
    case '"': return "a string";
    case 't': case 'f': return "a boolean";
    case 'n': return "null";
    default: return (*p == '-' || (*p >= '0' && *p <= '9')) ? "a number"
                                                            : "something else";
  }
}

static void pathstr(ms_buf *b, const seg *s) {
  if (s == NULL) return;
  pathstr(b, s->up);
  if (s->up) ms_buf_putc(b, '.');
  ms_buf_add(b, s->field, s->flen);
  ms_buf_printf(b, "[%zu]", s->index);
}

static int recfail(loader *ld, const seg *at, int code, const char *fmt,
                   const char *a1, const char *a2) {
  ms_buf b = MS_BUF_INIT;
  char msg[512];
  snprintf(msg, sizeof msg, fmt, a1, a2);
  pathstr(&b, at);
  ms_err_set(ld->err, code, "%s: %s: %s", ld->docname, b.data ? b.data : "",
             msg);
  ms_buf_free(&b);
  return code;
}

static int oom(loader *ld) {
  return ms_err_set(ld->err, MS_ENOMEM, "%s: out of memory", ld->docname);
}

/* {====== values ======} */

/* Skips a value, checking its syntax: what it builds is scratch. */
static int skipval(loader *ld, int depth) {
  ms_value v;
  return ms_jp_value(&ld->ps, &v, depth);
}

/* A field's value, its strings in the store's arena. */
static int fieldval(loader *ld, ms_internstat *fs, ms_value *out, int depth) {
  parser *ps = &ld->ps;
  int rc;
  ms_jp_skipws(ps);
  if (*ps->p == '"') {
    const char *s;
    ps->p++;
    if ((rc = ms_jp_string(ps, out)) != MS_OK) return rc;
    if ((s = ms_store_keep(ld->st, fs, out->u.s, out->len)) == NULL) return oom(ld);
    out->u.s = s;
    return MS_OK;
  }
  if ((rc = ms_jp_value(ps, out, depth)) != MS_OK) return rc;
  /* a tree in the scratch arena, its strings in the text: into the store */
  if ((out->type == MS_LIST || out->type == MS_MAP) &&
      ms_store_copy_value(ld->st, out, out) != MS_OK)
    return oom(ld);
  return MS_OK;
}

/* Model flags from a list of names; -1 when not one, *bad naming an
   unknown name. */
static int flaglist(const ms_value *v, uint32_t *flags, const ms_value **bad) {
  uint32_t i;
  if (v->type == MS_NIL) return 0;
  if (v->type != MS_LIST) return -1;
  *flags = 0;
  for (i = 0; i < v->len; i++) {
    const ms_value *f = &v->u.items[i];
    char name[64];
    if (f->type != MS_STR || f->len >= sizeof name) return -1;
    memcpy(name, f->u.s, f->len);
    name[f->len] = '\0';
    if (ms_flag_parse(name, 1, flags) != 0) {
      *bad = f;
      return -1;
    }
  }
  return 0;
}

/* {====== records ======} */

static int loadlist(loader *ld, int cm, ms_record *parent, uint32_t c,
                    const seg *at, int depth);

/* Sets r's uid (its identifiers are all read) and its index hash in *h,
   and asks for its index slot: the record's other fields are read while
   the slot comes in. */
static int uidnow(loader *ld, ms_record *r, uint64_t *h) {
  if (ms_record_uid_in(r, &ld->uid) != MS_OK) return oom(ld);
  *h = ms_store_keyhash(r->midx, r->uid, r->uid_len);
  ms_store_prefetch(ld->st, *h);
  return MS_OK;
}

/* Adds r and links it to its parent; *h is its hash when `hashed`
   (uidnow ran on its final identifiers); seen[i] tells whether field i
   was in the record. *dropped is set when r duplicates a record and
   duplicates are skipped. While hunting, nothing is added: the record
   that has the duplicate's uid ends the hunt (MS_EEXISTS), its place in
   ld->first_at. */
static int place(loader *ld, ms_record *r, ms_record *parent, int hashed,
                 uint64_t h, const seg *at, const uint8_t *seen, int *dropped) {
  char msg[MS_ERR_MSG];
  uint32_t i;
  int rc;
  *dropped = 0;
  for (i = 0; i < r->model->nids; i++)
    if (!seen[i]) {
      ms_err_missing_id(ld->err, r->model, i);
      memcpy(msg, ld->err->msg, sizeof msg);
      return recfail(ld, at, MS_EVALIDATION, "%s", msg, NULL);
    }
  if (!hashed && (rc = uidnow(ld, r, &h)) != MS_OK) return rc;
  if (ld->hunt) {
    if (r->midx != ld->dup->midx || r->uid_len != ld->dup->uid_len ||
        memcmp(r->uid, ld->dup->uid, r->uid_len) != 0)
      return MS_OK;
    pathstr(&ld->first_at, at);
    return MS_EEXISTS;
  }
  rc = ms_store_insert_hashed(ld->st, r, h, ld->err);
  if (rc == MS_EEXISTS && ld->skip) {
    *dropped = 1;
    return MS_OK;
  }
  if (rc == MS_EEXISTS) {
    /* named with the first's place once the load has stopped */
    pathstr(&ld->dup_at, at);
    ld->dup = r;
    return rc;
  }
  if (rc == MS_OK && parent != NULL) {
    if (ld->nkids == ld->capkids) {
      size_t cap = ld->capkids ? ld->capkids * 2 : 1024;
      ms_childref *k = realloc(ld->kids, cap * sizeof *k);
      if (k == NULL) return oom(ld);
      ld->kids = k;
      ld->capkids = cap;
    }
    ld->kids[ld->nkids].s = r->uid;
    ld->kids[ld->nkids].len = r->uid_len;
    ld->kids[ld->nkids].hash = ms_keyhash_uid(h, r->midx);
    ld->kids[ld->nkids].rec = r;
    ld->nkids++;
  }
  if (rc != MS_OK) {
    memcpy(msg, ld->err->msg, sizeof msg);
    return recfail(ld, at, rc, "%s", msg, NULL);
  }
  ld->records++;
  return MS_OK;
}

enum { C_NONE = 0, C_DONE, C_DEFERRED };

static int loadrec(loader *ld, int midx, ms_record *parent, const seg *at,
                   int depth) {
  parser *ps = &ld->ps;
  ms_store *st = ld->st;
  const ms_model *m = st->models[midx];
  const size_t *flens = ld->flens[midx], *clens = ld->clens[midx];
  int *after = ld->after[midx], prev = -1;
  ms_record *r;
  uint8_t *seen, *cstate;         /* per field, per children field */
  const char **deferred = NULL;   /* where a deferred list starts */
  uint32_t nids = 0, c;
  uint64_t h = 0;                 /* the uid's hash once it is known */
  int hashed = 0, placed = 0, dropped = 0, rc;
  if (depth > MS_JSON_MAX_DEPTH)
    return ms_jp_fail(ps, ps->p, "nesting deeper than 16384 levels");
  ms_jp_skipws(ps);
  if (*ps->p != '{')
    return recfail(ld, at, MS_EINPUT, "expected a %s record (an object), got %s",
                   m->name, tname_at(ps->p));
  r = ms_store_new_record(st, midx);
  /* the frame lives in the scratch arena, not on the stack: records nest
     as deep as the text does */
  seen = ms_arena_alloc(&ld->scratch, m->nfields + m->nchildren);
  if (r == NULL || seen == NULL) return oom(ld);
  cstate = seen + m->nfields;
  memset(seen, 0, m->nfields + m->nchildren);
  ps->p++;
  ms_jp_skipws(ps);
  if (*ps->p != '}') {
    for (;;) {
      ms_value k;
      uint32_t i;
      int fi = -1, ci = -1, g = after[prev + 1];
      if ((rc = ms_jp_key(ps, &k)) != MS_OK) return rc;
      if (g >= 0 && (uint32_t)g < m->nfields && flens[g] == k.len &&
          ms_jp_same(m->fields[g], k.u.s, k.len)) {
        fi = g;
      } else if (g >= (int)m->nfields &&
                 clens[g - (int)m->nfields] == k.len &&
                 ms_jp_same(m->children[g - (int)m->nfields].field, k.u.s, k.len)) {
        ci = g - (int)m->nfields;
      } else {
        for (i = 0; i < m->nfields; i++)
          if (flens[i] == k.len && ms_jp_same(m->fields[i], k.u.s, k.len)) {
            fi = (int)i;
            break;
          }
        if (fi < 0)
          for (i = 0; i < m->nchildren; i++)
            if (clens[i] == k.len && ms_jp_same(m->children[i].field, k.u.s, k.len)) {
              ci = (int)i;
              break;
            }
      }
      if (fi >= 0 || ci >= 0) {
        g = fi >= 0 ? fi : (int)m->nfields + ci;
        after[prev + 1] = g;
        prev = g;
      }
      if (fi >= 0) {
        /* a key given twice is an error, not last-wins */
        if (seen[fi])
          return recfail(ld, at, MS_EINPUT, "key '%s' comes twice in the "
                         "record%s", m->fields[fi], "");
        seen[fi] = 1;
        if ((rc = fieldval(ld, &ld->stats[midx][fi], &r->fields[fi], depth + 1))
            != MS_OK)
          return rc;
        if ((uint32_t)fi < m->nids) {
          nids++;
          /* all identifiers read */
          if (nids == m->nids && !placed) {
            if ((rc = uidnow(ld, r, &h)) != MS_OK) return rc;
            hashed = 1;
          }
        }
      } else if (ci >= 0) {
        int ready = nids == m->nids;
        if (cstate[ci] != C_NONE)
          return recfail(ld, at, MS_EINPUT, "children field '%s' comes twice%s",
                         m->children[ci].field, "");
        for (c = 0; c < (uint32_t)ci && ready; c++)
          if (cstate[c] != C_DONE) ready = 0;
        if (ready && !placed) {
          if ((rc = place(ld, r, parent, hashed, h, at, seen, &dropped)) != MS_OK)
            return rc;
          placed = 1;
        }
        if (ready && !dropped) {
          int cm = ms_store_model(st, m->children[ci].model);
          cstate[ci] = C_DONE;
          if (cm < 0)
            return recfail(ld, at, MS_ESCHEMA, "child model '%s' is not a model "
                           "of this adapter%s", m->children[ci].model, "");
          rc = loadlist(ld, cm, r, (uint32_t)ci, at, depth + 1);
        } else {
          /* read again once the record is complete (or never: dropped) */
          if (deferred == NULL &&
              (deferred = ms_arena_alloc(&ld->scratch,
                                         m->nchildren * sizeof *deferred)) == NULL)
            return oom(ld);
          ms_jp_skipws(ps);
          cstate[ci] = dropped ? C_DONE : C_DEFERRED;
          deferred[ci] = ps->p;
          rc = skipval(ld, depth + 1);
        }
        if (rc != MS_OK) return rc;
      } else if (k.len == 6 && memcmp(k.u.s, "_flags", 6) == 0) {
        ms_value v;
        const ms_value *bad = NULL;
        uint32_t flags = r->flags;
        if ((rc = ms_jp_value(ps, &v, depth + 1)) != MS_OK) return rc;
        if (flaglist(&v, &flags, &bad) != 0) {
          char name[64];
          if (bad == NULL)
            return recfail(ld, at, MS_EINPUT, "_flags: expected a list of model "
                           "flag names%s%s", "", "");
          snprintf(name, sizeof name, "%.*s", (int)(bad->len < 48 ? bad->len : 48),
                   bad->u.s);
          return recfail(ld, at, MS_EINPUT, "_flags: unknown model flag '%s'%s",
                         name, "");
        }
        r->flags = (uint16_t)flags;
      } else {
        if ((rc = skipval(ld, depth + 1)) != MS_OK) return rc;  /* ignored */
      }
      ms_jp_skipws(ps);
      if (*ps->p == ',') { ps->p++; ms_jp_skipws(ps); continue; }
      if (*ps->p == '}') break;
      return ms_jp_fail(ps, ps->p, "expected ',' or '}' in object");
    }
  }
  ps->p++;
  if (!placed &&
      (rc = place(ld, r, parent, hashed, h, at, seen, &dropped)) != MS_OK)
    return rc;
  for (c = 0; c < m->nchildren; c++) {
    const char *resume;
    int cm;
    if (cstate[c] != C_DEFERRED || dropped) continue;
    cm = ms_store_model(st, m->children[c].model);
    if (cm < 0)
      return recfail(ld, at, MS_ESCHEMA, "child model '%s' is not a model of "
                     "this adapter%s", m->children[c].model, "");
    resume = ps->p;
    ps->p = deferred[c];
    rc = loadlist(ld, cm, r, c, at, depth + 1);
    ps->p = resume;
    if (rc != MS_OK) return rc;
  }
  return MS_OK;
}

/* Appends the children gathered since `base` to the parent's list `c`,
   in one array of the right size. */
static int adopt(loader *ld, ms_record *parent, uint32_t c, size_t base) {
  ms_uidlist *l = &parent->children[c];
  size_t n = ld->nkids - base;
  ms_childref *items;
  if (n == 0) return MS_OK;
  if (l->n + n > UINT32_MAX) return oom(ld);
  items = ms_arena_alloc(&ld->st->arena, (l->n + n) * sizeof *items);
  if (items == NULL) return oom(ld);
  if (l->n) memcpy(items, l->items, l->n * sizeof *items);
  memcpy(items + l->n, ld->kids + base, n * sizeof *items);
  l->items = items;
  l->n = l->cap = (uint32_t)(l->n + n);
  ld->nkids = base;
  return MS_OK;
}

static int loadlist(loader *ld, int cm, ms_record *parent, uint32_t c,
                    const seg *at, int depth) {
  parser *ps = &ld->ps;
  size_t base = ld->nkids;
  const char *field = parent->model->children[c].field;
  seg s;
  int rc;
  ms_jp_skipws(ps);
  if (*ps->p == 'n') return ms_jp_literal(ps, "null", 4);
  if (*ps->p != '[')
    return recfail(ld, at, MS_EINPUT, "children field '%s' must be a list of "
                   "records, got %s", field, tname_at(ps->p));
  s.up = at;
  s.field = field;
  s.flen = ld->clens[parent->midx][c];
  s.index = 0;
  ps->p++;
  ms_jp_skipws(ps);
  if (*ps->p == ']') { ps->p++; return MS_OK; }
  for (;;) {
    if ((rc = loadrec(ld, cm, parent, &s, depth + 1)) != MS_OK) return rc;
    ms_jp_skipws(ps);
    if (*ps->p == ',') { ps->p++; s.index++; continue; }
    if (*ps->p == ']') { ps->p++; return adopt(ld, parent, c, base); }
    return ms_jp_fail(ps, ps->p, "expected ',' or ']' in array");
  }
}

/* Once a few MB of text are read, the records they made tell how many the
   whole text makes, per model: the index and the lists are sized once. */
static int size_store(loader *ld) {
  ms_store *st = ld->st;
  size_t done = (size_t)(ld->ps.p - ld->ps.start), total = (size_t)(ld->ps.end - ld->ps.start);
  size_t *per = calloc(st->nmodels + 1, sizeof *per), all = st->count, m;
  int rc;
  if (per == NULL) return MS_ENOMEM;
  for (m = 0; m < st->nmodels; m++) {
    size_t made = st->bymodel[m].n - ld->before[m];
    double more = (double)made * (double)(total - done) / (double)done;
    /* a list takes a tenth more than the proportion, in case the text
       thins out (its memory is only taken where used); the index, written
       whole when allocated, the proportion: the margin could double it,
       and should the text make more, it grows once */
    per[m] = st->bymodel[m].n + (size_t)(more * 1.1);
    all += (size_t)more;
  }
  rc = ms_store_reserve(st, all, per);
  free(per);
  return rc;
}

/* Between top-level records: sizes the store, lets go of the pages read
   and of scratch values, and reports progress. */
static int between(loader *ld) {
  const char *p = ld->ps.p;
  if (!ld->sized && (size_t)(p - ld->ps.start) >= SIZE_SAMPLE) {
    ld->sized = 1;
    if (size_store(ld) != MS_OK) return oom(ld);
  }
  if (ld->scratch.total > ((size_t)1 << 20)) {
    ms_arena_free(&ld->scratch);
    ms_arena_init(&ld->scratch);
  }
  if (ld->text != NULL) ms_text_release(ld->text, p, RELEASE_STEP);
  if (ld->progress && ld->progress->fn &&
      (size_t)(p - ld->reported) >= PROGRESS_STEP) {
    ld->reported = p;
    ld->progress->fn(ld->progress->ud, (uint64_t)(p - ld->ps.start),
                     (uint64_t)(ld->ps.end - ld->ps.start), ld->records);
  }
  return MS_OK;
}

/* Is model `name` one of the store's top-level models? */
static int toplevel(const ms_store *st, const char *name) {
  uint32_t i;
  for (i = 0; i < st->ntop; i++)
    if (strcmp(st->top_level[i], name) == 0) return 1;
  return 0;
}

static int document(loader *ld) {
  parser *ps = &ld->ps;
  ms_store *st = ld->st;
  uint8_t *listed;  /* per model: its list was read */
  int rc;
  ms_jp_skipws(ps);
  if (*ps->p != '{') {
    if (ps->p >= ps->end) return ms_jp_fail(ps, ps->p, "unexpected end of input");
    return ms_err_set(ld->err, MS_EINPUT, "%s: expected an object {model: "
                      "[records]}, got %s", ld->docname, tname_at(ps->p));
  }
  ps->p++;
  ms_jp_skipws(ps);
  if (*ps->p == '}') { ps->p++; return MS_OK; }
  listed = ms_arena_alloc(&ld->scratch, st->nmodels + 1);
  if (listed == NULL) return oom(ld);
  memset(listed, 0, st->nmodels + 1);
  for (;;) {
    ms_value k;
    char name[256];
    int midx;
    seg s;
    const char *keyat = ps->p;
    if ((rc = ms_jp_key(ps, &k)) != MS_OK) return rc;
    ms_jp_skipws(ps);
    snprintf(name, sizeof name, "%.*s", (int)(k.len < 255 ? k.len : 255), k.u.s);
    midx = (k.len < 255 && memchr(k.u.s, 0, k.len) == NULL)
           ? ms_store_model(st, name) : -1;
    if (midx < 0) {
      ms_buf b = MS_BUF_INIT;
      uint32_t m;
      for (m = 0; m < st->nmodels; m++) {
        if (m) ms_buf_puts(&b, ", ");
        ms_buf_puts(&b, st->models[m]->name);
      }
      rc = ms_err_set(ld->err, MS_EINPUT, "%s: unknown model '%s' (models: %s)",
                      ld->docname, name, b.data ? b.data : "none");
      ms_buf_free(&b);
      return rc;
    }
    if (listed[midx]) {
      char what[320];
      snprintf(what, sizeof what, "the document lists model '%s' twice", name);
      return ms_jp_fail(ps, keyat, what);
    }
    listed[midx] = 1;
    if (*ps->p != '[')
      return ms_err_set(ld->err, MS_EINPUT, "%s: %s: expected a list of "
                        "records, got %s", ld->docname, name, tname_at(ps->p));
    ps->p++;
    ms_jp_skipws(ps);
    if (*ps->p != ']' && !toplevel(st, name)) {
      /* it would be stored, never diffed, and lost on the next write */
      ms_buf b = MS_BUF_INIT;
      uint32_t t;
      for (t = 0; t < st->ntop; t++) {
        if (t) ms_buf_puts(&b, ", ");
        ms_buf_puts(&b, st->top_level[t]);
      }
      rc = ms_err_set(ld->err, MS_EINPUT, "%s: %s[0]: %s is not a top-level "
                      "model of this adapter (top level: %s): nest its records "
                      "under their parent", ld->docname, name, name,
                      b.data ? b.data : "none");
      ms_buf_free(&b);
      return rc;
    }
    s.up = NULL;
    s.field = k.u.s;
    s.flen = k.len;
    s.index = 0;
    if (*ps->p != ']') {
      for (;;) {
        if ((rc = loadrec(ld, midx, NULL, &s, 2)) != MS_OK) return rc;
        if ((rc = between(ld)) != MS_OK) return rc;
        ms_jp_skipws(ps);
        if (*ps->p == ',') { ps->p++; s.index++; continue; }
        if (*ps->p == ']') break;
        return ms_jp_fail(ps, ps->p, "expected ',' or ']' in array");
      }
    }
    ps->p++;
    ms_jp_skipws(ps);
    if (*ps->p == ',') { ps->p++; ms_jp_skipws(ps); continue; }
    if (*ps->p == '}') { ps->p++; break; }
    return ms_jp_fail(ps, ps->p, "expected ',' or '}' in object");
  }
  return ms_jp_end(ps);
}

/* The duplicate uid found (rc MS_EEXISTS) as an error naming both
   records' places: the text is read again, adding nothing, up to the
   first record with that uid. */
static int duplicate(loader *ld, const char *text, size_t len) {
  const ms_record *dup = ld->dup;
  ms_err *err = ld->err, scratch;
  const ms_record *first = ms_store_find(ld->st, dup->midx, dup->uid, dup->uid_len);
  ms_buf why = MS_BUF_INIT;
  int found;
  free(ld->ps.stack);
  ms_arena_free(&ld->scratch);
  ms_arena_init(&ld->scratch);
  ms_jp_init(&ld->ps, text, len, ld->docname, &ld->scratch, &scratch);
  ld->err = &scratch;
  ld->hunt = ld->sized = 1;
  ld->text = NULL;
  ld->progress = NULL;
  ld->nkids = 0;
  found = document(ld) == MS_EEXISTS && ld->first_at.len > 0;
  ld->err = err;
  if (first != NULL) ms_ids_contrast(&why, first, dup);
  if (why.oom || ld->first_at.oom || ld->dup_at.oom) {
    ms_buf_free(&why);
    return oom(ld);
  }
  ms_err_set(err, MS_EEXISTS, "%s: %s: Object %.*s already present (the %s %s%s "
             "has the same uid%s)", ld->docname, ld->dup_at.data ? ld->dup_at.data : "",
             (int)dup->uid_len, dup->uid, dup->model->name,
             found ? "at " : "stored before this document",
             found ? ld->first_at.data : "", why.data ? why.data : "");
  ms_buf_free(&why);
  return MS_EEXISTS;
}

static int run(ms_store *st, const char *text, size_t len, const char *name,
               ms_text *mapped, const ms_load_opts *o, ms_err *err) {
  loader ld;
  uint32_t i, j;
  int rc = MS_OK;
  memset(&ld, 0, sizeof ld);
  ld.st = st;
  ld.skip = o ? o->skip_dups : 0;
  ld.progress = o ? &o->progress : NULL;
  ld.err = err;
  ld.docname = name;
  ld.text = mapped;
  ld.reported = text;
  ms_arena_init(&ld.scratch);
  ms_jp_init(&ld.ps, text, len, name, &ld.scratch, err);
  ld.stats = calloc(st->nmodels + 1, sizeof *ld.stats);
  ld.flens = calloc(st->nmodels + 1, sizeof *ld.flens);
  ld.clens = calloc(st->nmodels + 1, sizeof *ld.clens);
  ld.after = calloc(st->nmodels + 1, sizeof *ld.after);
  if (!ld.stats || !ld.flens || !ld.clens || !ld.after) rc = oom(&ld);
  for (i = 0; i < st->nmodels && rc == MS_OK; i++) {
    const ms_model *m = st->models[i];
    ld.stats[i] = calloc(m->nfields + 1, sizeof **ld.stats);
    ld.flens[i] = calloc(m->nfields + 1, sizeof **ld.flens);
    ld.clens[i] = calloc(m->nchildren + 1, sizeof **ld.clens);
    ld.after[i] = malloc((m->nfields + m->nchildren + 1) * sizeof **ld.after);
    if (!ld.stats[i] || !ld.flens[i] || !ld.clens[i] || !ld.after[i]) {
      rc = oom(&ld);
      break;
    }
    for (j = 0; j < m->nfields; j++) ld.flens[i][j] = strlen(m->fields[j]);
    for (j = 0; j < m->nchildren; j++) ld.clens[i][j] = strlen(m->children[j].field);
    for (j = 0; j < m->nfields + m->nchildren + 1; j++) ld.after[i][j] = -1;
  }
  ld.before = calloc(st->nmodels + 1, sizeof *ld.before);
  if (ld.before == NULL) rc = oom(&ld);
  for (i = 0; i < st->nmodels && rc == MS_OK; i++) ld.before[i] = st->bymodel[i].n;
  if (rc == MS_OK) rc = document(&ld);
  if (rc == MS_EEXISTS && ld.dup != NULL) rc = duplicate(&ld, text, len);
  if (rc == MS_OK && ld.progress && ld.progress->fn)
    ld.progress->fn(ld.progress->ud, len, len, ld.records);
  for (i = 0; i < st->nmodels; i++) {
    if (ld.stats) free(ld.stats[i]);
    if (ld.flens) free(ld.flens[i]);
    if (ld.clens) free(ld.clens[i]);
    if (ld.after) free(ld.after[i]);
  }
  free(ld.stats);
  free(ld.flens);
  free(ld.clens);
  free(ld.after);
  free(ld.before);
  free(ld.kids);
  ms_buf_free(&ld.uid);
  ms_buf_free(&ld.dup_at);
  ms_buf_free(&ld.first_at);
  free(ld.ps.stack);
  ms_arena_free(&ld.scratch);
  return rc;
}

int ms_load_file_opts(ms_store *st, const char *path, const ms_load_opts *o,
                      ms_err *err) {
  ms_text t;
  int rc = ms_text_map(path, &t, err);
  if (rc != MS_OK) return rc;
  rc = run(st, t.data, t.len, path, &t, o, err);
  ms_text_unmap(&t);
  return rc;
}

typedef struct loadjob {
  ms_store *st;
  const char *path;
  const ms_load_opts *o;
  ms_err *err;
  int rc;
} loadjob;

static void *loadone(void *p) {
  loadjob *j = p;
  j->rc = ms_load_file_opts(j->st, j->path, j->o, j->err);
  return NULL;
}

int ms_load_pair(ms_store *st[2], const char *path[2], const ms_load_opts o[2],
                 ms_err err[2], int *which) {
  loadjob j[2];
  pthread_t th;
  int i, threaded;
  for (i = 0; i < 2; i++) {
    j[i].st = st[i];
    j[i].path = path[i];
    j[i].o = &o[i];
    j[i].err = &err[i];
  }
  threaded = pthread_create(&th, NULL, loadone, &j[1]) == 0;
  loadone(&j[0]);
  if (threaded) pthread_join(th, NULL);
  else loadone(&j[1]);
  for (i = 0; i < 2; i++)
    if (j[i].rc != MS_OK) {
      *which = i;
      return j[i].rc;
    }
  return MS_OK;
}

int ms_load_file(ms_store *st, const char *path, int skip_dups, ms_err *err) {
  ms_load_opts o;
  memset(&o, 0, sizeof o);
  o.skip_dups = skip_dups;
  return ms_load_file_opts(st, path, &o, err);
}

int ms_load_text(ms_store *st, const char *text, size_t len, const char *name,
                 int skip_dups, ms_err *err) {
  ms_load_opts o;
  memset(&o, 0, sizeof o);
  o.skip_dups = skip_dups;
  /* the reader needs a NUL after the text: a Lua string has one, other
     callers give len + 1 readable bytes */
  return run(st, text, len, name ? name : "<json>", NULL, &o, err);
}
