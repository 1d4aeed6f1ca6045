/*
** l_mapping.c: Lua binding of mappings (mapping.h): core.mapping(spec)
** compiles a normalized spec (lua/moonsync/mapping.lua builds it) and
** store:map(mapping, source) runs it over JSON text, a JSON file or Lua
** tables. Lua transforms and filters are kept in the mapping's user
** value and called only where the mapping asks for them.
*/
#include <limits.h>
#include <stdlib.h>
#include <string.h>

#include <lauxlib.h>
#include <lua.h>

#include "csv.h"
#include "fixture.h"
#include "json.h"
#include "l_common.h"
#include "mapping.h"
#include "perm.h"
#include "progress.h"

#define MS_MAPPING_MT "moonsync.Mapping"

typedef struct lmapping { ms_mapping m; int ready; } lmapping;

static char *dupfield(lua_State *L, int t, const char *k) {
  const char *v;
  char *c;
  if (lua_getfield(L, t, k) == LUA_TNIL) {
    lua_pop(L, 1);
    return NULL;
  }
  v = luaL_checkstring(L, -1);
  c = malloc(strlen(v) + 1);
  if (c == NULL) luaL_error(L, "out of memory");
  strcpy(c, v);
  lua_pop(L, 1);
  return c;
}

static int l_mapping_gc(lua_State *L) {
  lmapping *p = luaL_checkudata(L, 1, MS_MAPPING_MT);
  if (p->ready) ms_mapping_clear(&p->m);
  p->ready = 0;
  return 0;
}

static const char *const normnames[] = {"", "lower", "upper", "trim", "ip",
                                        "prefix", "mac", "set", "integer",
                                        "number", NULL};

/* A constant or default: scalars, strings and containers (via JSON text
   made by the Lua side, so no Lua-table walking is needed here). */
static void constval(lua_State *L, int idx, ms_mapping *m, ms_value *out) {
  ms_err err;
  size_t n;
  const char *text;
  switch (lua_type(L, idx)) {
    case LUA_TBOOLEAN: out->type = MS_BOOL; out->u.b = lua_toboolean(L, idx); return;
    case LUA_TNUMBER:
      if (lua_isinteger(L, idx)) { out->type = MS_INT; out->u.i = lua_tointeger(L, idx); }
      else { out->type = MS_FLOAT; out->u.f = lua_tonumber(L, idx); }
      return;
    case LUA_TSTRING: {
      const char *s = lua_tolstring(L, idx, &n);
      char *c = ms_arena_strndup(&m->arena, s, n);
      if (c == NULL) luaL_error(L, "out of memory");
      *out = ms_value_str(c, n);
      return;
    }
    case LUA_TTABLE:
      /* {json = "..."}: a container constant encoded by the Lua side */
      lua_getfield(L, idx, "json");
      text = luaL_checklstring(L, -1, &n);
      {
        char *c = ms_arena_strndup(&m->arena, text, n);
        if (c == NULL) luaL_error(L, "out of memory");
        if (ms_json_parse(&m->arena, c, n, "constant", out, &err) != MS_OK)
          luaL_error(L, "%s", err.msg);
      }
      lua_pop(L, 1);
      return;
    default:
      *out = ms_nil;
  }
}

/* core.mapping(spec) -> compiled mapping */
static int l_core_mapping(lua_State *L) {
  lmapping *p;
  ms_mapping *m;
  lua_Integer i, n, k;
  int fns;
  luaL_checktype(L, 1, LUA_TTABLE);
  lua_settop(L, 1);
  p = lua_newuserdatauv(L, sizeof *p, 1);           /* 2 */
  memset(p, 0, sizeof *p);
  m = &p->m;
  m->lua_filter = -1;
  ms_arena_init(&m->arena);
  p->ready = 1;
  luaL_setmetatable(L, MS_MAPPING_MT);
  lua_newtable(L);                                  /* 3: Lua functions */
  lua_pushvalue(L, -1);
  lua_setiuservalue(L, 2, 1);
  fns = 0;
  m->name = dupfield(L, 1, "name");
  m->model = dupfield(L, 1, "model");
  m->from = dupfield(L, 1, "from");
  m->id = dupfield(L, 1, "id");
  m->skip_dups = lua_getfield(L, 1, "skip_duplicates") == LUA_TBOOLEAN && lua_toboolean(L, -1);
  lua_pop(L, 1);
  if (m->name == NULL || m->model == NULL) return luaL_error(L, "mapping needs name and model");
  if (lua_getfield(L, 1, "filter") == LUA_TFUNCTION) {
    lua_rawseti(L, 3, ++fns);
    m->lua_filter = fns;
  } else {
    lua_pop(L, 1);
  }
  lua_getfield(L, 1, "fields");
  n = (lua_Integer)lua_rawlen(L, -1);
  m->fields = calloc((size_t)n + 1, sizeof *m->fields);
  if (m->fields == NULL) return luaL_error(L, "out of memory");
  for (i = 1; i <= n; i++) {
    ms_mapfield *f = &m->fields[i - 1];
    int t;
    lua_rawgeti(L, -1, i);
    t = lua_gettop(L);
    m->nfields = (uint32_t)i;
    f->field = dupfield(L, t, "field");
    f->path = dupfield(L, t, "path");
    f->ref_model = dupfield(L, t, "ref_model");
    f->ref_field = dupfield(L, t, "ref_field");
    lua_getfield(L, t, "has_const");
    f->has_const = lua_toboolean(L, -1);
    lua_getfield(L, t, "const");
    if (f->has_const) constval(L, -1, m, &f->konst);
    lua_getfield(L, t, "has_default");
    f->has_default = lua_toboolean(L, -1);
    lua_getfield(L, t, "default");
    if (f->has_default) constval(L, -1, m, &f->dflt);
    lua_pop(L, 4);
    lua_getfield(L, t, "steps");
    for (k = 1; k <= (lua_Integer)lua_rawlen(L, -1) && k <= MS_MAP_MAXSTEPS; k++) {
      ms_mapstep *st = &f->steps[k - 1];
      lua_rawgeti(L, -1, k);
      if (lua_getfield(L, -1, "fn") == LUA_TFUNCTION) {
        lua_rawseti(L, 3, ++fns);
        st->kind = MS_NORM_LUA;
        st->lua = fns;
      } else {
        lua_pop(L, 1);
        lua_getfield(L, -1, "kind");
        st->kind = luaL_checkoption(L, -1, NULL, normnames);
        lua_pop(L, 1);
        st->key = dupfield(L, lua_gettop(L), "key");
      }
      f->nsteps = (int)k;
      lua_pop(L, 1);
    }
    lua_pop(L, 2);
    if (f->field == NULL) return luaL_error(L, "mapping field without a name");
  }
  lua_pop(L, 1);
  if (lua_getfield(L, 1, "where") == LUA_TTABLE) {
    n = (lua_Integer)lua_rawlen(L, -1);
    m->where = calloc((size_t)n + 1, sizeof *m->where);
    if (m->where == NULL) return luaL_error(L, "out of memory");
    for (i = 1; i <= n; i++) {
      lua_rawgeti(L, -1, i);
      m->where[i - 1].path = dupfield(L, lua_gettop(L), "path");
      m->nwhere = (uint32_t)i;
      lua_getfield(L, -1, "value");
      constval(L, -1, m, &m->where[i - 1].value);
      lua_pop(L, 2);
    }
  }
  lua_pop(L, 1);
  if (lua_getfield(L, 1, "parent") == LUA_TTABLE) {
    int t = lua_gettop(L);
    m->parent_model = dupfield(L, t, "model");
    lua_getfield(L, t, "ids");
    n = (lua_Integer)lua_rawlen(L, -1);
    m->parent_ids = calloc((size_t)n + 1, sizeof *m->parent_ids);
    if (m->parent_ids == NULL) return luaL_error(L, "out of memory");
    for (i = 1; i <= n; i++) {
      lua_rawgeti(L, -1, i);
      m->parent_ids[i - 1] = malloc(lua_rawlen(L, -1) + 1);
      if (m->parent_ids[i - 1] == NULL) return luaL_error(L, "out of memory");
      strcpy(m->parent_ids[i - 1], luaL_checkstring(L, -1));
      m->nparent = (uint32_t)i;
      lua_pop(L, 1);
    }
    lua_pop(L, 1);
  }
  lua_pop(L, 1);
  lua_settop(L, 2);
  return 1;
}

/* {====== running ======} */

typedef struct lrun {
  lua_State *L;
  int fns;       /* stack index of the function table */
} lrun;

/* The function at 1 called with the value at light userdata 2. */
static int pushcall(lua_State *L) {
  const ms_value *v = lua_touserdata(L, 2);
  lua_settop(L, 1);
  ms_l_push(L, v, 0);
  lua_call(L, 1, 1);
  return 1;
}

/* Calls the hook idx with v in protected mode, the pushing of v included
   (it may run out of memory): a hook never unwinds through the C run
   that called it. Leaves its result or error on the stack. */
static int callhook(lrun *r, int idx, const ms_value *v) {
  lua_State *L = r->L;
  lua_pushcfunction(L, pushcall);
  lua_rawgeti(L, r->fns, idx);
  lua_pushlightuserdata(L, (void *)v);
  return lua_pcall(L, 2, 1, 0);
}

static int hook_transform(void *ud, int idx, ms_store *s, const ms_value *in,
                          ms_value *out, ms_err *err) {
  lrun *r = ud;
  lua_State *L = r->L;
  if (callhook(r, idx, in) != LUA_OK) {
    ms_err_set(err, MS_EINPUT, "transform failed: %s",
               lua_isstring(L, -1) ? lua_tostring(L, -1) : luaL_typename(L, -1));
    lua_pop(L, 1);
    return MS_EINPUT;
  }
  if (ms_l_tovalue(L, -1, s, out, "transform result") != MS_OK) {
    ms_err_set(err, MS_EINPUT, "transform returned %s, which cannot be stored: %s",
               luaL_typename(L, -2), lua_tostring(L, -1));
    lua_pop(L, 2);
    return MS_EINPUT;
  }
  lua_pop(L, 1);
  return MS_OK;
}

static int hook_filter(void *ud, int idx, const ms_value *rec, int *keep,
                       ms_err *err) {
  lrun *r = ud;
  lua_State *L = r->L;
  if (callhook(r, idx, rec) != LUA_OK) {
    ms_err_set(err, MS_EINPUT, "filter failed: %s",
               lua_isstring(L, -1) ? lua_tostring(L, -1) : luaL_typename(L, -1));
    lua_pop(L, 1);
    return MS_EINPUT;
  }
  *keep = lua_toboolean(L, -1);
  lua_pop(L, 1);
  return MS_OK;
}

static void pushstats(lua_State *L, const ms_mapstats *st) {
  lua_createtable(L, 0, 4);
  lua_pushinteger(L, (lua_Integer)st->seen);
  lua_setfield(L, -2, "seen");
  lua_pushinteger(L, (lua_Integer)st->added);
  lua_setfield(L, -2, "added");
  lua_pushinteger(L, (lua_Integer)st->filtered);
  lua_setfield(L, -2, "filtered");
  lua_pushinteger(L, (lua_Integer)st->skipped);
  lua_setfield(L, -2, "skipped");
}

/* store:map(mapping, source[, name]) -> {seen =, added =, filtered =,
   skipped =}. source: JSON text, {file = path}, or Lua tables; text is
   read a chunk of records at a time, without a tree of the whole
   document, and what the records keep of it is copied into the store. */
int ms_l_store_map(lua_State *L) {
  ms_store *s = ms_l_checkstore(L, 1);
  lmapping *p = luaL_checkudata(L, 2, MS_MAPPING_MT);
  const char *name = luaL_optstring(L, 4, "<source>");
  const char *src = NULL;  /* JSON text, or NULL: Lua tables in doc */
  size_t srclen = 0;
  char buf[PATH_MAX];
  ms_value doc, *items = NULL;
  ms_arena *scratch = NULL;
  ms_maphooks hooks;
  ms_mapstats stats;
  ms_maprun mrun;
  ms_text text;
  ms_err err;
  lrun run;
  int rc = MS_OK;
  if (!p->ready) return luaL_error(L, "mapping is closed");
  lua_settop(L, 4);
  lua_getiuservalue(L, 2, 1);   /* 5: functions */
  memset(&mrun, 0, sizeof mrun);
  memset(&text, 0, sizeof text);
  if (lua_type(L, 3) == LUA_TSTRING) {
    src = lua_tolstring(L, 3, &srclen);  /* NUL-terminated, kept on the stack */
  } else if (lua_istable(L, 3) && lua_getfield(L, 3, "file") == LUA_TSTRING) {
    const char *path = lua_tostring(L, -1);
    ms_l_permit_path(L, MS_PERM_READ, path, buf);
    rc = ms_text_map(path, &text, &err);
    src = text.data;
    srclen = text.len;
    name = path;
  } else {
    lua_settop(L, 5);
    if (ms_l_tovalue(L, 3, s, &doc, "source") != MS_OK) return lua_error(L);
  }
  if (rc == MS_OK && src) {
    /* the parse's scratch and the chunk of items it reads, owned by Lua:
       freed even if something raises */
    scratch = lua_newuserdatauv(L, sizeof *scratch, 0);
    ms_arena_init(scratch);
    luaL_setmetatable(L, MS_ARENA_MT);
    items = lua_newuserdatauv(L, MS_MAP_CHUNK * sizeof *items, 0);
    mrun.copy = 1;
    mrun.kept = lua_newuserdatauv(L, (p->m.nfields + 1) * sizeof *mrun.kept, 0);
    memset(mrun.kept, 0, (p->m.nfields + 1) * sizeof *mrun.kept);
  }
  run.L = L;
  run.fns = 5;
  hooks.ud = &run;
  hooks.transform = hook_transform;
  hooks.filter = hook_filter;
  memset(&stats, 0, sizeof stats);
  if (rc == MS_OK)
    rc = src ? ms_mapping_run_text(&p->m, s, src, srclen, name,
                                   text.data ? &text : NULL, scratch, items,
                                   &hooks, &mrun, &stats, &err)
             : ms_mapping_run(&p->m, s, &doc, &hooks, &mrun, &stats, &err);
  ms_text_unmap(&text);
  if (rc != MS_OK) return ms_l_raise(L, &err);
  pushstats(L, &stats);
  return 1;
}

/* core.normalize(kind, value[, key]) -> the normalized value */
static int l_core_normalize(lua_State *L) {
  int kind = luaL_checkoption(L, 1, NULL, normnames);
  ms_store *tmp;
  ms_value in, out;
  ms_err err;
  int rc;
  lua_settop(L, 3);
  /* a scratch store owned by a userdata: freed even if something raises */
  tmp = ms_l_scratch_store(L);
  if (ms_l_tovalue(L, 2, tmp, &in, "value") != MS_OK) return lua_error(L);
  rc = ms_normalize(kind, lua_tostring(L, 3), tmp, &in, &out, &err);
  if (rc != MS_OK) return ms_l_raise(L, &err);
  ms_l_push(L, &out, 0);
  return 1;
}

/* {====== CSV ======} */

/* store:map_csv({mapping, ...}, source, opts) -> {stats, ...}: source is
   CSV text or {file = path}; opts {name =, keep_empty =, skip_duplicates =}.
   The mappings run in order over every row. */
int ms_l_store_map_csv(lua_State *L) {
  ms_store *s = ms_l_checkstore(L, 1);
  ms_mapping **maps;
  ms_maphooks *hooks;
  ms_mapstats *stats;
  lrun *runs;
  ms_csv_opts o;
  ms_err err;
  char buf[PATH_MAX];
  const char *name;
  lua_Integer n, i;
  int rc, base;
  luaL_checktype(L, 2, LUA_TTABLE);
  luaL_checktype(L, 4, LUA_TTABLE);
  lua_settop(L, 4);
  n = (lua_Integer)lua_rawlen(L, 2);
  memset(&o, 0, sizeof o);
  lua_getfield(L, 4, "keep_empty");
  o.keep_empty = lua_toboolean(L, -1);
  lua_getfield(L, 4, "skip_duplicates");
  o.skip_dups = lua_toboolean(L, -1);
  lua_getfield(L, 4, "name");
  name = lua_tostring(L, -1);  /* stays on the stack */
  /* scratch arrays owned by a userdata, so that a raise frees them */
  maps = lua_newuserdatauv(L, (size_t)(n + 1) * (sizeof *maps + sizeof *hooks +
                                                  sizeof *stats + sizeof *runs), 0);
  hooks = (ms_maphooks *)(maps + n + 1);
  stats = (ms_mapstats *)(hooks + n + 1);
  runs = (lrun *)(stats + n + 1);
  memset(stats, 0, (size_t)(n + 1) * sizeof *stats);
  base = lua_gettop(L);
  for (i = 1; i <= n; i++) {
    lmapping *p;
    lua_rawgeti(L, 2, i);
    p = luaL_testudata(L, -1, MS_MAPPING_MT);
    if (p == NULL || !p->ready) return luaL_error(L, "map_csv: mappings[%d] is not a mapping", (int)i);
    lua_getiuservalue(L, -1, 1);  /* its functions, at base + 2i */
    maps[i - 1] = &p->m;
    runs[i - 1].L = L;
    runs[i - 1].fns = base + 2 * (int)i;
    hooks[i - 1].ud = &runs[i - 1];
    hooks[i - 1].transform = hook_transform;
    hooks[i - 1].filter = hook_filter;
  }
  o.hooks = hooks;
  if (lua_type(L, 3) == LUA_TSTRING) {
    size_t len;
    const char *text = lua_tolstring(L, 3, &len);
    rc = ms_csv_map_text(s, text, len, name ? name : "<csv>", maps, (size_t)n,
                         &o, stats, &err);
  } else if (lua_istable(L, 3) && lua_getfield(L, 3, "file") == LUA_TSTRING) {
    const char *path = lua_tostring(L, -1);
    ms_l_permit_path(L, MS_PERM_READ, path, buf);
    o.progress.fn = ms_progress_load;
    o.progress.ud = (void *)path;
    rc = ms_csv_map_file(s, path, maps, (size_t)n, &o, stats, &err);
  } else {
    return luaL_argerror(L, 3, "CSV text or {file = path}");
  }
  if (rc != MS_OK) return ms_l_raise(L, &err);
  lua_createtable(L, (int)n, 0);
  for (i = 0; i < n; i++) {
    pushstats(L, &stats[i]);
    lua_rawseti(L, -2, i + 1);
  }
  return 1;
}

typedef struct rowsink {
  lua_State *L;
  lua_Integer n;
} rowsink;

static int onrow(void *ud, uint32_t line, const ms_value *cells, uint32_t n) {
  rowsink *k = ud;
  lua_State *L = k->L;
  uint32_t i;
  (void)line;
  lua_createtable(L, (int)n, 0);
  for (i = 0; i < n; i++) {
    lua_pushlstring(L, cells[i].u.s, cells[i].len);
    lua_rawseti(L, -2, (lua_Integer)i + 1);
  }
  lua_rawseti(L, -2, ++k->n);
  return 0;
}

/* core.csv_rows(text[, name]) -> {{cell, ...}, ...}: every row (the
   header included) as strings; blank lines are no rows. */
static int l_core_csv_rows(lua_State *L) {
  size_t len;
  const char *text = luaL_checklstring(L, 1, &len);
  const char *name = luaL_optstring(L, 2, "<csv>");
  ms_arena *a;
  rowsink k;
  ms_err err;
  lua_settop(L, 2);
  a = lua_newuserdatauv(L, sizeof *a, 0);  /* freed with the userdata */
  ms_arena_init(a);
  luaL_setmetatable(L, MS_ARENA_MT);
  lua_newtable(L);
  k.L = L;
  k.n = 0;
  luaL_checkstack(L, 8, "csv");
  if (ms_csv_rows(text, len, name, a, onrow, &k, &err) != MS_OK)
    return ms_l_raise(L, &err);
  return 1;
}

/* core.load_progress(on): loads of files show their progress on stderr */
static int l_core_load_progress(lua_State *L) {
  ms_progress_enable(lua_toboolean(L, 1));
  return 0;
}

void ms_l_mapping_register(lua_State *L) {
  luaL_newmetatable(L, MS_MAPPING_MT);
  lua_pushcfunction(L, l_mapping_gc);
  lua_setfield(L, -2, "__gc");
  ms_l_protect(L, MS_MAPPING_MT);
  lua_pop(L, 1);
  lua_pushcfunction(L, l_core_mapping);
  lua_setfield(L, -2, "mapping");
  lua_pushcfunction(L, l_core_normalize);
  lua_setfield(L, -2, "normalize");
  lua_pushcfunction(L, l_core_csv_rows);
  lua_setfield(L, -2, "csv_rows");
  lua_pushcfunction(L, l_core_load_progress);
  lua_setfield(L, -2, "load_progress");
}
