/*
** cli_diff.c: `moonsync diff --schema schema.json source.json dest.json`.
** Everything is computed before anything is printed, so an error never
** leaves partial output on stdout. Exit status as every command's: 0 no
** differences, 1 error, 2 differences (changes pending).
*/
#include "cli_diff.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#include "diff.h"
#include "fixture.h"
#include "progress.h"

static const char usage[] =
  "usage: moonsync diff --schema SCHEMA.json SOURCE.json DEST.json\n"
  "         [--format str|dict|summary|json] [--flag NAME]... [--target MODEL:UID]...\n"
  "         [--exclude MODEL:UID]... [--source-name NAME] [--dest-name NAME]\n"
  "         [--skip-duplicates] [--timings] [--no-progress]\n"
  "exit: 0 no differences, 1 error, 2 differences\n";

enum { EXIT_SAME = 0, EXIT_ERROR = 1, EXIT_DIFFERENT = 2 };

#define MAXSCOPE 256

static double now(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static int die(const char *msg) {
  fprintf(stderr, "moonsync diff: %s\n", msg);
  return EXIT_ERROR;
}

/* "MODEL:UID" into a scope entry pointing into arg, whose colon becomes
   the model's end (argv strings are ours to change); -1 when malformed. */
static int scopearg(char *arg, ms_scope *out) {
  char *colon = strchr(arg, ':');
  if (colon == NULL || colon == arg || colon[1] == '\0') return -1;
  *colon = '\0';
  out->model = arg;
  out->uid = colon + 1;
  out->uidlen = strlen(colon + 1);
  return 0;
}

int ms_cli_diff_files(int argc, char **argv) {
  const char *schema = NULL, *format = "str", *files[2] = {NULL, NULL};
  const char *names[2] = {"source", "dest"};
  uint32_t flags = 0;
  int nfiles = 0, skip = 0, timings = 0, progress = 1, i, rc, which;
  ms_scope scope[2][MAXSCOPE];
  size_t nscope[2] = {0, 0};
  double t0, t1, t2;
  ms_schema sc;
  ms_store *st[2] = {NULL, NULL};
  ms_diff *d = NULL;
  ms_load_opts lo[2];
  ms_err err, lerr[2];
  ms_buf out = MS_BUF_INIT;
  /* --help wins wherever it stands, even where an option's value would be */
  for (i = 1; i < argc; i++)
    if (strcmp(argv[i], "-h") == 0 || strcmp(argv[i], "--help") == 0) {
      fputs(usage, stdout);
      return EXIT_SAME;
    }
  for (i = 1; i < argc; i++) {
    const char *a = argv[i];
    if (strcmp(a, "--schema") == 0 && i + 1 < argc) schema = argv[++i];
    else if (strcmp(a, "--format") == 0 && i + 1 < argc) format = argv[++i];
    else if (strcmp(a, "--source-name") == 0 && i + 1 < argc) names[0] = argv[++i];
    else if (strcmp(a, "--dest-name") == 0 && i + 1 < argc) names[1] = argv[++i];
    else if (strcmp(a, "--flag") == 0 && i + 1 < argc) {
      if (ms_flag_parse(argv[++i], 0, &flags) != 0) {
        fprintf(stderr, "moonsync diff: unknown flag '%s' (flags: "
                "CONTINUE_ON_FAILURE, SKIP_UNMATCHED_SRC, SKIP_UNMATCHED_DST, "
                "SKIP_UNMATCHED_BOTH, LOG_UNCHANGED_RECORDS)\n", argv[i]);
        return EXIT_ERROR;
      }
    }
    else if ((strcmp(a, "--target") == 0 || strcmp(a, "--exclude") == 0) &&
             i + 1 < argc) {
      int k = a[2] == 'e';
      if (nscope[k] == MAXSCOPE) return die("too many --target/--exclude");
      if (scopearg(argv[++i], &scope[k][nscope[k]]) != 0) {
        fprintf(stderr, "moonsync diff: %s expects MODEL:UID, got '%s'\n", a,
                argv[i]);
        return EXIT_ERROR;
      }
      nscope[k]++;
    }
    else if (strcmp(a, "--exit-code") == 0)
      return die("--exit-code is no longer needed: diff exits 2 when there "
                 "are differences, 0 when there are none, 1 on an error");
    else if (strcmp(a, "--skip-duplicates") == 0) skip = 1;
    else if (strcmp(a, "--timings") == 0) timings = 1;
    else if (strcmp(a, "--no-progress") == 0) progress = 0;
    else if (a[0] == '-' && a[1] != '\0') {
      fprintf(stderr, "moonsync diff: unknown or incomplete option '%s' (it "
              "does not apply to diff --schema)\n%s", a, usage);
      return EXIT_ERROR;
    }
    else if (nfiles < 2) files[nfiles++] = a;
    else return die("too many arguments (expected SOURCE.json DEST.json)");
  }
  if (schema == NULL || nfiles != 2) {
    fputs(usage, stderr);
    return EXIT_ERROR;
  }
  if (strcmp(format, "str") && strcmp(format, "dict") &&
      strcmp(format, "summary") && strcmp(format, "json")) {
    fprintf(stderr, "moonsync diff: unknown format '%s' (str, dict, summary, "
            "json)\n", format);
    return EXIT_ERROR;
  }
  if (ms_schema_load(schema, &sc, &err) != MS_OK) return die(err.msg);
  flags |= sc.global_flags;
  for (i = 0; i < 2; i++) {
    if (ms_schema_store(&sc, names[i], i ? MS_SIDE_DEST : MS_SIDE_SOURCE,
                        &st[i], &err) != MS_OK) {
      ms_store_free(st[0]);
      ms_schema_free(&sc);
      return die(err.msg);
    }
    memset(&lo[i], 0, sizeof lo[i]);
    lo[i].skip_dups = skip;
    lo[i].progress.fn = ms_progress_load;  /* shown on a terminal */
    lo[i].progress.ud = (void *)files[i];
  }
  ms_schema_free(&sc);
  /* both documents parse in parallel: they are independent stores */
  t0 = now();
  ms_progress_enable(progress && isatty(2));
  rc = ms_load_pair(st, files, lo, lerr, &which);
  if (rc != MS_OK) {
    fprintf(stderr, "moonsync diff: %s%s%s\n", rc == MS_EEXISTS ? ms_err_type(rc) : "",
            rc == MS_EEXISTS ? ": " : "", lerr[which].msg);
    rc = EXIT_ERROR;
    goto done;
  }
  rc = EXIT_ERROR;
  t1 = now();
  if (ms_diff_compute(st[0], st[1], flags, NULL, NULL, &d, &err)
      != MS_OK) {
    fprintf(stderr, "moonsync diff: %s: %s\n", ms_err_type(err.code), err.msg);
    goto done;
  }
  if ((nscope[0] || nscope[1]) &&
      ms_diff_scope(d, scope[0], nscope[0], scope[1], nscope[1]) == 0 &&
      nscope[0]) {
    fprintf(stderr, "moonsync diff: no change matches --target\n");
    goto done;
  }
  t2 = now();
  if (strcmp(format, "str") == 0) {
    ms_diff_str(&out, d);
  } else if (strcmp(format, "dict") == 0) {
    ms_diff_dict_json(&out, d, 0);
  } else if (strcmp(format, "summary") == 0) {
    ms_summary s;
    ms_diff_summary(d, &s);
    ms_summary_json(&out, &s, 0);
  } else {
    ms_diff_changes_json(&out, d);
  }
  ms_buf_putc(&out, '\n');
  if (out.oom) {
    fprintf(stderr, "moonsync diff: out of memory\n");
    goto done;
  }
  if (fwrite(out.data, 1, out.len, stdout) != out.len || fflush(stdout) != 0) {
    fprintf(stderr, "moonsync diff: cannot write the output\n");
    goto done;
  }
  rc = ms_diff_has_diffs(d) ? EXIT_DIFFERENT : EXIT_SAME;
  if (timings) {
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    fprintf(stderr, "timings: load %.3f s, diff %.3f s, output %.3f s, "
            "records %zu + %zu, peak RSS %.1f MiB\n", t1 - t0, t2 - t1,
            now() - t2, ms_store_count(st[0], -1),
            ms_store_count(st[1], -1), (double)ru.ru_maxrss / 1024.0);
  }
done:
  ms_buf_free(&out);
  ms_diff_free(d);
  ms_store_free(st[0]);
  ms_store_free(st[1]);
  return rc;
}
