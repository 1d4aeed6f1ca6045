/*
** l_util.c: the module's plain functions: errors (core.error,
** core.is_error, core.error_text), JSON (json_decode, check_json), schema
** documents, flags, list/map marks, hashing, time, memory and terminals.
*/
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#include <lauxlib.h>
#include <lua.h>
#define XXH_INLINE_ALL
#include <xxhash.h>

#include "fixture.h"
#include "json.h"
#include "jsonp.h"
#include "l_common.h"
#include "perm.h"
#include "sha256.h"

/* core.is_error(v) -> is v a moonsync.Error? (a job cannot fake one) */
static int l_core_is_error(lua_State *L) {
  lua_pushboolean(L, ms_l_iserror(L, 1));
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
      if (ms_l_iserror(L, 1)) return ms_l_error_tostring(L);
      /* fall through */
    default:
      lua_pushfstring(L, "(error object is a %s value)", luaL_typename(L, 1));
      return 1;
  }
}

/* core.error(type, message): a moonsync.Error value (not raised). */
static int l_core_error(lua_State *L) {
  ms_l_pusherror(L, luaL_checkstring(L, 1), luaL_checkstring(L, 2));
  return 1;
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

/* core.flags(list, model) -> integer */
static int l_core_flags(lua_State *L) {
  lua_pushinteger(L, (lua_Integer)ms_l_checkflags(L, 1, lua_toboolean(L, 2)));
  return 1;
}

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
  if (ms_schema_load(path, &sc, &err) != MS_OK) return ms_l_raise(L, &err);
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
    ms_l_pushnames(L, sc.top[k], 0, sc.ntop[k]);
    lua_setfield(L, -2, keys[k]);
  }
  lua_pushinteger(L, (lua_Integer)sc.global_flags);
  lua_setfield(L, -2, "global_flags");
  ms_schema_free(&sc);
  return 1;
}

/* {====== decoding through a shape ======} */

/* Steps over a string, ps->p just past its opening quote: its escapes and
   control characters are checked, its bytes not decoded. */
static int skip_string(parser *ps) {
  const char *p = ps->p;
  for (;;) {
    unsigned char c = (unsigned char)*p;
    if (c == '"') { ps->p = p + 1; return MS_OK; }
    if (p >= ps->end) return ms_jp_fail(ps, p, "unterminated string");
    if (c < 0x20) return ms_jp_fail(ps, p, "control character in string");
    if (c == '\\') {
      p++;
      if (*p == 'u') {
        int i;
        for (i = 1; i <= 4; i++)
          if (!((p[i] >= '0' && p[i] <= '9') || ((p[i] | 0x20) >= 'a' && (p[i] | 0x20) <= 'f')))
            return ms_jp_fail(ps, p, "invalid \\u escape");
        p += 4;
      } else if (!strchr("\"\\/bfnrt", *p) || *p == '\0') {
        return ms_jp_fail(ps, p, "invalid escape");
      }
    }
    p++;
  }
}

/* Steps over one value, checking its syntax, building nothing. */
static int skip_value(parser *ps, int depth) {
  ms_value v;
  int rc, close;
  if (depth > MS_JSON_MAX_DEPTH)
    return ms_jp_fail(ps, ps->p, "nesting deeper than 16384 levels");
  ms_jp_skipws(ps);
  if (ps->p >= ps->end) return ms_jp_fail(ps, ps->p, "unexpected end of input");
  switch (*ps->p) {
    case '"': ps->p++; return skip_string(ps);
    case 't': return ms_jp_literal(ps, "true", 4);
    case 'f': return ms_jp_literal(ps, "false", 5);
    case 'n': return ms_jp_literal(ps, "null", 4);
    case '{': case '[':
      close = *ps->p == '{' ? '}' : ']';
      ps->p++;
      ms_jp_skipws(ps);
      if (*ps->p == close) { ps->p++; return MS_OK; }
      for (;;) {
        if (close == '}') {
          ms_jp_skipws(ps);
          if (*ps->p != '"') return ms_jp_fail(ps, ps->p, "expected a string key");
          ps->p++;
          if ((rc = skip_string(ps)) != MS_OK) return rc;
          ms_jp_skipws(ps);
          if (*ps->p != ':') return ms_jp_fail(ps, ps->p, "expected ':' after key");
          ps->p++;
        }
        if ((rc = skip_value(ps, depth + 1)) != MS_OK) return rc;
        ms_jp_skipws(ps);
        if (*ps->p == ',') { ps->p++; continue; }
        if (*ps->p == close) { ps->p++; return MS_OK; }
        return ms_jp_fail(ps, ps->p, close == '}' ? "expected ',' or '}' in object"
                                                  : "expected ',' or ']' in array");
      }
    default:
      if (*ps->p == '-' || (*ps->p >= '0' && *ps->p <= '9')) return ms_jp_number(ps, &v);
      return ms_jp_fail(ps, ps->p, "unexpected character");
  }
}

/* Decodes the value at ps->p onto the Lua stack through the shape at
   absolute index `shape`: of a map, only the members it names (true: the
   whole value; a table: that member's own shape); a list's items each
   through the same shape. What is left out is stepped over, its syntax
   checked; a member kept twice is an error, as in the whole decoder. */
static int shaped_value(lua_State *L, parser *ps, int shape, int depth, int inner) {
  ms_value v;
  int rc;
  if (depth > MS_JSON_MAX_DEPTH)
    return ms_jp_fail(ps, ps->p, "nesting deeper than 16384 levels");
  ms_jp_skipws(ps);
  luaL_checkstack(L, 6, "value nested too deeply");
  if (*ps->p == '[') {
    lua_Integer i = 0;
    ps->p++;
    lua_createtable(L, 0, 0);
    ms_jp_skipws(ps);
    if (*ps->p == ']') { ps->p++; return MS_OK; }
    for (;;) {
      if ((rc = shaped_value(L, ps, shape, depth + 1, 1)) != MS_OK) return rc;
      lua_rawseti(L, -2, ++i);
      ms_jp_skipws(ps);
      if (*ps->p == ',') { ps->p++; continue; }
      if (*ps->p == ']') { ps->p++; return MS_OK; }
      return ms_jp_fail(ps, ps->p, "expected ',' or ']' in array");
    }
  }
  if (*ps->p == '{') {
    const char *start = ps->p;
    int kept = 0;
    ps->p++;
    lua_createtable(L, 0, 0);
    ms_jp_skipws(ps);
    if (*ps->p != '}') {
      for (;;) {
        ms_value k;
        int t;
        ms_jp_skipws(ps);
        if ((rc = ms_jp_key(ps, &k)) != MS_OK) return rc;
        lua_pushlstring(L, k.u.s, k.len);
        t = lua_rawget(L, shape);
        if (t == LUA_TNIL || (t == LUA_TBOOLEAN && !lua_toboolean(L, -1))) {
          lua_pop(L, 1);
          if ((rc = skip_value(ps, depth + 1)) != MS_OK) return rc;
        } else {
          lua_pushlstring(L, k.u.s, k.len);
          if (lua_rawget(L, -3) != LUA_TNIL)
            return ms_jp_fail(ps, start, "the object that starts here has a key twice");
          lua_pop(L, 1);
          lua_pushlstring(L, k.u.s, k.len);
          if (t == LUA_TTABLE) {
            rc = shaped_value(L, ps, lua_gettop(L) - 1, depth + 1, 1);
          } else {
            rc = ms_jp_value(ps, &v, depth + 1);
            if (rc == MS_OK) ms_l_push(L, &v, 1);
          }
          if (rc != MS_OK) return rc;
          lua_rawset(L, -4);
          lua_pop(L, 1);
          kept++;
        }
        ms_jp_skipws(ps);
        if (*ps->p == ',') { ps->p++; continue; }
        if (*ps->p == '}') break;
        return ms_jp_fail(ps, ps->p, "expected ',' or '}' in object");
      }
    }
    ps->p++;
    if (kept == 0) luaL_setmetatable(L, MS_MAPMARK_MT);  /* not a list */
    return MS_OK;
  }
  if ((rc = ms_jp_value(ps, &v, depth)) != MS_OK) return rc;
  ms_l_push(L, &v, inner);
  return MS_OK;
}

/* core.json_decode(text[, name[, shape]]) -> Lua value. Integers stay
   integers, floats floats, null inside containers is core.null and empty
   objects keep the map mark. With a shape (a table: {key = true | shape},
   applied to each item of a list), only the members it names are made:
   the rest is stepped over, its syntax checked. Raises ParseError with
   line and column. */
static int l_core_json_decode(lua_State *L) {
  size_t n;
  const char *text = luaL_checklstring(L, 1, &n);
  const char *name = luaL_optstring(L, 2, "<json>");
  int shaped = !lua_isnoneornil(L, 3);
  ms_arena *a;
  ms_value v;
  ms_err err;
  if (shaped) luaL_checktype(L, 3, LUA_TTABLE);
  lua_settop(L, 3);
  /* the arena is owned by a userdata, so a raise frees it too */
  a = lua_newuserdatauv(L, sizeof *a, 0);
  ms_arena_init(a);
  luaL_setmetatable(L, MS_ARENA_MT);
  /* the Lua string is NUL-terminated and stays on the stack meanwhile */
  if (shaped) {
    parser ps;
    int rc;
    ms_jp_init(&ps, text, n, name, a, &err);
    rc = shaped_value(L, &ps, 3, 0, 0);
    if (rc == MS_OK) rc = ms_jp_end(&ps);
    free(ps.stack);
    if (rc != MS_OK) return ms_l_raise(L, &err);
    ms_arena_free(a);
    return 1;
  }
  if (ms_json_parse(a, text, n, name, &v, &err) != MS_OK)
    return ms_l_raise(L, &err);
  ms_l_push(L, &v, 0);
  ms_arena_free(a);
  return 1;
}

/* {====== pformat ======} */

static int keycmp(const void *a, const void *b) {
  const ms_value *x = a, *y = b;
  size_t n = x->len < y->len ? x->len : y->len;
  int c = memcmp(x->u.s, y->u.s, n);
  if (c) return c;
  return (x->len > y->len) - (x->len < y->len);
}

/* Sorts every map's members by key (bytes: code points, for UTF-8). */
static void sortmaps(ms_value *v) {
  uint32_t i;
  if (v->type == MS_LIST) {
    for (i = 0; i < v->len; i++) sortmaps(&v->u.items[i]);
  } else if (v->type == MS_MAP && v->len > 0) {
    qsort(v->u.items, v->len, 2 * sizeof *v->u.items, keycmp);
    for (i = 0; i < v->len; i++) sortmaps(&v->u.items[2 * i + 1]);
  }
}

/* core.pformat(value) -> JSON text with sorted keys and two-space
   indentation: Python's json.dumps(v, indent=2, sort_keys=True,
   ensure_ascii=False), a readable print of a dict() */
static int l_core_pformat(lua_State *L) {
  ms_store *st;
  ms_value v;
  ms_buf b = MS_BUF_INIT;
  luaL_checkany(L, 1);
  lua_settop(L, 1);
  st = ms_store_new_small("pformat", "pformat");
  if (st == NULL) return luaL_error(L, "out of memory");
  if (ms_l_tovalue(L, 1, st, &v, "pformat value") != MS_OK) {
    ms_store_free(st);
    return lua_error(L);
  }
  sortmaps(&v);
  ms_value_json(&b, &v, 0);
  ms_store_free(st);
  return ms_l_pushbuf(L, &b);
}

/* core.pyrepr(value[, keys]) -> Python's repr() of the value, as DiffSync
   prints a dict: {'name': 'x', 'count': 3, 'note': None}. Maps list their
   keys in the order of `keys` when given (keys absent from the map are
   left out), sorted otherwise: a Lua table keeps no order. */
static int l_core_pyrepr(lua_State *L) {
  ms_store *st;
  ms_value v;
  ms_buf b = MS_BUF_INIT;
  int rc = MS_OK;
  luaL_checkany(L, 1);
  if (!lua_isnoneornil(L, 2)) {
    luaL_checktype(L, 1, LUA_TTABLE);
    luaL_checktype(L, 2, LUA_TTABLE);
  }
  lua_settop(L, 2);
  st = ms_store_new_small("pyrepr", "pyrepr");
  if (st == NULL) return luaL_error(L, "out of memory");
  if (lua_isnil(L, 2)) {
    if ((rc = ms_l_tovalue(L, 1, st, &v, "pyrepr value")) == MS_OK) {
      sortmaps(&v);
      ms_value_pyrepr(&b, &v);
    }
  } else {
    lua_Integer i, n = luaL_len(L, 2);
    int first = 1;
    ms_buf_putc(&b, '{');
    for (i = 1; i <= n && rc == MS_OK; i++) {
      size_t klen;
      const char *k;
      lua_geti(L, 2, i);
      k = lua_tolstring(L, -1, &klen);
      if (k == NULL) {
        ms_buf_free(&b);
        ms_store_free(st);
        return luaL_error(L, "pyrepr: keys[%d] is not a string", (int)i);
      }
      lua_gettable(L, 1);  /* the key stays referenced by keys[i] */
      if (!lua_isnil(L, -1)) {
        rc = ms_l_tovalue(L, -1, st, &v, "pyrepr value");
        if (rc == MS_OK) {
          if (!first) ms_buf_puts(&b, ", ");
          first = 0;
          ms_pyrepr_str(&b, k, klen);
          ms_buf_puts(&b, ": ");
          sortmaps(&v);
          ms_value_pyrepr(&b, &v);
        }
      }
      if (rc == MS_OK) lua_pop(L, 1);
    }
    ms_buf_putc(&b, '}');
  }
  ms_store_free(st);
  if (rc != MS_OK) {
    ms_buf_free(&b);
    return lua_error(L);
  }
  return ms_l_pushbuf(L, &b);
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
  if (rc != MS_OK) return ms_l_raise(L, &err);
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

/* core.sha256(text[, key]) -> 64 hex digits of SHA-256(text), or of
   HMAC-SHA-256(key, text) with a key: binds content against tampering */
static int l_core_sha256(lua_State *L) {
  size_t n, kn = 0;
  const char *text = luaL_checklstring(L, 1, &n);
  const char *key = luaL_optlstring(L, 2, NULL, &kn);
  unsigned char d[32];
  char hex[65];
  int i;
  ms_sha256(text, n, key, kn, d);
  for (i = 0; i < 32; i++) snprintf(hex + 2 * i, 3, "%02x", d[i]);
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

/* core.wall_time() -> seconds since the epoch, with fractions */
static int l_core_wall_time(lua_State *L) {
  struct timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
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

static int l_arena_gc(lua_State *L) {
  ms_arena_free(luaL_checkudata(L, 1, MS_ARENA_MT));
  return 0;
}

/* __tostring of light userdata: core.null (cjson.null too) is "null" */
static int l_light_tostring(lua_State *L) {
  void *p = lua_touserdata(L, 1);
  if (p == NULL) lua_pushliteral(L, "null");
  else lua_pushfstring(L, "userdata: %p", p);
  return 1;
}

static const luaL_Reg utilfuncs[] = {
  {"check_json",  l_core_check_json},
  {"error",       l_core_error},
  {"error_text",  l_core_error_text},
  {"flags",       l_core_flags},
  {"hash",        l_core_hash},
  {"sha256",      l_core_sha256},
  {"is_error",    l_core_is_error},
  {"isatty",      l_core_isatty},
  {"json_decode", l_core_json_decode},
  {"list",        l_core_list},
  {"map",         l_core_map},
  {"now",         l_core_now},
  {"peak_rss",    l_core_peak_rss},
  {"pformat",     l_core_pformat},
  {"pyrepr",      l_core_pyrepr},
  {"schema",      l_core_schema},
  {"wall_time",   l_core_wall_time},
  {NULL, NULL}
};

void ms_l_util_register(lua_State *L) {
  ms_l_markmeta(L, MS_ARENA_MT, "__gc", NULL, l_arena_gc);
  ms_l_markmeta(L, MS_MAPMARK_MT, "__moonsync", "map", NULL);
  ms_l_markmeta(L, MS_LISTMARK_MT, "__moonsync", "list", NULL);
  ms_l_markmeta(L, MS_ERROR_MT, "__tostring", NULL, ms_l_error_tostring);
  luaL_setfuncs(L, utilfuncs, 0);
  /* light userdata share one metatable: give null its name, protected */
  lua_pushlightuserdata(L, NULL);
  if (!lua_getmetatable(L, -1)) {
    lua_createtable(L, 0, 2);
    lua_pushcfunction(L, l_light_tostring);
    lua_setfield(L, -2, "__tostring");
    ms_l_protect(L, "lightuserdata");
    lua_setmetatable(L, -2);
  } else {
    lua_pop(L, 1);
  }
  lua_setfield(L, -2, "null");
  lua_pushliteral(L, "0.1.0");
  lua_setfield(L, -2, "version");
}
