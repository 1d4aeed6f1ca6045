/*
** l_common.c: what every binding file of moonsync.core shares (see
** l_common.h): checked handles, errors, values between Lua and C, flags,
** record handles and protected metatables. The bindings of each type
** (l_model.c, l_record.c, l_store.c, l_diff.c, ...) use these and nothing
** of each other; l_init.c registers the module.
*/
#include <stdlib.h>
#include <string.h>

#include <lauxlib.h>
#include <lua.h>

#include "l_common.h"

lmodel *ms_l_tomodel(lua_State *L, int i) {
  lmodel *p = luaL_checkudata(L, i, MS_MODEL_MT);
  if (p->m == NULL) luaL_error(L, "model is closed");
  return p;
}

ms_store *ms_l_checkstore(lua_State *L, int i) {
  lstore *p = luaL_checkudata(L, i, MS_STORE_MT);
  if (p->s == NULL) luaL_error(L, "store is closed");
  return p->s;
}

ms_diff *ms_l_checkdiff(lua_State *L, int i) {
  ldiff *p = luaL_checkudata(L, i, MS_DIFF_MT);
  if (p->d == NULL) luaL_error(L, "diff is closed");
  return p->d;
}

void ms_l_pusherror(lua_State *L, const char *type, const char *msg) {
  lua_createtable(L, 0, 2);
  lua_pushstring(L, type);
  lua_setfield(L, -2, "type");
  lua_pushstring(L, msg);
  lua_setfield(L, -2, "message");
  luaL_setmetatable(L, MS_ERROR_MT);
}

/* Raises err as a moonsync.Error. Does not return. */
int ms_l_raise(lua_State *L, const ms_err *err) {
  ms_l_pusherror(L, ms_err_type(err->code), err->msg);
  return lua_error(L);
}

/* Raises err with the adapter, model and uid involved as fields of the
   error, named after the message. Does not return. */
int ms_l_raisectx(lua_State *L, const ms_err *err, const ms_store *s,
                    const char *model, const char *uid, size_t uidlen) {
  ms_l_pusherror(L, ms_err_type(err->code), err->msg);
  if (s != NULL) {
    lua_pushstring(L, s->name);
    lua_setfield(L, -2, "adapter");
  }
  if (model != NULL) {
    lua_pushstring(L, model);
    lua_setfield(L, -2, "model");
  }
  if (uid != NULL) {
    lua_pushlstring(L, uid, uidlen);
    lua_setfield(L, -2, "uid");
  }
  return lua_error(L);
}

/* A string field of the error at idx, read raw (no metamethod of a value
   made elsewhere runs here), or def. */
static const char *rawstr(lua_State *L, int idx, const char *k,
                          const char *def, size_t *n) {
  const char *v;
  lua_pushstring(L, k);
  if (lua_rawget(L, idx) != LUA_TSTRING) {
    lua_pop(L, 1);
    lua_pushstring(L, def);
  }
  v = lua_tolstring(L, -1, n);  /* stays on the stack: the caller pops */
  return v;
}

/* "Type: message (adapter 'a', model 'm', uid 'u')". Every piece is
   fetched before the buffer starts, so the buffer owns the stack top. */
int ms_l_error_tostring(lua_State *L) {
  static const char *const ctx[] = {"adapter", "model", "uid"};
  const char *type, *msg, *c[3];
  size_t tn, mn, cn[3];
  luaL_Buffer b;
  int i, first = 1;
  luaL_checktype(L, 1, LUA_TTABLE);
  lua_settop(L, 1);
  type = rawstr(L, 1, "type", "Error", &tn);
  msg = rawstr(L, 1, "message", "?", &mn);
  for (i = 0; i < 3; i++) c[i] = rawstr(L, 1, ctx[i], "", &cn[i]);
  luaL_buffinit(L, &b);
  luaL_addlstring(&b, type, tn);
  luaL_addstring(&b, ": ");
  luaL_addlstring(&b, msg, mn);
  for (i = 0; i < 3; i++) {
    if (cn[i] == 0) continue;
    luaL_addstring(&b, first ? " (" : ", ");
    luaL_addstring(&b, ctx[i]);
    luaL_addstring(&b, " '");
    luaL_addlstring(&b, c[i], cn[i]);
    luaL_addchar(&b, '\'');
    first = 0;
  }
  if (!first) luaL_addchar(&b, ')');
  luaL_pushresult(&b);
  return 1;
}

/* Is the value at idx a moonsync.Error (by its real metatable)? */
int ms_l_iserror(lua_State *L, int idx) {
  int is = 0;
  if (lua_type(L, idx) == LUA_TTABLE && lua_getmetatable(L, idx)) {
    luaL_getmetatable(L, MS_ERROR_MT);
    is = lua_rawequal(L, -1, -2);
    lua_pop(L, 2);
  }
  return is;
}

/* Message handler for handler calls: string errors get a traceback;
   error values (tables) pass through untouched. */
int ms_l_traceback(lua_State *L) {
  const char *msg = lua_tostring(L, 1);
  if (msg == NULL) return 1;
  luaL_traceback(L, L, msg, 1);
  return 1;
}

void ms_l_push(lua_State *L, const ms_value *v, int inner) {
  uint32_t i;
  switch (v->type) {
    case MS_NIL:
      if (inner) lua_pushlightuserdata(L, NULL);
      else lua_pushnil(L);
      break;
    case MS_BOOL: lua_pushboolean(L, v->u.b); break;
    case MS_INT: lua_pushinteger(L, (lua_Integer)v->u.i); break;
    case MS_FLOAT: lua_pushnumber(L, v->u.f); break;
    case MS_STR: lua_pushlstring(L, v->u.s, v->len); break;
    case MS_LIST:
      luaL_checkstack(L, 4, "value nested too deeply");
      lua_createtable(L, (int)v->len, 0);
      for (i = 0; i < v->len; i++) {
        ms_l_push(L, &v->u.items[i], 1);
        lua_rawseti(L, -2, (lua_Integer)i + 1);
      }
      break;
    case MS_MAP:
      luaL_checkstack(L, 4, "value nested too deeply");
      lua_createtable(L, 0, (int)v->len);
      if (v->len == 0) luaL_setmetatable(L, MS_MAPMARK_MT);  /* not a list */
      for (i = 0; i < v->len; i++) {
        ms_l_push(L, &v->u.items[2 * i], 1);
        ms_l_push(L, &v->u.items[2 * i + 1], 1);
        lua_rawset(L, -3);
      }
      break;
  }
}

/* Is the table at idx marked as a map or list by core.map()/core.list()?
   Returns 'm', 'l' or 0. */
static int marker(lua_State *L, int idx) {
  int kind = 0;
  if (lua_getmetatable(L, idx)) {
    lua_pushliteral(L, "__moonsync");
    if (lua_rawget(L, -2) == LUA_TSTRING)
      kind = lua_tostring(L, -1)[0];
    lua_pop(L, 2);
  }
  return kind;
}

/* Converts the Lua value at idx into an ms_value allocated in st's arena.
   `what` names the field in errors. May raise. */
static void tovalue(lua_State *L, int idx, ms_store *st, ms_value *out,
                    const char *what, int depth) {
  int t = lua_type(L, idx);
  idx = lua_absindex(L, idx);
  *out = ms_nil;
  switch (t) {
    case LUA_TNIL: return;
    case LUA_TLIGHTUSERDATA:
      if (lua_touserdata(L, idx) == NULL) return;  /* core.null, cjson.null */
      break;
    case LUA_TBOOLEAN:
      out->type = MS_BOOL;
      out->u.b = lua_toboolean(L, idx);
      return;
    case LUA_TNUMBER:
      if (lua_isinteger(L, idx)) {
        out->type = MS_INT;
        out->u.i = (int64_t)lua_tointeger(L, idx);
      } else {
        out->type = MS_FLOAT;
        out->u.f = (double)lua_tonumber(L, idx);
      }
      return;
    case LUA_TSTRING: {
      size_t n;
      const char *s = lua_tolstring(L, idx, &n);
      char *c = ms_arena_strndup(&st->arena, s, n);
      if (c == NULL) luaL_error(L, "out of memory");
      *out = ms_value_str(c, n);
      return;
    }
    case LUA_TTABLE: {
      lua_Integer n = (lua_Integer)lua_rawlen(L, idx), count = 0, i;
      int kind;
      if (depth >= MAX_NEST)
        luaL_error(L, "%s: value nested deeper than %d levels (a table that "
                   "holds itself?)", what, MAX_NEST);
      /* each level holds a key, a value and the metatable probe */
      luaL_checkstack(L, 4, "value nested too deeply");
      kind = marker(L, idx);
      lua_pushnil(L);
      while (lua_next(L, idx)) {
        count++;
        if (kind != 'm' && !(lua_type(L, -2) == LUA_TNUMBER &&
                             lua_isinteger(L, -2) && lua_tointeger(L, -2) >= 1
                             && lua_tointeger(L, -2) <= n))
          kind = 'm';
        lua_pop(L, 1);
      }
      if (kind == 0) kind = 'l';
      if (kind == 'l') {
        out->type = MS_LIST;
        out->len = (uint32_t)n;
        out->u.items = n ? ms_arena_alloc(&st->arena, (size_t)n * sizeof *out->u.items)
                         : NULL;
        if (n && out->u.items == NULL) luaL_error(L, "out of memory");
        for (i = 1; i <= n; i++) {
          lua_rawgeti(L, idx, i);
          tovalue(L, -1, st, &out->u.items[i - 1], what, depth + 1);
          lua_pop(L, 1);
        }
        return;
      }
      out->type = MS_MAP;
      out->len = (uint32_t)count;
      out->u.items = count ? ms_arena_alloc(&st->arena, (size_t)count * 2 *
                                            sizeof *out->u.items) : NULL;
      if (count && out->u.items == NULL) luaL_error(L, "out of memory");
      i = 0;
      lua_pushnil(L);
      while (lua_next(L, idx)) {
        if (lua_type(L, -2) != LUA_TSTRING)
          luaL_error(L, "%s: map keys must be strings, got %s", what,
                     luaL_typename(L, -2));
        tovalue(L, -2, st, &out->u.items[2 * i], what, depth + 1);
        tovalue(L, -1, st, &out->u.items[2 * i + 1], what, depth + 1);
        i++;
        lua_pop(L, 1);
      }
      if (out->len > 1) {
        /* Lua's table order is arbitrary: sort keys for stable output */
        uint32_t a, b;
        for (a = 1; a < out->len; a++)
          for (b = a; b > 0; b--) {
            ms_value *x = &out->u.items[2 * (b - 1)], *y = &out->u.items[2 * b];
            size_t m = x->len < y->len ? x->len : y->len;
            int c = memcmp(x->u.s, y->u.s, m);
            ms_value tk, tv;
            if (c < 0 || (c == 0 && x->len <= y->len)) break;
            tk = x[0]; tv = x[1];
            x[0] = y[0]; x[1] = y[1];
            y[0] = tk; y[1] = tv;
          }
      }
      return;
    }
    default:
      break;
  }
  luaL_error(L, "%s: cannot store a %s value (use nil, boolean, number, "
             "string or table)", what, luaL_typename(L, idx));
}

/* Flags from an integer or a list of names. */
uint32_t ms_l_checkflags(lua_State *L, int idx, int model) {
  uint32_t flags = 0;
  lua_Integer i, n;
  if (lua_isnoneornil(L, idx)) return 0;
  if (lua_isinteger(L, idx)) {
    /* a number must be made of known bits: -1 or 2^62 would set flags
       nobody asked for */
    lua_Integer v = lua_tointeger(L, idx);
    lua_Integer all = model ? MS_MF_ALL : MS_GF_ALL;
    if (v < 0 || (v & ~all) != 0)
      luaL_error(L, "%s flags: %I is not a valid value (0 to %I, a "
                 "combination of the known flags)", model ? "model" : "global",
                 v, all);
    return (uint32_t)v;
  }
  luaL_checktype(L, idx, LUA_TTABLE);
  n = (lua_Integer)lua_rawlen(L, idx);
  for (i = 1; i <= n; i++) {
    const char *name;
    lua_rawgeti(L, idx, i);
    name = lua_tostring(L, -1);
    if (name == NULL || ms_flag_parse(name, model, &flags) != 0)
      luaL_error(L, "unknown %s flag '%s'", model ? "model" : "global",
                 name ? name : luaL_typename(L, -1));
    lua_pop(L, 1);
  }
  return flags;
}

void ms_l_pushnames(lua_State *L, char **names, uint32_t from, uint32_t to) {
  uint32_t i;
  lua_createtable(L, (int)(to - from), 0);
  for (i = from; i < to; i++) {
    lua_pushstring(L, names[i]);
    lua_rawseti(L, -2, (lua_Integer)(i - from) + 1);
  }
}

/* Pushes a handle for a record of a store; the handle takes a reference
   on the store. */
void ms_l_pushrecord(lua_State *L, ms_record *r) {
  lrecord *h = lua_newuserdatauv(L, sizeof *h, 0);
  h->r = NULL;
  luaL_setmetatable(L, MS_RECORD_MT);
  ms_store_ref(r->store);
  h->r = r;
}

ms_record *ms_l_checkrec(lua_State *L, int i) {
  lrecord *h = torecord(L, i);
  if (h->r == NULL) luaL_error(L, "record handle is closed");
  return h->r;
}

/* Fills fields of r from the table at tidx. Unknown keys are errors,
   unless creating == 2 (lenient: they are skipped). */
void ms_l_setfields(lua_State *L, ms_record *r, int tidx, int creating) {
  const ms_model *m = r->model;
  ms_err err;
  tidx = lua_absindex(L, tidx);
  lua_pushnil(L);
  while (lua_next(L, tidx)) {
    const char *k;
    size_t kn;
    int fi;
    ms_value v;
    if (lua_type(L, -2) != LUA_TSTRING)
      luaL_error(L, "%s: field names must be strings", m->name);
    k = lua_tolstring(L, -2, &kn);
    fi = ms_model_field(m, k, kn);
    if (fi < 0 && creating == 2) {
      lua_pop(L, 1);
      continue;
    }
    if (fi < 0) {
      uint32_t c;
      for (c = 0; c < m->nchildren; c++)
        if (strcmp(m->children[c].field, k) == 0)
          luaL_error(L, "%s: children field '%s' is filled with add_child",
                     m->name, k);
      luaL_error(L, "%s has no field '%s'", m->name, k);
    }
    tovalue(L, -1, r->store, &v, k, 0);
    if (creating) r->fields[fi] = v;
    else if (ms_record_set(r, (uint32_t)fi, &v, &err) != MS_OK)
      ms_l_raise(L, &err);
    lua_pop(L, 1);
  }
}

/* Raises unless the table at tidx (or the one at tidx2, when not 0) has
   every identifier of r's model: nil is missing, moonsync.null a value. */
void ms_l_checkids(lua_State *L, const ms_record *r, int tidx, int tidx2) {
  uint32_t i;
  tidx = lua_absindex(L, tidx);
  if (tidx2) tidx2 = lua_absindex(L, tidx2);
  for (i = 0; i < r->model->nids; i++) {
    int given = lua_getfield(L, tidx, r->model->fields[i]) != LUA_TNIL;
    lua_pop(L, 1);
    if (!given && tidx2) {
      given = lua_getfield(L, tidx2, r->model->fields[i]) != LUA_TNIL;
      lua_pop(L, 1);
    }
    if (!given) {
      ms_err err;
      ms_err_missing_id(&err, r->model, i);
      ms_l_raise(L, &err);
    }
  }
}

/* Fills the new record r from the fields table at tidx, identifiers
   checked, model flags from flagsidx when given there, and its uid
   computed unless an insert will do it. May raise. */
void ms_l_fillrecord(lua_State *L, ms_record *r, int tidx, int flagsidx,
                       int uid) {
  luaL_checktype(L, tidx, LUA_TTABLE);
  ms_l_setfields(L, r, tidx, 1);
  ms_l_checkids(L, r, tidx, 0);
  if (!lua_isnoneornil(L, flagsidx)) r->flags = ms_l_checkflags(L, flagsidx, 1);
  if (uid && ms_record_uid(r) != MS_OK) luaL_error(L, "out of memory");
}

/* A new record of model mi in store s (not inserted): see fillrecord. */
ms_record *ms_l_buildrecord(lua_State *L, ms_store *s, int mi, int tidx,
                              int flagsidx, int uid) {
  ms_record *r = ms_store_new_record(s, mi);
  if (r == NULL) luaL_error(L, "out of memory");
  ms_l_fillrecord(L, r, tidx, flagsidx, uid);
  return r;
}

void ms_l_rebind(lrecord *h, ms_record *r) {
  ms_store_ref(r->store);
  ms_store_free(h->r->store);
  h->r = r;
}

const char *const ms_l_statuses[] = {"unknown", "success", "failure", "error",
                                       NULL};

void ms_l_tovalue_raw(lua_State *L, int idx, ms_store *st, ms_value *out,
                      const char *what) {
  tovalue(L, idx, st, out, what, 0);
}

ms_store *ms_l_scratch_store(lua_State *L) {
  lstore *p = lua_newuserdatauv(L, sizeof *p, 0);
  p->s = NULL;
  luaL_setmetatable(L, MS_STORE_MT);
  p->s = ms_store_new_small("scratch", "scratch");
  if (p->s == NULL) luaL_error(L, "out of memory");
  return p->s;
}

typedef struct tvargs { ms_store *s; ms_value *out; const char *what; } tvargs;

static int tv_protected(lua_State *L) {
  tvargs *a = lua_touserdata(L, 2);
  tovalue(L, 1, a->s, a->out, a->what, 0);
  return 0;
}

int ms_l_tovalue(lua_State *L, int idx, ms_store *s, ms_value *out,
                 const char *what) {
  tvargs a;
  a.s = s;
  a.out = out;
  a.what = what;
  idx = lua_absindex(L, idx);
  lua_pushcfunction(L, tv_protected);
  lua_pushvalue(L, idx);
  lua_pushlightuserdata(L, &a);
  return lua_pcall(L, 2, 0, 0) == LUA_OK ? MS_OK : MS_EINPUT;
}

int ms_l_pushbuf(lua_State *L, ms_buf *b) {
  if (b->oom) {
    ms_buf_free(b);
    return luaL_error(L, "out of memory");
  }
  lua_pushlstring(L, b->data ? b->data : "", b->len);
  ms_buf_free(b);
  return 1;
}

void ms_l_protect(lua_State *L, const char *name) {
  lua_pushstring(L, name);
  lua_setfield(L, -2, "__metatable");
}

void ms_l_createmeta(lua_State *L, const char *name, const luaL_Reg *meth,
                     lua_CFunction gc, int closable) {
  luaL_newmetatable(L, name);
  lua_newtable(L);
  luaL_setfuncs(L, meth, 0);
  lua_setfield(L, -2, "__index");
  if (gc) {
    lua_pushcfunction(L, gc);
    lua_setfield(L, -2, "__gc");
    if (closable) {
      lua_pushcfunction(L, gc);
      lua_setfield(L, -2, "__close");
    }
  }
  ms_l_protect(L, name);
  lua_pop(L, 1);
}

/* A protected metatable holding only `field` = value (marks, errors). */
void ms_l_markmeta(lua_State *L, const char *name, const char *field,
                     const char *value, lua_CFunction fn) {
  luaL_newmetatable(L, name);
  if (fn) lua_pushcfunction(L, fn);
  else lua_pushstring(L, value);
  lua_setfield(L, -2, field);
  ms_l_protect(L, name);
  lua_pop(L, 1);
}
