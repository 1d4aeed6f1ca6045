/*
** l_regex.c: Perl-compatible regular expressions (PCRE2), as Python's re
** module reads the patterns network automation shares (Nautobot SSoT's
** hostname mappings): core.regex(pattern) compiles one, and its
** search(subject) finds the first match anywhere in the subject.
*/
#define PCRE2_CODE_UNIT_WIDTH 8
#include <pcre2.h>
#include <string.h>

#include <lauxlib.h>
#include <lua.h>

#include "l_common.h"

#define MS_REGEX_MT "moonsync.regex"

typedef struct {
  pcre2_code *code;
  pcre2_match_data *md;
} ms_regex;

static ms_regex *check(lua_State *L) {
  ms_regex *r = luaL_checkudata(L, 1, MS_REGEX_MT);
  if (r->code == NULL) luaL_error(L, "regex: already released");
  return r;
}

/* core.regex(pattern) -> a compiled pattern; a bad one raises an error
   naming the offset and the reason. */
static int l_core_regex(lua_State *L) {
  size_t n;
  const char *pat = luaL_checklstring(L, 1, &n);
  ms_regex *r = lua_newuserdatauv(L, sizeof *r, 0);
  r->code = NULL;
  r->md = NULL;
  luaL_setmetatable(L, MS_REGEX_MT);
  int err;
  PCRE2_SIZE at;
  r->code = pcre2_compile((PCRE2_SPTR)pat, n, PCRE2_UTF, &err, &at, NULL);
  if (r->code == NULL) {
    PCRE2_UCHAR msg[256];
    pcre2_get_error_message(err, msg, sizeof msg);
    return luaL_error(L, "regular expression '%s': %s at offset %d", pat, (const char *)msg, (int)at);
  }
  r->md = pcre2_match_data_create_from_pattern(r->code, NULL);
  if (r->md == NULL) return luaL_error(L, "regular expression '%s': out of memory", pat);
  return 1;
}

/* r:search(subject) -> start, end (1-based, inclusive) of the first
   match, or nil. */
static int l_regex_search(lua_State *L) {
  ms_regex *r = check(L);
  size_t n;
  const char *s = luaL_checklstring(L, 2, &n);
  int rc = pcre2_match(r->code, (PCRE2_SPTR)s, n, 0, 0, r->md, NULL);
  if (rc == PCRE2_ERROR_NOMATCH) {
    lua_pushnil(L);
    return 1;
  }
  if (rc < 0) {
    PCRE2_UCHAR msg[256];
    pcre2_get_error_message(rc, msg, sizeof msg);
    return luaL_error(L, "regular expression search: %s", (const char *)msg);
  }
  PCRE2_SIZE *ov = pcre2_get_ovector_pointer(r->md);
  lua_pushinteger(L, (lua_Integer)ov[0] + 1);
  lua_pushinteger(L, (lua_Integer)ov[1]);
  return 2;
}

static int l_regex_gc(lua_State *L) {
  ms_regex *r = luaL_checkudata(L, 1, MS_REGEX_MT);
  pcre2_match_data_free(r->md);
  pcre2_code_free(r->code);
  r->md = NULL;
  r->code = NULL;
  return 0;
}

static const luaL_Reg regex_methods[] = {
  {"search", l_regex_search},
  {NULL, NULL}
};

void ms_l_regex_register(lua_State *L) {
  ms_l_createmeta(L, MS_REGEX_MT, regex_methods, l_regex_gc, 0);
  lua_pushcfunction(L, l_core_regex);
  lua_setfield(L, -2, "regex");
}
