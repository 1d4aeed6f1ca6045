/*
** l_perm.c: the Lua side of job permissions (perm.h) and of safe file
** writes and locks (fsafe.h). core.sandbox() activates the one policy of
** the process and returns its handle, the operator's capability: only the
** code that activated the policy holds it (moonsync.job keeps it to
** itself), and only the handle can grant more or write outside the
** policy. Every door of the bindings (file loaders, writers, locks, the
** HTTP transport, getenv) asks ms_l_permit_* first.
*/
#include <errno.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <curl/curl.h>
#include <lauxlib.h>
#include <lua.h>

#include "fixture.h"
#include "fsafe.h"
#include "l_common.h"
#include "perm.h"

#define MS_POLICY_MT "moonsync.Policy"
#define MS_LOCK_MT "moonsync.Lock"

typedef struct lpolicy {
  ms_perm *p;
  int loading;   /* the job file's top level is running */
  int targeting; /* the job's target is being opened: lock its files */
  double lock_timeout;
} lpolicy;

typedef struct llock { int fd; } llock;

static const char policy_key = 'p';  /* registry: the active lpolicy */

static lpolicy *active(lua_State *L) {
  lpolicy *p;
  lua_rawgetp(L, LUA_REGISTRYINDEX, &policy_key);
  p = lua_touserdata(L, -1);
  lua_pop(L, 1);  /* the registry keeps it alive */
  return p;
}

/* Raises the PermissionError in err, with a hint while the top level of a
   job file runs (its declared permissions do not apply yet). */
static int refuse(lua_State *L, const lpolicy *p, const ms_err *err) {
  if (p && p->loading) {
    ms_err e = *err;
    size_t n = strlen(e.msg);
    snprintf(e.msg + n, sizeof e.msg - n, "; the top level of a job file "
             "runs before its declared permissions apply: do this inside "
             "the job's source or target function");
    return ms_l_raise(L, &e);
  }
  return ms_l_raise(L, err);
}

const char *ms_l_permit_path(lua_State *L, int kind, const char *path,
                             char *resolved) {
  lpolicy *p = active(L);
  ms_err err;
  if (ms_perm_check_path(p ? p->p : NULL, kind, path, resolved, &err) != MS_OK)
    refuse(L, p, &err);
  return resolved;
}

void ms_l_permit_url(lua_State *L, const char *url) {
  lpolicy *p = active(L);
  ms_err err;
  if (ms_perm_check_url(p ? p->p : NULL, url, &err) != MS_OK) {
    if (err.code != MS_EPERM) ms_err_prefix(&err, "%s", url);
    refuse(L, p, &err);
  }
}

/* {====== the policy handle ======} */

static lpolicy *topolicy(lua_State *L) {
  lpolicy *p = luaL_checkudata(L, 1, MS_POLICY_MT);
  if (p->p == NULL) luaL_error(L, "policy is closed");
  return p;
}

static int l_policy_gc(lua_State *L) {
  lpolicy *p = luaL_checkudata(L, 1, MS_POLICY_MT);
  ms_perm_free(p->p);
  p->p = NULL;
  return 0;
}

static const char *const kinds[] = {"read", "write", "net", "env", NULL};

/* policy:grant_guarded(dir, why): the write grant of a job's own
   directory (ms_perm_grant_guarded) */
static int l_policy_grant_guarded(lua_State *L) {
  lpolicy *p = topolicy(L);
  ms_err err;
  if (ms_perm_grant_guarded(p->p, luaL_checkstring(L, 2),
                            luaL_optstring(L, 3, "granted"), &err) != MS_OK)
    return ms_l_raise(L, &err);
  return 0;
}

/* policy:grant(kind, entry-or-list[, base[, why]]) */
static int l_policy_grant(lua_State *L) {
  lpolicy *p = topolicy(L);
  int kind = luaL_checkoption(L, 2, NULL, kinds);
  const char *base = luaL_optstring(L, 4, NULL);
  const char *why = luaL_optstring(L, 5, "granted");
  lua_Integer i, n = 1;
  ms_err err;
  if (lua_istable(L, 3)) n = (lua_Integer)lua_rawlen(L, 3);
  else luaL_checkstring(L, 3);
  for (i = 1; i <= n; i++) {
    const char *e;
    if (lua_istable(L, 3)) {
      lua_rawgeti(L, 3, i);
      if (lua_type(L, -1) != LUA_TSTRING)
        return luaL_error(L, "permissions.%s[%d]: expected a string, got %s",
                          kinds[kind], (int)i, luaL_typename(L, -1));
      e = lua_tostring(L, -1);
    } else {
      e = lua_tostring(L, 3);
    }
    if (ms_perm_grant(p->p, kind, e, base, why, &err) != MS_OK)
      return ms_l_raise(L, &err);
    if (lua_istable(L, 3)) lua_pop(L, 1);
  }
  return 0;
}

/* policy:loading(on): refusals hint that the job's top level is running */
static int l_policy_loading(lua_State *L) {
  topolicy(L)->loading = lua_toboolean(L, 2);
  return 0;
}

/* policy:targeting(on[, timeout]): while on, file adapters opened (the
   job's target) lock their files, waiting up to timeout seconds */
static int l_policy_targeting(lua_State *L) {
  lpolicy *p = topolicy(L);
  p->targeting = lua_toboolean(L, 2);
  p->lock_timeout = (double)luaL_optnumber(L, 3, 0);
  return 0;
}

/* policy:describe() -> { {kind=, entry=, why=}, ... } */
static int l_policy_describe(lua_State *L) {
  lpolicy *p = topolicy(L);
  int k;
  size_t i;
  lua_Integer n = 0;
  lua_newtable(L);
  for (k = 0; k < MS_PERM_KINDS; k++)
    for (i = 0; i < ms_perm_count(p->p, k); i++) {
      char buf[PATH_MAX];
      const char *why;
      ms_perm_entry(p->p, k, i, buf, sizeof buf, &why);
      lua_createtable(L, 0, 3);
      lua_pushstring(L, ms_perm_kind_name(k));
      lua_setfield(L, -2, "kind");
      lua_pushstring(L, buf);
      lua_setfield(L, -2, "entry");
      lua_pushstring(L, why);
      lua_setfield(L, -2, "why");
      lua_rawseti(L, -2, ++n);
    }
  return 1;
}

static int pushremoved(lua_State *L, ms_buf *removed) {
  const char *s = removed->data, *e;
  lua_Integer n = 0;
  lua_newtable(L);
  while (s && *s && (e = strchr(s, '\n')) != NULL) {
    lua_pushlstring(L, s, (size_t)(e - s));
    lua_rawseti(L, -2, ++n);
    s = e + 1;
  }
  ms_buf_free(removed);
  return 1;
}

static int *lockfdarg(lua_State *L, int idx) {
  llock *k;
  if (lua_isnoneornil(L, idx)) return NULL;
  k = luaL_checkudata(L, idx, MS_LOCK_MT);
  return k->fd >= 0 ? &k->fd : NULL;
}

static int putstore(void *ud, int fd) { return ms_store_write_nested(ud, fd); }

/* Writes with ms_fsafe_write the string at dataidx, or the nested data
   document of the store there, made as it is written; returns the
   leftovers it removed. */
static int dowrite(lua_State *L, const char *path, int dataidx, int lockidx) {
  int *lockfd = lockfdarg(L, lockidx);
  ms_buf removed = MS_BUF_INIT;
  ms_err err;
  int rc;
  if (luaL_testudata(L, dataidx, MS_STORE_MT)) {
    rc = ms_fsafe_write_with(path, putstore, ms_l_checkstore(L, dataidx), lockfd,
                             &removed, &err);
  } else {
    size_t n;
    const char *data = luaL_checklstring(L, dataidx, &n);
    rc = ms_fsafe_write(path, data, n, lockfd, &removed, &err);
  }
  if (rc != MS_OK) {
    ms_buf_free(&removed);
    return ms_l_raise(L, &err);
  }
  return pushremoved(L, &removed);
}

/* policy:write(path, data[, lock]): the operator's own outputs (plans,
   logs, reports named on the command line), outside the job's policy */
static int l_policy_write(lua_State *L) {
  topolicy(L);
  return dowrite(L, luaL_checkstring(L, 2), 3, 4);
}

static int newlock(lua_State *L, int fd) {
  llock *k = lua_newuserdatauv(L, sizeof *k, 0);
  k->fd = fd;
  luaL_setmetatable(L, MS_LOCK_MT);
  return 1;
}

/* policy:lock_named(lockfile, timeout): a lock of the operator's own */
static int l_policy_lock_named(lua_State *L) {
  const char *path = luaL_checkstring(L, 2);
  double timeout = (double)luaL_optnumber(L, 3, 0);
  ms_err err;
  int fd;
  topolicy(L);
  lua_settop(L, 3);
  newlock(L, -1);
  if ((fd = ms_fsafe_lock_named(path, timeout, &err)) < 0)
    return ms_l_raise(L, &err);
  ((llock *)lua_touserdata(L, -1))->fd = fd;
  return 1;
}

/* {====== core functions ======} */

/* core.sandbox() -> policy handle: activates an empty policy (nothing
   allowed until granted). There is one per process. */
static int l_core_sandbox(lua_State *L) {
  lpolicy *p;
  if (active(L) != NULL)
    return luaL_error(L, "a permission policy is already active");
  p = lua_newuserdatauv(L, sizeof *p, 0);
  p->p = NULL;
  p->loading = 0;
  p->targeting = 0;
  p->lock_timeout = 0;
  luaL_setmetatable(L, MS_POLICY_MT);
  if ((p->p = ms_perm_new()) == NULL) return luaL_error(L, "out of memory");
  lua_pushvalue(L, -1);
  lua_rawsetp(L, LUA_REGISTRYINDEX, &policy_key);
  return 1;
}

/* core.target_lock() -> the lock timeout while the command line opens a
   job's target (file adapters then lock what they open), else nil */
static int l_core_target_lock(lua_State *L) {
  lpolicy *p = active(L);
  if (p == NULL || !p->targeting) return 0;
  lua_pushnumber(L, p->lock_timeout);
  return 1;
}

/* core.sandboxed() -> is a policy active? */
static int l_core_sandboxed(lua_State *L) {
  lua_pushboolean(L, active(L) != NULL);
  return 1;
}

/* core.permit(kind, what) -> the resolved path (read, write), true (net),
   or raises PermissionError. env: true or false, never raises. */
static int l_core_permit(lua_State *L) {
  int kind = luaL_checkoption(L, 1, NULL, kinds);
  const char *what = luaL_checkstring(L, 2);
  char buf[PATH_MAX];
  switch (kind) {
    case MS_PERM_READ:
    case MS_PERM_WRITE:
      lua_pushstring(L, ms_l_permit_path(L, kind, what, buf));
      return 1;
    case MS_PERM_NET:
      ms_l_permit_url(L, what);
      lua_pushboolean(L, 1);
      return 1;
    default: {
      lpolicy *p = active(L);
      lua_pushboolean(L, ms_perm_env_allowed(p ? p->p : NULL, what));
      return 1;
    }
  }
}

/* core.getenv(name) -> value or nil; PermissionError when not granted */
static int l_core_getenv(lua_State *L) {
  const char *name = luaL_checkstring(L, 1);
  lpolicy *p = active(L);
  if (!ms_perm_env_allowed(p ? p->p : NULL, name)) {
    ms_err err;
    ms_err_set(&err, MS_EPERM, "environment variable %s: not permitted (the "
               "job may read only the variables it declares in "
               "permissions.env and what --allow-env grants)", name);
    return refuse(L, p, &err);
  }
  lua_pushstring(L, getenv(name));
  return 1;
}

/* core.write_atomic(path, data[, lock]) -> leftovers removed (a list) */
static int l_core_write_atomic(lua_State *L) {
  char buf[PATH_MAX];
  const char *path = luaL_checkstring(L, 1);
  /* the file written is the one the links lead to: check that one */
  ms_err err;
  if (ms_fsafe_target(path, buf, &err) != MS_OK) return ms_l_raise(L, &err);
  ms_l_permit_path(L, MS_PERM_WRITE, buf, buf);
  return dowrite(L, path, 2, 3);
}

/* core.lock(path[, timeout]) -> lock: an exclusive advisory lock on the
   file at path (see fsafe.h); timeout in seconds, 0 (default) fails at
   once, a negative one waits forever. */
static int l_core_lock(lua_State *L) {
  char buf[PATH_MAX];
  const char *path = luaL_checkstring(L, 1);
  double timeout = (double)luaL_optnumber(L, 2, 0);
  ms_err err;
  int fd;
  if (ms_fsafe_target(path, buf, &err) != MS_OK) return ms_l_raise(L, &err);
  ms_l_permit_path(L, MS_PERM_WRITE, buf, buf);
  lua_settop(L, 2);
  newlock(L, -1);
  if ((fd = ms_fsafe_lock(path, timeout, &err)) < 0) return ms_l_raise(L, &err);
  ((llock *)lua_touserdata(L, -1))->fd = fd;
  return 1;
}

/* core.mkdirs(path[, mode]) -> path: creates the directory and its
   missing parents with mode (default 0777, less the umask), asking write
   permission for it. The last one, when it exists and is the caller's,
   loses the bits mode does not have: the command line's state
   directories are 0700 however an older moonsync made them. */
static int l_core_mkdirs(lua_State *L) {
  char buf[PATH_MAX];
  const char *path = luaL_checkstring(L, 1);
  mode_t mode = (mode_t)luaL_optinteger(L, 2, 0777) & 0777;
  size_t i, n;
  struct stat sb;
  ms_l_permit_path(L, MS_PERM_WRITE, path, buf);
  n = strlen(buf);
  for (i = 1; i <= n; i++) {
    if (buf[i] != '/' && buf[i] != '\0') continue;
    buf[i] = '\0';
    if (mkdir(buf, mode) != 0 && errno != EEXIST)
      return luaL_error(L, "cannot create directory %s: %s", buf, strerror(errno));
    if (i < n) buf[i] = '/';
  }
  if (stat(buf, &sb) != 0 || !S_ISDIR(sb.st_mode))
    return luaL_error(L, "%s: not a directory", buf);
  if (sb.st_uid == geteuid() && (sb.st_mode & 0777 & ~mode) != 0)
    chmod(buf, sb.st_mode & mode & 0777);
  lua_pushstring(L, buf);
  return 1;
}

/* core.realpath(path) -> absolute path without links, "." or ".." (the
   part that does not exist is normalized as text) */
static int l_core_realpath(lua_State *L) {
  char buf[PATH_MAX];
  const char *path = luaL_checkstring(L, 1);
  ms_err err;
  if (active(L) != NULL) {
    ms_l_permit_path(L, MS_PERM_READ, path, buf);
  } else if (ms_path_resolve(path, NULL, buf, &err) != MS_OK) {
    return ms_l_raise(L, &err);
  }
  lua_pushstring(L, buf);
  return 1;
}

/* core.url_origin(url) -> "scheme://host:port", or nil and a message */
static int l_core_url_origin(lua_State *L) {
  char buf[512];
  ms_err err;
  if (ms_url_origin(luaL_checkstring(L, 1), buf, sizeof buf, &err) != MS_OK) {
    lua_pushnil(L);
    lua_pushstring(L, err.msg);
    return 2;
  }
  lua_pushstring(L, buf);
  return 1;
}

/* core.url_join(base, ref) -> the absolute URL `ref` (a Location header,
   a link) names relative to `base`, or nil and a message */
static int l_core_url_join(lua_State *L) {
  const char *base = luaL_checkstring(L, 1), *ref = luaL_checkstring(L, 2);
  CURLU *u = curl_url();
  char *out = NULL;
  if (u == NULL) return luaL_error(L, "out of memory");
  if (curl_url_set(u, CURLUPART_URL, base, 0) != CURLUE_OK ||
      curl_url_set(u, CURLUPART_URL, ref, CURLU_NON_SUPPORT_SCHEME) != CURLUE_OK ||
      curl_url_get(u, CURLUPART_URL, &out, 0) != CURLUE_OK) {
    curl_url_cleanup(u);
    lua_pushnil(L);
    lua_pushfstring(L, "cannot resolve the URL '%s'", ref);
    return 2;
  }
  lua_pushstring(L, out);
  curl_free(out);
  curl_url_cleanup(u);
  return 1;
}

/* {====== locks ======} */

static int l_lock_release(lua_State *L) {
  llock *k = luaL_checkudata(L, 1, MS_LOCK_MT);
  if (k->fd >= 0) close(k->fd);
  k->fd = -1;
  return 0;
}

static int l_lock_held(lua_State *L) {
  llock *k = luaL_checkudata(L, 1, MS_LOCK_MT);
  lua_pushboolean(L, k->fd >= 0);
  return 1;
}

static const luaL_Reg policymeth[] = {
  {"describe",   l_policy_describe},
  {"grant",      l_policy_grant},
  {"grant_guarded", l_policy_grant_guarded},
  {"loading",    l_policy_loading},
  {"lock_named", l_policy_lock_named},
  {"targeting",  l_policy_targeting},
  {"write",      l_policy_write},
  {NULL, NULL}
};

static const luaL_Reg lockmeth[] = {
  {"held",    l_lock_held},
  {"release", l_lock_release},
  {NULL, NULL}
};

static const luaL_Reg permfuncs[] = {
  {"getenv",       l_core_getenv},
  {"lock",         l_core_lock},
  {"permit",       l_core_permit},
  {"realpath",     l_core_realpath},
  {"mkdirs",       l_core_mkdirs},
  {"sandbox",      l_core_sandbox},
  {"sandboxed",    l_core_sandboxed},
  {"target_lock",  l_core_target_lock},
  {"url_join",     l_core_url_join},
  {"url_origin",   l_core_url_origin},
  {"write_atomic", l_core_write_atomic},
  {NULL, NULL}
};

void ms_l_perm_register(lua_State *L) {
  ms_l_createmeta(L, MS_POLICY_MT, policymeth, l_policy_gc, 0);
  ms_l_createmeta(L, MS_LOCK_MT, lockmeth, l_lock_release, 1);
  luaL_setfuncs(L, permfuncs, 0);
}
