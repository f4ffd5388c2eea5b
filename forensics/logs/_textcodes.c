/* Distinct text values numbered in order of first sight, in a hash table kept across blocks
 * (forensics/logs/vectorbursts.py's source addresses and user names; its _Codes is the twin).
 * A block's rows are looked up straight from the Arrow string column's buffers: no dictionary
 * encoding of the block and no set lookup against every value seen so far, per block. */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <structmember.h>
#include <stdint.h>
#include <string.h>

typedef struct {
    PyObject_HEAD
    uint32_t *slots;  /* value number + 1; 0 = empty; open addressing, linear probing */
    size_t mask;      /* slots - 1 (a power of two) */
    uint64_t *hashes; /* by number */
    size_t *starts;   /* by number: where its bytes are in `bytes` */
    size_t *lens;
    char *bytes;
    size_t used, room; /* bytes */
    size_t n, cap;     /* numbers given, room in the per-number arrays */
    PyObject *values;  /* list of str by number */
} TextCodes;

/* Python's own keyed string hash (SipHash, its key random per process unless PYTHONHASHSEED is
 * set): the values come from evidence, and a fixed hash would let a crafted log put every address
 * in one probe run (quadratic numbering). Numbers go by first sight, so they do not depend on it. */
static inline uint64_t text_hash(const char *s, size_t len) {
    return (uint64_t)_Py_HashBytes(s, (Py_ssize_t)len);
}

/* the number of the value, or -1; *slot: where it is or would go */
static int64_t find(TextCodes *t, const char *s, size_t len, uint64_t h, size_t *slot) {
    size_t i = h & t->mask;
    for (;;) {
        uint32_t v = t->slots[i];
        if (!v) break;
        size_t k = v - 1;
        if (t->hashes[k] == h && t->lens[k] == len && !memcmp(t->bytes + t->starts[k], s, len)) {
            *slot = i;
            return (int64_t)k;
        }
        i = (i + 1) & t->mask;
    }
    *slot = i;
    return -1;
}

static int grow_slots(TextCodes *t) {
    size_t size = (t->mask + 1) * 2;
    uint32_t *slots = PyMem_Calloc(size, sizeof(uint32_t));
    if (!slots) {
        PyErr_NoMemory();
        return -1;
    }
    for (size_t k = 0; k < t->n; k++) {
        size_t i = t->hashes[k] & (size - 1);
        while (slots[i]) i = (i + 1) & (size - 1);
        slots[i] = (uint32_t)(k + 1);
    }
    PyMem_Free(t->slots);
    t->slots = slots;
    t->mask = size - 1;
    return 0;
}

/* numbers a value not in the table yet: its str joins `values` */
static int64_t add(TextCodes *t, const char *s, size_t len, uint64_t h, size_t slot) {
    if (t->n >= UINT32_MAX - 1) {
        PyErr_SetString(PyExc_OverflowError, "TextCodes: too many distinct values");
        return -1;
    }
    PyObject *str = PyUnicode_DecodeUTF8(s, (Py_ssize_t)len, "strict");
    if (!str) return -1;
    if (t->n == t->cap) {
        size_t cap = t->cap ? 2 * t->cap : 256;
        uint64_t *hs = PyMem_Realloc(t->hashes, cap * sizeof(uint64_t));
        if (hs) t->hashes = hs;
        size_t *st = hs ? PyMem_Realloc(t->starts, cap * sizeof(size_t)) : NULL;
        if (st) t->starts = st;
        size_t *ls = st ? PyMem_Realloc(t->lens, cap * sizeof(size_t)) : NULL;
        if (!ls) {
            Py_DECREF(str);
            PyErr_NoMemory();
            return -1;
        }
        t->lens = ls;
        t->cap = cap;
    }
    if (t->used + len > t->room) {
        size_t room = t->room ? t->room : 4096;
        while (t->used + len > room) room *= 2;
        char *b = PyMem_Realloc(t->bytes, room);
        if (!b) {
            Py_DECREF(str);
            PyErr_NoMemory();
            return -1;
        }
        t->bytes = b;
        t->room = room;
    }
    if (PyList_Append(t->values, str) < 0) {
        Py_DECREF(str);
        return -1;
    }
    Py_DECREF(str);
    size_t k = t->n++;
    if (len) memcpy(t->bytes + t->used, s, len);
    t->starts[k] = t->used;
    t->lens[k] = len;
    t->hashes[k] = h;
    t->used += len;
    t->slots[slot] = (uint32_t)(k + 1);
    if (t->n * 4 > (t->mask + 1) * 3 && grow_slots(t) < 0) return -1; /* kept at most 3/4 full */
    return (int64_t)k;
}

static int64_t number(TextCodes *t, const char *s, size_t len) {
    uint64_t h = text_hash(s, len);
    size_t slot;
    int64_t k = find(t, s, len, h, &slot);
    return k >= 0 ? k : add(t, s, len, h, slot);
}

static PyObject *TextCodes_new(PyTypeObject *type, PyObject *args, PyObject *kw) {
    TextCodes *t = (TextCodes *)type->tp_alloc(type, 0);
    if (!t) return NULL;
    t->slots = PyMem_Calloc(1024, sizeof(uint32_t));
    t->mask = 1023;
    t->values = PyList_New(0);
    if (!t->slots || !t->values) {
        Py_DECREF(t);
        return PyErr_NoMemory();
    }
    return (PyObject *)t;
}

static void TextCodes_dealloc(TextCodes *t) {
    PyMem_Free(t->slots);
    PyMem_Free(t->hashes);
    PyMem_Free(t->starts);
    PyMem_Free(t->lens);
    PyMem_Free(t->bytes);
    Py_XDECREF(t->values);
    Py_TYPE(t)->tp_free((PyObject *)t);
}

/* lookup(validity, offset, offsets, wide, data, rows) -> (numbers, first new number): the numbers
 * (int64; -1 for null) of rows `rows` (int64) of the Arrow string array given by its buffers
 * (validity None without nulls; offsets int32, or int64 when `wide`; data None or bytes) and its
 * offset; values new to the table are numbered in the order of the rows. */
static PyObject *TextCodes_lookup(TextCodes *t, PyObject *args) {
    PyObject *validity;
    Py_ssize_t offset;
    Py_buffer offs, rows, data = {0}, valid = {0};
    int wide;
    PyObject *data_obj;
    if (!PyArg_ParseTuple(args, "Ony*pOy*", &validity, &offset, &offs, &wide, &data_obj, &rows)) return NULL;
    PyObject *out = NULL;
    Py_ssize_t n = rows.len / 8, width = wide ? 8 : 4;
    Py_ssize_t count = offs.len / width - 1; /* elements the offsets describe from array offset 0 */
    size_t first = t->n;
    if (validity != Py_None && PyObject_GetBuffer(validity, &valid, PyBUF_SIMPLE) < 0) goto done;
    if (data_obj != Py_None && PyObject_GetBuffer(data_obj, &data, PyBUF_SIMPLE) < 0) goto done;
    out = PyBytes_FromStringAndSize(NULL, n * 8);
    if (!out) goto done;
    int64_t *at = (int64_t *)PyBytes_AS_STRING(out);
    const int64_t *row = rows.buf;
    const unsigned char *vb = valid.buf;
    const char *bytes = data.buf ? data.buf : "";
    for (Py_ssize_t i = 0; i < n; i++) {
        int64_t r = row[i] + offset;
        if (row[i] < 0 || r < 0 || r >= count || (vb && r / 8 >= valid.len)) {
            PyErr_SetString(PyExc_IndexError, "TextCodes.lookup: row out of range");
            Py_CLEAR(out);
            goto done;
        }
        if (vb && !(vb[r >> 3] >> (r & 7) & 1)) {
            at[i] = -1;
            continue;
        }
        int64_t a, b;
        if (wide) {
            a = ((const int64_t *)offs.buf)[r];
            b = ((const int64_t *)offs.buf)[r + 1];
        } else {
            a = ((const int32_t *)offs.buf)[r];
            b = ((const int32_t *)offs.buf)[r + 1];
        }
        if (a < 0 || b < a || b > (int64_t)data.len) {
            PyErr_SetString(PyExc_ValueError, "TextCodes.lookup: offsets outside the data");
            Py_CLEAR(out);
            goto done;
        }
        if ((at[i] = number(t, bytes + a, (size_t)(b - a))) < 0) {
            Py_CLEAR(out);
            goto done;
        }
    }
done:
    PyBuffer_Release(&offs);
    PyBuffer_Release(&rows);
    if (valid.obj) PyBuffer_Release(&valid);
    if (data.obj) PyBuffer_Release(&data);
    if (!out) return NULL;
    return Py_BuildValue("(Nn)", out, (Py_ssize_t)first);
}

/* get(value) -> its number, or None */
static PyObject *TextCodes_get(TextCodes *t, PyObject *value) {
    if (!PyUnicode_Check(value)) Py_RETURN_NONE;
    Py_ssize_t len;
    const char *s = PyUnicode_AsUTF8AndSize(value, &len);
    if (!s) { /* not encodable (a lone surrogate): never numbered */
        PyErr_Clear();
        Py_RETURN_NONE;
    }
    size_t slot;
    int64_t k = find(t, s, (size_t)len, text_hash(s, (size_t)len), &slot);
    if (k < 0) Py_RETURN_NONE;
    return PyLong_FromLongLong(k);
}

static Py_ssize_t TextCodes_len(TextCodes *t) { return (Py_ssize_t)t->n; }

static PyMethodDef TextCodes_methods[] = {
    {"lookup", (PyCFunction)TextCodes_lookup, METH_VARARGS,
     "lookup(validity, offset, offsets, wide, data, rows) -> (int64 numbers as bytes, first new number)"},
    {"get", (PyCFunction)TextCodes_get, METH_O, "get(value) -> number or None"},
    {NULL}};

static PyMemberDef TextCodes_members[] = {
    {"values", T_OBJECT_EX, offsetof(TextCodes, values), READONLY, "the values by number"}, {NULL}};

static PySequenceMethods TextCodes_seq = {.sq_length = (lenfunc)TextCodes_len};

static PyTypeObject TextCodesType = {
    PyVarObject_HEAD_INIT(NULL, 0).tp_name = "forensics.logs._textcodes.TextCodes",
    .tp_basicsize = sizeof(TextCodes),
    .tp_flags = Py_TPFLAGS_DEFAULT,
    .tp_doc = "distinct text values numbered in order of first sight",
    .tp_new = TextCodes_new,
    .tp_dealloc = (destructor)TextCodes_dealloc,
    .tp_methods = TextCodes_methods,
    .tp_members = TextCodes_members,
    .tp_as_sequence = &TextCodes_seq,
};

/* append(lists, at, items, counts, last, times): for each i, lists[at[i]].append(items[i]),
 * counts[at[i]] += 1 and last[at[i]] = times[i] (int64 buffers; counts and last written) */
static PyObject *append(PyObject *self, PyObject *args) {
    PyObject *lists;
    Py_buffer at, items, counts, last, times;
    if (!PyArg_ParseTuple(args, "O!y*y*w*w*y*", &PyList_Type, &lists, &at, &items, &counts, &last, &times))
        return NULL;
    PyObject *res = NULL;
    Py_ssize_t n = at.len / 8, m = PyList_GET_SIZE(lists);
    const int64_t *a = at.buf, *v = items.buf, *tm = times.buf;
    int64_t *cnt = counts.buf, *lt = last.buf;
    if (items.len / 8 != n || times.len / 8 != n) {
        PyErr_SetString(PyExc_ValueError, "append: as many items and times as places");
        goto done;
    }
    for (Py_ssize_t i = 0; i < n; i++) {
        if (a[i] < 0 || a[i] >= m || a[i] >= counts.len / 8 || a[i] >= last.len / 8 ||
            !PyList_Check(PyList_GET_ITEM(lists, a[i]))) {
            PyErr_SetString(PyExc_IndexError, "append: no list there");
            goto done;
        }
        PyObject *x = PyLong_FromLongLong(v[i]);
        if (!x) goto done;
        int bad = PyList_Append(PyList_GET_ITEM(lists, a[i]), x);
        Py_DECREF(x);
        if (bad) goto done;
        cnt[a[i]] += 1;
        lt[a[i]] = tm[i];
    }
    res = Py_None;
    Py_INCREF(res);
done:
    PyBuffer_Release(&at);
    PyBuffer_Release(&items);
    PyBuffer_Release(&counts);
    PyBuffer_Release(&last);
    PyBuffer_Release(&times);
    return res;
}

/* add(sets, at, values, numbers): sets[at[i]].add(values[numbers[i]]) for each i, a number -1
 * (a null) adding nothing (int64 buffers) */
static PyObject *add_values(PyObject *self, PyObject *args) {
    PyObject *sets, *values;
    Py_buffer at, nums;
    if (!PyArg_ParseTuple(args, "O!y*O!y*", &PyList_Type, &sets, &at, &PyList_Type, &values, &nums)) return NULL;
    PyObject *res = NULL;
    Py_ssize_t n = at.len / 8, m = PyList_GET_SIZE(sets);
    const int64_t *a = at.buf, *v = nums.buf;
    if (nums.len / 8 != n) {
        PyErr_SetString(PyExc_ValueError, "add: as many numbers as places");
        goto done;
    }
    for (Py_ssize_t i = 0; i < n; i++) {
        if (v[i] < 0) continue;
        if (a[i] < 0 || a[i] >= m || !PySet_Check(PyList_GET_ITEM(sets, a[i])) || v[i] >= PyList_GET_SIZE(values)) {
            PyErr_SetString(PyExc_IndexError, "add: no set or no value there");
            goto done;
        }
        if (PySet_Add(PyList_GET_ITEM(sets, a[i]), PyList_GET_ITEM(values, v[i])) < 0) goto done;
    }
    res = Py_None;
    Py_INCREF(res);
done:
    PyBuffer_Release(&at);
    PyBuffer_Release(&nums);
    return res;
}

static PyMethodDef methods[] = {
    {"append", append, METH_VARARGS,
     "append(lists, at, items, counts, last, times): lists[at[i]].append(items[i]), counts[at[i]] += 1, "
     "last[at[i]] = times[i]"},
    {"add", add_values, METH_VARARGS, "add(sets, at, values, numbers): sets[at[i]].add(values[numbers[i]])"},
    {NULL}};

static struct PyModuleDef module = {PyModuleDef_HEAD_INIT, "_textcodes", "text values numbered in a hash table", -1,
                                    methods};

PyMODINIT_FUNC PyInit__textcodes(void) {
    if (PyType_Ready(&TextCodesType) < 0) return NULL;
    PyObject *m = PyModule_Create(&module);
    if (!m) return NULL;
    Py_INCREF(&TextCodesType);
    if (PyModule_AddObject(m, "TextCodes", (PyObject *)&TextCodesType) < 0) {
        Py_DECREF(&TextCodesType);
        Py_DECREF(m);
        return NULL;
    }
    return m;
}
