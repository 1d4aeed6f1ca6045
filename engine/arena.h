/*
** arena.h: bump allocator. Everything allocated from an arena lives until
** ms_arena_free; the store and each diff own one.
*/
#ifndef MS_ARENA_H
#define MS_ARENA_H

#include <stddef.h>

typedef struct ms_chunk ms_chunk;

typedef struct ms_arena {
  ms_chunk *head;     /* newest chunk first */
  char *ptr, *end;    /* free space in head */
  size_t next_size;   /* size of the next chunk */
  size_t total;       /* bytes obtained from the system */
} ms_arena;

void ms_arena_init(ms_arena *a);

/* Returns n bytes aligned to 8, or NULL when out of memory.
   Owned by the arena. */
void *ms_arena_alloc(ms_arena *a, size_t n);

/* Copies s[0..n) plus a NUL into the arena; NULL when out of memory. */
char *ms_arena_strndup(ms_arena *a, const char *s, size_t n);

/* Moves every chunk of `from` into `a` (behind a's current chunk, whose
   free space stays usable); `from` is left empty. What was allocated
   from `from` is then owned by `a`. */
void ms_arena_adopt(ms_arena *a, ms_arena *from);

/* Releases every chunk; the arena is empty and usable again. */
void ms_arena_free(ms_arena *a);

#endif
