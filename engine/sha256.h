/*
** sha256.h: SHA-256 (FIPS 180-4) and HMAC-SHA-256 (RFC 2104), for binding
** a saved plan to its content. No Lua here: l_util.c binds it.
*/
#ifndef MS_SHA256_H
#define MS_SHA256_H

#include <stddef.h>
#include <stdint.h>

typedef struct ms_sha256_ctx {
  uint32_t h[8];
  uint64_t len;        /* bytes hashed so far */
  unsigned char block[64];
  size_t used;         /* bytes waiting in block */
} ms_sha256_ctx;

void ms_sha256_init(ms_sha256_ctx *s);
void ms_sha256_update(ms_sha256_ctx *s, const void *data, size_t n);
void ms_sha256_final(ms_sha256_ctx *s, unsigned char out[32]);

/* out = SHA-256(data), or HMAC-SHA-256(key, data) when key is not NULL. */
void ms_sha256(const void *data, size_t n, const void *key, size_t keylen,
               unsigned char out[32]);

#endif
