/*
** fsafe.h: file writes that never lose data, and one writer per file.
** A write goes to a temporary file beside the real file (symbolic links
** are followed, so the link stays and its target is replaced), keeps the
** file's mode and owner, is fsynced, renamed over the file, and the
** directory fsynced. Temporary files in progress are known process-wide,
** so signal handlers and the hard deadline can remove them before the
** process dies; leftovers of a killed process are removed by the next
** write. Locks are advisory (flock) and held until released or the
** process exits.
*/
#ifndef MS_FSAFE_H
#define MS_FSAFE_H

#include <stddef.h>

#include "buf.h"
#include "err.h"

/* The file a write to `path` replaces: path with its symbolic links
   followed (also a dangling last link), into out (PATH_MAX bytes). */
int ms_fsafe_target(const char *path, char *out, ms_err *err);

/* Writes data to path atomically as described above. Leftover temporary
   files of path from processes that no longer run are removed first and
   their names appended to `removed` (one per line) when it is not NULL.
   With lockfd pointing at a descriptor that holds ms_fsafe_lock on path,
   the new file is locked before it replaces the old one and *lockfd is
   swapped to it, so the lock never lapses. Errors: MS_EIO naming the path
   and the reason; nothing is left behind. */
int ms_fsafe_write(const char *path, const char *data, size_t len,
                   int *lockfd, ms_buf *removed, ms_err *err);

/* The same with the content written by `produce` to the temporary file's
   descriptor: 0, or an errno. For content made as it is written. */
typedef int (*ms_fsafe_producer)(void *ud, int fd);
int ms_fsafe_write_with(const char *path, ms_fsafe_producer produce, void *ud,
                        int *lockfd, ms_buf *removed, ms_err *err);

/* Removes the temporary files of writes in progress. Async-signal-safe:
   for signal handlers and the deadline thread, just before the process
   ends. */
void ms_fsafe_abort(void);

/* An exclusive advisory lock on `path` (the real file; its directory when
   the file does not exist yet), re-checked after it is taken so that a
   file replaced meanwhile by another writer's rename is locked anew.
   timeout < 0 waits forever, 0 fails at once, > 0 waits that many seconds.
   Returns the descriptor that holds the lock (close it to release) or -1
   with MS_EIO ("locked by another run" when the wait ended). */
int ms_fsafe_lock(const char *path, double timeout, ms_err *err);

/* A lock on a lock file of its own (created, holding the pid); same
   contract as ms_fsafe_lock. */
int ms_fsafe_lock_named(const char *lockfile, double timeout, ms_err *err);

#endif
