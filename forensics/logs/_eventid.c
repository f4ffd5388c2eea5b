/* Event ids of a block's rows: make_event_id = sha256("evidence|locator|parser|data_type")[:32 hex].
 *
 * forensics.events.make_event_id is the specification; forensics/logs/fastpath.py event_ids()
 * hands over the common head of every key ("<evidence sha256>") and the rows' tails as one Arrow
 * string array's offsets and data. The head's whole 64-byte blocks are hashed once and the state
 * copied per row, so a row costs one or two compressions (SHA-NI when the CPU has it) instead of
 * a Python call into hashlib, which was a sixth of a parse worker's time.
 *
 * The SHA-256 below is the one of forensics/windows/_evtxrow.c (same code, kept per module so each
 * extension builds alone).
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <stdint.h>
#include <string.h>

typedef struct { uint32_t h[8]; uint64_t bits; unsigned char blk[64]; size_t fill; } Sha;

static const uint32_t K256[64] = {
    0x428a2f98, 0x71374491, 0xb5c0fbcf, 0xe9b5dba5, 0x3956c25b, 0x59f111f1, 0x923f82a4, 0xab1c5ed5,
    0xd807aa98, 0x12835b01, 0x243185be, 0x550c7dc3, 0x72be5d74, 0x80deb1fe, 0x9bdc06a7, 0xc19bf174,
    0xe49b69c1, 0xefbe4786, 0x0fc19dc6, 0x240ca1cc, 0x2de92c6f, 0x4a7484aa, 0x5cb0a9dc, 0x76f988da,
    0x983e5152, 0xa831c66d, 0xb00327c8, 0xbf597fc7, 0xc6e00bf3, 0xd5a79147, 0x06ca6351, 0x14292967,
    0x27b70a85, 0x2e1b2138, 0x4d2c6dfc, 0x53380d13, 0x650a7354, 0x766a0abb, 0x81c2c92e, 0x92722c85,
    0xa2bfe8a1, 0xa81a664b, 0xc24b8b70, 0xc76c51a3, 0xd192e819, 0xd6990624, 0xf40e3585, 0x106aa070,
    0x19a4c116, 0x1e376c08, 0x2748774c, 0x34b0bcb5, 0x391c0cb3, 0x4ed8aa4a, 0x5b9cca4f, 0x682e6ff3,
    0x748f82ee, 0x78a5636f, 0x84c87814, 0x8cc70208, 0x90befffa, 0xa4506ceb, 0xbef9a3f7, 0xc67178f2};

#define ROR(x, n) (((x) >> (n)) | ((x) << (32 - (n))))

static void sha_block(Sha *s, const unsigned char *p) {
    uint32_t w[64], a, b, c, d, e, f, g, h;
    for (int i = 0; i < 16; i++)
        w[i] = (uint32_t)p[4 * i] << 24 | (uint32_t)p[4 * i + 1] << 16 | (uint32_t)p[4 * i + 2] << 8 | p[4 * i + 3];
    for (int i = 16; i < 64; i++) {
        uint32_t s0 = ROR(w[i - 15], 7) ^ ROR(w[i - 15], 18) ^ (w[i - 15] >> 3);
        uint32_t s1 = ROR(w[i - 2], 17) ^ ROR(w[i - 2], 19) ^ (w[i - 2] >> 10);
        w[i] = w[i - 16] + s0 + w[i - 7] + s1;
    }
    a = s->h[0]; b = s->h[1]; c = s->h[2]; d = s->h[3]; e = s->h[4]; f = s->h[5]; g = s->h[6]; h = s->h[7];
    for (int i = 0; i < 64; i++) {
        uint32_t t1 = h + (ROR(e, 6) ^ ROR(e, 11) ^ ROR(e, 25)) + ((e & f) ^ (~e & g)) + K256[i] + w[i];
        uint32_t t2 = (ROR(a, 2) ^ ROR(a, 13) ^ ROR(a, 22)) + ((a & b) ^ (a & c) ^ (b & c));
        h = g; g = f; f = e; e = d + t1; d = c; c = b; b = a; a = t1 + t2;
    }
    s->h[0] += a; s->h[1] += b; s->h[2] += c; s->h[3] += d; s->h[4] += e; s->h[5] += f; s->h[6] += g; s->h[7] += h;
}

#if defined(__x86_64__) && defined(__GNUC__)
#include <cpuid.h>
#include <immintrin.h>
#define HAVE_SHA_NI 1

/* sha_block with the SHA extensions (Intel SHA-NI / AMD): the four-rounds-per-step formulation
   of the Intel white paper; state kept as ABEF/CDGH, message words in groups of four */
__attribute__((target("sha,sse4.1,ssse3"))) static void sha_block_ni(Sha *s, const unsigned char *p) {
    const __m128i swap = _mm_set_epi64x(0x0c0d0e0f08090a0bULL, 0x0405060700010203ULL);
    __m128i t = _mm_shuffle_epi32(_mm_loadu_si128((const __m128i *)&s->h[0]), 0xB1);  /* CDAB */
    __m128i st1 = _mm_shuffle_epi32(_mm_loadu_si128((const __m128i *)&s->h[4]), 0x1B);  /* EFGH */
    __m128i st0 = _mm_alignr_epi8(t, st1, 8);       /* ABEF */
    st1 = _mm_blend_epi16(st1, t, 0xF0);            /* CDGH */
    __m128i save0 = st0, save1 = st1, w[4];
    for (int i = 0; i < 4; i++) w[i] = _mm_shuffle_epi8(_mm_loadu_si128((const __m128i *)(p + 16 * i)), swap);
    for (int g = 0; g < 16; g++) {
        __m128i cur = w[g & 3];
        __m128i m = _mm_add_epi32(cur, _mm_loadu_si128((const __m128i *)&K256[4 * g]));
        st1 = _mm_sha256rnds2_epu32(st1, st0, m);
        st0 = _mm_sha256rnds2_epu32(st0, st1, _mm_shuffle_epi32(m, 0x0E));
        if (g < 12) {
            /* words 4(g+1)..: W[t] = s1(W[t-2]) + W[t-7] + s0(W[t-15]) + W[t-16], for group g + 4 */
            __m128i a = _mm_sha256msg1_epu32(w[g & 3], w[(g + 1) & 3]);
            a = _mm_add_epi32(a, _mm_alignr_epi8(w[(g + 3) & 3], w[(g + 2) & 3], 4));
            w[g & 3] = _mm_sha256msg2_epu32(a, w[(g + 3) & 3]);
        }
    }
    st0 = _mm_add_epi32(st0, save0);
    st1 = _mm_add_epi32(st1, save1);
    t = _mm_shuffle_epi32(st0, 0x1B);               /* FEBA */
    st1 = _mm_shuffle_epi32(st1, 0xB1);             /* DCHG */
    _mm_storeu_si128((__m128i *)&s->h[0], _mm_blend_epi16(t, st1, 0xF0));  /* DCBA */
    _mm_storeu_si128((__m128i *)&s->h[4], _mm_alignr_epi8(st1, t, 8));     /* HGFE */
}

static int cpu_has_sha(void) {
    unsigned a, b, c, d;
    if (!__get_cpuid_count(7, 0, &a, &b, &c, &d)) return 0;
    if (!(b & (1u << 29))) return 0;  /* SHA */
    if (!__get_cpuid(1, &a, &b, &c, &d)) return 0;
    return (c & (1u << 19)) && (c & (1u << 9));  /* SSE4.1, SSSE3 */
}
#endif

static void (*block_fn)(Sha *, const unsigned char *) = sha_block;

static void sha_init(Sha *s) {
    static const uint32_t iv[8] = {0x6a09e667, 0xbb67ae85, 0x3c6ef372, 0xa54ff53a,
                                   0x510e527f, 0x9b05688c, 0x1f83d9ab, 0x5be0cd19};
    memcpy(s->h, iv, sizeof iv); s->bits = 0; s->fill = 0;
}

static void sha_update(Sha *s, const unsigned char *p, size_t n) {
    s->bits += (uint64_t)n * 8;
    while (n) {
        if (s->fill == 0 && n >= 64) { block_fn(s, p); p += 64; n -= 64; continue; }
        size_t k = 64 - s->fill < n ? 64 - s->fill : n;
        memcpy(s->blk + s->fill, p, k); s->fill += k; p += k; n -= k;
        if (s->fill == 64) { block_fn(s, s->blk); s->fill = 0; }
    }
}

/* the first 16 bytes of the digest as 32 lowercase hex digits (finishes the state) */
static void sha_hex32(Sha *s, char *out) {
    uint64_t bits = s->bits;
    s->blk[s->fill++] = 0x80;
    if (s->fill > 56) {
        memset(s->blk + s->fill, 0, 64 - s->fill);
        block_fn(s, s->blk);
        s->fill = 0;
    }
    memset(s->blk + s->fill, 0, 56 - s->fill);
    for (int i = 0; i < 8; i++) s->blk[56 + i] = (unsigned char)(bits >> (56 - 8 * i));
    block_fn(s, s->blk);
    static const char hx[] = "0123456789abcdef";
    for (int i = 0; i < 4; i++)
        for (int j = 0; j < 4; j++) {
            unsigned char byte = (unsigned char)(s->h[i] >> (24 - 8 * j));
            out[8 * i + 2 * j] = hx[byte >> 4];
            out[8 * i + 2 * j + 1] = hx[byte & 15];
        }
}

/* ids(head: bytes, offsets: buffer of n+1 int32, data: buffer, n) -> bytes of n * 32 hex digits */
static PyObject *ids(PyObject *self, PyObject *args) {
    Py_buffer head, offs, data;
    Py_ssize_t n;
    if (!PyArg_ParseTuple(args, "y*y*y*n", &head, &offs, &data, &n)) return NULL;
    PyObject *out = NULL;
    if (n < 0 || offs.len < (n + 1) * (Py_ssize_t)sizeof(int32_t)) {
        PyErr_SetString(PyExc_ValueError, "offsets shorter than n + 1");
        goto done;
    }
    const int32_t *off = (const int32_t *)offs.buf;
    for (Py_ssize_t i = 0; i < n; i++)
        if (off[i] < 0 || off[i] > off[i + 1] || off[i + 1] > data.len) {
            PyErr_SetString(PyExc_ValueError, "offsets outside the data");
            goto done;
        }
    if (!(out = PyBytes_FromStringAndSize(NULL, n * 32))) goto done;
    char *dst = PyBytes_AS_STRING(out);
    const unsigned char *base = (const unsigned char *)data.buf;
    Sha h0;
    sha_init(&h0);
    sha_update(&h0, (const unsigned char *)head.buf, (size_t)head.len);
    Py_BEGIN_ALLOW_THREADS
    for (Py_ssize_t i = 0; i < n; i++) {
        Sha s = h0;
        sha_update(&s, base + off[i], (size_t)(off[i + 1] - off[i]));
        sha_hex32(&s, dst + 32 * i);
    }
    Py_END_ALLOW_THREADS
done:
    PyBuffer_Release(&head);
    PyBuffer_Release(&offs);
    PyBuffer_Release(&data);
    return out;
}

static PyMethodDef methods[] = {
    {"ids", ids, METH_VARARGS, "ids(head, offsets, data, n) -> n * 32 hex digits: sha256(head + row i)[:16]"},
    {NULL}};

static struct PyModuleDef module = {PyModuleDef_HEAD_INIT, "_eventid", "event ids of many rows", -1, methods};

PyMODINIT_FUNC PyInit__eventid(void) {
#ifdef HAVE_SHA_NI
    if (cpu_has_sha()) block_fn = sha_block_ni;
#endif
    return PyModule_Create(&module);
}
