/*
** http.h: HTTP transport on one libcurl multi handle per client: many
** requests in flight (at most `concurrency`), connections kept alive and
** reused across calls, retries with exponential backoff and jitter on
** connection errors, timeouts, 429 and 5xx (honouring Retry-After), and
** an optional requests-per-second cap. Only http and https are spoken,
** redirects are never followed here (the caller decides, per origin), and
** every response is bounded while it arrives. No Lua here: l_http.c binds
** it.
*/
#ifndef MS_HTTP_H
#define MS_HTTP_H

#include <stddef.h>

#include "buf.h"
#include "err.h"

typedef struct ms_http_cfg {
  long timeout_ms;          /* whole transfer; 0: none */
  long connect_timeout_ms;
  int concurrency;          /* transfers in flight, >= 1 */
  int retries;              /* extra attempts after the first */
  double backoff;           /* first retry delay in seconds (doubles) */
  double backoff_max;       /* cap on one delay */
  double rate;              /* requests started per second; 0: no cap */
  int insecure;             /* skip TLS verification (explicit only) */
  const char *ca_file;      /* CA bundle, or NULL for the system's */
  const char *proxy;        /* NULL: from the environment */
  int retry_unsafe;         /* also retry POST and PATCH */
  const char *user_agent;
  size_t max_body;          /* bytes a response body may have once
                               decompressed; 0: MS_HTTP_MAX_BODY */
} ms_http_cfg;

/* Default bound of a response body (after decompression). */
#define MS_HTTP_MAX_BODY ((size_t)256 << 20)
/* Bound of a response's header lines. */
#define MS_HTTP_MAX_HEAD ((size_t)1 << 20)

typedef struct ms_http_client ms_http_client;

typedef struct ms_http_req {
  /* in: owned by the caller, valid during ms_http_run */
  const char *method;       /* GET, POST, ... */
  const char *url;
  const char *const *headers;  /* "Name: value" lines, NULL-terminated */
  const char *body;
  size_t body_len;
  /* out: owned by the request; free with ms_http_req_free */
  long status;              /* HTTP status of the last attempt, 0 if none */
  ms_buf head;              /* raw response header lines of the last attempt */
  ms_buf resp;              /* response body of the last attempt */
  int attempts;
  int failed;               /* no HTTP response at all (see error) */
  int too_big;              /* stopped: the body (1) or the headers (2)
                               exceeded their bound (error says which) */
  char error[256];          /* transport error of the last attempt */
  int unsent;               /* never sent: an interrupt (ms_proc_interrupt)
                               came first (failed is set too) */
  /* private */
  size_t max_body;
  double ready_at;
  void *easy;
  struct curl_slist *slist;
} ms_http_req;

/* A client; NULL with err set on failure. Free with ms_http_client_free. */
ms_http_client *ms_http_client_new(const ms_http_cfg *cfg, ms_err *err);
void ms_http_client_free(ms_http_client *c);

/* Performs n requests, concurrently up to the client's limit, retrying
   as configured. Once an interrupt is asked for (SIGINT or SIGTERM under
   ms_proc_signals(1)), no request or retry starts: the ones in flight
   finish, the others fail with unsent set. Returns MS_OK when every
   request got a final answer (which may be an HTTP error status or a
   transport failure: see each request), or MS_ENOMEM / MS_EIO for a
   failure of the machinery. */
int ms_http_run(ms_http_client *c, ms_http_req *reqs, size_t n, ms_err *err);

/* ms_http_run, calling done(ud, i) as soon as request i has its final
   answer (the others may still be in flight), so a caller can use each
   answer while the rest arrive. */
int ms_http_run_each(ms_http_client *c, ms_http_req *reqs, size_t n,
                     void (*done)(void *ud, size_t i), void *ud, ms_err *err);

/* Seconds a response's Retry-After header asks to wait (a number of
   seconds or an HTTP date), or -1 when there is none or it is malformed.
   head: the raw header lines, NUL-terminated. */
double ms_http_retry_after(const char *head);

/* Frees a request's outputs. */
void ms_http_req_free(ms_http_req *r);

#endif
