/*
** perm.c: job permissions (perm.h). Path grants are stored resolved, and
** every checked path is resolved the same way before the prefix test, so
** "..", "." and symbolic links cannot lead outside a granted tree. URLs
** are parsed with libcurl's own parser, so the host checked is the host
** libcurl would connect to.
*/
#include "perm.h"

#include <ctype.h>
#include <curl/curl.h>
#include <errno.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

typedef struct entry {
  char *text;     /* resolved path, host pattern or variable name */
  char *why;
  long port;      /* net: 0 for any port */
  int guarded;    /* write: not VCS metadata or code (ms_perm_grant_guarded) */
} entry;

typedef struct list {
  entry *items;
  size_t n, cap;
} list;

struct ms_perm {
  list kinds[MS_PERM_KINDS];
};

static const char *const kindnames[MS_PERM_KINDS] = {"read", "write", "net",
                                                     "env"};

const char *ms_perm_kind_name(int kind) {
  return kind >= 0 && kind < MS_PERM_KINDS ? kindnames[kind] : "?";
}

ms_perm *ms_perm_new(void) { return calloc(1, sizeof(ms_perm)); }

void ms_perm_free(ms_perm *p) {
  int k;
  size_t i;
  if (p == NULL) return;
  for (k = 0; k < MS_PERM_KINDS; k++) {
    for (i = 0; i < p->kinds[k].n; i++) {
      free(p->kinds[k].items[i].text);
      free(p->kinds[k].items[i].why);
    }
    free(p->kinds[k].items);
  }
  free(p);
}

static char *xstrdup(const char *s) {
  size_t n = strlen(s) + 1;
  char *c = malloc(n);
  if (c) memcpy(c, s, n);
  return c;
}

static int push(list *l, const char *text, const char *why, long port,
                int guarded, ms_err *err) {
  entry *e;
  size_t i;
  for (i = 0; i < l->n; i++)  /* a repeated grant adds nothing */
    if (strcmp(l->items[i].text, text) == 0 && l->items[i].port == port &&
        l->items[i].guarded <= guarded)
      return MS_OK;
  if (l->n == l->cap) {
    size_t cap = l->cap ? l->cap * 2 : 8;
    entry *items = realloc(l->items, cap * sizeof *items);
    if (items == NULL) return ms_err_set(err, MS_ENOMEM, "out of memory");
    l->items = items;
    l->cap = cap;
  }
  e = &l->items[l->n];
  e->text = xstrdup(text);
  e->why = xstrdup(why ? why : "");
  e->port = port;
  e->guarded = guarded;
  if (e->text == NULL || e->why == NULL) {
    free(e->text);
    free(e->why);
    return ms_err_set(err, MS_ENOMEM, "out of memory");
  }
  l->n++;
  return MS_OK;
}

/* {====== paths ======} */

/* Appends component c (length n) to the absolute path out (length *len),
   handling "." and "..". */
static int addpart(char *out, size_t *len, const char *c, size_t n) {
  if (n == 0 || (n == 1 && c[0] == '.')) return 0;
  if (n == 2 && c[0] == '.' && c[1] == '.') {
    while (*len > 1 && out[*len - 1] != '/') (*len)--;
    if (*len > 1) (*len)--;  /* the slash, unless it is the root */
    out[*len] = '\0';
    return 0;
  }
  if (*len + (*len > 1) + n + 1 > PATH_MAX) return -1;
  if (*len > 1) out[(*len)++] = '/';
  memcpy(out + *len, c, n);
  *len += n;
  out[*len] = '\0';
  return 0;
}

int ms_path_resolve(const char *path, const char *base, char *out,
                    ms_err *err) {
  char abs[PATH_MAX], head[PATH_MAX];
  size_t n, cut, len;
  const char *tail, *c;
  if (path[0] == '\0') return ms_err_set(err, MS_EINPUT, "empty path");
  if (path[0] == '/') {
    n = strlen(path);
    if (n >= sizeof abs) return ms_err_set(err, MS_EIO, "path too long");
    memcpy(abs, path, n + 1);
  } else {
    char cwd[PATH_MAX];
    if (base == NULL) {
      if (getcwd(cwd, sizeof cwd) == NULL)
        return ms_err_set(err, MS_EIO, "cannot resolve %s: %s", path,
                          strerror(errno));
      base = cwd;
    }
    if ((size_t)snprintf(abs, sizeof abs, "%s/%s", base, path) >= sizeof abs)
      return ms_err_set(err, MS_EIO, "path too long");
  }
  if (realpath(abs, out) != NULL) return MS_OK;
  /* the longest prefix that exists is resolved; the rest (which cannot
     hold links, as it does not exist) is normalized lexically */
  n = strlen(abs);
  cut = n;
  for (;;) {
    while (cut > 0 && abs[cut - 1] != '/') cut--;  /* start of last part */
    while (cut > 1 && abs[cut - 1] == '/') cut--;  /* the separator(s) */
    if (cut <= 1) {
      strcpy(out, "/");
      tail = abs + 1;
      break;
    }
    memcpy(head, abs, cut);
    head[cut] = '\0';
    if (realpath(head, out) != NULL) {
      tail = abs + cut;
      break;
    }
  }
  len = strlen(out);
  for (c = tail; *c;) {
    const char *e = c;
    while (*e && *e != '/') e++;
    if (addpart(out, &len, c, (size_t)(e - c)) != 0)
      return ms_err_set(err, MS_EIO, "path too long");
    c = *e ? e + 1 : e;
  }
  return MS_OK;
}

/* Is resolved path `path` the tree `root` or inside it? */
static int within(const char *root, const char *path) {
  size_t n = strlen(root);
  if (strcmp(root, "/") == 0) return 1;
  return strncmp(root, path, n) == 0 && (path[n] == '\0' || path[n] == '/');
}

/* Does the part of `path` below its granted root (rel, after the slash)
   lead through version control metadata or name code? */
static int guardedpart(const char *rel) {
  static const char *const vcs[] = {".git", ".hg", ".svn", ".bzr", ".jj",
                                    "_darcs", "CVS", NULL};
  const char *c = rel, *e;
  size_t n;
  int i;
  for (;;) {
    for (e = c; *e && *e != '/'; e++) {}
    n = (size_t)(e - c);
    for (i = 0; vcs[i]; i++)
      if (strlen(vcs[i]) == n && memcmp(vcs[i], c, n) == 0) return 1;
    if (*e == '\0') break;
    c = e + 1;
  }
  return (n > 4 && memcmp(e - 4, ".lua", 4) == 0) ||
         (n > 3 && memcmp(e - 3, ".so", 3) == 0);
}

/* 1: granted; 0: not; 2: only a guarded grant's exception refuses it */
static int pathgranted(const ms_perm *p, int kind, const char *resolved) {
  size_t i;
  int guarded = 0;
  const list *w = &p->kinds[MS_PERM_WRITE];
  for (i = 0; i < w->n; i++) {
    const entry *e = &w->items[i];
    if (!within(e->text, resolved)) continue;
    if (kind == MS_PERM_WRITE && e->guarded &&
        guardedpart(resolved + strlen(e->text) + (strcmp(e->text, "/") != 0))) {
      guarded = 1;
      continue;
    }
    return 1;
  }
  if (kind == MS_PERM_READ) {
    const list *r = &p->kinds[MS_PERM_READ];
    for (i = 0; i < r->n; i++)
      if (within(r->items[i].text, resolved)) return 1;
  }
  return guarded ? 2 : 0;
}

int ms_perm_check_path(const ms_perm *p, int kind, const char *path,
                       char *resolved, ms_err *err) {
  char buf[PATH_MAX];
  char *out = resolved ? resolved : buf;
  int rc = ms_path_resolve(path, NULL, out, err);
  if (rc != MS_OK) return rc;
  if (p == NULL || (rc = pathgranted(p, kind, out)) == 1) return MS_OK;
  if (rc == 2)
    return ms_err_set(err, MS_EPERM,
                      "write %s: not permitted (the job's own directory lets "
                      "it write data files, not version control metadata or "
                      "code: .lua and .so files; declare it in "
                      "permissions.write or grant it with --allow-write)",
                      path);
  return ms_err_set(err, MS_EPERM,
                    "%s %s: not permitted (the job may %s only what it "
                    "declares in permissions.%s and what --allow-%s grants)",
                    kind == MS_PERM_WRITE ? "write" : "read", path,
                    kind == MS_PERM_WRITE ? "write" : "read",
                    kindnames[kind], kindnames[kind]);
}

/* {====== hosts and URLs ======} */

static void lower(char *s) {
  for (; *s; s++) *s = (char)tolower((unsigned char)*s);
}

/* Splits "host[:port]" / "[v6][:port]" into host and port (0: any). */
static int splithost(const char *spec, char *host, size_t hn, long *port) {
  const char *colon;
  size_t n;
  *port = 0;
  if (spec[0] == '[') {
    const char *close = strchr(spec, ']');
    if (close == NULL) return -1;
    colon = close[1] == ':' ? close + 1 : NULL;
    if (close[1] != '\0' && colon == NULL) return -1;
    n = (size_t)(close - spec) + 1;
  } else {
    colon = strrchr(spec, ':');
    if (colon && strchr(spec, ':') != colon) return -1;  /* bare v6 */
    n = colon ? (size_t)(colon - spec) : strlen(spec);
  }
  if (n == 0 || n >= hn) return -1;
  memcpy(host, spec, n);
  host[n] = '\0';
  lower(host);
  if (colon) {
    char *end;
    errno = 0;
    *port = strtol(colon + 1, &end, 10);
    if (*end || errno || *port < 1 || *port > 65535) return -1;
  }
  return 0;
}

static int hostmatch(const char *pattern, const char *host) {
  if (strcmp(pattern, "*") == 0) return 1;
  if (pattern[0] == '*' && pattern[1] == '.') {
    size_t pn = strlen(pattern + 1), hn = strlen(host);  /* ".domain" */
    return hn > pn && strcmp(host + hn - pn, pattern + 1) == 0;
  }
  return strcmp(pattern, host) == 0;
}

/* Parses url into scheme, lowercased host and port. */
static int parseurl(const char *url, char *scheme, size_t sn, char *host,
                    size_t hn, long *port, ms_err *err) {
  CURLU *u = curl_url();
  char *s = NULL, *h = NULL, *pt = NULL;
  int rc = MS_OK;
  if (u == NULL) return ms_err_set(err, MS_ENOMEM, "out of memory");
  if (curl_url_set(u, CURLUPART_URL, url, CURLU_NON_SUPPORT_SCHEME) != CURLUE_OK ||
      curl_url_get(u, CURLUPART_SCHEME, &s, 0) != CURLUE_OK) {
    rc = ms_err_set(err, MS_EINPUT, "not an absolute URL");
  } else if (strcasecmp(s, "http") != 0 && strcasecmp(s, "https") != 0) {
    rc = ms_err_set(err, MS_EINPUT, "only http and https URLs are allowed, "
                    "not %s", s);
  } else if (curl_url_get(u, CURLUPART_HOST, &h, 0) != CURLUE_OK ||
             curl_url_get(u, CURLUPART_PORT, &pt, CURLU_DEFAULT_PORT) !=
               CURLUE_OK) {
    rc = ms_err_set(err, MS_EINPUT, "not an absolute URL");
  } else if (strlen(s) >= sn || strlen(h) >= hn) {
    rc = ms_err_set(err, MS_EINPUT, "URL too long");
  } else {
    strcpy(scheme, s);
    lower(scheme);
    strcpy(host, h);
    lower(host);
    *port = strtol(pt, NULL, 10);
    if (strcmp(scheme, "http") != 0 && strcmp(scheme, "https") != 0)
      rc = ms_err_set(err, MS_EINPUT, "only http and https URLs are "
                      "allowed, not %s", scheme);
  }
  curl_free(s);
  curl_free(h);
  curl_free(pt);
  curl_url_cleanup(u);
  return rc;
}

int ms_url_origin(const char *url, char *out, size_t n, ms_err *err) {
  char scheme[16], host[256];
  long port;
  int rc = parseurl(url, scheme, sizeof scheme, host, sizeof host, &port,
                    err);
  if (rc != MS_OK) return rc;
  if ((size_t)snprintf(out, n, "%s://%s:%ld", scheme, host, port) >= n)
    return ms_err_set(err, MS_EINPUT, "URL too long");
  return MS_OK;
}

int ms_perm_check_url(const ms_perm *p, const char *url, ms_err *err) {
  char scheme[16], host[256];
  long port;
  size_t i;
  int rc = parseurl(url, scheme, sizeof scheme, host, sizeof host, &port,
                    err);
  if (rc != MS_OK) return rc;
  if (p == NULL) return MS_OK;
  for (i = 0; i < p->kinds[MS_PERM_NET].n; i++) {
    const entry *e = &p->kinds[MS_PERM_NET].items[i];
    if (hostmatch(e->text, host) && (e->port == 0 || e->port == port))
      return MS_OK;
  }
  return ms_err_set(err, MS_EPERM,
                    "connecting to %s:%ld: not permitted (the job may "
                    "connect only to the hosts it declares in "
                    "permissions.net and what --allow-net grants)", host,
                    port);
}

/* {====== environment ======} */

int ms_perm_env_allowed(const ms_perm *p, const char *name) {
  size_t i;
  if (p == NULL) return 1;
  /* the operator's plan key authenticates plans: never a job's to read */
  if (strcmp(name, "MOONSYNC_PLAN_KEY") == 0) return 0;
  for (i = 0; i < p->kinds[MS_PERM_ENV].n; i++) {
    const char *pat = p->kinds[MS_PERM_ENV].items[i].text;
    size_t n = strlen(pat);
    if (n > 0 && pat[n - 1] == '*') {
      if (strncmp(pat, name, n - 1) == 0) return 1;
    } else if (strcmp(pat, name) == 0) {
      return 1;
    }
  }
  return 0;
}

static int envname(const char *s) {
  size_t i, n = strlen(s);
  if (n == 0) return 0;
  for (i = 0; i < n; i++) {
    unsigned char c = (unsigned char)s[i];
    if (!(isalnum(c) || c == '_' || (c == '*' && i == n - 1))) return 0;
  }
  return 1;
}

/* {====== grants ======} */

/* A read or write grant of path e (relative to base), guarded or not. */
static int grantpath(ms_perm *p, int kind, const char *e, const char *base,
                     const char *why, int guarded, ms_err *err) {
  char buf[PATH_MAX];
  if (ms_path_resolve(e, base, buf, err) != MS_OK)
    return ms_err_prefix(err, "permissions.%s '%s'", kindnames[kind], e);
  return push(&p->kinds[kind], buf, why, 0, guarded, err);
}

int ms_perm_grant(ms_perm *p, int kind, const char *e, const char *base,
                  const char *why, ms_err *err) {
  char buf[PATH_MAX];
  long port;
  switch (kind) {
    case MS_PERM_READ:
    case MS_PERM_WRITE:
      return grantpath(p, kind, e, base, why, 0, err);
    case MS_PERM_NET:
      if (strcmp(e, "*") != 0 &&
          (splithost(e, buf, sizeof buf, &port) != 0 ||
           (strchr(buf, '*') && !(buf[0] == '*' && buf[1] == '.' &&
                                   strchr(buf + 1, '*') == NULL))))
        return ms_err_set(err, MS_EINPUT, "permissions.net '%s': expected "
                          "HOST, HOST:PORT, *.DOMAIN or *", e);
      if (strcmp(e, "*") == 0) {
        strcpy(buf, "*");
        port = 0;
      }
      return push(&p->kinds[kind], buf, why, port, 0, err);
    case MS_PERM_ENV:
      if (!envname(e))
        return ms_err_set(err, MS_EINPUT, "permissions.env '%s': expected a "
                          "variable name or a prefix ending in *", e);
      return push(&p->kinds[kind], e, why, 0, 0, err);
    default:
      return ms_err_set(err, MS_EINPUT, "unknown permission kind");
  }
}

int ms_perm_grant_guarded(ms_perm *p, const char *dir, const char *why,
                          ms_err *err) {
  return grantpath(p, MS_PERM_WRITE, dir, NULL, why, 1, err);
}

size_t ms_perm_count(const ms_perm *p, int kind) {
  return p->kinds[kind].n;
}

const char *ms_perm_entry(const ms_perm *p, int kind, size_t i, char *out,
                          size_t n, const char **why) {
  const entry *e = &p->kinds[kind].items[i];
  if (why) *why = e->why;
  if (kind == MS_PERM_NET && e->port)
    snprintf(out, n, "%s:%ld", e->text, e->port);
  else
    snprintf(out, n, "%s", e->text);
  return out;
}

void ms_perm_describe(ms_buf *b, const ms_perm *p) {
  int k;
  size_t i;
  for (k = 0; k < MS_PERM_KINDS; k++)
    for (i = 0; i < p->kinds[k].n; i++) {
      char t[PATH_MAX];
      const char *why;
      ms_perm_entry(p, k, i, t, sizeof t, &why);
      ms_buf_printf(b, "%s: %s (%s)\n", kindnames[k], t, why);
    }
}
