/* Event ids of a block's rows: make_event_id = sha256("evidence|locator|parser|data_type")[:32 hex].
 *
 * forensics.events.make_event_id is the specification; forensics/logs/fastpath.py event_ids()
 * hands over the common head of every key ("<evidence sha256>") and the rows' tails as one Arrow
 * string array's offsets and data. The head's whole 64-byte blocks are hashed once and the state
 * copied per row, so a row costs one or two compressions instead of a Python call into hashlib,
 * which was a sixth of a parse worker's time. The hash is OpenSSL's (forensics/native/eventid_sha.h),
 * shared with the EVTX row path.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <stdint.h>
#include <string.h>

#include "eventid_sha.h"

/* a string column's offsets (n+1 int32 from row 0) all inside its data */
static int column_ok(const Py_buffer *offs, const Py_buffer *data, Py_ssize_t n) {
    if (offs->len < (n + 1) * (Py_ssize_t)sizeof(int32_t)) return 0;
    const int32_t *off = (const int32_t *)offs->buf;
    for (Py_ssize_t i = 0; i < n; i++)
        if (off[i] < 0 || off[i] > off[i + 1] || off[i + 1] > data->len) return 0;
    return 1;
}

/* sha256(head), the state every row's hash starts from */
static Sha head_state(const Py_buffer *head) {
    Sha h0;
    sha_init(&h0);
    sha_update(&h0, (const unsigned char *)head->buf, (size_t)head->len);
    return h0;
}

/* ids(head: bytes, offsets: buffer of n+1 int32, data: buffer, n) -> bytes of n * 32 hex digits */
static PyObject *ids(PyObject *self, PyObject *args) {
    Py_buffer head, offs, data;
    Py_ssize_t n;
    if (!PyArg_ParseTuple(args, "y*y*y*n", &head, &offs, &data, &n)) return NULL;
    PyObject *out = NULL;
    if (n < 0 || !column_ok(&offs, &data, n)) {
        PyErr_SetString(PyExc_ValueError, "offsets short of n + 1 or outside the data");
        goto done;
    }
    if (!(out = PyBytes_FromStringAndSize(NULL, n * 32))) goto done;
    char *dst = PyBytes_AS_STRING(out);
    const int32_t *off = (const int32_t *)offs.buf;
    const unsigned char *base = (const unsigned char *)data.buf;
    Sha h0 = head_state(&head);
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

/* ids3(head, a_offsets, a_data, middle, b_offsets, b_data, n) -> bytes of n * 32 hex digits:
 * sha256(head + a[i] + middle + b[i])[:16] of two string columns a and b (the locators and data types
 * of fastpath.event_ids, with head "<evidence>|" and middle "|<parser>|"): the key is never joined */
static PyObject *ids3(PyObject *self, PyObject *args) {
    Py_buffer head, ao, ad, mid, bo, bd;
    Py_ssize_t n;
    if (!PyArg_ParseTuple(args, "y*y*y*y*y*y*n", &head, &ao, &ad, &mid, &bo, &bd, &n)) return NULL;
    PyObject *out = NULL;
    if (n < 0 || !column_ok(&ao, &ad, n) || !column_ok(&bo, &bd, n)) {
        PyErr_SetString(PyExc_ValueError, "ids3: a column's offsets are short of n + 1 or outside its data");
        goto done;
    }
    if (!(out = PyBytes_FromStringAndSize(NULL, n * 32))) goto done;
    char *dst = PyBytes_AS_STRING(out);
    const int32_t *A = (const int32_t *)ao.buf, *B = (const int32_t *)bo.buf;
    const unsigned char *a = (const unsigned char *)ad.buf, *b = (const unsigned char *)bd.buf;
    const unsigned char *m = (const unsigned char *)mid.buf;
    size_t mlen = (size_t)mid.len;
    Sha h0 = head_state(&head);
    Py_BEGIN_ALLOW_THREADS
    for (Py_ssize_t i = 0; i < n; i++) {
        Sha s = h0;
        sha_update(&s, a + A[i], (size_t)(A[i + 1] - A[i]));
        sha_update(&s, m, mlen);
        sha_update(&s, b + B[i], (size_t)(B[i + 1] - B[i]));
        sha_hex32(&s, dst + 32 * i);
    }
    Py_END_ALLOW_THREADS
done:
    PyBuffer_Release(&head);
    PyBuffer_Release(&ao);
    PyBuffer_Release(&ad);
    PyBuffer_Release(&mid);
    PyBuffer_Release(&bo);
    PyBuffer_Release(&bd);
    return out;
}

static PyMethodDef methods[] = {
    {"ids", ids, METH_VARARGS, "ids(head, offsets, data, n) -> n * 32 hex digits: sha256(head + row i)[:16]"},
    {"ids3", ids3, METH_VARARGS, "ids3(head, a_offs, a_data, middle, b_offs, b_data, n) -> n * 32 hex digits"},
    {NULL}};

static struct PyModuleDef module = {PyModuleDef_HEAD_INIT, "_eventid", "event ids of many rows", -1, methods};

PyMODINIT_FUNC PyInit__eventid(void) {
    return PyModule_Create(&module);
}
