/*
** buf.h: growable byte buffer used to build every text output. Appends
** never fail loudly: an allocation failure sets `oom` and later appends
** are ignored, so callers check once at the end.
*/
#ifndef MS_BUF_H
#define MS_BUF_H

#include <stddef.h>
#include <string.h>

typedef struct ms_buf {
  char *data;   /* owned; NUL-terminated when len > 0 */
  size_t len, cap;
  int oom;      /* out of memory, or the sink failed */
  /* a sink takes the text out in chunks instead of the buffer growing
     past MS_BUF_CHUNK (ms_buf_flush hands over the rest); 0 or an errno */
  int (*sink)(void *ud, const char *p, size_t n);
  void *sink_ud;
} ms_buf;

#define MS_BUF_INIT {NULL, 0, 0, 0, NULL, NULL}
#define MS_BUF_CHUNK ((size_t)1 << 20)

/* Makes room for n more bytes; returns 0 on success, -1 when out of memory. */
int ms_buf_grow(ms_buf *b, size_t n);

static inline void ms_buf_add(ms_buf *b, const char *s, size_t n) {
  if (b->cap - b->len <= n && ms_buf_grow(b, n) != 0) return;
  memcpy(b->data + b->len, s, n);
  b->len += n;
  b->data[b->len] = '\0';
}

static inline void ms_buf_puts(ms_buf *b, const char *s) {
  ms_buf_add(b, s, strlen(s));
}

static inline void ms_buf_putc(ms_buf *b, char c) {
  if (b->cap - b->len <= 1 && ms_buf_grow(b, 1) != 0) return;
  b->data[b->len++] = c;
  b->data[b->len] = '\0';
}

/* Appends the decimal digits of v. */
void ms_buf_put_i64(ms_buf *b, long long v);

/* Appends n copies of c. */
void ms_buf_fill(ms_buf *b, char c, size_t n);

void ms_buf_printf(ms_buf *b, const char *fmt, ...)
#if defined(__GNUC__)
  __attribute__((format(printf, 2, 3)))
#endif
  ;

/* Hands the text gathered to the sink; 0, or the sink's errno. */
int ms_buf_flush(ms_buf *b);

/* Frees the data; the buffer is empty and usable again. */
void ms_buf_free(ms_buf *b);

#endif
