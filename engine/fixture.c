/*
** fixture.c: schema documents and bulk record loading (fixture.h).
*/
#include "fixture.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "arena.h"
#include "json.h"

static const char *tname(const ms_value *v) {
  static const char *names[] = {"null", "a boolean", "an integer", "a float",
                                "a string", "a list", "an object"};
  return names[v->type];
}

static char *cstr(const ms_value *v) {
  char *s = malloc(v->len + 1);
  if (s) {
    memcpy(s, v->u.s, v->len);
    s[v->len] = '\0';
  }
  return s;
}

/* {====== schema ======} */

/* A list of strings at key `k` of object `obj` (absent: empty). The
   strings are NUL-terminated copies in *out (free each and the array). */
static int strlist(const ms_value *obj, const char *k, const char *where,
                   char ***out, uint32_t *n, int *present, ms_err *err) {
  const ms_value *v = ms_map_get(obj, k, strlen(k));
  uint32_t i;
  *out = NULL;
  *n = 0;
  if (present) *present = v != NULL && v->type != MS_NIL;
  if (v == NULL || v->type == MS_NIL) return MS_OK;
  if (v->type != MS_LIST)
    return ms_err_set(err, MS_ESCHEMA, "%s.%s: expected a list of strings, "
                      "got %s", where, k, tname(v));
  *out = calloc(v->len + 1, sizeof **out);
  if (*out == NULL) return ms_err_set(err, MS_ENOMEM, "out of memory");
  for (i = 0; i < v->len; i++) {
    const ms_value *s = &v->u.items[i];
    if (s->type != MS_STR) {
      ms_err_set(err, MS_ESCHEMA, "%s.%s[%u]: expected a string, got %s",
                 where, k, i, tname(s));
      goto fail;
    }
    if (((*out)[i] = cstr(s)) == NULL) {
      ms_err_set(err, MS_ENOMEM, "out of memory");
      goto fail;
    }
    *n = i + 1;
  }
  return MS_OK;
fail:
  for (i = 0; i < *n; i++) free((*out)[i]);
  free(*out);
  *out = NULL;
  *n = 0;
  return err->code;
}

static void freelist(char **l, uint32_t n) {
  uint32_t i;
  for (i = 0; i < n; i++) free(l[i]);
  free(l);
}

static int flaglist(const ms_value *v, int model, const char *where,
                    uint32_t *flags, ms_err *err) {
  uint32_t i;
  if (v == NULL || v->type == MS_NIL) return MS_OK;
  if (v->type != MS_LIST)
    return ms_err_set(err, MS_ESCHEMA, "%s: expected a list of flag names, "
                      "got %s", where, tname(v));
  for (i = 0; i < v->len; i++) {
    const ms_value *f = &v->u.items[i];
    char name[64];
    if (f->type != MS_STR || f->len >= sizeof name)
      return ms_err_set(err, MS_ESCHEMA, "%s[%u]: expected a flag name",
                        where, i);
    memcpy(name, f->u.s, f->len);
    name[f->len] = '\0';
    if (ms_flag_parse(name, model, flags) != 0)
      return ms_err_set(err, MS_ESCHEMA, "%s[%u]: unknown %s flag '%s'", where,
                        i, model ? "model" : "global", name);
  }
  return MS_OK;
}

static int onemodel(const ms_value *key, const ms_value *def,
                    const ms_value *mflags, const char *name, ms_model **out,
                    ms_err *err) {
  char where[256], *mname = cstr(key);
  char **lists[4] = {NULL, NULL, NULL, NULL};
  uint32_t counts[4] = {0, 0, 0, 0}, i, flags = 0;
  static const char *keys[4] = {"identifiers", "attributes", "extra_fields",
                                "shortname"};
  ms_child_decl *children = NULL;
  const ms_value *ch;
  ms_model_spec sp;
  int rc = MS_OK;
  *out = NULL;
  if (mname == NULL) return ms_err_set(err, MS_ENOMEM, "out of memory");
  snprintf(where, sizeof where, "%s: models.%s", name, mname);
  if (def->type != MS_MAP) {
    rc = ms_err_set(err, MS_ESCHEMA, "%s: expected an object, got %s", where,
                    tname(def));
    goto done;
  }
  for (i = 0; i < 4 && rc == MS_OK; i++)
    rc = strlist(def, keys[i], where, &lists[i], &counts[i], NULL, err);
  if (rc != MS_OK) goto done;
  ch = ms_map_get(def, "children", 8);
  memset(&sp, 0, sizeof sp);
  if (ch != NULL && ch->type != MS_NIL) {
    if (ch->type != MS_MAP) {
      rc = ms_err_set(err, MS_ESCHEMA, "%s.children: expected an object "
                      "{child_model: field}, got %s", where, tname(ch));
      goto done;
    }
    children = calloc(ch->len + 1, sizeof *children);
    if (children == NULL) {
      rc = ms_err_set(err, MS_ENOMEM, "out of memory");
      goto done;
    }
    for (i = 0; i < ch->len; i++) {
      const ms_value *f = &ch->u.items[2 * i + 1];
      if (f->type != MS_STR) {
        rc = ms_err_set(err, MS_ESCHEMA, "%s.children.%.*s: expected a field "
                        "name, got %s", where, (int)ch->u.items[2 * i].len,
                        ch->u.items[2 * i].u.s, tname(f));
        break;
      }
      children[i].model = cstr(&ch->u.items[2 * i]);
      children[i].field = cstr(f);
      sp.nchildren = i + 1;
      if (!children[i].model || !children[i].field) {
        rc = ms_err_set(err, MS_ENOMEM, "out of memory");
        break;
      }
    }
    if (rc != MS_OK) goto done;
  }
  if (mflags != NULL) {
    char fw[300];
    snprintf(fw, sizeof fw, "%s: model_flags.%s", name, mname);
    if ((rc = flaglist(mflags, 1, fw, &flags, err)) != MS_OK) goto done;
  }
  sp.name = mname;
  sp.ids = (const char **)lists[0]; sp.nids = counts[0];
  sp.attrs = (const char **)lists[1]; sp.nattrs = counts[1];
  sp.extras = (const char **)lists[2]; sp.nextras = counts[2];
  sp.shortname = (const char **)lists[3]; sp.nshort = counts[3];
  sp.children = children;
  sp.flags = flags;
  *out = ms_model_new(&sp, err);
  if (*out == NULL) rc = ms_err_prefix(err, "%s", name);
done:
  for (i = 0; i < 4; i++) freelist(lists[i], counts[i]);
  if (children) {
    for (i = 0; i < sp.nchildren; i++) {
      free(children[i].model);
      free(children[i].field);
    }
    free(children);
  }
  free(mname);
  return rc;
}

void ms_schema_free(ms_schema *s) {
  uint32_t i;
  for (i = 0; i < s->nmodels; i++) ms_model_unref(s->models[i]);
  free(s->models);
  for (i = 0; i < 3; i++) freelist(s->top[i], s->ntop[i]);
  memset(s, 0, sizeof *s);
}

static int knownmodel(const ms_schema *s, const char *name) {
  uint32_t i;
  for (i = 0; i < s->nmodels; i++)
    if (strcmp(s->models[i]->name, name) == 0) return 1;
  return 0;
}

int ms_schema_from_value(const ms_value *v, const char *name, ms_schema *out,
                         ms_err *err) {
  static const char *topkeys[3] = {"top_level", "source_top_level",
                                   "dest_top_level"};
  const ms_value *models, *mflags;
  uint32_t i, j, k;
  int rc = MS_OK;
  memset(out, 0, sizeof *out);
  if (v->type != MS_MAP)
    return ms_err_set(err, MS_ESCHEMA, "%s: expected an object with \"models\""
                      " and \"top_level\", got %s", name, tname(v));
  models = ms_map_get(v, "models", 6);
  if (models == NULL || models->type != MS_MAP || models->len == 0)
    return ms_err_set(err, MS_ESCHEMA, "%s: \"models\" must be a non-empty "
                      "object {name: model}", name);
  mflags = ms_map_get(v, "model_flags", 11);
  if (mflags != NULL && mflags->type != MS_NIL && mflags->type != MS_MAP)
    return ms_err_set(err, MS_ESCHEMA, "%s: \"model_flags\" must be an object "
                      "{model: [flag, ...]}", name);
  if (mflags != NULL && mflags->type == MS_MAP) {
    for (i = 0; i < mflags->len; i++) {
      const ms_value *mk = &mflags->u.items[2 * i];
      if (ms_map_get(models, mk->u.s, mk->len) == NULL)
        return ms_err_set(err, MS_ESCHEMA, "%s: model_flags names unknown "
                          "model '%.*s'", name, (int)mk->len, mk->u.s);
    }
  }
  out->models = calloc(models->len, sizeof *out->models);
  if (out->models == NULL) return ms_err_set(err, MS_ENOMEM, "out of memory");
  for (i = 0; i < models->len && rc == MS_OK; i++) {
    const ms_value *key = &models->u.items[2 * i];
    const ms_value *mf = mflags && mflags->type == MS_MAP
                       ? ms_map_get(mflags, key->u.s, key->len) : NULL;
    rc = onemodel(key, &models->u.items[2 * i + 1], mf, name,
                  &out->models[i], err);
    if (rc == MS_OK) out->nmodels = i + 1;
  }
  for (i = 0; i < out->nmodels && rc == MS_OK; i++) {
    const ms_model *m = out->models[i];
    for (j = 0; j < m->nchildren && rc == MS_OK; j++)
      if (!knownmodel(out, m->children[j].model))
        rc = ms_err_set(err, MS_ESCHEMA, "%s: models.%s.children names model "
                        "'%s', which is not declared", name, m->name,
                        m->children[j].model);
  }
  for (k = 0; k < 3 && rc == MS_OK; k++) {
    rc = strlist(v, topkeys[k], name, &out->top[k], &out->ntop[k],
                 &out->hastop[k], err);
    for (j = 0; j < out->ntop[k] && rc == MS_OK; j++)
      if (!knownmodel(out, out->top[k][j]))
        rc = ms_err_set(err, MS_ESCHEMA, "%s: %s names model '%s', which is not"
                        " declared", name, topkeys[k], out->top[k][j]);
  }
  if (rc == MS_OK && !out->hastop[0] && !(out->hastop[1] && out->hastop[2]))
    rc = ms_err_set(err, MS_ESCHEMA, "%s: \"top_level\" is missing", name);
  if (rc == MS_OK) {
    char where[256];
    snprintf(where, sizeof where, "%s: global_flags", name);
    rc = flaglist(ms_map_get(v, "global_flags", 12), 0, where,
                  &out->global_flags, err);
  }
  if (rc != MS_OK) ms_schema_free(out);
  return rc;
}

int ms_schema_load(const char *path, ms_schema *out, ms_err *err) {
  ms_arena a;
  ms_value v;
  int rc;
  ms_arena_init(&a);
  rc = ms_json_load(&a, path, &v, err);
  if (rc == MS_OK) rc = ms_schema_from_value(&v, path, out, err);
  ms_arena_free(&a);
  return rc;
}

int ms_schema_store(const ms_schema *sc, const char *name, int side,
                    ms_store **out, ms_err *err) {
  ms_store *st = ms_store_new(name, name);
  uint32_t i;
  int rc = MS_OK, t = sc->hastop[side] ? side : 0;
  *out = NULL;
  if (st == NULL) return ms_err_set(err, MS_ENOMEM, "out of memory");
  for (i = 0; i < sc->nmodels && rc == MS_OK; i++) {
    int r = ms_store_add_model(st, sc->models[i], err);
    if (r < 0) rc = r;
  }
  if (rc == MS_OK)
    rc = ms_store_set_top_level(st, (const char **)sc->top[t], sc->ntop[t], err);
  if (rc != MS_OK) {
    ms_store_free(st);
    return rc;
  }
  *out = st;
  return MS_OK;
}

/* {====== dumps ======} */

static void fieldsjson(ms_buf *b, const ms_record *r, int depth) {
  const ms_model *m = r->model;
  uint32_t i;
  for (i = 0; i < m->nfields; i++) {
    if (i) ms_buf_putc(b, ',');
    ms_json_nl(b, depth);
    ms_json_str(b, m->fields[i], strlen(m->fields[i]));
    ms_buf_puts(b, ": ");
    ms_value_json(b, &r->fields[i], depth);
  }
}

static void nested(ms_buf *b, const ms_store *st, const ms_record *r,
                   int depth) {
  const ms_model *m = r->model;
  uint32_t c, i;
  ms_buf_putc(b, '{');
  fieldsjson(b, r, depth + 1);
  for (c = 0; c < m->nchildren; c++) {
    const ms_uidlist *l = &r->children[c];
    int cm = ms_store_model(st, m->children[c].model);
    ms_buf_putc(b, ',');
    ms_json_nl(b, depth + 1);
    ms_json_str(b, m->children[c].field, strlen(m->children[c].field));
    ms_buf_puts(b, ": ");
    if (l->n == 0) { ms_buf_puts(b, "[]"); continue; }
    ms_buf_putc(b, '[');
    for (i = 0; i < l->n; i++) {
      const ms_record *ch = ms_store_child(st, cm, &l->items[i]);
      if (i) ms_buf_putc(b, ',');
      ms_json_nl(b, depth + 2);
      if (ch != NULL) {
        nested(b, st, ch, depth + 2);
      } else {
        ms_buf_putc(b, '{');
        ms_json_nl(b, depth + 3);
        ms_buf_puts(b, "\"_missing_uid\": ");
        ms_json_str(b, l->items[i].s, l->items[i].len);
        ms_json_nl(b, depth + 2);
        ms_buf_putc(b, '}');
      }
    }
    ms_json_nl(b, depth + 1);
    ms_buf_putc(b, ']');
  }
  ms_json_nl(b, depth);
  ms_buf_putc(b, '}');
}

static void reclist(ms_buf *b, const ms_store *st, int midx, int flat) {
  const ms_recvec *v = &st->bymodel[midx];
  size_t i;
  int first = 1;
  ms_buf_putc(b, '[');
  for (i = 0; i < v->n; i++) {
    const ms_record *r = v->items[i];
    if (!r->stored) continue;
    if (!first) ms_buf_putc(b, ',');
    first = 0;
    ms_json_nl(b, 2);
    if (!flat) {
      nested(b, st, r, 2);
      continue;
    }
    {
      static const char *st_names[] = {"unknown", "success", "failure", "error"};
      const ms_model *m = r->model;
      uint32_t c, k;
      ms_buf_putc(b, '{');
      ms_json_nl(b, 3);
      ms_buf_puts(b, "\"_uid\": ");
      ms_json_str(b, r->uid, r->uid_len);
      ms_buf_putc(b, ',');
      fieldsjson(b, r, 3);
      for (c = 0; c < m->nchildren; c++) {
        const ms_uidlist *l = &r->children[c];
        ms_buf_putc(b, ',');
        ms_json_nl(b, 3);
        ms_json_str(b, m->children[c].field, strlen(m->children[c].field));
        ms_buf_puts(b, ": ");
        if (l->n == 0) { ms_buf_puts(b, "[]"); continue; }
        ms_buf_putc(b, '[');
        for (k = 0; k < l->n; k++) {
          if (k) ms_buf_putc(b, ',');
          ms_json_nl(b, 4);
          ms_json_str(b, l->items[k].s, l->items[k].len);
        }
        ms_json_nl(b, 3);
        ms_buf_putc(b, ']');
      }
      ms_buf_putc(b, ',');
      ms_json_nl(b, 3);
      const char *msg;
      ms_buf_printf(b, "\"_status\": \"%s\",", st_names[ms_record_status(r, &msg) & 3]);
      ms_json_nl(b, 3);
      ms_buf_puts(b, "\"_status_message\": ");
      ms_json_str(b, msg, strlen(msg));
      ms_json_nl(b, 2);
      ms_buf_putc(b, '}');
    }
  }
  if (!first) ms_json_nl(b, 1);
  ms_buf_putc(b, ']');
}

void ms_store_nested_json(ms_buf *b, const ms_store *st) {
  uint32_t t;
  ms_buf_putc(b, '{');
  for (t = 0; t < st->ntop; t++) {
    if (t) ms_buf_putc(b, ',');
    ms_json_nl(b, 1);
    ms_json_str(b, st->top_level[t], strlen(st->top_level[t]));
    ms_buf_puts(b, ": ");
    reclist(b, st, ms_store_model(st, st->top_level[t]), 0);
  }
  if (st->ntop) ms_json_nl(b, 0);
  ms_buf_putc(b, '}');
}

typedef struct fdsink {
  int fd, err;
} fdsink;

static int tofd(void *ud, const char *p, size_t n) {
  fdsink *k = ud;
  while (n > 0) {
    ssize_t w = write(k->fd, p, n);
    if (w < 0 && errno == EINTR) continue;
    if (w < 0) return k->err = errno;
    p += w;
    n -= (size_t)w;
  }
  return 0;
}

int ms_store_write_nested(const ms_store *st, int fd) {
  ms_buf b = MS_BUF_INIT;
  fdsink k;
  k.fd = fd;
  k.err = 0;
  b.sink = tofd;
  b.sink_ud = &k;
  ms_store_nested_json(&b, st);
  ms_buf_putc(&b, '\n');
  ms_buf_flush(&b);
  if (k.err == 0 && b.oom) k.err = ENOMEM;
  ms_buf_free(&b);
  return k.err;
}

static int modelcmp(const void *a, const void *b) {
  return strcmp((*(ms_model *const *)a)->name, (*(ms_model *const *)b)->name);
}

void ms_store_flat_json(ms_buf *b, const ms_store *st) {
  ms_model **sorted = malloc((st->nmodels + 1) * sizeof *sorted);
  uint32_t i, n = 0;
  if (sorted == NULL) { b->oom = 1; return; }
  memcpy(sorted, st->models, st->nmodels * sizeof *sorted);
  qsort(sorted, st->nmodels, sizeof *sorted, modelcmp);
  ms_buf_putc(b, '{');
  for (i = 0; i < st->nmodels; i++) {
    int m = ms_store_model(st, sorted[i]->name);
    if (!st->bymodel[m].touched) continue;  /* DiffSync's store has no such bucket */
    if (n++) ms_buf_putc(b, ',');
    ms_json_nl(b, 1);
    ms_json_str(b, sorted[i]->name, strlen(sorted[i]->name));
    ms_buf_puts(b, ": ");
    reclist(b, st, m, 1);
  }
  if (n) ms_json_nl(b, 0);
  ms_buf_putc(b, '}');
  free(sorted);
}
