/*
** fsafe.c: atomic writes that keep a file's identity, the process-wide
** list of temporary files in progress, and advisory locks (fsafe.h).
*/
#include "fsafe.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define TMPTAG ".moonsync-tmp-"
#define NSLOTS 8

/* Temporary files being written. A slot is claimed by the writer (the
   Lua thread) and read by signal handlers and the deadline thread, which
   only unlink: the path is complete before `busy` is set. */
static char slotpath[NSLOTS][PATH_MAX];
static volatile sig_atomic_t slotbusy[NSLOTS];

static int claim(const char *tmp) {
  int i;
  for (i = 0; i < NSLOTS; i++)
    if (!slotbusy[i]) {
      snprintf(slotpath[i], PATH_MAX, "%s", tmp);
      slotbusy[i] = 1;
      return i;
    }
  return -1;  /* more than NSLOTS writes at once: not tracked */
}

static void release(int i) {
  if (i >= 0) slotbusy[i] = 0;
}

void ms_fsafe_abort(void) {
  int i;
  for (i = 0; i < NSLOTS; i++)
    if (slotbusy[i]) {
      unlink(slotpath[i]);
      slotbusy[i] = 0;
    }
}

/* {====== paths ======} */

static int dirbase(const char *path, char *dir, const char **base) {
  const char *slash = strrchr(path, '/');
  if (slash == NULL) {
    strcpy(dir, ".");
    *base = path;
  } else if (slash == path) {
    strcpy(dir, "/");
    *base = slash + 1;
  } else {
    size_t n = (size_t)(slash - path);
    if (n >= PATH_MAX) return -1;
    memcpy(dir, path, n);
    dir[n] = '\0';
    *base = slash + 1;
  }
  return **base ? 0 : -1;
}

int ms_fsafe_target(const char *path, char *out, ms_err *err) {
  char cur[PATH_MAX], link[PATH_MAX], dir[PATH_MAX];
  const char *base;
  int hops;
  if (strlen(path) >= sizeof cur)
    return ms_err_set(err, MS_EIO, "%s: path too long", path);
  strcpy(cur, path);
  for (hops = 0; hops < 40; hops++) {
    struct stat st;
    ssize_t n;
    if (lstat(cur, &st) != 0 || !S_ISLNK(st.st_mode)) break;
    n = readlink(cur, link, sizeof link - 1);
    if (n < 0) return ms_err_set(err, MS_EIO, "%s: %s", path, strerror(errno));
    link[n] = '\0';
    if (link[0] == '/') {
      strcpy(cur, link);
    } else {
      if (dirbase(cur, dir, &base) != 0 ||
          (size_t)snprintf(cur, sizeof cur, "%s/%s", dir, link) >= sizeof cur)
        return ms_err_set(err, MS_EIO, "%s: path too long", path);
    }
  }
  if (hops == 40)
    return ms_err_set(err, MS_EIO, "%s: too many levels of symbolic links",
                      path);
  /* the directory is canonical; the file itself may not exist yet */
  if (dirbase(cur, dir, &base) != 0)
    return ms_err_set(err, MS_EIO, "%s: not a file name", path);
  {
    char rdir[PATH_MAX];
    if (realpath(dir, rdir) == NULL)
      return ms_err_set(err, MS_EIO, "cannot write %s: %s", path,
                        strerror(errno));
    if ((size_t)snprintf(out, PATH_MAX, "%s/%s", strcmp(rdir, "/") ? rdir : "",
                         base) >= PATH_MAX)
      return ms_err_set(err, MS_EIO, "%s: path too long", path);
  }
  return MS_OK;
}

/* Removes ".BASE.moonsync-tmp-PID-N" files in dir whose PID is gone. */
static void leftovers(const char *dir, const char *base, ms_buf *removed) {
  DIR *d = opendir(dir);
  struct dirent *de;
  char prefix[NAME_MAX + 32];
  size_t pn;
  if (d == NULL) return;
  snprintf(prefix, sizeof prefix, ".%s" TMPTAG, base);
  pn = strlen(prefix);
  while ((de = readdir(d)) != NULL) {
    char *end;
    long pid;
    char full[PATH_MAX];
    if (strncmp(de->d_name, prefix, pn) != 0) continue;
    pid = strtol(de->d_name + pn, &end, 10);
    if (*end != '-' || pid <= 0) continue;
    if (pid == (long)getpid() || kill((pid_t)pid, 0) == 0 || errno != ESRCH)
      continue;  /* its writer may still be at work */
    if ((size_t)snprintf(full, sizeof full, "%s/%s", dir, de->d_name) >=
        sizeof full)
      continue;
    if (unlink(full) == 0 && removed) {
      ms_buf_puts(removed, full);
      ms_buf_putc(removed, '\n');
    }
  }
  closedir(d);
}

static int syncdir(const char *dir) {
  int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  int rc;
  if (fd < 0) return -1;
  rc = fsync(fd);
  close(fd);
  return rc;
}

static int writeall(int fd, const char *p, size_t n) {
  while (n > 0) {
    ssize_t w = write(fd, p, n);
    if (w < 0 && errno == EINTR) continue;
    if (w < 0) return -1;
    p += w;
    n -= (size_t)w;
  }
  return 0;
}

typedef struct bytes {
  const char *p;
  size_t n;
} bytes;

static int putbytes(void *ud, int fd) {
  const bytes *b = ud;
  return writeall(fd, b->p, b->n) == 0 ? 0 : errno;
}

int ms_fsafe_write(const char *path, const char *data, size_t len,
                   int *lockfd, ms_buf *removed, ms_err *err) {
  bytes b;
  b.p = data;
  b.n = len;
  return ms_fsafe_write_with(path, putbytes, &b, lockfd, removed, err);
}

/* A file with more than one hard link cannot be replaced by a rename
   without splitting it: the other names would keep the old content, and
   a lock taken through one name would not hold another writer. */
static int linked(const char *path, const struct stat *st, ms_err *err) {
  return ms_err_set(err, MS_EIO, "cannot write %s: it has %lu hard links, and "
                    "moonsync replaces a file it writes, which would split "
                    "them (the other names would keep the old content): "
                    "remove the other links, or write to a copy", path,
                    (unsigned long)st->st_nlink);
}

int ms_fsafe_write_with(const char *path, ms_fsafe_producer produce, void *ud,
                        int *lockfd, ms_buf *removed, ms_err *err) {
  static unsigned counter;
  char real[PATH_MAX], dir[PATH_MAX], tmp[PATH_MAX];
  const char *base;
  struct stat st;
  int exists, fd, slot, e;
  mode_t mode;
  int rc = ms_fsafe_target(path, real, err);
  if (rc != MS_OK) return rc;
  dirbase(real, dir, &base);
  leftovers(dir, base, removed);
  exists = stat(real, &st) == 0;
  if (exists && !S_ISREG(st.st_mode))
    return ms_err_set(err, MS_EIO, "cannot write %s: not a regular file", path);
  if (exists && st.st_nlink > 1) return linked(path, &st, err);
  if (exists) {
    mode = st.st_mode & 07777;
  } else {
    mode_t mask = umask(0);
    umask(mask);
    mode = 0666 & ~mask;
  }
  if ((size_t)snprintf(tmp, sizeof tmp, "%s/.%s" TMPTAG "%ld-%u", dir, base,
                       (long)getpid(), counter++) >= sizeof tmp)
    return ms_err_set(err, MS_EIO, "cannot write %s: path too long", path);
  /* claimed before it exists, so a signal never misses it */
  slot = claim(tmp);
  fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
  if (fd < 0) {
    e = errno;
    release(slot);
    return ms_err_set(err, MS_EIO, "cannot write %s: %s", path, strerror(e));
  }
  /* mode and owner first: the data is never readable more widely */
  if (fchmod(fd, mode) != 0) goto fail;
  if (exists && (st.st_uid != geteuid() || st.st_gid != getegid()) &&
      fchown(fd, st.st_uid, st.st_gid) != 0) {
    e = errno;
    close(fd);
    unlink(tmp);
    release(slot);
    return ms_err_set(err, MS_EIO, "cannot write %s: cannot keep its owner "
                      "%ld:%ld (%s)", path, (long)st.st_uid, (long)st.st_gid,
                      strerror(e));
  }
  if ((e = produce(ud, fd)) != 0) {
    errno = e;
    goto fail;
  }
  if (fsync(fd) != 0) goto fail;
  if (lockfd && *lockfd >= 0 && flock(fd, LOCK_EX | LOCK_NB) != 0) goto fail;
  if (rename(tmp, real) != 0) goto fail;
  release(slot);
  if (syncdir(dir) != 0) {
    e = errno;
    close(fd);
    return ms_err_set(err, MS_EIO, "wrote %s but could not sync its "
                      "directory: %s", path, strerror(e));
  }
  if (lockfd && *lockfd >= 0) {
    close(*lockfd);
    *lockfd = fd;  /* the lock moves to the file now at the path */
  } else {
    close(fd);
  }
  return MS_OK;
fail:
  e = errno;
  close(fd);
  unlink(tmp);
  release(slot);
  return ms_err_set(err, MS_EIO, "cannot write %s: %s", path, strerror(e));
}

/* {====== locks ======} */

static void pause_ms(long ms) {
  struct timespec ts;
  ts.tv_sec = ms / 1000;
  ts.tv_nsec = (ms % 1000) * 1000000L;
  while (nanosleep(&ts, &ts) != 0 && errno == EINTR) {}
}

static double mono(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* flock with a timeout: 0 when locked, -1 when the wait ended (errno
   EWOULDBLOCK) or failed. */
static int waitlock(int fd, double timeout, double start) {
  for (;;) {
    if (flock(fd, LOCK_EX | LOCK_NB) == 0) return 0;
    if (errno != EWOULDBLOCK && errno != EINTR) return -1;
    if (timeout == 0 || (timeout > 0 && mono() - start >= timeout)) {
      errno = EWOULDBLOCK;
      return -1;
    }
    pause_ms(20);
  }
}

int ms_fsafe_lock(const char *path, double timeout, ms_err *err) {
  double start = mono();
  for (;;) {
    char real[PATH_MAX], dir[PATH_MAX];
    const char *base;
    struct stat held, now;
    int isdir = 0, fd, rc = ms_fsafe_target(path, real, err);
    if (rc != MS_OK) return -1;
    fd = open(real, O_RDONLY | O_CLOEXEC | O_NOCTTY);
    if (fd < 0 && errno == ENOENT) {
      dirbase(real, dir, &base);
      fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
      isdir = 1;
    }
    if (fd < 0) {
      ms_err_set(err, MS_EIO, "cannot lock %s: %s", path, strerror(errno));
      return -1;
    }
    if (waitlock(fd, timeout, start) != 0) {
      int e = errno;
      close(fd);
      if (e == EWOULDBLOCK)
        ms_err_set(err, MS_EIO, "%s is locked by another moonsync run%s",
                   path, timeout > 0 ? " (waited for the lock in vain)" : "");
      else
        ms_err_set(err, MS_EIO, "cannot lock %s: %s", path, strerror(e));
      return -1;
    }
    /* is what we locked still what the path names? */
    if (fstat(fd, &held) == 0) {
      if (!isdir && held.st_nlink > 1) {
        linked(path, &held, err);
        close(fd);
        return -1;
      }
      int same = stat(real, &now) == 0
                   ? !isdir && now.st_ino == held.st_ino &&
                       now.st_dev == held.st_dev
                   : isdir;
      if (same) return fd;
    }
    close(fd);  /* replaced or created meanwhile: lock it anew */
  }
}

int ms_fsafe_lock_named(const char *lockfile, double timeout, ms_err *err) {
  double start = mono();
  char pid[32];
  int n, fd = open(lockfile, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
  if (fd < 0)
    return ms_err_set(err, MS_EIO, "cannot create the lock %s: %s", lockfile,
                      strerror(errno)), -1;
  if (waitlock(fd, timeout, start) != 0) {
    char who[32] = "";
    int e = errno;
    ssize_t r = pread(fd, who, sizeof who - 1, 0);
    close(fd);
    who[r > 0 ? strcspn(who, "\n") : 0] = '\0';
    if (e != EWOULDBLOCK)
      ms_err_set(err, MS_EIO, "cannot lock %s: %s", lockfile, strerror(e));
    else if (who[0])
      ms_err_set(err, MS_EIO, "another moonsync run (pid %s) holds the lock "
                 "%s", who, lockfile);
    else
      ms_err_set(err, MS_EIO, "another moonsync run holds the lock %s",
                 lockfile);
    return -1;
  }
  n = snprintf(pid, sizeof pid, "%ld\n", (long)getpid());
  if (ftruncate(fd, 0) == 0) (void)!pwrite(fd, pid, (size_t)n, 0);
  return fd;
}
