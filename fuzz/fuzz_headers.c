/*
** fuzz_headers.c: the Retry-After reading of raw response headers, which
** come from servers we do not control.
*/
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "http.h"

#include "fuzz.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  char *h = malloc(size + 1);
  double v;
  if (h == NULL) return 0;
  memcpy(h, data, size);
  h[size] = '\0';
  v = ms_http_retry_after(h);
  FUZZ_CHECK(v == -1 || (v >= 0 && !isnan(v)));
  free(h);
  return 0;
}
