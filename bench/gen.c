/*
** gen.c: writes the benchmark dataset: a schema and source/dest documents
** of sites > devices (50 per site) > interfaces (20 per device), with
** about 1% updates, 0.5% creates and 0.5% deletes between the two sides.
** usage: gen RECORDS OUTDIR
*/
#include <inttypes.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

static uint64_t rng = 0x9e3779b97f4a7c15ULL;

static unsigned roll(void) {  /* 0..9999 */
  rng ^= rng << 13;
  rng ^= rng >> 7;
  rng ^= rng << 17;
  return (unsigned)(rng % 10000);
}

/* Per record: 0 same, 1 changed on dest, 2 missing on dest (create);
   after it, with 0.5%, an extra dest-only sibling (delete). */
static int fate(void) {
  unsigned r = roll();
  return r < 100 ? 1 : r < 150 ? 2 : 0;
}

static FILE *open_out(const char *dir, const char *name) {
  char path[4096];
  FILE *f;
  snprintf(path, sizeof path, "%s/%s", dir, name);
  f = fopen(path, "w");
  if (f == NULL) {
    perror(path);
    exit(1);
  }
  return f;
}

typedef struct out { FILE *f; int first; } out;

static void sep(out *o) {
  if (!o->first) fputs(",\n", o->f);
  o->first = 0;
}

int main(int argc, char **argv) {
  long n, sites, s, d, i;
  FILE *src, *dst, *sc;
  if (argc != 3 || (n = atol(argv[1])) < 1051) {
    fprintf(stderr, "usage: gen RECORDS(>=1051) OUTDIR\n");
    return 2;
  }
  sites = n / 1051;
  sc = open_out(argv[2], "schema.json");
  fputs("{\"top_level\": [\"site\"], \"models\": {\n"
        " \"site\": {\"identifiers\": [\"name\"], \"attributes\": [\"status\", \"region\", \"asn\"],"
        " \"children\": {\"device\": \"devices\"}},\n"
        " \"device\": {\"identifiers\": [\"site\", \"name\"], \"attributes\": [\"role\", \"model\", \"serial\"],"
        " \"children\": {\"interface\": \"interfaces\"}},\n"
        " \"interface\": {\"identifiers\": [\"device\", \"name\"], \"attributes\": [\"enabled\", \"mtu\", \"speed\", \"description\"]}\n"
        "}}\n", sc);
  fclose(sc);
  src = open_out(argv[2], "source.json");
  dst = open_out(argv[2], "dest.json");
  fputs("{\"site\": [\n", src);
  fputs("{\"site\": [\n", dst);
  for (s = 0; s < sites; s++) {
    out os = {src, 1}, od = {dst, 1};
    int fs = roll() < 100 ? 1 : 0;  /* sites are never missing */
    (void)os; (void)od;
    if (s) { fputs(",\n", src); }
    fprintf(src, "{\"name\": \"site%05ld\", \"status\": \"active\", \"region\": \"r%ld\", \"asn\": %ld, \"devices\": [\n",
            s, s % 17, 64512 + s);
    if (fs != 2) {
      static int dfirst = 1;
      if (!dfirst) fputs(",\n", dst);
      dfirst = 0;
      fprintf(dst, "{\"name\": \"site%05ld\", \"status\": \"%s\", \"region\": \"r%ld\", \"asn\": %ld, \"devices\": [\n",
              s, fs == 1 ? "planned" : "active", s % 17, 64512 + s);
    }
    {
      out ds = {src, 1}, dd = {dst, 1};
      for (d = 0; d < 50; d++) {
        unsigned rd = roll();
        int fd = rd < 100 ? 1 : rd < 105 ? 2 : 0;
        sep(&ds);
        fprintf(src, "{\"site\": \"site%05ld\", \"name\": \"dev%02ld\", \"role\": \"leaf\", \"model\": \"MS250\", \"serial\": \"S%05ld%02ld\", \"interfaces\": [",
                s, d, s, d);
        if (fd != 2) {
          sep(&dd);
          fprintf(dst, "{\"site\": \"site%05ld\", \"name\": \"dev%02ld\", \"role\": \"%s\", \"model\": \"MS250\", \"serial\": \"S%05ld%02ld\", \"interfaces\": [",
                  s, d, fd == 1 ? "spine" : "leaf", s, d);
        }
        {
          out is = {src, 1}, id = {dst, 1};
          for (i = 0; i < 20; i++) {
            int fi = fd == 2 ? 2 : fate();
            sep(&is);
            fprintf(src, "\n {\"device\": \"site%05ld/dev%02ld\", \"name\": \"eth%ld\", \"enabled\": true, \"mtu\": 1500, \"speed\": 1000.0, \"description\": \"port %ld\"}",
                    s, d, i, i);
            if (fi != 2) {
              sep(&id);
              fprintf(dst, "\n {\"device\": \"site%05ld/dev%02ld\", \"name\": \"eth%ld\", \"enabled\": true, \"mtu\": %d, \"speed\": 1000.0, \"description\": \"port %ld\"}",
                      s, d, i, fi == 1 ? 9000 : 1500, i);
            }
            if (fd != 2 && roll() < 50) {
              sep(&id);
              fprintf(dst, "\n {\"device\": \"site%05ld/dev%02ld\", \"name\": \"old%ld\", \"enabled\": false, \"mtu\": 1500, \"speed\": 100.0, \"description\": \"stale\"}",
                      s, d, i);
            }
          }
        }
        fputs("]}", src);
        if (fd != 2) fputs("]}", dst);
      }
    }
    fputs("]}", src);
    if (fs != 2) fputs("]}", dst);
  }
  fputs("\n]}\n", src);
  fputs("\n]}\n", dst);
  fclose(src);
  fclose(dst);
  return 0;
}
