/*
** http.c: the libcurl multi transport (http.h). One multi handle per
** client keeps the connection cache (keep-alive) across ms_http_run calls;
** easy handles are pooled and reset between uses so no option leaks from
** one request to the next.
*/
#include "http.h"
#include "proc.h"

#include <curl/curl.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#define MS_HTTP_MAX_RETRY_AFTER 300.0  /* seconds */

struct ms_http_client {
  CURLM *multi;
  ms_http_cfg cfg;
  char *ca_file, *proxy, *user_agent;
  CURL **pool;
  int npool;
  double last_start;
  /* a 429 holds back every request of the client until then */
  double hold_until;
  unsigned rng;
};

static double now(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static char *dup(const char *s) {
  char *p;
  if (s == NULL) return NULL;
  p = malloc(strlen(s) + 1);
  if (p) strcpy(p, s);
  return p;
}

ms_http_client *ms_http_client_new(const ms_http_cfg *cfg, ms_err *err) {
  static int inited;
  ms_http_client *c;
  if (!inited) {
    if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) {
      ms_err_set(err, MS_EIO, "libcurl could not be initialised");
      return NULL;
    }
    inited = 1;
  }
  c = calloc(1, sizeof *c);
  if (c == NULL) goto nomem;
  c->cfg = *cfg;
  if (c->cfg.max_body == 0) c->cfg.max_body = MS_HTTP_MAX_BODY;
  if (c->cfg.concurrency < 1) c->cfg.concurrency = 1;
  if (c->cfg.retries < 0) c->cfg.retries = 0;
  c->ca_file = dup(cfg->ca_file);
  c->proxy = dup(cfg->proxy);
  c->user_agent = dup(cfg->user_agent ? cfg->user_agent : "moonsync");
  c->pool = calloc((size_t)c->cfg.concurrency, sizeof *c->pool);
  c->multi = curl_multi_init();
  if (c->pool == NULL || c->multi == NULL || c->user_agent == NULL ||
      (cfg->ca_file && !c->ca_file) || (cfg->proxy && !c->proxy)) {
    ms_http_client_free(c);
    goto nomem;
  }
  curl_multi_setopt(c->multi, CURLMOPT_MAXCONNECTS, (long)c->cfg.concurrency);
  curl_multi_setopt(c->multi, CURLMOPT_MAX_HOST_CONNECTIONS,
                    (long)c->cfg.concurrency);
  c->rng = (unsigned)time(NULL) ^ (unsigned)(size_t)c;
  return c;
nomem:
  ms_err_set(err, MS_ENOMEM, "out of memory");
  return NULL;
}

void ms_http_client_free(ms_http_client *c) {
  int i;
  if (c == NULL) return;
  for (i = 0; i < c->npool; i++) curl_easy_cleanup(c->pool[i]);
  if (c->multi) curl_multi_cleanup(c->multi);
  free(c->pool);
  free(c->ca_file);
  free(c->proxy);
  free(c->user_agent);
  free(c);
}

void ms_http_req_free(ms_http_req *r) {
  ms_buf_free(&r->head);
  ms_buf_free(&r->resp);
  if (r->slist) curl_slist_free_all(r->slist);
  r->slist = NULL;
}

/* Appends n bytes to b unless that would pass `limit` (returns -1). The
   buffer never holds more than limit + 1 bytes: growth is clamped, so the
   memory a hostile response takes stays within its bound. */
static int addbounded(ms_buf *b, const char *p, size_t n, size_t limit) {
  if (n > limit || b->len > limit - n) return -1;
  if (b->cap - b->len <= n) {
    size_t cap = b->cap ? b->cap * 2 : 4096;
    char *q;
    if (cap > limit + 1) cap = limit + 1;
    if (cap < b->len + n + 1) cap = b->len + n + 1;
    if ((q = realloc(b->data, cap)) == NULL) {
      b->oom = 1;
      return -1;
    }
    b->data = q;
    b->cap = cap;
  }
  memcpy(b->data + b->len, p, n);
  b->len += n;
  b->data[b->len] = '\0';
  return 0;
}

static size_t onbody(char *p, size_t size, size_t n, void *ud) {
  ms_http_req *r = ud;
  /* libcurl hands over decoded bytes: a compressed bomb stops here too */
  if (addbounded(&r->resp, p, size * n, r->max_body) != 0) {
    if (!r->resp.oom) r->too_big = 1;
    return 0;  /* aborts the transfer */
  }
  return size * n;
}

static size_t onheader(char *p, size_t size, size_t n, void *ud) {
  ms_http_req *r = ud;
  /* a new status line starts a new response (redirect, 100-continue) */
  if (size * n > 5 && strncmp(p, "HTTP/", 5) == 0) r->head.len = 0;
  if (addbounded(&r->head, p, size * n, MS_HTTP_MAX_HEAD) != 0) {
    if (!r->head.oom) r->too_big = 2;
    return 0;
  }
  return size * n;
}

static CURL *take(ms_http_client *c) {
  if (c->npool > 0) {
    CURL *e = c->pool[--c->npool];
    curl_easy_reset(e);
    return e;
  }
  return curl_easy_init();
}

static void give(ms_http_client *c, CURL *e) {
  if (c->npool < c->cfg.concurrency) c->pool[c->npool++] = e;
  else curl_easy_cleanup(e);
}

static int start(ms_http_client *c, ms_http_req *r, ms_err *err) {
  CURL *e = take(c);
  const ms_http_cfg *cfg = &c->cfg;
  int i;
  if (e == NULL) return ms_err_set(err, MS_ENOMEM, "out of memory (curl)");
  r->head.len = 0;
  r->resp.len = 0;
  r->error[0] = '\0';
  r->status = 0;
  r->too_big = 0;
  r->max_body = c->cfg.max_body;
  r->attempts++;
  if (r->slist == NULL) {
    struct curl_slist *l = NULL, *n;
    for (i = 0; r->headers && r->headers[i]; i++) {
      n = curl_slist_append(l, r->headers[i]);
      if (n == NULL) {
        curl_slist_free_all(l);
        give(c, e);
        return ms_err_set(err, MS_ENOMEM, "out of memory (headers)");
      }
      l = n;
    }
    /* no "Expect: 100-continue" round trip for request bodies */
    n = curl_slist_append(l, "Expect:");
    if (n == NULL) {
      curl_slist_free_all(l);
      give(c, e);
      return ms_err_set(err, MS_ENOMEM, "out of memory (headers)");
    }
    r->slist = n;
  }
  curl_easy_setopt(e, CURLOPT_URL, r->url);
  /* http and https only, and no redirect is followed by libcurl: the Lua
     client follows them itself, origin by origin */
#if LIBCURL_VERSION_NUM >= 0x075500
  curl_easy_setopt(e, CURLOPT_PROTOCOLS_STR, "http,https");
  curl_easy_setopt(e, CURLOPT_REDIR_PROTOCOLS_STR, "http,https");
#else
  curl_easy_setopt(e, CURLOPT_PROTOCOLS, (long)(CURLPROTO_HTTP | CURLPROTO_HTTPS));
  curl_easy_setopt(e, CURLOPT_REDIR_PROTOCOLS,
                   (long)(CURLPROTO_HTTP | CURLPROTO_HTTPS));
#endif
  curl_easy_setopt(e, CURLOPT_FOLLOWLOCATION, 0L);
  curl_easy_setopt(e, CURLOPT_CUSTOMREQUEST, r->method);
  if (strcasecmp(r->method, "HEAD") == 0) curl_easy_setopt(e, CURLOPT_NOBODY, 1L);
  if (r->body != NULL) {
    curl_easy_setopt(e, CURLOPT_POSTFIELDS, r->body);
    curl_easy_setopt(e, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)r->body_len);
  }
  curl_easy_setopt(e, CURLOPT_HTTPHEADER, r->slist);
  curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, onbody);
  curl_easy_setopt(e, CURLOPT_WRITEDATA, r);
  curl_easy_setopt(e, CURLOPT_HEADERFUNCTION, onheader);
  curl_easy_setopt(e, CURLOPT_HEADERDATA, r);
  curl_easy_setopt(e, CURLOPT_PRIVATE, r);
  curl_easy_setopt(e, CURLOPT_ERRORBUFFER, r->error);
  curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt(e, CURLOPT_ACCEPT_ENCODING, "");
  curl_easy_setopt(e, CURLOPT_USERAGENT, c->user_agent);
  curl_easy_setopt(e, CURLOPT_TCP_KEEPALIVE, 1L);
  if (cfg->timeout_ms > 0) curl_easy_setopt(e, CURLOPT_TIMEOUT_MS, cfg->timeout_ms);
  if (cfg->connect_timeout_ms > 0)
    curl_easy_setopt(e, CURLOPT_CONNECTTIMEOUT_MS, cfg->connect_timeout_ms);
  if (cfg->insecure) {
    curl_easy_setopt(e, CURLOPT_SSL_VERIFYPEER, 0L);
    curl_easy_setopt(e, CURLOPT_SSL_VERIFYHOST, 0L);
  }
  if (c->ca_file) curl_easy_setopt(e, CURLOPT_CAINFO, c->ca_file);
  if (c->proxy) curl_easy_setopt(e, CURLOPT_PROXY, c->proxy);
  if (curl_multi_add_handle(c->multi, e) != CURLM_OK) {
    give(c, e);
    return ms_err_set(err, MS_EIO, "curl_multi_add_handle failed");
  }
  r->easy = e;
  c->last_start = now();
  return MS_OK;
}

static int idempotent(const ms_http_client *c, const char *m) {
  if (c->cfg.retry_unsafe) return 1;
  return strcasecmp(m, "POST") != 0 && strcasecmp(m, "PATCH") != 0;
}

double ms_http_retry_after(const char *h) {
  const char *end;
  char val[128];
  size_t n;
  if (h == NULL) return -1;
  while ((h = strchr(h, '\n')) != NULL) {
    h++;
    if (strncasecmp(h, "retry-after:", 12) != 0) continue;
    h += 12;
    while (*h == ' ' || *h == '\t') h++;
    end = strpbrk(h, "\r\n");
    n = end ? (size_t)(end - h) : strlen(h);
    if (n == 0 || n >= sizeof val) return -1;
    memcpy(val, h, n);
    val[n] = '\0';
    if (strspn(val, "0123456789") == n) return atof(val);
    {
      time_t t = curl_getdate(val, NULL);
      if (t == (time_t)-1) return -1;
      return t > time(NULL) ? (double)(t - time(NULL)) : 0;
    }
  }
  return -1;
}

static int retryable_code(CURLcode rc) {
  switch (rc) {
    case CURLE_COULDNT_CONNECT: case CURLE_COULDNT_RESOLVE_HOST:
    case CURLE_OPERATION_TIMEDOUT: case CURLE_SEND_ERROR:
    case CURLE_RECV_ERROR: case CURLE_GOT_NOTHING: case CURLE_PARTIAL_FILE:
    case CURLE_HTTP2: case CURLE_HTTP2_STREAM:
      return 1;
    default:
      return 0;
  }
}

/* Full jitter: a random delay in [d/2, d] with d doubling per attempt. */
static double backoff(ms_http_client *c, int attempt) {
  double d = c->cfg.backoff * pow(2.0, attempt - 1);
  if (d > c->cfg.backoff_max) d = c->cfg.backoff_max;
  c->rng = c->rng * 1103515245u + 12345u;
  return d / 2 + d / 2 * ((double)(c->rng >> 8 & 0xffff) / 65535.0);
}

/* Decides what to do with a finished attempt: 1 to retry (ready_at set),
   0 when the request is done. */
static int finish(ms_http_client *c, ms_http_req *r, CURLcode rc) {
  int retry = 0;
  double wait;
  if (rc == CURLE_OK) {
    curl_easy_getinfo((CURL *)r->easy, CURLINFO_RESPONSE_CODE, &r->status);
    r->failed = 0;
    retry = r->status == 429 || (r->status >= 500 && r->status <= 599 &&
                                 r->status != 501);
  } else {
    /* libcurl's own words for an aborted write say less than the bound */
    if (r->too_big == 1)
      snprintf(r->error, sizeof r->error, "the response body exceeds max_body "
               "(%zu bytes)", r->max_body);
    else if (r->too_big == 2)
      snprintf(r->error, sizeof r->error, "the response headers exceed %zu "
               "bytes", MS_HTTP_MAX_HEAD);
    else if (r->error[0] == '\0')
      snprintf(r->error, sizeof r->error, "%s", curl_easy_strerror(rc));
    r->failed = 1;
    r->status = 0;
    /* a response over its bound would be as big again */
    retry = !r->too_big && retryable_code(rc);
  }
  if (!retry || r->attempts > c->cfg.retries || !idempotent(c, r->method))
    return 0;
  wait = backoff(c, r->attempts);
  {
    double ra = r->head.data ? ms_http_retry_after(r->head.data) : -1;
    /* the server knows best, within reason */
    if (ra >= 0) wait = ra > MS_HTTP_MAX_RETRY_AFTER ? MS_HTTP_MAX_RETRY_AFTER : ra;
  }
  r->ready_at = now() + wait;
  /* the server is over its limit for everything this client sends, not
     just this request: nothing starts before the retry may */
  if (r->status == 429 && r->ready_at > c->hold_until) c->hold_until = r->ready_at;
  return 1;
}

int ms_http_run(ms_http_client *c, ms_http_req *reqs, size_t n, ms_err *err) {
  return ms_http_run_each(c, reqs, n, NULL, NULL, err);
}

int ms_http_run_each(ms_http_client *c, ms_http_req *reqs, size_t n,
                     void (*done)(void *ud, size_t i), void *ud, ms_err *err) {
  size_t *queue, qhead = 0, qlen = 0, i;
  int inflight = 0, rc = MS_OK;
  if (n == 0) return MS_OK;
  queue = malloc(n * sizeof *queue);
  if (queue == NULL) return ms_err_set(err, MS_ENOMEM, "out of memory");
  for (i = 0; i < n; i++) {
    reqs[i].ready_at = 0;
    reqs[i].attempts = 0;
    reqs[i].easy = NULL;
    reqs[i].unsent = 0;
    queue[qlen++] = i;
  }
  /* queue is a ring of pending request indices */
  while ((qlen > 0 || inflight > 0) && rc == MS_OK) {
    double t = now(), next = -1;
    int running, msgs;
    size_t k, scanned = 0;
    CURLMsg *m;
    /* an interrupt: nothing more is sent; what is in flight finishes */
    if (qlen > 0 && ms_proc_interrupted()) {
      for (k = 0; k < qlen; k++) {
        ms_http_req *r = &reqs[queue[(qhead + k) % n]];
        r->failed = 1;
        if (r->attempts == 0) {
          r->unsent = 1;
          snprintf(r->error, sizeof r->error, "not sent: interrupted");
        }
      }
      qlen = 0;
      if (inflight == 0) break;
    }
    /* start ready requests within the concurrency and rate limits */
    while (qlen > 0 && inflight < c->cfg.concurrency && scanned < qlen) {
      ms_http_req *r = &reqs[queue[qhead]];
      double rate_at = c->cfg.rate > 0 ? c->last_start + 1.0 / c->cfg.rate : 0;
      double at = r->ready_at > rate_at ? r->ready_at : rate_at;
      if (c->hold_until > at) at = c->hold_until;
      if (at > t) {
        if (next < 0 || at < next) next = at;
        /* rotate: a waiting retry must not block fresh requests */
        if (r->ready_at > t) {
          queue[(qhead + qlen) % n] = queue[qhead];
          qhead = (qhead + 1) % n;
          scanned++;
          continue;
        }
        break;
      }
      if ((rc = start(c, r, err)) != MS_OK) break;
      qhead = (qhead + 1) % n;
      qlen--;
      inflight++;
      t = now();
    }
    if (rc != MS_OK) break;
    if (curl_multi_perform(c->multi, &running) != CURLM_OK) {
      rc = ms_err_set(err, MS_EIO, "curl_multi_perform failed");
      break;
    }
    while ((m = curl_multi_info_read(c->multi, &msgs)) != NULL) {
      ms_http_req *r;
      CURL *e;
      if (m->msg != CURLMSG_DONE) continue;
      e = m->easy_handle;
      curl_easy_getinfo(e, CURLINFO_PRIVATE, (char **)&r);
      /* read everything from the message before removing the handle */
      {
        CURLcode res = m->data.result;
        int again = finish(c, r, res);
        curl_multi_remove_handle(c->multi, e);
        give(c, e);
        r->easy = NULL;
        inflight--;
        if (again) {
          queue[(qhead + qlen) % n] = (size_t)(r - reqs);
          qlen++;
        } else if (done != NULL) {
          done(ud, (size_t)(r - reqs));
        }
      }
    }
    if (inflight == 0 && qlen == 0) break;
    {
      /* sleep until socket activity, curl's own timers, or the next
         request may start */
      long ms = 1000;
      t = now();
      if (qlen > 0 && inflight < c->cfg.concurrency) {
        if (next < 0) {
          /* something may start now: find the earliest ready time */
          for (k = 0; k < qlen; k++) {
            double at = reqs[queue[(qhead + k) % n]].ready_at;
            if (c->cfg.rate > 0 && c->last_start + 1.0 / c->cfg.rate > at)
              at = c->last_start + 1.0 / c->cfg.rate;
            if (c->hold_until > at) at = c->hold_until;
            if (next < 0 || at < next) next = at;
          }
        }
        ms = next <= t ? 0 : (long)((next - t) * 1000) + 1;
      }
      if (ms > 0 && curl_multi_poll(c->multi, NULL, 0, (int)(ms > 1000 ? 1000 : ms),
                                    NULL) != CURLM_OK) {
        rc = ms_err_set(err, MS_EIO, "curl_multi_poll failed");
        break;
      }
    }
  }
  if (rc != MS_OK) {
    /* detach whatever is still in flight */
    for (i = 0; i < n; i++) {
      if (reqs[i].easy != NULL) {
        curl_multi_remove_handle(c->multi, (CURL *)reqs[i].easy);
        give(c, (CURL *)reqs[i].easy);
        reqs[i].easy = NULL;
      }
    }
  }
  free(queue);
  return rc;
}
