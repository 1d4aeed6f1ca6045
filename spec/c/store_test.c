/* Unit tests: the record store and its index. */
#include "test.h"

#include <stdlib.h>

#include "store.h"

static ms_model *mkmodel(void) {
  const char *ids[] = {"site", "name"}, *attrs[] = {"role"};
  ms_child_decl ch[] = {{(char *)"interface", (char *)"interfaces"}};
  ms_model_spec sp;
  ms_err err;
  memset(&sp, 0, sizeof sp);
  sp.name = "device";
  sp.ids = ids; sp.nids = 2;
  sp.attrs = attrs; sp.nattrs = 1;
  sp.children = ch; sp.nchildren = 1;
  return ms_model_new(&sp, &err);
}

static ms_record *add(ms_store *s, const char *site, int n, ms_err *err,
                      int *rc) {
  ms_record *r = ms_store_new_record(s, 0);
  char *name = ms_arena_alloc(&s->arena, 16);
  snprintf(name, 16, "sw%d", n);
  r->fields[0] = ms_value_str(site, strlen(site));
  r->fields[1] = ms_value_str(name, strlen(name));
  *rc = ms_store_insert(s, r, err);
  return r;
}

int main(void) {
  ms_store *s = ms_store_new("inv", "inv");
  ms_model *m = mkmodel();
  ms_err err;
  ms_record *r;
  int rc, i, ok = 1;
  CHECK(m != NULL, "model builds");
  CHECK(ms_store_add_model(s, m, &err) == 0, "model registers");
  CHECK(ms_store_add_model(s, m, &err) == MS_ESCHEMA, "duplicate model refused");
  r = add(s, "ams", 1, &err, &rc);
  CHECK(rc == MS_OK && r->uid_len == 8 && memcmp(r->uid, "ams__sw1", 8) == 0,
        "uid joins identifiers with __");
  add(s, "ams", 1, &err, &rc);
  CHECK(rc == MS_EEXISTS && strcmp(err.msg, "Object ams__sw1 already present") == 0,
        "duplicate uid is ObjectAlreadyExists");
  for (i = 2; i <= 5000; i++) {
    add(s, "ber", i, &err, &rc);
    if (rc != MS_OK) ok = 0;
  }
  CHECK(ok && ms_store_count(s, 0) == 5000, "index grows past its size");
  for (i = 2; i <= 5000 && ok; i += 2) {
    char uid[32];
    ms_record *x;
    snprintf(uid, sizeof uid, "ber__sw%d", i);
    x = ms_store_get(s, 0, uid, strlen(uid));
    if (x == NULL || ms_store_remove(s, x, 0, &err) != MS_OK) ok = 0;
  }
  CHECK(ok && ms_store_count(s, 0) == 2500, "removal unlinks records");
  for (i = 3; i <= 5000 && ok; i += 2) {
    char uid[32];
    snprintf(uid, sizeof uid, "ber__sw%d", i);
    if (ms_store_get(s, 0, uid, strlen(uid)) == NULL) ok = 0;
  }
  CHECK(ok, "records survive removal of their neighbours (backward shift)");
  CHECK(ms_store_get(s, 0, "ber__sw2", 8) == NULL, "removed record is gone");
  CHECK(ms_store_remove(s, r, 0, &err) == MS_OK &&
        ms_store_remove(s, r, 0, &err) == MS_ENOTFOUND,
        "removing twice is ObjectNotFound");
  {
    ms_record *p = add(s, "x", 1, &err, &rc);
    ms_record *c = add(s, "x", 2, &err, &rc);
    CHECK(ms_record_add_child(p, c, &err) == MS_ETYPE &&
          strstr(err.msg, "valid types are ['interface']") != NULL,
          "add_child of a wrong type names the valid types");
  }
  {
    ms_value v = ms_value_str("y", 1);
    ms_record *x = ms_store_get(s, 0, "x__sw1", 6);
    const ms_value *before = x->fields;
    CHECK(ms_record_set(x, 0, &v, &err) == MS_EINPUT,
          "identifiers of stored records are fixed");
    CHECK(ms_record_set(x, 2, &v, &err) == MS_OK && x->fields != before &&
          before[2].type == MS_NIL, "fields are copy-on-write");
  }
  ms_model_unref(m);
  ms_store_free(s);
  return DONE();
}
