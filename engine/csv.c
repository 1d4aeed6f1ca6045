/*
** csv.c: CSV rows straight from the text into mappings (csv.h). A cell
** without quotes points into the text; one with "" escapes is decoded
** into a scratch arena. Rows go to the mappings in batches, each row a
** map {column: cell}; the mappings copy into the store what they keep.
*/
#include "csv.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "json.h"

#define BATCH 4096
#define RELEASE_STEP ((size_t)16 * 1024 * 1024)
#define PROGRESS_STEP ((size_t)1024 * 1024)

typedef struct reader {
  const char *p, *end;
  const char *name;
  uint32_t line;           /* of p, 1-based */
  ms_arena *a;             /* decoded cells */
  ms_value *cells;
  uint8_t *quoted;         /* per cell: it was quoted */
  uint32_t n, cap;
  ms_err *err;
} reader;

static int push(reader *r, const char *s, size_t len, int quoted) {
  if (r->n == r->cap) {
    uint32_t cap = r->cap ? r->cap * 2 : 32;
    ms_value *c = realloc(r->cells, cap * sizeof *c);
    uint8_t *q;
    if (c == NULL) return MS_ENOMEM;
    r->cells = c;
    q = realloc(r->quoted, cap);
    if (q == NULL) return MS_ENOMEM;
    r->quoted = q;
    r->cap = cap;
  }
  if (len > UINT32_MAX) return MS_ENOMEM;
  r->cells[r->n] = ms_value_str(s, len);
  r->quoted[r->n++] = (uint8_t)quoted;
  return MS_OK;
}

static int fail(reader *r, uint32_t line, const char *what) {
  return ms_err_set(r->err, MS_EINPUT, "%s:%u: %s", r->name, (unsigned)line, what);
}

/* Reads the next row into r->cells: 1, 0 at the end of the text, or an
   error code (MS_E*, negative; MS_ENOMEM without a message). Blank lines
   are no rows. */
static int readrow(reader *r, uint32_t *line) {
  const char *p = r->p, *end = r->end;
  for (;;) {
    if (p >= end) { r->p = p; return 0; }
    if (*p == '\n') { p++; r->line++; continue; }
    if (*p == '\r') { p += p + 1 < end && p[1] == '\n' ? 2 : 1; r->line++; continue; }
    break;
  }
  *line = r->line;
  r->n = 0;
  for (;;) {
    int rc;
    if (p < end && *p == '"') {
      uint32_t qline = r->line;
      const char *s = ++p;
      int escaped = 0;
      for (;;) {
        while (p < end && *p != '"') {
          if (*p == '\n' || (*p == '\r' && !(p + 1 < end && p[1] == '\n'))) r->line++;
          p++;
        }
        if (p >= end) {
          r->p = p;
          return fail(r, qline, "unterminated quoted field");
        }
        if (p + 1 < end && p[1] == '"') {
          escaped = 1;
          p += 2;
          continue;
        }
        break;
      }
      if (!escaped) {
        rc = push(r, s, (size_t)(p - s), 1);
      } else {
        char *o = ms_arena_alloc(r->a, (size_t)(p - s) + 1), *w = o;
        const char *q;
        if (o == NULL) return MS_ENOMEM;
        for (q = s; q < p; q++) {
          *w++ = *q;
          if (*q == '"') q++;  /* "" is one quote */
        }
        *w = '\0';
        rc = push(r, o, (size_t)(w - o), 1);
      }
      p++;  /* the closing quote */
      if (p < end && *p != ',' && *p != '\r' && *p != '\n') {
        r->p = p;
        return fail(r, r->line, "unexpected text after a quoted field (a quote "
                     "inside a field is written \"\")");
      }
    } else {
      const char *s = p;
      while (p < end && *p != ',' && *p != '\n' && *p != '\r') {
        if (*p == '"') {
          r->p = p;
          return fail(r, r->line, "a quote inside a field that does not start "
                      "with one (quote the whole field and write the quote "
                      "as \"\")");
        }
        p++;
      }
      rc = push(r, s, (size_t)(p - s), 0);
    }
    if (rc != MS_OK) return MS_ENOMEM;
    if (p < end && *p == ',') {
      p++;
      continue;
    }
    if (p < end) {  /* the line end */
      p += (*p == '\r' && p + 1 < end && p[1] == '\n') ? 2 : 1;
      r->line++;
    }
    r->p = p;
    return 1;
  }
}

static void setup(reader *r, const char *text, size_t len, const char *name,
                  ms_arena *a, ms_err *err) {
  memset(r, 0, sizeof *r);
  r->p = text;
  r->end = text + len;
  r->name = name ? name : "<csv>";
  r->line = 1;
  r->a = a;
  r->err = err;
  if (len >= 3 && memcmp(text, "\xef\xbb\xbf", 3) == 0) r->p += 3;
}

static int failcode(reader *r, int rc) {
  if (rc == MS_ENOMEM)
    return ms_err_set(r->err, MS_ENOMEM, "%s: out of memory", r->name);
  return rc;
}

int ms_csv_rows(const char *text, size_t len, const char *name, ms_arena *a,
                ms_csv_row_fn row, void *ud, ms_err *err) {
  reader r;
  uint32_t line;
  int rc;
  setup(&r, text, len, name, a, err);
  while ((rc = readrow(&r, &line)) == 1) {
    if ((rc = row(ud, line, r.cells, r.n)) != 0) break;
  }
  free(r.cells);
  free(r.quoted);
  return rc < 0 ? failcode(&r, rc) : rc;
}

/* {====== rows into mappings ======} */

typedef struct batch {
  ms_value list;           /* MS_LIST of the rows below */
  ms_value *rows;          /* BATCH maps */
  ms_value *items;         /* BATCH * 2 * ncols key/value pairs */
  uint32_t *lines;
} batch;

static int runbatch(ms_store *s, batch *b, const char *name,
                    ms_mapping *const *maps, size_t nmaps, const ms_csv_opts *o,
                    ms_internstat **kept, ms_mapstats *stats, ms_err *err) {
  size_t k;
  for (k = 0; k < nmaps; k++) {
    ms_maprun run;
    int rc;
    memset(&run, 0, sizeof run);
    run.source = name;
    run.lines = b->lines;
    run.skip_dups = o ? o->skip_dups : 0;
    run.copy = 1;
    run.kept = kept[k];
    rc = ms_mapping_run(maps[k], s, &b->list, o && o->hooks ? &o->hooks[k] : NULL,
                        &run, &stats[k], err);
    if (rc != MS_OK) return rc;
  }
  b->list.len = 0;
  return MS_OK;
}

static int maprows(ms_store *s, const char *text, size_t len, const char *name,
                   ms_text *mapped, ms_mapping *const *maps, size_t nmaps,
                   const ms_csv_opts *o, ms_mapstats *stats, ms_err *err) {
  reader r;
  ms_arena scratch;
  batch b;
  ms_value *header = NULL;
  ms_internstat **kept = calloc(nmaps + 1, sizeof *kept);
  uint32_t ncols = 0, line, i;
  const char *reported = text;
  int rc = MS_OK, got;
  size_t k;
  memset(&b, 0, sizeof b);
  ms_arena_init(&scratch);
  setup(&r, text, len, name, &scratch, err);
  if (kept == NULL) rc = ms_err_set(err, MS_ENOMEM, "out of memory");
  for (k = 0; k < nmaps && rc == MS_OK; k++) {
    if (maps[k]->from != NULL)
      rc = ms_err_set(err, MS_ESCHEMA, "mapping '%s': a CSV mapping reads the "
                      "rows: 'from' does not apply", maps[k]->name);
    else if ((kept[k] = calloc(maps[k]->nfields + 1, sizeof **kept)) == NULL)
      rc = ms_err_set(err, MS_ENOMEM, "out of memory");
    else
      rc = ms_mapping_check(maps[k], s, err);
  }
  /* the header: column names, which stay in the text (or scratch) */
  if (rc == MS_OK) {
    got = readrow(&r, &line);
    if (got < 0) rc = failcode(&r, got);
    else if (got == 0) rc = MS_OK;  /* no header, no rows */
    else {
      ncols = r.n;
      header = malloc(ncols * sizeof *header);
      if (header == NULL) rc = ms_err_set(err, MS_ENOMEM, "out of memory");
      for (i = 0; i < ncols && rc == MS_OK; i++) {
        uint32_t j;
        header[i] = r.cells[i];
        for (j = 0; j < i; j++)
          if (header[j].len == header[i].len &&
              memcmp(header[j].u.s, header[i].u.s, header[i].len) == 0) {
            char what[200];
            snprintf(what, sizeof what, "column '%.*s' comes twice in the header",
                     (int)(header[i].len < 100 ? header[i].len : 100), header[i].u.s);
            rc = fail(&r, line, what);
            break;
          }
      }
      /* the header's cells must outlive the scratch of each batch */
      if (rc == MS_OK) {
        for (i = 0; i < ncols; i++) {
          const char *c = ms_store_keep(s, NULL, header[i].u.s, header[i].len);
          if (c == NULL) {
            rc = ms_err_set(err, MS_ENOMEM, "out of memory");
            break;
          }
          header[i].u.s = c;
        }
      }
    }
  }
  if (rc == MS_OK && ncols > 0) {
    b.rows = malloc(BATCH * sizeof *b.rows);
    b.items = malloc((size_t)BATCH * 2 * ncols * sizeof *b.items);
    b.lines = malloc(BATCH * sizeof *b.lines);
    if (!b.rows || !b.items || !b.lines) rc = ms_err_set(err, MS_ENOMEM, "out of memory");
    b.list.type = MS_LIST;
    b.list.u.items = b.rows;
  }
  while (rc == MS_OK && ncols > 0 && (got = readrow(&r, &line)) != 0) {
    ms_value *kv;
    if (got < 0) {
      rc = failcode(&r, got);
      break;
    }
    if (r.n != ncols) {
      char what[100];
      snprintf(what, sizeof what, "row has %u field%s, the header has %u",
               (unsigned)r.n, r.n == 1 ? "" : "s", (unsigned)ncols);
      rc = fail(&r, line, what);
      break;
    }
    kv = b.items + (size_t)b.list.len * 2 * ncols;
    for (i = 0; i < ncols; i++) {
      kv[2 * i] = header[i];
      kv[2 * i + 1] = r.cells[i];
      if (r.cells[i].len == 0 && !r.quoted[i] && !(o && o->keep_empty))
        kv[2 * i + 1] = ms_nil;
    }
    b.rows[b.list.len].type = MS_MAP;
    b.rows[b.list.len].len = ncols;
    b.rows[b.list.len].u.items = kv;
    b.lines[b.list.len++] = line;
    if (b.list.len == BATCH) {
      rc = runbatch(s, &b, r.name, maps, nmaps, o, kept, stats, err);
      ms_arena_free(&scratch);
      ms_arena_init(&scratch);
      if (mapped != NULL) ms_text_release(mapped, r.p, RELEASE_STEP);
      if (o && o->progress.fn && (size_t)(r.p - reported) >= PROGRESS_STEP) {
        uint64_t made = 0;
        for (k = 0; k < nmaps; k++) made += stats[k].added;
        reported = r.p;
        o->progress.fn(o->progress.ud, (uint64_t)(r.p - text), len, made);
      }
    }
  }
  if (rc == MS_OK && b.list.len > 0)
    rc = runbatch(s, &b, r.name, maps, nmaps, o, kept, stats, err);
  if (rc == MS_OK && o && o->progress.fn) {
    uint64_t made = 0;
    for (k = 0; k < nmaps; k++) made += stats[k].added;
    o->progress.fn(o->progress.ud, len, len, made);
  }
  for (k = 0; k < nmaps && kept; k++) free(kept[k]);
  free(kept);
  free(header);
  free(b.rows);
  free(b.items);
  free(b.lines);
  free(r.cells);
  free(r.quoted);
  ms_arena_free(&scratch);
  return rc;
}

int ms_csv_map_text(ms_store *s, const char *text, size_t len,
                    const char *name, ms_mapping *const *maps, size_t nmaps,
                    const ms_csv_opts *o, ms_mapstats *stats, ms_err *err) {
  return maprows(s, text, len, name ? name : "<csv>", NULL, maps, nmaps, o,
                 stats, err);
}

int ms_csv_map_file(ms_store *s, const char *path, ms_mapping *const *maps,
                    size_t nmaps, const ms_csv_opts *o, ms_mapstats *stats,
                    ms_err *err) {
  ms_text t;
  int rc = ms_text_map(path, &t, err);
  if (rc != MS_OK) return rc;
  rc = maprows(s, t.data, t.len, path, &t, maps, nmaps, o, stats, err);
  ms_text_unmap(&t);
  return rc;
}
