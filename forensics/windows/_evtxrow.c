/* EVTX record JSON text -> stored event row values, appended to Arrow-layout column buffers.
 *
 * forensics/windows/columnar.py fast_row() is the specification: for the usual record shape
 * this code stores the same values it does, and for anything else it answers "not mine"
 * (record() returns False, nothing appended) so that the caller takes the Python path for that
 * record. What is "usual" here is deliberately narrower than fast_row's: ASCII-only text, no
 * whitespace between tokens (the renderer writes none), no string escapes but \\ \" \n \t \r,
 * integers of at most 18 digits, no floats, no duplicate EventData names, flat EventData or a
 * UserData of one flat wrapper element (two shapes fast_row leaves to normalize() are taken too,
 * normalize() their specification: System integers as canonical digit text, unnamed Data values
 * named Data_0, ...), messages of at most 2000 characters, no PowerShell script
 * block parts, a SystemTime of the renderer's exact layout. Anything Python semantics decide (IP address cleaning, user
 * splitting, int() of text, ...) is asked of Python once per distinct value and memoized.
 *
 * What Python hands over once per (channel, provider, EventID): a plan tuple compiled from
 * forensics.windows.eventmap (see forensics/windows/fastpath.py, which owns this module).
 * Event ids (make_event_id: sha256 of "evidence|locator|parser|data_type", first 32 hex digits)
 * are computed here too, for every row, with OpenSSL's SHA-256 (forensics/native/eventid_sha.h).
 * For the ingestor's chunk map (forensics/ingestors/evtx.py), which reads every chunk once: the
 * record offsets of a chunk (record_offsets, chunk_offsets).
 * What depends only on a record's template is worked out for its first record and kept: the text
 * between its values (Layout: later records are matched against it instead of parsed), its
 * EventData names in key order, and where each plan's names are among them (Fit).
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ------------------------------------------------------------------ growable buffers */

/* memcpy of a few bytes, inline: a record's row is ~70 copies of names and values mostly under 32
   bytes, and a libc call per copy (through the PLT, with its size dispatch) cost ~0.3 us a record.
   Reads and writes exactly [0, n) of each side, with overlapping word moves. */
static inline __attribute__((always_inline)) void mcopy(char *d, const char *s, size_t n) {
    if (n <= 16) {
        if (n >= 8) {
            uint64_t a, b;
            memcpy(&a, s, 8); memcpy(&b, s + n - 8, 8); memcpy(d, &a, 8); memcpy(d + n - 8, &b, 8);
        } else if (n >= 4) {
            uint32_t a, b;
            memcpy(&a, s, 4); memcpy(&b, s + n - 4, 4); memcpy(d, &a, 4); memcpy(d + n - 4, &b, 4);
        } else if (n) {
            char a = s[0], b = s[n / 2], c = s[n - 1];
            d[0] = a; d[n / 2] = b; d[n - 1] = c;
        }
    } else if (n <= 32) {
        uint64_t a, b, c, e;
        memcpy(&a, s, 8); memcpy(&b, s + 8, 8); memcpy(&c, s + n - 16, 8); memcpy(&e, s + n - 8, 8);
        memcpy(d, &a, 8); memcpy(d + 8, &b, 8); memcpy(d + n - 16, &c, 8); memcpy(d + n - 8, &e, 8);
    } else {
        memcpy(d, s, n);
    }
}

/* memcmp(a, b, n) == 0, inline for the short names and values compared per record (EventData
   lookups, the plan cache, the conversion memo): word compares, no libc call */
static inline __attribute__((always_inline)) int meq(const char *a, const char *b, size_t n) {
    uint64_t x, y, z, w;
    if (n <= 16) {
        if (n >= 8) {
            memcpy(&x, a, 8); memcpy(&y, b, 8); memcpy(&z, a + n - 8, 8); memcpy(&w, b + n - 8, 8);
            return ((x ^ y) | (z ^ w)) == 0;
        }
        if (n >= 4) {
            uint32_t p, q, r, t;
            memcpy(&p, a, 4); memcpy(&q, b, 4); memcpy(&r, a + n - 4, 4); memcpy(&t, b + n - 4, 4);
            return ((p ^ q) | (r ^ t)) == 0;
        }
        for (size_t i = 0; i < n; i++)
            if (a[i] != b[i]) return 0;
        return 1;
    }
    if (n <= 32) {
        uint64_t u, v, e, f;
        memcpy(&x, a, 8); memcpy(&y, b, 8); memcpy(&z, a + 8, 8); memcpy(&w, b + 8, 8);
        memcpy(&u, a + n - 16, 8); memcpy(&v, b + n - 16, 8); memcpy(&e, a + n - 8, 8); memcpy(&f, b + n - 8, 8);
        return ((x ^ y) | (z ^ w) | (u ^ v) | (e ^ f)) == 0;
    }
    return memcmp(a, b, n) == 0;
}

typedef struct { char *p; Py_ssize_t len, cap, hint; } Buf;  /* hint: the size to start at (0: 256) */

static int buf_grow(Buf *b, Py_ssize_t extra) {
    Py_ssize_t cap = b->cap ? b->cap : b->hint ? b->hint : 256;
    while (cap < b->len + extra) {
        if (cap > PY_SSIZE_T_MAX / 2) { PyErr_NoMemory(); return -1; }
        cap *= 2;
    }
    char *p = PyMem_RawRealloc(b->p, cap);  /* raw: a buffer handed to Arrow (export) is freed by any thread */
    if (!p) { PyErr_NoMemory(); return -1; }
    b->p = p; b->cap = cap;
    return 0;
}

static inline int buf_reserve(Buf *b, Py_ssize_t extra) {
    return b->len + extra <= b->cap ? 0 : buf_grow(b, extra);
}

static inline int buf_put(Buf *b, const char *s, Py_ssize_t n) {
    if (buf_reserve(b, n) < 0) return -1;
    mcopy(b->p + b->len, s, n);
    b->len += n;
    return 0;
}

static inline int buf_putc(Buf *b, char c) { return buf_put(b, &c, 1); }

static void buf_free(Buf *b) { PyMem_RawFree(b->p); b->p = NULL; b->len = b->cap = 0; }

/* ------------------------------------------------------------------ Arrow-layout columns */

typedef struct { Buf valid; Py_ssize_t n, nulls; } Validity;

static inline int valid_push(Validity *v, int ok) {
    if ((v->n & 7) == 0 && buf_putc(&v->valid, 0) < 0) return -1;
    if (ok) v->valid.p[v->n >> 3] |= (char)(1 << (v->n & 7));
    else v->nulls++;
    v->n++;
    return 0;
}

typedef struct { Validity v; Buf offsets, data; } StrCol;  /* utf8, int32 offsets */
typedef struct { Validity v; Buf values; int width; } IntCol;
typedef struct { Buf offsets; StrCol child; Py_ssize_t n; } ListCol;  /* list<utf8>, never null */

/* the bytes appended to c's data since its last value as its next value (ok 0: null, none appended) */
static inline int str_commit(StrCol *c, int ok) {
    if (buf_reserve(&c->offsets, 8) < 0) return -1;
    if (c->offsets.len == 0) { int32_t z = 0; memcpy(c->offsets.p, &z, 4); c->offsets.len = 4; }
    if (c->data.len > INT32_MAX) { PyErr_SetString(PyExc_OverflowError, "column batch too large"); return -1; }
    int32_t end = (int32_t)c->data.len;
    memcpy(c->offsets.p + c->offsets.len, &end, 4);
    c->offsets.len += 4;
    return valid_push(&c->v, ok);
}

static inline int str_push(StrCol *c, const char *s, Py_ssize_t n, int ok) {
    if (!ok) n = 0;
    if (buf_reserve(&c->data, n) < 0) return -1;
    mcopy(c->data.p + c->data.len, s, n);
    c->data.len += n;
    return str_commit(c, ok);
}

static inline int int_push(IntCol *c, long long x, int ok) {
    if (c->width == 8) { int64_t y = ok ? x : 0; if (buf_put(&c->values, (char *)&y, 8) < 0) return -1; }
    else { int32_t y = ok ? (int32_t)x : 0; if (buf_put(&c->values, (char *)&y, 4) < 0) return -1; }
    return valid_push(&c->v, ok);
}

static int list_begin(ListCol *c) {
    if (c->offsets.len == 0) { int32_t z = 0; if (buf_put(&c->offsets, (char *)&z, 4) < 0) return -1; }
    return 0;
}

static int list_end(ListCol *c) {
    int32_t end = (int32_t)c->child.v.n;
    if (buf_put(&c->offsets, (char *)&end, 4) < 0) return -1;
    c->n++;
    return 0;
}

/* ------------------------------------------------------------------ SHA-256: OpenSSL (see the header) */
#include "eventid_sha.h"

/* ------------------------------------------------------------------ a strict JSON subset */

enum { J_NULL, J_FALSE, J_TRUE, J_INT, J_STR, J_OBJ, J_ARR };

typedef struct {
    int type;
    const char *s; Py_ssize_t n;  /* J_STR: unescaped text; J_INT: the digits as written */
    long long i;                  /* J_INT: the value; J_STR not plain: its JSON's length as written (see Val) */
    const char *k; Py_ssize_t kn;  /* key, when a member of an object */
    int first, next;              /* children (objects, arrays), siblings */
    int plain;                    /* J_STR: written without escapes (its JSON is its text) */
    int kplain;                   /* the same of its key */
} Node;

/* nodes: the tree of the record at hand, either own (the general parse's, cap of them) or a Layout's */
typedef struct { char *p, *end; Node *nodes; int n, cap; Node *own; } Parser;

#define MAX_DEPTH 24
/* the text is copied with this many NUL bytes after it: a NUL is never valid where the parser
   looks for a token (it is a control character inside strings), so scans stop at the end
   without checking for it, and a 16-byte load at any position before the end stays inside */
#define TEXT_PAD 16

static inline int new_node(Parser *ps, int type) {
    if (ps->n == ps->cap) {
        int cap = ps->cap ? ps->cap * 2 : 256;
        Node *nn = PyMem_Realloc(ps->own, (size_t)cap * sizeof(Node));
        if (!nn) return -2;
        ps->own = ps->nodes = nn; ps->cap = cap;
    }
    Node *x = &ps->nodes[ps->n];
    x->type = type; x->k = NULL; x->kn = 0; x->first = -1; x->next = -1;
    return ps->n++;
}


/* 1: a byte that ends a run of plain string characters (quote, backslash, control, DEL, non-ASCII) */
static unsigned char SPECIAL[256];
static void init_keys(void);

static void init_data_names(void);

static void init_tables(void) {
    for (int c = 0; c < 256; c++) SPECIAL[c] = c < 0x20 || c >= 0x7f || c == '"' || c == '\\';
    init_keys();
    init_data_names();
}

#if defined(__SSE2__)
#include <emmintrin.h>
#endif

/* the first SPECIAL byte at or after r (the NUL padding stops it at the end) */
static inline char *scan_plain(char *r) {
#if defined(__SSE2__)
    const __m128i q = _mm_set1_epi8('"'), bs = _mm_set1_epi8('\\'), sp = _mm_set1_epi8(0x20), del = _mm_set1_epi8(0x7f);
    for (;;) {
        __m128i v = _mm_loadu_si128((const __m128i *)r);
        /* signed: non-ASCII bytes are negative, so below 0x20 too */
        __m128i m = _mm_or_si128(_mm_or_si128(_mm_cmpeq_epi8(v, q), _mm_cmpeq_epi8(v, bs)),
                                 _mm_or_si128(_mm_cmplt_epi8(v, sp), _mm_cmpeq_epi8(v, del)));
        int mask = _mm_movemask_epi8(m);
        if (mask) return r + __builtin_ctz((unsigned)mask);
        r += 16;
    }
#else
    while (!SPECIAL[(unsigned char)*r]) r++;
    return r;
#endif
}

/* the rest of a string from r, its first SPECIAL byte: escapes unescaped in place; -1: not in the subset.
   Between escapes the plain runs are found as in parse_str (the NUL padding ends a scan at the end) */
static __attribute__((noinline)) int parse_str_escaped(Parser *ps, char *r, const char **s, Py_ssize_t *n) {
    char *w = r, *end = ps->end;
    for (;;) {
        unsigned char c = (unsigned char)*r;
        if (c == '"' && r < end) { *n = w - *s; ps->p = r + 1; return 0; }
        if (c != '\\' || r + 1 >= end) return -1;  /* control, DEL, non-ASCII, the end: not ours */
        switch (r[1]) {
        case '"': case '\\': *w++ = r[1]; break;
        case 'n': *w++ = '\n'; break;
        case 't': *w++ = '\t'; break;
        case 'r': *w++ = '\r'; break;
        default: return -1;  /* \u, \b, \f, \/: not ours */
        }
        r += 2;
        char *q = scan_plain(r);
        memmove(w, r, q - r);
        w += q - r;
        r = q;
    }
}

/* a string at ps->p (on its quote), unescaped in place; 1: plain (no escapes), 0: unescaped,
   -1: not in the subset */
static inline __attribute__((always_inline)) int parse_str(Parser *ps, const char **s, Py_ssize_t *n) {
    char *r = ++ps->p;
    *s = r;
    r = scan_plain(r);  /* the usual string: no escapes, nothing to move */
    if (*r == '"' && r < ps->end) { *n = r - *s; ps->p = r + 1; return 1; }
    return parse_str_escaped(ps, r, s, n);
}

/* an integer at ps->p (on its sign or first digit) into *out, ps->p after it; -1: not in the subset */
static inline __attribute__((always_inline)) int parse_int(Parser *ps, long long *out) {
    char *q = ps->p;
    int neg = 0;
    if (*q == '-') { neg = 1; q++; }
    char *d = q;
    long long v = 0;
    while (*q >= '0' && *q <= '9') { v = v * 10 + (*q - '0'); q++; if (q - d > 18) return -1; }
    if (q == d || (*d == '0' && q - d > 1) || (neg && *d == '0')) return -1;  /* "", "01", "-0" */
    if (*q == '.' || *q == 'e' || *q == 'E') return -1;     /* floats: not ours */
    *out = neg ? -v : v;
    ps->p = q;
    return 0;
}

/* a string, number or literal at ps->p: node index; -1: not in the subset (or not JSON); -2: out of memory */
static inline __attribute__((always_inline)) int parse_scalar(Parser *ps) {
    char c = *ps->p;
    if (c == '"') {
        int x = new_node(ps, J_STR);
        if (x < 0) return x;
        const char *s; Py_ssize_t n;
        int plain = parse_str(ps, &s, &n);
        if (plain < 0) return -1;
        Node *nx = &ps->nodes[x];
        nx->s = s; nx->n = n; nx->plain = plain;
        nx->i = plain ? 0 : ps->p - (s - 1);
        return x;
    }
    if (c == '-' || (c >= '0' && c <= '9')) {
        long long v;
        char *st = ps->p;
        if (parse_int(ps, &v) < 0) return -1;
        int x = new_node(ps, J_INT);
        if (x < 0) return x;
        Node *nx = &ps->nodes[x];
        nx->i = v; nx->s = st; nx->n = ps->p - st;
        return x;
    }
    if (memcmp(ps->p, "null", 4) == 0) { ps->p += 4; return new_node(ps, J_NULL); }
    if (memcmp(ps->p, "true", 4) == 0) { ps->p += 4; return new_node(ps, J_TRUE); }
    if (memcmp(ps->p, "false", 5) == 0) { ps->p += 5; return new_node(ps, J_FALSE); }
    return -1;
}

/* node index; -1: not in the subset (or not JSON); -2: out of memory. Only containers recurse:
   a member's scalar is parsed in the loop (most of a record's values) */
static int parse_value(Parser *ps, int depth) {
    if (depth > MAX_DEPTH) return -1;
    char c = *ps->p;
    if (c != '{' && c != '[') return parse_scalar(ps);
    int obj = c == '{', x = new_node(ps, obj ? J_OBJ : J_ARR), last = -1;
    char close = obj ? '}' : ']';
    if (x < 0) return x;
    ps->p++;
    if (*ps->p == close) { ps->p++; return x; }
    for (;;) {
        const char *k = NULL; Py_ssize_t kn = 0;
        int kplain = 0;
        if (obj) {
            if (*ps->p != '"' || (kplain = parse_str(ps, &k, &kn)) < 0) return -1;
            if (*ps->p != ':') return -1;
            ps->p++;
        }
        if (depth + 1 > MAX_DEPTH) return -1;  /* as parse_value(depth + 1) would answer */
        int y = (*ps->p == '{' || *ps->p == '[') ? parse_value(ps, depth + 1) : parse_scalar(ps);
        if (y < 0) return y;
        Node *ny = &ps->nodes[y];
        ny->k = k; ny->kn = kn; ny->kplain = kplain;
        if (last < 0) ps->nodes[x].first = y; else ps->nodes[last].next = y;
        last = y;
        if (*ps->p == ',') { ps->p++; continue; }
        if (*ps->p == close && ps->p < ps->end) { ps->p++; return x; }
        return -1;
    }
}

/* the member `key` (kl bytes) of object x (the last one, as a dict built from the text keeps), or -1 */
static inline __attribute__((always_inline)) int getn(Parser *ps, int x, const char *key, Py_ssize_t kl) {
    if (x < 0 || ps->nodes[x].type != J_OBJ) return -1;
    int found = -1;
    for (int y = ps->nodes[x].first; y >= 0; y = ps->nodes[y].next)
        if (ps->nodes[y].kn == kl && ps->nodes[y].k[0] == key[0] && memcmp(ps->nodes[y].k, key, kl) == 0) found = y;
    return found;
}

#define get(ps, x, key) getn(ps, x, key, sizeof(key) - 1)

static inline int attrs_of(Parser *ps, int x) {
    int a = get(ps, x, "#attributes");
    return a >= 0 && ps->nodes[a].type == J_OBJ ? a : -1;
}

/* ------------------------------------------------------------------ record layouts */

/* The records of one event template are one text but for their string and integer values: the
   same keys, nesting, nulls and booleans in the same order. A Layout is such a text cut at those
   values (the literal runs between them) with the tree parse_value built for it. A record that
   matches it gets that tree with only the values' nodes rewritten: a comparison per literal run and
   a scan per value instead of a parse of every key and bracket. The runs are compared byte for byte
   and the values read by parse_value's own code, so the tree is the one parse_value would build
   for the record, and what the match refuses goes to parse_value. */
typedef struct {
    uint64_t id;                /* unique per layout made (see twin) */
    uint64_t prefix;            /* a hash of the text up to the EventID value: a log's templates share it */
    long long eid; int eid_at;  /* the EventID and its value number (-1: not an integer value) */
    int nnodes, nvals;
    Node *nodes;
    char *keys;                 /* the parsed text the nodes' keys point into */
    char *lit;                  /* the literal runs, in order */
    int *lit_off, *lit_len;     /* nvals + 1 runs: before each value, then the rest */
    int *node_of;               /* value -> its node */
    unsigned char *str;         /* value -> 1: a string, 0: an integer */
    uint64_t twin;              /* the id of a layout last found to share this one's text up to the EventID */
    uint64_t used;              /* when it was last matched (layout_clock): the older way is replaced */
    /* its EventData names, found for its first record taken that far (nd -1: not yet): the entries
       (their values rewritten per record), the nodes they are read from, data_index's table and order */
    int nd, has_sbid, hsize;
    struct Entry *entries; int *entry_node, *htab; struct SortKey *dord;
    struct Fit *fit;            /* how the last plan used with it reads its names (fit_build) */
    struct Where *where;        /* (layout_where) */
} Layout;

/* what L found for its records (names, a plan's fit, System nodes) forgotten */
static void layout_forget(Layout *L) {
    if (L->nd >= 0) PyMem_Free(L->entries);  /* one block (layout_frame) */
    PyMem_Free(L->fit); PyMem_Free(L->where);  /* fit: one block (fit_build) */
    L->nd = -1; L->fit = NULL; L->where = NULL;
}

static void layout_free(Layout *L) {
    if (L) layout_forget(L);
    PyMem_Free(L);  /* one block (layout_build) */
}

#define LAYOUT_SLOTS 256  /* two ways per (prefix, EventID): a template's records can come in two layouts */
/* a layout keeps a copy of its text: longer records (script blocks, rare) are parsed each time, so a
   column set's layouts stay within ~256 x 20 KB */
#define LAYOUT_MAX_TEXT 8192

/* a string or integer node's place in the text (parsed copy `copy`): 1, or 0 for other nodes */
static inline int value_span(const Node *nd, const char *copy, Py_ssize_t *at, Py_ssize_t *len) {
    if (nd->type == J_STR) { *at = nd->s - 1 - copy; *len = nd->plain ? nd->n + 2 : nd->i; return 1; }
    if (nd->type == J_INT) { *at = nd->s - copy; *len = nd->n; return 1; }
    return 0;
}

static inline int layout_slot(uint64_t prefix, long long eid) {
    uint64_t h = (prefix ^ (uint64_t)eid * 0x9E3779B97F4A7C15ULL) * 0xC2B2AE3D27D4EB4FULL;
    return (int)(h >> 56) & (LAYOUT_SLOTS - 2);  /* the first way; the second is slot + 1 */
}

/* the layout of the record parse_value just read into ps (root 0) from `copy`, whose own text is
   `orig` (tn bytes); NULL: out of memory */
static Layout *layout_build(Parser *ps, const char *copy, const char *orig, Py_ssize_t tn, uint64_t id) {
    int nvals = 0;
    Py_ssize_t litbytes = 0, prev = 0, at = 0, len = 0;
    for (int x = 0; x < ps->n; x++)
        if (value_span(&ps->nodes[x], copy, &at, &len)) { litbytes += at - prev; prev = at + len; nvals++; }
    litbytes += tn - prev;
    size_t nodes_sz = (size_t)ps->n * sizeof(Node), ints_sz = (size_t)(nvals + 1) * 3 * sizeof(int);
    Layout *L = PyMem_Malloc(sizeof(Layout) + nodes_sz + ints_sz + (size_t)nvals + 1 + (size_t)tn + (size_t)litbytes);
    if (!L) return NULL;
    char *b = (char *)(L + 1);
    L->nodes = (Node *)b; b += nodes_sz;
    L->lit_off = (int *)b; L->lit_len = L->lit_off + nvals + 1; L->node_of = L->lit_len + nvals + 1; b += ints_sz;
    L->str = (unsigned char *)b; b += nvals + 1;
    L->keys = b; b += tn;
    L->lit = b;
    L->id = L->used = id; L->nnodes = ps->n; L->nvals = nvals; L->twin = 0; L->nd = -1; L->fit = NULL; L->where = NULL;
    memcpy(L->nodes, ps->nodes, nodes_sz);
    memcpy(L->keys, copy, tn);
    for (int x = 0; x < ps->n; x++)
        if (L->nodes[x].k) L->nodes[x].k = L->keys + (L->nodes[x].k - copy);
    int v = 0;
    Py_ssize_t lo = 0;
    prev = 0;
    for (int x = 0; x <= ps->n; x++) {
        if (x < ps->n && !value_span(&ps->nodes[x], copy, &at, &len)) continue;
        if (x == ps->n) { at = tn; len = 0; }
        memcpy(L->lit + lo, orig + prev, at - prev);
        L->lit_off[v] = (int)lo; L->lit_len[v] = (int)(at - prev);
        lo += at - prev;
        if (x < ps->n) { L->node_of[v] = x; L->str[v] = ps->nodes[x].type == J_STR; }
        prev = at + len;
        v++;
    }
    /* the EventID (as system_slots finds it: the last of the name, or its #text) */
    L->eid_at = -1; L->eid = 0;
    int ev = getn(ps, 0, "Event", 5), sys = getn(ps, ev, "System", 6), e = getn(ps, sys, "EventID", 7);
    if (e >= 0 && ps->nodes[e].type == J_OBJ) e = getn(ps, e, "#text", 5);
    if (e >= 0 && ps->nodes[e].type == J_INT)
        for (int i = 0; i < nvals; i++)
            if (L->node_of[i] == e) { L->eid_at = i; L->eid = ps->nodes[e].i; }
    uint64_t h = 0xCBF29CE484222325ULL;
    int upto = L->eid_at >= 0 ? L->eid_at : -1;
    Py_ssize_t pn = upto >= 0 ? L->lit_off[upto] + L->lit_len[upto] : 0;
    for (Py_ssize_t i = 0; i < pn; i++) h = (h ^ (unsigned char)L->lit[i]) * 0x100000001B3ULL;
    for (int i = 0; i <= upto; i++) h = (h ^ L->str[i] ^ (uint64_t)L->lit_len[i] << 8) * 0x100000001B3ULL;
    L->prefix = h;
    return L;
}

/* values from..to of a record (literal runs from..to, then the values; to == nvals: the last run
   with no value after it) read by L's layout at ps->p; 1: they match (written into L's nodes, ps->p
   after them), 0: the record has another layout */
static int layout_values(Parser *ps, Layout *L, int from, int to) {
    for (int v = from; v <= to; v++) {
        int ln = L->lit_len[v];
        if (ps->end - ps->p < ln || !meq(ps->p, L->lit + L->lit_off[v], ln)) return 0;
        ps->p += ln;
        if (v == L->nvals) break;
        Node *nx = &L->nodes[L->node_of[v]];
        if (L->str[v]) {
            const char *s;
            Py_ssize_t n;
            if (*ps->p != '"') return 0;
            int plain = parse_str(ps, &s, &n);
            if (plain < 0) return 0;
            nx->s = s; nx->n = n; nx->plain = plain; nx->i = plain ? 0 : ps->p - (s - 1);
        } else {
            char *st = ps->p;
            long long i;
            if (!(*st == '-' || (*st >= '0' && *st <= '9')) || parse_int(ps, &i) < 0) return 0;
            nx->s = st; nx->n = ps->p - st; nx->i = i;
        }
    }
    return 1;
}

/* a and b have the same text up to their EventID value */
static int layout_twins(Layout *a, const Layout *b) {
    if (a->twin == b->id) return 1;
    int e = a->eid_at;
    if (e != b->eid_at || e < 0 || a->prefix != b->prefix) return 0;
    for (int v = 0; v <= e; v++)
        if (a->lit_len[v] != b->lit_len[v] || a->str[v] != b->str[v] || a->node_of[v] != b->node_of[v]) return 0;
    if (memcmp(a->lit, b->lit, a->lit_off[e] + a->lit_len[e]) != 0) return 0;
    a->twin = b->id;
    return 1;
}

/* ------------------------------------------------------------------ values of one row */

enum { V_NONE, V_STR, V_INT, V_BOOL };
/* plain: its JSON is its text in quotes. V_STR not plain with i > 0: s lies in the record's text copy
   and its JSON is the i bytes from s - 1 (its quotes) at the same place in the record's own text, the
   escapes as the renderer wrote them (the only ones the parser lets in, and the ones canonical JSON
   writes); i = 0: written escaped here (put_json_str) */
typedef struct { int t, plain; const char *s; Py_ssize_t n; long long i; } Val;

/* the record's text: the copy the parser reads (and unescapes in place) and the str's own bytes */
typedef struct { const char *copy, *orig; Py_ssize_t len; } Src;

static inline Val vstr(const char *s, Py_ssize_t n) { Val v = {.t = V_STR, .s = s, .n = n}; return v; }
static inline Val vint(long long i) { Val v = {.t = V_INT, .i = i}; return v; }
static const Val VNONE = {.t = V_NONE};

/* A name also carries its first 8 bytes as one big-endian number (zero-padded) and a hash of it:
   sorting and looking names up are then mostly integer comparisons, not memcmp calls. That order
   is the bytes' order because names hold no NUL (the parser refuses control characters; plan
   names with one are refused when compiled). kplain: its JSON is its text in quotes. */
typedef struct Entry { const char *k; Py_ssize_t kn; uint64_t pre; uint32_t hash; int kplain; Val v; } Entry;

static int cmp_key(const char *a, Py_ssize_t an, const char *b, Py_ssize_t bn) {
    int c = memcmp(a, b, an < bn ? an : bn);
    return c ? c : (an < bn ? -1 : an > bn);
}

static inline uint64_t key_pre(const char *k, Py_ssize_t n) {
    uint64_t x = 0;
    if (n >= 8) {
        memcpy(&x, k, 8);
#if __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
        x = __builtin_bswap64(x);
#endif
        return x;
    }
    for (Py_ssize_t i = 0; i < n; i++) x |= (uint64_t)(unsigned char)k[i] << (56 - 8 * i);
    return x;
}

static inline uint32_t key_hash(uint64_t pre, const char *k, Py_ssize_t n) {
    uint64_t x = pre * 0x9E3779B97F4A7C15ULL ^ (uint64_t)n;
    if (n > 8) { uint64_t t; memcpy(&t, k + n - 8, 8); x ^= t * 0xC2B2AE3D27D4EB4FULL; }
    x ^= x >> 29; x *= 0xBF58476D1CE4E5B9ULL; x ^= x >> 32;
    return (uint32_t)x;
}

static inline int key_cmp(uint64_t ap, const char *a, Py_ssize_t an, uint64_t bp, const char *b, Py_ssize_t bn) {
    if (ap != bp) return ap < bp ? -1 : 1;
    if (an <= 8 || bn <= 8) return (an > bn) - (an < bn);  /* equal heads, no NUL: the shorter is a prefix */
    return cmp_key(a + 8, an - 8, b + 8, bn - 8);
}

static inline int entry_cmp(const Entry *x, const Entry *y) { return key_cmp(x->pre, x->k, x->kn, y->pre, y->k, y->kn); }

/* an entry's place in a sorted order: its head next to its index, so that an insertion sort
   mostly touches this small array */
typedef struct SortKey { uint64_t pre; int idx; } SortKey;

/* insert entry i of e into the sorted ord[0..n) (stable: after its equals) */
static inline void sorted_insert(SortKey *ord, int n, const Entry *e, int i) {
    uint64_t pre = e[i].pre;
    int k = n;
    while (k > 0 && (ord[k - 1].pre > pre || (ord[k - 1].pre == pre && entry_cmp(&e[i], &e[ord[k - 1].idx]) < 0))) {
        ord[k] = ord[k - 1];
        k--;
    }
    ord[k].pre = pre; ord[k].idx = i;
}

/* ------------------------------------------------------------------ plans */

#define N_ROLES 11  /* user image pid cmdline src_ip src_port dst_ip dst_port proto domain file_path */
enum { R_USER, R_IMAGE, R_PID, R_CMD, R_SIP, R_SPORT, R_DIP, R_DPORT, R_PROTO, R_DOMAIN, R_FILE };
/* conversions Python decides, memoized per distinct value (fastpath.convert) */
enum { C_SPLIT_USER, C_BASENAME, C_AS_INT, C_CLEAN_IP, C_PORT, C_LOWER, C_DOMAIN, C_SHA256_OF, N_CONV };
/* message template fields that are entities */
enum { E_HOST, E_USER, E_PNAME, E_CMD, E_SIP, E_SPORT, E_DIP, E_DPORT, E_PROTO, E_DOMAIN, E_FILE, N_ENT };


#define MEMO_SLOTS 1024
struct MemoSlot { char *s; Py_ssize_t n; uint32_t hash; PyObject *value; };
struct Memo { struct MemoSlot slot[MEMO_SLOTS]; };

static void memo_clear(struct Memo *m) {
    if (!m) return;
    for (int i = 0; i < MEMO_SLOTS; i++) { PyMem_Free(m->slot[i].s); m->slot[i].s = NULL; Py_CLEAR(m->slot[i].value); }
}

static void memo_free(struct Memo *m) { memo_clear(m); PyMem_Free(m); }

typedef struct { const char *s; Py_ssize_t n; uint64_t pre; uint32_t hash; int plain; } Str;  /* pre, hash: as Entry's */

enum { K_CHANNEL, K_PROVIDER, K_EVENT_ID, K_RECORD_ID, K_COMPUTER, K_QUALIFIERS, K_LEVEL, K_TASK, K_OPCODE, K_KEYWORDS, K_USER_SID, K_EXECUTION_PID, K_EXECUTION_TID, K_ACTIVITY_ID, K_USER_DOMAIN, K_PROCESS_IMAGE, K_LOGON_TYPE, K_PARENT_PROCESS, K_HASHES, K_PARENT_PROCESS_NAME, K_CHUNK_CHECKSUM_OK, N_KEYS };
static const char *const KEY_TEXT[N_KEYS] = {"channel", "provider", "event_id", "record_id", "computer", "qualifiers", "level", "task", "opcode", "keywords", "user_sid", "execution_pid", "execution_tid", "activity_id", "user_domain", "process_image", "logon_type", "parent_process", "hashes", "parent_process_name", "chunk_checksum_ok"};
static Str KEY[N_KEYS];  /* their Str (init_keys) */

typedef struct {
    int kind;                       /* 0: no table row, 1: table row, 2: not ours */
    int ncand[N_ROLES]; Str *cand[N_ROLES];
    int nextra; Str *extra_name; int *extra_ncand; Str **extra_cand;
    int nparts; Str *lit; Str *field; int *ent;  /* field.s NULL: literal only */
    int ntags, nattack; Str *tags, *attack;
    int has_gbt; Str gbt, severity;
    /* the attribute names a record of this plan can set (KEY's and the extras'), one slot each, in
       key order: a record's overrides are written to their slots (the last one of a name wins, as
       in a dict) and read back in order, so nothing is sorted per record */
    int nslots; Str *slot_key;
    int kslot[N_KEYS]; int *xslot; int *fslot;  /* the slot of KEY[k], of extra i, of message field i (-1: none) */
} Plan;

#define PLAN_SLOTS 64
#define ORDER_SLOTS 64

typedef struct {
    PyObject_HEAD
    PyObject *plan_for, *convert, *plan_index, *keep, *memo[N_CONV];
    Plan *plans; int nplans;
    Buf id_prefix, id_suffix;
    Sha id_base;  /* the id hash after the prefix, reused per row */
    /* columns, fastpath.ROW_COLUMNS order, plus event_id */
    IntCol ts; StrCol msg, loc, host, user; IntCol pid; StrCol pname, cmd, sip; IntCol sport; StrCol dip;
    IntCol dport; StrCol proto, domain, fpath, fsha; ListCol tags, attack; StrCol gbt, sev, attrs, eid;
    Py_ssize_t rows;
    /* scratch, reused */
    Buf text, msgbuf, idbuf, keybuf;
    struct { Buf key; int plan; } pcache[PLAN_SLOTS];  /* plan_of's keys seen lately (plan -1: empty) */
    struct Memo *cache[N_CONV];
    Parser ps;
    Entry *data; int datacap;
    SortKey *dord;  /* data in key order */
    /* data, dord and htab are the record's: these arrays (filled by add_entry, data_index) or its layout's */
    Entry *data_own; SortKey *dord_own; int *htab_own, *enode;  /* enode: the node of each entry */
    struct { uint32_t sig; int n; int *idx; } ocache[ORDER_SLOTS];  /* data_index's orders seen lately */
    Val *sval; uint32_t *sset, sgen; int slotcap;  /* a record's overrides by plan slot (Plan) */
    int *htab, hcap, hsize;
    Layout *layouts[LAYOUT_SLOTS], *last_layout;  /* by layout_slot(prefix, EventID); the last one matched */
    Layout scratch_layout;  /* the one-record layout of a text too long to keep (only its frame, fit, nodes found) */
    uint64_t plan_epoch;    /* counts the times the plans were forgotten (a Fit's plan number is of one epoch) */
    uint64_t layout_clock;  /* counts layouts made and matched: their ids and use stamps */
    Py_ssize_t layouts_made, layouts_matched;  /* layout_stats() */
} Columns;

/* the record's tree by a known layout (the last one matched, or the one of its EventID in the same
   log), NULL when it has none of them; ps->p: the record's text copy */
static Layout *layout_match(Columns *self, Parser *ps, const char *orig) {
    Layout *L = self->last_layout;
    if (!L) return NULL;
    if (L->eid_at < 0) return layout_values(ps, L, 0, L->nvals) && ps->p == ps->end ? L : NULL;
    if (!layout_values(ps, L, 0, L->eid_at)) return NULL;
    long long eid = L->nodes[L->node_of[L->eid_at]].i;
    char *mid = ps->p;
    int slot = layout_slot(L->prefix, eid);
    Layout *cand[3] = {eid == L->eid ? L : NULL, self->layouts[slot], self->layouts[slot + 1]};
    int tried = 0;
    for (int c = 0; c < 3; c++) {
        Layout *a = cand[c];
        if (!a || a->eid != eid || (c > 0 && a == L) || (a != L && !layout_twins(a, L))) continue;
        if (tried++) {  /* a failed try may have unescaped strings after mid */
            memcpy(mid, orig + (mid - self->text.p), ps->end - mid);
            ps->p = mid;
        }
        if (a != L)
            for (int v = 0; v <= L->eid_at; v++) {
                const Node *from = &L->nodes[L->node_of[v]];
                Node *to = &a->nodes[a->node_of[v]];
                to->s = from->s; to->n = from->n; to->i = from->i; to->plain = from->plain;
            }
        if (layout_values(ps, a, a->eid_at + 1, a->nvals) && ps->p == ps->end) return a;
    }
    if (!tried && layout_values(ps, L, L->eid_at + 1, L->nvals) && ps->p == ps->end) return L;  /* a shape shared by EventIDs */
    return NULL;
}

/* the layout of the record parse_value just read, kept in its slot; -1: out of memory */
static int layout_add(Columns *self, Parser *ps, const char *orig, Py_ssize_t tn) {
    Layout *L = layout_build(ps, self->text.p, orig, tn, ++self->layout_clock);
    if (!L) { PyErr_NoMemory(); return -1; }
    self->layouts_made++;
    int slot = layout_slot(L->prefix, L->eid);
    if (self->layouts[slot] && (!self->layouts[slot + 1] || self->layouts[slot + 1]->used < self->layouts[slot]->used)) slot++;
    layout_free(self->layouts[slot]);
    self->layouts[slot] = self->last_layout = L;
    return 0;
}

/* plain: no byte of SPECIAL, so its JSON is its text in quotes */
static void str_set(Str *out, const char *s, Py_ssize_t n) {
    out->s = s; out->n = n; out->pre = key_pre(s, n); out->hash = key_hash(out->pre, s, n);
    out->plain = 1;
    for (Py_ssize_t i = 0; i < n; i++) if (SPECIAL[(unsigned char)s[i]]) out->plain = 0;
}

static int keep_str(Columns *self, PyObject *o, Str *out) {
    if (o == Py_None) { out->s = NULL; out->n = 0; return 0; }
    if (!PyUnicode_Check(o) || !PyUnicode_IS_ASCII(o)) {
        PyErr_SetString(PyExc_TypeError, "plan strings must be ASCII str");
        return -1;
    }
    if (PyList_Append(self->keep, o) < 0) return -1;
    str_set(out, (const char *)PyUnicode_DATA(o), PyUnicode_GET_LENGTH(o));
    return 0;
}

static int str_tuple(Columns *self, PyObject *t, Str **out, int *n) {
    if (!PyTuple_Check(t)) { PyErr_SetString(PyExc_TypeError, "plan: tuple expected"); return -1; }
    *n = (int)PyTuple_GET_SIZE(t);
    *out = PyMem_Calloc(*n ? *n : 1, sizeof(Str));
    if (!*out) { PyErr_NoMemory(); return -1; }
    for (int i = 0; i < *n; i++)
        if (keep_str(self, PyTuple_GET_ITEM(t, i), &(*out)[i]) < 0) return -1;
    return 0;
}

/* plan tuple: (kind, roles[11] of name tuples, extras ((name, names), ...),
 *              parts ((literal, field|None, entity index|-1), ...), tags, attack, gbt|None, severity) */
static int slot_of(const Plan *p, const Str *k) {
    for (int i = 0; i < p->nslots; i++)
        if (p->slot_key[i].n == k->n && memcmp(p->slot_key[i].s, k->s, k->n) == 0) return i;
    return -1;
}

static int plan_slots(Columns *self, Plan *p) {
    p->slot_key = PyMem_Calloc(N_KEYS + p->nextra, sizeof(Str));
    p->xslot = PyMem_Calloc(p->nextra + 1, sizeof(int));
    p->fslot = PyMem_Calloc(p->nparts + 1, sizeof(int));
    if (!p->slot_key || !p->xslot || !p->fslot) { PyErr_NoMemory(); return -1; }
    p->nslots = 0;
    for (int i = 0; i < N_KEYS + p->nextra; i++) {
        const Str *k = i < N_KEYS ? &KEY[i] : &p->extra_name[i - N_KEYS];
        if (slot_of(p, k) >= 0) continue;
        int j = p->nslots++;  /* insertion in key order */
        while (j > 0 && key_cmp(k->pre, k->s, k->n, p->slot_key[j - 1].pre, p->slot_key[j - 1].s, p->slot_key[j - 1].n) < 0) {
            p->slot_key[j] = p->slot_key[j - 1];
            j--;
        }
        p->slot_key[j] = *k;
    }
    for (int k = 0; k < N_KEYS; k++) p->kslot[k] = slot_of(p, &KEY[k]);
    for (int i = 0; i < p->nextra; i++) p->xslot[i] = slot_of(p, &p->extra_name[i]);
    for (int i = 0; i < p->nparts; i++) p->fslot[i] = p->field[i].s ? slot_of(p, &p->field[i]) : -1;
    if (p->nslots > self->slotcap) {
        Val *v = PyMem_Realloc(self->sval, (size_t)p->nslots * sizeof(Val));
        if (v) self->sval = v;
        uint32_t *f = v ? PyMem_Realloc(self->sset, (size_t)p->nslots * sizeof *f) : NULL;
        if (!f) { PyErr_NoMemory(); return -1; }
        for (int i = self->slotcap; i < p->nslots; i++) f[i] = 0;  /* never a record's generation */
        self->sset = f; self->slotcap = p->nslots;
    }
    return 0;
}

static int compile_plan(Columns *self, PyObject *t, Plan *p) {
    memset(p, 0, sizeof *p);
    if (t == Py_None) { p->kind = 0; return plan_slots(self, p); }
    if (t == Py_False) { p->kind = 2; return 0; }
    if (!PyTuple_Check(t) || PyTuple_GET_SIZE(t) != 7) { PyErr_SetString(PyExc_TypeError, "plan: 7-tuple expected"); return -1; }
    p->kind = 1;
    PyObject *roles = PyTuple_GET_ITEM(t, 0), *extras = PyTuple_GET_ITEM(t, 1), *parts = PyTuple_GET_ITEM(t, 2);
    if (!PyTuple_Check(roles) || PyTuple_GET_SIZE(roles) != N_ROLES || !PyTuple_Check(extras) || !PyTuple_Check(parts)) {
        PyErr_SetString(PyExc_TypeError, "plan: bad shape"); return -1;
    }
    for (int r = 0; r < N_ROLES; r++)
        if (str_tuple(self, PyTuple_GET_ITEM(roles, r), &p->cand[r], &p->ncand[r]) < 0) return -1;
    p->nextra = (int)PyTuple_GET_SIZE(extras);
    p->extra_name = PyMem_Calloc(p->nextra + 1, sizeof(Str));
    p->extra_ncand = PyMem_Calloc(p->nextra + 1, sizeof(int));
    p->extra_cand = PyMem_Calloc(p->nextra + 1, sizeof(Str *));
    if (!p->extra_name || !p->extra_ncand || !p->extra_cand) { PyErr_NoMemory(); return -1; }
    for (int i = 0; i < p->nextra; i++) {
        PyObject *e = PyTuple_GET_ITEM(extras, i);
        if (!PyTuple_Check(e) || PyTuple_GET_SIZE(e) != 2) { PyErr_SetString(PyExc_TypeError, "plan: extra"); return -1; }
        if (keep_str(self, PyTuple_GET_ITEM(e, 0), &p->extra_name[i]) < 0) return -1;
        if (memchr(p->extra_name[i].s, 0, p->extra_name[i].n)) { p->kind = 2; return 0; }  /* see Entry */
        if (str_tuple(self, PyTuple_GET_ITEM(e, 1), &p->extra_cand[i], &p->extra_ncand[i]) < 0) return -1;
    }
    p->nparts = (int)PyTuple_GET_SIZE(parts);
    p->lit = PyMem_Calloc(p->nparts + 1, sizeof(Str));
    p->field = PyMem_Calloc(p->nparts + 1, sizeof(Str));
    p->ent = PyMem_Calloc(p->nparts + 1, sizeof(int));
    if (!p->lit || !p->field || !p->ent) { PyErr_NoMemory(); return -1; }
    for (int i = 0; i < p->nparts; i++) {
        PyObject *e = PyTuple_GET_ITEM(parts, i);
        if (!PyTuple_Check(e) || PyTuple_GET_SIZE(e) != 3) { PyErr_SetString(PyExc_TypeError, "plan: part"); return -1; }
        if (keep_str(self, PyTuple_GET_ITEM(e, 0), &p->lit[i]) < 0) return -1;
        if (keep_str(self, PyTuple_GET_ITEM(e, 1), &p->field[i]) < 0) return -1;
        p->ent[i] = (int)PyLong_AsLong(PyTuple_GET_ITEM(e, 2));
        if (p->ent[i] == -1 && PyErr_Occurred()) return -1;
        if (p->ent[i] < -1 || p->ent[i] >= N_ENT) { PyErr_SetString(PyExc_ValueError, "plan: entity"); return -1; }
    }
    if (str_tuple(self, PyTuple_GET_ITEM(t, 3), &p->tags, &p->ntags) < 0) return -1;
    if (str_tuple(self, PyTuple_GET_ITEM(t, 4), &p->attack, &p->nattack) < 0) return -1;
    p->has_gbt = PyTuple_GET_ITEM(t, 5) != Py_None;
    if (keep_str(self, PyTuple_GET_ITEM(t, 5), &p->gbt) < 0) return -1;
    if (keep_str(self, PyTuple_GET_ITEM(t, 6), &p->severity) < 0 || !p->severity.s) {
        if (!PyErr_Occurred()) PyErr_SetString(PyExc_TypeError, "plan: severity");
        return -1;
    }
    return plan_slots(self, p);
}

/* the plan for (channel, provider, eid): asked of plan_for once, then from the index */
static Plan *plan_of(Columns *self, Val ch, Val pr, Val eid) {
    Buf *k = &self->keybuf;
    k->len = 0;
    if (buf_putc(k, ch.t == V_STR) < 0 || (ch.t == V_STR && buf_put(k, ch.s, ch.n) < 0) || buf_putc(k, 0) < 0 ||
        buf_putc(k, pr.t == V_STR) < 0 || (pr.t == V_STR && buf_put(k, pr.s, pr.n) < 0) || buf_putc(k, 0) < 0 ||
        buf_put(k, eid.s, eid.n) < 0)
        return NULL;
    /* records of one file mostly share a log and a few EventIDs: a small cache of keys in front
       of the index, by a hash of the EventID and the two names' lengths (the key itself decides) */
    uint64_t hh = ((uint64_t)eid.i * 0x9E3779B97F4A7C15ULL) ^ ((uint64_t)ch.n << 32 | (uint64_t)pr.n);
    hh *= 0xC2B2AE3D27D4EB4FULL;
    int si = (int)(hh >> 58) & (PLAN_SLOTS - 1);
    if (self->pcache[si].plan >= 0 && self->pcache[si].key.len == k->len && meq(self->pcache[si].key.p, k->p, k->len))
        return &self->plans[self->pcache[si].plan];
    PyObject *key = PyBytes_FromStringAndSize(k->p, k->len);
    if (!key) return NULL;
    PyObject *ix = PyDict_GetItemWithError(self->plan_index, key);
    if (ix) {
        Py_DECREF(key);
        int i = (int)PyLong_AsLong(ix);
        self->pcache[si].plan = -1;
        self->pcache[si].key.len = 0;
        if (buf_put(&self->pcache[si].key, k->p, k->len) < 0) return NULL;
        self->pcache[si].plan = i;
        return &self->plans[i];
    }
    if (PyErr_Occurred()) { Py_DECREF(key); return NULL; }
    PyObject *c = ch.t == V_STR ? PyUnicode_FromStringAndSize(ch.s, ch.n) : Py_NewRef(Py_None);
    PyObject *p = pr.t == V_STR ? PyUnicode_FromStringAndSize(pr.s, pr.n) : Py_NewRef(Py_None);
    PyObject *t = (c && p) ? PyObject_CallFunction(self->plan_for, "OOL", c, p, eid.i) : NULL;
    Py_XDECREF(c); Py_XDECREF(p);
    if (!t) { Py_DECREF(key); return NULL; }
    Plan *np = PyMem_Realloc(self->plans, (size_t)(self->nplans + 1) * sizeof(Plan));
    if (!np) { Py_DECREF(t); Py_DECREF(key); PyErr_NoMemory(); return NULL; }
    self->plans = np;
    int rc = compile_plan(self, t, &self->plans[self->nplans]);
    if (rc == 0) rc = PyList_Append(self->keep, t);
    Py_DECREF(t);
    if (rc < 0) { Py_DECREF(key); return NULL; }
    PyObject *n = PyLong_FromLong(self->nplans);
    if (!n || PyDict_SetItem(self->plan_index, key, n) < 0) { Py_XDECREF(n); Py_DECREF(key); return NULL; }
    Py_DECREF(n); Py_DECREF(key);
    return &self->plans[self->nplans++];
}

/* Python's answer for conversion `kind` of text s (borrowed, kept by the memo); NULL: error */
static PyObject *convert(Columns *self, int kind, const char *s, Py_ssize_t n) {
    /* a direct-mapped cache of the text's bytes in front of the dict (no str made on a hit); what
       it holds the dict holds too, and both are emptied together, so an entry it drops stays alive
       for the rest of the record */
    struct Memo *m = self->cache[kind];
    uint32_t h = key_hash(key_pre(s, n), s, n);
    if (n > 16) { uint64_t mid; memcpy(&mid, s + n / 2 - 4, 8); h ^= (uint32_t)((mid * 0x9E3779B97F4A7C15ULL) >> 32); }  /* values often differ in the middle */
    struct MemoSlot *slot = &m->slot[h & (MEMO_SLOTS - 1)];
    if (slot->value && slot->hash == h && slot->n == n && meq(slot->s, s, n)) return slot->value;
    PyObject *key = PyUnicode_FromStringAndSize(s, n);
    if (!key) return NULL;
    PyObject *v = PyDict_GetItemWithError(self->memo[kind], key);
    if (!v && !PyErr_Occurred()) {
        v = PyObject_CallFunction(self->convert, "iO", kind, key);
        if (v) {
            int rc = PyDict_SetItem(self->memo[kind], key, v);
            Py_DECREF(v);  /* the memo holds it */
            if (rc < 0) v = NULL;
        }
    }
    Py_DECREF(key);
    if (v && n <= 256) {
        char *copy = PyMem_Malloc(n ? n : 1);
        if (copy) {
            memcpy(copy, s, n);
            PyMem_Free(slot->s);
            Py_XSETREF(slot->value, Py_NewRef(v));
            slot->s = copy; slot->n = n; slot->hash = h;
        }
    }
    return v;
}

/* a conversion result as a row value; 1: fine, 0: not ours (a type this code does not store) */
static int as_val(PyObject *o, Val *v) {
    if (o == Py_None) { *v = VNONE; return 1; }
    if (PyUnicode_CheckExact(o)) {
        if (!PyUnicode_IS_ASCII(o)) return 0;
        *v = vstr((const char *)PyUnicode_DATA(o), PyUnicode_GET_LENGTH(o));
        return 1;
    }
    if (PyLong_CheckExact(o)) {
        int over = 0;
        long long i = PyLong_AsLongLongAndOverflow(o, &over);
        if (over || (i == -1 && PyErr_Occurred())) { PyErr_Clear(); return 0; }
        *v = vint(i);
        return 1;
    }
    return 0;
}

/* ------------------------------------------------------------------ one record */

/* the EventData names of this record in an open-addressing table (index + 1; 0 empty), and in
   key order (self->dord); 0: fine, 1: a repeated name, -1: out of memory */
static int data_index(Columns *self, int nd) {
    int size = 16;
    while (size < 2 * nd) size *= 2;
    if (size > self->hcap) {
        PyMem_Free(self->htab_own);
        self->htab_own = PyMem_Calloc(size, sizeof(int));
        self->hcap = self->htab_own ? size : 0;
        if (!self->htab_own) { PyErr_NoMemory(); return -1; }
    }
    self->htab = self->htab_own;
    self->hsize = size;
    memset(self->htab, 0, size * sizeof(int));
    const Entry *d = self->data;
    SortKey *ord = self->dord;
    uint32_t sig = (uint32_t)nd;
    for (int i = 0; i < nd; i++) {
        uint32_t h = d[i].hash & (size - 1);
        for (int j; (j = self->htab[h]); h = (h + 1) & (size - 1))  /* equal heads: the rest decides (see Entry) */
            if (d[j - 1].pre == d[i].pre && d[j - 1].kn == d[i].kn && (d[i].kn <= 8 || meq(d[j - 1].k + 8, d[i].k + 8, d[i].kn - 8)))
                return 1;
        self->htab[h] = i + 1;
        sig = sig * 0x01000193u ^ d[i].hash;
    }
    /* Records of one template list the same names in the same order: the order found for the last
       such list is tried first. It is this record's order when it lists the names strictly ascending
       (distinct names have one such order), which costs nd - 1 comparisons instead of a sort. */
    int si = (int)(sig >> 26) & (ORDER_SLOTS - 1);
    int *idx = self->ocache[si].idx;
    if (self->ocache[si].sig == sig && self->ocache[si].n == nd && nd > 0) {
        int t = 1;
        while (t < nd && entry_cmp(&d[idx[t - 1]], &d[idx[t]]) < 0) t++;
        if (t == nd) {
            for (t = 0; t < nd; t++) { ord[t].pre = d[idx[t]].pre; ord[t].idx = idx[t]; }
            return 0;
        }
    }
    for (int i = 0; i < nd; i++) sorted_insert(ord, i, d, i);  /* few names, mostly one integer comparison each */
    int *ni = PyMem_Realloc(idx, (size_t)(nd ? nd : 1) * sizeof(int));
    if (!ni) return 0;  /* only the order is not remembered */
    for (int t = 0; t < nd; t++) ni[t] = ord[t].idx;
    self->ocache[si].idx = ni; self->ocache[si].n = nd; self->ocache[si].sig = sig;
    return 0;
}

static inline int data_find(Columns *self, const char *k, Py_ssize_t kn, uint64_t pre, uint32_t hash) {
    const Entry *d = self->data;
    uint32_t mask = (uint32_t)self->hsize - 1, h = hash & mask;
    for (int i; (i = self->htab[h]); h = (h + 1) & mask)
        if (d[i - 1].pre == pre && d[i - 1].kn == kn && (kn <= 8 || meq(d[i - 1].k + 8, k + 8, kn - 8))) return i - 1;
    return -1;
}

static inline int data_find_str(Columns *self, const Str *k) { return data_find(self, k->s, k->n, k->pre, k->hash); }

/* Where a plan's names are in a layout's EventData, worked out once per (layout, plan): for each list
   of names the plan looks up (its roles' candidates, logon_type, parent_process, hashes, its extras'
   candidates, its message fields), the entries of the names present, in the list's order; and the
   members of the attributes JSON, EventData and the plan's slots merged in key order (an override
   replaces the EventData value of its name), each with its name written as JSON. */
enum { F_LOGON = N_ROLES, F_PARENT, F_HASHES, F_EXTRA };  /* list numbers: roles, these, extras, then fields */
typedef struct { int entry, slot, key_off, key_len; } Member;  /* entry, slot: -1 none; key: ,"name": */
typedef struct Fit {
    int plan; uint64_t epoch;
    int *at, *idx;  /* list i: idx[at[i]] .. idx[at[i + 1] - 1] */
    int nmembers; Member *members; char *keys;
} Fit;

static inline int fit_one(const Fit *F, int list) { return F->at[list] < F->at[list + 1] ? F->idx[F->at[list]] : -1; }

/* data.get(name) of fast_row's data dict for the one name of a list: absent, null, empty and blank are None */
static inline Val data_get(Columns *self, const Fit *F, int list) {
    int i = fit_one(F, list);
    return i < 0 ? VNONE : self->data[i].v;
}

static Val pick(Columns *self, const Fit *F, int list) {
    for (int q = F->at[list]; q < F->at[list + 1]; q++) {
        Val v = self->data[F->idx[q]].v;
        if (v.t == V_NONE) continue;
        if ((v.n == 1 && v.s[0] == '-') || (v.n == 3 && memcmp(v.s, "0x0", 3) == 0)) continue;
        return v;
    }
    return VNONE;
}

/* the attribute names this code sets or reads itself, as Str (init_tables) */

static void init_keys(void) {
    for (int i = 0; i < N_KEYS; i++) str_set(&KEY[i], KEY_TEXT[i], (Py_ssize_t)strlen(KEY_TEXT[i]));
}

/* attrs.get(name): the override of that name (its plan slot, -1: none can be set), else EventData */
static inline Val attr_get(Columns *self, int slot, const Fit *F, int list) {
    if (slot >= 0 && self->sset[slot] == self->sgen) return self->sval[slot];
    return data_get(self, F, list);
}

static int put_int(Buf *b, long long i) {
    char tmp[24], *e = tmp + sizeof tmp, *p = e;
    unsigned long long u = i < 0 ? 0ULL - (unsigned long long)i : (unsigned long long)i;
    do { *--p = (char)('0' + u % 10); u /= 10; } while (u);
    if (i < 0) *--p = '-';
    return buf_put(b, p, e - p);
}

/* src: the record's text (NULL: none); a string inside its copy is scanned 16 bytes at a time,
   which the copy's NUL padding makes safe to read past the string's end */
static int put_json_str(Buf *b, const char *s, Py_ssize_t n, const Src *src) {
    if (buf_reserve(b, 2 * n + 2) < 0) return -1;
    char *w = b->p + b->len;
    *w++ = '"';
    Py_ssize_t i = 0;
    int wide = src && s >= src->copy && s + n <= src->copy + src->len;
    while (i < n) {
        Py_ssize_t j = i;
        if (wide) { j = scan_plain((char *)s + i) - s; if (j > n) j = n; }
        else while (j < n && !SPECIAL[(unsigned char)s[j]]) j++;
        mcopy(w, s + i, j - i);
        w += j - i;
        if (j == n) break;
        switch (s[j]) {  /* the only specials the parser lets in */
        case '\n': *w++ = '\\'; *w++ = 'n'; break;
        case '\t': *w++ = '\\'; *w++ = 't'; break;
        case '\r': *w++ = '\\'; *w++ = 'r'; break;
        default: *w++ = '\\'; *w++ = s[j];  /* quote, backslash */
        }
        i = j + 1;
    }
    *w++ = '"';
    b->len = w - b->p;
    return 0;
}

static int put_json_val(Buf *b, Val v, const Src *src) {
    switch (v.t) {
    case V_STR:
        if (v.plain) {
            if (buf_reserve(b, v.n + 2) < 0) return -1;
            b->p[b->len] = '"';
            mcopy(b->p + b->len + 1, v.s, v.n);
            b->p[b->len + 1 + v.n] = '"';
            b->len += v.n + 2;
            return 0;
        }
        if (v.i > 0 && src && v.s > src->copy && v.s - 1 + v.i <= src->copy + src->len)  /* as written (see Val) */
            return buf_put(b, src->orig + (v.s - 1 - src->copy), v.i);
        return put_json_str(b, v.s, v.n, src);
    case V_INT: return v.s ? buf_put(b, v.s, v.n) : put_int(b, v.i);  /* digits as written: canonical (no "01", "-0") */
    case V_BOOL: return v.i ? buf_put(b, "true", 4) : buf_put(b, "false", 5);
    default: return buf_put(b, "null", 4);
    }
}

/* the Fit of plan p (number pi) to the record's names (self->data, in key order self->dord: a
   layout's); NULL: out of memory */
static Fit *fit_build(Columns *self, const Plan *p, int pi, int nd) {
    int nlists = F_EXTRA + p->nextra + p->nparts, nnames = 3;
    for (int r = 0; r < N_ROLES; r++) nnames += p->ncand[r];
    for (int i = 0; i < p->nextra; i++) nnames += p->extra_ncand[i];
    nnames += p->nparts;
    /* the members: EventData and every slot in key order, as the record's merge would visit them */
    Member *mb = PyMem_Malloc((size_t)(nd + p->nslots + 1) * sizeof(Member));
    Buf keys = {0};
    int nm = 0, di = 0, oi = 0, rc = 0;
    if (!mb) { PyErr_NoMemory(); return NULL; }
    while (rc == 0 && (di < nd || oi < p->nslots)) {
        const Entry *e = di < nd ? &self->data[self->dord[di].idx] : NULL;
        const Str *k = oi < p->nslots ? &p->slot_key[oi] : NULL;
        int c = !e ? 1 : !k ? -1 : key_cmp(e->pre, e->k, e->kn, k->pre, k->s, k->n);
        Member *m = &mb[nm++];
        m->entry = c <= 0 ? self->dord[di++].idx : -1;
        m->slot = c >= 0 ? oi++ : -1;
        m->key_off = (int)keys.len;
        const char *kt = c < 0 ? e->k : k->s;
        Py_ssize_t kn = c < 0 ? e->kn : k->n;
        int plain = c < 0 ? e->kplain : k->plain;
        rc = buf_putc(&keys, ',');
        if (rc == 0) rc = plain ? buf_putc(&keys, '"') || buf_put(&keys, kt, kn) || buf_putc(&keys, '"')
                                : put_json_str(&keys, kt, kn, NULL);
        if (rc == 0) rc = buf_putc(&keys, ':');
        m->key_len = (int)keys.len - m->key_off;
    }
    Fit *F = rc == 0 ? PyMem_Malloc(sizeof(Fit) + (size_t)(nlists + 1 + nnames) * sizeof(int) +
                                    (size_t)nm * sizeof(Member) + (size_t)keys.len + 1) : NULL;
    if (!F) { PyMem_Free(mb); buf_free(&keys); if (!PyErr_Occurred()) PyErr_NoMemory(); return NULL; }
    F->plan = pi; F->epoch = self->plan_epoch; F->nmembers = nm;
    F->members = (Member *)(F + 1);
    F->at = (int *)(F->members + nm); F->idx = F->at + nlists + 1;
    F->keys = (char *)(F->idx + nnames);
    memcpy(F->members, mb, (size_t)nm * sizeof(Member));
    if (keys.len) memcpy(F->keys, keys.p, keys.len);
    PyMem_Free(mb); buf_free(&keys);
    int q = 0;
    for (int list = 0; list < nlists; list++) {
        const Str *names; int n;
        if (list < N_ROLES) { names = p->cand[list]; n = p->ncand[list]; }
        else if (list < F_EXTRA) { names = &KEY[list == F_LOGON ? K_LOGON_TYPE : list == F_PARENT ? K_PARENT_PROCESS : K_HASHES]; n = 1; }
        else if (list < F_EXTRA + p->nextra) { names = p->extra_cand[list - F_EXTRA]; n = p->extra_ncand[list - F_EXTRA]; }
        else { names = &p->field[list - F_EXTRA - p->nextra]; n = names->s != NULL; }
        F->at[list] = q;
        for (int i = 0; i < n; i++) {
            int j = data_find_str(self, &names[i]);
            if (j >= 0) F->idx[q++] = j;
        }
    }
    F->at[nlists] = q;
    return F;
}

/* ,"name":value of a member whose name fragment (comma included or not) is kj */
/* the JSON of the last value put_fit_member had to escape (a CR LF value: 4672's PrivilegeList and
   its `privileges` copy), at off in the buffer: the same value again is copied from there */
typedef struct { const char *s; Py_ssize_t n, off, len; } Escaped;

static inline __attribute__((always_inline)) int put_fit_member(Buf *b, const char *kj, Py_ssize_t kjn, const Val *v,
                                                                const Src *src, Escaped *last) {
    const char *vs = NULL;  /* the usual values, as put_json_val writes them: copies only */
    Py_ssize_t vn = 0;
    int quoted = 0;
    if (v->t == V_STR) {
        if (v->plain) { vs = v->s; vn = v->n; quoted = 1; }
        else if (v->i > 0 && src && v->s > src->copy && v->s - 1 + v->i <= src->copy + src->len) {
            vs = src->orig + (v->s - 1 - src->copy); vn = v->i;  /* as written (see Val) */
        }
    } else if (v->t == V_INT && v->s) { vs = v->s; vn = v->n; }
    if (buf_reserve(b, kjn + vn + 2) < 0) return -1;
    char *w = b->p + b->len;
    mcopy(w, kj, kjn);
    w += kjn;
    if (vs) {
        if (quoted) *w++ = '"';
        mcopy(w, vs, vn);
        w += vn;
        if (quoted) *w++ = '"';
        b->len = w - b->p;
        return 0;
    }
    b->len = w - b->p;
    if (v->t != V_STR) return put_json_val(b, *v, src);
    if (last->s == v->s && last->n == v->n) {
        if (buf_reserve(b, last->len) < 0) return -1;
        memcpy(b->p + b->len, b->p + last->off, last->len);
        b->len += last->len;
        return 0;
    }
    Py_ssize_t off = b->len;
    if (put_json_str(b, v->s, v->n, src) < 0) return -1;
    *last = (Escaped){v->s, v->n, off, b->len - off};
    return 0;
}

static int days_from_civil(long long y, int m, int d, long long *out) {
    /* calendar.timegm's day count: date(y, m, 1).toordinal() + d - 1, so any day 1..31 */
    y -= m <= 2;
    long long era = (y >= 0 ? y : y - 399) / 400;
    long long yoe = y - era * 400;
    long long doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5;
    long long doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    *out = era * 146097 + doe - 719468 + d - 1;
    return 0;
}

static int digits(const char *s, int n, int *out) {
    int v = 0;
    for (int i = 0; i < n; i++) {
        if (s[i] < '0' || s[i] > '9') return -1;
        v = v * 10 + (s[i] - '0');
    }
    *out = v;
    return 0;
}

/* _system_time's usual case: "YYYY-MM-DDTHH:MM:SS.f+Z" -> µs; -1: not ours */
static int system_time(const char *s, Py_ssize_t n, long long *us) {
    int y, mo, d, h, mi, sec;
    if (n < 22 || s[19] != '.' || s[n - 1] != 'Z') return -1;
    if (s[4] != '-' || s[7] != '-' || s[10] != 'T' || s[13] != ':' || s[16] != ':') return -1;
    if (digits(s, 4, &y) || digits(s + 5, 2, &mo) || digits(s + 8, 2, &d) || digits(s + 11, 2, &h) ||
        digits(s + 14, 2, &mi) || digits(s + 17, 2, &sec))
        return -1;
    if (y < 1 || mo < 1 || mo > 12 || d < 1 || d > 31 || h > 23 || mi > 59 || sec > 60) return -1;
    long long frac = 0;
    int nd = 0;
    for (Py_ssize_t i = 20; i < n - 1; i++) {
        if (s[i] < '0' || s[i] > '9') return -1;
        if (nd < 6) frac = frac * 10 + (s[i] - '0');
        nd++;
    }
    if (nd == 0) return -1;
    for (; nd < 6; nd++) frac *= 10;
    long long days;
    days_from_civil(y, mo, d, &days);
    *us = ((days * 86400 + h * 3600 + mi * 60) + sec) * 1000000LL + frac;
    return 0;
}

/* fields.RESERVED and the names fields._flat_event_data leaves to the general code */
static int is_reserved(const char *k, Py_ssize_t n) {
    static const struct { const char *s; Py_ssize_t n; } names[] = {
        {"channel", 7}, {"provider", 8}, {"event_id", 8}, {"record_id", 9}, {"computer", 8}, {"source_format", 13},
        {"qualifiers", 10}, {"level", 5}, {"task", 4}, {"opcode", 6}, {"keywords", 8}, {"user_sid", 8},
        {"execution_pid", 13}, {"execution_tid", 13}, {"activity_id", 11}, {"#attributes", 11}, {"Data", 4},
        {"#text", 5}};
    if (n < 4 || n > 13) return 0;
    char c = k[0];
    if (c != 'c' && c != 'p' && c != 'e' && c != 'r' && c != 's' && c != 'q' && c != 'l' && c != 't' && c != 'o' &&
        c != 'k' && c != 'u' && c != 'a' && c != '#' && c != 'D')
        return 0;
    for (size_t i = 0; i < sizeof names / sizeof *names; i++)
        if (names[i].n == n && names[i].s[0] == c && memcmp(k, names[i].s, n) == 0) return 1;
    return 0;
}

/* node y (-1: absent) as a value of type `type` (null or absent: none); 0: fine, -1: not ours */
/* an integer System value: a JSON integer, or text that fields.as_int reads as the same digits.
   Logs re-rendered from XML carry "EventID":"1149", "Level":"4", ...; as_int(text) is int(text),
   which for canonical decimal digits ("0", or no leading zero; at most 18) prints back as them */
static inline int int_node(Parser *ps, int y, Val *out) {
    Node *nd = &ps->nodes[y];
    long long x = 0;
    if (nd->type == J_INT) x = nd->i;
    else {
        if (nd->type != J_STR || nd->n < 1 || nd->n > 18 || (nd->s[0] == '0' && nd->n > 1)) return 0;
        for (Py_ssize_t i = 0; i < nd->n; i++) {
            if (nd->s[i] < '0' || nd->s[i] > '9') return 0;
            x = x * 10 + (nd->s[i] - '0');
        }
    }
    *out = vint(x);
    out->s = nd->s; out->n = nd->n;
    return 1;
}

static inline int typed(Parser *ps, int y, int type, Val *out) {
    *out = VNONE;
    if (y < 0 || ps->nodes[y].type == J_NULL) return 0;
    Node *nd = &ps->nodes[y];
    if (type == J_INT) return int_node(ps, y, out) ? 0 : -1;
    if (nd->type != type) return -1;
    *out = type == J_INT ? vint(nd->i) : vstr(nd->s, nd->n);
    if (type == J_INT) { out->s = nd->s; out->n = nd->n; }
    else { out->plain = nd->plain; out->i = nd->plain ? 0 : nd->i; }
    return 0;
}

/* the System elements read, found in one pass (the last of a repeated name, as a dict keeps) */
enum { S_EID, S_RID, S_TIME, S_CHANNEL, S_PROVIDER, S_COMPUTER, S_LEVEL, S_TASK, S_OPCODE, S_KEYWORDS, S_SECURITY,
       S_EXECUTION, S_CORRELATION, N_SYS };

static void system_slots(Parser *ps, int sys, int *sl) {
    static const struct { const char *s; Py_ssize_t n; int slot; } names[] = {
        {"EventID", 7, S_EID}, {"EventRecordID", 13, S_RID}, {"TimeCreated", 11, S_TIME}, {"Channel", 7, S_CHANNEL},
        {"Provider", 8, S_PROVIDER}, {"Computer", 8, S_COMPUTER}, {"Level", 5, S_LEVEL}, {"Task", 4, S_TASK},
        {"Opcode", 6, S_OPCODE}, {"Keywords", 8, S_KEYWORDS}, {"Security", 8, S_SECURITY},
        {"Execution", 9, S_EXECUTION}, {"Correlation", 11, S_CORRELATION}};
    (void)names;  /* the list the switch below matches */
    for (int i = 0; i < N_SYS; i++) sl[i] = -1;
    for (int y = ps->nodes[sys].first; y >= 0; y = ps->nodes[y].next) {
        const char *k = ps->nodes[y].k;
        int slot = -1;
#define IS(lit) (memcmp(k, lit, sizeof(lit) - 1) == 0)
        switch (ps->nodes[y].kn) {  /* by length, then the text: no loop over the names */
        case 4: if (IS("Task")) slot = S_TASK; break;
        case 5: if (IS("Level")) slot = S_LEVEL; break;
        case 6: if (IS("Opcode")) slot = S_OPCODE; break;
        case 7: slot = IS("EventID") ? S_EID : IS("Channel") ? S_CHANNEL : -1; break;
        case 8: slot = IS("Provider") ? S_PROVIDER : IS("Computer") ? S_COMPUTER : IS("Keywords") ? S_KEYWORDS
                     : IS("Security") ? S_SECURITY : -1; break;
        case 9: if (IS("Execution")) slot = S_EXECUTION; break;
        case 11: slot = IS("TimeCreated") ? S_TIME : IS("Correlation") ? S_CORRELATION : -1; break;
        case 13: if (IS("EventRecordID")) slot = S_RID; break;
        }
#undef IS
        if (slot >= 0) sl[slot] = y;
    }
}

enum { NOT_OURS = 0, TAKEN = 1, FAILED = -1 };

/* an EventData value as fields.scalar gives it (none: absent); -1: not ours */
static int data_value(Node *x, Val *v) {
    switch (x->type) {
    case J_STR: {
        /* fields.scalar: CR LF and lone CR become LF (in place: the text is our copy); a CR is
           always written escaped, so a plain string has none */
        long long raw = x->plain ? 0 : x->i;
        if (!x->plain && memchr(x->s, '\r', x->n)) {
            raw = 0;  /* its JSON is no longer the text's */
            char *w = (char *)x->s, *r = w, *end = w + x->n, *cr;
            while ((cr = memchr(r, '\r', end - r))) {
                memmove(w, r, cr - r);
                w += cr - r;
                *w++ = '\n';
                r = cr + 1 + (cr + 1 < end && cr[1] == '\n');
            }
            memmove(w, r, end - r);
            x->n = w + (end - r) - x->s;
        }
        Py_ssize_t i = 0;
        while (i < x->n && (x->s[i] == ' ' || x->s[i] == '\n' || x->s[i] == '\t')) i++;
        if (i == x->n) *v = VNONE;  /* empty or blank (str.isspace): absent */
        else { *v = vstr(x->s, x->n); v->plain = x->plain; v->i = raw; }
        return 0;
    }
    case J_INT: *v = vstr(x->s, x->n); v->plain = 1; return 0;
    case J_TRUE: *v = vstr("true", 4); v->plain = 1; return 0;
    case J_FALSE: *v = vstr("false", 5); v->plain = 1; return 0;
    case J_NULL: *v = VNONE; return 0;
    default: return -1;
    }
}

/* "Data_0" ... "Data_99": the names fields._event_data gives unnamed Data values (init_tables) */
#define N_DATA_NAMES 100
static char DATA_NAME[N_DATA_NAMES][8];

static int add_entry(Columns *self, int *nd, const char *k, Py_ssize_t kn, int kplain, Val v, int node) {
    if (*nd == self->datacap) {
        int cap = self->datacap ? self->datacap * 2 : 64;
        Entry *e = PyMem_Realloc(self->data_own, (size_t)cap * sizeof(Entry));
        if (e) self->data = self->data_own = e;
        SortKey *o = e ? PyMem_Realloc(self->dord_own, (size_t)cap * sizeof(SortKey)) : NULL;
        if (o) self->dord = self->dord_own = o;
        int *en = o ? PyMem_Realloc(self->enode, (size_t)cap * sizeof(int)) : NULL;
        if (!en) { PyErr_NoMemory(); return -1; }
        self->enode = en; self->datacap = cap;
    }
    self->enode[*nd] = node;
    Entry *e = &self->data[(*nd)++];
    e->k = k; e->kn = kn; e->pre = key_pre(k, kn); e->hash = key_hash(e->pre, k, kn);
    e->kplain = kplain; e->v = v;
    return 0;
}

static void init_data_names(void) {
    for (int i = 0; i < N_DATA_NAMES; i++) snprintf(DATA_NAME[i], sizeof DATA_NAME[i], "Data_%d", i);
}

/* The nodes take_record reads besides EventData's, found by name as a dict built from the text
   keeps them (the last of a name); -1: absent. Found once per layout: its tree has them at the same
   places for every record (what they hold, and so what take_record decides, is the record's). */
typedef struct Where {
    int ev, sys, sl[N_SYS];
    int eid, eid_wrapped, qualifiers;  /* the EventID's node, its #text when wrapped with Qualifiers */
    int ud, ed, wrapper;               /* UserData's one element besides #attributes (-2: more) */
    int time, provider_attrs, provider_name, provider_source, user_id, process_id, thread_id, activity_id;
} Where;

/* an attribute of System element y (its "#attributes"), as columnar._system reads them */
static int sys_attr_node(Parser *ps, int y, const char *key, Py_ssize_t kl) {
    int a = attrs_of(ps, y);
    return a < 0 ? -1 : getn(ps, a, key, kl);
}

static void find_where(Parser *ps, Where *w) {
    w->ev = get(ps, 0, "Event");
    w->sys = get(ps, w->ev, "System");
    if (w->sys >= 0 && ps->nodes[w->sys].type == J_OBJ) system_slots(ps, w->sys, w->sl);
    else for (int i = 0; i < N_SYS; i++) w->sl[i] = -1;
    w->eid = w->sl[S_EID]; w->eid_wrapped = 0; w->qualifiers = -1;
    if (w->eid >= 0 && ps->nodes[w->eid].type == J_OBJ) {
        w->eid_wrapped = 1;
        w->qualifiers = get(ps, attrs_of(ps, w->eid), "Qualifiers");
        w->eid = get(ps, w->eid, "#text");
    }
    w->ud = get(ps, w->ev, "UserData");
    w->ed = get(ps, w->ev, "EventData");
    w->wrapper = -1;
    if (w->ud >= 0 && ps->nodes[w->ud].type == J_OBJ)
        for (int y = ps->nodes[w->ud].first; y >= 0 && w->wrapper != -2; y = ps->nodes[y].next) {
            if (ps->nodes[y].kn == 11 && memcmp(ps->nodes[y].k, "#attributes", 11) == 0) continue;
            w->wrapper = w->wrapper >= 0 ? -2 : y;
        }
    w->time = sys_attr_node(ps, w->sl[S_TIME], "SystemTime", 10);
    w->provider_attrs = attrs_of(ps, w->sl[S_PROVIDER]);
    w->provider_name = get(ps, w->provider_attrs, "Name");
    w->provider_source = get(ps, w->provider_attrs, "EventSourceName");
    w->user_id = sys_attr_node(ps, w->sl[S_SECURITY], "UserID", 6);
    w->process_id = sys_attr_node(ps, w->sl[S_EXECUTION], "ProcessID", 9);
    w->thread_id = sys_attr_node(ps, w->sl[S_EXECUTION], "ThreadID", 8);
    w->activity_id = sys_attr_node(ps, w->sl[S_CORRELATION], "ActivityID", 10);
}

/* NULL: out of memory */
static const Where *layout_where(Layout *L, Parser *ps) {
    if (!L->where) {
        if (!(L->where = PyMem_Malloc(sizeof(Where)))) { PyErr_NoMemory(); return NULL; }
        find_where(ps, L->where);
    }
    return L->where;
}

/* L's EventData names as this record's entries found them (see Layout); -1: out of memory */
static int layout_frame(Columns *self, Layout *L, int nd, int has_sbid) {
    size_t esz = (size_t)nd * sizeof(Entry), osz = (size_t)nd * sizeof(SortKey);
    char *b = PyMem_Malloc(esz + osz + ((size_t)nd + (size_t)self->hsize) * sizeof(int) + 1);
    if (!b) { PyErr_NoMemory(); return -1; }
    L->entries = (Entry *)b; L->dord = (SortKey *)(b + esz);
    L->entry_node = (int *)(b + esz + osz); L->htab = L->entry_node + nd;
    memcpy(L->entries, self->data_own, esz);
    memcpy(L->dord, self->dord_own, osz);
    memcpy(L->entry_node, self->enode, (size_t)nd * sizeof(int));
    memcpy(L->htab, self->htab_own, (size_t)self->hsize * sizeof(int));
    L->hsize = self->hsize; L->has_sbid = has_sbid; L->nd = nd;
    return 0;
}

/* Why a record is not taken is a closed list, each a `return NOT_OURS` below. */
static int take_record(Columns *self, PyObject *text, const char *ls, Py_ssize_t ln, int checksum_bad) {
    if (!PyUnicode_IS_ASCII(text)) return NOT_OURS;
    Py_ssize_t tn = PyUnicode_GET_LENGTH(text);
    if (tn > (1 << 24)) return NOT_OURS;  /* a record is at most a 64 KB chunk: text this long is Python's to judge */
    self->text.len = 0;
    if (buf_reserve(&self->text, tn + TEXT_PAD) < 0) return FAILED;
    const char *orig = (const char *)PyUnicode_DATA(text);
    memcpy(self->text.p, orig, tn);
    memset(self->text.p + tn, 0, TEXT_PAD);
    self->text.len = tn;
    Parser *ps = &self->ps;
    ps->p = self->text.p; ps->end = self->text.p + tn;
    int root = 0;  /* a tree's root is its first node */
    Layout *L = layout_match(self, ps, orig);
    if (L) {
        ps->nodes = L->nodes; ps->n = L->nnodes;
        self->last_layout = L; L->used = ++self->layout_clock; self->layouts_matched++;
    }
    else {
        if (self->last_layout) memcpy(self->text.p, orig, tn);  /* the match may have unescaped strings in it */
        ps->p = self->text.p; ps->nodes = ps->own; ps->n = 0;
        root = parse_value(ps, 0);
        if (root == -2) { PyErr_NoMemory(); return FAILED; }
        if (root < 0) return NOT_OURS;
        if (ps->p != ps->end || ps->nodes[root].type != J_OBJ) return NOT_OURS;
        if (tn > LAYOUT_MAX_TEXT) { L = &self->scratch_layout; layout_forget(L); }  /* its tree: own */
        else if (layout_add(self, ps, orig, tn) < 0) return FAILED;
        else L = self->last_layout;
        if (L != &self->scratch_layout) ps->nodes = L->nodes;  /* its copy of the tree: the record's values, the layout's keys */
    }
    const Where *w = layout_where(L, ps);
    if (!w) return FAILED;
    int ev = w->ev;
    if (ev < 0 || ps->nodes[ev].type != J_OBJ || ps->nodes[ev].first < 0) return NOT_OURS;
    if (w->sys < 0 || ps->nodes[w->sys].type != J_OBJ) return NOT_OURS;
    const int *sl = w->sl;
    int eidn = w->eid, ridn = sl[S_RID];
    Val qualifiers = VNONE;
    if (w->eid_wrapped) {
        /* {"#attributes": {"Qualifiers": q}, "#text": id}: fields._system_fields adds qualifiers */
        int q = w->qualifiers;
        if (q < 0 || ps->nodes[q].type != J_INT) return NOT_OURS;
        qualifiers = vint(ps->nodes[q].i);
        qualifiers.s = ps->nodes[q].s; qualifiers.n = ps->nodes[q].n;
    }
    Val eid, rid;  /* fields._system_fields: as_int of each when either is not a JSON integer */
    if (eidn < 0 || ridn < 0 || !int_node(ps, eidn, &eid) || !int_node(ps, ridn, &rid)) return NOT_OURS;
    int ud = w->ud;
    int ed = w->ed;
    if (ed >= 0 && ps->nodes[ed].type != J_NULL && ps->nodes[ed].type != J_OBJ) return NOT_OURS;
    int user_data = 0;
    if (ud >= 0 && ps->nodes[ud].type != J_NULL) {
        /* UserData: fields._event_data unwraps its one wrapper element (LogFileCleared, EventXML, ...);
           ours when that holds only named scalars (and its "#attributes") and there is no EventData */
        if (ps->nodes[ud].type != J_OBJ || (ed >= 0 && ps->nodes[ed].type != J_NULL)) return NOT_OURS;
        if (w->wrapper < 0 || ps->nodes[w->wrapper].type != J_OBJ) return NOT_OURS;
        ed = w->wrapper;
        user_data = 1;
    }

    /* EventData: fields._flat_event_data's shape, values as fields.scalar gives them; unnamed Data
       (classic event sources: "Data": {"#text": [...]}) as fields._event_data names it */
    int nd = 0, has_sbid = 0;
    if (L->nd >= 0) {  /* the names found for the layout's first record: only the values are read */
        nd = L->nd; has_sbid = L->has_sbid;
        for (int i = 0; i < nd; i++)
            if (data_value(&ps->nodes[L->entry_node[i]], &L->entries[i].v) < 0) return NOT_OURS;
        self->data = L->entries; self->dord = L->dord; self->htab = L->htab; self->hsize = L->hsize;
        goto named;
    }
    self->data = self->data_own; self->dord = self->dord_own;
    if (ed >= 0 && ps->nodes[ed].type == J_OBJ) {
        for (int y = ps->nodes[ed].first; y >= 0; y = ps->nodes[y].next) {
            Node *x = &ps->nodes[y];
            if (user_data && x->kn == 11 && memcmp(x->k, "#attributes", 11) == 0) continue;  /* _flatten skips it */
            Val v;
            if (!user_data && x->kn == 4 && memcmp(x->k, "Data", 4) == 0) {
                /* _flatten: {"#text": [..]} or [..] becomes Data_0, Data_1, ... (scalar of each, absent
                   when None); {"#text": x} or a scalar becomes Data; a dict without #text is nested */
                int t = y;
                if (x->type == J_OBJ && (t = getn(ps, y, "#text", 5)) < 0) return NOT_OURS;
                if (ps->nodes[t].type == J_ARR) {
                    int i = 0;
                    for (int z = ps->nodes[t].first; z >= 0; z = ps->nodes[z].next, i++) {
                        if (i >= N_DATA_NAMES || data_value(&ps->nodes[z], &v) < 0) return NOT_OURS;
                        if (add_entry(self, &nd, DATA_NAME[i], (Py_ssize_t)strlen(DATA_NAME[i]), 1, v, z) < 0)
                            return FAILED;
                    }
                    continue;
                }
                if (data_value(&ps->nodes[t], &v) < 0) return NOT_OURS;
                if (add_entry(self, &nd, "Data", 4, 1, v, t) < 0) return FAILED;
                continue;
            }
            if (is_reserved(x->k, x->kn)) return NOT_OURS;
            if (x->kn == 13 && memcmp(x->k, "ScriptBlockId", 13) == 0) has_sbid = 1;
            if (data_value(x, &v) < 0) return NOT_OURS;
            if (add_entry(self, &nd, x->k, x->kn, x->kplain, v, y) < 0) return FAILED;
        }
    }
    int dup = data_index(self, nd);
    if (dup < 0) return FAILED;
    if (dup) return NOT_OURS;  /* a repeated name */
    if (layout_frame(self, L, nd, has_sbid) < 0) return FAILED;
named:
    if (eid.i == 4104 && has_sbid) return NOT_OURS;  /* script block parts: the assembler needs their Event */

    /* TimeCreated/@SystemTime */
    int st = w->time;
    if (st < 0 || ps->nodes[st].type != J_STR) return NOT_OURS;
    long long ts;
    if (system_time(ps->nodes[st].s, ps->nodes[st].n, &ts) < 0) return NOT_OURS;

    /* System fields (columnar._system): anything of another type is not ours */
    Val channel, provider = VNONE, computer, level, task, opcode, keywords, sid, xpid, xtid, act;
    if (typed(ps, sl[S_CHANNEL], J_STR, &channel) < 0) return NOT_OURS;
    if (w->provider_attrs >= 0) {
        Val name;
        if (typed(ps, w->provider_name, J_STR, &name) < 0) return NOT_OURS;
        if (name.t == V_STR && name.n > 0) provider = name;
        else if (typed(ps, w->provider_source, J_STR, &provider) < 0) return NOT_OURS;
    }
    if (typed(ps, sl[S_COMPUTER], J_STR, &computer) < 0 || typed(ps, sl[S_LEVEL], J_INT, &level) < 0 ||
        typed(ps, sl[S_TASK], J_INT, &task) < 0 || typed(ps, sl[S_OPCODE], J_INT, &opcode) < 0 ||
        typed(ps, sl[S_KEYWORDS], J_STR, &keywords) < 0 || typed(ps, w->user_id, J_STR, &sid) < 0 ||
        typed(ps, w->process_id, J_INT, &xpid) < 0 || typed(ps, w->thread_id, J_INT, &xtid) < 0 ||
        typed(ps, w->activity_id, J_STR, &act) < 0)
        return NOT_OURS;
    if (sid.t == V_STR && sid.n == 0) sid = VNONE;  /* `if v:` */
    if (act.t == V_STR && act.n == 0) act = VNONE;

    for (int k = 0; k < N_CONV; k++)
        if (PyDict_GET_SIZE(self->memo[k]) >= 65536) { memo_clear(self->cache[k]); PyDict_Clear(self->memo[k]); }
    Plan *plan = plan_of(self, channel, provider, eid);
    if (!plan) return FAILED;
    if (plan->kind == 2) return NOT_OURS;
    Fit *F = L->fit;
    if (!F || F->plan != (int)(plan - self->plans) || F->epoch != self->plan_epoch) {
        PyMem_Free(L->fit);
        if (!(F = L->fit = fit_build(self, plan, (int)(plan - self->plans), nd))) return FAILED;
    }

    Val *sval = self->sval;
    uint32_t *sset = self->sset, gen = ++self->sgen;  /* a slot is set in this record when it holds gen */
    if (gen == 0) { memset(sset, 0, (size_t)self->slotcap * sizeof *sset); gen = self->sgen = 1; }
#define SLOT(s_, v) do { int q_ = (s_); sval[q_] = (v); sset[q_] = gen; } while (0)
#define OVER(key, v) SLOT(plan->kslot[key], v)
    if (channel.t) OVER(K_CHANNEL, channel);
    if (provider.t) OVER(K_PROVIDER, provider);
    OVER(K_EVENT_ID, eid);
    OVER(K_RECORD_ID, rid);
    if (computer.t) OVER(K_COMPUTER, computer);
    if (qualifiers.t) OVER(K_QUALIFIERS, qualifiers);
    if (level.t) OVER(K_LEVEL, level);
    if (task.t) OVER(K_TASK, task);
    if (opcode.t) OVER(K_OPCODE, opcode);
    if (keywords.t) OVER(K_KEYWORDS, keywords);
    if (sid.t) OVER(K_USER_SID, sid);
    if (xpid.t) OVER(K_EXECUTION_PID, xpid);
    if (xtid.t) OVER(K_EXECUTION_TID, xtid);
    if (act.t) OVER(K_ACTIVITY_ID, act);

    Val ent[N_ENT];
    for (int i = 0; i < N_ENT; i++) ent[i] = VNONE;
    Val pid = VNONE, fsha = VNONE;
    ent[E_HOST] = computer;
    Buf *m = &self->msgbuf;
    m->len = 0;
    if (plan->kind == 1) {
        PyObject *o;
        Val v = pick(self, F, R_USER);
        if (v.t) {
            if (!(o = convert(self, C_SPLIT_USER, v.s, v.n))) return FAILED;
            if (!PyTuple_CheckExact(o) || PyTuple_GET_SIZE(o) != 2) return NOT_OURS;
            Val dom;
            if (!as_val(PyTuple_GET_ITEM(o, 0), &ent[E_USER]) || !as_val(PyTuple_GET_ITEM(o, 1), &dom)) return NOT_OURS;
            if (ent[E_USER].t == V_INT || dom.t == V_INT) return NOT_OURS;
            if (dom.t == V_STR && dom.n > 0) OVER(K_USER_DOMAIN, dom);
        }
        v = pick(self, F, R_IMAGE);
        if (v.t) {
            if (!(o = convert(self, C_BASENAME, v.s, v.n))) return FAILED;
            if (!as_val(o, &ent[E_PNAME]) || ent[E_PNAME].t != V_STR) return NOT_OURS;
            OVER(K_PROCESS_IMAGE, v);
        }
        v = pick(self, F, R_PID);
        if (v.t) {
            if (!(o = convert(self, C_AS_INT, v.s, v.n))) return FAILED;
            if (!as_val(o, &pid) || pid.t == V_STR) return NOT_OURS;
        }
        ent[E_CMD] = pick(self, F, R_CMD);
        static const int conv_of[] = {-1, -1, -1, -1, C_CLEAN_IP, C_PORT, C_CLEAN_IP, C_PORT, C_LOWER, C_DOMAIN, -1};
        static const int ent_of[] = {-1, -1, -1, -1, E_SIP, E_SPORT, E_DIP, E_DPORT, E_PROTO, E_DOMAIN, E_FILE};
        for (int r = R_SIP; r <= R_FILE; r++) {
            v = pick(self, F, r);
            if (!v.t) continue;
            if (conv_of[r] < 0) { ent[ent_of[r]] = v; continue; }
            if (!(o = convert(self, conv_of[r], v.s, v.n))) return FAILED;
            if (!as_val(o, &ent[ent_of[r]])) return NOT_OURS;
            int want = (r == R_SPORT || r == R_DPORT) ? V_INT : V_STR;
            if (ent[ent_of[r]].t != V_NONE && ent[ent_of[r]].t != want) return NOT_OURS;
        }
        for (int i = 0; i < plan->nextra; i++) {
            v = pick(self, F, F_EXTRA + i);
            if (v.t) SLOT(plan->xslot[i], v);
        }
        /* `if 'logon_type' in attrs: attrs['logon_type'] = as_int(attrs['logon_type'])` */
        int present = 0;
        Val lv = VNONE;
        if (sset[plan->kslot[K_LOGON_TYPE]] == gen) { present = 1; lv = sval[plan->kslot[K_LOGON_TYPE]]; }
        if (!present) {
            int k = fit_one(F, F_LOGON);
            if (k >= 0 && self->data[k].v.t != V_NONE) { present = 1; lv = self->data[k].v; }
        }
        if (present) {
            Val lt = VNONE;
            if (lv.t == V_STR) {
                if (!(o = convert(self, C_AS_INT, lv.s, lv.n))) return FAILED;
                if (!as_val(o, &lt) || lt.t == V_STR) return NOT_OURS;
            } else if (lv.t == V_INT) lt = lv;
            else if (lv.t != V_NONE) return NOT_OURS;
            OVER(K_LOGON_TYPE, lt);
        }
        v = attr_get(self, plan->kslot[K_PARENT_PROCESS], F, F_PARENT);
        if (v.t == V_STR) {
            Val b;
            if (!(o = convert(self, C_BASENAME, v.s, v.n))) return FAILED;
            if (!as_val(o, &b) || b.t != V_STR) return NOT_OURS;
            OVER(K_PARENT_PROCESS_NAME, b);
        }
        v = attr_get(self, plan->kslot[K_HASHES], F, F_HASHES);
        if (v.t == V_STR) {
            if (!(o = convert(self, C_SHA256_OF, v.s, v.n))) return FAILED;
            if (!as_val(o, &fsha) || fsha.t == V_INT) return NOT_OURS;
        }
        /* the message: "{eid} " + the template, each field an entity, else attrs, else EventData, else "-" */
        if (buf_put(m, eid.s, eid.n) < 0 || buf_putc(m, ' ') < 0) return FAILED;
        for (int i = 0; i < plan->nparts; i++) {
            if (plan->lit[i].n && buf_put(m, plan->lit[i].s, plan->lit[i].n) < 0) return FAILED;
            if (!plan->field[i].s) continue;
            Val f = plan->ent[i] >= 0 ? ent[plan->ent[i]] : VNONE;
            if (f.t == V_NONE) {
                f = attr_get(self, plan->fslot[i], F, F_EXTRA + plan->nextra + i);
                if (f.t == V_NONE) f = data_get(self, F, F_EXTRA + plan->nextra + i);
            }
            int rc;
            switch (f.t) {
            case V_STR: rc = buf_put(m, f.s, f.n); break;
            case V_INT: rc = put_int(m, f.i); break;
            case V_BOOL: return NOT_OURS;
            default: rc = buf_putc(m, '-');
            }
            if (rc < 0) return FAILED;
        }
    } else {
        /* no table row: "{provider or channel or 'Windows'} event {eid} on {host or '-'}" */
        Val who = provider.t && provider.n ? provider : channel.t && channel.n ? channel : vstr("Windows", 7);
        if (buf_put(m, who.s, who.n) < 0 || buf_put(m, " event ", 7) < 0 || buf_put(m, eid.s, eid.n) < 0 ||
            buf_put(m, " on ", 4) < 0)
            return FAILED;
        if (computer.t && computer.n ? buf_put(m, computer.s, computer.n) < 0 : buf_putc(m, '-') < 0) return FAILED;
    }
    if (m->len > 2000) return NOT_OURS;  /* the cut adds a non-ASCII ellipsis: Python's */
    if (checksum_bad) { Val f = {.t = V_BOOL, .i = 0}; OVER(K_CHUNK_CHECKSUM_OK, f); }
#undef OVER
#undef SLOT

    /* attributes: canonical JSON (sorted keys) of EventData merged with the overrides, written
       where the attributes column's next value goes (str_commit makes it that) */
    Buf *j = &self->attrs.data;
    Py_ssize_t jbase = j->len;
    Src src = {self->text.p, (const char *)PyUnicode_DATA(text), self->text.len};
    if (buf_putc(j, '{') < 0) return FAILED;
    int first = 1;
    Escaped last = {NULL, 0, 0, 0};
    const Member *mb = F->members;
    const Entry *data = self->data;
    for (int q = 0; q < F->nmembers; q++) {
        const Val *v;
        if (mb[q].slot >= 0 && sset[mb[q].slot] == gen) v = &sval[mb[q].slot];
        else if (mb[q].entry >= 0 && data[mb[q].entry].v.t != V_NONE) v = &data[mb[q].entry].v;
        else continue;
        if (put_fit_member(j, F->keys + mb[q].key_off + first, mb[q].key_len - first, v, &src, &last) < 0) {
            j->len = jbase;
            return FAILED;
        }
        first = 0;
    }
    if (buf_putc(j, '}') < 0 || str_commit(&self->attrs, 1) < 0) { j->len = jbase; return FAILED; }

    /* the row: every column or none (errors here are out of memory only) */
    Sha h = self->id_base;
    char idhex[32];
    sha_update(&h, (const unsigned char *)ls, ln);
    sha_update(&h, (const unsigned char *)self->id_suffix.p, self->id_suffix.len);
    sha_hex32(&h, idhex);
#define S(col, v) str_push(&self->col, (v).s, (v).n, (v).t == V_STR)
#define I(col, v) int_push(&self->col, (v).i, (v).t == V_INT)
    Val msg = vstr(m->p, m->len), gbt = plan->kind == 1 && plan->has_gbt ? vstr(plan->gbt.s, plan->gbt.n) : VNONE;
    Val sev = plan->kind == 1 ? vstr(plan->severity.s, plan->severity.n) : vstr("info", 4);
    if (int_push(&self->ts, ts, 1) < 0 || S(msg, msg) < 0 || str_push(&self->loc, ls, ln, 1) < 0 ||
        S(host, ent[E_HOST]) < 0 || S(user, ent[E_USER]) < 0 || I(pid, pid) < 0 || S(pname, ent[E_PNAME]) < 0 ||
        S(cmd, ent[E_CMD]) < 0 || S(sip, ent[E_SIP]) < 0 || I(sport, ent[E_SPORT]) < 0 || S(dip, ent[E_DIP]) < 0 ||
        I(dport, ent[E_DPORT]) < 0 || S(proto, ent[E_PROTO]) < 0 || S(domain, ent[E_DOMAIN]) < 0 ||
        S(fpath, ent[E_FILE]) < 0 || S(fsha, fsha) < 0 || S(gbt, gbt) < 0 || S(sev, sev) < 0 ||
        str_push(&self->eid, idhex, 32, 1) < 0)
        return FAILED;
#undef S
#undef I
    if (list_begin(&self->tags) < 0 || list_begin(&self->attack) < 0) return FAILED;
    if (plan->kind == 1) {
        for (int i = 0; i < plan->ntags; i++)
            if (str_push(&self->tags.child, plan->tags[i].s, plan->tags[i].n, 1) < 0) return FAILED;
        for (int i = 0; i < plan->nattack; i++)
            if (str_push(&self->attack.child, plan->attack[i].s, plan->attack[i].n, 1) < 0) return FAILED;
    }
    if (list_end(&self->tags) < 0 || list_end(&self->attack) < 0) return FAILED;
    self->rows++;
    return TAKEN;
}

/* ------------------------------------------------------------------ the Python type */

static PyObject *Columns_record(Columns *self, PyObject *const *args, Py_ssize_t nargs) {
    if (nargs != 3 || !PyUnicode_Check(args[0]) || !PyUnicode_Check(args[1])) {
        PyErr_SetString(PyExc_TypeError, "record(text: str, locator: str, checksum_bad: bool)");
        return NULL;
    }
    int bad = PyObject_IsTrue(args[2]);
    if (bad < 0) return NULL;
    if (!PyUnicode_IS_ASCII(args[1])) Py_RETURN_FALSE;
    int rc = take_record(self, args[0], (const char *)PyUnicode_DATA(args[1]), PyUnicode_GET_LENGTH(args[1]), bad);
    if (rc == FAILED) return NULL;
    return PyBool_FromLong(rc == TAKEN);
}

static PyObject *S_RID_KEY, *S_DATA_KEY, *S_CHUNK_OF, *S_OFFSET_OF;

static int attr_ll(PyObject *o, const char *name, long long *out) {
    PyObject *v = PyObject_GetAttrString(o, name);
    if (!v) return -1;
    *out = PyLong_AsLongLong(v);
    Py_DECREF(v);
    return (*out == -1 && PyErr_Occurred()) ? -1 : 0;
}

static int ll_of(PyObject *o, long long *out) {  /* 1: an exact int that fits; 0: anything else */
    if (!PyLong_CheckExact(o)) return 0;
    int over = 0;
    *out = PyLong_AsLongLongAndOverflow(o, &over);
    if (over || (*out == -1 && PyErr_Occurred())) { PyErr_Clear(); return 0; }
    return 1;
}

/* the offset of record r in a chunk's packed (record id, offset) pairs, -1: none; *cur: where the
   next record of the chunk usually is (they come in order) */
static long long packed_find(const unsigned char *p, Py_ssize_t n, Py_ssize_t *cur, long long r) {
    if (r < 0) return -1;
    uint64_t id;
    long long off;
    if (*cur < n) {
        memcpy(&id, p + 16 * *cur, 8);
        if (id == (uint64_t)r) { memcpy(&off, p + 16 * *cur + 8, 8); ++*cur; return off; }
    }
    for (Py_ssize_t i = 0; i < n; i++) {
        memcpy(&id, p + 16 * i, 8);
        if (id == (uint64_t)r) { memcpy(&off, p + 16 * i + 8, 8); *cur = i + 1; return off; }
    }
    return -1;
}

/* feed(records, cmap, start, limit): records from the evtx iterator until `limit` rows are held
 * (returns True), the iterator ends (None), or a record is not ours: (record, locator, chunk) for
 * the Python path, locator None when even its locator is Python's to work out. The locator is
 * the ingestor's "chunk=K;record=R;off=O", from the chunk map's ranges and record offsets, asking
 * cmap.chunk_of / cmap.offset_of (which keep its state) whenever the record leaves the chunk at hand.
 * An exception from the iterator (a damaged chunk) propagates; the rows taken before it stay. */
static PyObject *Columns_feed(Columns *self, PyObject *const *args, Py_ssize_t nargs) {
    if (nargs != 4) { PyErr_SetString(PyExc_TypeError, "feed(records, cmap, start, limit)"); return NULL; }
    PyObject *it = args[0], *cmap = args[1], *start = args[2];
    Py_ssize_t limit = PyLong_AsSsize_t(args[3]);
    if (limit == -1 && PyErr_Occurred()) return NULL;
    PyObject *ranges = NULL, *problems = NULL, *offs = NULL, *result = NULL, *packed = NULL, *pitem = NULL;
    long long pk = -1;  /* the chunk whose packed offsets pitem holds (chunk_offsets) */
    Py_ssize_t pcur = 0;
    long long *lo = NULL, *hi = NULL, cur, offs_chunk, bad_chunk = -2;
    int bad = 0;
    Py_ssize_t nr;
    if (!(ranges = PyObject_GetAttrString(cmap, "ranges")) || !PyList_Check(ranges)) goto done;
    if (!(problems = PyObject_GetAttrString(cmap, "checksum_problems")) || !PyDict_Check(problems)) goto done;
    nr = PyList_GET_SIZE(ranges);
    lo = PyMem_Calloc(nr + 1, sizeof(long long)); hi = PyMem_Calloc(nr + 1, sizeof(long long));
    if (!lo || !hi) { PyErr_NoMemory(); goto done; }
    for (Py_ssize_t i = 0; i < nr; i++) {
        PyObject *t = PyList_GET_ITEM(ranges, i);
        if (!PyTuple_Check(t) || PyTuple_GET_SIZE(t) != 2 || !ll_of(PyTuple_GET_ITEM(t, 0), &lo[i]) ||
            !ll_of(PyTuple_GET_ITEM(t, 1), &hi[i])) { lo[i] = 0; hi[i] = -1; }
    }
    if (attr_ll(cmap, "cur", &cur) < 0 || attr_ll(cmap, "_offsets_chunk", &offs_chunk) < 0) goto done;
    if (!(offs = PyObject_GetAttrString(cmap, "_offsets")) || !PyDict_Check(offs)) goto done;
    /* each chunk's record offsets as the chunk map found them when it read the chunks: no second
       read and no dict per chunk (a chunk without them takes cmap.offset_of) */
    if (!(packed = PyObject_GetAttrString(cmap, "packed"))) {
        if (!PyErr_ExceptionMatches(PyExc_AttributeError)) goto done;
        PyErr_Clear();
    } else if (!PyList_Check(packed)) Py_CLEAR(packed);
    char loc[96];
    for (;;) {
        if (self->rows >= limit) { result = Py_NewRef(Py_True); break; }
        PyObject *rec = PyIter_Next(it);
        if (!rec) { if (!PyErr_Occurred()) result = Py_NewRef(Py_None); break; }
        PyObject *rid = PyDict_CheckExact(rec) ? PyDict_GetItemWithError(rec, S_RID_KEY) : NULL;
        long long r, k = -1, off = -1;
        if (!rid || !ll_of(rid, &r)) {
            if (PyErr_Occurred()) { Py_DECREF(rec); break; }
            result = Py_BuildValue("(NOO)", rec, Py_None, Py_None);
            break;
        }
        if (0 <= cur && cur < nr && lo[cur] <= r && r <= hi[cur]) k = cur;
        else {
            PyObject *kk = PyObject_CallMethodObjArgs(cmap, S_CHUNK_OF, rid, start, NULL);
            if (!kk) { Py_DECREF(rec); break; }
            if (kk != Py_None && !ll_of(kk, &k)) k = -2;
            Py_DECREF(kk);
            if (attr_ll(cmap, "cur", &cur) < 0) { Py_DECREF(rec); break; }
            if (k == -2) { result = Py_BuildValue("(NOO)", rec, Py_None, Py_None); break; }
        }
        if (k >= 0 && packed && k < PyList_GET_SIZE(packed) && PyBytes_CheckExact(PyList_GET_ITEM(packed, k))) {
            if (k != pk) {
                Py_XSETREF(pitem, Py_NewRef(PyList_GET_ITEM(packed, k)));
                pk = k; pcur = 0;
            }
            off = packed_find((const unsigned char *)PyBytes_AS_STRING(pitem), PyBytes_GET_SIZE(pitem) / 16, &pcur, r);
        } else if (k >= 0) {
            PyObject *o;
            if (k == offs_chunk) {
                o = PyDict_GetItemWithError(offs, rid);
                if (!o && PyErr_Occurred()) { Py_DECREF(rec); break; }
                Py_XINCREF(o);
            } else {
                PyObject *kk = PyLong_FromLongLong(k);
                o = kk ? PyObject_CallMethodObjArgs(cmap, S_OFFSET_OF, kk, rid, NULL) : NULL;
                Py_XDECREF(kk);
                if (!o) { Py_DECREF(rec); break; }
                Py_CLEAR(offs);
                if (attr_ll(cmap, "_offsets_chunk", &offs_chunk) < 0 || !(offs = PyObject_GetAttrString(cmap, "_offsets")) ||
                    !PyDict_Check(offs)) { Py_DECREF(o); Py_DECREF(rec); goto done; }
            }
            if (o && o != Py_None && !ll_of(o, &off)) off = -2;
            Py_XDECREF(o);
            if (off == -2) { result = Py_BuildValue("(NOO)", rec, Py_None, Py_None); break; }
        }
        if (k >= 0) {
            if (k != bad_chunk) {
                PyObject *kk = PyLong_FromLongLong(k);
                bad = kk ? PyDict_Contains(problems, kk) : -1;
                Py_XDECREF(kk);
                if (bad < 0) { Py_DECREF(rec); break; }
                bad_chunk = k;
            }
        } else {
            bad = 0;
            bad_chunk = -2;  /* the next record of a known chunk looks its flag up again */
        }
        /* "chunk=K;record=R;off=O" ('?' for what the chunk map does not know), as _event writes it */
        Buf lb = {loc, 0, sizeof loc};
        buf_put(&lb, "chunk=", 6);
        if (k < 0) buf_putc(&lb, '?'); else put_int(&lb, k);
        buf_put(&lb, ";record=", 8);
        put_int(&lb, r);
        buf_put(&lb, ";off=", 5);
        if (off < 0) buf_putc(&lb, '?'); else put_int(&lb, off);
        int ln = (int)lb.len;  /* at most 6 + 20 + 8 + 20 + 5 + 20 bytes: the buffer never grows */
        PyObject *data = PyDict_GetItemWithError(rec, S_DATA_KEY);
        int rc = NOT_OURS;
        if (data && PyUnicode_CheckExact(data)) rc = take_record(self, data, loc, ln, bad);
        if (rc == FAILED || PyErr_Occurred()) { Py_DECREF(rec); break; }
        if (rc == TAKEN) { Py_DECREF(rec); continue; }
        result = Py_BuildValue("(Ns#O)", rec, loc, (Py_ssize_t)ln, k >= 0 ? PyLong_FromLongLong(k) : Py_NewRef(Py_None));
        if (result) Py_DECREF(PyTuple_GET_ITEM(result, 2));  /* the tuple holds it */
        break;
    }
done:
    Py_XDECREF(ranges); Py_XDECREF(problems); Py_XDECREF(offs); Py_XDECREF(packed); Py_XDECREF(pitem);
    PyMem_Free(lo); PyMem_Free(hi);
    if (!result && !PyErr_Occurred()) PyErr_SetString(PyExc_TypeError, "feed: the chunk map is not the ingestor's");
    return result;
}

/* _ChunkMap.offset_of's walk: {record id: file offset} of the records in one chunk's bytes
   (the first header of a repeated id wins, as dict.setdefault keeps it) */
static PyObject *record_offsets(PyObject *mod, PyObject *args) {
    Py_buffer b;
    long long base;
    if (!PyArg_ParseTuple(args, "y*L", &b, &base)) return NULL;
    PyObject *d = PyDict_New();
    const unsigned char *p = b.buf;
    Py_ssize_t n = b.len, pos = 512;
    while (d && pos + 24 <= n && memcmp(p + pos, "\x2a\x2a\x00\x00", 4) == 0) {  /* bounded: pos grows */
        uint32_t size = (uint32_t)p[pos + 4] | (uint32_t)p[pos + 5] << 8 | (uint32_t)p[pos + 6] << 16 | (uint32_t)p[pos + 7] << 24;
        unsigned long long rid = 0;
        for (int i = 7; i >= 0; i--) rid = rid << 8 | p[pos + 8 + i];
        PyObject *key = PyLong_FromUnsignedLongLong(rid), *val = key ? PyLong_FromLongLong(base + pos) : NULL;
        if (!val || PyDict_SetDefault(d, key, val) == NULL) Py_CLEAR(d);
        Py_XDECREF(key); Py_XDECREF(val);
        if (size < 24) break;
        pos += size;
    }
    PyBuffer_Release(&b);
    return d;
}

/* record_offsets' walk as packed (record id, file offset) pairs of native 64-bit integers, in walk
   order, a repeated id only at its first header (as record_offsets keeps it) */
static PyObject *chunk_offsets(PyObject *mod, PyObject *args) {
    Py_buffer b;
    long long base;
    if (!PyArg_ParseTuple(args, "y*L", &b, &base)) return NULL;
    const unsigned char *p = b.buf;
    Py_ssize_t n = b.len, pos = 512, m = 0;
    Buf out = {0};
    uint64_t top = 0;  /* the largest id so far: ids mostly ascend, so a repeat is rarely looked for */
    while (pos + 24 <= n && memcmp(p + pos, "\x2a\x2a\x00\x00", 4) == 0) {  /* bounded: pos grows */
        uint32_t size = (uint32_t)p[pos + 4] | (uint32_t)p[pos + 5] << 8 | (uint32_t)p[pos + 6] << 16 | (uint32_t)p[pos + 7] << 24;
        uint64_t rid = 0;
        for (int i = 7; i >= 0; i--) rid = rid << 8 | p[pos + 8 + i];
        int seen = 0;
        if (m > 0 && rid <= top)
            for (Py_ssize_t i = 0; i < m && !seen; i++) { uint64_t x; memcpy(&x, out.p + 16 * i, 8); seen = x == rid; }
        if (!seen) {
            long long off = base + pos;
            if (buf_put(&out, (const char *)&rid, 8) < 0 || buf_put(&out, (const char *)&off, 8) < 0) {
                buf_free(&out); PyBuffer_Release(&b); return NULL;
            }
            if (m == 0 || rid > top) top = rid;
            m++;
        }
        if (size < 24) break;
        pos += size;
    }
    PyBuffer_Release(&b);
    PyObject *r = PyBytes_FromStringAndSize(out.p ? out.p : "", out.len);
    buf_free(&out);
    return r;
}

static int push_py_str(StrCol *c, PyObject *o) {
    if (o == Py_None) return str_push(c, NULL, 0, 0);
    if (!PyUnicode_Check(o)) { PyErr_SetString(PyExc_TypeError, "row: str or None expected"); return -1; }
    Py_ssize_t n;
    const char *s = PyUnicode_AsUTF8AndSize(o, &n);
    return s ? str_push(c, s, n, 1) : -1;
}

static int push_py_int(IntCol *c, PyObject *o) {
    if (o == Py_None) return int_push(c, 0, 0);
    if (!PyLong_Check(o)) { PyErr_SetString(PyExc_TypeError, "row: int or None expected"); return -1; }
    long long i = PyLong_AsLongLong(o);
    if (i == -1 && PyErr_Occurred()) return -1;
    if (c->width == 4 && (i < INT32_MIN || i > INT32_MAX)) { PyErr_SetString(PyExc_OverflowError, "int32 column"); return -1; }
    return int_push(c, i, 1);
}

static int push_py_list(ListCol *c, PyObject *o) {
    if (!PyList_Check(o) && !PyTuple_Check(o)) { PyErr_SetString(PyExc_TypeError, "row: list expected"); return -1; }
    if (list_begin(c) < 0) return -1;
    PyObject *f = PySequence_Fast(o, "row: list expected");
    if (!f) return -1;
    for (Py_ssize_t i = 0; i < PySequence_Fast_GET_SIZE(f); i++)
        if (push_py_str(&c->child, PySequence_Fast_GET_ITEM(f, i)) < 0) { Py_DECREF(f); return -1; }
    Py_DECREF(f);
    return list_end(c);
}

/* a row the Python path made (columnar.ROW_COLUMNS order); its event id is computed here too.
   Values are checked before anything is appended, so a bad row leaves the columns as they were. */
static PyObject *Columns_append_row(Columns *self, PyObject *row) {
    if (!PyTuple_Check(row) || PyTuple_GET_SIZE(row) != 21) { PyErr_SetString(PyExc_TypeError, "row: 21-tuple"); return NULL; }
    static const char kind[21] = "ISSSSISSSISISSSSLLSSS";  /* I int, S str, L list of str */
    for (int i = 0; i < 21; i++) {
        PyObject *o = PyTuple_GET_ITEM(row, i);
        int ok = kind[i] == 'I' ? (o == Py_None || PyLong_Check(o))
               : kind[i] == 'S' ? (o == Py_None || PyUnicode_Check(o)) : (PyList_Check(o) || PyTuple_Check(o));
        if (kind[i] == 'S' && PyUnicode_Check(o) && !PyUnicode_AsUTF8AndSize(o, NULL)) return NULL;
        if (kind[i] == 'I' && PyLong_Check(o)) {
            int over = 0;
            long long v = PyLong_AsLongLongAndOverflow(o, &over);
            if (over || ((i == 9 || i == 11) && (v < INT32_MIN || v > INT32_MAX))) {
                PyErr_SetString(PyExc_OverflowError, "row: integer out of the column's range");
                return NULL;
            }
        }
        if (kind[i] == 'L' && ok) {
            PyObject *f = PySequence_Fast(o, "list");
            if (!f) return NULL;
            for (Py_ssize_t k = 0; k < PySequence_Fast_GET_SIZE(f); k++) {
                PyObject *x = PySequence_Fast_GET_ITEM(f, k);
                if (!PyUnicode_Check(x) || !PyUnicode_AsUTF8AndSize(x, NULL)) {
                    Py_DECREF(f);
                    if (!PyErr_Occurred()) PyErr_SetString(PyExc_TypeError, "row: list of str expected");
                    return NULL;
                }
            }
            Py_DECREF(f);
        }
        if (!ok) { PyErr_Format(PyExc_TypeError, "row: column %d has the wrong type", i); return NULL; }
    }
    PyObject *loc = PyTuple_GET_ITEM(row, 2);
    if (loc == Py_None) { PyErr_SetString(PyExc_TypeError, "row: locator required"); return NULL; }
    Py_ssize_t ln;
    const char *ls = PyUnicode_AsUTF8AndSize(loc, &ln);
    if (!ls) return NULL;
    Sha h = self->id_base;
    char idhex[32];
    sha_update(&h, (const unsigned char *)ls, ln);
    sha_update(&h, (const unsigned char *)self->id_suffix.p, self->id_suffix.len);
    sha_hex32(&h, idhex);
#define G(i) PyTuple_GET_ITEM(row, i)
    if (push_py_int(&self->ts, G(0)) < 0 || push_py_str(&self->msg, G(1)) < 0 || push_py_str(&self->loc, G(2)) < 0 ||
        push_py_str(&self->host, G(3)) < 0 || push_py_str(&self->user, G(4)) < 0 || push_py_int(&self->pid, G(5)) < 0 ||
        push_py_str(&self->pname, G(6)) < 0 || push_py_str(&self->cmd, G(7)) < 0 || push_py_str(&self->sip, G(8)) < 0 ||
        push_py_int(&self->sport, G(9)) < 0 || push_py_str(&self->dip, G(10)) < 0 || push_py_int(&self->dport, G(11)) < 0 ||
        push_py_str(&self->proto, G(12)) < 0 || push_py_str(&self->domain, G(13)) < 0 ||
        push_py_str(&self->fpath, G(14)) < 0 || push_py_str(&self->fsha, G(15)) < 0 || push_py_list(&self->tags, G(16)) < 0 ||
        push_py_list(&self->attack, G(17)) < 0 || push_py_str(&self->gbt, G(18)) < 0 || push_py_str(&self->sev, G(19)) < 0 ||
        push_py_str(&self->attrs, G(20)) < 0 || str_push(&self->eid, idhex, 32, 1) < 0)
        return NULL;  /* out of memory only: the types were checked above */
#undef G
    self->rows++;
    Py_RETURN_NONE;
}

static PyObject *bytes_of(Buf *b) { return PyBytes_FromStringAndSize(b->p ? b->p : "", b->len); }

/* A column buffer handed over by take(): read-only bytes through the buffer protocol, its memory
   freed with the object. Copying a batch's columns into bytes cost more than the rest of take. */
typedef struct { PyObject_HEAD char *p; Py_ssize_t len; } Block;

static int Block_getbuffer(Block *self, Py_buffer *view, int flags) {
    return PyBuffer_FillInfo(view, (PyObject *)self, self->p, self->len, 1, flags);
}

static void Block_dealloc(Block *self) { PyMem_RawFree(self->p); Py_TYPE(self)->tp_free((PyObject *)self); }

static Py_ssize_t Block_len(Block *self) { return self->len; }

static PyBufferProcs Block_as_buffer = {.bf_getbuffer = (getbufferproc)Block_getbuffer};
static PySequenceMethods Block_seq = {.sq_length = (lenfunc)Block_len};

static PyTypeObject BlockType = {
    PyVarObject_HEAD_INIT(NULL, 0).tp_name = "forensics.windows._evtxrow.Block",
    .tp_basicsize = sizeof(Block),
    .tp_flags = Py_TPFLAGS_DEFAULT,
    .tp_dealloc = (destructor)Block_dealloc,
    .tp_as_buffer = &Block_as_buffer,
    .tp_as_sequence = &Block_seq,
    .tp_doc = "bytes of a column batch (buffer protocol)",
};

/* the buffer's bytes: a large one handed over as a Block (the column then starts a new buffer
   of the same size: no copy; glibc hands the freed memory of earlier batches back), a small one
   copied (it stays, for the many small batches of small files) */
static PyObject *take_buf(Buf *b) {
    if (b->len < (1 << 16)) return bytes_of(b);
    Block *o = PyObject_New(Block, &BlockType);
    if (!o) return NULL;
    o->p = b->p; o->len = b->len;
    b->hint = b->cap; b->p = NULL; b->len = b->cap = 0;
    return (PyObject *)o;
}

static PyObject *str_parts(StrCol *c, Py_ssize_t n) {
    if (n == 0) return Py_BuildValue("(yyyn)", "", "", "", (Py_ssize_t)0);
    return Py_BuildValue("(NNNn)", bytes_of(&c->v.valid), take_buf(&c->offsets), take_buf(&c->data), c->v.nulls);
}

static PyObject *int_parts(IntCol *c) {
    return Py_BuildValue("(NNn)", bytes_of(&c->v.valid), take_buf(&c->values), c->v.nulls);
}

static void str_clear(StrCol *c) { c->offsets.len = c->data.len = c->v.valid.len = 0; c->v.n = c->v.nulls = 0; }
static void int_clear(IntCol *c) { c->values.len = c->v.valid.len = 0; c->v.n = c->v.nulls = 0; }
static void list_clear(ListCol *c) { c->offsets.len = 0; c->n = 0; str_clear(&c->child); }

static void columns_clear(Columns *self) {
    StrCol *sc[] = {&self->msg, &self->loc, &self->host, &self->user, &self->pname, &self->cmd, &self->sip, &self->dip,
                    &self->proto, &self->domain, &self->fpath, &self->fsha, &self->gbt, &self->sev, &self->attrs, &self->eid};
    for (size_t i = 0; i < sizeof sc / sizeof *sc; i++) str_clear(sc[i]);
    int_clear(&self->ts); int_clear(&self->pid); int_clear(&self->sport); int_clear(&self->dport);
    list_clear(&self->tags); list_clear(&self->attack);
    self->rows = 0;
}

/* the rows so far as Arrow buffers (validity bitmap, offsets, data / values, null count), then empty */
static PyObject *Columns_take(Columns *self, PyObject *unused) {
    Py_ssize_t n = self->rows;
    PyObject *out = Py_BuildValue(
        "{sn sN sN sN sN sN sN sN sN sN sN sN sN sN sN sN sN s(NN) s(NN) sN sN sN sN}", "rows", n,
        "timestamp", int_parts(&self->ts), "message", str_parts(&self->msg, n), "locator", str_parts(&self->loc, n),
        "host", str_parts(&self->host, n), "user", str_parts(&self->user, n), "process_pid", int_parts(&self->pid),
        "process_name", str_parts(&self->pname, n), "process_cmdline", str_parts(&self->cmd, n),
        "src_ip", str_parts(&self->sip, n), "src_port", int_parts(&self->sport), "dst_ip", str_parts(&self->dip, n),
        "dst_port", int_parts(&self->dport), "proto", str_parts(&self->proto, n), "domain", str_parts(&self->domain, n),
        "file_path", str_parts(&self->fpath, n), "file_sha256", str_parts(&self->fsha, n),
        "tags", n ? bytes_of(&self->tags.offsets) : PyBytes_FromString(""), str_parts(&self->tags.child, self->tags.child.v.n),
        "attack", n ? bytes_of(&self->attack.offsets) : PyBytes_FromString(""), str_parts(&self->attack.child, self->attack.child.v.n),
        "gbt_category", str_parts(&self->gbt, n), "severity", str_parts(&self->sev, n),
        "attributes", str_parts(&self->attrs, n), "event_id", str_parts(&self->eid, n));
    if (!out) return NULL;
    columns_clear(self);
    return out;
}

/* ------------------------------------------------------------------ the rows as one Arrow record batch */

/* The Arrow C data interface (arrow.apache.org/docs/format/CDataInterface.html): the columns handed
   to pyarrow in one import (RecordBatch._import_from_c, with the batch's schema) rather than one
   Array.from_buffers per column, the constant and null columns made in Python and a Table built from
   them: those pyarrow calls cost ~100 µs per batch, most of a small file's ingest besides its Parquet
   write. export(layout, consts) says, per schema field in order, what fills it (fastpath.take_table). */
struct ArrowArray {
    int64_t length, null_count, offset, n_buffers, n_children;
    const void **buffers;
    struct ArrowArray **children;
    struct ArrowArray *dictionary;
    void (*release)(struct ArrowArray *);
    void *private_data;
};

enum { X_COL, X_CONST, X_NULL_STR, X_NULL_I64, X_NULL_I32 };
#define N_EXPORT_COLS 22  /* take()'s columns, numbered in its order (fastpath.EXPORT_COLUMNS) */

typedef struct {
    struct ArrowArray *kids, **kidp;  /* the fields' arrays, then the list columns' string children */
    const void **bufs;                /* three slots per array, the root's first */
    void **own; int nown;             /* memory freed with the batch */
} Export;

static const int64_t ZEROS[2] = {0, 0};  /* an empty buffer (the offsets of no rows) */

static void export_child_release(struct ArrowArray *a) { a->release = NULL; }

/* the root's release frees the whole batch (its children are released with it), from any thread:
   every block is raw memory */
static void export_release(struct ArrowArray *a) {
    Export *x = a->private_data;
    if (x) {
        for (int i = 0; i < x->nown; i++) PyMem_RawFree(x->own[i]);
        PyMem_RawFree(x->own); PyMem_RawFree(x->bufs); PyMem_RawFree(x->kidp); PyMem_RawFree(x->kids);
        PyMem_RawFree(x);
    }
    a->private_data = NULL;
    a->release = NULL;
}

static void export_capsule_free(PyObject *cap) {
    struct ArrowArray *a = PyCapsule_GetPointer(cap, "evtxrow.batch");
    if (!a) { PyErr_Clear(); return; }
    if (a->release) a->release(a);  /* not imported */
    PyMem_RawFree(a);
}

static int export_own(Export *x, void *p) {
    if (!p) { PyErr_NoMemory(); return -1; }
    x->own[x->nown++] = p;
    return 0;
}

/* a column buffer for the batch: taken over when large (the column regrows from that size, as
   take_buf does), copied when small (so a worker's many small files reuse the same buffers) */
static const void *export_buf(Export *x, Buf *b) {
    if (b->len == 0) return ZEROS;
    void *p;
    if (b->len >= (1 << 16)) { p = b->p; b->hint = b->cap; b->p = NULL; b->len = b->cap = 0; }
    else if ((p = PyMem_RawMalloc(b->len))) memcpy(p, b->p, b->len);
    return export_own(x, p) < 0 ? NULL : p;
}

static void export_node(struct ArrowArray *a, const void **bufs, int64_t n, int64_t nulls, int nbuf) {
    memset(a, 0, sizeof *a);
    a->length = n; a->null_count = nulls; a->n_buffers = nbuf; a->buffers = bufs;
    a->release = export_child_release;
}

static int export_str(Export *x, struct ArrowArray *a, const void **bufs, StrCol *c, int64_t n) {
    export_node(a, bufs, n, c->v.nulls, 3);
    bufs[0] = c->v.nulls ? export_buf(x, &c->v.valid) : NULL;
    bufs[1] = export_buf(x, &c->offsets);
    bufs[2] = export_buf(x, &c->data);
    return (c->v.nulls && !bufs[0]) || !bufs[1] || !bufs[2] ? -1 : 0;
}

static PyObject *Columns_export(Columns *self, PyObject *const *args, Py_ssize_t nargs) {
    if (nargs != 2 || !PyTuple_Check(args[0]) || !PyTuple_Check(args[1])) {
        PyErr_SetString(PyExc_TypeError, "export(layout: tuple, consts: tuple of bytes)");
        return NULL;
    }
    PyObject *layout = args[0], *consts = args[1];
    Py_ssize_t nf = PyTuple_GET_SIZE(layout);
    int64_t n = self->rows;
    int kind[256], arg[256];
    if (nf > 256) { PyErr_SetString(PyExc_ValueError, "export: too many fields"); return NULL; }
    for (Py_ssize_t i = 0; i < nf; i++) {  /* checked before anything is taken */
        PyObject *e = PyTuple_GET_ITEM(layout, i);
        if (!PyTuple_Check(e) || PyTuple_GET_SIZE(e) != 2) { PyErr_SetString(PyExc_TypeError, "export: (kind, arg) pairs"); return NULL; }
        kind[i] = (int)PyLong_AsLong(PyTuple_GET_ITEM(e, 0));
        arg[i] = (int)PyLong_AsLong(PyTuple_GET_ITEM(e, 1));
        if (PyErr_Occurred()) return NULL;
        if ((kind[i] == X_COL && (arg[i] < 0 || arg[i] >= N_EXPORT_COLS)) ||
            (kind[i] == X_CONST && (arg[i] < 0 || arg[i] >= PyTuple_GET_SIZE(consts) || !PyBytes_Check(PyTuple_GET_ITEM(consts, arg[i])))) ||
            kind[i] < X_COL || kind[i] > X_NULL_I32) {
            PyErr_SetString(PyExc_ValueError, "export: bad layout");
            return NULL;
        }
        if (kind[i] == X_CONST && n * PyBytes_GET_SIZE(PyTuple_GET_ITEM(consts, arg[i])) > INT32_MAX) {
            PyErr_SetString(PyExc_OverflowError, "column batch too large");
            return NULL;
        }
    }
    int na = (int)nf + 2;  /* at most two list children */
    struct ArrowArray *shell = PyMem_RawCalloc(1, sizeof *shell);
    Export *x = PyMem_RawCalloc(1, sizeof *x);
    if (x) {
        x->kids = PyMem_RawCalloc(na, sizeof *x->kids);
        x->kidp = PyMem_RawCalloc(na, sizeof *x->kidp);
        x->bufs = PyMem_RawCalloc(3 * (na + 1), sizeof *x->bufs);
        x->own = PyMem_RawCalloc(3 * na, sizeof *x->own);
    }
    if (!shell || !x || !x->kids || !x->kidp || !x->bufs || !x->own) {
        PyMem_RawFree(shell);
        if (x) { struct ArrowArray tmp = {.private_data = x}; export_release(&tmp); }
        return PyErr_NoMemory();
    }
    shell->length = n; shell->n_buffers = 1; shell->buffers = x->bufs; shell->n_children = nf;
    shell->children = x->kidp; shell->private_data = x; shell->release = export_release;
    StrCol *str[N_EXPORT_COLS] = {NULL, &self->msg, &self->loc, &self->host, &self->user, NULL, &self->pname, &self->cmd,
                                  &self->sip, NULL, &self->dip, NULL, &self->proto, &self->domain, &self->fpath, &self->fsha,
                                  NULL, NULL, &self->gbt, &self->sev, &self->attrs, &self->eid};
    IntCol *ints[N_EXPORT_COLS] = {[0] = &self->ts, [5] = &self->pid, [9] = &self->sport, [11] = &self->dport};
    ListCol *lists[N_EXPORT_COLS] = {[16] = &self->tags, [17] = &self->attack};
    int nlist = 0, rc = 0;
    for (Py_ssize_t i = 0; i < nf && rc == 0; i++) {
        struct ArrowArray *a = &x->kids[i];
        const void **b = x->bufs + 3 * (i + 1);
        x->kidp[i] = a;
        if (kind[i] == X_COL && str[arg[i]]) rc = export_str(x, a, b, str[arg[i]], n);
        else if (kind[i] == X_COL && ints[arg[i]]) {
            IntCol *c = ints[arg[i]];
            export_node(a, b, n, c->v.nulls, 2);
            b[0] = c->v.nulls ? export_buf(x, &c->v.valid) : NULL;
            b[1] = export_buf(x, &c->values);
            rc = (c->v.nulls && !b[0]) || !b[1] ? -1 : 0;
        } else if (kind[i] == X_COL) {
            ListCol *c = lists[arg[i]];
            struct ArrowArray *child = &x->kids[nf + nlist];
            x->kidp[nf + nlist] = child;
            export_node(a, b, n, 0, 2);
            a->n_children = 1; a->children = &x->kidp[nf + nlist];
            b[0] = NULL;
            b[1] = export_buf(x, &c->offsets);
            rc = !b[1] ? -1 : export_str(x, child, x->bufs + 3 * (nf + nlist + 1), &c->child, c->child.v.n);
            nlist++;
        } else if (kind[i] == X_CONST) {  /* the same text in every row */
            PyObject *v = PyTuple_GET_ITEM(consts, arg[i]);
            Py_ssize_t vl = PyBytes_GET_SIZE(v);
            int32_t *off = PyMem_RawMalloc((size_t)(n + 1) * 4);
            char *data = n > 0 && vl > 0 ? PyMem_RawMalloc((size_t)(n * vl)) : NULL;
            if (export_own(x, off) < 0 || (n > 0 && vl > 0 && export_own(x, data) < 0)) { rc = -1; break; }
            for (int64_t r = 0; r <= n; r++) off[r] = (int32_t)(r * vl);
            for (int64_t r = 0; r < n && vl; r++) memcpy(data + r * vl, PyBytes_AS_STRING(v), vl);
            export_node(a, b, n, 0, 3);
            b[0] = NULL; b[1] = off; b[2] = data ? data : (const void *)ZEROS;
        } else {  /* a column this path never fills: every row null */
            int w = kind[i] == X_NULL_I64 ? 8 : 4;
            void *valid = PyMem_RawCalloc((size_t)(n / 8 + 1), 1), *vals = PyMem_RawCalloc((size_t)(n + 1), w);
            if (export_own(x, valid) < 0 || export_own(x, vals) < 0) { rc = -1; break; }
            export_node(a, b, n, n, kind[i] == X_NULL_STR ? 3 : 2);
            b[0] = valid; b[1] = vals;
            if (kind[i] == X_NULL_STR) b[2] = ZEROS;
        }
    }
    columns_clear(self);  /* taken, as take() empties them; after an error the batch is lost (out of memory only) */
    if (rc < 0) {
        export_release(shell);
        PyMem_RawFree(shell);
        return NULL;
    }
    PyObject *cap = PyCapsule_New(shell, "evtxrow.batch", export_capsule_free);
    if (!cap) { export_release(shell); PyMem_RawFree(shell); return NULL; }
    return Py_BuildValue("(NK)", cap, (unsigned long long)(uintptr_t)shell);
}

static Py_ssize_t Columns_len(Columns *self) { return self->rows; }

static PyObject *Columns_layout_stats(Columns *self, PyObject *unused) {
    return Py_BuildValue("(nn)", self->layouts_made, self->layouts_matched);
}

static PyObject *Columns_nbytes(Columns *self, PyObject *unused) {
    return PyLong_FromSsize_t(self->attrs.data.len + self->msg.data.len + self->cmd.data.len);
}

static void plan_free(Plan *p) {
    for (int r = 0; r < N_ROLES; r++) PyMem_Free(p->cand[r]);
    for (int i = 0; i < p->nextra && p->extra_cand; i++) PyMem_Free(p->extra_cand[i]);
    PyMem_Free(p->extra_name); PyMem_Free(p->extra_ncand); PyMem_Free(p->extra_cand);
    PyMem_Free(p->lit); PyMem_Free(p->field); PyMem_Free(p->ent); PyMem_Free(p->tags); PyMem_Free(p->attack);
    PyMem_Free(p->slot_key); PyMem_Free(p->xslot); PyMem_Free(p->fslot);
}

static int Columns_init(Columns *self, PyObject *args, PyObject *kw) {
    PyObject *plan_for, *convert;
    const char *pre, *suf;
    Py_ssize_t pn, sn;
    if (!PyArg_ParseTuple(args, "OOy#y#", &plan_for, &convert, &pre, &pn, &suf, &sn)) return -1;
    if (self->plan_for && self->plan_for != plan_for) {  /* other plans: forget the compiled ones */
        if (self->plan_index) PyDict_Clear(self->plan_index);
        for (int i = 0; i < self->nplans; i++) plan_free(&self->plans[i]);
        self->nplans = 0;
        self->plan_epoch++;
    }
    if (self->convert && self->convert != convert)  /* other conversions: forget their results */
        for (int k = 0; k < N_CONV; k++) {
            memo_clear(self->cache[k]);
            if (self->memo[k]) PyDict_Clear(self->memo[k]);
        }
    Py_XSETREF(self->plan_for, Py_NewRef(plan_for));
    Py_XSETREF(self->convert, Py_NewRef(convert));
    if (!self->plan_index && !(self->plan_index = PyDict_New())) return -1;
    if (!self->keep && !(self->keep = PyList_New(0))) return -1;
    for (int k = 0; k < N_CONV; k++)
        if (!self->memo[k] && !(self->memo[k] = PyDict_New())) return -1;
    self->id_prefix.len = self->id_suffix.len = 0;
    if (buf_put(&self->id_prefix, pre, pn) < 0 || buf_put(&self->id_suffix, suf, sn) < 0) return -1;
    sha_init(&self->id_base);
    sha_update(&self->id_base, (const unsigned char *)pre, pn);
    for (int i = 0; i < PLAN_SLOTS; i++) self->pcache[i].plan = -1;  /* the plans may be other ones now */
    for (int k = 0; k < N_CONV; k++)  /* kept when re-initialised: conversions are pure functions of the text */
        if (!self->cache[k] && !(self->cache[k] = PyMem_Calloc(1, sizeof(struct Memo)))) { PyErr_NoMemory(); return -1; }
    self->ts.width = self->pid.width = 8;
    self->sport.width = self->dport.width = 4;
    return 0;
}


static void strcol_free(StrCol *c) { buf_free(&c->offsets); buf_free(&c->data); buf_free(&c->v.valid); }
static void intcol_free(IntCol *c) { buf_free(&c->values); buf_free(&c->v.valid); }

static void Columns_dealloc(Columns *self) {
    Py_XDECREF(self->plan_for); Py_XDECREF(self->convert); Py_XDECREF(self->plan_index); Py_XDECREF(self->keep);
    for (int k = 0; k < N_CONV; k++) Py_XDECREF(self->memo[k]);
    for (int i = 0; i < self->nplans; i++) plan_free(&self->plans[i]);
    PyMem_Free(self->plans);
    StrCol *sc[] = {&self->msg, &self->loc, &self->host, &self->user, &self->pname, &self->cmd, &self->sip, &self->dip,
                    &self->proto, &self->domain, &self->fpath, &self->fsha, &self->gbt, &self->sev, &self->attrs, &self->eid,
                    &self->tags.child, &self->attack.child};
    for (size_t i = 0; i < sizeof sc / sizeof *sc; i++) strcol_free(sc[i]);
    intcol_free(&self->ts); intcol_free(&self->pid); intcol_free(&self->sport); intcol_free(&self->dport);
    buf_free(&self->tags.offsets); buf_free(&self->attack.offsets);
    buf_free(&self->text); buf_free(&self->msgbuf); buf_free(&self->idbuf);
    for (int i = 0; i < PLAN_SLOTS; i++) buf_free(&self->pcache[i].key);
    buf_free(&self->keybuf); buf_free(&self->id_prefix); buf_free(&self->id_suffix);
    for (int k = 0; k < N_CONV; k++) memo_free(self->cache[k]);
    for (int i = 0; i < ORDER_SLOTS; i++) PyMem_Free(self->ocache[i].idx);
    for (int i = 0; i < LAYOUT_SLOTS; i++) layout_free(self->layouts[i]);
    if (self->scratch_layout.where || self->scratch_layout.fit || self->scratch_layout.nd >= 0) layout_forget(&self->scratch_layout);
    PyMem_Free(self->ps.own); PyMem_Free(self->data_own); PyMem_Free(self->dord_own); PyMem_Free(self->enode); PyMem_Free(self->sval); PyMem_Free(self->sset); PyMem_Free(self->htab_own);
    Py_TYPE(self)->tp_free((PyObject *)self);
}

static PyMethodDef Columns_methods[] = {
    {"record", (PyCFunction)(void (*)(void))Columns_record, METH_FASTCALL,
     "record(text, locator, checksum_bad) -> True (row appended) or False (not ours: nothing appended)"},
    {"feed", (PyCFunction)(void (*)(void))Columns_feed, METH_FASTCALL,
     "feed(records, cmap, start, limit) -> True (limit reached), None (no more records) or (record, locator, chunk)"},
    {"append_row", (PyCFunction)Columns_append_row, METH_O, "append_row(row): a row the Python path made"},
    {"take", (PyCFunction)Columns_take, METH_NOARGS, "the rows as Arrow buffers; the columns are then empty"},
    {"export", (PyCFunction)(void (*)(void))Columns_export, METH_FASTCALL,
     "export(layout, consts) -> (capsule, address of an Arrow C struct array); the columns are then empty"},
    {"nbytes", (PyCFunction)Columns_nbytes, METH_NOARGS, "bytes held by the largest text columns"},
    {"layout_stats", (PyCFunction)Columns_layout_stats, METH_NOARGS,
     "(layouts made, records read by a known layout) since the set was made"},
    {NULL}};

static PySequenceMethods Columns_seq = {.sq_length = (lenfunc)Columns_len};

static PyTypeObject ColumnsType = {
    PyVarObject_HEAD_INIT(NULL, 0).tp_name = "forensics.windows._evtxrow.Columns",
    .tp_basicsize = sizeof(Columns),
    .tp_flags = Py_TPFLAGS_DEFAULT,
    .tp_new = PyType_GenericNew,
    .tp_init = (initproc)Columns_init,
    .tp_dealloc = (destructor)Columns_dealloc,
    .tp_methods = Columns_methods,
    .tp_as_sequence = &Columns_seq,
    .tp_doc = "Columns(plan_for, convert, id_prefix: bytes, id_suffix: bytes): EVTX rows in Arrow layout",
};

static PyMethodDef module_methods[] = {
    {"record_offsets", record_offsets, METH_VARARGS, "record_offsets(chunk: bytes, base: int) -> {record id: offset}"},
    {"chunk_offsets", chunk_offsets, METH_VARARGS,
     "chunk_offsets(chunk: bytes, base: int) -> bytes: record_offsets as packed native int64 (id, offset) pairs"},
    {NULL}};

static struct PyModuleDef module = {PyModuleDef_HEAD_INIT, "_evtxrow", "EVTX record JSON to stored row values", -1,
                                    module_methods};

PyMODINIT_FUNC PyInit__evtxrow(void) {
    init_tables();
    if (!(S_RID_KEY = PyUnicode_InternFromString("event_record_id")) || !(S_DATA_KEY = PyUnicode_InternFromString("data")) ||
        !(S_CHUNK_OF = PyUnicode_InternFromString("chunk_of")) || !(S_OFFSET_OF = PyUnicode_InternFromString("offset_of")))
        return NULL;
    if (PyType_Ready(&ColumnsType) < 0 || PyType_Ready(&BlockType) < 0) return NULL;
    PyObject *m = PyModule_Create(&module);
    if (!m) return NULL;
    if (PyModule_AddObjectRef(m, "Columns", (PyObject *)&ColumnsType) < 0) { Py_DECREF(m); return NULL; }
    return m;
}
