/*
** buf.c: growable byte buffer (see buf.h).
*/
#include "buf.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>

int ms_buf_flush(ms_buf *b) {
  int e;
  if (b->oom) return -1;
  if (b->sink == NULL || b->len == 0) return 0;
  e = b->sink(b->sink_ud, b->data, b->len);
  b->len = 0;
  if (e != 0) b->oom = 1;
  return e;
}

int ms_buf_grow(ms_buf *b, size_t n) {
  size_t cap = b->cap ? b->cap : 256;
  char *p;
  if (b->oom) return -1;
  if (b->sink != NULL && b->len + n >= MS_BUF_CHUNK && b->len > 0) {
    if (ms_buf_flush(b) != 0) return -1;
    if (b->cap - b->len > n) return 0;
  }
  while (cap - b->len <= n) {
    if (cap > ((size_t)-1) / 2) { b->oom = 1; return -1; }
    cap *= 2;
  }
  p = realloc(b->data, cap);
  if (p == NULL) { b->oom = 1; return -1; }
  b->data = p;
  b->cap = cap;
  return 0;
}

void ms_buf_put_i64(ms_buf *b, long long v) {
  char tmp[24], *p = tmp + sizeof tmp;
  unsigned long long u = v < 0 ? 0ULL - (unsigned long long)v : (unsigned long long)v;
  do {
    *--p = (char)('0' + u % 10);
    u /= 10;
  } while (u != 0);
  if (v < 0) *--p = '-';
  ms_buf_add(b, p, (size_t)(tmp + sizeof tmp - p));
}

void ms_buf_fill(ms_buf *b, char c, size_t n) {
  if (b->cap - b->len <= n && ms_buf_grow(b, n) != 0) return;
  memset(b->data + b->len, c, n);
  b->len += n;
  b->data[b->len] = '\0';
}

void ms_buf_printf(ms_buf *b, const char *fmt, ...) {
  va_list ap;
  int n;
  va_start(ap, fmt);
  n = vsnprintf(NULL, 0, fmt, ap);
  va_end(ap);
  if (n < 0 || (b->cap - b->len <= (size_t)n && ms_buf_grow(b, (size_t)n)))
    return;
  va_start(ap, fmt);
  vsnprintf(b->data + b->len, (size_t)n + 1, fmt, ap);
  va_end(ap);
  b->len += (size_t)n;
}

void ms_buf_free(ms_buf *b) {
  free(b->data);
  b->data = NULL;
  b->len = b->cap = 0;
  b->oom = 0;
}
