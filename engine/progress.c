/*
** progress.c: the load progress line (progress.h).
*/
#include "progress.h"

#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#define SLOTS 4

static struct {
  const char *name;
  uint64_t done, total, records;
} slots[SLOTS];

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static int enabled;
static double last;
static int drawn;

void ms_progress_enable(int on) { enabled = on; }

int ms_progress_enabled(void) { return enabled; }

static double now(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void draw(void) {
  char line[256];
  size_t n = 0;
  uint64_t records = 0;
  int i, any = 0;
  n += (size_t)snprintf(line + n, sizeof line - n, "\rload ");
  for (i = 0; i < SLOTS; i++) {
    const char *base;
    if (slots[i].name == NULL) continue;
    any = 1;
    base = strrchr(slots[i].name, '/');
    base = base ? base + 1 : slots[i].name;
    records += slots[i].records;
    if (n < sizeof line)
      n += (size_t)snprintf(line + n, sizeof line - n, " %.40s %3d%%", base,
                            slots[i].total ? (int)(slots[i].done * 100 / slots[i].total) : 100);
  }
  if (!any) {
    if (drawn) fputs("\r\033[K", stderr);
    drawn = 0;
    return;
  }
  if (n < sizeof line)
    snprintf(line + n, sizeof line - n, "  %llu records\033[K",
             (unsigned long long)records);
  fputs(line, stderr);
  fflush(stderr);
  drawn = 1;
}

void ms_progress_load(void *ud, uint64_t done, uint64_t total,
                      uint64_t records) {
  const char *name = ud;
  double t;
  int i, free_slot = -1, at = -1;
  if (!enabled || name == NULL) return;
  pthread_mutex_lock(&lock);
  for (i = 0; i < SLOTS; i++) {
    if (slots[i].name == name) at = i;
    else if (slots[i].name == NULL && free_slot < 0) free_slot = i;
  }
  if (at < 0) at = free_slot;
  if (at >= 0) {
    slots[at].name = done >= total ? NULL : name;
    slots[at].done = done;
    slots[at].total = total;
    slots[at].records = records;
  }
  t = now();
  if (done >= total || t - last >= 0.1) {
    last = t;
    draw();
  }
  pthread_mutex_unlock(&lock);
}
