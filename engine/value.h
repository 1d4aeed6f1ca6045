/*
** value.h: typed values held by records, and the Python semantics moonsync
** follows for them: equality is Python's `==`, text forms are Python's
** `str()`/`repr()`, and JSON output is `json.dumps(..., ensure_ascii=False)`.
** Values are immutable once built; containers and strings live in an arena
** (or point into a loaded file buffer) and are never freed one by one.
*/
#ifndef MS_VALUE_H
#define MS_VALUE_H

#include <stddef.h>
#include <stdint.h>

#include "buf.h"

typedef enum ms_vtype {
  MS_NIL = 0, MS_BOOL, MS_INT, MS_FLOAT, MS_STR, MS_LIST, MS_MAP
} ms_vtype;

typedef struct ms_value ms_value;

struct ms_value {
  uint8_t type;       /* ms_vtype */
  uint32_t len;       /* MS_STR: bytes; MS_LIST: items; MS_MAP: pairs */
  union {
    int b;
    int64_t i;
    double f;
    const char *s;    /* not NUL-terminated in general */
    ms_value *items;  /* MS_LIST: len items; MS_MAP: 2*len (key, value) */
  } u;
};

extern const ms_value ms_nil;

static inline ms_value ms_value_str(const char *s, size_t n) {
  ms_value v;
  v.type = MS_STR;
  v.len = (uint32_t)n;
  v.u.s = s;
  return v;
}

/* Python `a == b` for JSON-shaped values. */
int ms_value_eq(const ms_value *a, const ms_value *b);

/* Map lookup by key; NULL when absent. */
const ms_value *ms_map_get(const ms_value *map, const char *key, size_t n);

/* Python str(v) / repr(v) appended to b. */
void ms_value_pystr(ms_buf *b, const ms_value *v);
void ms_value_pyrepr(ms_buf *b, const ms_value *v);

/* Python repr of a str (with quotes). */
void ms_pyrepr_str(ms_buf *b, const char *s, size_t n);

/* Python repr(float): shortest text that reads back as the same double. */
void ms_pyrepr_float(ms_buf *b, double d);

/* JSON string literal (json.dumps with ensure_ascii=False). */
void ms_json_str(ms_buf *b, const char *s, size_t n);

/* JSON text of v. indent < 0: compact with Python's ", " and ": "
   separators; indent >= 0: json.dumps(indent=2) layout at this depth. */
void ms_value_json(ms_buf *b, const ms_value *v, int indent);

/* Newline plus 2*depth spaces, the json.dumps(indent=2) line break. */
void ms_json_nl(ms_buf *b, int depth);

/* A stable 64-bit hash of v; equal values (Python ==) hash equal. */
uint64_t ms_value_hash(const ms_value *v, uint64_t seed);

#endif
