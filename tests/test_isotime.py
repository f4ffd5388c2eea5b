"""The vectorised `datetime` column writes numpy's ISO text byte for byte."""
import numpy as np
import pyarrow as pa
from hypothesis import given, settings, strategies as st

from case_store.isotime import _MAX_US, _MIN_US, iso_column, iso_numpy
from forensics.events import iso_utc

EDGES = [0, -1, 1, 951_782_400_000_000, 951_868_799_999_999, 4_107_542_400_000_000, _MIN_US, _MAX_US - 1,
         -11_644_473_600_000_000, 1_700_000_000_123_456, 253_402_300_799_999_999]


def test_edges_and_leap_days_match_numpy_and_iso_utc():
    ts = np.array(EDGES, dtype=np.int64)
    got = iso_column(ts)
    assert got.equals(iso_numpy(ts))
    for t, text in zip(EDGES[:6], got.to_pylist()[:6]):
        assert text == iso_utc(t)


@settings(max_examples=200, deadline=None)
@given(st.lists(st.integers(_MIN_US, _MAX_US - 1), min_size=1, max_size=50))
def test_any_representable_instant_matches_numpy(values):
    ts = np.array(values, dtype=np.int64)
    assert iso_column(ts).to_pylist() == iso_numpy(ts).to_pylist()


def test_out_of_range_years_take_numpys_text():
    ts = np.array([_MIN_US - 1, 0, _MAX_US], dtype=np.int64)
    assert iso_column(ts).equals(iso_numpy(ts))


def test_empty_batch():
    assert iso_column(np.array([], dtype=np.int64)).equals(pa.array([], pa.string()))
