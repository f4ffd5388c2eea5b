/* The event store's `datetime` column in one pass: "YYYY-MM-DDTHH:MM:SS.ffffffZ" for each µs
 * timestamp of an int64 buffer, into one bytes object of 27 bytes per row (the Arrow string
 * array's data buffer). case_store/isotime.py keeps the numpy twin and decides which rows may
 * come here (years 1..9999); this only formats, with Hinnant's civil_from_days. */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <stdint.h>
#include <string.h>

#define WIDTH 27
#define MIN_US (-62135596800LL * 1000000LL)   /* 0001-01-01T00:00:00Z */
#define MAX_US (253402300800LL * 1000000LL)   /* 10000-01-01T00:00:00Z, exclusive */

static inline void two(char *p, long long v) { p[0] = (char)('0' + v / 10); p[1] = (char)('0' + v % 10); }

static inline long long floordiv(long long a, long long b) { long long q = a / b; return (a % b != 0 && (a < 0) != (b < 0)) ? q - 1 : q; }

static void format_one(char *o, long long ts) {
    long long sec = floordiv(ts, 1000000), us = ts - sec * 1000000;
    long long days = floordiv(sec, 86400), sod = sec - days * 86400;
    long long z = days + 719468;
    long long era = floordiv(z, 146097);
    long long doe = z - era * 146097;
    long long yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    long long doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    long long mp = (5 * doy + 2) / 153;
    long long day = doy - (153 * mp + 2) / 5 + 1;
    long long month = mp < 10 ? mp + 3 : mp - 9;
    long long year = yoe + era * 400 + (month <= 2);
    memcpy(o, "0000-00-00T00:00:00.000000Z", WIDTH);
    two(o, year / 100); two(o + 2, year % 100); two(o + 5, month); two(o + 8, day);
    two(o + 11, sod / 3600); two(o + 14, sod % 3600 / 60); two(o + 17, sod % 60);
    two(o + 20, us / 10000); two(o + 22, us / 100 % 100); two(o + 24, us % 100);
}

/* iso_utc(timestamps: buffer of native int64) -> bytes of 27 * n, or None when a timestamp is
 * outside years 1..9999 (the caller's numpy path then writes the whole column) */
static PyObject *iso_utc(PyObject *mod, PyObject *arg) {
    Py_buffer b;
    if (PyObject_GetBuffer(arg, &b, PyBUF_SIMPLE) < 0) return NULL;
    if (b.len % 8) { PyBuffer_Release(&b); PyErr_SetString(PyExc_ValueError, "iso_utc: not a buffer of int64"); return NULL; }
    Py_ssize_t n = b.len / 8;
    const char *src = b.buf;
    for (Py_ssize_t i = 0; i < n; i++) {
        int64_t t; memcpy(&t, src + 8 * i, 8);
        if (t < MIN_US || t >= MAX_US) { PyBuffer_Release(&b); Py_RETURN_NONE; }
    }
    PyObject *out = PyBytes_FromStringAndSize(NULL, n * WIDTH);
    if (out) {
        char *o = PyBytes_AS_STRING(out);
        for (Py_ssize_t i = 0; i < n; i++) {
            int64_t t; memcpy(&t, src + 8 * i, 8);
            format_one(o + i * WIDTH, t);
        }
    }
    PyBuffer_Release(&b);
    return out;
}

static PyMethodDef methods[] = {
    {"iso_utc", iso_utc, METH_O, "ISO 8601 UTC text (27 bytes per row) of int64 µs timestamps, or None out of range"},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {PyModuleDef_HEAD_INIT, "_isotime", NULL, -1, methods};

PyMODINIT_FUNC PyInit__isotime(void) { return PyModule_Create(&module); }
