/*
** l_http.c: Lua binding of the HTTP transport (http.h), registered into
** moonsync.core as core.http_client(cfg). The friendly API (methods,
** JSON, pagination, errors) is lua/moonsync/http.lua.
*/
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <lauxlib.h>
#include <lua.h>

#include "http.h"
#include "l_common.h"
#include "perm.h"

#define MS_HTTP_MT "moonsync.HttpClient"
#define MS_HTTPRUN_MT "moonsync.HttpRun"

typedef struct lclient {
  ms_http_client *c;
  int busy;  /* in a perform call: its callback may not start another */
} lclient;

/* The requests of one perform call, freed by __gc even if a raise cuts
   the call short. */
typedef struct lrun { ms_http_req *reqs; size_t n; } lrun;

static ms_http_client *toclient(lua_State *L) {
  lclient *p = luaL_checkudata(L, 1, MS_HTTP_MT);
  if (p->c == NULL) luaL_error(L, "http client is closed");
  return p->c;
}

static int l_client_gc(lua_State *L) {
  lclient *p = luaL_checkudata(L, 1, MS_HTTP_MT);
  ms_http_client_free(p->c);
  p->c = NULL;
  return 0;
}

static int l_run_gc(lua_State *L) {
  lrun *r = luaL_checkudata(L, 1, MS_HTTPRUN_MT);
  size_t i;
  for (i = 0; i < r->n; i++) ms_http_req_free(&r->reqs[i]);
  free(r->reqs);
  r->reqs = NULL;
  r->n = 0;
  return 0;
}

static double numfield(lua_State *L, int t, const char *k, double def) {
  double v = def;
  if (lua_getfield(L, t, k) != LUA_TNIL) v = (double)luaL_checknumber(L, -1);
  lua_pop(L, 1);
  return v;
}

static const char *strfield(lua_State *L, int t, const char *k) {
  const char *v = NULL;
  if (lua_getfield(L, t, k) != LUA_TNIL) v = luaL_checkstring(L, -1);
  lua_pop(L, 1);  /* the string stays alive in the config table */
  return v;
}

/* A proxy receives every request, credentials included: it must be an
   http(s) proxy on a host the job may connect to. "host:port" is taken as
   libcurl takes it, as http://host:port. Returns the proxy URL (on the
   stack, alive as long as the config table's strings). */
static const char *permit_proxy(lua_State *L, const char *proxy) {
  const char *url = proxy;
  if (strstr(proxy, "://") == NULL)
    url = lua_pushfstring(L, "http://%s", proxy);
  else if (strncasecmp(proxy, "http://", 7) != 0 &&
           strncasecmp(proxy, "https://", 8) != 0)
    luaL_error(L, "http client: proxy %s: only http:// and https:// proxies "
               "are supported", proxy);
  ms_l_permit_url(L, url);
  return url;
}

/* core.http_client{timeout=, connect_timeout=, concurrency=, retries=,
   backoff=, backoff_max=, rate=, insecure=, ca_file=, proxy=,
   retry_unsafe=, user_agent=, max_body=} */
static int l_core_http_client(lua_State *L) {
  ms_http_cfg cfg;
  lclient *p;
  ms_err err;
  luaL_checktype(L, 1, LUA_TTABLE);
  memset(&cfg, 0, sizeof cfg);
  cfg.timeout_ms = (long)(numfield(L, 1, "timeout", 30) * 1000);
  cfg.connect_timeout_ms = (long)(numfield(L, 1, "connect_timeout", 10) * 1000);
  cfg.concurrency = (int)numfield(L, 1, "concurrency", 4);
  cfg.retries = (int)numfield(L, 1, "retries", 3);
  cfg.backoff = numfield(L, 1, "backoff", 0.5);
  cfg.backoff_max = numfield(L, 1, "backoff_max", 30);
  cfg.rate = numfield(L, 1, "rate", 0);
  {
    double mb = numfield(L, 1, "max_body", (double)MS_HTTP_MAX_BODY);
    luaL_argcheck(L, mb >= 1 && mb <= 1e15, 1, "max_body must be a positive number of bytes");
    cfg.max_body = (size_t)mb;
  }
  lua_getfield(L, 1, "insecure");
  cfg.insecure = lua_toboolean(L, -1);
  lua_getfield(L, 1, "retry_unsafe");
  cfg.retry_unsafe = lua_toboolean(L, -1);
  lua_pop(L, 2);
  cfg.ca_file = strfield(L, 1, "ca_file");
  cfg.proxy = strfield(L, 1, "proxy");
  /* every option that names a host or a file is a door too */
  if (cfg.ca_file) {
    char buf[PATH_MAX];
    ms_l_permit_path(L, MS_PERM_READ, cfg.ca_file, buf);
  }
  if (cfg.proxy) cfg.proxy = permit_proxy(L, cfg.proxy);
  cfg.user_agent = strfield(L, 1, "user_agent");
  if (cfg.user_agent && strpbrk(cfg.user_agent, "\r\n") != NULL)
    return luaL_error(L, "http client: user_agent must be one line");
  luaL_argcheck(L, cfg.concurrency >= 1 && cfg.concurrency <= 256, 1,
                "concurrency must be between 1 and 256");
  luaL_argcheck(L, cfg.retries >= 0 && cfg.retries <= 100, 1,
                "retries must be between 0 and 100");
  luaL_argcheck(L, cfg.rate >= 0, 1, "rate must not be negative");
  p = lua_newuserdatauv(L, sizeof *p, 0);
  p->c = NULL;
  p->busy = 0;
  luaL_setmetatable(L, MS_HTTP_MT);
  p->c = ms_http_client_new(&cfg, &err);
  if (p->c == NULL) return luaL_error(L, "http client: %s", err.msg);
  return 1;
}

/* Pushes the answer of one request as a table. */
static void push_answer(lua_State *L, ms_http_req *r) {
  lua_createtable(L, 0, 5);
  lua_pushinteger(L, (lua_Integer)r->status);
  lua_setfield(L, -2, "status");
  lua_pushlstring(L, r->head.data ? r->head.data : "", r->head.len);
  lua_setfield(L, -2, "head");
  /* a body cut at its bound is not copied: that would double what the
     bound allows */
  if (r->too_big) {
    ms_buf_free(&r->resp);
    lua_pushliteral(L, "");
  } else {
    lua_pushlstring(L, r->resp.data ? r->resp.data : "", r->resp.len);
  }
  lua_setfield(L, -2, "body");
  lua_pushinteger(L, r->attempts);
  lua_setfield(L, -2, "attempts");
  if (r->failed) {
    lua_pushstring(L, r->error);
    lua_setfield(L, -2, "error");
  }
  if (r->unsent) {
    lua_pushboolean(L, 1);
    lua_setfield(L, -2, "unsent");
  }
  if (r->too_big) {
    lua_pushboolean(L, 1);
    lua_setfield(L, -2, "too_big");
  }
}

/* What the per-answer callback of one perform call needs. */
typedef struct {
  lua_State *L;
  lrun *run;
  int fn, answers;   /* stack slots: the function, the answers table */
  int failed;        /* the function raised: its error is in `error` */
  int error;         /* registry reference */
} each_ud;

static void on_answer(void *p, size_t i) {
  each_ud *u = p;
  lua_State *L = u->L;
  ms_http_req *r = &u->run->reqs[i];
  if (!lua_checkstack(L, 4)) return;  /* answered at the end instead */
  push_answer(L, r);
  ms_buf_free(&r->resp);  /* the table holds the body now */
  lua_pushvalue(L, -1);
  lua_rawseti(L, u->answers, (lua_Integer)i + 1);
  if (u->failed) {
    lua_pop(L, 1);
    return;
  }
  lua_pushvalue(L, u->fn);
  lua_insert(L, -2);
  lua_pushinteger(L, (lua_Integer)i + 1);
  lua_insert(L, -2);
  if (lua_pcall(L, 2, 0, 0) != LUA_OK) {
    u->failed = 1;
    u->error = luaL_ref(L, LUA_REGISTRYINDEX);
  }
}

/* client:perform({ {method=, url=, headers={"Name: value", ...}, body=}, ...}
   [, each]) -> { {status=, head=, body=, attempts=, error=}, ... } in
   request order. Transport failures are reported per request (error set,
   status 0). each(i, answer), when given, is called with each answer as
   it arrives; an error it raises is raised once all requests are done. */
static int l_client_perform(lua_State *L) {
  ms_http_client *c = toclient(L);
  lclient *self = lua_touserdata(L, 1);
  lua_Integer i, n, j, nh;
  lrun *run;
  ms_err err;
  each_ud u;
  int rc;
  if (self->busy) return luaL_error(L, "http client: perform called from its own callback");
  luaL_checktype(L, 2, LUA_TTABLE);
  if (!lua_isnoneornil(L, 3)) luaL_checktype(L, 3, LUA_TFUNCTION);
  lua_settop(L, 3);
  lua_insert(L, 2);  /* 2: each (or nil), 3: the requests */
  n = (lua_Integer)lua_rawlen(L, 3);
  run = lua_newuserdatauv(L, sizeof *run, 1);      /* 4 */
  run->reqs = NULL;
  run->n = 0;
  luaL_setmetatable(L, MS_HTTPRUN_MT);
  lua_createtable(L, (int)n, 0);                    /* 5: header arrays */
  lua_pushvalue(L, -1);
  lua_setiuservalue(L, 4, 1);
  run->reqs = calloc(n ? (size_t)n : 1, sizeof *run->reqs);
  if (run->reqs == NULL) return luaL_error(L, "out of memory");
  run->n = (size_t)n;
  for (i = 1; i <= n; i++) {
    ms_http_req *r = &run->reqs[i - 1];
    const char **hs;
    lua_rawgeti(L, 3, i);
    if (!lua_istable(L, -1)) return luaL_error(L, "request %d is not a table", (int)i);
    lua_getfield(L, -1, "method");
    r->method = luaL_optstring(L, -1, "GET");
    lua_getfield(L, -2, "url");
    r->url = luaL_checkstring(L, -1);
    ms_l_permit_url(L, r->url);  /* every request, whoever built it */
    lua_getfield(L, -3, "body");
    if (!lua_isnil(L, -1)) r->body = luaL_checklstring(L, -1, &r->body_len);
    lua_pop(L, 3);  /* strings stay alive in the request tables */
    lua_getfield(L, -1, "headers");
    nh = lua_istable(L, -1) ? (lua_Integer)lua_rawlen(L, -1) : 0;
    hs = lua_newuserdatauv(L, (size_t)(nh + 1) * sizeof *hs, 0);
    for (j = 1; j <= nh; j++) {
      lua_rawgeti(L, -2, j);
      hs[j - 1] = luaL_checkstring(L, -1);
      lua_pop(L, 1);
    }
    hs[nh] = NULL;
    r->headers = hs;
    lua_rawseti(L, 5, i);  /* anchor the array */
    lua_pop(L, 2);
  }
  lua_createtable(L, (int)n, 0);                    /* 6: the answers */
  u.L = L;
  u.run = run;
  u.fn = 2;
  u.answers = 6;
  u.failed = 0;
  u.error = LUA_NOREF;
  self->busy = 1;
  rc = ms_http_run_each(c, run->reqs, run->n, lua_isnil(L, 2) ? NULL : on_answer, &u, &err);
  self->busy = 0;
  if (rc != MS_OK) {
    if (u.failed) luaL_unref(L, LUA_REGISTRYINDEX, u.error);
    return luaL_error(L, "http: %s", err.msg);
  }
  lua_settop(L, 6);
  if (u.failed) {
    lua_rawgeti(L, LUA_REGISTRYINDEX, u.error);
    luaL_unref(L, LUA_REGISTRYINDEX, u.error);
    return lua_error(L);
  }
  for (i = 1; i <= n; i++) {
    if (lua_rawgeti(L, 6, i) != LUA_TNIL) {
      lua_pop(L, 1);
      continue;
    }
    lua_pop(L, 1);
    push_answer(L, &run->reqs[i - 1]);
    lua_rawseti(L, 6, i);
  }
  return 1;
}

static const luaL_Reg clientmeth[] = {
  {"perform", l_client_perform},
  {NULL, NULL}
};

void ms_l_http_register(lua_State *L) {
  ms_l_createmeta(L, MS_HTTP_MT, clientmeth, l_client_gc, 1);
  luaL_newmetatable(L, MS_HTTPRUN_MT);
  lua_pushcfunction(L, l_run_gc);
  lua_setfield(L, -2, "__gc");
  ms_l_protect(L, MS_HTTPRUN_MT);
  lua_pop(L, 1);
  lua_pushcfunction(L, l_core_http_client);
  lua_setfield(L, -2, "http_client");
}
