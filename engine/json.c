/*
** json.c: recursive-descent JSON reader (see json.h). Container items are
** collected on one scratch stack and copied into the arena when the
** container closes, so a parse costs one arena copy per value.
*/
#include "json.h"
#include "jsonp.h"

#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>
#ifdef __SSE2__
#include <emmintrin.h>
#endif

#define XXH_INLINE_ALL
#include <xxhash.h>

int ms_jp_fail(parser *ps, const char *at, const char *what) {
  size_t line = 1, col = 1;
  const char *q;
  if (at > ps->end) at = ps->end;
  for (q = ps->start; q < at; q++) {
    if (*q == '\n') { line++; col = 1; }
    else if (((unsigned char)*q & 0xc0) != 0x80) col++;
  }
  return ms_err_set(ps->err, MS_EPARSE, "%s:%zu:%zu: %s", ps->name, line,
                    col, what);
}

static int oom(parser *ps) {
  return ms_err_set(ps->err, MS_ENOMEM, "%s: out of memory", ps->name);
}


static int push(parser *ps, const ms_value *v) {
  if (ps->top == ps->cap) {
    size_t cap = ps->cap ? ps->cap * 2 : 1024;
    ms_value *s = realloc(ps->stack, cap * sizeof *s);
    if (s == NULL) return oom(ps);
    ps->stack = s;
    ps->cap = cap;
  }
  ps->stack[ps->top++] = *v;
  return MS_OK;
}

/* Length of a valid UTF-8 sequence at s, or 0. */
static size_t utf8len(const unsigned char *s, const unsigned char *end) {
  unsigned c = s[0];
  size_t n, i;
  unsigned cp;
  if (c < 0xc2) return 0;
  n = c < 0xe0 ? 2 : c < 0xf0 ? 3 : c < 0xf5 ? 4 : 0;
  if (n == 0 || (size_t)(end - s) < n) return 0;
  cp = c & (0xff >> (n + 1));
  for (i = 1; i < n; i++) {
    if ((s[i] & 0xc0) != 0x80) return 0;
    cp = (cp << 6) | (s[i] & 0x3f);
  }
  if ((n == 3 && cp < 0x800) || (n == 4 && (cp < 0x10000 || cp > 0x10ffff)))
    return 0;
  if (cp >= 0xd800 && cp <= 0xdfff) return 0;
  return n;
}

static int hex4(const char *p, unsigned *out) {
  unsigned v = 0;
  int i;
  for (i = 0; i < 4; i++) {
    char c = p[i];
    v <<= 4;
    if (c >= '0' && c <= '9') v |= (unsigned)(c - '0');
    else if (c >= 'a' && c <= 'f') v |= (unsigned)(c - 'a' + 10);
    else if (c >= 'A' && c <= 'F') v |= (unsigned)(c - 'A' + 10);
    else return -1;
  }
  *out = v;
  return 0;
}

static size_t utf8enc(char *o, unsigned cp) {
  if (cp < 0x80) { o[0] = (char)cp; return 1; }
  if (cp < 0x800) {
    o[0] = (char)(0xc0 | (cp >> 6));
    o[1] = (char)(0x80 | (cp & 0x3f));
    return 2;
  }
  if (cp < 0x10000) {
    o[0] = (char)(0xe0 | (cp >> 12));
    o[1] = (char)(0x80 | ((cp >> 6) & 0x3f));
    o[2] = (char)(0x80 | (cp & 0x3f));
    return 3;
  }
  o[0] = (char)(0xf0 | (cp >> 18));
  o[1] = (char)(0x80 | ((cp >> 12) & 0x3f));
  o[2] = (char)(0x80 | ((cp >> 6) & 0x3f));
  o[3] = (char)(0x80 | (cp & 0x3f));
  return 4;
}

/* ps->p is just past the opening quote. */
/* The first byte at or after p that ends a plain run of a string: a
   quote, a backslash, a control character or a non-ASCII byte; end if
   none. Sixteen bytes at a time where SSE2 is there. */
static const unsigned char *plainrun(const unsigned char *p,
                                     const unsigned char *end) {
#ifdef __SSE2__
  const __m128i quote = _mm_set1_epi8('"'), bslash = _mm_set1_epi8('\\');
  const __m128i space = _mm_set1_epi8(0x20);
  while (end - p >= 16) {
    __m128i v = _mm_loadu_si128((const __m128i *)(const void *)p);
    /* as signed bytes, 0x80-0xff are below 0x20 too */
    __m128i stop = _mm_or_si128(_mm_or_si128(_mm_cmpeq_epi8(v, quote),
                                             _mm_cmpeq_epi8(v, bslash)),
                                _mm_cmplt_epi8(v, space));
    int m = _mm_movemask_epi8(stop);
    if (m != 0) return p + __builtin_ctz((unsigned)m);
    p += 16;
  }
#endif
  while (p < end && *p >= 0x20 && *p < 0x80 && *p != '"' && *p != '\\') p++;
  return p;
}

int ms_jp_string(parser *ps, ms_value *out) {
  const unsigned char *s = (const unsigned char *)ps->p;
  const unsigned char *p = s, *end = (const unsigned char *)ps->end;
  char *o, *obase;
  for (;;) {
    p = plainrun(p, end);
    if (p >= end) return ms_jp_fail(ps, (const char *)p, "unterminated string");
    if (*p == '"') {
      *out = ms_value_str((const char *)s, (size_t)(p - s));
      ps->p = (const char *)p + 1;
      return MS_OK;
    }
    if (*p == '\\') break;
    if (*p < 0x20)
      return ms_jp_fail(ps, (const char *)p, "control character in string");
    {
      size_t n = utf8len(p, end);
      if (n == 0) return ms_jp_fail(ps, (const char *)p, "invalid UTF-8 in string");
      p += n;
    }
  }
  /* escapes: decode into an arena copy; the output is never longer */
  {
    const unsigned char *q = p;
    size_t need;
    while (q < end && *q != '"') q += (*q == '\\' && q + 1 < end) ? 2 : 1;
    need = (size_t)(q - s) + 1;
    obase = o = ms_arena_alloc(ps->a, need);
    if (o == NULL) return oom(ps);
  }
  memcpy(o, s, (size_t)(p - s));
  o += p - s;
  while (p < end && *p != '"') {
    if (*p == '\\') {
      unsigned cp, lo;
      p++;
      switch (*p) {
        case '"': *o++ = '"'; p++; break;
        case '\\': *o++ = '\\'; p++; break;
        case '/': *o++ = '/'; p++; break;
        case 'b': *o++ = '\b'; p++; break;
        case 'f': *o++ = '\f'; p++; break;
        case 'n': *o++ = '\n'; p++; break;
        case 'r': *o++ = '\r'; p++; break;
        case 't': *o++ = '\t'; p++; break;
        case 'u':
          if (end - p < 5 || hex4((const char *)p + 1, &cp))
            return ms_jp_fail(ps, (const char *)p - 1, "invalid \\u escape");
          p += 5;
          if (cp >= 0xd800 && cp <= 0xdbff) {
            if (end - p < 6 || p[0] != '\\' || p[1] != 'u' ||
                hex4((const char *)p + 2, &lo) || lo < 0xdc00 || lo > 0xdfff)
              return ms_jp_fail(ps, (const char *)p - 6,
                          "lone UTF-16 surrogate in \\u escape");
            cp = 0x10000 + ((cp - 0xd800) << 10) + (lo - 0xdc00);
            p += 6;
          } else if (cp >= 0xdc00 && cp <= 0xdfff) {
            return ms_jp_fail(ps, (const char *)p - 6,
                        "lone UTF-16 surrogate in \\u escape");
          }
          o += utf8enc(o, cp);
          break;
        default:
          return ms_jp_fail(ps, (const char *)p - 1, "invalid escape in string");
      }
    } else if (*p < 0x20) {
      return ms_jp_fail(ps, (const char *)p, "control character in string");
    } else if (*p < 0x80) {
      *o++ = (char)*p++;
    } else {
      size_t n = utf8len(p, end);
      if (n == 0) return ms_jp_fail(ps, (const char *)p, "invalid UTF-8 in string");
      memcpy(o, p, n);
      o += n;
      p += n;
    }
  }
  if (p >= end) return ms_jp_fail(ps, (const char *)p, "unterminated string");
  *out = ms_value_str(obase, (size_t)(o - obase));
  ps->p = (const char *)p + 1;
  return MS_OK;
}

/* Exact powers of ten as doubles (10^22 is the largest). */
static const double pow10[] = {1e0, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8,
  1e9, 1e10, 1e11, 1e12, 1e13, 1e14, 1e15, 1e16, 1e17, 1e18, 1e19, 1e20,
  1e21, 1e22};

/* n = n * 10 + the digit c; non-zero when that leaves 64 bits (n is then
   not used). */
static inline int digit(uint64_t *n, char c) {
  return __builtin_mul_overflow(*n, 10u, n) |
         __builtin_add_overflow(*n, (uint64_t)(c - '0'), n);
}

int ms_jp_number(parser *ps, ms_value *out) {
  const char *p = ps->p, *begin = p;
  int neg = 0, isfloat = 0;
  uint64_t n = 0;
  int overflow = 0;
  int fdigits = 0, hasexp = 0;  /* for the fast path of floats */
  if (*p == '-') { neg = 1; p++; }
  if (*p == '0') {
    p++;
  } else if (*p >= '1' && *p <= '9') {
    while (*p >= '0' && *p <= '9') overflow |= digit(&n, *p++);
  } else {
    return ms_jp_fail(ps, begin, "invalid number");
  }
  if (*p == '.') {
    isfloat = 1;
    p++;
    if (!(*p >= '0' && *p <= '9')) return ms_jp_fail(ps, p, "invalid number");
    while (*p >= '0' && *p <= '9') {
      overflow |= digit(&n, *p++);
      fdigits++;
    }
  }
  if (*p == 'e' || *p == 'E') {
    isfloat = hasexp = 1;
    p++;
    if (*p == '+' || *p == '-') p++;
    if (!(*p >= '0' && *p <= '9')) return ms_jp_fail(ps, p, "invalid number");
    while (*p >= '0' && *p <= '9') p++;
  }
  if (isfloat) {
    out->type = MS_FLOAT;
    out->len = 0;
    /* digits and a point only, the digits an exact double, and a power of
       ten that is one too: one rounding, as strtod's (Clinger's fast path) */
    if (!overflow && !hasexp && n <= (1ULL << 53) && fdigits <= 22) {
      double d = (double)n / pow10[fdigits];
      out->u.f = neg ? -d : d;
      ps->p = p;
      return MS_OK;
    }
    out->u.f = strtod(begin, NULL);
    if (isinf(out->u.f))
      return ms_jp_fail(ps, begin, "number out of the range of a 64-bit float");
  } else {
    if (overflow || (neg ? n > (uint64_t)INT64_MAX + 1 : n > INT64_MAX))
      return ms_jp_fail(ps, begin, "integer out of the 64-bit range");
    out->type = MS_INT;
    out->len = 0;
    out->u.i = neg ? (int64_t)(0 - n) : (int64_t)n;
  }
  ps->p = p;
  return MS_OK;
}

/* The index of the first key that repeats an earlier one, or n. */
static uint32_t firstdup(const ms_value *kv, uint32_t n) {
  uint32_t i, j;
  for (i = 1; i < n; i++)
    for (j = 0; j < i; j++)
      if (kv[2 * j].len == kv[2 * i].len &&
          memcmp(kv[2 * j].u.s, kv[2 * i].u.s, kv[2 * i].len) == 0)
        return i;
  return n;
}

static int hasdupes(const ms_value *kv, uint32_t n) {
  uint32_t i, j;
  if (n <= 32) {
    for (i = 1; i < n; i++)
      for (j = 0; j < i; j++)
        if (kv[2 * j].len == kv[2 * i].len &&
            memcmp(kv[2 * j].u.s, kv[2 * i].u.s, kv[2 * i].len) == 0)
          return 1;
    return 0;
  } else {
    /* open-addressing set of key hashes; a hash hit is confirmed by
       firstdup(), which compares the keys */
    size_t cap = 64, mask;
    uint64_t *set;
    int dup = 0;
    while (cap < (size_t)n * 2) cap *= 2;
    set = calloc(cap, sizeof *set);
    if (set == NULL) return 1;
    mask = cap - 1;
    for (i = 0; i < n && !dup; i++) {
      uint64_t h = XXH3_64bits(kv[2 * i].u.s, kv[2 * i].len) | 1;
      size_t k = (size_t)h & mask;
      while (set[k] != 0) {
        if (set[k] == h) { dup = 1; break; }
        k = (k + 1) & mask;
      }
      set[k] = h;
    }
    free(set);
    return dup;
  }
}


/* `start`: where the container opens (named by a duplicate key's error:
   a key given twice is an error, not last-wins, identifiers included) */
static int finish(parser *ps, size_t base, ms_value *out, int type,
                  const char *start) {
  size_t n = ps->top - base;
  ms_value *items = NULL;
  if (type == MS_MAP && n > 2 && hasdupes(ps->stack + base, (uint32_t)(n / 2))) {
    uint32_t d = firstdup(ps->stack + base, (uint32_t)(n / 2));
    if (d < n / 2) {
      const ms_value *k = &ps->stack[base + 2 * d];
      char what[160];
      snprintf(what, sizeof what, "the object that starts here has the key "
               "\"%.*s%s\" twice", (int)(k->len > 60 ? 60 : k->len), k->u.s,
               k->len > 60 ? "..." : "");
      return ms_jp_fail(ps, start, what);
    }
  }
  if (n > UINT32_MAX) return ms_jp_fail(ps, ps->p, "container too large");
  if (n) {
    items = ms_arena_alloc(ps->a, n * sizeof *items);
    if (items == NULL) return oom(ps);
    memcpy(items, ps->stack + base, n * sizeof *items);
  }
  ps->top = base;
  out->type = (uint8_t)type;
  out->len = (uint32_t)(type == MS_MAP ? n / 2 : n);
  out->u.items = items;
  return MS_OK;
}

static int parsearr(parser *ps, ms_value *out, int depth) {
  size_t base = ps->top;
  const char *start = ps->p;
  ms_value v;
  int rc;
  ps->p++;
  ms_jp_skipws(ps);
  if (*ps->p == ']') { ps->p++; return finish(ps, base, out, MS_LIST, start); }
  for (;;) {
    if ((rc = ms_jp_value(ps, &v, depth + 1)) != MS_OK) return rc;
    if ((rc = push(ps, &v)) != MS_OK) return rc;
    ms_jp_skipws(ps);
    if (*ps->p == ',') { ps->p++; continue; }
    if (*ps->p == ']') { ps->p++; return finish(ps, base, out, MS_LIST, start); }
    return ms_jp_fail(ps, ps->p, "expected ',' or ']' in array");
  }
}

static int parseobj(parser *ps, ms_value *out, int depth) {
  size_t base = ps->top;
  const char *start = ps->p;
  ms_value k, v;
  int rc;
  ps->p++;
  ms_jp_skipws(ps);
  if (*ps->p == '}') { ps->p++; return finish(ps, base, out, MS_MAP, start); }
  for (;;) {
    if ((rc = ms_jp_key(ps, &k)) != MS_OK) return rc;
    if ((rc = ms_jp_value(ps, &v, depth + 1)) != MS_OK) return rc;
    if ((rc = push(ps, &k)) != MS_OK || (rc = push(ps, &v)) != MS_OK)
      return rc;
    ms_jp_skipws(ps);
    if (*ps->p == ',') { ps->p++; ms_jp_skipws(ps); continue; }
    if (*ps->p == '}') { ps->p++; return finish(ps, base, out, MS_MAP, start); }
    return ms_jp_fail(ps, ps->p, "expected ',' or '}' in object");
  }
}

int ms_jp_literal(parser *ps, const char *word, size_t n) {
  if ((size_t)(ps->end - ps->p) < n || !ms_jp_same(ps->p, word, n))
    return ms_jp_fail(ps, ps->p, "invalid literal");
  ps->p += n;
  return MS_OK;
}

int ms_jp_value(parser *ps, ms_value *out, int depth) {
  if (depth > MS_JSON_MAX_DEPTH)
    return ms_jp_fail(ps, ps->p, "nesting deeper than 16384 levels");
  ms_jp_skipws(ps);
  if (ps->p >= ps->end) return ms_jp_fail(ps, ps->p, "unexpected end of input");
  switch (*ps->p) {
    case '{': return parseobj(ps, out, depth);
    case '[': return parsearr(ps, out, depth);
    case '"': ps->p++; return ms_jp_string(ps, out);
    case 't': *out = ms_nil; out->type = MS_BOOL; out->u.b = 1;
      return ms_jp_literal(ps, "true", 4);
    case 'f': *out = ms_nil; out->type = MS_BOOL; out->u.b = 0;
      return ms_jp_literal(ps, "false", 5);
    case 'n': *out = ms_nil; return ms_jp_literal(ps, "null", 4);
    default:
      if (*ps->p == '-' || (*ps->p >= '0' && *ps->p <= '9'))
        return ms_jp_number(ps, out);
      return ms_jp_fail(ps, ps->p, "unexpected character");
  }
}

void ms_jp_init(parser *ps, const char *text, size_t len, const char *name,
                ms_arena *a, ms_err *err) {
  memset(ps, 0, sizeof *ps);
  ps->start = ps->p = text;
  ps->end = text + len;
  ps->name = name ? name : "<json>";
  ps->a = a;
  ps->err = err;
  if (len >= 3 && memcmp(text, "\xef\xbb\xbf", 3) == 0) ps->p += 3;
}

int ms_jp_end(parser *ps) {
  ms_jp_skipws(ps);
  if (ps->p != ps->end) return ms_jp_fail(ps, ps->p, "unexpected data after JSON value");
  return MS_OK;
}

int ms_json_parse(ms_arena *a, const char *text, size_t len,
                  const char *name, ms_value *out, ms_err *err) {
  parser ps;
  int rc;
  ms_jp_init(&ps, text, len, name, a, err);
  rc = ms_jp_value(&ps, out, 0);
  if (rc == MS_OK) rc = ms_jp_end(&ps);
  free(ps.stack);
  return rc;
}

int ms_read_file(ms_arena *a, const char *path, char **data, size_t *len,
                 ms_err *err) {
  struct stat st;
  char *buf;
  size_t got = 0;
  int fd = open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0)
    return ms_err_set(err, MS_EIO, "%s: cannot open: %s", path, strerror(errno));
  if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
    close(fd);
    return ms_err_set(err, MS_EIO, "%s: not a regular file", path);
  }
  buf = ms_arena_alloc(a, (size_t)st.st_size + 1);
  if (buf == NULL) {
    close(fd);
    return ms_err_set(err, MS_ENOMEM, "%s: out of memory", path);
  }
  while (got < (size_t)st.st_size) {
    ssize_t r = read(fd, buf + got, (size_t)st.st_size - got);
    if (r < 0 && errno == EINTR) continue;
    if (r <= 0) {
      int e = errno;
      close(fd);
      return ms_err_set(err, MS_EIO, "%s: read failed: %s", path,
                        r == 0 ? "file shrank while reading" : strerror(e));
    }
    got += (size_t)r;
  }
  close(fd);
  buf[got] = '\0';
  *data = buf;
  *len = got;
  return MS_OK;
}

int ms_json_load(ms_arena *a, const char *path, ms_value *out, ms_err *err) {
  char *data;
  size_t len;
  int rc = ms_read_file(a, path, &data, &len, err);
  if (rc != MS_OK) return rc;
  return ms_json_parse(a, data, len, path, out, err);
}

int ms_text_map(const char *path, ms_text *t, ms_err *err) {
  struct stat sb;
  size_t page = (size_t)sysconf(_SC_PAGESIZE);
  char *map;
  int fd = open(path, O_RDONLY | O_CLOEXEC);
  memset(t, 0, sizeof *t);
  if (fd < 0)
    return ms_err_set(err, MS_EIO, "%s: cannot open: %s", path, strerror(errno));
  if (fstat(fd, &sb) != 0 || !S_ISREG(sb.st_mode)) {
    close(fd);
    return ms_err_set(err, MS_EIO, "%s: not a regular file", path);
  }
  t->span = ((size_t)sb.st_size / page + 1) * page;
  map = mmap(NULL, t->span, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (map != MAP_FAILED && sb.st_size > 0 &&
      mmap(map, (size_t)sb.st_size, PROT_READ, MAP_PRIVATE | MAP_FIXED, fd, 0)
      == MAP_FAILED) {
    munmap(map, t->span);
    map = MAP_FAILED;
  }
  close(fd);
  if (map == MAP_FAILED && errno == ENOMEM)
    return ms_err_set(err, MS_ENOMEM, "%s: out of memory (mapping the file)", path);
  if (map == MAP_FAILED)
    return ms_err_set(err, MS_EIO, "%s: cannot map: %s", path, strerror(errno));
  if (sb.st_size > 0) madvise(map, (size_t)sb.st_size, MADV_SEQUENTIAL);
  t->data = t->released = map;
  t->len = (size_t)sb.st_size;
  return MS_OK;
}

void ms_text_release(ms_text *t, const char *upto, size_t step) {
  size_t page = (size_t)sysconf(_SC_PAGESIZE);
  const char *edge;
  if (t->data == NULL || (size_t)(upto - t->released) < step) return;
  edge = t->data + ((size_t)(upto - t->data) / page) * page;
  if (edge > t->released) {
    madvise((void *)t->released, (size_t)(edge - t->released), MADV_DONTNEED);
    t->released = edge;
  }
}

void ms_text_unmap(ms_text *t) {
  if (t->data != NULL) munmap((void *)t->data, t->span);
  memset(t, 0, sizeof *t);
}
