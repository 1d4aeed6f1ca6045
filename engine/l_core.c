/*
** l_core.c: the moonsync.core Lua module: models, stores (adapters' record
** stores), record handles and diffs. Records stay in the C store; Lua gets
** handles. Core errors reach Lua as moonsync.Error tables
** {type=, message=} whose tostring is "Type: message".
*/
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#include <lauxlib.h>
#include <lua.h>
#define XXH_INLINE_ALL
#include <xxhash.h>

#include "diff.h"
#include "fixture.h"
#include "sync.h"
#include "json.h"
#include "l_core.h"
#include "perm.h"

#include "l_internal.h"


#define torecord(L, i) ((lrecord *)luaL_checkudata(L, i, MS_RECORD_MT))

static lmodel *tomodel(lua_State *L, int i) {
  lmodel *p = luaL_checkudata(L, i, MS_MODEL_MT);
  if (p->m == NULL) luaL_error(L, "model is closed");
  return p;
}

static ms_store *tostore(lua_State *L, int i) {
  lstore *p = luaL_checkudata(L, i, MS_STORE_MT);
  if (p->s == NULL) luaL_error(L, "store is closed");
  return p->s;
}

static ms_diff *todiff(lua_State *L, int i) {
  ldiff *p = luaL_checkudata(L, i, MS_DIFF_MT);
  if (p->d == NULL) luaL_error(L, "diff is closed");
  return p->d;
}

/* {====== errors ======} */

static void pusherror(lua_State *L, const char *type, const char *msg) {
  lua_createtable(L, 0, 2);
  lua_pushstring(L, type);
  lua_setfield(L, -2, "type");
  lua_pushstring(L, msg);
  lua_setfield(L, -2, "message");
  luaL_setmetatable(L, MS_ERROR_MT);
}

/* Raises err as a moonsync.Error. Does not return. */
static int raiseerr(lua_State *L, const ms_err *err) {
  pusherror(L, ms_err_type(err->code), err->msg);
  return lua_error(L);
}

/* Raises err with the adapter, model and uid involved as fields of the
   error, named after the message. Does not return. */
static int raisectx(lua_State *L, const ms_err *err, const ms_store *s,
                    const char *model, const char *uid, size_t uidlen) {
  pusherror(L, ms_err_type(err->code), err->msg);
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
static int l_error_tostring(lua_State *L) {
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
static int iserror(lua_State *L, int idx) {
  int is = 0;
  if (lua_type(L, idx) == LUA_TTABLE && lua_getmetatable(L, idx)) {
    luaL_getmetatable(L, MS_ERROR_MT);
    is = lua_rawequal(L, -1, -2);
    lua_pop(L, 2);
  }
  return is;
}

int ms_l_iserror(lua_State *L, int idx) { return iserror(L, idx); }

/* core.is_error(v) -> is v a moonsync.Error? (a job cannot fake one) */
static int l_core_is_error(lua_State *L) {
  lua_pushboolean(L, iserror(L, 1));
  return 1;
}

/* core.error_text(v) -> a message for any error value, without running
   code the value carries: strings and numbers as they are, moonsync
   errors as their tostring, anything else as its type. */
static int l_core_error_text(lua_State *L) {
  lua_settop(L, 1);
  switch (lua_type(L, 1)) {
    case LUA_TSTRING:
      return 1;
    case LUA_TNUMBER:
      lua_pushstring(L, lua_tostring(L, 1));
      return 1;
    case LUA_TTABLE:
      if (iserror(L, 1)) return l_error_tostring(L);
      /* fall through */
    default:
      lua_pushfstring(L, "(error object is a %s value)", luaL_typename(L, 1));
      return 1;
  }
}

/* Message handler for handler calls: string errors get a traceback;
   error values (tables) pass through untouched. */
static int msghandler_tb(lua_State *L) {
  const char *msg = lua_tostring(L, 1);
  if (msg == NULL) return 1;
  luaL_traceback(L, L, msg, 1);
  return 1;
}

/* core.error(type, message): a moonsync.Error value (not raised). */
static int l_core_error(lua_State *L) {
  pusherror(L, luaL_checkstring(L, 1), luaL_checkstring(L, 2));
  return 1;
}

/* {====== values ======} */

static void pushvalue(lua_State *L, const ms_value *v, int inner) {
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
        pushvalue(L, &v->u.items[i], 1);
        lua_rawseti(L, -2, (lua_Integer)i + 1);
      }
      break;
    case MS_MAP:
      luaL_checkstack(L, 4, "value nested too deeply");
      lua_createtable(L, 0, (int)v->len);
      if (v->len == 0) luaL_setmetatable(L, MS_MAPMARK_MT);  /* not a list */
      for (i = 0; i < v->len; i++) {
        pushvalue(L, &v->u.items[2 * i], 1);
        pushvalue(L, &v->u.items[2 * i + 1], 1);
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
      int kind = marker(L, idx);
      if (depth > MAX_NEST)
        luaL_error(L, "%s: value nested deeper than %d levels (a cycle?)",
                   what, MAX_NEST);
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

/* core.list([t]) / core.map([t]): mark a table so that an empty table
   keeps its JSON kind. Returns t (a new table when none is given). */
static int mark(lua_State *L, const char *mt) {
  if (lua_isnoneornil(L, 1)) lua_newtable(L);
  else luaL_checktype(L, 1, LUA_TTABLE);
  lua_settop(L, 1);
  luaL_setmetatable(L, mt);
  return 1;
}
static int l_core_list(lua_State *L) { return mark(L, MS_LISTMARK_MT); }
static int l_core_map(lua_State *L) { return mark(L, MS_MAPMARK_MT); }

/* {====== flags ======} */

/* Flags from an integer or a list of names. */
static uint32_t checkflags(lua_State *L, int idx, int model) {
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

/* core.flags(list, model) -> integer */
static int l_core_flags(lua_State *L) {
  lua_pushinteger(L, (lua_Integer)checkflags(L, 1, lua_toboolean(L, 2)));
  return 1;
}

/* {====== models ======} */

static const char **strarray(lua_State *L, int tidx, const char *key,
                             uint32_t *n) {
  const char **arr;
  lua_Integer i, len;
  *n = 0;
  if (lua_getfield(L, tidx, key) == LUA_TNIL) {
    lua_pop(L, 1);
    return NULL;
  }
  if (!lua_istable(L, -1)) luaL_error(L, "model %s: expected a list of names", key);
  len = (lua_Integer)lua_rawlen(L, -1);
  /* the strings stay referenced by the spec table while in use */
  arr = lua_newuserdatauv(L, (size_t)(len + 1) * sizeof *arr, 0);
  for (i = 1; i <= len; i++) {
    lua_rawgeti(L, -2, i);
    if (lua_type(L, -1) != LUA_TSTRING)
      luaL_error(L, "model %s[%d]: expected a string, got %s", key, (int)i,
                 luaL_typename(L, -1));
    arr[i - 1] = lua_tostring(L, -1);
    lua_pop(L, 1);
  }
  lua_remove(L, -2);  /* the list; keep the userdata on the stack */
  *n = (uint32_t)len;
  return arr;
}

/* core.model{ name=, identifiers=, attributes=, extra_fields=, shortname=,
   children={{model, field}, ...}, flags= } */
static int l_core_model(lua_State *L) {
  ms_model_spec sp;
  ms_child_decl *ch = NULL;
  lmodel *p;
  ms_err err;
  int top;
  luaL_checktype(L, 1, LUA_TTABLE);
  lua_settop(L, 1);
  memset(&sp, 0, sizeof sp);
  lua_getfield(L, 1, "name");
  sp.name = luaL_checkstring(L, -1);
  sp.ids = strarray(L, 1, "identifiers", &sp.nids);
  sp.attrs = strarray(L, 1, "attributes", &sp.nattrs);
  sp.extras = strarray(L, 1, "extra_fields", &sp.nextras);
  sp.shortname = strarray(L, 1, "shortname", &sp.nshort);
  if (lua_getfield(L, 1, "children") == LUA_TTABLE) {
    lua_Integer i, n = (lua_Integer)lua_rawlen(L, -1);
    int t = lua_gettop(L);
    ch = lua_newuserdatauv(L, (size_t)(n + 1) * sizeof *ch, 0);
    for (i = 1; i <= n; i++) {
      lua_rawgeti(L, t, i);
      lua_rawgeti(L, -1, 1);
      lua_rawgeti(L, -2, 2);
      if (lua_type(L, -1) != LUA_TSTRING || lua_type(L, -2) != LUA_TSTRING)
        luaL_error(L, "model '%s': children[%d] must be {model, field}",
                   sp.name, (int)i);
      ch[i - 1].model = (char *)lua_tostring(L, -2);
      ch[i - 1].field = (char *)lua_tostring(L, -1);
      lua_pop(L, 3);
    }
    sp.children = ch;
    sp.nchildren = (uint32_t)n;
  }
  lua_getfield(L, 1, "flags");
  sp.flags = checkflags(L, -1, 1);
  top = lua_gettop(L);
  p = lua_newuserdatauv(L, sizeof *p, 0);
  p->m = NULL;
  luaL_setmetatable(L, MS_MODEL_MT);
  p->m = ms_model_new(&sp, &err);
  if (p->m == NULL) return raiseerr(L, &err);
  (void)top;
  return 1;
}

static int l_model_gc(lua_State *L) {
  lmodel *p = luaL_checkudata(L, 1, MS_MODEL_MT);
  if (p->m) ms_model_unref(p->m);
  p->m = NULL;
  return 0;
}

static void pushnames(lua_State *L, char **names, uint32_t from, uint32_t to) {
  uint32_t i;
  lua_createtable(L, (int)(to - from), 0);
  for (i = from; i < to; i++) {
    lua_pushstring(L, names[i]);
    lua_rawseti(L, -2, (lua_Integer)(i - from) + 1);
  }
}

/* model:info() -> table describing the model */
static int l_model_info(lua_State *L) {
  const ms_model *m = tomodel(L, 1)->m;
  uint32_t i;
  lua_createtable(L, 0, 7);
  lua_pushstring(L, m->name);
  lua_setfield(L, -2, "name");
  pushnames(L, m->fields, 0, m->nids);
  lua_setfield(L, -2, "identifiers");
  pushnames(L, m->fields, m->nids, m->nids + m->nattrs);
  lua_setfield(L, -2, "attributes");
  pushnames(L, m->fields, m->nids + m->nattrs, m->nfields);
  lua_setfield(L, -2, "extra_fields");
  lua_createtable(L, (int)m->nshort, 0);
  for (i = 0; i < m->nshort; i++) {
    lua_pushstring(L, m->fields[m->shortname[i]]);
    lua_rawseti(L, -2, (lua_Integer)i + 1);
  }
  lua_setfield(L, -2, "shortname");
  lua_createtable(L, (int)m->nchildren, 0);
  for (i = 0; i < m->nchildren; i++) {
    lua_createtable(L, 2, 0);
    lua_pushstring(L, m->children[i].model);
    lua_rawseti(L, -2, 1);
    lua_pushstring(L, m->children[i].field);
    lua_rawseti(L, -2, 2);
    lua_rawseti(L, -2, (lua_Integer)i + 1);
  }
  lua_setfield(L, -2, "children");
  lua_pushinteger(L, (lua_Integer)m->flags);
  lua_setfield(L, -2, "flags");
  return 1;
}

static int l_model_name(lua_State *L) {
  lua_pushstring(L, tomodel(L, 1)->m->name);
  return 1;
}

/* {====== record handles ======} */

/* Pushes a handle for a record of a store; the handle takes a reference
   on the store. */
static void pushrecord(lua_State *L, ms_record *r) {
  lrecord *h = lua_newuserdatauv(L, sizeof *h, 0);
  h->r = NULL;
  luaL_setmetatable(L, MS_RECORD_MT);
  ms_store_ref(r->store);
  h->r = r;
}

static ms_record *checkrec(lua_State *L, int i) {
  lrecord *h = torecord(L, i);
  if (h->r == NULL) luaL_error(L, "record handle is closed");
  return h->r;
}

/* Fills fields of r from the table at tidx. Unknown keys are errors,
   unless creating == 2 (lenient: they are skipped). */
static void setfields(lua_State *L, ms_record *r, int tidx, int creating) {
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
      raiseerr(L, &err);
    lua_pop(L, 1);
  }
}

/* Raises unless every identifier of r is set. */
static void checkids(lua_State *L, const ms_record *r) {
  ms_err err;
  if (ms_record_check_ids(r, &err) != MS_OK) luaL_error(L, "%s", err.msg);
}

/* Fills the new record r from the fields table at tidx, identifiers
   checked, model flags from flagsidx when given there, and its uid
   computed unless an insert will do it. May raise. */
static void fillrecord(lua_State *L, ms_record *r, int tidx, int flagsidx,
                       int uid) {
  luaL_checktype(L, tidx, LUA_TTABLE);
  setfields(L, r, tidx, 1);
  checkids(L, r);
  if (!lua_isnoneornil(L, flagsidx)) r->flags = checkflags(L, flagsidx, 1);
  if (uid && ms_record_uid(r) != MS_OK) luaL_error(L, "out of memory");
}

/* A new record of model mi in store s (not inserted): see fillrecord. */
static ms_record *buildrecord(lua_State *L, ms_store *s, int mi, int tidx,
                              int flagsidx, int uid) {
  ms_record *r = ms_store_new_record(s, mi);
  if (r == NULL) luaL_error(L, "out of memory");
  fillrecord(L, r, tidx, flagsidx, uid);
  return r;
}

static int l_record_gc(lua_State *L) {
  lrecord *h = torecord(L, 1);
  if (h->r) ms_store_free(h->r->store);
  h->r = NULL;
  return 0;
}

void ms_l_rebind(lrecord *h, ms_record *r) {
  ms_store_ref(r->store);
  ms_store_free(h->r->store);
  h->r = r;
}

/* core.record(model, fields[, flags]) -> a detached record: the only
   record of a private store the handle owns */
static int l_core_record(lua_State *L) {
  lmodel *mp = tomodel(L, 1);
  lrecord *h;
  ms_store *own;
  ms_record *r;
  ms_err err;
  luaL_checktype(L, 2, LUA_TTABLE);
  lua_settop(L, 3);
  h = lua_newuserdatauv(L, sizeof *h, 0);
  h->r = NULL;
  luaL_setmetatable(L, MS_RECORD_MT);
  own = ms_store_new_small(mp->m->name, "record");
  if (own == NULL) return luaL_error(L, "out of memory");
  if (ms_store_add_model(own, mp->m, &err) < 0 ||
      (r = ms_store_new_record(own, 0)) == NULL) {
    ms_store_free(own);
    return luaL_error(L, "out of memory");
  }
  h->r = r;  /* the handle owns the store from here on */
  fillrecord(L, r, 2, 3, 1);
  return 1;
}

static void pushuid(lua_State *L, const ms_record *r) {
  if (!r->stored) {
    ms_buf b = MS_BUF_INIT;
    ms_uid_build(&b, r->model, r->fields);
    lua_pushlstring(L, b.data ? b.data : "", b.len);
    ms_buf_free(&b);
  } else {
    lua_pushlstring(L, r->uid, r->uid_len);
  }
}

static int l_record_uid(lua_State *L) {
  pushuid(L, checkrec(L, 1));
  return 1;
}

static int l_record_shortname(lua_State *L) {
  const ms_record *r = checkrec(L, 1);
  ms_buf b = MS_BUF_INIT;
  ms_shortname_build(&b, r->model, r->fields);
  lua_pushlstring(L, b.data ? b.data : "", b.len);
  ms_buf_free(&b);
  return 1;
}

static void pushfields(lua_State *L, const ms_record *r, uint32_t from,
                       uint32_t to) {
  uint32_t i;
  lua_createtable(L, 0, (int)(to - from));
  for (i = from; i < to; i++) {
    pushvalue(L, &r->fields[i], 1);
    lua_setfield(L, -2, r->model->fields[i]);
  }
}

static int l_record_ids(lua_State *L) {
  const ms_record *r = checkrec(L, 1);
  pushfields(L, r, 0, r->model->nids);
  return 1;
}

static int l_record_attrs(lua_State *L) {
  const ms_record *r = checkrec(L, 1);
  pushfields(L, r, r->model->nids, r->model->nids + r->model->nattrs);
  return 1;
}

static int l_record_type(lua_State *L) {
  lua_pushstring(L, checkrec(L, 1)->model->name);
  return 1;
}

ms_record *ms_l_checkrec(lua_State *L, int idx) { return checkrec(L, idx); }

static int l_record_add_child(lua_State *L) {
  ms_record *p = checkrec(L, 1), *c = checkrec(L, 2);
  ms_err err;
  if (ms_record_uid(c) != MS_OK) return luaL_error(L, "out of memory");
  if (ms_record_add_child(p, c, &err) != MS_OK)
    return raisectx(L, &err, p->stored ? p->store : NULL,
                    p->model->name, p->uid, p->uid_len);
  return 0;
}

static int l_record_remove_child(lua_State *L) {
  ms_record *p = checkrec(L, 1), *c = checkrec(L, 2);
  ms_err err;
  if (ms_record_remove_child(p, c, &err) != MS_OK)
    return raisectx(L, &err, NULL, p->model->name, p->uid, p->uid_len);
  return 0;
}

static const char *const statuses[] = {"unknown", "success", "failure", "error",
                                       NULL};

static int l_record_status(lua_State *L) {
  const ms_record *r = checkrec(L, 1);
  lua_pushstring(L, statuses[r->status & 3]);
  lua_pushstring(L, r->status_msg);
  return 2;
}

static int l_record_set_status(lua_State *L) {
  ms_record *r = checkrec(L, 1);
  int st = luaL_checkoption(L, 2, NULL, statuses);
  ms_record_set_status(r, st, luaL_optstring(L, 3, ""));
  return 0;
}

/* rec:update_fields{...}: assigns several fields at once */
static int l_record_set(lua_State *L) {
  ms_record *r = checkrec(L, 1);
  luaL_checktype(L, 2, LUA_TTABLE);
  setfields(L, r, 2, 0);
  lua_settop(L, 1);
  return 1;
}

static int l_record_dict(lua_State *L) {
  const ms_record *r = checkrec(L, 1);
  uint32_t c, i;
  pushfields(L, r, 0, r->model->nfields);
  for (c = 0; c < r->model->nchildren; c++) {
    const ms_uidlist *l = &r->children[c];
    lua_createtable(L, (int)l->n, 0);
    for (i = 0; i < l->n; i++) {
      lua_pushlstring(L, l->items[i].s, l->items[i].len);
      lua_rawseti(L, -2, (lua_Integer)i + 1);
    }
    lua_setfield(L, -2, r->model->children[c].field);
  }
  return 1;
}

static int l_record_str(lua_State *L) {
  const ms_record *r = checkrec(L, 1);
  ms_buf b = MS_BUF_INIT;
  ms_buf_printf(&b, "%s: ", r->model->name);
  if (r->stored) ms_buf_add(&b, r->uid, r->uid_len);
  else ms_uid_build(&b, r->model, r->fields);
  ms_buf_puts(&b, ": ");
  ms_fields_repr(&b, r->model, r->fields, r->model->nids,
                 r->model->nids + r->model->nattrs);
  lua_pushlstring(L, b.data ? b.data : "", b.len);
  ms_buf_free(&b);
  return 1;
}

static int l_record_flags(lua_State *L) {
  ms_record *r = checkrec(L, 1);
  lua_pushinteger(L, (lua_Integer)r->flags);
  if (!lua_isnoneornil(L, 2)) r->flags = checkflags(L, 2, 1);
  return 1;
}

static int l_record_fingerprint(lua_State *L) {
  const ms_record *r = checkrec(L, 1);
  char hex[17];
  snprintf(hex, sizeof hex, "%016llx",
           (unsigned long long)ms_fields_fingerprint(r->model, r->fields));
  lua_pushstring(L, hex);
  return 1;
}

static int l_record_stored(lua_State *L) {
  lua_pushboolean(L, checkrec(L, 1)->stored);
  return 1;
}

static int l_record_index(lua_State *L) {
  const ms_record *r = checkrec(L, 1);
  size_t n;
  const char *k = lua_tolstring(L, 2, &n);
  int fi;
  uint32_t c, i;
  if (k == NULL) return 0;
  fi = ms_model_field(r->model, k, n);
  if (fi >= 0) {
    pushvalue(L, &r->fields[fi], 0);
    return 1;
  }
  for (c = 0; c < r->model->nchildren; c++) {
    if (strcmp(r->model->children[c].field, k) == 0) {
      const ms_uidlist *l = &r->children[c];
      lua_createtable(L, (int)l->n, 0);
      for (i = 0; i < l->n; i++) {
        lua_pushlstring(L, l->items[i].s, l->items[i].len);
        lua_rawseti(L, -2, (lua_Integer)i + 1);
      }
      return 1;
    }
  }
  luaL_getmetatable(L, MS_RECORD_MT);
  lua_getfield(L, -1, "methods");
  lua_getfield(L, -1, k);
  return 1;
}

static int l_record_newindex(lua_State *L) {
  ms_record *r = checkrec(L, 1);
  size_t n;
  const char *k = luaL_checklstring(L, 2, &n);
  int fi = ms_model_field(r->model, k, n);
  ms_value v;
  ms_err err;
  if (fi < 0)
    return luaL_error(L, "%s has no field '%s'", r->model->name, k);
  tovalue(L, 3, r->store, &v, k, 0);
  if (ms_record_set(r, (uint32_t)fi, &v, &err) != MS_OK) return raiseerr(L, &err);
  return 0;
}

static int l_record_eq(lua_State *L) {
  lua_pushboolean(L, checkrec(L, 1) == checkrec(L, 2));
  return 1;
}

static int l_record_tostring(lua_State *L) {
  const ms_record *r = checkrec(L, 1);
  lua_pushfstring(L, "%s \"", r->model->name);
  pushuid(L, r);
  lua_pushliteral(L, "\"");
  lua_concat(L, 3);
  return 1;
}

/* {====== stores ======} */

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

ms_store *ms_l_checkstore(lua_State *L, int idx) { return tostore(L, idx); }

void ms_l_pushrecord(lua_State *L, ms_record *r) { pushrecord(L, r); }

void ms_l_pusherror(lua_State *L, const char *type, const char *msg) {
  pusherror(L, type, msg);
}

uint32_t ms_l_checkflags(lua_State *L, int idx, int model) {
  return checkflags(L, idx, model);
}

const char *ms_l_status_name(int status) { return statuses[status & 3]; }

int ms_l_traceback(lua_State *L) { return msghandler_tb(L); }

ms_store *ms_l_scratch_store(lua_State *L) {
  lstore *p = lua_newuserdatauv(L, sizeof *p, 0);
  p->s = NULL;
  luaL_setmetatable(L, MS_STORE_MT);
  p->s = ms_store_new_small("scratch", "scratch");
  if (p->s == NULL) luaL_error(L, "out of memory");
  return p->s;
}

void ms_l_pushvalue(lua_State *L, const ms_value *v) { pushvalue(L, v, 0); }

void ms_l_pushvalue_inner(lua_State *L, const ms_value *v) { pushvalue(L, v, 1); }

int ms_l_raise(lua_State *L, const ms_err *err) { return raiseerr(L, err); }

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

static int l_arena_gc(lua_State *L) {
  ms_arena_free(luaL_checkudata(L, 1, MS_ARENA_MT));
  return 0;
}

static int l_store_gc(lua_State *L) {
  lstore *p = luaL_checkudata(L, 1, MS_STORE_MT);
  ms_store_free(p->s);
  p->s = NULL;
  return 0;
}

static int l_store_add_model(lua_State *L) {
  ms_store *s = tostore(L, 1);
  ms_err err;
  if (ms_store_add_model(s, tomodel(L, 2)->m, &err) < 0) return raiseerr(L, &err);
  return 0;
}

static int l_store_set_top_level(lua_State *L) {
  ms_store *s = tostore(L, 1);
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
    return raiseerr(L, &err);
  return 0;
}

static int l_store_top_level(lua_State *L) {
  ms_store *s = tostore(L, 1);
  pushnames(L, s->top_level, 0, s->ntop);
  return 1;
}

static int l_store_models(lua_State *L) {
  ms_store *s = tostore(L, 1);
  uint32_t i;
  lua_createtable(L, (int)s->nmodels, 0);
  for (i = 0; i < s->nmodels; i++) {
    lua_pushstring(L, s->models[i]->name);
    lua_rawseti(L, -2, (lua_Integer)i + 1);
  }
  return 1;
}

static int l_store_name(lua_State *L) {
  ms_store *s = tostore(L, 1);
  lua_pushstring(L, s->name);
  lua_pushstring(L, s->type);
  return 2;
}

/* Model index from a name, model userdata or record; raises if unknown. */
static int checkmodel(lua_State *L, ms_store *s, int idx) {
  const char *name;
  int mi;
  if (luaL_testudata(L, idx, MS_MODEL_MT))
    name = tomodel(L, idx)->m->name;
  else if (luaL_testudata(L, idx, MS_RECORD_MT))
    name = checkrec(L, idx)->model->name;
  else
    name = luaL_checkstring(L, idx);
  mi = ms_store_model(s, name);
  if (mi < 0) {
    ms_err err;
    ms_err_set(&err, MS_ENOTFOUND, "adapter '%s' has no model '%s'", s->name,
               name);
    raiseerr(L, &err);
  }
  return mi;
}

/* store:add(record) -> the stored record's handle (the same handle) */
static int l_store_add(lua_State *L) {
  ms_store *s = tostore(L, 1);
  lrecord *h = torecord(L, 2);
  ms_record *r;
  ms_err err;
  int mi;
  if (h->r == NULL) return luaL_error(L, "record handle is closed");
  if (h->r->store == s) {
    if (ms_store_insert(s, h->r, &err) != MS_OK)
      return raisectx(L, &err, s, h->r->model->name, h->r->uid, h->r->uid_len);
    lua_settop(L, 2);
    return 1;
  }
  mi = checkmodel(L, s, 2);
  if (ms_store_adopt(s, mi, h->r, &r, &err) != MS_OK)
    return raisectx(L, &err, s, h->r->model->name, h->r->uid, h->r->uid_len);
  ms_l_rebind(h, r);
  lua_settop(L, 2);
  return 1;
}

/* store:new(model, fields[, flags]) -> a new stored record. */
static int l_store_new(lua_State *L) {
  ms_store *s = tostore(L, 1);
  ms_record *r = buildrecord(L, s, checkmodel(L, s, 2), 3, 4, 0);
  ms_err err;
  if (ms_store_insert(s, r, &err) != MS_OK)
    return raisectx(L, &err, s, r->model->name, r->uid, r->uid_len);
  pushrecord(L, r);
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

/* The uid argument at idx: a uid string, or a table of identifiers. */
/* store:create_base(model, ids, attrs) -> DiffSync's create_base: a new,
   not yet stored record from ids and attrs (keys the model does not
   declare are skipped), status success "Created successfully". */
static int l_store_create_base(lua_State *L) {
  ms_store *s = tostore(L, 1);
  int mi = checkmodel(L, s, 2);
  ms_record *r;
  luaL_checktype(L, 3, LUA_TTABLE);
  r = ms_store_new_record(s, mi);
  if (r == NULL) return luaL_error(L, "out of memory");
  setfields(L, r, 3, 2);
  if (lua_istable(L, 4)) setfields(L, r, 4, 2);
  checkids(L, r);
  if (ms_record_uid(r) != MS_OK) return luaL_error(L, "out of memory");
  r->status = MS_ST_SUCCESS;
  r->status_msg = "Created successfully";
  pushrecord(L, r);
  return 1;
}

/* store:record(model, fields[, flags]) -> a new record of this store that
   is not stored yet (a sync inserts what a create handler returns). */
static int l_store_record(lua_State *L) {
  ms_store *s = tostore(L, 1);
  pushrecord(L, buildrecord(L, s, checkmodel(L, s, 2), 3, 4, 1));
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
  ms_store *s = tostore(L, 1);
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
    return raisectx(L, &err, s, s->models[mi]->name, lua_tostring(L, -1),
                    lua_rawlen(L, -1));
  }
  ms_buf_free(&b);
  pushrecord(L, r);
  return 1;
}

static int l_store_get(lua_State *L) { return getrec(L, 1); }
static int l_store_get_or_none(lua_State *L) { return getrec(L, 0); }

static int l_store_get_all(lua_State *L) {
  ms_store *s = tostore(L, 1);
  int mi = checkmodel(L, s, 2);
  const ms_recvec *v = &s->bymodel[mi];
  size_t i;
  lua_Integer k = 0;
  lua_createtable(L, (int)v->live, 0);
  for (i = 0; i < v->n; i++) {
    if (!v->items[i]->stored) continue;
    pushrecord(L, v->items[i]);
    lua_rawseti(L, -2, ++k);
  }
  return 1;
}

static int l_store_get_by_uids(lua_State *L) {
  ms_store *s = tostore(L, 1);
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
      return raisectx(L, &err, s, s->models[mi]->name, uid, len);
    }
    lua_pop(L, 1);
    pushrecord(L, r);
    lua_rawseti(L, -2, i);
  }
  return 1;
}

static int l_store_count(lua_State *L) {
  ms_store *s = tostore(L, 1);
  int mi = lua_isnoneornil(L, 2) ? -1 : checkmodel(L, s, 2);
  lua_pushinteger(L, (lua_Integer)ms_store_count(s, mi));
  return 1;
}

static int l_store_remove(lua_State *L) {
  ms_store *s = tostore(L, 1);
  ms_record *r = checkrec(L, 2);
  ms_err err;
  if (ms_store_remove(s, r, lua_toboolean(L, 3), &err) != MS_OK)
    return raisectx(L, &err, s, r->model->name, r->uid, r->uid_len);
  return 0;
}

static int l_store_load_file(lua_State *L) {
  ms_store *s = tostore(L, 1);
  const char *path = luaL_checkstring(L, 2);
  char buf[PATH_MAX];
  ms_err err;
  ms_l_permit_path(L, MS_PERM_READ, path, buf);
  if (ms_load_file(s, path, lua_toboolean(L, 3), &err) != MS_OK)
    return raisectx(L, &err, s, NULL, NULL, 0);
  return 0;
}

static int l_store_load_json(lua_State *L) {
  ms_store *s = tostore(L, 1);
  size_t n;
  const char *text = luaL_checklstring(L, 2, &n);
  ms_err err;
  if (ms_load_text(s, text, n, luaL_optstring(L, 3, "<json>"),
                   lua_toboolean(L, 4), &err) != MS_OK)
    return raisectx(L, &err, s, NULL, NULL, 0);
  return 0;
}

static int pushbuf(lua_State *L, ms_buf *b) {
  if (b->oom) {
    ms_buf_free(b);
    return luaL_error(L, "out of memory");
  }
  lua_pushlstring(L, b->data ? b->data : "", b->len);
  ms_buf_free(b);
  return 1;
}

static int l_store_str(lua_State *L) {
  ms_buf b = MS_BUF_INIT;
  ms_store_str(&b, tostore(L, 1));
  return pushbuf(L, &b);
}

static int l_store_nested_json(lua_State *L) {
  ms_buf b = MS_BUF_INIT;
  ms_store_nested_json(&b, tostore(L, 1));
  return pushbuf(L, &b);
}

static int l_store_flat_json(lua_State *L) {
  ms_buf b = MS_BUF_INIT;
  ms_store_flat_json(&b, tostore(L, 1));
  return pushbuf(L, &b);
}

/* store:dict() -> {model = {uid = {field = value (non-nil), ...}}} */
static int l_store_dict(lua_State *L) {
  ms_store *s = tostore(L, 1);
  uint32_t m, i, c;
  size_t k;
  lua_createtable(L, 0, (int)s->nmodels);
  for (m = 0; m < s->nmodels; m++) {
    const ms_recvec *v = &s->bymodel[m];
    if (v->live == 0) continue;
    lua_createtable(L, 0, (int)v->live);
    for (k = 0; k < v->n; k++) {
      const ms_record *r = v->items[k];
      if (!r->stored) continue;
      lua_createtable(L, 0, (int)r->model->nfields);
      for (i = 0; i < r->model->nfields; i++) {
        if (r->fields[i].type == MS_NIL) continue;
        pushvalue(L, &r->fields[i], 1);
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
  ms_store *s = tostore(L, 1);
  int mi = checkmodel(L, s, 2);
  ms_store_or_flags(s, mi, checkflags(L, 3, 1));
  return 0;
}

/* store:orphans() -> count, "model 'uid', ..." (at most 5 named): the
   records a nested document of the store would leave out */
static int l_store_orphans(lua_State *L) {
  ms_buf b = MS_BUF_INIT;
  size_t n = ms_store_orphans(tostore(L, 1), &b, 5);
  lua_pushinteger(L, (lua_Integer)n);
  pushbuf(L, &b);
  return 2;
}

static int l_store_len(lua_State *L) {
  lua_pushinteger(L, (lua_Integer)ms_store_count(tostore(L, 1), -1));
  return 1;
}

/* {====== diffs ======} */

typedef struct progress {
  lua_State *L;
  int fn;      /* stack index of the callback */
  int failed;
} progress;

static int onprogress(void *ud, const char *stage, uint64_t cur,
                      uint64_t total) {
  progress *p = ud;
  lua_State *L = p->L;
  lua_pushvalue(L, p->fn);
  lua_pushstring(L, stage);
  lua_pushinteger(L, (lua_Integer)cur);
  lua_pushinteger(L, (lua_Integer)total);
  if (lua_pcall(L, 3, 0, 0) != LUA_OK) {
    p->failed = 1;  /* the error value stays on the stack */
    return 1;
  }
  return 0;
}

/* core.diff(src_store, dst_store, flags[, callback]) -> diff */
static int l_core_diff(lua_State *L) {
  ms_store *src = tostore(L, 1), *dst = tostore(L, 2);
  uint32_t flags = checkflags(L, 3, 0);
  progress p;
  ldiff *h;
  ms_err err;
  int rc;
  if (!lua_isnoneornil(L, 4)) luaL_checktype(L, 4, LUA_TFUNCTION);
  lua_settop(L, 4);
  h = lua_newuserdatauv(L, sizeof *h, 2);
  h->d = NULL;
  h->src = h->dst = NULL;
  luaL_setmetatable(L, MS_DIFF_MT);
  lua_pushvalue(L, 1);
  lua_setiuservalue(L, -2, 1);
  lua_pushvalue(L, 2);
  lua_setiuservalue(L, -2, 2);
  p.L = L;
  p.fn = 4;
  p.failed = 0;
  rc = ms_diff_compute(src, dst, flags, lua_isnil(L, 4) ? NULL : onprogress,
                       &p, &h->d, &err);
  if (rc == MS_OK) {
    /* the diff points into both stores: it owns a reference on each */
    ms_store_ref(src);
    ms_store_ref(dst);
    h->src = src;
    h->dst = dst;
  }
  if (p.failed) return lua_error(L);
  if (rc != MS_OK) return raisectx(L, &err, dst, NULL, NULL, 0);
  return 1;
}

static int l_diff_gc(lua_State *L) {
  ldiff *h = luaL_checkudata(L, 1, MS_DIFF_MT);
  ms_diff_free(h->d);
  ms_store_free(h->src);
  ms_store_free(h->dst);
  h->d = NULL;
  h->src = h->dst = NULL;
  return 0;
}

static int l_diff_str(lua_State *L) {
  ms_buf b = MS_BUF_INIT;
  ms_diff_str(&b, todiff(L, 1));
  return pushbuf(L, &b);
}

static int l_diff_dict_json(lua_State *L) {
  ms_buf b = MS_BUF_INIT;
  ms_diff_dict_json(&b, todiff(L, 1), (int)luaL_optinteger(L, 2, 0));
  return pushbuf(L, &b);
}

static int l_diff_summary_json(lua_State *L) {
  ms_buf b = MS_BUF_INIT;
  ms_summary s;
  ms_diff_summary(todiff(L, 1), &s);
  ms_summary_json(&b, &s, (int)luaL_optinteger(L, 2, 0));
  return pushbuf(L, &b);
}

static int l_diff_json(lua_State *L) {
  ms_buf b = MS_BUF_INIT;
  ms_diff_changes_json(&b, todiff(L, 1));
  return pushbuf(L, &b);
}

static int l_diff_summary(lua_State *L) {
  ms_summary s;
  ms_diff_summary(todiff(L, 1), &s);
  lua_createtable(L, 0, 5);
  lua_pushinteger(L, (lua_Integer)s.create);
  lua_setfield(L, -2, "create");
  lua_pushinteger(L, (lua_Integer)s.update);
  lua_setfield(L, -2, "update");
  lua_pushinteger(L, (lua_Integer)s.del);
  lua_setfield(L, -2, "delete");
  lua_pushinteger(L, (lua_Integer)s.nochange);
  lua_setfield(L, -2, "no-change");
  lua_pushinteger(L, (lua_Integer)s.skip);
  lua_setfield(L, -2, "skip");
  return 1;
}

static int l_diff_len(lua_State *L) {
  lua_pushinteger(L, (lua_Integer)ms_diff_len(todiff(L, 1)));
  return 1;
}

static int l_diff_has_diffs(lua_State *L) {
  lua_pushboolean(L, ms_diff_has_diffs(todiff(L, 1)));
  return 1;
}

static int l_diff_models_processed(lua_State *L) {
  lua_pushinteger(L, (lua_Integer)todiff(L, 1)->models_processed);
  return 1;
}

static ms_scope *scopelist(lua_State *L, int idx, size_t *n) {
  ms_scope *l;
  lua_Integer i, len;
  *n = 0;
  if (lua_isnoneornil(L, idx)) return NULL;
  luaL_checktype(L, idx, LUA_TTABLE);
  len = (lua_Integer)lua_rawlen(L, idx);
  l = lua_newuserdatauv(L, (size_t)(len + 1) * sizeof *l, 0);
  for (i = 1; i <= len; i++) {
    lua_rawgeti(L, idx, i);
    if (!lua_istable(L, -1)) luaL_error(L, "scope entries must be {model, uid}");
    lua_rawgeti(L, -1, 1);
    lua_rawgeti(L, -2, 2);
    l[i - 1].model = luaL_checkstring(L, -2);
    l[i - 1].uid = luaL_checklstring(L, -1, &l[i - 1].uidlen);
    lua_pop(L, 3);  /* the entries stay referenced by the list */
  }
  *n = (size_t)len;
  return l;
}

/* diff:scope(targets, excludes): keeps the subtrees of targets ({model,
   uid} pairs), drops excludes; returns how many targets matched. */
static int l_diff_scope(lua_State *L) {
  ms_diff *d = todiff(L, 1);
  size_t nt, nx;
  ms_scope *t, *x;
  lua_settop(L, 3);
  t = scopelist(L, 2, &nt);
  x = scopelist(L, 3, &nx);
  lua_pushinteger(L, (lua_Integer)ms_diff_scope(d, t, nt, x, nx));
  return 1;
}

/* diff:stores() -> source store, dest store */
static int l_diff_stores(lua_State *L) {
  todiff(L, 1);
  lua_getiuservalue(L, 1, 1);
  lua_getiuservalue(L, 1, 2);
  return 2;
}

static int l_diff_flags(lua_State *L) {
  lua_pushinteger(L, (lua_Integer)todiff(L, 1)->flags);
  return 1;
}

/* diff:dict() as Lua tables (decoded from the JSON form keeps this in one
   place; key order is not representable in Lua tables anyway). */
static void pushattrs(lua_State *L, const ms_delem *e, char which) {
  const ms_model *m = ms_delem_model(e);
  uint32_t i;
  lua_newtable(L);
  if (e->src && e->dst) {
    for (i = 0; i < e->ncmp; i++) {
      uint32_t di = e->cmp[2 * i], si = e->cmp[2 * i + 1];
      if (!ms_delem_changed(e, i)) continue;
      pushvalue(L, which == '+' ? &e->sfields[si] : &e->dfields[di], 1);
      lua_setfield(L, -2, e->dst->model->fields[di]);
    }
  } else {
    const ms_value *f = e->src ? e->sfields : e->dfields;
    for (i = m->nids; i < m->nids + m->nattrs; i++) {
      pushvalue(L, &f[i], 1);
      lua_setfield(L, -2, m->fields[i]);
    }
  }
}

static void pushdict(lua_State *L, const ms_dchildren *c) {
  uint32_t g, i;
  luaL_checkstack(L, 8, "diff nested too deeply");
  for (g = 0; g < c->ngroups; g++) {
    int open = 0;
    for (i = 0; i < c->groups[g].n; i++) {
      const ms_delem *e = c->groups[g].elems[i];
      ms_buf b = MS_BUF_INIT;
      if (!e->has_diffs) continue;
      if (!open) {
        lua_newtable(L);
        open = 1;
      }
      lua_newtable(L);
      if (e->dst) {
        pushattrs(L, e, '-');
        lua_setfield(L, -2, "-");
      }
      if (e->src) {
        pushattrs(L, e, '+');
        lua_setfield(L, -2, "+");
      }
      pushdict(L, &e->child);
      ms_delem_name(&b, e);
      lua_pushlstring(L, b.data ? b.data : "", b.len);
      ms_buf_free(&b);
      lua_insert(L, -2);
      lua_rawset(L, -3);
    }
    if (open) lua_setfield(L, -2, c->groups[g].type);
  }
}

/* Appends the changes under c to the list at the top of the stack (n: its
   length so far), parents before children, as diff:json() lists them. */
static void pushchanges(lua_State *L, const ms_dchildren *c,
                        const ms_delem *parent, lua_Integer *n) {
  static const char *const acts[] = {"none", "create", "update", "delete"};
  uint32_t g, i, k;
  luaL_checkstack(L, 8, "diff nested too deeply");
  for (g = 0; g < c->ngroups; g++)
    for (i = 0; i < c->groups[g].n; i++) {
      const ms_delem *e = c->groups[g].elems[i];
      const ms_record *r = e->src ? e->src : e->dst;
      const ms_model *m = r->model;
      const ms_value *f = e->src ? e->sfields : e->dfields;
      if (!e->has_diffs) continue;
      if (e->action != MS_ACT_NONE) {
        lua_createtable(L, 0, 7);
        lua_pushstring(L, acts[e->action & 3]);
        lua_setfield(L, -2, "action");
        lua_pushstring(L, e->type);
        lua_setfield(L, -2, "model");
        lua_pushlstring(L, r->uid, r->uid_len);
        lua_setfield(L, -2, "uid");
        if (parent) {
          const ms_record *p = parent->src ? parent->src : parent->dst;
          lua_createtable(L, 0, 2);
          lua_pushstring(L, parent->type);
          lua_setfield(L, -2, "model");
          lua_pushlstring(L, p->uid, p->uid_len);
          lua_setfield(L, -2, "uid");
          lua_setfield(L, -2, "parent");
        }
        lua_createtable(L, 0, (int)m->nids);
        for (k = 0; k < m->nids; k++) {
          pushvalue(L, &f[k], 1);
          lua_setfield(L, -2, m->fields[k]);
        }
        lua_setfield(L, -2, "keys");
        if (e->src) {
          pushattrs(L, e, '+');
          lua_setfield(L, -2, "attrs");
        }
        if (e->dst) {
          pushattrs(L, e, '-');
          lua_setfield(L, -2, "before");
        }
        lua_rawseti(L, -2, ++*n);
      }
      pushchanges(L, &e->child, e, n);
    }
}

/* diff:changes() -> the changes as Lua tables {action, model, uid, keys,
   attrs (creates, updates), before (updates, deletes), parent ({model,
   uid}, or nil at the top)}: what diff:json() lists, without the text */
static int l_diff_changes(lua_State *L) {
  ms_diff *d = todiff(L, 1);
  lua_Integer n = 0;
  lua_newtable(L);
  pushchanges(L, &d->top, NULL, &n);
  return 1;
}

static int l_diff_dict(lua_State *L) {
  ms_diff *d = todiff(L, 1);
  lua_newtable(L);
  pushdict(L, &d->top);
  return 1;
}

/* {====== misc ======} */

/* core.schema(path) -> {models = {model...}, top_level = {...} or nil,
   source_top_level =, dest_top_level =, global_flags = n} */
static int l_core_schema(lua_State *L) {
  const char *path = luaL_checkstring(L, 1);
  static const char *const keys[3] = {"top_level", "source_top_level",
                                      "dest_top_level"};
  char buf[PATH_MAX];
  ms_schema sc;
  ms_err err;
  uint32_t i;
  int k;
  ms_l_permit_path(L, MS_PERM_READ, path, buf);
  if (ms_schema_load(path, &sc, &err) != MS_OK) return raiseerr(L, &err);
  /* from here on nothing may raise before the schema is freed, except
     allocation failures inside Lua, which lose only these references */
  lua_createtable(L, 0, 5);
  lua_createtable(L, (int)sc.nmodels, 0);
  for (i = 0; i < sc.nmodels; i++) {
    lmodel *p = lua_newuserdatauv(L, sizeof *p, 0);
    p->m = sc.models[i];
    ms_model_ref(p->m);
    luaL_setmetatable(L, MS_MODEL_MT);
    lua_rawseti(L, -2, (lua_Integer)i + 1);
  }
  lua_setfield(L, -2, "models");
  for (k = 0; k < 3; k++) {
    if (!sc.hastop[k]) continue;
    pushnames(L, sc.top[k], 0, sc.ntop[k]);
    lua_setfield(L, -2, keys[k]);
  }
  lua_pushinteger(L, (lua_Integer)sc.global_flags);
  lua_setfield(L, -2, "global_flags");
  ms_schema_free(&sc);
  return 1;
}

/* core.json_decode(text[, name]) -> Lua value. Integers stay integers,
   floats floats, null inside containers is core.null and empty objects
   keep the map mark. Raises ParseError with line and column. */
static int l_core_json_decode(lua_State *L) {
  size_t n;
  const char *text = luaL_checklstring(L, 1, &n);
  const char *name = luaL_optstring(L, 2, "<json>");
  ms_arena *a;
  ms_value v;
  ms_err err;
  lua_settop(L, 2);
  /* the arena is owned by a userdata, so a raise frees it too */
  a = lua_newuserdatauv(L, sizeof *a, 0);
  ms_arena_init(a);
  luaL_setmetatable(L, MS_ARENA_MT);
  /* the Lua string is NUL-terminated and stays on the stack meanwhile */
  if (ms_json_parse(a, text, n, name, &v, &err) != MS_OK)
    return raiseerr(L, &err);
  pushvalue(L, &v, 0);
  ms_arena_free(a);
  return 1;
}

/* core.read_json_file(path) -> true, or raises with file:line:col */
static int l_core_check_json(lua_State *L) {
  const char *path = luaL_checkstring(L, 1);
  char buf[PATH_MAX];
  ms_arena a;
  ms_value v;
  ms_err err;
  int rc;
  ms_l_permit_path(L, MS_PERM_READ, path, buf);
  ms_arena_init(&a);
  rc = ms_json_load(&a, path, &v, &err);
  ms_arena_free(&a);
  if (rc != MS_OK) return raiseerr(L, &err);
  lua_pushboolean(L, 1);
  return 1;
}

/* core.hash(text) -> 32 hex digits of XXH3-128: identifies content (a
   change, not tampering: it is no cryptographic hash) */
static int l_core_hash(lua_State *L) {
  size_t n;
  const char *text = luaL_checklstring(L, 1, &n);
  XXH128_hash_t h = XXH3_128bits(text, n);
  char hex[33];
  snprintf(hex, sizeof hex, "%016llx%016llx", (unsigned long long)h.high64,
           (unsigned long long)h.low64);
  lua_pushstring(L, hex);
  return 1;
}

/* core.now() -> monotonic seconds */
static int l_core_now(lua_State *L) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  lua_pushnumber(L, (lua_Number)ts.tv_sec + (lua_Number)ts.tv_nsec / 1e9);
  return 1;
}

/* core.peak_rss() -> peak resident memory of the process in bytes */
static int l_core_peak_rss(lua_State *L) {
  struct rusage ru;
  getrusage(RUSAGE_SELF, &ru);
  lua_pushinteger(L, (lua_Integer)ru.ru_maxrss * 1024);
  return 1;
}

/* core.isatty(fd) -> boolean */
static int l_core_isatty(lua_State *L) {
  lua_pushboolean(L, isatty((int)luaL_checkinteger(L, 1)));
  return 1;
}

static const luaL_Reg corefuncs[] = {
  {"check_json", l_core_check_json},
  {"diff",       l_core_diff},
  {"error",      l_core_error},
  {"error_text", l_core_error_text},
  {"is_error",   l_core_is_error},
  {"flags",      l_core_flags},
  {"hash",       l_core_hash},
  {"list",       l_core_list},
  {"map",        l_core_map},
  {"model",      l_core_model},
  {"record",     l_core_record},
  {"schema",     l_core_schema},
  {"isatty",     l_core_isatty},
  {"now",        l_core_now},
  {"peak_rss",   l_core_peak_rss},
  {"json_decode", l_core_json_decode},
  {"store",      l_core_store},
  {NULL, NULL}
};

static const luaL_Reg modelmeth[] = {
  {"info", l_model_info},
  {"name", l_model_name},
  {NULL, NULL}
};

static const luaL_Reg recordmeth[] = {
  {"add_child",       l_record_add_child},
  {"dict",            l_record_dict},
  {"fingerprint",     l_record_fingerprint},
  {"get_attrs",       l_record_attrs},
  {"get_identifiers", l_record_ids},
  {"get_shortname",   l_record_shortname},
  {"get_status",      l_record_status},
  {"get_type",        l_record_type},
  {"get_unique_id",   l_record_uid},
  {"is_stored",       l_record_stored},
  {"model_flags",     l_record_flags},
  {"remove_child",    l_record_remove_child},
  {"set",             l_record_set},
  {"set_status",      l_record_set_status},
  {"str",             l_record_str},
  {NULL, NULL}
};

static const luaL_Reg recordmeta[] = {
  {"__eq",       l_record_eq},
  {"__gc",       l_record_gc},
  {"__index",    l_record_index},
  {"__newindex", l_record_newindex},
  {"__tostring", l_record_tostring},
  {NULL, NULL}
};

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

static const luaL_Reg diffmeth[] = {
  {"changes",          l_diff_changes},
  {"dict",             l_diff_dict},
  {"dict_json",        l_diff_dict_json},
  {"flags",            l_diff_flags},
  {"has_diffs",        l_diff_has_diffs},
  {"json",             l_diff_json},
  {"len",              l_diff_len},
  {"models_processed", l_diff_models_processed},
  {"scope",            l_diff_scope},
  {"stores",           l_diff_stores},
  {"str",              l_diff_str},
  {"summary",          l_diff_summary},
  {"summary_json",     l_diff_summary_json},
  {NULL, NULL}
};

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
static void markmeta(lua_State *L, const char *name, const char *field,
                     const char *value, lua_CFunction fn) {
  luaL_newmetatable(L, name);
  if (fn) lua_pushcfunction(L, fn);
  else lua_pushstring(L, value);
  lua_setfield(L, -2, field);
  ms_l_protect(L, name);
  lua_pop(L, 1);
}

int luaopen_moonsync_core(lua_State *L) {
  /* stores, records and diffs are memory: only the collector frees them
     (no __close), and only once nothing points into them */
  ms_l_createmeta(L, MS_MODEL_MT, modelmeth, l_model_gc, 0);
  ms_l_createmeta(L, MS_STORE_MT, storemeth, l_store_gc, 0);
  luaL_getmetatable(L, MS_STORE_MT);
  lua_pushcfunction(L, l_store_len);
  lua_setfield(L, -2, "__len");
  lua_pop(L, 1);
  ms_l_createmeta(L, MS_DIFF_MT, diffmeth, l_diff_gc, 0);
  luaL_getmetatable(L, MS_DIFF_MT);
  lua_pushcfunction(L, l_diff_len);
  lua_setfield(L, -2, "__len");
  lua_pop(L, 1);
  luaL_newmetatable(L, MS_RECORD_MT);
  luaL_setfuncs(L, recordmeta, 0);
  luaL_newlib(L, recordmeth);
  lua_setfield(L, -2, "methods");
  ms_l_protect(L, MS_RECORD_MT);
  lua_pop(L, 1);
  markmeta(L, MS_ARENA_MT, "__gc", NULL, l_arena_gc);
  markmeta(L, MS_MAPMARK_MT, "__moonsync", "map", NULL);
  markmeta(L, MS_LISTMARK_MT, "__moonsync", "list", NULL);
  markmeta(L, MS_ERROR_MT, "__tostring", NULL, l_error_tostring);
  luaL_newlib(L, corefuncs);
  lua_pushlightuserdata(L, NULL);
  lua_setfield(L, -2, "null");
  lua_pushliteral(L, "0.1.0");
  lua_setfield(L, -2, "version");
  ms_l_http_register(L);
  ms_l_sync_register(L);
  ms_l_mapping_register(L);
  ms_l_perm_register(L);
  return 1;
}
