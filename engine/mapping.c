/*
** mapping.c: declarative mappings from source documents to records
** (mapping.h). Everything but Lua transforms and filters runs here, so a
** mapping without them costs a path walk per field and no Lua call.
*/
#include "mapping.h"
#include "jsonp.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void ms_mapping_clear(ms_mapping *m) {
  uint32_t i;
  int k;
  for (i = 0; i < m->nfields; i++) {
    ms_mapfield *f = &m->fields[i];
    free(f->field);
    free(f->path);
    free(f->ref_model);
    free(f->ref_field);
    for (k = 0; k < f->nsteps; k++) free(f->steps[k].key);
  }
  for (i = 0; i < m->nwhere; i++) free(m->where[i].path);
  for (i = 0; i < m->nparent; i++) free(m->parent_ids[i]);
  free(m->fields);
  free(m->where);
  free(m->parent_ids);
  free(m->name);
  free(m->model);
  free(m->from);
  free(m->id);
  free(m->parent_model);
  ms_arena_free(&m->arena);
  memset(m, 0, sizeof *m);
  m->lua_filter = -1;
}

/* A step of a dotted path: a map key, or a list index (0-based) when it
   is all digits. A step kept for a run remembers where in an object its
   key was found last (the objects of one source mostly list their keys
   in one order). */
typedef struct pathstep {
  const char *key;
  uint32_t len;
  uint32_t hint;
  long index;  /* the step as a list index, or -1 */
} pathstep;

/* Reads the step at *p and moves *p past it and its dot. */
static void readstep(const char **p, pathstep *st) {
  const char *dot = strchr(*p, '.');
  size_t len = dot ? (size_t)(dot - *p) : strlen(*p);
  st->key = *p;
  st->len = (uint32_t)len;
  st->hint = 0;
  st->index = len > 0 && strspn(*p, "0123456789") >= len ? (long)strtoul(*p, NULL, 10) : -1;
  *p += len;
  if (**p == '.') (*p)++;
}

/* The value one step into v, or NULL. */
static const ms_value *stepinto(const ms_value *v, pathstep *st) {
  const ms_value *k;
  uint32_t j;
  if (v->type == MS_MAP) {
    if (st->hint < v->len) {
      k = &v->u.items[2 * st->hint];
      if (k->len == st->len && ms_jp_same(k->u.s, st->key, st->len)) return k + 1;
    }
    for (j = 0, k = v->u.items; j < v->len; j++, k += 2)
      if (k->len == st->len && ms_jp_same(k->u.s, st->key, st->len)) break;
    st->hint = j;
    return j < v->len ? k + 1 : NULL;
  }
  if (v->type == MS_LIST && st->index >= 0)
    return (size_t)st->index < v->len ? &v->u.items[st->index] : NULL;
  return NULL;
}

/* Walks a dotted path; NULL when any step is missing. */
static const ms_value *getpath(const ms_value *v, const char *path) {
  const char *p = path;
  pathstep st;
  while (v != NULL && *p) {
    readstep(&p, &st);
    v = stepinto(v, &st);
  }
  return v;
}

/* A path read once for a run. */
typedef struct cpath {
  pathstep *steps;
  uint32_t n;
} cpath;

static int compile(ms_arena *a, const char *path, cpath *out) {
  const char *p;
  uint32_t n = 0;
  out->n = 0;
  out->steps = NULL;
  if (path == NULL) return MS_OK;
  for (p = path; *p; p++) n += *p == '.';
  if ((out->steps = ms_arena_alloc(a, (n + 1) * sizeof *out->steps)) == NULL)
    return MS_ENOMEM;
  for (p = path; *p;) readstep(&p, &out->steps[out->n++]);
  return MS_OK;
}

static const ms_value *walk(const ms_value *v, const cpath *c) {
  uint32_t i;
  for (i = 0; v != NULL && i < c->n; i++) v = stepinto(v, &c->steps[i]);
  return v;
}

static const char *tname(const ms_value *v) {
  static const char *names[] = {"null", "a boolean", "an integer", "a float",
                                "a string", "a list", "an object"};
  return names[v->type];
}

int ms_mapping_check(const ms_mapping *m, const ms_store *s, ms_err *err) {
  int mi = ms_store_model(s, m->model);
  const ms_model *model;
  uint32_t i, k;
  if (mi < 0)
    return ms_err_set(err, MS_ESCHEMA, "mapping '%s': adapter '%s' has no model "
                      "'%s'", m->name, s->name, m->model);
  model = s->models[mi];
  for (i = 0; i < m->nfields; i++) {
    const ms_mapfield *f = &m->fields[i];
    if (ms_model_field(model, f->field, strlen(f->field)) < 0)
      return ms_err_set(err, MS_ESCHEMA, "mapping '%s': model '%s' has no field "
                        "'%s'", m->name, m->model, f->field);
    if (f->ref_model) {
      int rm = ms_store_model(s, f->ref_model);
      if (rm < 0 || ms_model_field(s->models[rm], f->ref_field,
                                   strlen(f->ref_field)) < 0)
        return ms_err_set(err, MS_ESCHEMA, "mapping '%s': field '%s' refers to "
                          "%s.%s, which the adapter does not have", m->name,
                          f->field, f->ref_model, f->ref_field);
    }
  }
  for (k = 0; k < model->nids; k++) {
    for (i = 0; i < m->nfields; i++)
      if (strcmp(m->fields[i].field, model->fields[k]) == 0) break;
    if (i == m->nfields)
      return ms_err_set(err, MS_ESCHEMA, "mapping '%s': identifier '%s' of model "
                        "'%s' is not mapped", m->name, model->fields[k], m->model);
  }
  if (m->parent_model) {
    int pm = ms_store_model(s, m->parent_model);
    if (pm < 0)
      return ms_err_set(err, MS_ESCHEMA, "mapping '%s': parent model '%s' is not "
                        "a model of adapter '%s'", m->name, m->parent_model, s->name);
    if (m->nparent != s->models[pm]->nids)
      return ms_err_set(err, MS_ESCHEMA, "mapping '%s': parent '%s' has %u "
                        "identifiers, the mapping gives %u", m->name,
                        m->parent_model, s->models[pm]->nids, m->nparent);
    if (ms_model_child(s->models[pm], m->model) < 0)
      return ms_err_set(err, MS_ESCHEMA, "mapping '%s': model '%s' is not a child "
                        "of '%s'", m->name, m->model, m->parent_model);
    for (k = 0; k < m->nparent; k++)
      if (ms_model_field(model, m->parent_ids[k], strlen(m->parent_ids[k])) < 0)
        return ms_err_set(err, MS_ESCHEMA, "mapping '%s': parent identifier comes "
                          "from '%s', which model '%s' does not have", m->name,
                          m->parent_ids[k], m->model);
  }
  return MS_OK;
}

/* {====== normalizers ======} */

static int needstr(const ms_value *in, const char *what, ms_err *err) {
  if (in->type == MS_STR) return MS_OK;
  return ms_err_set(err, MS_EINPUT, "%s: expected a string, got %s", what,
                    tname(in));
}

static int strout(ms_store *s, const char *p, size_t n, ms_value *out,
                  ms_err *err) {
  char *c = ms_arena_strndup(&s->arena, p, n);
  if (c == NULL) return ms_err_set(err, MS_ENOMEM, "out of memory");
  *out = ms_value_str(c, n);
  return MS_OK;
}

static int quoted(ms_err *err, const char *what, const ms_value *in) {
  ms_buf b = MS_BUF_INIT;
  int rc;
  ms_value_pyrepr(&b, in);
  rc = ms_err_set(err, MS_EINPUT, "%.200s is not %s", b.data ? b.data : "", what);
  ms_buf_free(&b);
  return rc;
}

static int norm_ip(ms_store *s, const ms_value *in, ms_value *out, int prefix,
                   ms_err *err) {
  char buf[128], txt[INET6_ADDRSTRLEN + 8];
  unsigned char addr[16];
  int fam, bits = -1, maxbits, i;
  char *slash;
  if (in->len >= sizeof buf) return quoted(err, prefix ? "an IP prefix" : "an IP address", in);
  memcpy(buf, in->u.s, in->len);
  buf[in->len] = '\0';
  slash = strchr(buf, '/');
  if (prefix != (slash != NULL))
    return quoted(err, prefix ? "an IP prefix (address/length)" : "an IP address", in);
  if (slash) {
    char *end;
    *slash = '\0';
    bits = (int)strtol(slash + 1, &end, 10);
    if (*end || slash[1] == '\0') return quoted(err, "an IP prefix", in);
  }
  fam = strchr(buf, ':') ? AF_INET6 : AF_INET;
  if (inet_pton(fam, buf, addr) != 1)
    return quoted(err, prefix ? "an IP prefix" : "an IP address", in);
  maxbits = fam == AF_INET ? 32 : 128;
  if (prefix) {
    if (bits < 0 || bits > maxbits) return quoted(err, "an IP prefix", in);
    for (i = 0; i < maxbits / 8; i++) {
      int keep = bits - i * 8;
      if (keep >= 8) continue;
      addr[i] &= keep <= 0 ? 0 : (unsigned char)(0xff << (8 - keep));
    }
  }
  if (inet_ntop(fam, addr, txt, INET6_ADDRSTRLEN) == NULL)
    return quoted(err, "an IP address", in);
  if (prefix) snprintf(txt + strlen(txt), 8, "/%d", bits);
  return strout(s, txt, strlen(txt), out, err);
}

static int norm_mac(ms_store *s, const ms_value *in, ms_value *out, ms_err *err) {
  char hex[12], txt[18];
  size_t i, n = 0;
  for (i = 0; i < in->len; i++) {
    char c = in->u.s[i];
    if (c == ':' || c == '-' || c == '.' || c == ' ') continue;
    if (!isxdigit((unsigned char)c) || n == 12) return quoted(err, "a MAC address", in);
    hex[n++] = (char)tolower((unsigned char)c);
  }
  if (n != 12) return quoted(err, "a MAC address", in);
  for (i = 0; i < 6; i++) {
    txt[i * 3] = hex[i * 2];
    txt[i * 3 + 1] = hex[i * 2 + 1];
    txt[i * 3 + 2] = ':';
  }
  return strout(s, txt, 17, out, err);
}

/* Order for list-as-set: numbers by value, strings bytewise, other types
   by type; maps by the value under key. */
static int vcmp(const ms_value *a, const ms_value *b) {
  int ta = a->type == MS_BOOL || a->type == MS_INT || a->type == MS_FLOAT ? 1
         : a->type == MS_STR ? 2 : 3 + a->type;
  int tb = b->type == MS_BOOL || b->type == MS_INT || b->type == MS_FLOAT ? 1
         : b->type == MS_STR ? 2 : 3 + b->type;
  if (ta != tb) return ta - tb;
  if (ta == 1) {
    double x = a->type == MS_FLOAT ? a->u.f : a->type == MS_INT ? (double)a->u.i : a->u.b;
    double y = b->type == MS_FLOAT ? b->u.f : b->type == MS_INT ? (double)b->u.i : b->u.b;
    return (x > y) - (x < y);
  }
  if (ta == 2) {
    size_t n = a->len < b->len ? a->len : b->len;
    int c = memcmp(a->u.s, b->u.s, n);
    return c ? c : (a->len > b->len) - (a->len < b->len);
  }
  return 0;
}

static int itemcmp(const void *x, const void *y, void *ctx) {
  const ms_value *a = x, *b = y;
  const char *setkey = ctx;
  if (setkey) {
    const ms_value *ka = a->type == MS_MAP ? getpath(a, setkey) : NULL;
    const ms_value *kb = b->type == MS_MAP ? getpath(b, setkey) : NULL;
    if (ka && kb) return vcmp(ka, kb);
    return (ka != NULL) - (kb != NULL);
  }
  return vcmp(a, b);
}

static int norm_set(ms_store *s, const char *key, const ms_value *in,
                    ms_value *out, ms_err *err) {
  ms_value *items;
  uint32_t i, w = 0;
  if (in->type != MS_LIST)
    return ms_err_set(err, MS_EINPUT, "set: expected a list, got %s", tname(in));
  *out = *in;
  if (in->len == 0) return MS_OK;
  items = ms_arena_alloc(&s->arena, in->len * sizeof *items);
  if (items == NULL) return ms_err_set(err, MS_ENOMEM, "out of memory");
  memcpy(items, in->u.items, in->len * sizeof *items);
  qsort_r(items, in->len, sizeof *items, itemcmp, (void *)key);
  for (i = 0; i < in->len; i++)
    if (w == 0 || !ms_value_eq(&items[w - 1], &items[i])) items[w++] = items[i];
  out->u.items = items;
  out->len = w;
  return MS_OK;
}

/* A number from its text (CSV cells are text), or a number kept; "12"
   with integer is 12, "1.5" is an error; with number, "12" is 12 and
   "1.5" 1.5. Surrounding white space is allowed. */
static int norm_number(const ms_value *in, ms_value *out, int integer,
                       ms_err *err) {
  const char *what = integer ? "integer" : "number";
  const char *isnot = integer ? "an integer" : "a number";
  char buf[64], *end;
  if (in->type == MS_INT) {
    *out = *in;
    return MS_OK;
  }
  if (in->type == MS_FLOAT) {
    if (integer && !(in->u.f == (double)(int64_t)in->u.f && in->u.f >= -9.2e18 &&
                     in->u.f <= 9.2e18))
      return ms_err_set(err, MS_EINPUT, "integer: %g is not an integer", in->u.f);
    *out = *in;
    if (integer) {
      out->type = MS_INT;
      out->u.i = (int64_t)in->u.f;
    }
    return MS_OK;
  }
  if (needstr(in, what, err)) return err->code;
  if (in->len == 0 || in->len >= sizeof buf)
    return ms_err_set(err, MS_EINPUT, "%s: '%.*s' is not %s", what,
                      (int)(in->len < 40 ? in->len : 40), in->u.s, isnot);
  memcpy(buf, in->u.s, in->len);
  buf[in->len] = '\0';
  errno = 0;
  {
    long long i = strtoll(buf, &end, 10);
    while (isspace((unsigned char)*end)) end++;
    if (*end == '\0' && end != buf && errno == 0) {
      out->type = MS_INT;
      out->u.i = (int64_t)i;
      return MS_OK;
    }
  }
  if (!integer) {
    double f;
    errno = 0;
    f = strtod(buf, &end);
    while (isspace((unsigned char)*end)) end++;
    if (*end == '\0' && end != buf && errno == 0 && f == f && f - f == 0) {
      out->type = MS_FLOAT;
      out->u.f = f;
      return MS_OK;
    }
  }
  return ms_err_set(err, MS_EINPUT, "%s: '%s' is not %s", what, buf, isnot);
}

int ms_normalize(int kind, const char *key, ms_store *s, const ms_value *in,
                 ms_value *out, ms_err *err) {
  size_t i, a, b;
  char *c;
  if (in->type == MS_NIL) {
    *out = *in;
    return MS_OK;
  }
  switch (kind) {
    case MS_NORM_LOWER: case MS_NORM_UPPER:
      if (needstr(in, kind == MS_NORM_LOWER ? "lower" : "upper", err)) return err->code;
      c = ms_arena_strndup(&s->arena, in->u.s, in->len);
      if (c == NULL) return ms_err_set(err, MS_ENOMEM, "out of memory");
      for (i = 0; i < in->len; i++)
        if (!((unsigned char)c[i] & 0x80))
          c[i] = (char)(kind == MS_NORM_LOWER ? tolower((unsigned char)c[i])
                                              : toupper((unsigned char)c[i]));
      *out = ms_value_str(c, in->len);
      return MS_OK;
    case MS_NORM_TRIM:
      if (needstr(in, "trim", err)) return err->code;
      for (a = 0; a < in->len && isspace((unsigned char)in->u.s[a]); a++) {}
      for (b = in->len; b > a && isspace((unsigned char)in->u.s[b - 1]); b--) {}
      *out = ms_value_str(in->u.s + a, b - a);  /* a view: no copy */
      return MS_OK;
    case MS_NORM_IP: case MS_NORM_PREFIX:
      if (needstr(in, kind == MS_NORM_IP ? "ip" : "prefix", err)) return err->code;
      return norm_ip(s, in, out, kind == MS_NORM_PREFIX, err);
    case MS_NORM_MAC:
      if (needstr(in, "mac", err)) return err->code;
      return norm_mac(s, in, out, err);
    case MS_NORM_SET:
      return norm_set(s, key, in, out, err);
    case MS_NORM_INTEGER: case MS_NORM_NUMBER:
      return norm_number(in, out, kind == MS_NORM_INTEGER, err);
    default:
      return ms_err_set(err, MS_ESCHEMA, "unknown normalizer %d", kind);
  }
}

/* {====== running ======} */

/* May the field's value point into the source after its steps? */
static int viewof(const ms_mapfield *f) {
  int st;
  if (f->nsteps == 0) return 1;
  for (st = 0; st < f->nsteps; st++)
    if (f->steps[st].kind == MS_NORM_TRIM || f->steps[st].kind == MS_NORM_SET) return 1;
  return 0;
}

static const char *stepname(const ms_mapstep *st) {
  static const char *names[] = {"?", "lower", "upper", "trim", "ip", "prefix",
                                "mac", "set", "integer", "number", "transform"};
  return st->kind >= 1 && st->kind <= MS_NORM_LUA ? names[st->kind] : "?";
}

/* "mapping 'x': record 12 (results[12]): " + the message already in err */
static int where(const ms_mapping *m, const ms_maprun *run, size_t i,
                 const char *field, ms_err *err) {
  char old[MS_ERR_MSG], pos[300];
  int code = err->code;
  memcpy(old, err->msg, sizeof old);
  if (run && run->lines)
    snprintf(pos, sizeof pos, "%s:%u", run->source ? run->source : "",
             (unsigned)run->lines[i]);
  else
    snprintf(pos, sizeof pos, "record %zu (%s[%zu])", i + (run ? run->base : 0),
             m->from ? m->from : "", i + (run ? run->base : 0));
  if (field)
    return ms_err_set(err, code, "mapping '%s': %s: field '%s': %s", m->name,
                      pos, field, old);
  return ms_err_set(err, code, "mapping '%s': %s: %s", m->name, pos, old);
}

/* A run's tables: field indices, references, and constants copied into
   the store (the mapping may go before the store does). */
typedef struct maprun {
  const ms_value *items;  /* the items being fed, numbered from run->base */
  const ms_mapping *m;
  ms_store *s;
  const ms_maphooks *hooks;
  const ms_maprun *run;
  ms_mapstats *stats;
  ms_err *err;
  int mi, pm, skip;
  const ms_model *model;
  ms_value *konst, *dflt, *pfields;
  int *fidx, *refmi, *reffi;
  cpath *paths;           /* each field's path, then the id's */
} maprun;

/* Records a run builds before it stores them: their index slots are
   asked for as each is built, and have come in by the time it is stored. */
#define BATCH 16

/* May records be built ahead of storing those before them? Not when
   Lua may look at the store, nor when a record may name one of its own
   model made by this run. */
static int batched(const ms_mapping *m) {
  uint32_t k;
  int st;
  if (m->lua_filter >= 0 ||
      (m->parent_model && strcmp(m->parent_model, m->model) == 0))
    return 0;
  for (k = 0; k < m->nfields; k++) {
    const ms_mapfield *f = &m->fields[k];
    if (f->ref_model && strcmp(f->ref_model, m->model) == 0) return 0;
    for (st = 0; st < f->nsteps; st++)
      if (f->steps[st].kind == MS_NORM_LUA) return 0;
  }
  return 1;
}

/* Item n as a record, its uid hashed into *h and its index slot asked
   for; *out NULL when the item is filtered out. */
static int build(const maprun *t, size_t n, ms_record **out, uint64_t *h) {
  const ms_mapping *m = t->m;
  ms_store *s = t->s;
  const ms_maphooks *hooks = t->hooks;
  const ms_maprun *run = t->run;
  ms_err *err = t->err;
  const ms_value *item = &t->items[n];
  ms_record *r;
  uint32_t i, k;
  int keep = 1, rc;
  *out = NULL;
  t->stats->seen++;
  if (item->type != MS_MAP) {
    ms_err_set(err, MS_EINPUT, "expected an object, got %s", tname(item));
    return where(m, run, n, NULL, err);
  }
  for (i = 0; i < m->nwhere && keep; i++) {
    const ms_value *v = getpath(item, m->where[i].path);
    keep = ms_value_eq(v ? v : &ms_nil, &m->where[i].value);
  }
  if (keep && m->lua_filter >= 0 && hooks && hooks->filter &&
      hooks->filter(hooks->ud, m->lua_filter, item, &keep, err) != MS_OK)
    return where(m, run, n, NULL, err);
  if (!keep) {
    t->stats->filtered++;
    return MS_OK;
  }
  r = ms_store_new_record(s, t->mi);
  if (r == NULL) return ms_err_set(err, MS_ENOMEM, "out of memory");
  for (k = 0; k < m->nfields; k++) {
    const ms_mapfield *f = &m->fields[k];
    const ms_value *v = NULL;
    ms_value cur;
    int st;
    if (f->has_const) {
      v = &t->konst[k];
    } else if (f->ref_model) {
      const ms_value *id = walk(item, &t->paths[k]);
      if (id != NULL && id->type != MS_NIL) {
        ms_record *target = ms_store_ref_get(s, t->refmi[k], id);
        if (target == NULL) {
          ms_buf b = MS_BUF_INIT;
          ms_value_pyrepr(&b, id);
          ms_err_set(err, MS_EINPUT, "no %s with source id %.100s (path '%s')",
                     f->ref_model, b.data ? b.data : "", f->path);
          ms_buf_free(&b);
          return where(m, run, n, f->field, err);
        }
        v = &target->fields[t->reffi[k]];
      }
    } else if (f->path != NULL) {
      v = walk(item, &t->paths[k]);
    }
    if ((v == NULL || v->type == MS_NIL) && f->has_default) v = &t->dflt[k];
    /* an identifier whose path the item lacks is missing; a null one is
       a value */
    if (v == NULL && (uint32_t)t->fidx[k] < r->model->nids) {
      ms_err_missing_id(err, r->model, t->fidx[k]);
      return where(m, run, n, f->field, err);
    }
    cur = v ? *v : ms_nil;
    for (st = 0; st < f->nsteps; st++) {
      const ms_mapstep *step = &f->steps[st];
      ms_value res;
      if (step->kind == MS_NORM_LUA) {
        if (!hooks || !hooks->transform)
          return ms_err_set(err, MS_ESCHEMA, "mapping '%s': no transform hook",
                            m->name);
        rc = hooks->transform(hooks->ud, step->lua, s, &cur, &res, err);
      } else {
        rc = ms_normalize(step->kind, step->key, s, &cur, &res, err);
      }
      if (rc != MS_OK) {
        if (rc != MS_ENOMEM && rc != MS_EHANDLER) ms_err_prefix(err, "%s", stepname(step));
        return rc == MS_EHANDLER ? rc : where(m, run, n, f->field, err);
      }
      cur = res;
    }
    /* a value from a source outside the store is copied in: straight
       from the source, or a view of it that trim or set made (other
       normalizers and Lua transforms make their values in the store) */
    if (run && run->copy && !f->has_const && !f->ref_model && v != &t->dflt[k] &&
        viewof(f)) {
      if (cur.type == MS_STR) {
        cur.u.s = ms_store_keep(s, run->kept ? &run->kept[k] : NULL, cur.u.s,
                                cur.len);
        if (cur.u.s == NULL) return ms_err_set(err, MS_ENOMEM, "out of memory");
      } else if (ms_store_copy_value(s, &cur, &cur) != MS_OK) {
        return ms_err_set(err, MS_ENOMEM, "out of memory");
      }
    }
    r->fields[t->fidx[k]] = cur;
  }
  if (ms_record_uid(r) != MS_OK) return ms_err_set(err, MS_ENOMEM, "out of memory");
  *h = ms_store_keyhash(t->mi, r->uid, r->uid_len);
  ms_store_prefetch(s, *h);
  *out = r;
  return MS_OK;
}

/* Stores record r of item n (uid hash h): the index, its source id, its
   parent's children. */
static int settle(const maprun *t, size_t n, ms_record *r, uint64_t h) {
  const ms_mapping *m = t->m;
  ms_store *s = t->s;
  ms_err *err = t->err;
  uint32_t k;
  int rc = ms_store_insert_hashed(s, r, h, err);
  if (rc == MS_EEXISTS && t->skip) {
    t->stats->skipped++;
    return MS_OK;
  }
  if (rc != MS_OK) return where(m, t->run, n, NULL, err);
  t->stats->added++;
  if (m->id) {
    const ms_value *id = walk(&t->items[n], &t->paths[m->nfields]);
    if (id != NULL && id->type != MS_NIL &&
        ms_store_ref_put(s, t->mi, id, r) != MS_OK)
      return ms_err_set(err, MS_ENOMEM, "out of memory");
  }
  if (t->pm >= 0) {
    const ms_model *pmodel = s->models[t->pm];
    ms_buf b = MS_BUF_INIT;
    ms_record *parent;
    for (k = 0; k < m->nparent; k++)
      t->pfields[k] = r->fields[ms_model_field(t->model, m->parent_ids[k],
                                               strlen(m->parent_ids[k]))];
    ms_uid_build(&b, pmodel, t->pfields);
    parent = ms_store_get(s, t->pm, b.data ? b.data : "", b.len);
    if (parent == NULL) {
      ms_err_set(err, MS_ENOTFOUND, "parent %s %s not present in %s",
                 pmodel->name, b.data ? b.data : "", s->name);
      ms_buf_free(&b);
      return where(m, t->run, n, NULL, err);
    }
    ms_buf_free(&b);
    if ((rc = ms_record_add_child(parent, r, err)) != MS_OK)
      return where(m, t->run, n, NULL, err);
  }
  return MS_OK;
}

/* Sets up a run's tables; err set when the mapping does not fit s. */
static int setup(maprun *t, const ms_mapping *m, ms_store *s,
                 const ms_maphooks *hooks, const ms_maprun *run,
                 ms_mapstats *stats, ms_err *err) {
  uint32_t k;
  int rc;
  if ((rc = ms_mapping_check(m, s, err)) != MS_OK) return rc;
  memset(t, 0, sizeof *t);
  t->m = m;
  t->s = s;
  t->hooks = hooks;
  t->run = run;
  t->stats = stats;
  t->err = err;
  t->skip = m->skip_dups || (run && run->skip_dups);
  t->mi = ms_store_model(s, m->model);
  t->pm = m->parent_model ? ms_store_model(s, m->parent_model) : -1;
  t->model = s->models[t->mi];
  t->konst = ms_arena_alloc(&s->arena, (m->nfields + 1) * 2 * sizeof *t->konst);
  t->fidx = ms_arena_alloc(&s->arena, (m->nfields + 1) * 3 * sizeof *t->fidx);
  if (t->pm >= 0)
    t->pfields = ms_arena_alloc(&s->arena, s->models[t->pm]->nfields * sizeof *t->pfields);
  if (t->konst == NULL || t->fidx == NULL || (t->pm >= 0 && t->pfields == NULL))
    return ms_err_set(err, MS_ENOMEM, "out of memory");
  t->paths = ms_arena_alloc(&s->arena, (m->nfields + 1) * sizeof *t->paths);
  if (t->paths == NULL || compile(&s->arena, m->id, &t->paths[m->nfields]) != MS_OK)
    return ms_err_set(err, MS_ENOMEM, "out of memory");
  t->dflt = t->konst + m->nfields + 1;
  t->refmi = t->fidx + m->nfields + 1;
  t->reffi = t->refmi + m->nfields + 1;
  for (k = 0; k < m->nfields; k++) {
    const ms_mapfield *f = &m->fields[k];
    t->fidx[k] = ms_model_field(t->model, f->field, strlen(f->field));
    if (compile(&s->arena, f->path, &t->paths[k]) != MS_OK)
      return ms_err_set(err, MS_ENOMEM, "out of memory");
    t->refmi[k] = f->ref_model ? ms_store_model(s, f->ref_model) : -1;
    t->reffi[k] = f->ref_model ? ms_model_field(s->models[t->refmi[k]], f->ref_field,
                                                strlen(f->ref_field)) : -1;
    if (ms_store_copy_value(s, &f->konst, &t->konst[k]) != MS_OK ||
        ms_store_copy_value(s, &f->dflt, &t->dflt[k]) != MS_OK)
      return ms_err_set(err, MS_ENOMEM, "out of memory");
  }
  return MS_OK;
}

/* Maps items[0..len), numbered from t->run's base. */
static int feed(maprun *t, const ms_value *items, size_t len) {
  ms_record *recs[BATCH];
  uint64_t hashes[BATCH];
  size_t n, batch = batched(t->m) ? BATCH : 1, built, i;
  int rc;
  t->items = items;
  for (n = 0; n < len; n += built) {
    /* build a batch, then store what was built in item order: a failed
       item is reported after the items before it are stored */
    for (built = 0, rc = MS_OK; rc == MS_OK && built < batch && n + built < len;
         built++)
      rc = build(t, n + built, &recs[built], &hashes[built]);
    if (rc != MS_OK) built--;
    for (i = 0; i < built; i++) {
      int sr = recs[i] ? settle(t, n + i, recs[i], hashes[i]) : MS_OK;
      if (sr != MS_OK) return sr;
    }
    if (rc != MS_OK) return rc;
  }
  return MS_OK;
}

static int notalist(const ms_mapping *m, const char *got, ms_err *err) {
  return ms_err_set(err, MS_EINPUT, "mapping '%s': %s%s%s is not a list of records "
                    "(got %s)", m->name, m->from ? "'from' path '" : "the document",
                    m->from ? m->from : "", m->from ? "'" : "", got);
}

int ms_mapping_run(const ms_mapping *m, ms_store *s, const ms_value *doc,
                   const ms_maphooks *hooks, const ms_maprun *run,
                   ms_mapstats *stats, ms_err *err) {
  const ms_value *list = m->from ? getpath(doc, m->from) : doc;
  maprun t;
  int rc;
  if ((rc = setup(&t, m, s, hooks, run, stats, err)) != MS_OK) return rc;
  if (list == NULL || list->type != MS_LIST)
    return notalist(m, list ? tname(list) : "nothing", err);
  /* the index takes every item at most: sized once, not regrown */
  if (ms_store_reserve_index(s, s->count + list->len) != MS_OK)
    return ms_err_set(err, MS_ENOMEM, "out of memory");
  return feed(&t, list->u.items, list->len);
}

/* {====== from JSON text ======} */

/* Containers the 'from' path may go through. */
#define MAXPATH 32

/* The value of the next key or element of the container ps->p is in,
   kind '{' or '['; 0 at its end. */
static int nextin(parser *ps, int kind, int first, ms_value *key, int *more) {
  int rc;
  ms_jp_skipws(ps);
  *more = 0;
  if (*ps->p == (kind == '{' ? '}' : ']')) {
    ps->p++;
    return MS_OK;
  }
  if (!first) {
    if (*ps->p != ',')
      return ms_jp_fail(ps, ps->p, kind == '{' ? "expected ',' or '}' in object"
                                               : "expected ',' or ']' in array");
    ps->p++;
    ms_jp_skipws(ps);
  }
  if (kind == '{') {
    if ((rc = ms_jp_key(ps, key)) != MS_OK) return rc;
    ms_jp_skipws(ps);
  }
  *more = 1;
  return MS_OK;
}

/* Skips what is left of the container of kind after the current value. */
static int finish(parser *ps, int kind, int depth) {
  ms_value k, v;
  int more, rc;
  for (;;) {
    if ((rc = nextin(ps, kind, 0, &k, &more)) != MS_OK) return rc;
    if (!more) return MS_OK;
    if ((rc = ms_jp_value(ps, &v, depth + 1)) != MS_OK) return rc;
  }
}

/* Moves ps to the value at path, noting the containers it went into in
   kinds[0..*depth); *found 0 when the path names nothing. */
static int descend(parser *ps, const char *path, char *kinds, int *depth,
                   int *found) {
  const char *p = path ? path : "";
  *found = 0;
  *depth = 0;
  while (*p) {
    pathstep st;
    size_t at = 0;
    int kind, more, first = 1, rc;
    ms_value k, v;
    readstep(&p, &st);
    ms_jp_skipws(ps);
    kind = *ps->p;
    if ((kind != '{' && !(kind == '[' && st.index >= 0)) || *depth == MAXPATH)
      return ms_jp_value(ps, &v, *depth);  /* no step into it: read past it */
    ps->p++;
    for (;; first = 0, at++) {
      if ((rc = nextin(ps, kind, first, &k, &more)) != MS_OK) return rc;
      if (!more) return MS_OK;
      if (kind == '{' ? k.len == st.len && ms_jp_same(k.u.s, st.key, st.len)
                      : at == (size_t)st.index)
        break;
      if ((rc = ms_jp_value(ps, &v, *depth + 1)) != MS_OK) return rc;
    }
    kinds[(*depth)++] = (char)kind;
  }
  *found = 1;
  return MS_OK;
}

int ms_mapping_run_text(const ms_mapping *m, ms_store *s, const char *text,
                        size_t len, const char *name, ms_text *mapped,
                        ms_arena *scratch, ms_value *items,
                        const ms_maphooks *hooks, const ms_maprun *run,
                        ms_mapstats *stats, ms_err *err) {
  ms_maprun chunkrun;
  ms_value k, v;
  int listed = 0;  /* the path names a list, being read */
  const char *got = NULL;  /* set when the path names no list */
  parser ps;
  maprun t;
  char kinds[MAXPATH];
  size_t n = 0, base = 0;
  int depth, found, more = 1, first = 1, rc;
  if ((rc = setup(&t, m, s, hooks, run, stats, err)) != MS_OK) return rc;
  memset(&chunkrun, 0, sizeof chunkrun);
  if (run) chunkrun = *run;
  t.run = &chunkrun;
  ms_jp_init(&ps, text, len, name, scratch, err);
  if ((rc = descend(&ps, m->from, kinds, &depth, &found)) == MS_OK) {
    ms_jp_skipws(&ps);
    if (!found) {
      got = "nothing";
    } else if (*ps.p != '[') {
      if ((rc = ms_jp_value(&ps, &v, depth)) == MS_OK) got = tname(&v);
    } else {
      ps.p++;
      listed = 1;
    }
  }
  while (rc == MS_OK && listed && more) {
    if ((rc = nextin(&ps, '[', first, &k, &more)) != MS_OK) break;
    first = 0;
    if (more && (rc = ms_jp_value(&ps, &items[n++], depth + 1)) != MS_OK) break;
    if (n < MS_MAP_CHUNK && (more || n == 0)) continue;
    /* the first chunk tells how many items the text holds */
    if (base == 0 && more &&
        ms_store_reserve_index(s, s->count + (size_t)((double)n *
          (double)(ps.end - ps.start) / (double)(ps.p - ps.start))) != MS_OK) {
      rc = ms_err_set(err, MS_ENOMEM, "out of memory");
      break;
    }
    /* no container is being read between items: the parser's scratch
       goes before the hooks run, which may not return */
    free(ps.stack);
    ps.stack = NULL;
    ps.top = ps.cap = 0;
    chunkrun.base = (run ? run->base : 0) + base;
    if ((rc = feed(&t, items, n)) != MS_OK) break;
    base += n;
    n = 0;
    ms_arena_free(scratch);
    if (mapped) ms_text_release(mapped, ps.p, (size_t)8 << 20);
  }
  /* the rest of the document is read too: an error in it is an error,
     before the path naming no list */
  while (rc == MS_OK && depth > 0) {
    depth--;
    rc = finish(&ps, kinds[depth], depth);
  }
  if (rc == MS_OK) rc = ms_jp_end(&ps);
  if (rc == MS_OK && got) rc = notalist(m, got, err);
  free(ps.stack);
  ms_arena_free(scratch);
  return rc;
}
