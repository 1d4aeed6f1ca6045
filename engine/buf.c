/*
** buf.c: growable byte buffer (see buf.h).
*/
#include "buf.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>

int ms_buf_grow(ms_buf *b, size_t n) {
  size_t cap = b->cap ? b->cap : 256;
  char *p;
  if (b->oom) return -1;
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
