/*
** arena.c: chunked bump allocator (see arena.h).
*/
#include "arena.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

struct ms_chunk {
  ms_chunk *next;
  size_t size;
};

#define MIN_CHUNK ((size_t)64 * 1024)
#define MAX_CHUNK ((size_t)64 * 1024 * 1024)

void ms_arena_init(ms_arena *a) {
  a->head = NULL;
  a->ptr = a->end = NULL;
  a->next_size = MIN_CHUNK;
  a->total = 0;
}

/* Chunks sit on ordinary pages: an arena is filled front to back, so a
   4 KB page is zeroed just before it is written and is still in the
   cache when it is; a 2 MB huge page is zeroed in one go, out of the
   cache again before most of it is written. */
static ms_chunk *newchunk(size_t size) {
  ms_chunk *c = malloc(size);
  if (c == NULL) return NULL;
  c->size = size;
  return c;
}

void *ms_arena_alloc(ms_arena *a, size_t n) {
  char *p;
  n = (n + 7) & ~(size_t)7;
  if (n == 0) n = 8;
  if ((size_t)(a->end - a->ptr) < n || a->ptr == NULL) {
    size_t hdr = (sizeof(ms_chunk) + 15) & ~(size_t)15;
    size_t size = a->next_size;
    ms_chunk *c;
    if (n > SIZE_MAX / 2 - hdr) return NULL;
    if (size < n + hdr) size = n + hdr;
    c = newchunk(size);
    if (c == NULL) return NULL;
    a->total += c->size;
    if (n + hdr > a->next_size / 2 && a->head != NULL) {
      /* a large block gets its own chunk behind the current one, so the
         free space of the current chunk is not wasted */
      c->next = a->head->next;
      a->head->next = c;
      return (char *)c + hdr;
    }
    c->next = a->head;
    a->head = c;
    a->ptr = (char *)c + hdr;
    a->end = (char *)c + c->size;
    if (a->next_size < MAX_CHUNK) a->next_size *= 2;
  }
  p = a->ptr;
  a->ptr += n;
  return p;
}

char *ms_arena_strndup(ms_arena *a, const char *s, size_t n) {
  char *p = ms_arena_alloc(a, n + 1);
  if (p == NULL) return NULL;
  if (n) memcpy(p, s, n);
  p[n] = '\0';
  return p;
}

void ms_arena_adopt(ms_arena *a, ms_arena *from) {
  ms_chunk *tail = from->head;
  if (tail == NULL) return;
  if (a->head == NULL) {
    *a = *from;
  } else {
    while (tail->next != NULL) tail = tail->next;
    tail->next = a->head->next;
    a->head->next = from->head;
    a->total += from->total;
  }
  ms_arena_init(from);
}

void ms_arena_free(ms_arena *a) {
  ms_chunk *c = a->head;
  while (c != NULL) {
    ms_chunk *next = c->next;
    free(c);
    c = next;
  }
  ms_arena_init(a);
}
