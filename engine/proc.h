/*
** proc.h: process-wide state that only a process can have: what SIGINT,
** SIGTERM and SIGHUP do, the interrupt flag a running sync polls, and the
** hard deadline that ends a run whose time limit did not stop it (a long
** call inside a C library cannot be interrupted by a Lua hook). Before
** the process dies by a signal or the deadline, temporary files of
** writes in progress are removed (fsafe.h).
*/
#ifndef MS_PROC_H
#define MS_PROC_H

/* Installs the signal handlers. With trap set, the first SIGINT or SIGTERM
   only sets the interrupt flag (a sync stops after the current operation);
   otherwise, and on a second signal, temporary files are removed and the
   signal ends the process as it would have. Clears the flag. */
void ms_proc_signals(int trap);

/* The signal that asked for an interrupt (or 1 for ms_proc_interrupt),
   0 when none did. */
int ms_proc_interrupted(void);

/* Sets (on) or clears the interrupt flag by hand. */
void ms_proc_interrupt(int on);

/* After `seconds`, writes `message` (copied) to stderr, removes the
   temporary files of writes in progress and ends the process with exit
   status 1, whatever it is doing. Returns 0, or -1 if no thread could be
   started. At most one deadline per process. */
int ms_proc_deadline(double seconds, const char *message);

#endif
