/*
** fuzz.h: the entry point every fuzz target defines. Built with
** -fsanitize=fuzzer for `make fuzz`, or with standalone.c to replay the
** seed and regression corpora in `make test`.
*/
#ifndef MS_FUZZ_H
#define MS_FUZZ_H

#include <stddef.h>
#include <stdint.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Aborts (so the fuzzer records a crash) when a property does not hold. */
#define FUZZ_CHECK(cond)                                                  \
  do {                                                                    \
    if (!(cond)) {                                                        \
      fprintf(stderr, "property failed: %s (%s:%d)\n", #cond, __FILE__,  \
              __LINE__);                                                  \
      abort();                                                            \
    }                                                                     \
  } while (0)

#endif
