/* Unit tests: the JSON reader. */
#include "test.h"

#include "arena.h"
#include "json.h"

static ms_arena A;
static ms_err E;

static int parse(const char *text, ms_value *v) {
  char *copy = ms_arena_strndup(&A, text, strlen(text));
  return ms_json_parse(&A, copy, strlen(text), "doc.json", v, &E);
}

static const char *roundtrip(const char *text) {
  static char out[512];
  ms_value v;
  ms_buf b = MS_BUF_INIT;
  if (parse(text, &v) != MS_OK) return E.msg;
  ms_value_json(&b, &v, -1);
  snprintf(out, sizeof out, "%s", b.data);
  ms_buf_free(&b);
  return out;
}

int main(void) {
  ms_value v;
  ms_arena_init(&A);
  CHECK_STR(roundtrip("{\"b\": 1, \"a\": 1.0, \"c\": [true, null]}"),
            "{\"b\": 1, \"a\": 1.0, \"c\": [true, null]}",
            "key order and 1 vs 1.0 are kept");
  CHECK_STR(roundtrip("\"\\u00e9\\ud83d\\ude80\\n\""), "\"\xc3\xa9\xf0\x9f\x9a\x80\\n\"",
            "escapes and surrogate pairs decode to UTF-8");
  CHECK(parse("[1,\n {\"a\": 1, \"b\": 2, \"a\": 3}]", &v) == MS_EPARSE &&
        strcmp(E.msg, "doc.json:2:2: the object that starts here has the key \"a\" twice") == 0,
        "a repeated key is an error naming the object's line");
  {
    /* past 32 keys the duplicate check hashes */
    char big[2048];
    int i, n = sprintf(big, "{");
    for (i = 0; i < 40; i++) n += sprintf(big + n, "\"k%d\": %d, ", i, i);
    sprintf(big + n, "\"k7\": 0}");
    CHECK(parse(big, &v) == MS_EPARSE && strstr(E.msg, "the key \"k7\" twice") != NULL,
          "a repeated key among 41 is an error too");
  }
  CHECK_STR(roundtrip("-9223372036854775808"), "-9223372036854775808",
            "smallest 64-bit integer");
  CHECK_STR(roundtrip("1e2"), "100.0", "exponent makes a float");

  CHECK(parse("{\n  \"a\": 1,\n  \"b\" 2\n}", &v) == MS_EPARSE &&
        strcmp(E.msg, "doc.json:3:7: expected ':' after key") == 0,
        "error names file, line and column");
  printf("# %s\n", E.msg);
  CHECK(parse("[1, 2", &v) == MS_EPARSE, "unterminated array");
  CHECK(parse("\"abc", &v) == MS_EPARSE, "unterminated string");
  CHECK(parse("\"\xff\"", &v) == MS_EPARSE && strstr(E.msg, "UTF-8") != NULL,
        "invalid UTF-8 is rejected");
  CHECK(parse("\"\\ud800\"", &v) == MS_EPARSE, "lone surrogate is rejected");
  CHECK(parse("01", &v) == MS_EPARSE, "leading zero is rejected");
  CHECK(parse("99999999999999999999", &v) == MS_EPARSE &&
        strstr(E.msg, "64-bit") != NULL, "integer overflow is reported");
  CHECK(parse("[] x", &v) == MS_EPARSE, "trailing data is rejected");
  CHECK(parse("", &v) == MS_EPARSE, "empty input is rejected");
  {
    char deep[40000];
    int i;
    for (i = 0; i < 20000; i++) deep[i] = '[';
    for (i = 0; i < 19999; i++) deep[20000 + i] = ']';
    deep[39999] = '\0';
    CHECK(parse(deep, &v) == MS_EPARSE && strstr(E.msg, "nesting") != NULL,
          "excessive nesting is an error, not a crash");
  }
  CHECK(ms_json_load(&A, "/nonexistent/x.json", &v, &E) == MS_EIO &&
        strstr(E.msg, "/nonexistent/x.json") != NULL,
        "a missing file names its path");
  ms_arena_free(&A);
  return DONE();
}
