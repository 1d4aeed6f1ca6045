/*
** l_sync.c: Lua binding of the sync executor (sync.h): core.sync(diff,
** flags, handlers), and the interrupt flag that SIGINT/SIGTERM set.
*/
#include <signal.h>
#include <stdlib.h>
#include <string.h>

#include <lauxlib.h>
#include <lua.h>

#include "l_common.h"
#include "proc.h"
#include "sync.h"


/* Per-call context of core.sync, reached by the ops callbacks. Stack
   slots: the handlers and the progress callback are at fixed indices and
   errslot receives a handler's error value for re-raising. */
typedef struct lsync {
  lua_State *L;
  int dstidx;                  /* dest store userdata */
  int fn[3];                   /* create, update, delete handlers or 0 */
  int progress;                /* progress callback or 0 */
  int log;                     /* per-operation log callback or 0 */
  int errslot;
  ms_store *dst;
  const char **names;          /* scratch for an element's attrs */
  const ms_value **values;
} lsync;

/* core.interrupt([on]): asks a running sync to stop (or clears the ask). */
static int l_core_interrupt(lua_State *L) {
  ms_proc_interrupt(lua_isnoneornil(L, 1) || lua_toboolean(L, 1));
  return 0;
}

/* core.trap_signals(on): SIGINT and SIGTERM request an interrupt instead
   of ending the process (on); a second signal, or any signal when off,
   ends it after removing the temporary files of writes in progress.
   core.interrupted() tells which signal arrived (0 if none). */
static int l_core_trap_signals(lua_State *L) {
  ms_proc_signals(lua_toboolean(L, 1));
  return 0;
}

static int l_core_interrupted(lua_State *L) {
  lua_pushinteger(L, (lua_Integer)ms_proc_interrupted());
  return 1;
}

static int lsync_interrupted(void *ud) {
  (void)ud;
  return ms_proc_interrupted();
}

static void pushids(lua_State *L, const ms_delem *e) {
  const ms_model *m = e->src ? e->src->model : e->dst->model;
  const ms_value *f = e->src ? e->sfields : e->dfields;
  uint32_t i;
  lua_createtable(L, 0, (int)m->nids);
  for (i = 0; i < m->nids; i++) {
    ms_l_push(L, &f[i], 1);
    lua_setfield(L, -2, m->fields[i]);
  }
}

static void pushplus(lua_State *L, lsync *c, const ms_delem *e) {
  uint32_t i, n = ms_delem_plus(e, c->names, c->values);
  lua_createtable(L, 0, (int)n);
  for (i = 0; i < n; i++) {
    ms_l_push(L, c->values[i], 1);
    lua_setfield(L, -2, c->names[i]);
  }
}

static const char *const opnames[3] = {"create", "update", "delete"};

static int iscrud(lua_State *L, int idx) {
  int crud = 0;
  idx = lua_absindex(L, idx);
  if (lua_getmetatable(L, idx)) {
    luaL_getmetatable(L, MS_ERROR_MT);
    if (lua_rawequal(L, -1, -2)) {
      const char *t;
      lua_getfield(L, idx, "type");
      t = lua_tostring(L, -1);
      crud = t && (strcmp(t, "ObjectNotCreated") == 0 ||
                   strcmp(t, "ObjectNotUpdated") == 0 ||
                   strcmp(t, "ObjectNotDeleted") == 0 ||
                   strcmp(t, "ObjectCrudException") == 0);
      lua_pop(L, 1);
    }
    lua_pop(L, 2);
  }
  return crud;
}

/* Calls handler op (0 create, 1 update, 2 delete) for element e; the
   arguments are pushed by the caller after the function. */
static int callhandler(lsync *c, int op, const ms_delem *e, int nargs,
                       ms_record **out, ms_err *err) {
  lua_State *L = c->L;
  int base = lua_gettop(L) - nargs - 1;
  lrecord *h;
  lua_pushcfunction(L, ms_l_traceback);
  lua_insert(L, base);
  if (lua_pcall(L, nargs, 1, base) != LUA_OK) {
    lua_remove(L, base);
    if (iscrud(L, -1)) {
      lua_getfield(L, -1, "message");
      ms_err_set(err, MS_ECRUD, "%s", luaL_optstring(L, -1, "?"));
      lua_pop(L, 1);
      lua_replace(L, c->errslot);  /* re-raised if the sync stops */
      return MS_ECRUD;
    }
    if (lua_type(L, -1) == LUA_TSTRING || !ms_l_iserror(L, -1)) {
      /* a string gets the operation and record; an object of the
         handler's own never reaches the caller (its metamethods are not
         for trusted code to run): it becomes a HandlerError */
      const ms_record *r = e->src ? e->src : e->dst;
      int str = lua_type(L, -1) == LUA_TSTRING;
      lua_pushfstring(L, "%s handler failed for %s '", opnames[op], ms_delem_type(e));
      lua_pushlstring(L, r->uid, r->uid_len);
      if (str) lua_pushfstring(L, "': %s", lua_tostring(L, -3));
      else lua_pushfstring(L, "': (error object is a %s value)",
                           luaL_typename(L, -3));
      lua_concat(L, 3);
      if (!str) {
        ms_l_pusherror(L, "HandlerError", lua_tostring(L, -1));
        lua_replace(L, -2);
      }
      lua_replace(L, -2);
    }
    lua_replace(L, c->errslot);
    return ms_err_set(err, MS_EHANDLER, "handler failed");
  }
  lua_remove(L, base);
  *out = NULL;
  if (lua_isnil(L, -1)) {
    lua_pop(L, 1);
    return MS_OK;
  }
  h = luaL_testudata(L, -1, MS_RECORD_MT);
  if (h == NULL || h->r == NULL) {
    lua_pushfstring(L, "%s handler for %s must return a record or nil, got %s",
                    opnames[op], ms_delem_type(e), luaL_typename(L, -1));
    lua_replace(L, c->errslot);
    lua_pop(L, 1);
    return ms_err_set(err, MS_EHANDLER, "handler failed");
  }
  if (h->r->store == c->dst) {
    *out = h->r;
  } else {
    /* a detached record (or another store's): copy it into the dest store
       and rebind the handle to the copy */
    int mi = ms_store_model(c->dst, h->r->model->name);
    ms_record *copy;
    if (mi < 0 || ms_store_copy_record(c->dst, mi, h->r, &copy, err) != MS_OK) {
      if (mi < 0) ms_err_set(err, MS_ETYPE, "adapter '%s' has no model '%s'",
                             c->dst->name, h->r->model->name);
      ms_l_pusherror(L, ms_err_type(err->code), err->msg);
      lua_replace(L, c->errslot);
      lua_pop(L, 1);
      return MS_EHANDLER;
    }
    ms_l_rebind(h, copy);
    *out = copy;
  }
  lua_pop(L, 1);
  return MS_OK;
}

static int lsync_create(void *ud, ms_store *dst, int midx, const ms_delem *e,
                        ms_record **out, ms_err *err) {
  lsync *c = ud;
  lua_State *L = c->L;
  if (!c->fn[0]) return ms_sync_default_ops.create(NULL, dst, midx, e, out, err);
  luaL_checkstack(L, 8, "sync");
  lua_pushvalue(L, c->fn[0]);
  lua_pushstring(L, dst->models[midx]->name);
  pushids(L, e);
  pushplus(L, c, e);
  return callhandler(c, 0, e, 3, out, err);
}

static int lsync_update(void *ud, ms_record *r, const ms_delem *e,
                        ms_record **out, ms_err *err) {
  lsync *c = ud;
  lua_State *L = c->L;
  if (!c->fn[1]) return ms_sync_default_ops.update(NULL, r, e, out, err);
  luaL_checkstack(L, 8, "sync");
  lua_pushvalue(L, c->fn[1]);
  ms_l_pushrecord(L, r);
  pushplus(L, c, e);
  return callhandler(c, 1, e, 2, out, err);
}

static int lsync_del(void *ud, ms_record *r, const ms_delem *e,
                     ms_record **out, ms_err *err) {
  lsync *c = ud;
  lua_State *L = c->L;
  if (!c->fn[2]) return ms_sync_default_ops.del(NULL, r, e, out, err);
  luaL_checkstack(L, 8, "sync");
  lua_pushvalue(L, c->fn[2]);
  ms_l_pushrecord(L, r);
  return callhandler(c, 2, e, 1, out, err);
}

static void lsync_log(void *ud, const ms_delem *e, const char *result,
                      const ms_record *r, const char *msg, double seconds) {
  lsync *c = ud;
  lua_State *L = c->L;
  const ms_record *k = e->src ? e->src : e->dst;
  if (!lua_checkstack(L, 10)) return;
  lua_pushvalue(L, c->log);
  lua_createtable(L, 0, 8);
  lua_pushstring(L, e->action == MS_ACT_CREATE ? "create"
                  : e->action == MS_ACT_UPDATE ? "update"
                  : e->action == MS_ACT_DELETE ? "delete" : "none");
  lua_setfield(L, -2, "op");
  lua_pushstring(L, ms_delem_type(e));
  lua_setfield(L, -2, "model");
  lua_pushlstring(L, k->uid, k->uid_len);
  lua_setfield(L, -2, "uid");
  lua_pushstring(L, result);
  lua_setfield(L, -2, "result");
  if (r != NULL) {
    const char *rmsg;
    lua_pushstring(L, ms_l_statuses[ms_record_status(r, &rmsg) & 3]);
    lua_setfield(L, -2, "status");
    lua_pushstring(L, rmsg);
    lua_setfield(L, -2, "message");
  } else if (msg != NULL) {
    lua_pushliteral(L, "error");
    lua_setfield(L, -2, "status");
    if (strcmp(result, "raise_other") == 0 && !lua_isnil(L, c->errslot)) {
      if (luaL_callmeta(L, c->errslot, "__tostring") || lua_isstring(L, c->errslot)) {
        if (lua_type(L, -1) != LUA_TSTRING) lua_pushvalue(L, c->errslot);
        lua_setfield(L, -2, "message");
      }
    } else {
      lua_pushstring(L, msg);
      lua_setfield(L, -2, "message");
    }
  } else {
    lua_pushliteral(L, "failure");
    lua_setfield(L, -2, "status");
    lua_pushfstring(L, "%s %s did not return the model object.", ms_delem_type(e),
                    e->action == MS_ACT_CREATE ? "create"
                    : e->action == MS_ACT_UPDATE ? "update" : "delete");
    lua_setfield(L, -2, "message");
  }
  lua_pushnumber(L, seconds);
  lua_setfield(L, -2, "duration");
  if (lua_pcall(L, 1, 0, 0) != LUA_OK) lua_pop(L, 1);  /* logging never fails a sync */
}

static int lsync_progress(void *ud, uint64_t cur, uint64_t total) {
  lsync *c = ud;
  lua_State *L = c->L;
  lua_pushvalue(L, c->progress);
  lua_pushliteral(L, "sync");
  lua_pushinteger(L, (lua_Integer)cur);
  lua_pushinteger(L, (lua_Integer)total);
  if (lua_pcall(L, 3, 0, 0) != LUA_OK) {
    lua_replace(L, c->errslot);
    return 1;
  }
  return 0;
}

/* core.sync(diff, flags, {create=, update=, delete=, progress=, ops_log=,
   log=, skip_unchanged=, protect_children=}) -> result table. Handlers: create(model_name, ids, attrs),
   update(record, attrs), delete(record), each returning a record or nil
   (nil: the element's children are skipped). Missing handlers use the
   in-memory defaults. */
static int l_core_sync(lua_State *L) {
  ldiff *dh = luaL_checkudata(L, 1, MS_DIFF_MT);
  uint32_t flags = ms_l_checkflags(L, 2, 0);
  static const char *const names[3] = {"create", "update", "delete"};
  ms_sync_ops ops;
  ms_sync_result res;
  lsync c;
  ms_err err;
  int rc, i, keep;
  if (dh->d == NULL) return luaL_error(L, "diff is closed");
  luaL_checktype(L, 3, LUA_TTABLE);
  lua_settop(L, 3);
  lua_getiuservalue(L, 1, 2);          /* 4: dest store */
  c.L = L;
  c.dstidx = 4;
  c.dst = dh->d->dst;
  for (i = 0; i < 3; i++) {            /* 5, 6, 7: handlers */
    lua_getfield(L, 3, names[i]);
    c.fn[i] = lua_isnil(L, -1) ? 0 : 5 + i;
    if (c.fn[i]) luaL_checktype(L, -1, LUA_TFUNCTION);
  }
  lua_getfield(L, 3, "progress");      /* 8 */
  c.progress = lua_isnil(L, -1) ? 0 : 8;
  lua_getfield(L, 3, "ops_log");       /* 9 */
  keep = lua_toboolean(L, -1);
  lua_pushnil(L);                      /* 10: error slot */
  c.errslot = 10;
  lua_getfield(L, 3, "log");           /* 11 */
  c.log = lua_isnil(L, -1) ? 0 : 11;
  {
    /* 12: scratch arrays as large as the largest source model */
    uint32_t m, most = 1;
    void *scratch;
    for (m = 0; m < dh->d->src->nmodels; m++)
      if (dh->d->src->models[m]->nattrs > most)
        most = dh->d->src->models[m]->nattrs;
    scratch = lua_newuserdatauv(L, most * (sizeof *c.names + sizeof *c.values), 0);
    c.names = scratch;
    c.values = (const ms_value **)(c.names + most);
  }
  ops.ud = &c;
  ops.create = lsync_create;
  ops.update = lsync_update;
  ops.del = lsync_del;
  ops.progress = c.progress ? lsync_progress : NULL;
  ops.interrupted = lsync_interrupted;
  ops.log = c.log ? lsync_log : NULL;
  ops.plain = !c.fn[0] && !c.fn[1] && !c.fn[2];
  lua_getfield(L, 3, "skip_unchanged");
  ops.passive = lua_toboolean(L, -1);
  lua_getfield(L, 3, "protect_children");
  ops.protect = lua_toboolean(L, -1);
  lua_pop(L, 2);
  rc = ms_sync_run(dh->d, flags, &ops, keep, &res, &err);
  /* the result goes out even on failure: it says what was done */
  lua_createtable(L, 0, 10);
  lua_pushinteger(L, (lua_Integer)res.created);
  lua_setfield(L, -2, "created");
  lua_pushinteger(L, (lua_Integer)res.updated);
  lua_setfield(L, -2, "updated");
  lua_pushinteger(L, (lua_Integer)res.deleted);
  lua_setfield(L, -2, "deleted");
  lua_pushinteger(L, (lua_Integer)res.failed);
  lua_setfield(L, -2, "failed");
  lua_pushinteger(L, (lua_Integer)res.errors);
  lua_setfield(L, -2, "errors");
  lua_pushinteger(L, (lua_Integer)res.processed);
  lua_setfield(L, -2, "processed");
  lua_pushboolean(L, res.changed);
  lua_setfield(L, -2, "changed");
  if (keep) {
    ms_buf b = MS_BUF_INIT;
    ms_sync_ops_json(&b, &res);
    lua_pushlstring(L, b.data ? b.data : "", b.len);
    ms_buf_free(&b);
    lua_setfield(L, -2, "ops_json");
  }
  ms_buf_free(&res.ops);
  if (rc == MS_OK) return 1;
  /* failure: raise, with the partial result attached as err.result */
  if (rc == MS_EHANDLER || rc == MS_ECALLBACK ||
      (rc == MS_ECRUD && !lua_isnil(L, c.errslot))) {
    lua_pushvalue(L, c.errslot);
  } else if (rc == MS_ECRUD) {
    /* raised by the executor itself ("it already exists!", "not found!") */
    static const char *const crudtypes[] = {"ObjectCrudException",
      "ObjectNotCreated", "ObjectNotUpdated", "ObjectNotDeleted"};
    ms_l_pusherror(L, crudtypes[res.failed_action & 3], err.msg);
  } else {
    ms_l_pusherror(L, ms_err_type(rc), err.msg);
  }
  if (lua_istable(L, -1)) {
    lua_pushvalue(L, -2);
    lua_setfield(L, -2, "result");
  }
  return lua_error(L);
}


static const luaL_Reg syncfuncs[] = {
  {"interrupt",    l_core_interrupt},
  {"interrupted",  l_core_interrupted},
  {"sync",         l_core_sync},
  {"trap_signals", l_core_trap_signals},
  {NULL, NULL}
};

void ms_l_sync_register(lua_State *L) {
  luaL_setfuncs(L, syncfuncs, 0);
}
