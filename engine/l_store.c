/*
** l_store.c: stores, the record stores of adapters (store.h): records
** added, looked up and removed, documents loaded in C, and the store's
** text and JSON forms.
*/
#include <limits.h>
#include <string.h>

#include <lauxlib.h>
#include <lua.h>

#include "fixture.h"
#include "l_common.h"
#include "perm.h"
#include "progress.h"

static int l_core_store(lua_State *L) {
  const char *name = luaL_checkstring(L, 1);
  const char *type = luaL_optstring(L, 2, name);
  lstore *p = lua_newuserdatauv(L, sizeof *p, 0);
  p->s = NULL;
  luaL_setmetatable(L, MS_STORE_MT);
  p->s = ms_store_new(name, type);
  if (p->s == NULL) return luaL_error(L, "out of memory");
  return 1;
}

static int l_store_gc(lua_State *L) {
  lstore *p = luaL_checkudata(L, 1, MS_STORE_MT);
  ms_store_free(p->s);
  p->s = NULL;
  return 0;
}

static int l_store_add_model(lua_State *L) {
  ms_store *s = ms_l_checkstore(L, 1);
  ms_err err;
  if (ms_store_add_model(s, ms_l_tomodel(L, 2)->m, &err) < 0) return ms_l_raise(L, &err);
  return 0;
}

static int l_store_set_top_level(lua_State *L) {
  ms_store *s = ms_l_checkstore(L, 1);
  lua_Integer i, n;
  const char **names;
  ms_err err;
  luaL_checktype(L, 2, LUA_TTABLE);
  n = (lua_Integer)lua_rawlen(L, 2);
  names = lua_newuserdatauv(L, (size_t)(n + 1) * sizeof *names, 0);
  for (i = 1; i <= n; i++) {
    /* the list at 2 keeps the strings alive */
    lua_rawgeti(L, 2, i);
    names[i - 1] = luaL_checkstring(L, -1);
    lua_pop(L, 1);
  }
  if (ms_store_set_top_level(s, names, (uint32_t)n, &err) != MS_OK)
    return ms_l_raise(L, &err);
  return 0;
}

static int l_store_top_level(lua_State *L) {
  ms_store *s = ms_l_checkstore(L, 1);
  ms_l_pushnames(L, s->top_level, 0, s->ntop);
  return 1;
}

static int l_store_models(lua_State *L) {
  ms_store *s = ms_l_checkstore(L, 1);
  uint32_t i;
  lua_createtable(L, (int)s->nmodels, 0);
  for (i = 0; i < s->nmodels; i++) {
    lua_pushstring(L, s->models[i]->name);
    lua_rawseti(L, -2, (lua_Integer)i + 1);
  }
  return 1;
}

static int l_store_name(lua_State *L) {
  ms_store *s = ms_l_checkstore(L, 1);
  lua_pushstring(L, s->name);
  lua_pushstring(L, s->type);
  return 2;
}

/* Model index from a name, model userdata or record; raises if unknown. */
static int checkmodel(lua_State *L, ms_store *s, int idx) {
  const char *name;
  int mi;
  if (luaL_testudata(L, idx, MS_MODEL_MT))
    name = ms_l_tomodel(L, idx)->m->name;
  else if (luaL_testudata(L, idx, MS_RECORD_MT))
    name = ms_l_checkrec(L, idx)->model->name;
  else
    name = luaL_checkstring(L, idx);
  mi = ms_store_model(s, name);
  if (mi < 0) {
    ms_err err;
    ms_err_set(&err, MS_ENOTFOUND, "adapter '%s' has no model '%s'", s->name,
               name);
    ms_l_raise(L, &err);
  }
  return mi;
}

/* store:add(record) -> the stored record's handle (the same handle) */
static int l_store_add(lua_State *L) {
  ms_store *s = ms_l_checkstore(L, 1);
  lrecord *h = torecord(L, 2);
  ms_record *r;
  ms_err err;
  int mi;
  if (h->r == NULL) return luaL_error(L, "record handle is closed");
  if (h->r->store == s) {
    if (ms_store_insert(s, h->r, &err) != MS_OK)
      return ms_l_raisectx(L, &err, s, h->r->model->name, h->r->uid, h->r->uid_len);
    lua_settop(L, 2);
    return 1;
  }
  mi = checkmodel(L, s, 2);
  if (ms_store_adopt(s, mi, h->r, &r, &err) != MS_OK)
    return ms_l_raisectx(L, &err, s, h->r->model->name, h->r->uid, h->r->uid_len);
  ms_l_rebind(h, r);
  lua_settop(L, 2);
  return 1;
}

/* store:new(model, fields[, flags]) -> a new stored record. */
static int l_store_new(lua_State *L) {
  ms_store *s = ms_l_checkstore(L, 1);
  ms_record *r = ms_l_buildrecord(L, s, checkmodel(L, s, 2), 3, 4, 0);
  ms_err err;
  if (ms_store_insert(s, r, &err) != MS_OK)
    return ms_l_raisectx(L, &err, s, r->model->name, r->uid, r->uid_len);
  ms_l_pushrecord(L, r);
  return 1;
}

/* A scalar identifier value from Lua, without copying (strings point into
   the Lua string, which the caller keeps on the stack). */
static void scalar(lua_State *L, int idx, const ms_model *m, uint32_t fi,
                   ms_value *v) {
  *v = ms_nil;
  switch (lua_type(L, idx)) {
    case LUA_TBOOLEAN:
      v->type = MS_BOOL;
      v->u.b = lua_toboolean(L, idx);
      return;
    case LUA_TNUMBER:
      if (lua_isinteger(L, idx)) {
        v->type = MS_INT;
        v->u.i = (int64_t)lua_tointeger(L, idx);
      } else {
        v->type = MS_FLOAT;
        v->u.f = (double)lua_tonumber(L, idx);
      }
      return;
    case LUA_TSTRING: {
      size_t n;
      const char *s = lua_tolstring(L, idx, &n);
      *v = ms_value_str(s, n);
      return;
    }
    default:
      luaL_error(L, "%s: identifier '%s' missing or not a scalar in the "
                 "lookup", m->name, m->fields[fi]);
  }
}

/* store:create_base(model, ids, attrs) -> DiffSync's create_base: a new,
   not yet stored record from ids and attrs (keys the model does not
   declare are skipped), status success "Created successfully". */
static int l_store_create_base(lua_State *L) {
  ms_store *s = ms_l_checkstore(L, 1);
  int mi = checkmodel(L, s, 2);
  ms_record *r;
  luaL_checktype(L, 3, LUA_TTABLE);
  r = ms_store_new_record(s, mi);
  if (r == NULL) return luaL_error(L, "out of memory");
  ms_l_setfields(L, r, 3, 2);
  if (lua_istable(L, 4)) ms_l_setfields(L, r, 4, 2);
  ms_l_checkids(L, r, 3, lua_istable(L, 4) ? 4 : 0);
  if (ms_record_uid(r) != MS_OK) return luaL_error(L, "out of memory");
  r->status = MS_ST_SUCCESS;
  r->msg = MS_MSG_CREATED;
  ms_l_pushrecord(L, r);
  return 1;
}

/* store:record(model, fields[, flags]) -> a new record of this store that
   is not stored yet (a sync inserts what a create handler returns). */
static int l_store_record(lua_State *L) {
  ms_store *s = ms_l_checkstore(L, 1);
  ms_l_pushrecord(L, ms_l_buildrecord(L, s, checkmodel(L, s, 2), 3, 4, 1));
  return 1;
}

static const char *uidarg(lua_State *L, ms_store *s, int mi, int idx,
                          size_t *n, ms_buf *b) {
  const ms_model *m = s->models[mi];
  ms_value *f;
  uint32_t i;
  if (!lua_istable(L, idx)) return luaL_checklstring(L, idx, n);
  f = lua_newuserdatauv(L, m->nids * sizeof *f, 0);
  for (i = 0; i < m->nids; i++) {
    lua_getfield(L, idx, m->fields[i]);  /* stays on the stack */
    scalar(L, -1, m, i, &f[i]);
  }
  ms_uid_build(b, m, f);
  *n = b->len;
  return b->data ? b->data : "";
}

static int getrec(lua_State *L, int must) {
  ms_store *s = ms_l_checkstore(L, 1);
  int mi = checkmodel(L, s, 2);
  ms_buf b = MS_BUF_INIT;
  size_t n;
  const char *uid = uidarg(L, s, mi, 3, &n, &b);
  ms_record *r = ms_store_get(s, mi, uid, n);
  if (r == NULL) {
    ms_err err;
    if (!must) {
      ms_buf_free(&b);
      lua_pushnil(L);
      return 1;
    }
    ms_err_set(&err, MS_ENOTFOUND, "%s %.*s not present in %s",
               s->models[mi]->name, (int)n, uid, s->name);
    lua_pushlstring(L, uid, n);
    ms_buf_free(&b);
    return ms_l_raisectx(L, &err, s, s->models[mi]->name, lua_tostring(L, -1),
                    lua_rawlen(L, -1));
  }
  ms_buf_free(&b);
  ms_l_pushrecord(L, r);
  return 1;
}

static int l_store_get(lua_State *L) { return getrec(L, 1); }

static int l_store_get_or_none(lua_State *L) { return getrec(L, 0); }

static int l_store_get_all(lua_State *L) {
  ms_store *s = ms_l_checkstore(L, 1);
  int mi = checkmodel(L, s, 2);
  const ms_recvec *v = &s->bymodel[mi];
  size_t i;
  lua_Integer k = 0;
  ms_store_touch(s, mi);
  lua_createtable(L, (int)v->live, 0);
  for (i = 0; i < v->n; i++) {
    if (!v->items[i]->stored) continue;
    ms_l_pushrecord(L, v->items[i]);
    lua_rawseti(L, -2, ++k);
  }
  return 1;
}

static int l_store_get_by_uids(lua_State *L) {
  ms_store *s = ms_l_checkstore(L, 1);
  int mi = checkmodel(L, s, 3);
  lua_Integer i, n;
  luaL_checktype(L, 2, LUA_TTABLE);
  n = (lua_Integer)lua_rawlen(L, 2);
  lua_createtable(L, (int)n, 0);
  for (i = 1; i <= n; i++) {
    size_t len;
    const char *uid;
    ms_record *r;
    lua_rawgeti(L, 2, i);
    uid = luaL_checklstring(L, -1, &len);
    r = ms_store_get(s, mi, uid, len);
    if (r == NULL) {
      ms_err err;
      ms_err_set(&err, MS_ENOTFOUND, "%s %s not present in %s",
                 s->models[mi]->name, uid, s->name);
      return ms_l_raisectx(L, &err, s, s->models[mi]->name, uid, len);
    }
    lua_pop(L, 1);
    ms_l_pushrecord(L, r);
    lua_rawseti(L, -2, i);
  }
  return 1;
}

static int l_store_count(lua_State *L) {
  ms_store *s = ms_l_checkstore(L, 1);
  int mi = lua_isnoneornil(L, 2) ? -1 : checkmodel(L, s, 2);
  lua_pushinteger(L, (lua_Integer)ms_store_count(s, mi));
  return 1;
}

static int l_store_remove(lua_State *L) {
  ms_store *s = ms_l_checkstore(L, 1);
  ms_record *r = ms_l_checkrec(L, 2);
  ms_err err;
  if (ms_store_remove(s, r, lua_toboolean(L, 3), &err) != MS_OK)
    return ms_l_raisectx(L, &err, s, r->model->name, r->uid, r->uid_len);
  return 0;
}

static int l_store_load_file(lua_State *L) {
  ms_store *s = ms_l_checkstore(L, 1);
  const char *path = luaL_checkstring(L, 2);
  char buf[PATH_MAX];
  ms_err err;
  ms_load_opts o;
  ms_l_permit_path(L, MS_PERM_READ, path, buf);
  memset(&o, 0, sizeof o);
  o.skip_dups = lua_toboolean(L, 3);
  o.progress.fn = ms_progress_load;  /* shown when enabled */
  o.progress.ud = (void *)path;
  if (ms_load_file_opts(s, path, &o, &err) != MS_OK)
    return ms_l_raisectx(L, &err, s, NULL, NULL, 0);
  return 0;
}

/* core.load_files(store1, path1, store2, path2[, skip_duplicates]): loads
   two files into two stores at once, one of them in a second thread (the
   stores share nothing). Raises the first error, naming its file. */
static int l_core_load_files(lua_State *L) {
  ms_store *st[2];
  const char *path[2];
  ms_load_opts o[2];
  ms_err err[2];
  char buf[PATH_MAX];
  int i, which;
  for (i = 0; i < 2; i++) {
    st[i] = ms_l_checkstore(L, 1 + 2 * i);
    path[i] = luaL_checkstring(L, 2 + 2 * i);
    ms_l_permit_path(L, MS_PERM_READ, path[i], buf);
    memset(&o[i], 0, sizeof o[i]);
    o[i].skip_dups = lua_toboolean(L, 5);
    o[i].progress.fn = ms_progress_load;
    o[i].progress.ud = (void *)path[i];
  }
  if (st[0] == st[1]) return luaL_error(L, "load_files: two different stores are needed");
  if (ms_load_pair(st, path, o, err, &which) != MS_OK)
    return ms_l_raisectx(L, &err[which], st[which], NULL, NULL, 0);
  return 0;
}

static int l_store_load_json(lua_State *L) {
  ms_store *s = ms_l_checkstore(L, 1);
  size_t n;
  const char *text = luaL_checklstring(L, 2, &n);
  ms_err err;
  if (ms_load_text(s, text, n, luaL_optstring(L, 3, "<json>"),
                   lua_toboolean(L, 4), &err) != MS_OK)
    return ms_l_raisectx(L, &err, s, NULL, NULL, 0);
  return 0;
}

static int l_store_str(lua_State *L) {
  ms_buf b = MS_BUF_INIT;
  ms_store_str(&b, ms_l_checkstore(L, 1));
  return ms_l_pushbuf(L, &b);
}

static int l_store_nested_json(lua_State *L) {
  ms_buf b = MS_BUF_INIT;
  ms_store_nested_json(&b, ms_l_checkstore(L, 1));
  return ms_l_pushbuf(L, &b);
}

static int l_store_flat_json(lua_State *L) {
  ms_buf b = MS_BUF_INIT;
  ms_store_flat_json(&b, ms_l_checkstore(L, 1));
  return ms_l_pushbuf(L, &b);
}

/* store:dict() -> {model = {uid = {field = value (non-nil), ...}}}: the
   models DiffSync's dict() lists, those the store ever used (empty ones
   included), in registration order. */
static int l_store_dict(lua_State *L) {
  ms_store *s = ms_l_checkstore(L, 1);
  uint32_t m, i, c;
  size_t k;
  lua_createtable(L, 0, (int)s->nmodels);
  luaL_setmetatable(L, MS_MAPMARK_MT);
  for (m = 0; m < s->nmodels; m++) {
    const ms_recvec *v = &s->bymodel[m];
    if (!v->touched) continue;
    lua_createtable(L, 0, (int)v->live);
    luaL_setmetatable(L, MS_MAPMARK_MT);  /* a map even when empty */
    for (k = 0; k < v->n; k++) {
      const ms_record *r = v->items[k];
      if (!r->stored) continue;
      lua_createtable(L, 0, (int)r->model->nfields);
      for (i = 0; i < r->model->nfields; i++) {
        if (r->fields[i].type == MS_NIL) continue;
        ms_l_push(L, &r->fields[i], 1);
        lua_setfield(L, -2, r->model->fields[i]);
      }
      for (c = 0; c < r->model->nchildren; c++) {
        const ms_uidlist *l = &r->children[c];
        if (l->n == 0) continue;
        lua_createtable(L, (int)l->n, 0);
        for (i = 0; i < l->n; i++) {
          lua_pushlstring(L, l->items[i].s, l->items[i].len);
          lua_rawseti(L, -2, (lua_Integer)i + 1);
        }
        lua_setfield(L, -2, r->model->children[c].field);
      }
      lua_pushlstring(L, r->uid, r->uid_len);
      lua_insert(L, -2);
      lua_rawset(L, -3);
    }
    lua_setfield(L, -2, s->models[m]->name);
  }
  return 1;
}

/* store:or_flags(model, flags): adds model flags to all its records */
static int l_store_or_flags(lua_State *L) {
  ms_store *s = ms_l_checkstore(L, 1);
  int mi = checkmodel(L, s, 2);
  ms_store_or_flags(s, mi, ms_l_checkflags(L, 3, 1));
  return 0;
}

/* store:orphans() -> count, "model 'uid', ..." (at most 5 named): the
   records a nested document of the store would leave out */
static int l_store_orphans(lua_State *L) {
  ms_buf b = MS_BUF_INIT;
  size_t n = ms_store_orphans(ms_l_checkstore(L, 1), &b, 5);
  lua_pushinteger(L, (lua_Integer)n);
  ms_l_pushbuf(L, &b);
  return 2;
}

static int l_store_len(lua_State *L) {
  lua_pushinteger(L, (lua_Integer)ms_store_count(ms_l_checkstore(L, 1), -1));
  return 1;
}

static const luaL_Reg storemeth[] = {
  {"add",             l_store_add},
  {"add_model",       l_store_add_model},
  {"count",           l_store_count},
  {"create_base",     l_store_create_base},
  {"dict",            l_store_dict},
  {"flat_json",       l_store_flat_json},
  {"get",             l_store_get},
  {"get_all",         l_store_get_all},
  {"get_by_uids",     l_store_get_by_uids},
  {"get_or_none",     l_store_get_or_none},
  {"load_file",       l_store_load_file},
  {"load_json",       l_store_load_json},
  {"models",          l_store_models},
  {"name",            l_store_name},
  {"nested_json",     l_store_nested_json},
  {"or_flags",        l_store_or_flags},
  {"orphans",         l_store_orphans},
  {"new",             l_store_new},
  {"record",          l_store_record},
  {"remove",          l_store_remove},
  {"set_top_level",   l_store_set_top_level},
  {"str",             l_store_str},
  {"top_level",       l_store_top_level},
  {NULL, NULL}
};

void ms_l_store_register(lua_State *L) {
  ms_l_createmeta(L, MS_STORE_MT, storemeth, l_store_gc, 0);
  luaL_getmetatable(L, MS_STORE_MT);
  lua_pushcfunction(L, l_store_len);
  lua_setfield(L, -2, "__len");
  lua_pop(L, 1);
  lua_pushcfunction(L, l_core_store);
  lua_setfield(L, -2, "store");
  lua_pushcfunction(L, l_core_load_files);
  lua_setfield(L, -2, "load_files");
}
