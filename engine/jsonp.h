/*
** jsonp.h: the JSON reader's parts, for readers that build something
** other than a value tree (load.c builds records straight from the text).
** Internal to the engine.
*/
#ifndef MS_JSONP_H
#define MS_JSONP_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "arena.h"
#include "err.h"
#include "value.h"

typedef struct parser {
  const char *start, *p, *end;  /* the text; *end is '\0' */
  const char *name;             /* for messages: "source.json:3:14: ..." */
  ms_arena *a;                  /* decoded strings and value trees */
  ms_value *stack;              /* scratch for containers being built */
  size_t top, cap;
  ms_err *err;
} parser;

/* MS_EPARSE at `at`, with line and column counted from ps->start. */
int ms_jp_fail(parser *ps, const char *at, const char *what);
/* A parser at the start of text[0..len) (NUL-terminated), past a UTF-8
   byte order mark; what it decodes or builds goes to a, errors name
   `name` (NULL: "<json>"). Its stack is freed by the caller. */
void ms_jp_init(parser *ps, const char *text, size_t len, const char *name,
                ms_arena *a, ms_err *err);
/* MS_OK when nothing but whitespace is left of the text. */
int ms_jp_end(parser *ps);
/* Whether a[0..n) equals b[0..n): short ones (keys, literals) compared in
   place by words read within the n bytes, long ones by memcmp. */
static inline int ms_jp_same(const char *a, const char *b, size_t n) {
  uint64_t x, y, u, v;
  uint32_t p, q, s, t;
  if (n >= 8 && n <= 16) {
    memcpy(&x, a, 8); memcpy(&y, b, 8);
    memcpy(&u, a + n - 8, 8); memcpy(&v, b + n - 8, 8);
    return x == y && u == v;
  }
  if (n >= 4 && n < 8) {
    memcpy(&p, a, 4); memcpy(&q, b, 4);
    memcpy(&s, a + n - 4, 4); memcpy(&t, b + n - 4, 4);
    return p == q && s == t;
  }
  if (n < 4) {
    size_t i;
    for (i = 0; i < n; i++)
      if (a[i] != b[i]) return 0;
    return 1;
  }
  return memcmp(a, b, n) == 0;
}

/* Skips JSON whitespace (the text ends with a byte that is not). Inline:
   mostly there is none. */
static inline void ms_jp_skipws(parser *ps) {
  const char *p = ps->p;
  if ((unsigned char)*p > ' ') return;
  while (*p == ' ' || *p == '\n' || *p == '\r' || *p == '\t') p++;
  ps->p = p;
}
/* ps->p just past the opening quote. A string without escapes points
   into the text; one with escapes is decoded into ps->a. */
int ms_jp_string(parser *ps, ms_value *out);
int ms_jp_number(parser *ps, ms_value *out);
int ms_jp_literal(parser *ps, const char *word, size_t n);
/* An object's key and its ':', ps->p at the key's opening quote; ps->p
   is left just past the ':'. Inline: the loader reads millions. */
static inline int ms_jp_key(parser *ps, ms_value *k) {
  int rc;
  if (*ps->p != '"') return ms_jp_fail(ps, ps->p, "expected a string key");
  ps->p++;
  if ((rc = ms_jp_string(ps, k)) != MS_OK) return rc;
  ms_jp_skipws(ps);
  if (*ps->p != ':') return ms_jp_fail(ps, ps->p, "expected ':' after key");
  ps->p++;
  return MS_OK;
}
/* Any value, containers built into ps->a. */
int ms_jp_value(parser *ps, ms_value *out, int depth);

#endif
