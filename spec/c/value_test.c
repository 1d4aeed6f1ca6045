/* Unit tests: Python equality and text forms of values. */
#include "test.h"

#include <stdlib.h>

#include "arena.h"
#include "json.h"
#include "value.h"

static ms_arena A;

static ms_value J(const char *text) {
  ms_value v;
  ms_err err;
  char *copy = ms_arena_strndup(&A, text, strlen(text));
  if (ms_json_parse(&A, copy, strlen(text), "t", &v, &err) != MS_OK) {
    printf("# parse failed: %s\n", err.msg);
    exit(2);
  }
  return v;
}

static const char *pystr(const char *json, int repr) {
  static char out[256];
  ms_buf b = MS_BUF_INIT;
  ms_value v = J(json);
  if (repr) ms_value_pyrepr(&b, &v);
  else ms_value_pystr(&b, &v);
  snprintf(out, sizeof out, "%s", b.data ? b.data : "");
  ms_buf_free(&b);
  return out;
}

static int eq(const char *a, const char *b) {
  ms_value x = J(a), y = J(b);
  return ms_value_eq(&x, &y);
}

static const char *floatrepr(double d) {
  static char out[64];
  ms_buf b = MS_BUF_INIT;
  ms_pyrepr_float(&b, d);
  snprintf(out, sizeof out, "%s", b.data);
  ms_buf_free(&b);
  return out;
}

int main(void) {
  ms_arena_init(&A);
  CHECK(!eq("1", "\"1\""), "1 != '1'");
  CHECK(eq("true", "1"), "True == 1");
  CHECK(eq("false", "0"), "False == 0");
  CHECK(eq("1.0", "1"), "1.0 == 1");
  CHECK(eq("2.50", "2.5"), "2.50 == 2.5");
  CHECK(!eq("null", "\"\""), "None != ''");
  CHECK(!eq("null", "[]"), "None != []");
  CHECK(!eq("[]", "{}"), "[] != {}");
  CHECK(!eq("[1,2]", "[2,1]"), "lists are ordered");
  CHECK(eq("{\"a\":1,\"b\":2}", "{\"b\":2,\"a\":1}"), "maps are unordered");
  CHECK(eq("[[\"x\"]]", "[[\"x\"]]"), "nested lists compare deeply");
  CHECK(!eq("{\"a\":1}", "{\"a\":1,\"b\":2}"), "maps of different size");
  CHECK(!eq("9007199254740993", "9007199254740992.0"),
        "int vs float compares exactly");

  CHECK_STR(pystr("null", 0), "None", "str(None)");
  CHECK_STR(pystr("true", 0), "True", "str(True)");
  CHECK_STR(pystr("\"a b\"", 0), "a b", "str of a string is raw");
  CHECK_STR(pystr("[1, \"a\", null, true]", 0), "[1, 'a', None, True]",
            "str of a list uses repr of items");
  CHECK_STR(pystr("{\"k\": 1.5}", 0), "{'k': 1.5}", "str of a dict");
  CHECK_STR(pystr("\"it's\"", 1), "\"it's\"", "repr switches to double quotes");
  CHECK_STR(pystr("\"a'b\\\"c\"", 1), "'a\\'b\"c'", "repr escapes the quote");
  CHECK_STR(pystr("\"x\\ny\\t\\\\\"", 1), "'x\\ny\\t\\\\'", "repr escapes");
  CHECK_STR(pystr("\"\\u0001\"", 1), "'\\x01'", "repr of a control char");
  CHECK_STR(pystr("\"Z\\u00fcrich\"", 1), "'Z\xc3\xbcrich'",
            "repr keeps printable non-ASCII");

  CHECK_STR(floatrepr(1.0), "1.0", "repr(1.0)");
  CHECK_STR(floatrepr(0.1), "0.1", "repr(0.1)");
  CHECK_STR(floatrepr(1e16), "1e+16", "repr(1e16)");
  CHECK_STR(floatrepr(1e15), "1000000000000000.0", "repr(1e15)");
  CHECK_STR(floatrepr(1e-5), "1e-05", "repr(1e-05)");
  CHECK_STR(floatrepr(0.0001), "0.0001", "repr(0.0001)");
  CHECK_STR(floatrepr(-0.0), "-0.0", "repr(-0.0)");
  CHECK_STR(floatrepr(123.456), "123.456", "repr(123.456)");
  CHECK_STR(floatrepr(1.5e300), "1.5e+300", "repr(1.5e300)");
  CHECK_STR(floatrepr(2.0 / 3.0), "0.6666666666666666", "repr(2/3)");

  {
    ms_value a = J("{\"a\":1,\"b\":[1,2]}"), b = J("{\"b\":[1,2.0],\"a\":true}");
    CHECK(ms_value_hash(&a, 7) == ms_value_hash(&b, 7),
          "equal values hash equal");
  }
  ms_arena_free(&A);
  return DONE();
}
