"""The `datetime` column writes numpy's ISO text byte for byte: the compiled formatter
(case_store/_isotime.c), the numpy integer arithmetic and numpy's own datetime_as_string."""
import os

import numpy as np
import pyarrow as pa
import pytest
from hypothesis import given, settings, strategies as st

from case_store import isotime
from case_store.isotime import _MAX_US, _MIN_US, _iso_arith, iso_column, iso_numpy
from forensics.events import iso_utc

compiled = pytest.mark.skipif(isotime.iso_utc is None and not os.environ.get("CI"), reason="C formatter not built")

EDGES = [0, -1, 1, 951_782_400_000_000, 951_868_799_999_999, 4_107_542_400_000_000, _MIN_US, _MAX_US - 1,
         -11_644_473_600_000_000, 1_700_000_000_123_456, 253_402_300_799_999_999]


def test_edges_and_leap_days_match_numpy_and_iso_utc():
    ts = np.array(EDGES, dtype=np.int64)
    got = iso_column(ts)
    assert got.equals(iso_numpy(ts))
    assert _iso_arith(ts).equals(got)
    for t, text in zip(EDGES[:6], got.to_pylist()[:6]):
        assert text == iso_utc(t)


@settings(max_examples=200, deadline=None)
@given(st.lists(st.integers(_MIN_US, _MAX_US - 1), min_size=1, max_size=50))
def test_any_representable_instant_matches_numpy(values):
    ts = np.array(values, dtype=np.int64)
    assert iso_column(ts).to_pylist() == iso_numpy(ts).to_pylist()
    assert _iso_arith(ts).equals(iso_column(ts))


@compiled
def test_compiled_formatter_is_used_and_declines_out_of_range_rows():
    assert isotime.iso_utc is not None
    assert isotime.iso_utc(np.array([0, 1_700_000_000_123_456], dtype=np.int64)) == \
        b"1970-01-01T00:00:00.000000Z2023-11-14T22:13:20.123456Z"
    # one row outside years 1..9999 sends the whole batch to numpy (the C code writes no such text)
    assert isotime.iso_utc(np.array([0, _MAX_US], dtype=np.int64)) is None
    assert isotime.iso_utc(np.array([_MIN_US - 1], dtype=np.int64)) is None
    with pytest.raises(ValueError):
        isotime.iso_utc(b"1234567")


def test_non_contiguous_input_is_formatted_row_by_row():
    ts = np.array(EDGES * 2, dtype=np.int64)[::2]
    assert iso_column(ts).equals(iso_numpy(np.ascontiguousarray(ts)))


def test_out_of_range_years_take_numpys_text():
    ts = np.array([_MIN_US - 1, 0, _MAX_US], dtype=np.int64)
    assert iso_column(ts).equals(iso_numpy(ts))


def test_empty_batch():
    assert iso_column(np.array([], dtype=np.int64)).equals(pa.array([], pa.string()))
