/*
** touch.c: how long this machine takes to hand a process fresh memory:
** allocates MIB mebibytes in 64 MiB blocks and writes one byte per 4 KiB
** page, so that each page is faulted in and zeroed once. Prints the
** seconds taken. The scaling figure of scripts/bench sets the engine's
** 3M-against-1M time beside this machine's own for the same memory.
** usage: touch MIB
*/
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#define BLOCK ((size_t)64 << 20)

int main(int argc, char **argv) {
  size_t total, done, i;
  struct timespec t0, t1;
  volatile char *keep = NULL;
  if (argc != 2 || (total = strtoul(argv[1], NULL, 10) << 20) == 0) {
    fprintf(stderr, "usage: touch MIB\n");
    return 2;
  }
  clock_gettime(CLOCK_MONOTONIC, &t0);
  for (done = 0; done < total; done += BLOCK) {
    volatile char *p = malloc(BLOCK);
    if (p == NULL) {
      fprintf(stderr, "touch: out of memory\n");
      return 1;
    }
    for (i = 0; i < BLOCK; i += 4096) p[i] = 1;
    keep = p;  /* the blocks stay allocated until exit */
  }
  clock_gettime(CLOCK_MONOTONIC, &t1);
  (void)keep;
  printf("%.3f\n", (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) * 1e-9);
  return 0;
}
