/*
** mapping.h: declarative field mappings from source documents (decoded
** JSON, CSV rows, API results) to records, evaluated in C: dotted paths,
** defaults, constants, references to records built by earlier mappings,
** built-in normalizers, equality filters and parent links. Lua transforms
** and filters plug in through callbacks (the binding supplies them).
*/
#ifndef MS_MAPPING_H
#define MS_MAPPING_H

#include <stdint.h>

#include "err.h"
#include "json.h"
#include "store.h"
#include "value.h"

/* built-in normalizers, applied in order */
enum { MS_NORM_LOWER = 1, MS_NORM_UPPER, MS_NORM_TRIM, MS_NORM_IP,
       MS_NORM_PREFIX, MS_NORM_MAC, MS_NORM_SET, MS_NORM_INTEGER,
       MS_NORM_NUMBER, MS_NORM_LUA };

#define MS_MAP_MAXSTEPS 8

typedef struct ms_mapstep {
  int kind;          /* MS_NORM_* */
  char *key;         /* MS_NORM_SET: sort key path in map items, or NULL */
  int lua;           /* MS_NORM_LUA: callback index */
} ms_mapstep;

typedef struct ms_mapfield {
  char *field;               /* model field name */
  char *path;                /* dotted source path, or NULL */
  ms_value konst;            /* constant (has_const) */
  ms_value dflt;             /* default when the path is missing or null */
  int has_const, has_default;
  char *ref_model;           /* reference: the record of ref_model whose */
  char *ref_field;           /*   source id equals the value at path; take
                                its ref_field */
  ms_mapstep steps[MS_MAP_MAXSTEPS];
  int nsteps;
} ms_mapfield;

typedef struct ms_mapwhere {
  char *path;
  ms_value value;
} ms_mapwhere;

typedef struct ms_mapping {
  char *name;
  char *model;
  char *from;                /* dotted path to the list, or NULL: the
                                document is the list */
  char *id;                  /* source id path, recorded for references */
  ms_mapfield *fields;
  uint32_t nfields;
  ms_mapwhere *where;
  uint32_t nwhere;
  char *parent_model;        /* link each record to a parent of this model */
  char **parent_ids;         /* parent identifier i <- this record's field */
  uint32_t nparent;
  int lua_filter;            /* callback index, or -1 */
  int skip_dups;             /* a record whose uid is taken is skipped:
                                the first wins (records derived from rows
                                that repeat them, such as sites of devices) */
  ms_arena arena;            /* constants, defaults, where values */
} ms_mapping;

/* Callbacks into the host language (may be NULL when unused). transform
   returns MS_OK with *out (allocated in the store), or an error with err
   set; filter sets *keep. */
typedef struct ms_maphooks {
  void *ud;
  int (*transform)(void *ud, int idx, ms_store *s, const ms_value *in,
                   ms_value *out, ms_err *err);
  int (*filter)(void *ud, int idx, const ms_value *rec, int *keep,
                ms_err *err);
} ms_maphooks;

typedef struct ms_mapstats {
  uint64_t seen, added, filtered, skipped;
} ms_mapstats;

/* How a run reads its source (NULL: the defaults, all zero). */
typedef struct ms_maprun {
  const char *source;        /* positions as source:line ... */
  const uint32_t *lines;     /* ... with the line of each item */
  size_t base;               /* or as indices from base (batches) */
  int skip_dups;             /* every mapping skips duplicates */
  int copy;                  /* the source does not live in the store:
                                values are copied into it */
  ms_internstat *kept;       /* with copy: one per mapping field */
} ms_maprun;

/* Frees what a mapping owns (the struct itself is the caller's). */
void ms_mapping_clear(ms_mapping *m);

/* Checks a mapping against a store's model; MS_ESCHEMA naming the field. */
int ms_mapping_check(const ms_mapping *m, const ms_store *s, ms_err *err);

/* Builds records from doc and adds them to the store; stats are added
   to. The values of doc must live in the store's arena unless run->copy.
   Errors name the mapping, the field, the source record's position and
   the offending value. */
int ms_mapping_run(const ms_mapping *m, ms_store *s, const ms_value *doc,
                   const ms_maphooks *hooks, const ms_maprun *run,
                   ms_mapstats *stats, ms_err *err);
/* Items ms_mapping_run_text reads, then maps, at a time. */
#define MS_MAP_CHUNK 4096

/* The same over JSON text (NUL-terminated, len bytes, name for errors)
   without a tree of the whole document: the items of the 'from' list are
   parsed into the caller's scratch arena and items array (MS_MAP_CHUNK
   values) and mapped a chunk at a time, the pages of `mapped` (NULL:
   none) let go behind them; scratch is emptied after each chunk. The
   rest of the document is read for its errors. */
int ms_mapping_run_text(const ms_mapping *m, ms_store *s, const char *text,
                        size_t len, const char *name, ms_text *mapped,
                        ms_arena *scratch, ms_value *items,
                        const ms_maphooks *hooks, const ms_maprun *run,
                        ms_mapstats *stats, ms_err *err);

/* Applies a built-in normalizer (for tests and the Lua API). */
int ms_normalize(int kind, const char *key, ms_store *s, const ms_value *in,
                 ms_value *out, ms_err *err);

#endif
