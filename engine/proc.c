/*
** proc.c: signals, the interrupt flag and the hard deadline (proc.h).
** These are process-wide by nature, so they are plain statics.
*/
#include "proc.h"

#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "fsafe.h"

static volatile sig_atomic_t requested, trapping;

static void onsignal(int sig) {
  static const char first[] = "\nmoonsync: interrupted: finishing the writes "
    "in flight, sending no new ones (interrupt again to stop at once)\n";
  static const char second[] = "\nmoonsync: interrupted again: stopping at "
    "once; writes in flight may or may not have been applied, and the run "
    "history shows this run without an exit status\n";
  if (trapping && !requested) {
    requested = sig;
    (void)!write(2, first, sizeof first - 1);
    return;
  }
  if (trapping) (void)!write(2, second, sizeof second - 1);
  ms_fsafe_abort();
  signal(sig, SIG_DFL);
  raise(sig);
}

void ms_proc_signals(int trap) {
  requested = 0;
  trapping = trap;
  signal(SIGINT, onsignal);
  signal(SIGTERM, onsignal);
  signal(SIGHUP, onsignal);
}

int ms_proc_interrupted(void) { return requested; }

void ms_proc_interrupt(int on) { requested = on ? (requested ? requested : 1) : 0; }

static char deadline_msg[512];
static struct timespec deadline_at;

static void *deadline_main(void *ud) {
  size_t n = strlen(deadline_msg);
  (void)ud;
  while (clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &deadline_at, NULL)
         == EINTR) {}
  ms_fsafe_abort();
  (void)!write(2, deadline_msg, n);
  _exit(1);
  return NULL;
}

int ms_proc_deadline(double seconds, const char *message) {
  static int started;
  pthread_t t;
  pthread_attr_t attr;
  sigset_t all, old;
  int rc;
  if (started) return 0;
  snprintf(deadline_msg, sizeof deadline_msg, "%s\n", message);
  clock_gettime(CLOCK_MONOTONIC, &deadline_at);
  deadline_at.tv_sec += (time_t)seconds;
  deadline_at.tv_nsec += (long)((seconds - (double)(time_t)seconds) * 1e9);
  if (deadline_at.tv_nsec >= 1000000000L) {
    deadline_at.tv_sec++;
    deadline_at.tv_nsec -= 1000000000L;
  }
  pthread_attr_init(&attr);
  pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
  /* signals are for the main thread */
  sigfillset(&all);
  pthread_sigmask(SIG_SETMASK, &all, &old);
  rc = pthread_create(&t, &attr, deadline_main, NULL);
  pthread_sigmask(SIG_SETMASK, &old, NULL);
  pthread_attr_destroy(&attr);
  if (rc != 0) return -1;
  started = 1;
  return 0;
}
