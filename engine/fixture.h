/*
** fixture.h: the document format shared by the CLI and the conformance
** suite: a schema (models, top_level, flags) and data documents of nested
** records ({model: [record, ...]}, children nested under their field).
** Bulk loading happens here, in C: no Lua call per record or field.
*/
#ifndef MS_FIXTURE_H
#define MS_FIXTURE_H

#include "err.h"
#include "store.h"
#include "value.h"

typedef struct ms_schema {
  uint32_t nmodels;
  ms_model **models;           /* owned references */
  char **top[3];               /* top_level, source_top_level, dest_top_level */
  uint32_t ntop[3];
  int hastop[3];
  uint32_t global_flags;
} ms_schema;

enum { MS_SIDE_SOURCE = 1, MS_SIDE_DEST = 2 };

/* Builds a schema from a decoded document; `name` prefixes errors. */
int ms_schema_from_value(const ms_value *v, const char *name, ms_schema *out,
                         ms_err *err);
/* Reads and builds a schema from a JSON file. */
int ms_schema_load(const char *path, ms_schema *out, ms_err *err);
void ms_schema_free(ms_schema *s);

/* A new store with the schema's models and the top_level of `side`. */
int ms_schema_store(const ms_schema *sc, const char *name, int side,
                    ms_store **out, ms_err *err);

/* Progress of a load: bytes of text read so far, of total, and records
   built. */
typedef void (*ms_load_fn)(void *ud, uint64_t done, uint64_t total,
                           uint64_t records);
typedef struct ms_load_progress {
  ms_load_fn fn;
  void *ud;
} ms_load_progress;

typedef struct ms_load_opts {
  int skip_dups;                /* drop a record whose uid is taken, with its
                                   subtree (otherwise MS_EEXISTS) */
  ms_load_progress progress;    /* called every few MB of text */
} ms_load_opts;

/* Loads a data document into the store (load.c), in DiffSync's order: add
   the record, link it to its parent (add_child), then its children, field
   by field in the model's order. No document tree is built: records and
   their values are made as the text is read, strings copied into the
   store's arena (repeated ones shared). Errors name the document and the
   record's path, e.g. "dest.json: site[2].devices[0]: ...", or the line
   and column of malformed JSON. */
int ms_load_file_opts(ms_store *st, const char *path, const ms_load_opts *o,
                      ms_err *err);
int ms_load_file(ms_store *st, const char *path, int skip_dups, ms_err *err);

/* Loads two files into two stores at once, the second in a thread of
   its own (the stores share nothing). On failure *which tells whose
   error err[*which] is. */
int ms_load_pair(ms_store *st[2], const char *path[2], const ms_load_opts o[2],
                 ms_err err[2], int *which);

/* The same from text[0..len), which must be followed by a NUL byte. */
int ms_load_text(ms_store *st, const char *text, size_t len, const char *name,
                 int skip_dups, ms_err *err);

/* The store as a nested data document (the format ms_load_file reads):
   top-level records in store order, children nested through their uid
   lists; a dangling child uid is written {"_missing_uid": uid}. */
void ms_store_nested_json(ms_buf *b, const ms_store *st);

/* Writes the nested document and a newline to fd as it is made, a chunk
   at a time (no copy of the whole text is held): 0 or an errno. */
int ms_store_write_nested(const ms_store *st, int fd);

/* Flat dump of the models the store ever used (DiffSync's store dict;
   sorted by name), records in store order with
   "_uid", fields, child uid lists, "_status" and "_status_message". */
void ms_store_flat_json(ms_buf *b, const ms_store *st);

#endif
