/* SHA-256 of event-id keys for the C row paths (forensics/windows/_evtxrow.c, forensics/logs/_eventid.c).
 *
 * forensics.events.make_event_id is the specification: sha256("evidence|locator|parser|...")[:32 hex].
 * The hash is OpenSSL's libcrypto (its own SHA-extension and AVX code paths, chosen at run time); the
 * callers hash the key's common head once and copy the state per row, so a row costs the one or two
 * compressions of its tail. The low-level SHA256_* calls are deprecated in OpenSSL 3 in favour of EVP,
 * whose per-row context copy allocates: they are kept on purpose.
 */
#ifndef CYBERCLAIM_EVENTID_SHA_H
#define CYBERCLAIM_EVENTID_SHA_H
#define OPENSSL_SUPPRESS_DEPRECATED
#include <openssl/sha.h>

typedef SHA256_CTX Sha;

static inline void sha_init(Sha *s) { SHA256_Init(s); }

static inline void sha_update(Sha *s, const unsigned char *p, size_t n) { SHA256_Update(s, p, n); }

/* the first 16 bytes of the digest as 32 lowercase hex digits; `s` is spent */
static inline void sha_hex32(Sha *s, char *out) {
    static const char hx[] = "0123456789abcdef";
    unsigned char d[SHA256_DIGEST_LENGTH];
    SHA256_Final(d, s);
    for (int i = 0; i < 16; i++) {
        out[2 * i] = hx[d[i] >> 4];
        out[2 * i + 1] = hx[d[i] & 15];
    }
}
#endif
