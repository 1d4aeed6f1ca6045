/*
** progress.h: the load progress line a terminal shows ("load  source.json
** 45%  dest.json 52%  761234 records"), fed by the loaders of any thread.
*/
#ifndef MS_PROGRESS_H
#define MS_PROGRESS_H

#include <stdint.h>

/* Shows progress on stderr from now on (or not). Off by default. */
void ms_progress_enable(int on);
int ms_progress_enabled(void);

/* An ms_load_fn: ud is the name of what loads (kept by the caller while
   it loads). The line is redrawn at most ten times a second; a load that
   ends is dropped from it, and the line is cleared when none is left. */
void ms_progress_load(void *ud, uint64_t done, uint64_t total,
                      uint64_t records);

#endif
