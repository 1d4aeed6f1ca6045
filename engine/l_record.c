/*
** l_record.c: record handles: fields read and written by name, DiffSync's
** record methods (get_unique_id, get_identifiers, add_child, ...), and
** core.record(model, fields) for a record not yet in an adapter.
*/
#include <stdio.h>
#include <string.h>

#include <lauxlib.h>
#include <lua.h>

#include "l_common.h"

static int l_record_gc(lua_State *L) {
  lrecord *h = torecord(L, 1);
  if (h->r) ms_store_free(h->r->store);
  h->r = NULL;
  return 0;
}

/* core.record(model, fields[, flags]) -> a detached record: the only
   record of a private store the handle owns */
static int l_core_record(lua_State *L) {
  lmodel *mp = ms_l_tomodel(L, 1);
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
  ms_l_fillrecord(L, r, 2, 3, 1);
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
  pushuid(L, ms_l_checkrec(L, 1));
  return 1;
}

static int l_record_shortname(lua_State *L) {
  const ms_record *r = ms_l_checkrec(L, 1);
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
    ms_l_push(L, &r->fields[i], 1);
    lua_setfield(L, -2, r->model->fields[i]);
  }
}

static int l_record_ids(lua_State *L) {
  const ms_record *r = ms_l_checkrec(L, 1);
  pushfields(L, r, 0, r->model->nids);
  return 1;
}

static int l_record_attrs(lua_State *L) {
  const ms_record *r = ms_l_checkrec(L, 1);
  pushfields(L, r, r->model->nids, r->model->nids + r->model->nattrs);
  return 1;
}

static int l_record_type(lua_State *L) {
  lua_pushstring(L, ms_l_checkrec(L, 1)->model->name);
  return 1;
}

static int l_record_add_child(lua_State *L) {
  ms_record *p = ms_l_checkrec(L, 1), *c = ms_l_checkrec(L, 2);
  ms_err err;
  if (ms_record_uid(c) != MS_OK) return luaL_error(L, "out of memory");
  if (ms_record_add_child(p, c, &err) != MS_OK)
    return ms_l_raisectx(L, &err, p->stored ? p->store : NULL,
                    p->model->name, p->uid, p->uid_len);
  return 0;
}

static int l_record_remove_child(lua_State *L) {
  ms_record *p = ms_l_checkrec(L, 1), *c = ms_l_checkrec(L, 2);
  ms_err err;
  if (ms_record_remove_child(p, c, &err) != MS_OK)
    return ms_l_raisectx(L, &err, NULL, p->model->name, p->uid, p->uid_len);
  return 0;
}

static int l_record_status(lua_State *L) {
  const ms_record *r = ms_l_checkrec(L, 1);
  const char *msg;
  lua_pushstring(L, ms_l_statuses[ms_record_status(r, &msg) & 3]);
  lua_pushstring(L, msg);
  return 2;
}

static int l_record_set_status(lua_State *L) {
  ms_record *r = ms_l_checkrec(L, 1);
  int st = luaL_checkoption(L, 2, NULL, ms_l_statuses);
  ms_record_set_status(r, st, luaL_optstring(L, 3, ""));
  return 0;
}

/* rec:update_fields{...}: assigns several fields at once */
static int l_record_set(lua_State *L) {
  ms_record *r = ms_l_checkrec(L, 1);
  luaL_checktype(L, 2, LUA_TTABLE);
  ms_l_setfields(L, r, 2, 0);
  lua_settop(L, 1);
  return 1;
}

static int l_record_dict(lua_State *L) {
  const ms_record *r = ms_l_checkrec(L, 1);
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
  const ms_record *r = ms_l_checkrec(L, 1);
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
  ms_record *r = ms_l_checkrec(L, 1);
  lua_pushinteger(L, (lua_Integer)r->flags);
  if (!lua_isnoneornil(L, 2)) r->flags = ms_l_checkflags(L, 2, 1);
  return 1;
}

static int l_record_fingerprint(lua_State *L) {
  const ms_record *r = ms_l_checkrec(L, 1);
  char hex[17];
  snprintf(hex, sizeof hex, "%016llx",
           (unsigned long long)ms_fields_fingerprint(r->model, r->fields));
  lua_pushstring(L, hex);
  return 1;
}

static int l_record_stored(lua_State *L) {
  lua_pushboolean(L, ms_l_checkrec(L, 1)->stored);
  return 1;
}

static int l_record_index(lua_State *L) {
  const ms_record *r = ms_l_checkrec(L, 1);
  size_t n;
  const char *k = lua_tolstring(L, 2, &n);
  int fi;
  uint32_t c, i;
  if (k == NULL) return 0;
  fi = ms_model_field(r->model, k, n);
  if (fi >= 0) {
    ms_l_push(L, &r->fields[fi], 0);
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
  ms_record *r = ms_l_checkrec(L, 1);
  size_t n;
  const char *k = luaL_checklstring(L, 2, &n);
  int fi = ms_model_field(r->model, k, n);
  ms_value v;
  ms_err err;
  if (fi < 0)
    return luaL_error(L, "%s has no field '%s'", r->model->name, k);
  ms_l_tovalue_raw(L, 3, r->store, &v, k);
  if (ms_record_set(r, (uint32_t)fi, &v, &err) != MS_OK) return ms_l_raise(L, &err);
  return 0;
}

static int l_record_eq(lua_State *L) {
  lua_pushboolean(L, ms_l_checkrec(L, 1) == ms_l_checkrec(L, 2));
  return 1;
}

static int l_record_tostring(lua_State *L) {
  const ms_record *r = ms_l_checkrec(L, 1);
  lua_pushfstring(L, "%s \"", r->model->name);
  pushuid(L, r);
  lua_pushliteral(L, "\"");
  lua_concat(L, 3);
  return 1;
}

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

void ms_l_record_register(lua_State *L) {
  luaL_newmetatable(L, MS_RECORD_MT);
  luaL_setfuncs(L, recordmeta, 0);
  luaL_newlib(L, recordmeth);
  lua_setfield(L, -2, "methods");
  ms_l_protect(L, MS_RECORD_MT);
  lua_pop(L, 1);
  lua_pushcfunction(L, l_core_record);
  lua_setfield(L, -2, "record");
}
