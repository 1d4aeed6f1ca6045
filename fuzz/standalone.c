/*
** standalone.c: replays fuzz inputs without libFuzzer: every file named
** on the command line (directories are walked one level) goes through
** LLVMFuzzerTestOneInput. Prints TAP, one line per directory or file.
*/
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "fuzz.h"

static int runfile(const char *path) {
  FILE *f = fopen(path, "rb");
  long n;
  uint8_t *buf;
  if (f == NULL) return -1;
  fseek(f, 0, SEEK_END);
  n = ftell(f);
  fseek(f, 0, SEEK_SET);
  buf = malloc(n > 0 ? (size_t)n : 1);
  if (buf == NULL || (n > 0 && fread(buf, 1, (size_t)n, f) != (size_t)n)) {
    fclose(f);
    free(buf);
    return -1;
  }
  fclose(f);
  LLVMFuzzerTestOneInput(buf, (size_t)n);
  free(buf);
  return 0;
}

int main(int argc, char **argv) {
  int i, t = 0, bad = 0;
#ifdef FUZZ_CORPUS
  static char *defaults[] = {NULL, (char *)FUZZ_CORPUS, NULL};
  if (argc == 1) {
    defaults[0] = argv[0];
    argv = defaults;
    argc = 2;
  }
#endif
  for (i = 1; i < argc; i++) {
    struct stat st;
    int count = 0, failed = 0;
    if (stat(argv[i], &st) != 0) {
      printf("not ok %d - %s: missing\n", ++t, argv[i]);
      bad++;
      continue;
    }
    if (S_ISDIR(st.st_mode)) {
      DIR *d = opendir(argv[i]);
      struct dirent *e;
      while (d && (e = readdir(d)) != NULL) {
        char path[4096];
        if (e->d_name[0] == '.') continue;
        snprintf(path, sizeof path, "%s/%s", argv[i], e->d_name);
        if (runfile(path) != 0) failed++;
        count++;
      }
      if (d) closedir(d);
    } else {
      failed = runfile(argv[i]) != 0;
      count = 1;
    }
    /* a property failure aborts the process, so reaching here passes */
    printf("%s %d - %s: %d inputs replayed\n", failed ? "not ok" : "ok", ++t,
           argv[i], count);
    bad += failed;
  }
  printf("1..%d\n", t);
  return bad ? 1 : 0;
}
