/*
** json.h: JSON reader producing ms_value trees in an arena. Keeps object
** key order and the integer/float distinction of the text ("1" vs "1.0"),
** as DiffSync's output depends on both. Errors name the source, line and
** column.
*/
#ifndef MS_JSON_H
#define MS_JSON_H

#include <stddef.h>

#include "arena.h"
#include "err.h"
#include "value.h"

#define MS_JSON_MAX_DEPTH 16384

/* Parses text[0..len) (text[len] must be readable and '\0'). name is used
   in error messages ("source.json:3:14: ..."). Strings without escapes
   point into text, so text must live as long as the values: keep it in
   the same arena. Returns MS_OK or MS_EPARSE / MS_ENOMEM. */
int ms_json_parse(ms_arena *a, const char *text, size_t len,
                  const char *name, ms_value *out, ms_err *err);

/* Reads a whole file into the arena, NUL-terminated. Returns MS_OK or
   MS_EIO / MS_ENOMEM with the path in the message. */
int ms_read_file(ms_arena *a, const char *path, char **data, size_t *len,
                 ms_err *err);

/* A file mapped read-only over zeroed pages one page longer than it, so
   that its text reads as NUL-terminated whatever its size. Pages read
   can be let go of as a reader moves on (ms_text_release). */
typedef struct ms_text {
  const char *data;
  size_t len;
  size_t span;             /* bytes mapped */
  const char *released;    /* pages before it were let go */
} ms_text;
int ms_text_map(const char *path, ms_text *t, ms_err *err);
/* Lets go of the pages wholly before `upto` once `step` bytes gathered. */
void ms_text_release(ms_text *t, const char *upto, size_t step);
void ms_text_unmap(ms_text *t);

/* Reads and parses a file (ms_read_file + ms_json_parse). */
int ms_json_load(ms_arena *a, const char *path, ms_value *out, ms_err *err);

#endif
