"""Windows EVTX files through the Rust-backed `evtx` package.

The package renders each record as JSON; forensics.windows.normalize turns it
into an Event. Two things the package does not do are done here:

* Provenance. Each record's locator names its chunk, record id and the byte
  offset of the record header ("chunk=N;record=R;off=O"), found by reading the
  chunk headers (first/last record id) and walking the chunk's record headers.
* Damage. The package stops at the first chunk it cannot parse. We then report
  that chunk (number and offset) and start a fresh parser at the next chunk
  boundary (4096 + k*65536) over a spliced view "file header + rest of file",
  so a damaged chunk costs only its own records.

Three ways to normalize, with the same stored result (tests/test_evtx.py and
tests/test_evtx_columnar.py compare the Parquet tables for every corpus file):
`ingest` yields one Event per record (forensics.windows.normalize, the
reference); `ingest_batches`, which the pipeline prefers, by default writes each
record straight into EventBatch columns (forensics.windows.fastpath, a C
extension, with forensics.windows.columnar for the records it leaves and where
it is not built; unusual records and PowerShell script block parts take the
reference path in their place), or with option evtx_bulk=True hands batches to forensics.windows.bulk
(DuckDB), or with evtx_bulk=False yields the reference path's Events.
"""
from __future__ import annotations

import io
import json
import os
import re
import struct
import zlib
from itertools import repeat
from typing import Iterator

import evtx
import orjson
import pyarrow as pa
import pyarrow.compute as pc

from forensics.events import EVENT_SCHEMA, Event, EventBatch, canonical_json, make_event_id
from forensics.ingestors.base import IngestContext, Ingestor, Record, gc_paused
from forensics.windows.bulk import normalize_batch
from forensics.windows import fastpath
from forensics.windows.columnar import ROW_COLUMNS, event_row, fast_row
from forensics.windows.normalize import DATA_TYPE, _family, normalize
from forensics.windows.scriptblocks import ScriptBlockAssembler

from zlib_ng.zlib_ng import crc32 as _crc32  # zlib.crc32's result; the chunks' checksums cover every
# byte of the file, and zlib-ng folds with PCLMULQDQ/VPCLMULQDQ where the CPU has them (~25x zlib's
# table code here: 1.0 against 25 µs per 64 KB chunk)

try:
    from forensics.windows._evtxrow import chunk_offsets, record_offsets
except ImportError:  # not built: forensics.windows.fastpath says when that is an error
    chunk_offsets = record_offsets = None

def _loads(text: str):
    """json.loads, through orjson when it can (several times faster on these records).

    orjson refuses a few things json accepts (lone surrogate escapes, integers over
    64 bits, NaN); those records go through json.loads, so the result is always json's.
    """
    try:
        return orjson.loads(text)
    except orjson.JSONDecodeError:
        return json.loads(text)


BULK_BATCH = 20_000  # records per DuckDB batch: large enough to amortise each query, memory stays flat
# The bulk path is opt-in (ctx option evtx_bulk=True): it stores byte-identical tables but costs more
# CPU per record than even the record-by-record path on this machine (DuckDB's list/map/JSON work
# ~40-50 µs per record plus ~0.1 s per batch). See bench/evtx.py --path bulk|single.

FILE_HEADER = 4096
CHUNK = 65536
FILE_MAGIC = b"ElfFile\x00"
CHUNK_MAGIC = b"ElfChnk\x00"
RECORD_MAGIC = b"\x2a\x2a\x00\x00"
_CHUNK_NO = re.compile(r"chunk number (\d+)")


class _Spliced(io.RawIOBase):
    """Read-only view: a 4096-byte file header followed by the file from `base` on."""

    def __init__(self, path: str, header: bytes, base: int) -> None:
        self._f = open(path, "rb")
        self._header = header
        self._base = base
        self._size = FILE_HEADER + max(0, os.path.getsize(path) - base)
        self._pos = 0

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def tell(self) -> int:
        return self._pos

    def seek(self, off: int, whence: int = 0) -> int:
        self._pos = off if whence == 0 else self._pos + off if whence == 1 else self._size + off
        self._pos = max(0, self._pos)
        return self._pos

    def readinto(self, b) -> int:  # type: ignore[override]
        n, out = len(b), bytearray()
        if self._pos < FILE_HEADER:
            out += self._header[self._pos:self._pos + n]
        if len(out) < n:
            rel = self._pos + len(out) - FILE_HEADER
            self._f.seek(self._base + rel)
            out += self._f.read(n - len(out))
        b[:len(out)] = out
        self._pos += len(out)
        return len(out)

    def close(self) -> None:
        self._f.close()
        super().close()


def synth_header(n_chunks: int) -> bytes:
    """A minimal valid file header, used when the evidence's own is damaged."""
    h = bytearray(FILE_HEADER)
    struct.pack_into("<8sQQQIHHHH", h, 0, FILE_MAGIC, 0, max(0, n_chunks - 1), 1, 128, 1, 3, FILE_HEADER, n_chunks)
    struct.pack_into("<I", h, 124, zlib.crc32(bytes(h[:120])))
    return bytes(h)


class _ChunkMap:
    """Record id → (chunk number, file offset), from the chunk and record headers."""

    def __init__(self, f, n_chunks: int, at: int | None = None) -> None:
        """`at`: where `f` stands (None: not known); chunks read in a row then need no seek each."""
        self._f = f
        self.ranges: list[tuple[int, int]] = []
        # chunk number -> what failed: the header CRC32 (bytes 0-120 + 128-512) and the
        # records CRC32 (512 to the free-space offset) that Windows writes in each chunk
        self.checksum_problems: dict[int, str] = {}
        # chunk number -> its records' (id, offset) pairs, packed (chunk_offsets), taken from the
        # bytes read here so that the compiled record loop reads no chunk twice; None: not built
        self.packed: list[bytes | None] = []
        buf = bytearray(CHUNK)  # one buffer for every chunk, checksummed through views: no copies
        for k in range(n_chunks):
            if at != FILE_HEADER + k * CHUNK:
                f.seek(FILE_HEADER + k * CHUNK)
            c = memoryview(buf)[:f.readinto(buf) or 0]
            at = FILE_HEADER + k * CHUNK + len(c)
            self.packed.append(chunk_offsets(c, FILE_HEADER + k * CHUNK) if chunk_offsets is not None else None)
            if len(c) >= 512 and c[:8] == CHUNK_MAGIC:
                _, _, first_id, last_id = struct.unpack_from("<QQQQ", c, 8)
                self.ranges.append((first_id, last_id) if first_id <= last_id else (-1, -2))
                free, rec_crc = struct.unpack_from("<II", c, 48)
                hdr_crc = struct.unpack_from("<I", c, 124)[0]
                bad = []
                if _crc32(c[128:512], _crc32(c[:120])) != hdr_crc:
                    bad.append("header")
                if not 512 <= free <= len(c) or _crc32(c[512:free]) != rec_crc:
                    bad.append("records")
                if bad:
                    self.checksum_problems[k] = " and ".join(bad)
            else:
                self.ranges.append((-1, -2))
        self.cur = 0
        self._offsets_chunk = -1
        self._offsets: dict[int, int] = {}

    def chunk_of(self, rid: int, start: int) -> int | None:
        n = len(self.ranges)
        if not (0 <= self.cur < n and self.ranges[self.cur][0] <= rid <= self.ranges[self.cur][1]):
            for k in list(range(max(self.cur, start), n)) + list(range(0, max(self.cur, start))):
                lo, hi = self.ranges[k]
                if lo <= rid <= hi:
                    self.cur = k
                    break
            else:
                return None
        return self.cur

    def offset_of(self, k: int, rid: int) -> int | None:
        if k != self._offsets_chunk:
            self._offsets_chunk, self._offsets = k, {}
            base = FILE_HEADER + k * CHUNK
            self._f.seek(base)
            data = self._f.read(CHUNK)
            if record_offsets is not None:  # the same walk in C
                self._offsets = record_offsets(data, base)
                return self._offsets.get(rid)
            pos = 512
            while pos + 24 <= len(data) and data[pos:pos + 4] == RECORD_MAGIC:  # bounded: pos grows
                size, r = struct.unpack_from("<IQ", data, pos + 4)
                self._offsets.setdefault(r, base + pos)
                if size < 24:
                    break
                pos += size
        return self._offsets.get(rid)


class EvtxIngestor(Ingestor):
    name = "evtx"
    version = "1.0.0"
    accepts = ("evtx",)

    @classmethod
    def detect(cls, head: bytes, path, evidence_type: str) -> bool:
        return evidence_type == "evtx" or head.startswith(FILE_MAGIC)

    def ingest(self, ctx: IngestContext) -> Iterator[Record]:
        """Record by record: one Event per record (what direct callers and the tests read)."""
        return self._ingest(ctx, bulk=False)

    def ingest_batches(self, ctx: IngestContext) -> Iterator[Record | EventBatch]:
        """What the pipeline stores: the same events, handed over as EventBatch columns.

        By default each record goes straight into columns (forensics.windows.fastpath, in C,
        or forensics.windows.columnar where the extension is not built or with option
        evtx_compiled=False); option evtx_bulk=True normalizes in DuckDB batches
        (forensics.windows.bulk) and evtx_bulk=False gives the record-by-record path."""
        opt = ctx.options.get("evtx_bulk")
        mode = "columnar" if opt is None else "bulk" if opt else "single"
        return gc_paused(self._ingest(ctx, bulk=mode == "bulk", columnar=mode == "columnar"))

    def _ingest(self, ctx: IngestContext, bulk: bool, columnar: bool = False) -> Iterator[Record | EventBatch]:
        path = str(ctx.path)
        threads = int(ctx.options.get("evtx_threads", 1))
        try:
            # unbuffered: the header and the chunks are read once each, straight into their buffers
            f = open(path, "rb", buffering=0)
            size = os.fstat(f.fileno()).st_size
        except OSError as e:
            yield ctx.error(f"cannot read EVTX file: {e}", offset=0)
            return
        with f:
            header = f.read(FILE_HEADER)
            at = len(header)  # where f stands: the chunk map reads on from there
            n_chunks = max(0, (size - FILE_HEADER + CHUNK - 1) // CHUNK)
            header_ok = len(header) == FILE_HEADER and header.startswith(FILE_MAGIC)
            if not header_ok:
                yield ctx.error("EVTX file header damaged (no ElfFile magic); reading chunks with a rebuilt header",
                                offset=0)
                header = synth_header(n_chunks)
            elif zlib.crc32(header[:120]) != struct.unpack_from("<I", header, 124)[0]:
                yield ctx.error("EVTX file header checksum mismatch (header edited or damaged)", offset=0)
            cmap = _ChunkMap(f, n_chunks, at=at)
            for k, what in cmap.checksum_problems.items():
                yield ctx.error(f"EVTX chunk {k}: {what} checksum mismatch; its records are kept but may have "
                                "been altered after Windows wrote them (events carry chunk_checksum_ok=false)",
                                offset=FILE_HEADER + k * CHUNK)
            scripts = ScriptBlockAssembler()
            # the compiled row path (forensics.windows.fastpath) when it is built; rows it does
            # not take go the Python columnar way into the same columns, in record order
            cols = fastpath.columns(ctx.evidence_sha256, self.parser_id(), DATA_TYPE) \
                if columnar and ctx.options.get("evtx_compiled", True) else None
            start = 0
            while start < n_chunks:  # every pass moves start forward: bounded by the chunk count
                cmap.cur = start
                last_chunk = start
                pending: list[dict] = []  # bulk: records waiting for the next batch
                rows: list[tuple] = []  # columnar: rows waiting for the next batch
                src = path if (start == 0 and header_ok) else _Spliced(path, header, FILE_HEADER + start * CHUNK)
                try:
                    parser = evtx.PyEvtxParser(src, number_of_threads=threads)
                    if cols is not None:
                        for out in self._compiled(ctx, parser, cmap, start, scripts, cols):
                            yield out
                            last_chunk = cmap.cur
                        last_chunk = cmap.cur
                        if len(cols):
                            yield self._cols_batch(ctx, cols)
                        break
                    if columnar:
                        for out in self._columnar(ctx, parser, cmap, start, scripts, rows):
                            yield out
                            last_chunk = cmap.cur
                        last_chunk = cmap.cur
                        if rows:
                            yield self._row_batch(ctx, rows)
                            rows = []
                        break
                    for rec in parser.records_json():
                        if bulk:
                            pending.append(rec)
                            if len(pending) >= BULK_BATCH:
                                yield from self._bulk(ctx, pending, cmap, start, scripts)
                                pending, last_chunk = [], cmap.cur
                            continue
                        ev = self._event(ctx, rec, cmap, start)
                        if ev is None:
                            continue
                        last_chunk = cmap.cur
                        yield ev
                        for blk in scripts.feed(ev):
                            yield self.stamp(ctx, blk)
                    if pending:
                        yield from self._bulk(ctx, pending, cmap, start, scripts)
                    break
                except Exception as e:  # the package signals any damage as an exception
                    if rows:  # the records read before the damage, as the record-by-record path keeps them
                        last_chunk = cmap.cur
                        yield self._row_batch(ctx, rows)
                        rows = []
                    if cols is not None and len(cols):
                        last_chunk = cmap.cur
                        yield self._cols_batch(ctx, cols)
                    if pending:  # the records read before the damage, as the record-by-record path keeps them
                        yield from self._bulk(ctx, pending, cmap, start, scripts)
                        last_chunk = cmap.cur
                    msg = str(e).splitlines()[0][:300] if str(e) else type(e).__name__
                    m = _CHUNK_NO.search(msg)
                    bad = start + int(m.group(1)) if m else last_chunk
                    bad = min(max(bad, start), n_chunks - 1)
                    reason = re.sub(r"^Failed to parse chunk number \d+:\s*", "", msg)
                    yield ctx.error(f"EVTX chunk {bad} unreadable ({reason}); its remaining records are lost, "
                                    f"resuming at chunk {bad + 1}", offset=FILE_HEADER + bad * CHUNK)
                    start = bad + 1
                finally:
                    if isinstance(src, _Spliced):
                        src.close()
            for blk in scripts.flush():
                yield self.stamp(ctx, blk)
            fastpath.release(cols)

    def _columnar(self, ctx: IngestContext, parser, cmap: _ChunkMap, start: int, scripts: ScriptBlockAssembler,
                  rows: list[tuple]) -> Iterator[Record | EventBatch]:
        """Records into `rows` (forensics.windows.columnar), a batch yielded every COLUMNAR_BATCH.

        The caller owns `rows`, so what is pending when the parser raises is still stored.
        Unusual records take the reference path (normalize → Event) in their place, and
        PowerShell parts feed the script block assembler: a completed block is stored right
        after the part that completed it, as ingest() does.
        """
        ranges, problems, append = cmap.ranges, cmap.checksum_problems, rows.append
        n_ranges = len(ranges)
        for rec in parser.records_json():
            rid = rec.get("event_record_id")
            # cmap.chunk_of / offset_of, their usual case (same chunk as the record before) inline
            cur = cmap.cur
            if type(rid) is int and 0 <= cur < n_ranges and ranges[cur][0] <= rid <= ranges[cur][1]:
                k = cur
            else:
                k = cmap.chunk_of(rid, start) if isinstance(rid, int) else None
            if k is None:
                off = None
            elif k == cmap._offsets_chunk:
                off = cmap._offsets.get(rid)
            else:
                off = cmap.offset_of(k, rid)
            locator = _locator(k, rid, off)
            row = _fast_row(rec.get("data"), locator, k in problems)
            if row is not None:
                append(row)
            else:
                ev = self._normalized(ctx, rec, locator, k, cmap)
                append(event_row(ev))
                blocks = scripts.feed(ev)
                if blocks:
                    yield self._row_batch(ctx, rows)
                    rows.clear()
                    for blk in blocks:
                        yield self.stamp(ctx, blk)
            if len(rows) >= COLUMNAR_BATCH:
                yield self._row_batch(ctx, rows)
                rows.clear()

    def _compiled(self, ctx: IngestContext, parser, cmap: _ChunkMap, start: int, scripts: ScriptBlockAssembler,
                  cols) -> Iterator[Record | EventBatch]:
        """_columnar with the compiled row path: `cols.feed` (C) reads the records, works out their
        locators and appends their rows, and hands back each record it does not take; those take
        _columnar's Python way and their row is appended in their place. The caller owns `cols`
        (rows pending when the parser raises are still stored)."""
        feed, record, append_row = cols.feed, cols.record, cols.append_row
        records = parser.records_json()
        while True:
            got = feed(records, cmap, start, COLUMNAR_BATCH)
            if got is None:
                return
            if got is True:
                yield self._cols_batch(ctx, cols)
                continue
            rec, locator, k = got
            d = rec.get("data") if isinstance(rec, dict) else None
            if locator is None:  # an odd record id: the locator as _event works it out
                rid = rec.get("event_record_id") if isinstance(rec, dict) else None
                k = cmap.chunk_of(rid, start) if isinstance(rid, int) else None
                off = cmap.offset_of(k, rid) if k is not None else None
                locator = _locator(k, rid, off)
                if type(d) is str and record(d, locator, k in cmap.checksum_problems):
                    continue
            row = _fast_row(d, locator, k in cmap.checksum_problems)
            if row is not None:
                append_row(row)
                continue
            ev = self._normalized(ctx, rec if isinstance(rec, dict) else {}, locator, k, cmap)
            append_row(event_row(ev))
            blocks = scripts.feed(ev)
            if blocks:
                yield self._cols_batch(ctx, cols)
                for blk in blocks:
                    yield self.stamp(ctx, blk)

    def _cols_batch(self, ctx: IngestContext, cols) -> EventBatch:
        """The rows in `cols` (emptied) as an EventBatch, event ids included."""
        return EventBatch(fastpath.take_table(cols, _BATCH_SCHEMA, {
            "evidence_sha256": ctx.evidence_sha256, "parser": self.parser_id(), "timestamp_desc": "Event Recorded",
            "data_type": DATA_TYPE, "discriminator": ""}))

    def _row_batch(self, ctx: IngestContext, rows: list[tuple]) -> EventBatch:
        """Rows (forensics.windows.columnar.ROW_COLUMNS) as an EventBatch."""
        n = len(rows)
        by_name = dict(zip(ROW_COLUMNS, zip(*rows)))
        sha, parser = ctx.evidence_sha256, self.parser_id()
        by_name["event_id"] = list(map(make_event_id, repeat(sha, n), by_name["locator"], repeat(parser, n),
                                       repeat(DATA_TYPE, n)))
        const = {"timestamp_desc": "Event Recorded", "data_type": DATA_TYPE, "parser": self.parser_id(),
                 "evidence_sha256": ctx.evidence_sha256, "discriminator": ""}
        arrays, names = [], []
        for f in _BATCH_SCHEMA:
            v = by_name.get(f.name)
            if v is not None:
                arrays.append(pa.array(v, f.type))
            elif f.name in const:
                arrays.append(pa.repeat(pa.scalar(const[f.name], f.type), n))
            else:
                arrays.append(pa.nulls(n, f.type))
            names.append(f.name)
        return EventBatch(pa.Table.from_arrays(arrays, schema=_BATCH_SCHEMA))

    def _bulk(self, ctx: IngestContext, recs: list[dict], cmap: _ChunkMap, start: int,
              scripts: ScriptBlockAssembler) -> Iterator[Record | EventBatch]:
        """One batch through forensics.windows.bulk, in record order; unusual records, and the
        script blocks PowerShell parts complete, go the record-by-record way in their place."""
        locs, datas, chk, ks = [], [], [], []
        for rec in recs:  # the chunk map walks forward with the records, as in _event
            rid = rec.get("event_record_id")
            k = cmap.chunk_of(rid, start) if isinstance(rid, int) else None
            off = cmap.offset_of(k, rid) if k is not None else None
            locs.append(_locator(k, rid, off))
            d = rec.get("data")
            datas.append(d if isinstance(d, str) else "")
            chk.append(k in cmap.checksum_problems)
            ks.append(k)
        try:
            table, slow = normalize_batch(datas, locs, chk, _family)
        except Exception:  # a query the data breaks: this batch goes record by record, same result
            table, slow = None, list(range(len(recs)))
        singles = {p: self._normalized(ctx, recs[p], locs[p], ks[p], cmap) for p in slow}
        table = _merge(table, singles)
        # PowerShell parts feed the script block assembler in record order; a completed block
        # is stored right after the part that completed it
        row = 0
        for i in table.filter(table["script_part"])["idx"].to_pylist() if table.num_rows else []:
            ev = singles.get(i) or _event_of_row(table, i)
            blocks = [self.stamp(ctx, b) for b in scripts.feed(ev)]
            if blocks:
                yield self._batch(ctx, table.slice(row, i + 1 - row))
                row = i + 1
                yield from blocks
        if table.num_rows > row:
            yield self._batch(ctx, table.slice(row))

    def _batch(self, ctx: IngestContext, t: pa.Table) -> EventBatch:
        n = t.num_rows
        msg = t["message"]
        if pc.any(pc.greater(pc.utf8_length(msg), 2000)).as_py():  # as normalize() cuts long messages
            msg = pa.array([m if len(m) <= 2000 else m[:2000] + "…" for m in msg.to_pylist()], pa.string())
        const = {"timestamp_desc": "Event Recorded", "data_type": DATA_TYPE, "parser": self.parser_id(),
                 "evidence_sha256": ctx.evidence_sha256, "discriminator": ""}
        cols = {}
        for f in EVENT_SCHEMA:
            if f.name in ("event_id", "datetime"):
                continue
            if f.name in const:
                cols[f.name] = pa.array([const[f.name]] * n, pa.string())
            elif f.name == "message":
                cols[f.name] = msg
            elif f.name in t.column_names:
                cols[f.name] = t[f.name].cast(f.type)
            else:
                cols[f.name] = pa.nulls(n, f.type)
        cols["discriminator"] = pa.array([""] * n, pa.string())
        return EventBatch(pa.table(cols))

    def _normalized(self, ctx: IngestContext, rec: dict, locator: str, k: int | None, cmap: _ChunkMap) -> Event:
        try:
            doc = _loads(rec["data"])
            event = doc["Event"] if isinstance(doc, dict) and isinstance(doc.get("Event"), dict) else {}
        except (ValueError, KeyError, TypeError):
            event = {}
        ev = normalize(event, locator)
        if k in cmap.checksum_problems:
            ev.attributes["chunk_checksum_ok"] = False
        if not event:
            ev.attributes["unparsed"] = True
        return self.stamp(ctx, ev)

    def _event(self, ctx: IngestContext, rec: dict, cmap: _ChunkMap, start: int) -> Event | None:
        rid = rec.get("event_record_id")
        k = cmap.chunk_of(rid, start) if isinstance(rid, int) else None
        off = cmap.offset_of(k, rid) if k is not None else None
        locator = _locator(k, rid, off)
        return self._normalized(ctx, rec, locator, k, cmap)


# An EventBatch's columns: the schema's less `datetime` (the store derives it), plus discriminator;
# event_id is computed here (make_event_id, discriminator "" → data_type, as Event.event_id)
_BATCH_SCHEMA = pa.schema([f for f in EVENT_SCHEMA if f.name != "datetime"] + [pa.field("discriminator", pa.string())])
COLUMNAR_BATCH = 8192  # rows per EventBatch: amortises the Arrow conversion, memory stays flat


_ROWS = pa.schema([("idx", pa.int64()), ("script_part", pa.bool_())] + [
    f for f in EVENT_SCHEMA if f.name in (
        "timestamp", "locator", "host", "user", "process_pid", "process_name", "process_cmdline", "src_ip", "src_port",
        "dst_ip", "dst_port", "proto", "domain", "file_path", "file_sha256", "tags", "attack", "gbt_category",
        "severity", "attributes", "message")])


def _merge(table: pa.Table | None, singles: dict[int, Event]) -> pa.Table:
    """The bulk rows and the records normalized one by one, as one table in record order (row i = record i)."""
    parts = [table.select(_ROWS.names).cast(_ROWS)] if table is not None else []
    if singles:
        evs = [singles[i] for i in sorted(singles)]
        cols = {"idx": sorted(singles),
                "script_part": [e.attributes.get("event_id") == 4104 and "ScriptBlockId" in e.attributes for e in evs]}
        for f in _ROWS:
            if f.name in cols:
                continue
            if f.name in ("tags", "attack"):
                cols[f.name] = [sorted(set(getattr(e, f.name))) for e in evs]
            elif f.name == "attributes":
                cols[f.name] = [canonical_json(e.attributes) if e.attributes else "{}" for e in evs]
            else:
                cols[f.name] = [getattr(e, f.name) for e in evs]
        parts.append(pa.table(cols, schema=_ROWS))
    if not parts:
        return _ROWS.empty_table()
    t = pa.concat_tables(parts)
    return t.take(pc.sort_indices(t["idx"])) if singles and table is not None else t


def _event_of_row(table: pa.Table, i: int) -> Event:
    """The fields of a bulk row the script block assembler reads, as an Event."""
    r = table.slice(i, 1).to_pylist()[0]
    return Event(timestamp=r["timestamp"], data_type=DATA_TYPE, message=r["message"], locator=r["locator"],
                 timestamp_desc="Event Recorded", host=r["host"], user=r["user"], file_path=r["file_path"],
                 attributes=orjson.loads(r["attributes"]))


def _locator(chunk: int | None, record_id, offset: int | None) -> str:
    """Where a record sits: its chunk, record id and file offset ('?' for what is not known)."""
    return f"chunk={chunk if chunk is not None else '?'};record={record_id};off={offset if offset is not None else '?'}"


def _fast_row(text, locator: str, checksum_bad: bool) -> tuple | None:
    """The Python columnar row of a record's JSON text, or None when the reference path must decide."""
    if type(text) is not str:
        return None
    try:
        doc = orjson.loads(text)
    except orjson.JSONDecodeError:
        return None
    return fast_row(doc.get("Event"), locator, checksum_bad) if type(doc) is dict else None

