/*
** value.c: Python equality, str/repr and JSON output for ms_value.
*/
#include "value.h"

#include <float.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define XXH_INLINE_ALL
#include <xxhash.h>

const ms_value ms_nil = {MS_NIL, 0, {0}};

/* {====== equality ======} */

/* bool, int and float compare as numbers (True == 1, 1.0 == 1) */
static int isnum(const ms_value *v) {
  return v->type == MS_BOOL || v->type == MS_INT || v->type == MS_FLOAT;
}

static int numeq(const ms_value *a, const ms_value *b) {
  if (a->type == MS_FLOAT || b->type == MS_FLOAT) {
    const ms_value *f = a->type == MS_FLOAT ? a : b;
    const ms_value *o = a->type == MS_FLOAT ? b : a;
    int64_t n;
    if (o->type == MS_FLOAT) return f->u.f == o->u.f;
    n = o->type == MS_BOOL ? o->u.b : o->u.i;
    /* exact comparison of an integer with a double, as Python does */
    if (!(f->u.f >= -9223372036854775808.0 && f->u.f < 9223372036854775808.0))
      return 0;
    if (f->u.f != floor(f->u.f)) return 0;
    return (int64_t)f->u.f == n;
  }
  return (a->type == MS_BOOL ? a->u.b : a->u.i) ==
         (b->type == MS_BOOL ? b->u.b : b->u.i);
}

const ms_value *ms_map_get(const ms_value *map, const char *key, size_t n) {
  uint32_t i;
  for (i = 0; i < map->len; i++) {
    const ms_value *k = &map->u.items[2 * i];
    if (k->len == n && memcmp(k->u.s, key, n) == 0)
      return &map->u.items[2 * i + 1];
  }
  return NULL;
}

int ms_value_eq(const ms_value *a, const ms_value *b) {
  uint32_t i;
  if (isnum(a) && isnum(b)) return numeq(a, b);
  if (a->type != b->type) return 0;
  switch (a->type) {
    case MS_NIL: return 1;
    case MS_STR:
      return a->len == b->len && memcmp(a->u.s, b->u.s, a->len) == 0;
    case MS_LIST:
      if (a->len != b->len) return 0;
      for (i = 0; i < a->len; i++)
        if (!ms_value_eq(&a->u.items[i], &b->u.items[i])) return 0;
      return 1;
    case MS_MAP:
      if (a->len != b->len) return 0;
      for (i = 0; i < a->len; i++) {
        const ms_value *k = &a->u.items[2 * i];
        const ms_value *o = ms_map_get(b, k->u.s, k->len);
        if (o == NULL || !ms_value_eq(&a->u.items[2 * i + 1], o)) return 0;
      }
      return 1;
    default:
      return 0;
  }
}

/* {====== hashing ======} */

uint64_t ms_value_hash(const ms_value *v, uint64_t seed) {
  uint64_t h;
  uint32_t i;
  switch (v->type) {
    case MS_NIL: return XXH3_64bits_withSeed("n", 1, seed);
    case MS_BOOL: case MS_INT: case MS_FLOAT: {
      /* numbers hash by value so that 1, 1.0 and true agree */
      double d = v->type == MS_FLOAT ? v->u.f
               : (double)(v->type == MS_BOOL ? v->u.b : v->u.i);
      if (d == 0) d = 0;  /* -0.0 == 0.0 */
      return XXH3_64bits_withSeed(&d, sizeof d, seed ^ 0x6e756dULL);
    }
    case MS_STR: return XXH3_64bits_withSeed(v->u.s, v->len, seed ^ 0x737472ULL);
    case MS_LIST:
      h = seed ^ 0x6c6973ULL;
      for (i = 0; i < v->len; i++) h = ms_value_hash(&v->u.items[i], h);
      return XXH3_64bits_withSeed(&h, sizeof h, v->len);
    case MS_MAP:
      /* order-independent: sum of per-pair hashes */
      h = 0;
      for (i = 0; i < v->len; i++) {
        const ms_value *k = &v->u.items[2 * i];
        uint64_t kh = XXH3_64bits_withSeed(k->u.s, k->len, seed);
        h += ms_value_hash(&v->u.items[2 * i + 1], kh);
      }
      return XXH3_64bits_withSeed(&h, sizeof h, seed ^ 0x6d6170ULL);
    default: return 0;
  }
}

/* {====== Python text forms ======} */

void ms_pyrepr_float(ms_buf *b, double d) {
  char tmp[40], digits[24];
  int prec, exp10, nd = 0, decpt, i;
  const char *p;
  if (isnan(d)) { ms_buf_puts(b, "nan"); return; }
  if (isinf(d)) { ms_buf_puts(b, d < 0 ? "-inf" : "inf"); return; }
  if (d == 0) { ms_buf_puts(b, signbit(d) ? "-0.0" : "0.0"); return; }
  if (fabs(d) < 1e15 && d == (double)(long long)d) {
    ms_buf_put_i64(b, (long long)d);  /* 1000.0 */
    ms_buf_add(b, ".0", 2);
    return;
  }
  /* the shortest digits that read back as d: for a normal double, every
     decimal of up to 15 digits that does is the 15-digit rounding of d
     with zeros after it, so only 15, 16 and 17 digits need a try (a
     subnormal one has fewer bits: all are tried) */
  for (prec = fabs(d) < DBL_MIN ? 1 : 15; prec <= 17; prec++) {
    snprintf(tmp, sizeof tmp, "%.*e", prec - 1, d);
    if (strtod(tmp, NULL) == d) break;
  }
  p = tmp;
  if (*p == '-') { ms_buf_putc(b, '-'); p++; }
  for (; *p && *p != 'e'; p++)
    if (*p != '.') digits[nd++] = *p;
  exp10 = atoi(p + 1);
  while (nd > 1 && digits[nd - 1] == '0') nd--;
  decpt = exp10 + 1;  /* value = 0.DIGITS * 10^decpt */
  if (decpt > -4 && decpt <= 16) {
    if (decpt <= 0) {
      ms_buf_puts(b, "0.");
      ms_buf_fill(b, '0', (size_t)-decpt);
      ms_buf_add(b, digits, (size_t)nd);
    } else if (decpt >= nd) {
      ms_buf_add(b, digits, (size_t)nd);
      ms_buf_fill(b, '0', (size_t)(decpt - nd));
      ms_buf_puts(b, ".0");
    } else {
      ms_buf_add(b, digits, (size_t)decpt);
      ms_buf_putc(b, '.');
      ms_buf_add(b, digits + decpt, (size_t)(nd - decpt));
    }
  } else {
    ms_buf_putc(b, digits[0]);
    if (nd > 1) {
      ms_buf_putc(b, '.');
      ms_buf_add(b, digits + 1, (size_t)(nd - 1));
    }
    i = decpt - 1;
    ms_buf_printf(b, "e%c%02d", i < 0 ? '-' : '+', i < 0 ? -i : i);
  }
}

/* Decodes one UTF-8 sequence at s (n bytes left); returns its length and
   the code point in *cp, or 1 and the raw byte for a malformed sequence. */
static size_t utf8dec(const unsigned char *s, size_t n, unsigned *cp) {
  unsigned c = s[0];
  size_t len, i;
  if (c < 0x80) { *cp = c; return 1; }
  if (c >= 0xf0 && c < 0xf8) { len = 4; c &= 0x07; }
  else if (c >= 0xe0) { len = 3; c &= 0x0f; }
  else if (c >= 0xc0) { len = 2; c &= 0x1f; }
  else { *cp = s[0]; return 1; }
  if (len > n) { *cp = s[0]; return 1; }
  for (i = 1; i < len; i++) {
    if ((s[i] & 0xc0) != 0x80) { *cp = s[0]; return 1; }
    c = (c << 6) | (s[i] & 0x3f);
  }
  *cp = c;
  return len;
}

/* Python's str.isprintable() for code points >= 0x80, covering the
   separator, control, format and private-use ranges that occur in
   practice. */
static int pyprintable(unsigned c) {
  if (c < 0xa1 || c == 0xad) return 0;
  if (c == 0x1680 || (c >= 0x2000 && c <= 0x200f)) return 0;
  if (c >= 0x2028 && c <= 0x202f) return 0;
  if (c >= 0x205f && c <= 0x206f) return 0;
  if (c == 0x3000 || c == 0xfeff) return 0;
  if (c >= 0xd800 && c <= 0xf8ff) return 0;
  if (c >= 0xfff9 && c <= 0xfffb) return 0;
  if (c >= 0xf0000) return 0;
  return 1;
}

void ms_pyrepr_str(ms_buf *b, const char *s, size_t n) {
  const unsigned char *u = (const unsigned char *)s;
  char q = '\'';
  size_t i;
  if (memchr(s, '\'', n) != NULL && memchr(s, '"', n) == NULL) q = '"';
  ms_buf_putc(b, q);
  for (i = 0; i < n;) {
    unsigned c;
    size_t len = utf8dec(u + i, n - i, &c);
    if (c == (unsigned)q || c == '\\') {
      ms_buf_putc(b, '\\');
      ms_buf_putc(b, (char)c);
    } else if (c == '\n') ms_buf_puts(b, "\\n");
    else if (c == '\r') ms_buf_puts(b, "\\r");
    else if (c == '\t') ms_buf_puts(b, "\\t");
    else if (c < 0x20 || c == 0x7f) ms_buf_printf(b, "\\x%02x", c);
    else if (c < 0x80 || pyprintable(c)) ms_buf_add(b, s + i, len);
    else if (c < 0x100) ms_buf_printf(b, "\\x%02x", c);
    else if (c < 0x10000) ms_buf_printf(b, "\\u%04x", c);
    else ms_buf_printf(b, "\\U%08x", c);
    i += len;
  }
  ms_buf_putc(b, q);
}

static void pytext(ms_buf *b, const ms_value *v, int repr) {
  uint32_t i;
  switch (v->type) {
    case MS_NIL: ms_buf_puts(b, "None"); break;
    case MS_BOOL: ms_buf_puts(b, v->u.b ? "True" : "False"); break;
    case MS_INT: ms_buf_put_i64(b, (long long)v->u.i); break;
    case MS_FLOAT: ms_pyrepr_float(b, v->u.f); break;
    case MS_STR:
      if (repr) ms_pyrepr_str(b, v->u.s, v->len);
      else ms_buf_add(b, v->u.s, v->len);
      break;
    case MS_LIST:
      ms_buf_putc(b, '[');
      for (i = 0; i < v->len; i++) {
        if (i) ms_buf_puts(b, ", ");
        pytext(b, &v->u.items[i], 1);
      }
      ms_buf_putc(b, ']');
      break;
    case MS_MAP:
      ms_buf_putc(b, '{');
      for (i = 0; i < v->len; i++) {
        if (i) ms_buf_puts(b, ", ");
        pytext(b, &v->u.items[2 * i], 1);
        ms_buf_puts(b, ": ");
        pytext(b, &v->u.items[2 * i + 1], 1);
      }
      ms_buf_putc(b, '}');
      break;
  }
}

void ms_value_pystr(ms_buf *b, const ms_value *v) { pytext(b, v, 0); }
void ms_value_pyrepr(ms_buf *b, const ms_value *v) { pytext(b, v, 1); }

/* {====== JSON output ======} */

void ms_json_str(ms_buf *b, const char *s, size_t n) {
  size_t i, run = 0;
  for (i = 0; i < n; i++) {
    unsigned char c = (unsigned char)s[i];
    if (c < 0x20 || c == '"' || c == '\\') break;
  }
  if (i == n) {  /* nothing to escape: one copy */
    if (b->cap - b->len <= n + 2 && ms_buf_grow(b, n + 2) != 0) return;
    b->data[b->len] = '"';
    memcpy(b->data + b->len + 1, s, n);
    b->data[b->len + n + 1] = '"';
    b->len += n + 2;
    b->data[b->len] = '\0';
    return;
  }
  ms_buf_putc(b, '"');
  for (i = 0; i < n; i++) {
    unsigned char c = (unsigned char)s[i];
    const char *esc = NULL;
    char tmp[8];
    if (c >= 0x20 && c != '"' && c != '\\') continue;
    switch (c) {
      case '"': esc = "\\\""; break;
      case '\\': esc = "\\\\"; break;
      case '\n': esc = "\\n"; break;
      case '\r': esc = "\\r"; break;
      case '\t': esc = "\\t"; break;
      case '\b': esc = "\\b"; break;
      case '\f': esc = "\\f"; break;
      default:
        snprintf(tmp, sizeof tmp, "\\u%04x", c);
        esc = tmp;
    }
    ms_buf_add(b, s + run, i - run);
    ms_buf_puts(b, esc);
    run = i + 1;
  }
  ms_buf_add(b, s + run, n - run);
  ms_buf_putc(b, '"');
}

void ms_json_nl(ms_buf *b, int depth) {
  ms_buf_putc(b, '\n');
  ms_buf_fill(b, ' ', (size_t)depth * 2);
}

void ms_value_json(ms_buf *b, const ms_value *v, int indent) {
  uint32_t i;
  switch (v->type) {
    case MS_NIL: ms_buf_puts(b, "null"); break;
    case MS_BOOL: ms_buf_puts(b, v->u.b ? "true" : "false"); break;
    case MS_INT: ms_buf_put_i64(b, (long long)v->u.i); break;
    case MS_FLOAT:
      if (isnan(v->u.f)) ms_buf_puts(b, "NaN");
      else if (isinf(v->u.f)) ms_buf_puts(b, v->u.f < 0 ? "-Infinity" : "Infinity");
      else ms_pyrepr_float(b, v->u.f);
      break;
    case MS_STR: ms_json_str(b, v->u.s, v->len); break;
    case MS_LIST:
      if (v->len == 0) { ms_buf_puts(b, "[]"); break; }
      ms_buf_putc(b, '[');
      for (i = 0; i < v->len; i++) {
        if (i) ms_buf_puts(b, indent < 0 ? ", " : ",");
        if (indent >= 0) ms_json_nl(b, indent + 1);
        ms_value_json(b, &v->u.items[i], indent < 0 ? -1 : indent + 1);
      }
      if (indent >= 0) ms_json_nl(b, indent);
      ms_buf_putc(b, ']');
      break;
    case MS_MAP:
      if (v->len == 0) { ms_buf_puts(b, "{}"); break; }
      ms_buf_putc(b, '{');
      for (i = 0; i < v->len; i++) {
        const ms_value *k = &v->u.items[2 * i];
        if (i) ms_buf_puts(b, indent < 0 ? ", " : ",");
        if (indent >= 0) ms_json_nl(b, indent + 1);
        ms_json_str(b, k->u.s, k->len);
        ms_buf_puts(b, ": ");
        ms_value_json(b, &v->u.items[2 * i + 1], indent < 0 ? -1 : indent + 1);
      }
      if (indent >= 0) ms_json_nl(b, indent);
      ms_buf_putc(b, '}');
      break;
  }
}
