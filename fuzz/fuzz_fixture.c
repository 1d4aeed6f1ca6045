/*
** fuzz_fixture.c: schema documents and data documents. The first byte
** picks the target: even, the input is a schema; odd, a data document
** loaded against a fixed three-level schema, then dumped both ways and
** diffed against itself (which must find nothing).
*/
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "diff.h"
#include "fixture.h"
#include "json.h"

#include "fuzz.h"

static const char schema_text[] =
  "{\"top_level\": [\"site\"], \"models\": {"
  "\"site\": {\"identifiers\": [\"name\"], \"attributes\": [\"status\", \"tags\"],"
  " \"children\": {\"device\": \"devices\"}},"
  "\"device\": {\"identifiers\": [\"site\", \"name\"], \"shortname\": [\"name\"],"
  " \"attributes\": [\"role\"], \"children\": {\"port\": \"ports\"}},"
  "\"port\": {\"identifiers\": [\"name\"], \"attributes\": [\"mtu\"]}}}";

static int schema_of(ms_schema *sc) {
  ms_arena a;
  ms_value v;
  ms_err err;
  char *t;
  int rc;
  ms_arena_init(&a);
  t = ms_arena_strndup(&a, schema_text, sizeof schema_text - 1);
  rc = ms_json_parse(&a, t, sizeof schema_text - 1, "schema", &v, &err);
  if (rc == MS_OK) rc = ms_schema_from_value(&v, "schema", sc, &err);
  ms_arena_free(&a);
  return rc;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  ms_err err;
  if (size == 0) return 0;
  if ((data[0] & 1) == 0) {
    ms_arena a;
    ms_value v;
    ms_schema sc;
    char *t;
    ms_arena_init(&a);
    t = ms_arena_strndup(&a, (const char *)data + 1, size - 1);
    if (ms_json_parse(&a, t, size - 1, "schema", &v, &err) == MS_OK &&
        ms_schema_from_value(&v, "schema", &sc, &err) == MS_OK) {
      ms_store *st;
      if (ms_schema_store(&sc, "s", MS_SIDE_SOURCE, &st, &err) == MS_OK)
        ms_store_free(st);
      ms_schema_free(&sc);
    }
    ms_arena_free(&a);
  } else {
    ms_schema sc;
    ms_store *s1, *s2;
    ms_diff *d;
    ms_buf b = MS_BUF_INIT;
    int rc1, rc2;
    FUZZ_CHECK(schema_of(&sc) == MS_OK);
    FUZZ_CHECK(ms_schema_store(&sc, "a", MS_SIDE_SOURCE, &s1, &err) == MS_OK);
    FUZZ_CHECK(ms_schema_store(&sc, "b", MS_SIDE_DEST, &s2, &err) == MS_OK);
    ms_schema_free(&sc);
    /* the loader reads text followed by a NUL */
    char *text = malloc(size);
    FUZZ_CHECK(text != NULL);
    memcpy(text, data + 1, size - 1);
    text[size - 1] = '\0';
    rc1 = ms_load_text(s1, text, size - 1, "doc", 1, &err);
    rc2 = ms_load_text(s2, text, size - 1, "doc", 1, &err);
    free(text);
    FUZZ_CHECK(rc1 == rc2);
    if (rc1 == MS_OK) {
      ms_store_nested_json(&b, s1);
      ms_store_flat_json(&b, s1);
      ms_store_str(&b, s1);
      rc1 = ms_diff_compute(s1, s2, 0, NULL, NULL, &d, &err);
      if (rc1 == MS_OK) {
        FUZZ_CHECK(!ms_diff_has_diffs(d));
        ms_diff_str(&b, d);
        ms_diff_dict_json(&b, d, 0);
        ms_diff_changes_json(&b, d);
        ms_diff_free(d);
      }
    }
    ms_buf_free(&b);
    ms_store_free(s1);
    ms_store_free(s2);
  }
  return 0;
}
