/*
** main.c: the moonsync command. `run` executes a Lua script with moonsync
** loaded; every other command is implemented in Lua (moonsync.cli) over
** the same engine, which is linked in and preloaded as moonsync.core.
*/
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <lauxlib.h>
#include <lua.h>
#include <lualib.h>

#include "l_init.h"
#include "proc.h"

#ifndef MS_LUADIR
#define MS_LUADIR "/usr/local/share/lua/5.4"
#endif

static const char usage[] =
  "moonsync: a Lua-scriptable sync engine\n"
  "\n"
  "usage: moonsync COMMAND [ARGS...]\n"
  "\n"
  "commands:\n"
  "  run SCRIPT.lua [ARGS...]   run a Lua script with moonsync loaded\n"
  "  diff JOB.lua [--format F]  show what a sync job would change\n"
  "  sync JOB.lua [--dry-run]   run a sync job\n"
  "  plan JOB.lua -o PLAN.json  save what a sync would change\n"
  "  apply PLAN.json            apply a saved plan if the target has not drifted\n"
  "  inspect JOB.lua            show what a job declares and may touch\n"
  "  history [show ID]          list past runs, or show one\n"
  "  schema OPENAPI.json [RESOURCE...]\n"
  "                             list an API's resources, or print models for them\n"
  "  diff --schema SCHEMA.json SOURCE.json DEST.json [--format F]\n"
  "                             diff two documents\n"
  "  sync --schema SCHEMA.json SOURCE.json DEST.json --out AFTER.json\n"
  "                             sync two documents into a new file\n"
  "  help                       show this text\n"
  "  version                    print the version\n"
  "\n"
  "Run 'moonsync help COMMAND' (or 'moonsync COMMAND --help') for its options.\n"
  "exit codes, for every command: 0 done or nothing to do, 1 error,\n"
  "2 changes pending (diff, plan, --dry-run), 130 interrupted\n";

/* Set once the time limit has fired: from then on every instruction
   raises, so the error needs no traceback. */
static int limit_fired;

/* Message handler: adds a traceback to string errors; moonsync.Error
   values (tables with __tostring) are rendered without one, as they
   already say what went wrong and where. */
static int msghandler(lua_State *L) {
  const char *msg = lua_tostring(L, 1);
  if (limit_fired && msg) return 1;  /* the limit says all there is */
  if (msg == NULL) {
    if (luaL_callmeta(L, 1, "__tostring") && lua_type(L, -1) == LUA_TSTRING)
      return 1;
    msg = lua_pushfstring(L, "(error object is a %s value)",
                          luaL_typename(L, 1));
  }
  luaL_traceback(L, L, msg, 1);
  return 1;
}

/* {====== limits ======} */

/* Limits for the Lua state, from the environment: MOONSYNC_TIME_LIMIT
   (seconds of run time) and MOONSYNC_LUA_MEMORY (MiB of Lua heap). One
   state per process, so plain statics hold them. */
static double time_limit, started;
static size_t mem_limit, mem_used;

static double now(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* Seconds a run may go on after its time limit fired before the process
   is ended from outside: enough to report and unwind, not to work. */
#define GRACE 1.0

/* Count hook: a runaway script is stopped with a Lua error. Once the
   limit has fired the hook stays armed on every instruction, so a pcall
   that catches the error gains nothing: the next instruction raises
   again. (A long call inside a C library runs no instructions: the
   deadline of ms_proc_deadline ends those.) */
static void watchdog(lua_State *L, lua_Debug *ar) {
  (void)ar;
  if (now() - started > time_limit) {
    limit_fired = 1;
    lua_sethook(L, watchdog, LUA_MASKCOUNT, 1);
    luaL_error(L, "time limit of %f s exceeded (MOONSYNC_TIME_LIMIT)",
               time_limit);
  }
}

/* The Lua allocator, capped when MOONSYNC_LUA_MEMORY is set. */
static void *capped_alloc(void *ud, void *ptr, size_t osize, size_t nsize) {
  (void)ud;
  if (ptr == NULL) osize = 0;
  if (nsize == 0) {
    free(ptr);
    mem_used -= osize;
    return NULL;
  }
  if (mem_limit && nsize > osize && mem_used + (nsize - osize) > mem_limit)
    return NULL;  /* Lua raises "not enough memory" */
  ptr = realloc(ptr, nsize);
  if (ptr != NULL) mem_used = mem_used - osize + nsize;
  return ptr;
}

static int envlimits(void) {
  const char *t = getenv("MOONSYNC_TIME_LIMIT");
  const char *m = getenv("MOONSYNC_LUA_MEMORY");
  if (t && *t) {
    char *end;
    time_limit = strtod(t, &end);
    if (*end || time_limit <= 0) {
      fprintf(stderr, "moonsync: MOONSYNC_TIME_LIMIT must be a number of "
              "seconds, got '%s'\n", t);
      return -1;
    }
  }
  if (m && *m) {
    char *end;
    double mib = strtod(m, &end);
    if (*end || mib <= 0) {
      fprintf(stderr, "moonsync: MOONSYNC_LUA_MEMORY must be a number of MiB,"
              " got '%s'\n", m);
      return -1;
    }
    mem_limit = (size_t)(mib * 1024 * 1024);
  }
  return 0;
}

/* Directory of the running executable, into buf. */
static int exedir(char *buf, size_t n) {
  ssize_t r = readlink("/proc/self/exe", buf, n - 1);
  char *slash;
  if (r <= 0) return -1;
  buf[r] = '\0';
  slash = strrchr(buf, '/');
  if (slash == NULL) return -1;
  *slash = '\0';
  return 0;
}

/* package.path: the source tree next to the binary (bin/../lua, and
   bin/../lib where the build places the bundled adapters), then
   Lua's standard directory of the install, beside the binary
   (PREFIX/bin/../share/lua/5.4) and where it was configured, then Lua's
   defaults. */
static void setpaths(lua_State *L) {
  char dir[PATH_MAX];
  luaL_Buffer b;
  int pkg;
  lua_getglobal(L, "package");
  pkg = lua_gettop(L);  /* the buffer may take stack slots above it */
  luaL_buffinit(L, &b);
  if (exedir(dir, sizeof dir) == 0) {
    lua_pushfstring(L, "%s/../lua/?.lua;%s/../lua/?/init.lua;%s/../lib/?.lua;"
                    "%s/../share/lua/5.4/?.lua;%s/../share/lua/5.4/?/init.lua;",
                    dir, dir, dir, dir, dir);
    luaL_addvalue(&b);
  }
  lua_pushfstring(L, "%s/?.lua;%s/?/init.lua;", MS_LUADIR, MS_LUADIR);
  luaL_addvalue(&b);
  lua_getfield(L, pkg, "path");
  luaL_addvalue(&b);
  luaL_pushresult(&b);
  lua_setfield(L, pkg, "path");
  lua_getfield(L, -1, "preload");
  lua_pushcfunction(L, luaopen_moonsync_core);
  lua_setfield(L, -2, "moonsync.core");
  lua_pop(L, 2);
}

static const char job_hint[] =
  "%s is a job file (it returns ms.job): run it with 'moonsync diff %s', "
  "'moonsync sync %s' or 'moonsync plan %s -o PLAN.json'";

/* Does the script at path look like a job file (it names ms.job)? */
static int looks_like_job(const char *path) {
  char text[65536];
  size_t n;
  FILE *f = strcmp(path, "-") == 0 ? NULL : fopen(path, "rb");
  if (f == NULL) return 0;
  n = fread(text, 1, sizeof text - 1, f);
  fclose(f);
  text[n] = '\0';
  return strstr(text, "ms.job") != NULL || strstr(text, ").job") != NULL;
}

/* Runs under lua_pcall: argv in upvalue-free form via lightuserdata.
   With cli set, runs moonsync.cli's main(argv...) instead of a script. */
static int pmain(lua_State *L) {
  int argc = (int)lua_tointeger(L, 1);
  char **argv = lua_touserdata(L, 2);
  int cli = lua_toboolean(L, 3);
  int i, h, status;
  luaL_openlibs(L);
  setpaths(L);
  if (cli) {
    lua_pushcfunction(L, msghandler);
    h = lua_gettop(L);
    lua_getglobal(L, "require");
    lua_pushliteral(L, "moonsync.cli");
    lua_call(L, 1, 1);
    lua_getfield(L, -1, "main");
    luaL_checkstack(L, argc, "too many arguments");
    for (i = 0; i < argc; i++) lua_pushstring(L, argv[i]);
    status = lua_pcall(L, argc, 1, h);
    if (status != LUA_OK) return lua_error(L);
    lua_pushinteger(L, lua_isinteger(L, -1) ? lua_tointeger(L, -1) : 1);
    return 1;
  }
  /* arg table as lua.c builds it: arg[0] = script */
  lua_createtable(L, argc, 1);
  for (i = 0; i < argc; i++) {
    lua_pushstring(L, argv[i]);
    lua_rawseti(L, -2, i);
  }
  lua_setglobal(L, "arg");
  lua_pushcfunction(L, msghandler);
  h = lua_gettop(L);
  if (strcmp(argv[0], "-") == 0) status = luaL_loadfile(L, NULL);
  else status = luaL_loadfile(L, argv[0]);
  if (status != LUA_OK) return lua_error(L);
  luaL_checkstack(L, argc, "too many arguments");
  for (i = 1; i < argc; i++) lua_pushstring(L, argv[i]);
  status = lua_pcall(L, argc - 1, 1, h);
  if (status != LUA_OK) {
    if (lua_type(L, -1) == LUA_TSTRING && looks_like_job(argv[0])) {
      /* what went wrong is that it is not a script: no traceback */
      const char *msg = lua_tostring(L, -1), *tb = strstr(msg, "\nstack traceback:");
      lua_pushfstring(L, job_hint, argv[0], argv[0], argv[0], argv[0]);
      lua_pushliteral(L, " (run as a script, it stopped at: ");
      lua_pushlstring(L, msg, tb ? (size_t)(tb - msg) : strlen(msg));
      lua_pushliteral(L, ")");
      lua_concat(L, 4);
    }
    return lua_error(L);
  }
  if (luaL_getmetafield(L, -1, "__metatable") == LUA_TSTRING &&
      strcmp(lua_tostring(L, -1), "moonsync.Job") == 0)
    return luaL_error(L, job_hint, argv[0], argv[0], argv[0], argv[0]);
  /* a script may return an exit status */
  lua_pushinteger(L, lua_isinteger(L, -1) ? lua_tointeger(L, -1) : 0);
  return 1;
}

static int runlua(int argc, char **argv, int cli) {
  lua_State *L;
  int status, code = 0;
  if (envlimits() != 0) return 1;
  L = lua_newstate(capped_alloc, NULL);
  if (L != NULL && time_limit > 0) {
    char msg[256];
    started = now();
    lua_sethook(L, watchdog, LUA_MASKCOUNT, 10000);
    snprintf(msg, sizeof msg, "moonsync: time limit of %g s exceeded "
             "(MOONSYNC_TIME_LIMIT) and the run did not stop within %g s: "
             "ended; nothing more was written", time_limit, GRACE);
    if (ms_proc_deadline(time_limit + GRACE, msg) != 0) {
      fprintf(stderr, "moonsync: cannot start the time limit's watchdog\n");
      lua_close(L);
      return 1;
    }
  }
  if (L == NULL) {
    fprintf(stderr, "moonsync: cannot create a Lua state (out of memory)\n");
    return 1;
  }
  lua_pushcfunction(L, pmain);
  lua_pushinteger(L, argc);
  lua_pushlightuserdata(L, argv);
  lua_pushboolean(L, cli);
  status = lua_pcall(L, 3, 1, 0);
  if (status != LUA_OK) {
    const char *msg = lua_tostring(L, -1);
    if (msg == NULL && luaL_callmeta(L, -1, "__tostring"))
      msg = lua_tostring(L, -1);
    fprintf(stderr, "moonsync: %s\n", msg ? msg : "(error without message)");
    code = 1;  /* 1 is an error; 2 means changes pending */
  } else {
    code = (int)lua_tointeger(L, -1);
  }
  fflush(stdout);
  lua_close(L);
  return code;
}

static const char run_usage[] =
  "usage: moonsync run SCRIPT.lua [ARGS...]\n"
  "Runs a Lua script you trust with moonsync loaded (require \"moonsync\") and\n"
  "the whole standard library: no sandbox, no permissions. ARGS reach it as\n"
  "... and in arg. A script may return an exit status.\n"
  "Environment: MOONSYNC_TIME_LIMIT (seconds), MOONSYNC_LUA_MEMORY (MiB).\n"
  "exit: what the script returns (0 by default), 1 on an error\n";

int main(int argc, char **argv) {
  const char *cmd = argc > 1 ? argv[1] : "help";
  char *helpargv[3];
  /* a file size limit makes writes fail (EFBIG) instead of killing us */
  signal(SIGXFSZ, SIG_IGN);
  /* a signal never leaves a temporary file behind */
  ms_proc_signals(0);
  if ((strcmp(cmd, "help") == 0 || strcmp(cmd, "--help") == 0 ||
       strcmp(cmd, "-h") == 0) && argc > 2) {
    /* moonsync help CMD is moonsync CMD --help */
    helpargv[0] = argv[0];
    helpargv[1] = argv[2];
    helpargv[2] = (char *)"--help";
    argc = 3;
    argv = helpargv;
    cmd = argv[1];
  } else if (strcmp(cmd, "help") == 0 || strcmp(cmd, "--help") == 0 ||
             strcmp(cmd, "-h") == 0) {
    fputs(usage, argc > 1 ? stdout : stderr);
    return argc > 1 ? 0 : 1;
  }
  if (strcmp(cmd, "version") == 0 || strcmp(cmd, "--version") == 0) {
    if (argc > 2 && strcmp(argv[2], "--help") == 0) {
      puts("usage: moonsync version\nprints the version");
      return 0;
    }
    puts("moonsync 0.1.0");
    return 0;
  }
  if (strcmp(cmd, "run") == 0) {
    if (argc >= 3 && (strcmp(argv[2], "--help") == 0 || strcmp(argv[2], "-h") == 0)) {
      fputs(run_usage, stdout);
      return 0;
    }
    if (argc < 3) {
      fputs(run_usage, stderr);
      return 1;
    }
    return runlua(argc - 2, argv + 2, 0);
  }
  if (strcmp(cmd, "diff") == 0 || strcmp(cmd, "sync") == 0 ||
      strcmp(cmd, "plan") == 0 || strcmp(cmd, "apply") == 0 ||
      strcmp(cmd, "inspect") == 0 || strcmp(cmd, "history") == 0 ||
      strcmp(cmd, "schema") == 0) {
    /* a reader that goes away (| head) is an error on write, which the
       command line handles: it still records its run */
    signal(SIGPIPE, SIG_IGN);
    return runlua(argc - 1, argv + 1, 1);
  }
  fprintf(stderr, "moonsync: unknown command '%s'\n\n%s", cmd, usage);
  return 1;
}
