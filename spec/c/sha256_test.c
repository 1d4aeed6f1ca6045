/*
** sha256_test.c: SHA-256 against FIPS 180-4's examples and HMAC-SHA-256
** against RFC 4231's test cases.
*/
#include <stdio.h>
#include <string.h>

#include "sha256.h"
#include "test.h"

static const char *hex(const unsigned char d[32]) {
  static char out[65];
  int i;
  for (i = 0; i < 32; i++) snprintf(out + 2 * i, 3, "%02x", d[i]);
  return out;
}

int main(void) {
  unsigned char d[32], key[131];
  static char million[1000000];
  ms_sha256_ctx s;
  size_t i;
  ms_sha256("abc", 3, NULL, 0, d);
  CHECK_STR(hex(d), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad",
            "sha256 of abc");
  ms_sha256("", 0, NULL, 0, d);
  CHECK_STR(hex(d), "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
            "sha256 of the empty string");
  ms_sha256("abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq", 56, NULL, 0, d);
  CHECK_STR(hex(d), "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1",
            "sha256 of the two-block message");
  memset(million, 'a', sizeof million);
  ms_sha256_init(&s);
  for (i = 0; i < sizeof million; i += 997)  /* uneven pieces */
    ms_sha256_update(&s, million + i, i + 997 <= sizeof million ? 997 : sizeof million - i);
  ms_sha256_final(&s, d);
  CHECK_STR(hex(d), "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0",
            "sha256 of a million a's, in pieces");
  memset(key, 0x0b, 20);
  ms_sha256("Hi There", 8, key, 20, d);
  CHECK_STR(hex(d), "b0344c61d8db38535ca8afceaf0bf12b881dc200c9833da726e9376c2e32cff7",
            "hmac-sha256 RFC 4231 case 1");
  ms_sha256("what do ya want for nothing?", 28, "Jefe", 4, d);
  CHECK_STR(hex(d), "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843",
            "hmac-sha256 RFC 4231 case 2");
  memset(key, 0xaa, 131);
  ms_sha256("Test Using Larger Than Block-Size Key - Hash Key First", 54, key, 131, d);
  CHECK_STR(hex(d), "60e431591ee0b67f0d8a26aacbf5b77f8e0bc6213728c5140546040f0ee37f54",
            "hmac-sha256 RFC 4231 case 6 (a key longer than a block)");
  printf("1..%d\n", t_count);
  return t_failed != 0;
}
