/*
** l_sqlite.c: a small SQLite binding for moonsync's own databases (the
** run history). core.sqlite_open(path) asks the active policy to write
** path, like every door; the connection it returns cannot reach another
** file: ATTACH (and VACUUM INTO, which attaches) is refused and
** extensions cannot be loaded.
**
**   db = core.sqlite_open(path[, busy_ms[, private]])   busy timeout
**                                 (5 s); private: files 0600
**   db:exec(sql)                  statements without results
**   st = db:prepare(sql)          one statement, parameters ?1, ?2...
**   st:run(...)                   steps it once; -> changes
**   st:rows(...)                  -> { {col = value, ...}, ... }
**   db:last_id(), db:changes(), db:close()
**
** Values: nil, booleans (as 0/1), integers, floats and strings; columns
** come back as integers, floats, strings or nil.
*/
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <lauxlib.h>
#include <lua.h>
#include <sqlite3.h>

#include "l_common.h"
#include "perm.h"

#define MS_DB_MT "moonsync.SQLite"
#define MS_STMT_MT "moonsync.SQLiteStatement"

typedef struct ldb { sqlite3 *db; } ldb;
typedef struct lstmt { sqlite3_stmt *st; ldb *db; } lstmt;

static int fail(lua_State *L, sqlite3 *db, const char *what) {
  ms_err err;
  ms_err_set(&err, MS_EIO, "%s: %s", what, db ? sqlite3_errmsg(db) : "out of memory");
  return ms_l_raise(L, &err);
}

static ldb *todb(lua_State *L) {
  ldb *d = luaL_checkudata(L, 1, MS_DB_MT);
  if (d->db == NULL) luaL_error(L, "database is closed");
  return d;
}

static lstmt *tostmt(lua_State *L) {
  lstmt *s = luaL_checkudata(L, 1, MS_STMT_MT);
  if (s->st == NULL || s->db->db == NULL) luaL_error(L, "statement is closed");
  return s;
}

/* The connection reaches its own file only. */
static int authorize(void *ud, int action, const char *a, const char *b,
                     const char *c, const char *d) {
  (void)ud; (void)a; (void)b; (void)c; (void)d;
  return action == SQLITE_ATTACH || action == SQLITE_DETACH ? SQLITE_DENY
                                                            : SQLITE_OK;
}

static int l_db_close(lua_State *L) {
  ldb *d = luaL_checkudata(L, 1, MS_DB_MT);
  if (d->db != NULL) {
    sqlite3_close_v2(d->db);  /* once its statements are finalized */
    d->db = NULL;
  }
  return 0;
}

/* A private database: the file and its WAL and shared-memory files are
   the owner's alone (0600), created so and tightened when they exist. */
static void private_files(const char *resolved) {
  static const char *const sfx[] = {"", "-wal", "-shm", NULL};
  char p[PATH_MAX + 8];
  int i, fd;
  struct stat sb;
  fd = open(resolved, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
  if (fd >= 0) close(fd);
  for (i = 0; sfx[i]; i++) {
    snprintf(p, sizeof p, "%s%s", resolved, sfx[i]);
    if (lstat(p, &sb) == 0 && S_ISREG(sb.st_mode) && sb.st_uid == geteuid() &&
        (sb.st_mode & 077) != 0)
      chmod(p, sb.st_mode & 0700);
  }
}

/* core.sqlite_open(path[, busy_ms[, private]]) -> db; private: the files
   are the owner's only (0600), as the run history's are */
static int l_sqlite_open(lua_State *L) {
  const char *path = luaL_checkstring(L, 1);
  int busy = (int)luaL_optinteger(L, 2, 5000);
  char resolved[PATH_MAX];
  ldb *d;
  ms_l_permit_path(L, MS_PERM_WRITE, path, resolved);
  if (lua_toboolean(L, 3)) private_files(resolved);
  d = lua_newuserdatauv(L, sizeof *d, 0);
  d->db = NULL;
  luaL_setmetatable(L, MS_DB_MT);
  /* the path the policy checked (links resolved), not the name given */
  if (sqlite3_open_v2(resolved, &d->db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE |
                      SQLITE_OPEN_NOFOLLOW, NULL) != SQLITE_OK) {
    lua_pushfstring(L, "cannot open %s", path);
    return fail(L, d->db, lua_tostring(L, -1));
  }
  sqlite3_limit(d->db, SQLITE_LIMIT_ATTACHED, 0);
  sqlite3_set_authorizer(d->db, authorize, NULL);
  sqlite3_busy_timeout(d->db, busy);
  sqlite3_extended_result_codes(d->db, 1);
  return 1;
}

static int l_db_exec(lua_State *L) {
  ldb *d = todb(L);
  const char *sql = luaL_checkstring(L, 2);
  if (sqlite3_exec(d->db, sql, NULL, NULL, NULL) != SQLITE_OK)
    return fail(L, d->db, "sqlite");
  return 0;
}

static int l_db_prepare(lua_State *L) {
  ldb *d = todb(L);
  size_t n;
  const char *sql = luaL_checklstring(L, 2, &n), *tail = NULL;
  lstmt *s = lua_newuserdatauv(L, sizeof *s, 1);
  s->st = NULL;
  s->db = d;
  luaL_setmetatable(L, MS_STMT_MT);
  lua_pushvalue(L, 1);  /* the connection lives as long as its statements */
  lua_setiuservalue(L, -2, 1);
  if (sqlite3_prepare_v2(d->db, sql, (int)n, &s->st, &tail) != SQLITE_OK)
    return fail(L, d->db, "sqlite");
  if (s->st == NULL) return luaL_error(L, "sqlite: no statement in '%s'", sql);
  if (tail && *tail && strspn(tail, " \t\r\n;") != strlen(tail))
    return luaL_error(L, "sqlite: one statement at a time");
  return 1;
}

static int l_db_last_id(lua_State *L) {
  lua_pushinteger(L, (lua_Integer)sqlite3_last_insert_rowid(todb(L)->db));
  return 1;
}

static int l_db_changes(lua_State *L) {
  lua_pushinteger(L, sqlite3_changes(todb(L)->db));
  return 1;
}

static int l_stmt_gc(lua_State *L) {
  lstmt *s = luaL_checkudata(L, 1, MS_STMT_MT);
  if (s->st != NULL) {
    sqlite3_finalize(s->st);
    s->st = NULL;
  }
  return 0;
}

static void bind(lua_State *L, lstmt *s) {
  int i, n = lua_gettop(L), rc = SQLITE_OK;
  sqlite3_reset(s->st);
  sqlite3_clear_bindings(s->st);
  for (i = 2; i <= n && rc == SQLITE_OK; i++) {
    switch (lua_type(L, i)) {
      case LUA_TNIL: rc = sqlite3_bind_null(s->st, i - 1); break;
      case LUA_TBOOLEAN:
        rc = sqlite3_bind_int(s->st, i - 1, lua_toboolean(L, i));
        break;
      case LUA_TNUMBER:
        rc = lua_isinteger(L, i)
          ? sqlite3_bind_int64(s->st, i - 1, (sqlite3_int64)lua_tointeger(L, i))
          : sqlite3_bind_double(s->st, i - 1, lua_tonumber(L, i));
        break;
      case LUA_TSTRING: {
        size_t len;
        const char *v = lua_tolstring(L, i, &len);
        rc = sqlite3_bind_text64(s->st, i - 1, v, len, SQLITE_TRANSIENT,
                                 SQLITE_UTF8);
        break;
      }
      default:
        luaL_error(L, "sqlite: parameter %d: %s cannot be stored", i - 1,
                   luaL_typename(L, i));
    }
  }
  if (rc != SQLITE_OK) fail(L, s->db->db, "sqlite");
}

static void pushcol(lua_State *L, sqlite3_stmt *st, int c) {
  switch (sqlite3_column_type(st, c)) {
    case SQLITE_INTEGER:
      lua_pushinteger(L, (lua_Integer)sqlite3_column_int64(st, c));
      break;
    case SQLITE_FLOAT: lua_pushnumber(L, sqlite3_column_double(st, c)); break;
    case SQLITE_NULL: lua_pushnil(L); break;
    default:
      lua_pushlstring(L, (const char *)sqlite3_column_text(st, c),
                      (size_t)sqlite3_column_bytes(st, c));
  }
}

static int l_stmt_run(lua_State *L) {
  lstmt *s = tostmt(L);
  int rc;
  bind(L, s);
  while ((rc = sqlite3_step(s->st)) == SQLITE_ROW) {}
  sqlite3_reset(s->st);
  if (rc != SQLITE_DONE) return fail(L, s->db->db, "sqlite");
  lua_pushinteger(L, sqlite3_changes(s->db->db));
  return 1;
}

static int l_stmt_rows(lua_State *L) {
  lstmt *s = tostmt(L);
  int rc, c, ncol;
  lua_Integer n = 0;
  bind(L, s);
  lua_newtable(L);
  ncol = sqlite3_column_count(s->st);
  while ((rc = sqlite3_step(s->st)) == SQLITE_ROW) {
    lua_createtable(L, 0, ncol);
    for (c = 0; c < ncol; c++) {
      pushcol(L, s->st, c);
      lua_setfield(L, -2, sqlite3_column_name(s->st, c));
    }
    lua_rawseti(L, -2, ++n);
  }
  sqlite3_reset(s->st);
  if (rc != SQLITE_DONE) return fail(L, s->db->db, "sqlite");
  return 1;
}

static const luaL_Reg dbmeth[] = {
  {"changes", l_db_changes},
  {"close",   l_db_close},
  {"exec",    l_db_exec},
  {"last_id", l_db_last_id},
  {"prepare", l_db_prepare},
  {NULL, NULL}
};

static const luaL_Reg stmtmeth[] = {
  {"rows", l_stmt_rows},
  {"run",  l_stmt_run},
  {NULL, NULL}
};

void ms_l_sqlite_register(lua_State *L) {
  ms_l_createmeta(L, MS_DB_MT, dbmeth, l_db_close, 1);
  ms_l_createmeta(L, MS_STMT_MT, stmtmeth, l_stmt_gc, 1);
  lua_pushcfunction(L, l_sqlite_open);
  lua_setfield(L, -2, "sqlite_open");
}
