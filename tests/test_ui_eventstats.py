"""The timeline's read model (case_store.eventstats): the indexed two-step page equals the
plain ORDER BY/OFFSET page for any filter and offset, counts add up to the total, and
recorded clock offsets move times (and filters) while the parsed time stays beside them."""
from __future__ import annotations

from dataclasses import replace

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from case_store import eventstats
from case_store.eventstore import EventQuery
from forensics.events import EVENT_SCHEMA

N = 30_000
SHA_A, SHA_B = "aa" * 32, "bb" * 32
T0 = 1_772_000_000_000_000


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    rng = np.random.default_rng(1)
    # coarse times (whole minutes over 3 days): many ties, so the event_id tie-break matters
    ts = T0 + rng.integers(0, 3 * 24 * 60, N) * 60_000_000
    sha = np.where(rng.random(N) < 0.5, SHA_A, SHA_B)
    cols = {"event_id": [f"{x:032x}" for x in rng.permutation(N)], "timestamp": ts,
            "datetime": np.char.add(np.datetime_as_string(ts.astype("datetime64[us]"), unit="us"), "Z"),
            "timestamp_desc": ["t"] * N, "data_type": ["x:y"] * N, "parser": ["p@1"] * N,
            "message": np.array(["sshd accepted", "dns query", "http get"])[rng.integers(0, 3, N)],
            "evidence_sha256": sha, "locator": [f"line={i}" for i in range(N)],
            "host": np.array(["H1", "H2", "H3", "H4"])[rng.integers(0, 4, N)],
            "severity": np.array(["info", "high"])[rng.integers(0, 2, N)], "tags": [[]] * N, "attack": [[]] * N,
            "attributes": ["{}"] * N}
    arrays = [pa.array(cols[f.name], f.type) if f.name in cols else pa.nulls(N, f.type) for f in EVENT_SCHEMA]
    out = []
    d = tmp_path_factory.mktemp("evs")
    table = pa.Table.from_arrays(arrays, schema=EVENT_SCHEMA)
    for i, part in enumerate((table.slice(0, N // 2), table.slice(N // 2))):  # two evidence files, like a case
        path = d / f"part{i}.parquet"
        pq.write_table(part, path, row_group_size=2_000)
        out.append(str(path))
    return tuple(out)


FILTERS = [EventQuery(), EventQuery(text="sshd"), EventQuery(host="h2"),
           EventQuery(start_us=T0 + 86_400_000_000, end_us=T0 + 2 * 86_400_000_000),
           EventQuery(host="H4", text="dns", start_us=T0 + 3_600_000_000)]


@settings(max_examples=40, deadline=None)
@given(which=st.integers(0, len(FILTERS) - 1), frac=st.floats(0, 1.02), limit=st.sampled_from([1, 7, 100]),
       shifted=st.booleans())
def test_indexed_page_equals_plain_page(files, which, frac, limit, shifted):
    src = eventstats.Source(files, ((SHA_B, -5_400_000_000),) if shifted else ())
    q = FILTERS[which]
    index = eventstats.counts(src, q)
    offset = int(frac * index.total)
    paged = replace(q, limit=limit, offset=offset, columns=["datetime", "event_id", "host", "message"])
    fast, total = eventstats.page(src, paged, index)
    plain, total2 = eventstats.page(src, paged)
    assert total == total2
    assert fast.reset_index(drop=True).equals(plain.reset_index(drop=True))
    assert len(fast) == max(0, min(limit, total - offset))


def test_counts_and_chart_buckets_add_up(files):
    src = eventstats.Source(files)
    for q in FILTERS:
        c = eventstats.counts(src, q)
        hist, width = eventstats.chart_buckets(c)
        plain, total = eventstats.page(src, replace(q, limit=1))
        assert c.total == total == int(hist["count"].sum())
        assert hist["bucket_us"].nunique() <= 200 and (width * 1_000_000) % c.fine_us == 0
        assert set(hist["series"]) <= {"info", "high"}


def test_clock_offset_moves_times_and_filters(files):
    plain, shifted = eventstats.Source(files), eventstats.Source(files, ((SHA_B, -5_400_000_000),))
    cols = ["event_id", "evidence_sha256"]
    a, _ = eventstats.page(plain, EventQuery(limit=N, columns=cols))
    b, _ = eventstats.page(shifted, EventQuery(limit=N, columns=cols))
    a = a.set_index("event_id")
    b = b.set_index("event_id").loc[a.index]
    moved = b["evidence_sha256"] == SHA_B
    assert (b.loc[moved, "timestamp"] == a.loc[moved, "timestamp"] - 5_400_000_000).all()
    assert (b.loc[~moved, "timestamp"] == a.loc[~moved, "timestamp"]).all()
    assert (b["original_timestamp"] == a["timestamp"]).all()
    assert set(b.loc[moved, "clock_offset_us"]) == {-5_400_000_000} and set(b.loc[~moved, "clock_offset_us"]) == {0}
    # a time filter selects on corrected times
    cut = T0 + 86_400_000_000
    q = EventQuery(end_us=cut, limit=N, columns=cols)
    got, total = eventstats.page(shifted, q, eventstats.counts(shifted, q))
    assert total == int((b["timestamp"] <= cut).sum()) and (got["timestamp"] <= cut).all()


def test_narrow_filter_gets_a_fine_chart_despite_outlying_times(files, tmp_path):
    # one event a year later (a clock or year-inference outlier) widens the case, not the filter's chart
    row = {f.name: None for f in EVENT_SCHEMA}
    row.update(event_id="f" * 32, timestamp=T0 + 365 * 86_400_000_000, datetime="x", timestamp_desc="t",
               data_type="x:y", parser="p@1", message="late", evidence_sha256=SHA_A, locator="line=0", host="H9",
               tags=[], attack=[], attributes="{}")
    outlier = tmp_path / "outlier.parquet"
    pq.write_table(pa.Table.from_pylist([row], schema=EVENT_SCHEMA), outlier)
    src = eventstats.Source(files + (str(outlier),))
    q = EventQuery(text="sshd")
    c = eventstats.counts(src, q)
    hist, width = eventstats.chart_buckets(c)
    assert width <= 3600  # 3 days of matches in <= 200 bars, not one bar a week wide
    assert c.total == eventstats.page(src, replace(q, limit=1))[1]
    for off in (0, c.total // 2, c.total - 3):
        paged = replace(q, limit=5, offset=off, columns=["event_id"])
        assert eventstats.page(src, paged, c)[0].equals(eventstats.page(src, paged)[0])
