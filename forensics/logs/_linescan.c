/* The fields of a block's bulk lines in one pass: the C twin of fastpath's regex matches and splits.
 *
 * forensics/logs/fastpath.py reads the everyday syslog/sshd and NCSA access lines with RE2 patterns
 * (SYSLOG_RE, SSHD_RE, ACCESS_RE) and then splits the matched lines into fields, ~10 Arrow passes
 * over every line. Here each candidate line (printable ASCII, no newline: parse_block's `clean`) is
 * walked once: whether the pattern matches, and where each field the splits would give starts and
 * ends, as byte offsets into the block. `gather` then copies such spans into an Arrow string array.
 * The patterns' fields are runs without spaces between single spaces, so the walk is deterministic;
 * tests/test_logs_linescan.py holds it to the regexes and splits line by line.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <stdint.h>
#include <string.h>

typedef const unsigned char *P;

/* [!-9;-Z\\^-~]: printable, no space, ':', '[' or ']' (a host or a tag character) */
static inline int tagch(unsigned c) { return c >= '!' && c <= '~' && c != ':' && c != '[' && c != ']'; }
static inline int isdig(unsigned c) { return c >= '0' && c <= '9'; }

/* the strings copied are a few bytes each (fields, JSON pieces): two overlapping moves of a fixed width (one branch on
 * the length's size class) beat both a byte loop and a call to memcpy */
static inline void copy(char *d, const char *s, Py_ssize_t len) {
    if (len >= 8) {
        if (len > 32) {
            memcpy(d, s, (size_t)len);
        } else if (len > 16) {
            char a[16], b[16];
            memcpy(a, s, 16), memcpy(b, s + len - 16, 16);
            memcpy(d, a, 16), memcpy(d + len - 16, b, 16);
        } else {
            uint64_t a, b;
            memcpy(&a, s, 8), memcpy(&b, s + len - 8, 8);
            memcpy(d, &a, 8), memcpy(d + len - 8, &b, 8);
        }
    } else if (len >= 4) {
        uint32_t a, b;
        memcpy(&a, s, 4), memcpy(&b, s + len - 4, 4);
        memcpy(d, &a, 4), memcpy(d + len - 4, &b, 4);
    } else if (len > 0) {
        char a = s[0], b = s[len >> 1], c = s[len - 1];
        d[0] = a, d[len >> 1] = b, d[len - 1] = c;
    }
}

static const char MONTHS[] = "JanFebMarAprMayJunJulAugSepOctNovDec";

static int month3(P p) {
    for (int i = 0; i < 12; i++)
        if (!memcmp(p, MONTHS + 3 * i, 3)) return 1;
    return 0;
}

/* one IPv4 octet of fastpath._OCT: 25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9]?[0-9] (no leading zero) */
static int octet(P p, Py_ssize_t len) {
    if (len < 1 || len > 3) return 0;
    for (Py_ssize_t i = 0; i < len; i++)
        if (!isdig(p[i])) return 0;
    if (len > 1 && p[0] == '0') return 0;
    int v = 0;
    for (Py_ssize_t i = 0; i < len; i++) v = v * 10 + (p[i] - '0');
    return v <= 255;
}

/* the whole of [a, b) is IPV4 */
static int ipv4(P s, Py_ssize_t a, Py_ssize_t b) {
    Py_ssize_t start = a;
    for (int k = 0; k < 4; k++) {
        Py_ssize_t e = start;
        while (e < b && s[e] != '.') e++;
        if ((k < 3) != (e < b)) return 0;
        if (!octet(s + start, e - start)) return 0;
        start = e + 1;
    }
    return 1;
}

/* SYSLOG_RE on line [a, b); spans: host, tagc ("prog[pid]:"), prog, pid (-1 without), msg */
static int syslog_line(P s, Py_ssize_t a, Py_ssize_t b, int64_t *sp) {
    Py_ssize_t n = b - a;
    P l = s + a;
    if (n < 22) return 0;  /* "Mmm dd hh:mm:ss h p: m" */
    if (!month3(l) || l[3] != ' ' || !(l[4] == ' ' || isdig(l[4])) || !isdig(l[5]) || l[6] != ' ' ||
        !isdig(l[7]) || !isdig(l[8]) || l[9] != ':' || !isdig(l[10]) || !isdig(l[11]) || l[12] != ':' ||
        !isdig(l[13]) || !isdig(l[14]) || l[15] != ' ')
        return 0;
    Py_ssize_t i = 16;
    Py_ssize_t hs = i;
    while (i < n && tagch(l[i])) i++;
    if (i == hs || i >= n || l[i] != ' ') return 0;
    Py_ssize_t he = i++;
    Py_ssize_t ps = i;
    /* the tag's first character is no digit either */
    if (i >= n || !tagch(l[i]) || isdig(l[i])) return 0;
    while (i < n && tagch(l[i])) i++;
    Py_ssize_t pe = i;
    if (pe - ps > 96) return 0;
    Py_ssize_t ds = -1, de = -1;
    if (i < n && l[i] == '[') {
        ds = ++i;
        while (i < n && isdig(l[i])) i++;
        de = i;
        if (de == ds || de - ds > 10 || i >= n || l[i] != ']') return 0;
        i++;
    }
    if (i + 1 >= n || l[i] != ':' || l[i + 1] != ' ') return 0;
    Py_ssize_t te = i + 1;  /* the tag with its colon */
    i += 2;
    /* msg: [!-~](?:.*[!-~])? over printable text: not empty, no space at either end */
    if (i >= n || l[i] == ' ' || l[n - 1] == ' ') return 0;
    sp[0] = a + hs, sp[1] = a + he;
    sp[2] = a + ps, sp[3] = a + te;
    sp[4] = a + ps, sp[5] = a + pe;
    sp[6] = ds < 0 ? -1 : a + ds, sp[7] = ds < 0 ? -1 : a + de;
    sp[8] = a + i, sp[9] = b;
    return 1;
}

/* the words of fastpath._CLEARING_PREFILTER (detections._CLEARING_WORDS), matched without case */
static const char *const CLEARING[] = {"/var/log", "shred", "hist", "journalctl", "wevtutil", "clear-eventlog",
                                       "auditctl", "service", "systemctl"};

static inline unsigned lower(unsigned c) { return c >= 'A' && c <= 'Z' ? c + 32 : c; }

#define NCLEARING (sizeof CLEARING / sizeof *CLEARING)

/* for each byte, the bit set of the words (their index) that start with it in either case, and
 * the byte pairs any word starts with in any case (a bit per pair: most of a text fails that one
 * look-up); filled once */
static uint16_t clearing_first[256];
static unsigned char clearing_pair[65536 / 8];
static size_t clearing_len[NCLEARING];

static void clearing_init(void) {
    for (size_t w = 0; w < NCLEARING; w++) {
        const unsigned char *word = (const unsigned char *)CLEARING[w];
        clearing_len[w] = strlen(CLEARING[w]);
        clearing_first[word[0]] |= (uint16_t)(1u << w);
        if (word[0] >= 'a' && word[0] <= 'z') clearing_first[word[0] - 32] |= (uint16_t)(1u << w);
        for (int u0 = 0; u0 < 2; u0++)
            for (int u1 = 0; u1 < 2; u1++) {
                unsigned c0 = word[0], c1 = word[1];
                if (u0 && c0 >= 'a' && c0 <= 'z') c0 -= 32;
                if (u1 && c1 >= 'a' && c1 <= 'z') c1 -= 32;
                unsigned key = c0 << 8 | c1;
                clearing_pair[key >> 3] |= (unsigned char)(1u << (key & 7));
            }
    }
}

static int has_clearing_word(P s, Py_ssize_t a, Py_ssize_t b) {
    for (Py_ssize_t i = a; i + 1 < b; i++) {  /* (every word is longer than one byte) */
        unsigned key = (unsigned)s[i] << 8 | s[i + 1];
        if (!((clearing_pair[key >> 3] >> (key & 7)) & 1)) continue;
        unsigned words = clearing_first[s[i]];
        for (size_t w = 0; words; w++, words >>= 1) {
            if (!(words & 1)) continue;
            const char *word = CLEARING[w];
            size_t len = clearing_len[w];
            if ((Py_ssize_t)len > b - i) continue;
            size_t k = 1;
            while (k < len && lower(s[i + k]) == (unsigned char)word[k]) k++;
            if (k == len) return 1;
        }
    }
    return 0;
}

static int has(P s, Py_ssize_t a, Py_ssize_t b, const char *needle) {
    return b > a && memmem(s + a, (size_t)(b - a), needle, strlen(needle)) != NULL;
}

/* SSHD_RE on a message [a, b); spans: verb, method, user part, ip, port */
static int sshd_msg(P s, Py_ssize_t a, Py_ssize_t b, int64_t *sp) {
    /* from the end: " from IP port N ssh2" */
    Py_ssize_t e = b;
    if (e - a < 5 || memcmp(s + e - 5, " ssh2", 5)) return 0;
    e -= 5;
    Py_ssize_t q = e;
    while (q > a && isdig(s[q - 1])) q--;
    if (e - q < 1 || e - q > 5) return 0;
    Py_ssize_t port_s = q, port_e = e;
    if (q - a < 6 || memcmp(s + q - 6, " port ", 6)) return 0;
    Py_ssize_t ip_e = q - 6, ip_s = ip_e;
    while (ip_s > a && s[ip_s - 1] != ' ') ip_s--;
    if (!ipv4(s, ip_s, ip_e)) return 0;
    if (ip_s - a < 6 || memcmp(s + ip_s - 6, " from ", 6)) return 0;
    Py_ssize_t head_e = ip_s - 6;
    Py_ssize_t i = a, vs = a;
    if (head_e - a >= 7 && !memcmp(s + a, "Failed ", 7)) i = a + 6;
    else if (head_e - a >= 9 && !memcmp(s + a, "Accepted ", 9)) i = a + 8;
    else return 0;
    Py_ssize_t ve = i++;
    Py_ssize_t ms = i;
    /* [!-9;-~]+: printable, no space or ':' */
    while (i < head_e && s[i] != ' ' && s[i] != ':') i++;
    Py_ssize_t me = i;
    if (me == ms || head_e - i < 5 || memcmp(s + i, " for ", 5)) return 0;
    Py_ssize_t us = i + 5;
    for (Py_ssize_t k = us; k < head_e; k++)
        if (s[k] == ':') return 0;
    sp[0] = vs, sp[1] = ve, sp[2] = ms, sp[3] = me, sp[4] = us, sp[5] = head_e;
    sp[6] = ip_s, sp[7] = ip_e, sp[8] = port_s, sp[9] = port_e;
    return 1;
}

/* ACCESS_RE on line [a, b); spans: client, user, date, request, status, size, ref, ua (-1 when the
 * rest is not quoted), extra (what follows, trimmed of spaces) */
static int access_line(P s, Py_ssize_t a, Py_ssize_t b, int64_t *sp) {
    Py_ssize_t i = a;
    while (i < b && s[i] != ' ') i++;
    if (i >= b || !ipv4(s, a, i)) return 0;
    Py_ssize_t cs = a, ce = i++;
    Py_ssize_t is = i;  /* ident: [!-~]+ */
    while (i < b && s[i] != ' ') i++;
    if (i == is || i >= b) return 0;
    i++;
    Py_ssize_t us = i;
    while (i < b && s[i] != ' ') i++;
    if (i == us || i >= b) return 0;
    Py_ssize_t ue = i++;
    /* [dd/Mmm/yyyy:hh:mm:ss +zzzz] " */
    if (b - i < 31) return 0;
    P d = s + i;
    if (d[0] != '[' || !isdig(d[1]) || !isdig(d[2]) || d[3] != '/' || d[7] != '/' || d[12] != ':' ||
        d[15] != ':' || d[18] != ':' || d[21] != ' ' || !(d[22] == '+' || d[22] == '-') || d[27] != ']' ||
        d[28] != ' ' || d[29] != '"')
        return 0;
    for (int k = 4; k < 7; k++)
        if (!((d[k] >= 'A' && d[k] <= 'Z') || (d[k] >= 'a' && d[k] <= 'z'))) return 0;
    static const int DIG[] = {8, 9, 10, 11, 13, 14, 16, 17, 19, 20, 23, 24, 25, 26};
    for (int k = 0; k < 14; k++)
        if (!isdig(d[DIG[k]])) return 0;
    Py_ssize_t ds = i + 1, de = i + 27;
    i += 30;
    Py_ssize_t rs = i;
    while (i < b && s[i] != '"') i++;
    if (i >= b) return 0;
    Py_ssize_t re = i++;
    if (i >= b || s[i] != ' ') return 0;
    i++;
    Py_ssize_t ss = i;
    if (i < b && s[i] == '-') i++;
    else if (b - i >= 3 && isdig(s[i]) && isdig(s[i + 1]) && isdig(s[i + 2])) i += 3;
    else return 0;
    Py_ssize_t se = i;
    if (i >= b || s[i] != ' ') return 0;
    i++;
    Py_ssize_t zs = i;
    if (i < b && s[i] == '-') i++;
    else {
        while (i < b && isdig(s[i])) i++;
        if (i == zs) return 0;
    }
    Py_ssize_t ze = i;
    /* the rest: nothing, ' "ref" "ua"...', ' ' + non-quote + ..., or one space */
    Py_ssize_t fs = -1, fe = -1, as = -1, ae = -1, xs, xe;
    if (i == b || (b - i == 1 && s[i] == ' ')) {
        xs = xe = b;
    } else {
        if (s[i] != ' ') return 0;
        i++;
        if (s[i] == '"') {
            fs = ++i;
            while (i < b && s[i] != '"') i++;
            if (b - i < 3 || s[i + 1] != ' ' || s[i + 2] != '"') return 0;
            fe = i;
            as = i += 3;
            while (i < b && s[i] != '"') i++;
            if (i >= b) return 0;
            ae = i++;
            xs = i;
        } else {
            xs = i;
        }
        xe = b;
        while (xs < xe && s[xs] == ' ') xs++;
        while (xe > xs && s[xe - 1] == ' ') xe--;
    }
    int64_t v[18] = {cs, ce, us, ue, ds, de, rs, re, ss, se, zs, ze, fs, fe, as, ae, xs, xe};
    memcpy(sp, v, sizeof v);
    return 1;
}

/* any byte of the word outside printable ASCII (below 0x20, the newline among them, or above 0x7e);
 * exact as a whole (a set byte may be a neighbour's borrow, which only sends us to the byte loop) */
static inline int word_unprintable(uint64_t x) {
    const uint64_t ones = 0x0101010101010101ULL, highs = 0x8080808080808080ULL;
    return (((x - ones * 0x20) & ~x) | ((x + ones * (0x7f - 0x7e)) | x)) & highs ? 1 : 0;
}

/* lines(block, final, max_line) -> (starts, ends: n int64, classes: n bytes, unterminated): the block's
 * lines (ends exclude the newline; a tail without one is a line, unterminated when `final`) and each
 * line's class for the bulk parsers: 0 not for them (empty, longer than max_line, a byte outside
 * printable ASCII, or the unterminated tail), else by its first byte: 1 'A'-'Z' (syslog), 2 '0'-'9'
 * (access), 3 other. fastpath.line_classes is its numpy twin. */
static PyObject *lines(PyObject *self, PyObject *args) {
    Py_buffer blk;
    int final;
    Py_ssize_t max_line;
    if (!PyArg_ParseTuple(args, "y*pn", &blk, &final, &max_line)) return NULL;
    PyObject *res = NULL, *st = NULL, *en = NULL, *cl = NULL;
    const unsigned char *s = blk.buf;
    Py_ssize_t len = blk.len, nl = 0;
    for (const unsigned char *p = s; p < s + len && (p = memchr(p, '\n', (size_t)(s + len - p))); p++) nl++;
    int tail = len > 0 && s[len - 1] != '\n';
    Py_ssize_t n = nl + tail;
    int unterminated = tail && final;
    if (!(st = PyBytes_FromStringAndSize(NULL, n * 8)) || !(en = PyBytes_FromStringAndSize(NULL, n * 8)) ||
        !(cl = PyBytes_FromStringAndSize(NULL, n)))
        goto done;
    int64_t *S = (int64_t *)PyBytes_AS_STRING(st), *E = (int64_t *)PyBytes_AS_STRING(en);
    unsigned char *C = (unsigned char *)PyBytes_AS_STRING(cl);
    Py_BEGIN_ALLOW_THREADS
    Py_ssize_t a = 0;
    for (Py_ssize_t k = 0; k < n; k++) {
        Py_ssize_t i = a;
        int clean = 1;
        for (;;) {
            while (i + 8 <= len) {
                uint64_t x;
                memcpy(&x, s + i, 8);
                if (word_unprintable(x)) break;
                i += 8;
            }
            while (i < len && s[i] >= 0x20 && s[i] <= 0x7e) i++;
            if (i >= len || s[i] == '\n') break;
            /* a byte outside printable ASCII: the line goes to the line parser; find its end */
            clean = 0;
            const unsigned char *q = memchr(s + i, '\n', (size_t)(len - i));
            i = q ? q - s : len;
            break;
        }
        S[k] = a, E[k] = i;
        unsigned c = 0;
        if (clean && i > a && i - a <= max_line && !(unterminated && k == n - 1)) {
            unsigned f = s[a];
            c = f >= 'A' && f <= 'Z' ? 1 : f >= '0' && f <= '9' ? 2 : 3;
        }
        C[k] = (unsigned char)c;
        a = i + 1;
    }
    Py_END_ALLOW_THREADS
    res = Py_BuildValue("OOOO", st, en, cl, unterminated ? Py_True : Py_False);
done:
    Py_XDECREF(st);
    Py_XDECREF(en);
    Py_XDECREF(cl);
    PyBuffer_Release(&blk);
    return res;
}

/* scan(kind, block, starts, ends) -> (ok: n bytes, spans: m * width int64) for lines [starts[i], ends[i]),
 * the spans of the m lines the pattern reads (ok bit 1), in order: the rows of gather.
 * kind 1: syslog lines, width 20 (syslog_line's 10, then sshd_msg's 10 over the message, all -1 when
 * the message is no sshd line of SSHD_RE); the ok byte's bits: 1 SYSLOG_RE, 2 SSHD_RE on the message,
 * 4 the message holds "audit(" or "IN=", 8 the tag and message hold a clearing word. Each line is
 * judged only for what fastpath._syslog asks of its program: a line of the program "sshd" (exactly)
 * for SSHD_RE (bit 2; bits 4 and 8 stay 0), any other line for the netfilter and clearing words (bits
 * 4 and 8; bit 2 stays 0, its sshd spans -1): sshd's lines are never plain syslog rows, and no other
 * program's lines are sshd rows.
 * kind 3: access lines, width 18, ok 1 for ACCESS_RE. */
static PyObject *scan(PyObject *self, PyObject *args) {
    int kind;
    Py_buffer blk, st, en;
    if (!PyArg_ParseTuple(args, "iy*y*y*", &kind, &blk, &st, &en)) return NULL;
    PyObject *res = NULL, *ok = NULL, *spans = NULL;
    Py_ssize_t n = st.len / 8;
    int width = kind == 1 ? 20 : 18;
    if ((kind != 1 && kind != 3) || st.len % 8 || en.len != st.len) {
        PyErr_SetString(PyExc_ValueError, "scan(kind 1|3, block, starts int64, ends int64)");
        goto done;
    }
    const int64_t *S = st.buf, *E = en.buf;
    for (Py_ssize_t k = 0; k < n; k++)
        if (S[k] < 0 || S[k] > E[k] || E[k] > blk.len) {
            PyErr_SetString(PyExc_ValueError, "line outside the block");
            goto done;
        }
    if (!(ok = PyBytes_FromStringAndSize(NULL, n)) || !(spans = PyBytes_FromStringAndSize(NULL, n * width * 8)))
        goto done;
    unsigned char *o = (unsigned char *)PyBytes_AS_STRING(ok);
    int64_t *sp = (int64_t *)PyBytes_AS_STRING(spans);
    P s = blk.buf;
    Py_ssize_t m = 0;
    Py_BEGIN_ALLOW_THREADS
    for (Py_ssize_t k = 0; k < n; k++) {
        /* (a row is kept only where its line matched, which writes all its spans but sshd's) */
        int64_t *row = sp + m * width;
        if (kind == 3) {
            o[k] = (unsigned char)access_line(s, S[k], E[k], row);
        } else {
            unsigned v = (unsigned)syslog_line(s, S[k], E[k], row);
            if (v) {
                for (int j = 10; j < 20; j++) row[j] = -1;
                if (row[5] - row[4] == 4 && !memcmp(s + row[4], "sshd", 4)) {
                    if (sshd_msg(s, row[8], row[9], row + 10)) v |= 2;
                } else {
                    if (has(s, row[8], row[9], "audit(") || has(s, row[8], row[9], "IN=")) v |= 4;
                    if (has_clearing_word(s, row[2], row[9])) v |= 8;
                }
            }
            o[k] = (unsigned char)v;
        }
        m += o[k] & 1;
    }
    Py_END_ALLOW_THREADS
    if (_PyBytes_Resize(&spans, m * width * 8) < 0) goto done;
    res = PyTuple_Pack(2, ok, spans);
done:
    Py_XDECREF(ok);
    Py_XDECREF(spans);
    PyBuffer_Release(&blk);
    PyBuffer_Release(&st);
    PyBuffer_Release(&en);
    return res;
}

/* gather(block, spans, width, col, n[, end]) -> (offsets: n+1 int32, data, validity bitmap or None): the
 * strings [spans[i*width+col], spans[i*width+end]) of the block (end: col + 1 unless given); a start
 * of -1 is a null */
static PyObject *gather(PyObject *self, PyObject *args) {
    Py_buffer blk, sp;
    Py_ssize_t width, col, n, end = -1;
    if (!PyArg_ParseTuple(args, "y*y*nnn|n", &blk, &sp, &width, &col, &n, &end)) return NULL;
    PyObject *res = NULL, *offs = NULL, *data = NULL, *valid = NULL;
    const int64_t *S = sp.buf;
    if (end < 0) end = col + 1;
    if (width < 2 || col < 0 || end <= col || end >= width || n < 0 || sp.len < n * width * 8) {
        PyErr_SetString(PyExc_ValueError, "spans shorter than n rows of width");
        goto done;
    }
    Py_ssize_t total = 0, nulls = 0;
    for (Py_ssize_t i = 0; i < n; i++) {
        int64_t a = S[i * width + col], b = S[i * width + end];
        if (a < 0) {
            nulls++;
            continue;
        }
        if (a > b || b > blk.len) {
            PyErr_SetString(PyExc_ValueError, "span outside the block");
            goto done;
        }
        total += b - a;
    }
    if (total > INT32_MAX) {
        PyErr_SetString(PyExc_ValueError, "more than 2 GB of text");
        goto done;
    }
    if (!(offs = PyBytes_FromStringAndSize(NULL, (n + 1) * 4)) || !(data = PyBytes_FromStringAndSize(NULL, total)))
        goto done;
    if (nulls) {
        if (!(valid = PyBytes_FromStringAndSize(NULL, (n + 7) / 8))) goto done;
        memset(PyBytes_AS_STRING(valid), 0, (n + 7) / 8);
    } else {
        valid = Py_None;
        Py_INCREF(valid);
    }
    int32_t *O = (int32_t *)PyBytes_AS_STRING(offs);
    char *D = PyBytes_AS_STRING(data);
    unsigned char *V = nulls ? (unsigned char *)PyBytes_AS_STRING(valid) : NULL;
    const char *s = blk.buf;
    int32_t at = 0;
    for (Py_ssize_t i = 0; i < n; i++) {
        O[i] = at;
        int64_t a = S[i * width + col], b = S[i * width + end];
        if (a < 0) continue;
        copy(D + at, s + a, b - a);
        at += (int32_t)(b - a);
        if (V) V[i >> 3] |= (unsigned char)(1u << (i & 7));
    }
    O[n] = at;
    res = PyTuple_Pack(3, offs, data, valid);
done:
    Py_XDECREF(offs);
    Py_XDECREF(data);
    Py_XDECREF(valid);
    PyBuffer_Release(&blk);
    PyBuffer_Release(&sp);
    return res;
}

/* gathers(block, spans, width, n, columns) -> a tuple of (offsets, data, validity or None), one per
 * column (start, end, start shift, end shift[, nulls]): the strings [spans[i*width+start] + start shift,
 * spans[i*width+end] + end shift) of the block, null where the start span is -1, and where nulls (bits)
 * says: 1 a text that is exactly "-", 2 an empty text (an access log's "no value"). gather's strings for
 * many columns in one walk of the spans and the lines: each line's bytes are read once for all its
 * fields (one gather per column walked the block's spans and lines again each time). */
/* A string column about to be written as Arrow buffers: n + 1 offsets, `total` bytes, and a validity
 * bitmap (all unset) only if some of its n values are null. -1 with an exception set on failure. */
static int new_string_column(Py_ssize_t n, int64_t total, Py_ssize_t nulls, const char *who, PyObject **offs,
                             PyObject **data, PyObject **valid, int32_t **O, char **D, unsigned char **V) {
    if (total > INT32_MAX) {
        PyErr_Format(PyExc_ValueError, "%s: more than 2 GB of text", who);
        return -1;
    }
    if (!(*offs = PyBytes_FromStringAndSize(NULL, (n + 1) * 4)) || !(*data = PyBytes_FromStringAndSize(NULL, total)))
        return -1;
    if (nulls) {
        if (!(*valid = PyBytes_FromStringAndSize(NULL, (n + 7) / 8))) return -1;
        memset(PyBytes_AS_STRING(*valid), 0, (n + 7) / 8);
        *V = (unsigned char *)PyBytes_AS_STRING(*valid);
    } else {
        *valid = Py_None;
        Py_INCREF(*valid);
    }
    *O = (int32_t *)PyBytes_AS_STRING(*offs);
    *D = PyBytes_AS_STRING(*data);
    return 0;
}

typedef struct {
    Py_ssize_t start, end, d0, d1, nulls;
    int flags;
    int64_t total;
    int32_t *O;
    char *D;
    unsigned char *V;
    PyObject *offs, *data, *valid;
} Col;

static PyObject *gathers(PyObject *self, PyObject *args) {
    Py_buffer blk, sp;
    Py_ssize_t width, n;
    PyObject *spec, *seq = NULL, *res = NULL;
    if (!PyArg_ParseTuple(args, "y*y*nnO", &blk, &sp, &width, &n, &spec)) return NULL;
    Col *C = NULL;
    Py_ssize_t k = 0;
    if (!(seq = PySequence_Fast(spec, "gathers: columns are a sequence of (start, end, shift, shift)"))) goto done;
    k = PySequence_Fast_GET_SIZE(seq);
    if (!(C = PyMem_Calloc(k ? k : 1, sizeof(Col)))) {
        PyErr_NoMemory();
        goto done;
    }
    if (width < 1 || n < 0 || sp.len < n * width * 8) {
        PyErr_SetString(PyExc_ValueError, "gathers: spans shorter than n rows of width");
        goto done;
    }
    for (Py_ssize_t j = 0; j < k; j++) {
        Col *c = C + j;
        if (!PyArg_ParseTuple(PySequence_Fast_GET_ITEM(seq, j), "nnnn|i", &c->start, &c->end, &c->d0, &c->d1, &c->flags))
            goto done;
        if (c->start < 0 || c->end < 0 || c->start >= width || c->end >= width) {
            PyErr_SetString(PyExc_ValueError, "gathers: a column outside the row");
            goto done;
        }
    }
    const int64_t *S = sp.buf;
    const char *s = blk.buf;
    for (Py_ssize_t i = 0; i < n; i++) {
        const int64_t *R = S + i * width;
        for (Py_ssize_t j = 0; j < k; j++) {
            Col *c = C + j;
            if (R[c->start] < 0) {
                c->nulls++;
                continue;
            }
            int64_t a = R[c->start] + c->d0, b = R[c->end] + c->d1;
            if (a < 0 || a > b || b > blk.len) {
                PyErr_SetString(PyExc_ValueError, "gathers: a span outside the block");
                goto done;
            }
            if (((c->flags & 1) && b - a == 1 && s[a] == '-') || ((c->flags & 2) && a == b)) {
                c->nulls++;
                continue;
            }
            c->total += b - a;
        }
    }
    for (Py_ssize_t j = 0; j < k; j++) {
        Col *c = C + j;
        if (new_string_column(n, c->total, c->nulls, "gathers", &c->offs, &c->data, &c->valid, &c->O, &c->D, &c->V) < 0)
            goto done;
        c->total = 0;
    }
    for (Py_ssize_t i = 0; i < n; i++) {
        const int64_t *R = S + i * width;
        for (Py_ssize_t j = 0; j < k; j++) {
            Col *c = C + j;
            c->O[i] = (int32_t)c->total;
            if (R[c->start] < 0) continue;
            int64_t a = R[c->start] + c->d0, b = R[c->end] + c->d1;
            if (((c->flags & 1) && b - a == 1 && s[a] == '-') || ((c->flags & 2) && a == b)) continue;
            copy(c->D + c->total, s + a, b - a);
            c->total += b - a;
            if (c->V) c->V[i >> 3] |= (unsigned char)(1u << (i & 7));
        }
    }
    if (!(res = PyTuple_New(k))) goto done;
    for (Py_ssize_t j = 0; j < k; j++) {
        Col *c = C + j;
        c->O[n] = (int32_t)c->total;
        PyObject *t = PyTuple_Pack(3, c->offs, c->data, c->valid);
        if (!t) {
            Py_CLEAR(res);
            goto done;
        }
        PyTuple_SET_ITEM(res, j, t);
    }
done:
    for (Py_ssize_t j = 0; C && j < k; j++) {
        Py_XDECREF(C[j].offs);
        Py_XDECREF(C[j].data);
        Py_XDECREF(C[j].valid);
    }
    PyMem_Free(C);
    Py_XDECREF(seq);
    PyBuffer_Release(&blk);
    PyBuffer_Release(&sp);
    return res;
}

/* decimal text of v (as Arrow's cast of an int64 to a string) at d; its length */
static int decimal(char *d, int64_t v) {
    char tmp[24];
    int k = 0, n = 0;
    uint64_t u = v < 0 ? (uint64_t)0 - (uint64_t)v : (uint64_t)v;
    do {
        tmp[k++] = (char)('0' + u % 10);
        u /= 10;
    } while (u);
    if (v < 0) d[n++] = '-';
    while (k) d[n++] = tmp[--k];
    return n;
}

/* locators(line_no, offsets: n int64 each) -> (offsets: n+1 int32, data): "line=N;off=M" per row,
 * the text fastpath._locators joins in Arrow */
static PyObject *locators(PyObject *self, PyObject *args) {
    Py_buffer ln, of;
    if (!PyArg_ParseTuple(args, "y*y*", &ln, &of)) return NULL;
    PyObject *res = NULL, *offs = NULL, *data = NULL;
    Py_ssize_t n = ln.len / 8;
    if (ln.len % 8 || of.len != ln.len) {
        PyErr_SetString(PyExc_ValueError, "locators(line_no int64, offsets int64) of one length");
        goto done;
    }
    if ((double)n * 50 > INT32_MAX) {
        PyErr_SetString(PyExc_ValueError, "too many rows");
        goto done;
    }
    if (!(offs = PyBytes_FromStringAndSize(NULL, (n + 1) * 4)) || !(data = PyBytes_FromStringAndSize(NULL, n * 50)))
        goto done;
    const int64_t *L = ln.buf, *F = of.buf;
    int32_t *O = (int32_t *)PyBytes_AS_STRING(offs);
    char *D = PyBytes_AS_STRING(data);
    int32_t at = 0;
    for (Py_ssize_t i = 0; i < n; i++) {
        O[i] = at;
        memcpy(D + at, "line=", 5);
        at += 5;
        at += decimal(D + at, L[i]);
        memcpy(D + at, ";off=", 5);
        at += 5;
        at += decimal(D + at, F[i]);
    }
    O[n] = at;
    if (_PyBytes_Resize(&data, at) < 0) goto done;
    res = PyTuple_Pack(2, offs, data);
done:
    Py_XDECREF(offs);
    Py_XDECREF(data);
    PyBuffer_Release(&ln);
    PyBuffer_Release(&of);
    return res;
}

/* json_object(n, segments) -> (offsets: n+1 int32, data): per row "{" + the segments whose value is
 * not null, each as head + value (with backslashes and/or quotes escaped: esc bit 1, bit 2) + tail,
 * the first present head's leading byte (its comma) dropped, + "}"; "{}" when none is present.
 * fastpath._json_object's Arrow joins are its twin. A segment: (head, tail, esc, validity or None,
 * bit offset of row 0 in it, offsets int32 (n+1 from row 0), data). */
typedef struct {
    Py_buffer head, tail, valid, offs, data;
    int esc, has_valid;
    Py_ssize_t bit;
} Seg;

static inline int seg_valid(const Seg *g, Py_ssize_t i) {
    if (!g->has_valid) return 1;
    Py_ssize_t b = g->bit + i;
    return (((const unsigned char *)g->valid.buf)[b >> 3] >> (b & 7)) & 1;
}


static inline int needs_escape(int esc, unsigned char c) { return ((esc & 1) && c == '\\') || ((esc & 2) && c == '"'); }

static PyObject *json_object(PyObject *self, PyObject *args) {
    Py_ssize_t n;
    PyObject *segs, *seq = NULL, *res = NULL, *offs = NULL, *data = NULL;
    if (!PyArg_ParseTuple(args, "nO", &n, &segs)) return NULL;
    if (n < 0 || !(seq = PySequence_Fast(segs, "json_object(n, segments): a sequence of segments"))) {
        if (n < 0) PyErr_SetString(PyExc_ValueError, "json_object: n < 0");
        return NULL;
    }
    Py_ssize_t k = PySequence_Fast_GET_SIZE(seq), got = 0;
    Seg *S = PyMem_Calloc(k ? k : 1, sizeof(Seg));
    if (!S) {
        Py_DECREF(seq);
        return PyErr_NoMemory();
    }
    for (; got < k; got++) {
        Seg *g = S + got;
        PyObject *v;
        if (!PyArg_ParseTuple(PySequence_Fast_GET_ITEM(seq, got), "y*y*iOny*y*", &g->head, &g->tail, &g->esc, &v,
                              &g->bit, &g->offs, &g->data))
            goto done;
        if (v != Py_None) {
            if (PyObject_GetBuffer(v, &g->valid, PyBUF_SIMPLE) < 0) {
                PyBuffer_Release(&g->head), PyBuffer_Release(&g->tail), PyBuffer_Release(&g->offs);
                PyBuffer_Release(&g->data);
                goto done;
            }
            g->has_valid = 1;
        }
        const int32_t *O = g->offs.buf;
        int bad = g->head.len < 1 || g->offs.len < (n + 1) * 4 || g->bit < 0 ||
                  (g->has_valid && g->valid.len * 8 < g->bit + n);
        for (Py_ssize_t i = 0; !bad && i < n; i++)
            bad = O[i] < 0 || O[i] > O[i + 1];
        if (!bad && n && O[n] > g->data.len) bad = 1;
        if (bad) {
            got++;
            PyErr_SetString(PyExc_ValueError, "json_object: a segment's buffers do not hold n rows");
            goto done;
        }
        /* most columns hold nothing to escape: then their rows are plain copies */
        if (n && g->esc) {
            const char *d = (const char *)g->data.buf + O[0];
            size_t len = (size_t)(O[n] - O[0]);
            if (!((g->esc & 1) && memchr(d, '\\', len)) && !((g->esc & 2) && memchr(d, '"', len))) g->esc = 0;
        }
    }
    /* the length of each row, then the rows */
    int64_t total = 0;
    for (Py_ssize_t i = 0; i < n; i++) {
        int any = 0;
        total += 2;
        for (Py_ssize_t j = 0; j < k; j++) {
            const Seg *g = S + j;
            if (!seg_valid(g, i)) continue;
            const int32_t *O = g->offs.buf;
            const unsigned char *d = g->data.buf;
            total += g->head.len + g->tail.len + (O[i + 1] - O[i]) - (any ? 0 : 1);
            any = 1;
            if (g->esc)
                for (int32_t p = O[i]; p < O[i + 1]; p++) total += needs_escape(g->esc, d[p]);
        }
    }
    if (total > INT32_MAX) {
        PyErr_SetString(PyExc_ValueError, "json_object: more than 2 GB of text");
        goto done;
    }
    if (!(offs = PyBytes_FromStringAndSize(NULL, (n + 1) * 4)) || !(data = PyBytes_FromStringAndSize(NULL, total)))
        goto done;
    int32_t *RO = (int32_t *)PyBytes_AS_STRING(offs);
    char *D = PyBytes_AS_STRING(data);
    int32_t at = 0;
    for (Py_ssize_t i = 0; i < n; i++) {
        RO[i] = at;
        int any = 0;
        D[at++] = '{';
        for (Py_ssize_t j = 0; j < k; j++) {
            const Seg *g = S + j;
            if (!seg_valid(g, i)) continue;
            const int32_t *O = g->offs.buf;
            const unsigned char *d = g->data.buf;
            Py_ssize_t skip = any ? 0 : 1;
            copy(D + at, (const char *)g->head.buf + skip, g->head.len - skip);
            at += (int32_t)(g->head.len - skip);
            any = 1;
            if (g->esc) {
                for (int32_t p = O[i]; p < O[i + 1]; p++) {
                    if (needs_escape(g->esc, d[p])) D[at++] = '\\';
                    D[at++] = (char)d[p];
                }
            } else {
                copy(D + at, (const char *)d + O[i], O[i + 1] - O[i]);
                at += O[i + 1] - O[i];
            }
            copy(D + at, g->tail.buf, g->tail.len);
            at += (int32_t)g->tail.len;
        }
        D[at++] = '}';
    }
    RO[n] = at;
    res = PyTuple_Pack(2, offs, data);
done:
    for (Py_ssize_t j = 0; j < got && j < k; j++) {
        Seg *g = S + j;
        if (!g->head.obj && !g->data.obj) continue;  /* the failed parse released its own */
        PyBuffer_Release(&g->head), PyBuffer_Release(&g->tail), PyBuffer_Release(&g->offs);
        PyBuffer_Release(&g->data);
        if (g->has_valid) PyBuffer_Release(&g->valid);
    }
    PyMem_Free(S);
    Py_XDECREF(offs);
    Py_XDECREF(data);
    Py_DECREF(seq);
    return res;
}

/* interleaves(source: n bytes, columns) -> a tuple of (offsets: n+1 int32, data, validity bitmap or
 * None), one per column: the string column whose row i is the next unread row of part source[i] of
 * that column's parts (the parts are runs already in line order; source says, line by line, whose
 * row comes next). A column: a sequence of parts, one per source; a part: (validity or None, bit
 * offset of its row 0 in it, offsets int32 (rows+1 from row 0), data). fastpath merges a block's
 * syslog, sshd and access rows so, one copy of each value, where Arrow's take of the concatenated
 * table copied the chunks together first; all columns in one walk of the rows. interleave(source,
 * parts) is one column's. */
typedef struct {
    Py_buffer valid, offs, data;
    int has_valid, held;
    Py_ssize_t bit, rows, next;
} Part;

typedef struct {
    Part *parts;
    Py_ssize_t nparts, nulls;
    int64_t total;
    int32_t *O;
    char *D;
    unsigned char *V;
    int32_t at;
    PyObject *offs, *data, *valid;
} Merged;

static inline int part_valid(const Part *g, Py_ssize_t r) {
    if (!g->has_valid) return 1;
    Py_ssize_t b = g->bit + r;
    return (((const unsigned char *)g->valid.buf)[b >> 3] >> (b & 7)) & 1;
}

static PyObject *merge_columns(Py_buffer *src, PyObject *columns) {
    PyObject *cols = NULL, *res = NULL;
    Py_ssize_t k = 0, n = src->len, m = 0;
    Merged *M = NULL;
    const unsigned char *W = src->buf;
    if (!(cols = PySequence_Fast(columns, "interleaves(source, columns): a sequence of columns"))) return NULL;
    k = PySequence_Fast_GET_SIZE(cols);
    if (!(M = PyMem_Calloc(k ? k : 1, sizeof(Merged)))) {
        PyErr_NoMemory();
        goto done;
    }
    /* how many rows each source gives */
    Py_ssize_t rows[256] = {0};
    unsigned top = 0;
    for (Py_ssize_t i = 0; i < n; i++) {
        rows[W[i]]++;
        if (W[i] > top) top = W[i];
    }
    for (Py_ssize_t j = 0; j < k; j++) {
        Merged *c = M + j;
        PyObject *parts = PySequence_Fast(PySequence_Fast_GET_ITEM(cols, j), "interleaves: a column is a sequence of parts");
        if (!parts) goto done;
        m = PySequence_Fast_GET_SIZE(parts);
        if (n && (Py_ssize_t)top >= m) {
            Py_DECREF(parts);
            PyErr_SetString(PyExc_ValueError, "interleave: a source past the parts");
            goto done;
        }
        if (!(c->parts = PyMem_Calloc(m ? m : 1, sizeof(Part)))) {
            Py_DECREF(parts);
            PyErr_NoMemory();
            goto done;
        }
        c->nparts = m;
        for (Py_ssize_t q = 0; q < m; q++) {
            Part *g = c->parts + q;
            PyObject *v;
            if (!PyArg_ParseTuple(PySequence_Fast_GET_ITEM(parts, q), "Ony*y*", &v, &g->bit, &g->offs, &g->data)) {
                Py_DECREF(parts);
                goto done;
            }
            g->held = 1;
            if (v != Py_None) {
                if (PyObject_GetBuffer(v, &g->valid, PyBUF_SIMPLE) < 0) {
                    Py_DECREF(parts);
                    goto done;
                }
                g->has_valid = 1;
            }
            /* the part's rows taken, and no more: its offsets inside its data and never backwards */
            const int32_t *O = g->offs.buf;
            g->rows = rows[q];
            int bad = g->offs.len < (g->rows + 1) * 4 || g->bit < 0 ||
                      (g->has_valid && g->valid.len * 8 < g->bit + g->rows);
            for (Py_ssize_t r = 0; !bad && r < g->rows; r++) bad = O[r] < 0 || O[r] > O[r + 1];
            if (!bad && O[g->rows] > g->data.len) bad = 1;
            if (bad) {
                Py_DECREF(parts);
                PyErr_SetString(PyExc_ValueError, "interleave: a part's buffers do not hold its rows");
                goto done;
            }
            for (Py_ssize_t r = 0; r < g->rows; r++) {
                if (part_valid(g, r)) c->total += O[r + 1] - O[r];
                else c->nulls++;
            }
        }
        Py_DECREF(parts);
        if (new_string_column(n, c->total, c->nulls, "interleave", &c->offs, &c->data, &c->valid, &c->O, &c->D, &c->V) < 0)
            goto done;
    }
    for (Py_ssize_t i = 0; i < n; i++) {
        unsigned w = W[i];
        for (Py_ssize_t j = 0; j < k; j++) {
            Merged *c = M + j;
            Part *g = c->parts + w;
            Py_ssize_t r = g->next++;
            c->O[i] = c->at;
            if (!part_valid(g, r)) continue;
            const int32_t *O = g->offs.buf;
            copy(c->D + c->at, (const char *)g->data.buf + O[r], O[r + 1] - O[r]);
            c->at += O[r + 1] - O[r];
            if (c->V) c->V[i >> 3] |= (unsigned char)(1u << (i & 7));
        }
    }
    if (!(res = PyTuple_New(k))) goto done;
    for (Py_ssize_t j = 0; j < k; j++) {
        Merged *c = M + j;
        c->O[n] = c->at;
        PyObject *t = PyTuple_Pack(3, c->offs, c->data, c->valid);
        if (!t) {
            Py_CLEAR(res);
            goto done;
        }
        PyTuple_SET_ITEM(res, j, t);
    }
done:
    for (Py_ssize_t j = 0; M && j < k; j++) {
        Merged *c = M + j;
        for (Py_ssize_t q = 0; q < c->nparts; q++) {
            Part *g = c->parts + q;
            if (!g->held) continue;
            PyBuffer_Release(&g->offs), PyBuffer_Release(&g->data);
            if (g->has_valid) PyBuffer_Release(&g->valid);
        }
        PyMem_Free(c->parts);
        Py_XDECREF(c->offs);
        Py_XDECREF(c->data);
        Py_XDECREF(c->valid);
    }
    PyMem_Free(M);
    Py_DECREF(cols);
    return res;
}

static PyObject *interleaves(PyObject *self, PyObject *args) {
    Py_buffer src;
    PyObject *columns;
    if (!PyArg_ParseTuple(args, "y*O", &src, &columns)) return NULL;
    PyObject *res = merge_columns(&src, columns);
    PyBuffer_Release(&src);
    return res;
}

static PyObject *interleave(PyObject *self, PyObject *args) {
    Py_buffer src;
    PyObject *parts, *res = NULL, *one;
    if (!PyArg_ParseTuple(args, "y*O", &src, &parts)) return NULL;
    PyObject *all = PyTuple_Pack(1, parts);
    if (all && (one = merge_columns(&src, all))) {
        res = PyTuple_GET_ITEM(one, 0);
        Py_INCREF(res);
        Py_DECREF(one);
    }
    Py_XDECREF(all);
    PyBuffer_Release(&src);
    return res;
}

/* the bytes [a, b) of the block equal the text t */
static inline int is(P s, int64_t a, int64_t b, const char *t) {
    size_t len = strlen(t);
    return b - a == (int64_t)len && !memcmp(s + a, t, len);
}

static inline char *put(char *d, P s, int64_t a, int64_t b) {
    copy(d, (const char *)s + a, b - a);
    return d + (b - a);
}

#define PUTS(d, lit) (memcpy((d), (lit), sizeof(lit) - 1), (d) + sizeof(lit) - 1)

/* sshd(block, spans) -> (codes: n bytes, message offsets, message data, user offsets, user data, user
 * validity or None): fastpath._sshd's reading of sshd lines whose spans (scan's syslog rows, width 20,
 * the message read by SSHD_RE) are given. A code: 3 for a line authlog declines (Failed ... for
 * exactly "invalid user" or "illegal user"), else 0 failure, 1 success (Accepted), 2 a valid user's
 * rejected public key, plus 4 when the user part starts with "invalid user " or "illegal user " (a
 * failure for an unknown user: the 13 bytes are not the user's). The message ("SSH METHOD
 * authentication failed for USER from IP", "SSH public key rejected for USER from IP", "SSH login
 * accepted for USER from IP (METHOD)") and the user (null when empty) are given for the rows not
 * declined only, in order. */
static PyObject *sshd(PyObject *self, PyObject *args) {
    Py_buffer blk, sp;
    if (!PyArg_ParseTuple(args, "y*y*", &blk, &sp)) return NULL;
    PyObject *res = NULL, *codes = NULL, *mo = NULL, *md = NULL, *uo = NULL, *ud = NULL, *uv = NULL;
    Py_ssize_t n = sp.len / (20 * 8);
    const int64_t *S = sp.buf;
    P s = blk.buf;
    if (sp.len % (20 * 8)) {
        PyErr_SetString(PyExc_ValueError, "sshd: spans of rows of 20");
        goto done;
    }
    for (Py_ssize_t i = 0; i < n; i++) {
        const int64_t *R = S + 20 * i;
        for (int j = 10; j < 20; j += 2)
            if (R[j] < 0 || R[j] > R[j + 1] || R[j + 1] > blk.len) {
                PyErr_SetString(PyExc_ValueError, "sshd: a row without the sshd spans, or outside the block");
                goto done;
            }
    }
    if (!(codes = PyBytes_FromStringAndSize(NULL, n))) goto done;
    unsigned char *C = (unsigned char *)PyBytes_AS_STRING(codes);
    Py_ssize_t m = 0, empty = 0;
    int64_t mtotal = 0, utotal = 0;
    for (Py_ssize_t i = 0; i < n; i++) {
        const int64_t *R = S + 20 * i;
        int failed = is(s, R[10], R[11], "Failed");
        int64_t us = R[14], ue = R[15];
        if (failed && (is(s, us, ue, "invalid user") || is(s, us, ue, "illegal user"))) {
            C[i] = 3;
            continue;
        }
        int inv = failed && ue - us >= 13 && (!memcmp(s + us, "invalid user ", 13) || !memcmp(s + us, "illegal user ", 13));
        if (inv) us += 13;
        int attempt = failed && !inv && is(s, R[12], R[13], "publickey");
        unsigned code = failed ? (attempt ? 2 : 0) : 1;
        C[i] = (unsigned char)(code | (inv ? 4 : 0));
        int64_t ulen = ue - us, mlen = R[13] - R[12], iplen = R[17] - R[16];
        static const int64_t FIXED[3] = {sizeof("SSH  authentication failed for  from ") - 1,
                                         sizeof("SSH login accepted for  from  ()") - 1,
                                         sizeof("SSH public key rejected for  from ") - 1};
        mtotal += FIXED[code] + ulen + iplen + (code == 2 ? 0 : mlen);
        utotal += ulen;
        empty += ulen == 0;
        m++;
    }
    if (mtotal > INT32_MAX || utotal > INT32_MAX) {
        PyErr_SetString(PyExc_ValueError, "sshd: more than 2 GB of text");
        goto done;
    }
    if (!(mo = PyBytes_FromStringAndSize(NULL, (m + 1) * 4)) || !(md = PyBytes_FromStringAndSize(NULL, mtotal)) ||
        !(uo = PyBytes_FromStringAndSize(NULL, (m + 1) * 4)) || !(ud = PyBytes_FromStringAndSize(NULL, utotal)))
        goto done;
    if (empty) {
        if (!(uv = PyBytes_FromStringAndSize(NULL, (m + 7) / 8))) goto done;
        memset(PyBytes_AS_STRING(uv), 0, (m + 7) / 8);
    } else {
        uv = Py_None;
        Py_INCREF(uv);
    }
    int32_t *MO = (int32_t *)PyBytes_AS_STRING(mo), *UO = (int32_t *)PyBytes_AS_STRING(uo);
    char *const M0 = PyBytes_AS_STRING(md), *const U0 = PyBytes_AS_STRING(ud);
    unsigned char *V = empty ? (unsigned char *)PyBytes_AS_STRING(uv) : NULL;
    char *d = M0, *u = U0;
    Py_ssize_t k = 0;
    for (Py_ssize_t i = 0; i < n; i++) {
        if (C[i] == 3) continue;
        const int64_t *R = S + 20 * i;
        unsigned code = C[i] & 3;
        int64_t us = R[14] + ((C[i] & 4) ? 13 : 0), ue = R[15];
        MO[k] = (int32_t)(d - M0), UO[k] = (int32_t)(u - U0);
        if (code == 0) {
            d = PUTS(d, "SSH ");
            d = put(d, s, R[12], R[13]);
            d = PUTS(d, " authentication failed for ");
        } else if (code == 1) {
            d = PUTS(d, "SSH login accepted for ");
        } else {
            d = PUTS(d, "SSH public key rejected for ");
        }
        d = put(d, s, us, ue);
        d = PUTS(d, " from ");
        d = put(d, s, R[16], R[17]);
        if (code == 1) {
            d = PUTS(d, " (");
            d = put(d, s, R[12], R[13]);
            d = PUTS(d, ")");
        }
        u = put(u, s, us, ue);
        if (V && ue > us) V[k >> 3] |= (unsigned char)(1u << (k & 7));
        k++;
    }
    MO[m] = (int32_t)(d - M0), UO[m] = (int32_t)(u - U0);
    res = Py_BuildValue("OOOOOO", codes, mo, md, uo, ud, uv);
done:
    Py_XDECREF(codes);
    Py_XDECREF(mo);
    Py_XDECREF(md);
    Py_XDECREF(uo);
    Py_XDECREF(ud);
    Py_XDECREF(uv);
    PyBuffer_Release(&blk);
    PyBuffer_Release(&sp);
    return res;
}

static PyMethodDef methods[] = {
    {"lines", lines, METH_VARARGS, "lines(block, final, max_line) -> (starts, ends, classes, unterminated)"},
    {"scan", scan, METH_VARARGS, "scan(kind, block, starts, ends) -> (ok, spans): the bulk lines' fields"},
    {"gather", gather, METH_VARARGS, "gather(block, spans, width, col, n) -> (offsets, data, validity)"},
    {"gathers", gathers, METH_VARARGS, "gathers(block, spans, width, n, columns) -> ((offsets, data, validity), ...)"},
    {"locators", locators, METH_VARARGS, "locators(line_no, offsets) -> (offsets, data): line=N;off=M"},
    {"json_object", json_object, METH_VARARGS, "json_object(n, segments) -> (offsets, data): the attributes JSON"},
    {"sshd", sshd, METH_VARARGS, "sshd(block, spans) -> (codes, message offsets, data, user offsets, data, validity)"},
    {"interleave", interleave, METH_VARARGS, "interleave(source, parts) -> (offsets, data, validity): runs merged"},
    {"interleaves", interleaves, METH_VARARGS, "interleaves(source, columns) -> ((offsets, data, validity), ...)"},
    {NULL}};

static struct PyModuleDef module = {PyModuleDef_HEAD_INIT, "_linescan", "fields of bulk log lines", -1, methods};

PyMODINIT_FUNC PyInit__linescan(void) {
    clearing_init();
    return PyModule_Create(&module);
}
