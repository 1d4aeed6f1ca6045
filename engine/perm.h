/*
** perm.h: the permissions a job runs with: which directory trees it may
** read and write, which hosts it may connect to and which environment
** variables it may read. Every door (file loaders and writers, the HTTP
** transport, getenv) asks here before it acts. Paths are compared after
** resolving symbolic links and "..", so a link inside a granted tree that
** points outside it grants nothing. No Lua here: l_perm.c binds it.
*/
#ifndef MS_PERM_H
#define MS_PERM_H

#include <stddef.h>

#include "buf.h"
#include "err.h"

enum { MS_PERM_READ = 0, MS_PERM_WRITE, MS_PERM_NET, MS_PERM_ENV,
       MS_PERM_KINDS };

typedef struct ms_perm ms_perm;

/* An empty policy (nothing allowed); NULL when out of memory. Free with
   ms_perm_free. */
ms_perm *ms_perm_new(void);
void ms_perm_free(ms_perm *p);

/* Grants one entry of kind `kind`:
   - read, write: a path (a file or a directory tree), resolved against
     `base` when relative (the current directory when base is NULL); a
     write grant also allows reading;
   - net: "host", "host:port", "*.domain" (any subdomain), "[v6]:port", or
     "*" (any host);
   - env: a variable name, or a prefix ending in "*" ("NETBOX_*").
   `why` says where the grant comes from (for messages and inspect).
   Returns MS_OK, MS_EINPUT for a malformed entry, MS_ENOMEM. */
int ms_perm_grant(ms_perm *p, int kind, const char *entry, const char *base,
                  const char *why, ms_err *err);

/* Like ms_perm_grant for a write grant of a directory tree that is
   guarded: it lets files in the tree be read and written, except version
   control metadata (any path through .git, .hg, .svn, .bzr, .jj, _darcs or
   CVS) and code (files ending in .lua or .so), which it lets be read only.
   A job's own directory is granted this way. */
int ms_perm_grant_guarded(ms_perm *p, const char *dir, const char *why,
                          ms_err *err);

/* Checks that `path` may be read (MS_PERM_READ) or written (MS_PERM_WRITE).
   On success the resolved absolute path is written to `resolved` (at least
   PATH_MAX bytes) when it is not NULL. Refused: MS_EPERM, with a message
   naming the path and the permission that would allow it. */
int ms_perm_check_path(const ms_perm *p, int kind, const char *path,
                       char *resolved, ms_err *err);

/* Checks that a request to `url` may be sent: the scheme must be http or
   https and the host (and port) granted. MS_EPERM otherwise. */
int ms_perm_check_url(const ms_perm *p, const char *url, ms_err *err);

/* Is the environment variable `name` granted? MOONSYNC_PLAN_KEY never is. */
int ms_perm_env_allowed(const ms_perm *p, const char *name);

/* Appends "kind: entry (why)" lines of every grant to b. */
void ms_perm_describe(ms_buf *b, const ms_perm *p);

/* Number of entries of a kind; entry i written into out (n bytes), its
   origin (borrowed) into *why. Returns out. */
size_t ms_perm_count(const ms_perm *p, int kind);
const char *ms_perm_entry(const ms_perm *p, int kind, size_t i, char *out,
                          size_t n, const char **why);

/* The name of a kind: "read", "write", "net", "env". */
const char *ms_perm_kind_name(int kind);

/* Resolves `path` (relative to `base`, or the current directory) to an
   absolute path without symbolic links, "." or ".." components; the part
   that does not exist yet is normalized lexically. out has PATH_MAX bytes.
   MS_EIO when the path is too long or the current directory unknown. */
int ms_path_resolve(const char *path, const char *base, char *out,
                    ms_err *err);

/* The origin (scheme, lowercased host, port with the scheme's default) of
   an absolute http(s) URL into out ("https://host:443"); MS_EINPUT when the
   URL cannot be parsed or is not http(s). */
int ms_url_origin(const char *url, char *out, size_t n, ms_err *err);

#endif
