/*
** l_diff.c: diffs in Lua: core.diff(source, dest, flags) computes one
** (diff.h), and a diff prints as DiffSync's str(), dict() and summary(),
** or as the moonsync-diff/1 change list, and can be scoped.
*/
#include <string.h>

#include <lauxlib.h>
#include <lua.h>

#include "l_common.h"

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
  ms_store *src = ms_l_checkstore(L, 1), *dst = ms_l_checkstore(L, 2);
  uint32_t flags = ms_l_checkflags(L, 3, 0);
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
  if (rc != MS_OK) return ms_l_raisectx(L, &err, dst, NULL, NULL, 0);
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
  ms_diff_str(&b, ms_l_checkdiff(L, 1));
  return ms_l_pushbuf(L, &b);
}

static int l_diff_dict_json(lua_State *L) {
  ms_buf b = MS_BUF_INIT;
  ms_diff_dict_json(&b, ms_l_checkdiff(L, 1), (int)luaL_optinteger(L, 2, 0));
  return ms_l_pushbuf(L, &b);
}

static int l_diff_summary_json(lua_State *L) {
  ms_buf b = MS_BUF_INIT;
  ms_summary s;
  ms_diff_summary(ms_l_checkdiff(L, 1), &s);
  ms_summary_json(&b, &s, (int)luaL_optinteger(L, 2, 0));
  return ms_l_pushbuf(L, &b);
}

static int l_diff_json(lua_State *L) {
  ms_buf b = MS_BUF_INIT;
  ms_diff_changes_json(&b, ms_l_checkdiff(L, 1));
  return ms_l_pushbuf(L, &b);
}

/* Adds the changes below c to the table at -1: "model\0action" -> n. */
static void countchanges(lua_State *L, const ms_dchildren *c) {
  uint32_t g, i;
  for (g = 0; g < c->ngroups; g++)
    for (i = 0; i < c->groups[g].n; i++) {
      const ms_delem *e = c->groups[g].elems[i];
      if (!e->has_diffs) continue;
      if (e->action != MS_ACT_NONE) {
        lua_pushfstring(L, "%s%c%s", ms_delem_type(e), 0, ms_action_name(e->action));
        lua_pushvalue(L, -1);
        lua_rawget(L, -3);
        lua_pushinteger(L, lua_tointeger(L, -1) + 1);
        lua_remove(L, -2);
        lua_rawset(L, -3);
      }
      countchanges(L, &e->child);
    }
}

/* diff:counts() -> { {model=, action=, n=}, ... }: the changes per model
   and action, without building them (the run history's counts). */
static int l_diff_counts(lua_State *L) {
  ms_diff *d = ms_l_checkdiff(L, 1);
  lua_Integer n = 0;
  lua_newtable(L);
  countchanges(L, &d->top);
  lua_newtable(L);
  lua_pushnil(L);
  while (lua_next(L, -3) != 0) {
    const char *k = lua_tostring(L, -2);
    lua_createtable(L, 0, 3);
    lua_pushstring(L, k);  /* up to the NUL: the model */
    lua_setfield(L, -2, "model");
    lua_pushstring(L, k + strlen(k) + 1);
    lua_setfield(L, -2, "action");
    lua_pushvalue(L, -2);
    lua_setfield(L, -2, "n");
    lua_rawseti(L, -4, ++n);
    lua_pop(L, 1);
  }
  return 1;
}

static int l_diff_summary(lua_State *L) {
  ms_summary s;
  ms_diff_summary(ms_l_checkdiff(L, 1), &s);
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
  lua_pushinteger(L, (lua_Integer)ms_diff_len(ms_l_checkdiff(L, 1)));
  return 1;
}

static int l_diff_has_diffs(lua_State *L) {
  lua_pushboolean(L, ms_diff_has_diffs(ms_l_checkdiff(L, 1)));
  return 1;
}

static int l_diff_models_processed(lua_State *L) {
  lua_pushinteger(L, (lua_Integer)ms_l_checkdiff(L, 1)->models_processed);
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
  ms_diff *d = ms_l_checkdiff(L, 1);
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
  ms_l_checkdiff(L, 1);
  lua_getiuservalue(L, 1, 1);
  lua_getiuservalue(L, 1, 2);
  return 2;
}

static int l_diff_flags(lua_State *L) {
  lua_pushinteger(L, (lua_Integer)ms_l_checkdiff(L, 1)->flags);
  return 1;
}

/* diff:dict() as Lua tables (decoded from the JSON form keeps this in one
   place; key order is not representable in Lua tables anyway). */
static void pushattrs(lua_State *L, const ms_delem *e, char which) {
  const ms_model *m = ms_delem_model(e);
  uint32_t i;
  lua_newtable(L);
  luaL_setmetatable(L, MS_MAPMARK_MT);  /* a map even when empty */
  if (e->src && e->dst) {
    for (i = 0; i < e->ncmp; i++) {
      uint32_t di = e->cmp[2 * i], si = e->cmp[2 * i + 1];
      if (!ms_delem_changed(e, i)) continue;
      ms_l_push(L, which == '+' ? &e->sfields[si] : &e->dfields[di], 1);
      lua_setfield(L, -2, e->dst->model->fields[di]);
    }
  } else {
    const ms_value *f = e->src ? e->sfields : e->dfields;
    for (i = m->nids; i < m->nids + m->nattrs; i++) {
      ms_l_push(L, &f[i], 1);
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
  uint32_t g, i, k;
  luaL_checkstack(L, 8, "diff nested too deeply");
  for (g = 0; g < c->ngroups; g++)
    for (i = 0; i < c->groups[g].n; i++) {
      const ms_delem *e = ms_dgroup_at(&c->groups[g], i);
      const ms_record *r = e->src ? e->src : e->dst;
      const ms_model *m = r->model;
      const ms_value *f = e->src ? e->sfields : e->dfields;
      if (!e->has_diffs) continue;
      if (e->action != MS_ACT_NONE) {
        lua_createtable(L, 0, 7);
        lua_pushstring(L, ms_action_name(e->action));
        lua_setfield(L, -2, "action");
        lua_pushstring(L, ms_delem_type(e));
        lua_setfield(L, -2, "model");
        lua_pushlstring(L, r->uid, r->uid_len);
        lua_setfield(L, -2, "uid");
        if (parent) {
          const ms_record *p = parent->src ? parent->src : parent->dst;
          lua_createtable(L, 0, 2);
          lua_pushstring(L, ms_delem_type(parent));
          lua_setfield(L, -2, "model");
          lua_pushlstring(L, p->uid, p->uid_len);
          lua_setfield(L, -2, "uid");
          lua_setfield(L, -2, "parent");
        }
        lua_createtable(L, 0, (int)m->nids);
        for (k = 0; k < m->nids; k++) {
          ms_l_push(L, &f[k], 1);
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
  ms_diff *d = ms_l_checkdiff(L, 1);
  lua_Integer n = 0;
  lua_newtable(L);
  pushchanges(L, &d->top, NULL, &n);
  return 1;
}

static int l_diff_dict(lua_State *L) {
  ms_diff *d = ms_l_checkdiff(L, 1);
  lua_newtable(L);
  pushdict(L, &d->top);
  return 1;
}

/* {====== ordering hooks ======} */

/* Pushes what an ordering hook sees of an element: {type, name, keys,
   action, source_attrs, dest_attrs} (attrs of the side that has it). */
static void pushelem(lua_State *L, const ms_delem *e) {
  const ms_record *r = e->src ? e->src : e->dst;
  const ms_value *f = e->src ? e->sfields : e->dfields;
  const ms_model *m = r->model;
  ms_buf b = MS_BUF_INIT;
  uint32_t i;
  lua_createtable(L, 0, 6);
  lua_pushstring(L, ms_delem_type(e));
  lua_setfield(L, -2, "type");
  ms_delem_name(&b, e);
  lua_pushlstring(L, b.data ? b.data : "", b.len);
  ms_buf_free(&b);
  lua_setfield(L, -2, "name");
  lua_createtable(L, 0, (int)m->nids);
  for (i = 0; i < m->nids; i++) {
    ms_l_push(L, &f[i], 1);
    lua_setfield(L, -2, m->fields[i]);
  }
  lua_setfield(L, -2, "keys");
  if (e->action != MS_ACT_NONE) {
    lua_pushstring(L, ms_action_name(e->action));
    lua_setfield(L, -2, "action");
  }
  for (i = 0; i < 2; i++) {
    const ms_record *side = i ? e->dst : e->src;
    const ms_value *sf = i ? e->dfields : e->sfields;
    uint32_t k;
    if (side == NULL) continue;
    lua_newtable(L);
    for (k = side->model->nids; k < side->model->nids + side->model->nattrs; k++) {
      ms_l_push(L, &sf[k], 1);
      lua_setfield(L, -2, side->model->fields[k]);
    }
    lua_setfield(L, -2, i ? "dest_attrs" : "source_attrs");
  }
}

/* Calls the hook (stack index fn) for every group of c, outermost first,
   and sets the order it returns: a list of the elements it was given, or
   an iterator function yielding them. */
static void ordergroups(lua_State *L, int fn, ms_diff *d, ms_dchildren *c) {
  uint32_t g, i;
  luaL_checkstack(L, 10, "diff nested too deeply");
  for (g = 0; g < c->ngroups; g++) {
    ms_dgroup *grp = &c->groups[g];
    uint32_t *perm;
    int list, rev, res;
    ms_err err;
    lua_createtable(L, (int)grp->n, 0);
    list = lua_gettop(L);
    lua_createtable(L, 0, (int)grp->n);
    rev = lua_gettop(L);
    for (i = 0; i < grp->n; i++) {
      pushelem(L, grp->elems[i]);
      lua_pushvalue(L, -1);
      lua_rawseti(L, list, (lua_Integer)i + 1);
      lua_pushinteger(L, (lua_Integer)i);
      lua_rawset(L, rev);
    }
    lua_pushvalue(L, fn);
    lua_pushstring(L, grp->type);
    lua_pushvalue(L, list);
    lua_call(L, 2, 1);
    res = lua_gettop(L);
    if (!lua_isnil(L, res)) {
      perm = lua_newuserdatauv(L, (grp->n ? grp->n : 1) * sizeof *perm, 0);
      for (i = 0; ; i++) {
        if (lua_isfunction(L, res)) {
          lua_pushvalue(L, res);
          lua_call(L, 0, 1);
        } else if (lua_istable(L, res)) {
          lua_geti(L, res, (lua_Integer)i + 1);
        } else {
          luaL_error(L, "order_children_%s must return a list of elements or an "
                     "iterator, not %s", grp->type, luaL_typename(L, res));
        }
        if (lua_isnil(L, -1)) {
          lua_pop(L, 1);
          break;
        }
        lua_rawget(L, rev);
        if (i >= grp->n || !lua_isinteger(L, -1))
          luaL_error(L, "order_children_%s returned %s: not one of the %d %s "
                     "elements it was given", grp->type,
                     i >= grp->n ? "more elements than it was given" : "a value",
                     (int)grp->n, grp->type);
        perm[i] = (uint32_t)lua_tointeger(L, -1);
        lua_pop(L, 1);
      }
      if (i != grp->n)
        luaL_error(L, "order_children_%s returned %d of the %d %s elements; "
                   "it must return each exactly once", grp->type, (int)i,
                   (int)grp->n, grp->type);
      if (ms_dgroup_set_order(d, grp, perm, &err) != MS_OK)
        luaL_error(L, "order_children_%s: %s", grp->type, err.msg);
    }
    lua_settop(L, list - 1);
    for (i = 0; i < grp->n; i++) ordergroups(L, fn, d, &grp->elems[i]->child);
  }
}

/* diff:order(fn): fn(model, elements) returns the order in which a sync
   takes a group's elements (and dict() and changes() list them), or nil
   for the diff's own order. */
static int l_diff_order(lua_State *L) {
  ms_diff *d = ms_l_checkdiff(L, 1);
  luaL_checktype(L, 2, LUA_TFUNCTION);
  lua_settop(L, 2);
  ordergroups(L, 2, d, &d->top);
  lua_settop(L, 1);
  return 1;
}

static const luaL_Reg diffmeth[] = {
  {"changes",          l_diff_changes},
  {"counts",           l_diff_counts},
  {"dict",             l_diff_dict},
  {"dict_json",        l_diff_dict_json},
  {"flags",            l_diff_flags},
  {"has_diffs",        l_diff_has_diffs},
  {"json",             l_diff_json},
  {"len",              l_diff_len},
  {"models_processed", l_diff_models_processed},
  {"order",            l_diff_order},
  {"scope",            l_diff_scope},
  {"stores",           l_diff_stores},
  {"str",              l_diff_str},
  {"summary",          l_diff_summary},
  {"summary_json",     l_diff_summary_json},
  {NULL, NULL}
};

void ms_l_diff_register(lua_State *L) {
  ms_l_createmeta(L, MS_DIFF_MT, diffmeth, l_diff_gc, 0);
  luaL_getmetatable(L, MS_DIFF_MT);
  lua_pushcfunction(L, l_diff_len);
  lua_setfield(L, -2, "__len");
  lua_pop(L, 1);
  lua_pushcfunction(L, l_core_diff);
  lua_setfield(L, -2, "diff");
}
