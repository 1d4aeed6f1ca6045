/*
** fuzz_diff.c: two random adapters built from the input (sites and their
** devices, mixed value types, random global and instance flags). The diff
** must never crash, its summary must add up, and after a sync with the
** in-memory operations a second diff with the same flags must be empty.
*/
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "diff.h"
#include "sync.h"

#include "fuzz.h"

typedef struct rd { const uint8_t *p; size_t n; } rd;

static unsigned next(rd *r) {
  if (r->n == 0) return 0;
  r->n--;
  return *r->p++;
}

static ms_model *model(const char *name, const char **ids, uint32_t nids,
                       const char *child, const char *field, int shortname) {
  const char *attrs[] = {"a", "b"};
  const char *sn[] = {"name"};
  ms_child_decl ch;
  ms_model_spec sp;
  ms_err err;
  memset(&sp, 0, sizeof sp);
  sp.name = name;
  sp.ids = ids;
  sp.nids = nids;
  sp.attrs = attrs;
  sp.nattrs = 2;
  if (child) {
    ch.model = (char *)child;
    ch.field = (char *)field;
    sp.children = &ch;
    sp.nchildren = 1;
  }
  if (shortname) {
    sp.shortname = sn;
    sp.nshort = 1;
  }
  return ms_model_new(&sp, &err);
}

static ms_value pick(ms_store *s, unsigned k) {
  static const char *strs[] = {"1", "x", "", "é"};
  ms_value v = ms_nil;
  switch (k % 8) {
    case 0: break;
    case 1: v.type = MS_INT; v.u.i = (int64_t)(k / 8 % 3); break;
    case 2: v.type = MS_FLOAT; v.u.f = (double)(k / 8 % 3); break;
    case 3: v.type = MS_BOOL; v.u.b = (int)(k / 8 % 2); break;
    case 4: case 5: {
      const char *t = strs[k / 8 % 4];
      v = ms_value_str(ms_arena_strndup(&s->arena, t, strlen(t)), strlen(t));
      break;
    }
    case 6:
      v.type = MS_LIST;
      v.len = k / 8 % 3;
      v.u.items = v.len ? ms_arena_alloc(&s->arena, v.len * sizeof *v.u.items) : NULL;
      if (v.len) {
        uint32_t i;
        for (i = 0; i < v.len; i++) v.u.items[i] = pick(s, k / 16 + i);
      }
      break;
    default:
      v.type = MS_MAP;
      v.len = 0;
      v.u.items = NULL;
  }
  return v;
}

static void build(rd *r, ms_store *s, int count) {
  int i;
  for (i = 0; i < count && r->n > 0; i++) {
    unsigned op = next(r), site = op % 6, dev = (op / 6) % 6, kind = next(r);
    char sname[8], dname[8];
    ms_record *sr, *dr;
    ms_value v;
    ms_err err;
    snprintf(sname, sizeof sname, "s%u", site);
    snprintf(dname, sizeof dname, "d%u", dev);
    sr = ms_store_get(s, 0, sname, strlen(sname));
    if (sr == NULL) {
      sr = ms_store_new_record(s, 0);
      sr->fields[0] = ms_value_str(ms_arena_strndup(&s->arena, sname, strlen(sname)),
                                   strlen(sname));
      sr->fields[1] = pick(s, next(r));
      sr->fields[2] = pick(s, next(r));
      if (kind & 0x80) sr->flags = next(r) & 0x1f;
      if (ms_store_insert(s, sr, &err) != MS_OK) continue;
    }
    if (kind & 1) continue;  /* a site without a new device */
    {
      ms_buf b = MS_BUF_INIT;
      ms_buf_printf(&b, "%s__%s", sname, dname);
      dr = ms_store_get(s, 1, b.data, b.len);
      ms_buf_free(&b);
    }
    if (dr != NULL) continue;
    dr = ms_store_new_record(s, 1);
    dr->fields[0] = sr->fields[0];
    dr->fields[1] = ms_value_str(ms_arena_strndup(&s->arena, dname, strlen(dname)),
                                 strlen(dname));
    v = pick(s, next(r));
    dr->fields[2] = v;
    dr->fields[3] = pick(s, next(r));
    if (kind & 0x40) dr->flags = next(r) & 0x1f;
    if (ms_store_insert(s, dr, &err) == MS_OK)
      FUZZ_CHECK(ms_record_add_child(sr, dr, &err) == MS_OK);
  }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  const char *sids[] = {"name"}, *dids[] = {"site", "name"};
  ms_model *site = model("site", sids, 1, "device", "devices", 0);
  ms_model *dev = model("device", dids, 2, NULL, NULL, 0);
  const char *top[] = {"site"};
  ms_store *src = ms_store_new("src", "src"), *dst = ms_store_new("dst", "dst");
  rd r = {data, size};
  unsigned flags = next(&r) & (MS_GF_SKIP_UNMATCHED_BOTH | MS_GF_CONTINUE_ON_FAILURE);
  ms_diff *d = NULL, *d2 = NULL;
  ms_err err;
  FUZZ_CHECK(site && dev && src && dst);
  ms_store_add_model(src, site, &err);
  ms_store_add_model(src, dev, &err);
  ms_store_add_model(dst, site, &err);
  ms_store_add_model(dst, dev, &err);
  ms_store_set_top_level(src, top, 1, &err);
  ms_store_set_top_level(dst, top, 1, &err);
  build(&r, src, (int)(next(&r) % 40));
  build(&r, dst, 40);
  if (ms_diff_compute(src, dst, flags, NULL, NULL, &d, &err) == MS_OK) {
    ms_summary s;
    ms_sync_result res;
    ms_buf b = MS_BUF_INIT;
    ms_diff_summary(d, &s);
    FUZZ_CHECK(s.create + s.update + s.del + s.nochange == ms_diff_len(d));
    FUZZ_CHECK(s.skip >= 0);
    ms_diff_str(&b, d);
    ms_diff_dict_json(&b, d, 0);
    ms_buf_free(&b);
    FUZZ_CHECK(ms_sync_run(d, flags, &ms_sync_default_ops, 1, &res, &err) == MS_OK);
    ms_buf_free(&res.ops);
    FUZZ_CHECK(ms_diff_compute(src, dst, flags, NULL, NULL, &d2, &err) == MS_OK);
    if (ms_diff_has_diffs(d2)) {
      ms_buf_free(&b);
      ms_diff_str(&b, d2);
      fprintf(stderr, "left after sync:\n%s\n", b.data);
      ms_buf_free(&b);
    }
    FUZZ_CHECK(!ms_diff_has_diffs(d2));
  }
  ms_diff_free(d);
  ms_diff_free(d2);
  ms_store_free(src);
  ms_store_free(dst);
  ms_model_unref(site);
  ms_model_unref(dev);
  return 0;
}
