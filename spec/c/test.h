/*
** test.h: a minimal TAP producer for the C unit tests.
*/
#ifndef MS_TEST_H
#define MS_TEST_H

#include <stdio.h>
#include <string.h>

static int t_count, t_failed;

#define CHECK(cond, name)                                               \
  do {                                                                  \
    t_count++;                                                          \
    if (cond) {                                                         \
      printf("ok %d - %s\n", t_count, name);                            \
    } else {                                                            \
      t_failed++;                                                       \
      printf("not ok %d - %s (%s:%d)\n", t_count, name, __FILE__,       \
             __LINE__);                                                 \
    }                                                                   \
  } while (0)

#define CHECK_STR(got, want, name)                                      \
  do {                                                                  \
    const char *g_ = (got), *w_ = (want);                               \
    CHECK(g_ != NULL && strcmp(g_, w_) == 0, name);                     \
    if (!(g_ != NULL && strcmp(g_, w_) == 0))                           \
      printf("#   got:  %s\n#   want: %s\n", g_ ? g_ : "(null)", w_);   \
  } while (0)

#define DONE() (printf("1..%d\n", t_count), t_failed ? 1 : 0)

#endif
