/*
** l_model.c: models in Lua: core.model{...} declares one (store.h's
** ms_model, DiffSync's declaration checks); model:info() and
** model:name() describe it.
*/
#include <string.h>

#include <lauxlib.h>
#include <lua.h>

#include "l_common.h"

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
  sp.flags = ms_l_checkflags(L, -1, 1);
  top = lua_gettop(L);
  p = lua_newuserdatauv(L, sizeof *p, 0);
  p->m = NULL;
  luaL_setmetatable(L, MS_MODEL_MT);
  p->m = ms_model_new(&sp, &err);
  if (p->m == NULL) return ms_l_raise(L, &err);
  (void)top;
  return 1;
}

static int l_model_gc(lua_State *L) {
  lmodel *p = luaL_checkudata(L, 1, MS_MODEL_MT);
  if (p->m) ms_model_unref(p->m);
  p->m = NULL;
  return 0;
}

/* model:info() -> table describing the model */
static int l_model_info(lua_State *L) {
  const ms_model *m = ms_l_tomodel(L, 1)->m;
  uint32_t i;
  lua_createtable(L, 0, 7);
  lua_pushstring(L, m->name);
  lua_setfield(L, -2, "name");
  ms_l_pushnames(L, m->fields, 0, m->nids);
  lua_setfield(L, -2, "identifiers");
  ms_l_pushnames(L, m->fields, m->nids, m->nids + m->nattrs);
  lua_setfield(L, -2, "attributes");
  ms_l_pushnames(L, m->fields, m->nids + m->nattrs, m->nfields);
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
  lua_pushstring(L, ms_l_tomodel(L, 1)->m->name);
  return 1;
}

static const luaL_Reg modelmeth[] = {
  {"info", l_model_info},
  {"name", l_model_name},
  {NULL, NULL}
};

void ms_l_model_register(lua_State *L) {
  ms_l_createmeta(L, MS_MODEL_MT, modelmeth, l_model_gc, 0);
  lua_pushcfunction(L, l_core_model);
  lua_setfield(L, -2, "model");
}
