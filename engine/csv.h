/*
** csv.h: CSV in C (RFC 4180): a header row naming the columns, fields
** separated by commas, double quotes around a field holding commas,
** quotes ("" for one) or line breaks; CRLF, LF or CR line ends; a UTF-8
** byte order mark is skipped. Rows are read straight from the text and
** go through mappings (mapping.h) into records, several models from one
** file if need be (sites derived from device rows, say).
*/
#ifndef MS_CSV_H
#define MS_CSV_H

#include <stddef.h>
#include <stdint.h>

#include "err.h"
#include "fixture.h"
#include "mapping.h"
#include "store.h"

typedef struct ms_csv_opts {
  int keep_empty;               /* an empty cell is "" (default: null) */
  int skip_dups;                /* every mapping skips duplicates */
  const ms_maphooks *hooks;     /* one per mapping, or NULL */
  ms_load_progress progress;
} ms_csv_opts;

/* Runs the mappings, in order, over the rows of CSV text (text[len] must
   be readable and NUL), each row a map {column: cell}, cells being
   strings (or null when empty). stats: one per mapping, added to.
   Errors name the source and line: "devices.csv:12: row has 4 fields,
   the header has 5", "devices.csv:7: unterminated quoted field", or the
   mapping's own error at the row's line. */
int ms_csv_map_text(ms_store *s, const char *text, size_t len,
                    const char *name, ms_mapping *const *maps, size_t nmaps,
                    const ms_csv_opts *o, ms_mapstats *stats, ms_err *err);
int ms_csv_map_file(ms_store *s, const char *path, ms_mapping *const *maps,
                    size_t nmaps, const ms_csv_opts *o, ms_mapstats *stats,
                    ms_err *err);

/* Each row of CSV text, the header included, as cells (pointing into the
   text, or into `a` when they held quotes); `row` returning non-zero
   stops the read and is returned. */
typedef int (*ms_csv_row_fn)(void *ud, uint32_t line, const ms_value *cells,
                             uint32_t n);
int ms_csv_rows(const char *text, size_t len, const char *name, ms_arena *a,
                ms_csv_row_fn row, void *ud, ms_err *err);

#endif
