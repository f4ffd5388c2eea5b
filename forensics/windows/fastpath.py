"""The compiled EVTX row path: record JSON text → stored row values, in C (_evtxrow.c).

Per record, Python then does almost nothing: the C code parses the JSON text the evtx
package renders and appends the row that forensics.windows.columnar.fast_row would
make, straight into Arrow-layout column buffers, event id included. What it needs from
the event table it asks for once per (channel, provider, EventID) (`plan_for`, compiled
here from forensics.windows.eventmap); conversions with Python semantics (IP cleaning,
user splitting, int() of text, ...) it asks for once per distinct value (`convert`). What
depends only on a record's template (the text between its values, its EventData names,
where a plan's names are among them) it works out for the first record and keeps.
A record outside its narrow shape (non-ASCII text, escapes, floats, UserData, script
block parts, ...) is "not ours": the caller normalizes it in Python and appends that
row in its place, so the stored rows are the reference's by construction for those.

The extension is built by `pip install -e .` (setup.py). Without a compiler the build
is skipped and `Columns` is None: the ingestor keeps its Python path. Under CI (CI=true)
a missing extension is an error, so a broken build cannot pass as a silent fallback.
"""
from __future__ import annotations

import os
import string
from functools import lru_cache

import pyarrow as pa

from forensics.windows.eventmap import TABLE
from forensics.windows.fields import as_int
from forensics.windows.normalize import (_ENTITIES, _basename, _clean_ip_text, _family, _port, _sha256_of,
                                         _split_user)

try:
    from forensics.windows._evtxrow import Columns
except ImportError as e:  # no compiler where this was installed
    if os.environ.get("CI", "").lower() in ("1", "true", "yes"):
        raise ImportError(f"forensics.windows._evtxrow is not built ({e}); run `pip install -e .` with a C compiler") from e
    Columns = None

_ROLES = ("user", "image", "pid", "cmdline", "src_ip", "src_port", "dst_ip", "dst_port", "proto", "domain", "file_path")
# the C code's entity order for message fields (E_HOST ... E_FILE)
_ENTITY_CODE = {name: i for i, name in enumerate(("host", "user", "process_name", "process_cmdline", "src_ip",
                                                    "src_port", "dst_ip", "dst_port", "proto", "domain", "file_path"))}
assert set(_ENTITY_CODE) == set(_ENTITIES)


def _plan_tuple(spec) -> tuple | bool:
    """A spec as the C code's plan; False when its template is more than plain {name} fields."""
    parts = []
    try:
        for lit, field, fspec, conv in string.Formatter().parse(spec.message):
            if field is not None and (not field.isidentifier() or fspec or conv):
                return False
            parts.append((lit, field, _ENTITY_CODE.get(field, -1) if field is not None else -1))
    except ValueError:
        return False
    texts = [p for role in _ROLES for p in getattr(spec, role)] + [n for n, c in spec.extra.items() for n in (n, *c)]
    texts += [p[0] for p in parts] + [p[1] for p in parts if p[1]] + list(spec.tags) + list(spec.attack)
    texts += [spec.severity] + ([spec.gbt] if spec.gbt is not None else [])
    if not all(isinstance(t, str) and t.isascii() for t in texts):
        return False
    return (tuple(getattr(spec, role) for role in _ROLES), tuple((n, tuple(c)) for n, c in spec.extra.items()),
            tuple(parts), tuple(sorted(set(spec.tags))), tuple(sorted(set(spec.attack))), spec.gbt, spec.severity)


@lru_cache(maxsize=4096)  # each worker compiles a (log, EventID)'s plan once, not once per file
def plan_for(channel: str | None, provider: str | None, eid: int) -> tuple | bool | None:
    """What fast_row does for this (channel, provider, EventID): None (no table row), a plan, or False."""
    spec = TABLE.get((_family(channel, provider), eid))
    return None if spec is None else _plan_tuple(spec)


def _lower(v: str) -> str:
    return v.lower()


def _domain(v: str) -> str:
    return v.rstrip(".").lower()


# the C code's conversion numbers (C_SPLIT_USER ... C_SHA256_OF): what fast_row applies to a picked value
_CONVERT = (_split_user, _basename, as_int, _clean_ip_text, _port, _lower, _domain, _sha256_of)


def convert(kind: int, value: str):
    return _CONVERT[kind](value)


def columns(evidence_sha256: str, parser: str, data_type: str):
    """An empty column set whose rows get make_event_id(evidence_sha256, locator, parser) ids, or None.

    A set handed back with release() is reused: its buffers, plans, memos and record layouts stay
    allocated, so a worker ingesting many small files does not grow and page in fresh buffers for
    each, and reads a template's records by the layout an earlier file left (Columns.layout_stats)."""
    if Columns is None:
        return None
    prefix, suffix = f"{evidence_sha256}|".encode(), f"|{parser}|{data_type}".encode()
    try:
        cols = _SPARE.pop()
    except IndexError:
        return Columns(plan_for, convert, prefix, suffix)
    if len(cols):  # rows a stopped ingest left behind
        cols.take()
    cols.__init__(plan_for, convert, prefix, suffix)
    return cols


def release(cols) -> None:
    """Hand a column set back for the next columns() call."""
    if cols is not None and len(_SPARE) < 2:
        _SPARE.append(cols)


_SPARE: list = []


_STRING_COLUMNS = ("message", "locator", "host", "user", "process_name", "process_cmdline", "src_ip", "dst_ip", "proto",
                   "domain", "file_path", "file_sha256", "gbt_category", "severity", "attributes", "event_id")


def _string(parts, n: int) -> pa.Array:
    valid, offsets, data, nulls = parts
    if n == 0:
        return pa.array([], pa.string())
    return pa.Array.from_buffers(pa.string(), n, [pa.py_buffer(valid) if nulls else None, pa.py_buffer(offsets),
                                                  pa.py_buffer(data)], null_count=nulls)


def _ints(parts, n: int, typ: pa.DataType) -> pa.Array:
    valid, values, nulls = parts
    return pa.Array.from_buffers(typ, n, [pa.py_buffer(valid) if nulls else None, pa.py_buffer(values)],
                                 null_count=nulls)


def _list(parts, n: int) -> pa.Array:
    offsets, child = parts
    values = _string(child, len(child[1]) // 4 - 1 if child[1] else 0)
    return pa.Array.from_buffers(pa.list_(pa.string()), n, [None, pa.py_buffer(offsets)], children=[values])


def take_arrays(cols) -> tuple[int, dict[str, pa.Array]]:
    """The rows `cols` holds as Arrow arrays by column name (the columns are emptied)."""
    t = cols.take()
    n = t["rows"]
    out = {name: _string(t[name], n) for name in _STRING_COLUMNS}
    out["timestamp"] = _ints(t["timestamp"], n, pa.int64())
    out["process_pid"] = _ints(t["process_pid"], n, pa.int64())
    out["src_port"] = _ints(t["src_port"], n, pa.int32())
    out["dst_port"] = _ints(t["dst_port"], n, pa.int32())
    out["tags"] = _list(t["tags"], n)
    out["attack"] = _list(t["attack"], n)
    return n, out


# take()'s columns in the order export() numbers them, with their Arrow types
EXPORT_COLUMNS = ("timestamp", "message", "locator", "host", "user", "process_pid", "process_name", "process_cmdline",
                  "src_ip", "src_port", "dst_ip", "dst_port", "proto", "domain", "file_path", "file_sha256", "tags",
                  "attack", "gbt_category", "severity", "attributes", "event_id")
_EXPORT_TYPES = {"timestamp": pa.int64(), "process_pid": pa.int64(), "src_port": pa.int32(), "dst_port": pa.int32(),
                 "tags": pa.list_(pa.string()), "attack": pa.list_(pa.string())}
_NULL_KINDS = ((pa.string(), 2), (pa.int64(), 3), (pa.int32(), 4))  # export()'s X_NULL_STR, X_NULL_I64, X_NULL_I32
_LAYOUTS: list[tuple[pa.Schema, tuple[str, ...], tuple]] = []


def _layout(schema: pa.Schema, const_names: tuple[str, ...]) -> tuple:
    """export()'s layout for `schema`: per field (0, column number), (1, index into the constants) or
    (2-4, an all-null column of that type). Remembered by identity: a schema's hash walks every field."""
    for known, names, layout in _LAYOUTS:
        if known is schema and names == const_names:
            return layout
    out = []
    for f in schema:
        if f.name in const_names:
            if f.type != pa.string():
                raise TypeError(f"constant column {f.name} must be a string column")
            out.append((1, const_names.index(f.name)))
        elif f.name in EXPORT_COLUMNS:
            if f.type != _EXPORT_TYPES.get(f.name, pa.string()):
                raise TypeError(f"column {f.name}: {f.type} is not what the compiled path fills")
            out.append((0, EXPORT_COLUMNS.index(f.name)))
        else:
            kind = next((k for t, k in _NULL_KINDS if f.type == t), None)
            if kind is None:
                raise TypeError(f"column {f.name}: no all-null {f.type} column")
            out.append((kind, 0))
    layout = tuple(out)
    if len(_LAYOUTS) < 8:
        _LAYOUTS.append((schema, const_names, layout))
    return layout


def take_table(cols, schema: pa.Schema, consts: dict[str, str]) -> pa.Table:
    """The rows `cols` holds as a table of `schema` (the columns are emptied): the compiled columns
    by name, the `consts` columns with the same text in every row, any other field all null.

    One import of the Arrow C data interface (RecordBatch._import_from_c) rather than a pyarrow
    array per column: the buffers are handed over, not copied (small ones are copied in C)."""
    names = tuple(consts)
    capsule, address = cols.export(_layout(schema, names), tuple(consts[k].encode() for k in names))
    batch = pa.RecordBatch._import_from_c(address, schema)
    del capsule  # imported: the batch owns the memory now
    return pa.Table.from_batches([batch], schema)
