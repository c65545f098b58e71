"""Ring: a stream's rows in fixed-size chunks of numpy columns, addressed by seq number."""

from __future__ import annotations

import numpy as np
import pytest

from streamvis.core._ring import Ring, holds_missing, merged_dtype, missing_value
from streamvis.core.normalize import normalize

INT = np.dtype(np.int64)
FLOAT = np.dtype(np.float64)
BOOL = np.dtype(bool)
TEXT = np.dtype(object)
TIME = np.dtype("datetime64[ns]")


def ints(start: int, stop: int, name: str = "v") -> dict[str, np.ndarray]:
    return {name: np.arange(start, stop, dtype=np.int64)}


def fill(ring: Ring, start: int, stop: int) -> None:
    ring.append(ints(start, stop), stop - start)


def values(ring: Ring, since: int = 0, name: str = "v") -> list:
    return ring.read(since)[1][name].tolist()


def test_retain_must_be_positive():
    with pytest.raises(ValueError, match="retain must be at least 1, not 0"):
        Ring(0)


def test_empty_ring_reads_nothing():
    ring = Ring(10)
    assert len(ring) == 0
    assert ring.read(0) == (0, {})


def test_grows_in_chunks_up_to_retain():
    ring = Ring(5000)
    fill(ring, 0, 1000)
    assert ring.capacity == 1024  # a first small chunk
    fill(ring, 1000, 1100)
    assert ring.capacity == 2048  # a second one of the size allocated so far: no copy
    assert ring.chunk_count == 2
    assert values(ring) == list(range(1100))
    fill(ring, 1100, 4500)
    assert ring.capacity == 2048 + 2452  # what the batch still needs, below the cap
    assert len(ring) == 4500
    assert values(ring) == list(range(4500))
    fill(ring, 4500, 9000)
    assert len(ring) == 5000  # the row cap
    assert (ring.lo, ring.hi) == (4000, 9000)
    assert values(ring) == list(range(4000, 9000))
    assert ring.capacity < 5000 + 5000  # chunks wholly older than the cap are dropped


def test_small_retain_caps_chunk_size():
    ring = Ring(7)
    fill(ring, 0, 3)
    assert ring.capacity == 7
    assert values(ring) == [0, 1, 2]


def test_without_retain_nothing_is_dropped_and_chunks_stop_growing():
    ring = Ring(chunk_rows=4096)
    for start in range(0, 50_000, 3000):
        fill(ring, start, start + 3000)
    assert (ring.lo, ring.hi) == (0, 51_000)
    assert values(ring) == list(range(51_000))
    sizes = [chunk.size for chunk in ring._chunks]
    assert sizes[:2] == [3000, 3000]  # sized to the batch
    assert set(sizes[2:]) == {4096}
    assert ring.capacity - len(ring) < 4096  # at most the newest chunk's free room


@pytest.mark.parametrize("size", [1, 7, 100, 1023, 1024, 1025, 5000])
def test_chunk_edges_read_back_in_order(size):
    ring = Ring(chunk_rows=1024)
    for start in range(0, 10_000, size):
        fill(ring, start, min(start + size, 10_000))
    assert values(ring) == list(range(10_000))
    for since in (0, 1023, 1024, 1025, 4095, 9999, 10_000):
        assert values(ring, since) == list(range(since, 10_000))
    for start, stop in ((0, 1), (1000, 1100), (1024, 2048), (2047, 4097), (5, 9999)):
        assert ring.read_range(start, stop)["v"].tolist() == list(range(start, stop))


def test_dropping_the_oldest_chunk_never_drops_the_newest():
    ring = Ring(chunk_rows=1024)
    fill(ring, 0, 3000)  # chunks of 1024, 1024, 952 rows
    before = ring.nbytes
    freed = ring.drop_oldest_chunk()
    assert freed > 0
    assert ring.nbytes == before - freed
    assert (ring.lo, ring.hi) == (1024, 3000)
    assert values(ring) == list(range(1024, 3000))
    assert ring.drop_oldest_chunk() > 0
    assert ring.drop_oldest_chunk() == 0  # the newest chunk stays
    assert values(ring) == list(range(2048, 3000))
    assert ring.read_range(0, 3000)["v"].tolist() == list(range(2048, 3000))
    fill(ring, 3000, 3100)
    assert values(ring) == list(range(2048, 3100))


def test_nbytes_is_reported_to_the_budget_and_returns_to_zero():
    seen = []
    ring = Ring(chunk_rows=1024, on_resize=seen.append)
    ring.append({"v": np.arange(5000), "t": np.array(["x"] * 5000, dtype=object)}, 5000, 7)
    assert sum(seen) == ring.nbytes > 5000 * 16  # int64 + pointers, and the sealed strings
    ring.drop_oldest_chunk()
    assert sum(seen) == ring.nbytes
    ring.reset()
    assert sum(seen) == ring.nbytes == 0


def test_batch_times_are_runs_and_row_times_an_array():
    ring = Ring(chunk_rows=1024)
    for batch in range(10):
        ring.append(ints(batch * 100, batch * 100 + 100), 100, 1_000 + batch)
    assert ring._chunks[0].times is None  # ten runs, not 1000 int64
    expected = [1_000 + n // 100 for n in range(1000)]
    assert ring.read_times(0).tolist() == expected
    ring.append_row({"v": 1000}, 5_000)
    assert ring._chunks[0].times is not None  # one time per row from now on
    assert ring.read_times(0).tolist() == [*expected, 5_000]
    ring.append(ints(1001, 1003), 2, np.array([6, 7]))
    assert ring.read_times(999).tolist() == [1_009, 5_000, 6, 7]
    assert ring.first_time() == 1_000


def test_wrap_around_keeps_the_newest_rows_in_order():
    ring = Ring(10)
    fill(ring, 0, 7)
    fill(ring, 7, 14)
    assert len(ring) == 10
    assert (ring.lo, ring.hi) == (4, 14)
    assert values(ring) == list(range(4, 14))


def test_many_uneven_appends_match_a_reference():
    ring = Ring(13)
    expected: list[int] = []
    sizes = [1, 5, 2, 13, 3, 0, 7, 1, 11, 4, 20, 6, 1, 1, 9]
    for size in sizes:
        fill(ring, len(expected), len(expected) + size)
        expected.extend(range(len(expected), len(expected) + size))
        assert values(ring) == expected[-13:]
        assert ring.hi == len(expected)
        assert ring.lo == max(0, len(expected) - 13)


@pytest.mark.parametrize("since", [0, 20, 21, 22, 25, 29, 30, 31, 34, 35, 100])
def test_read_since_returns_exactly_the_newer_rows(since):
    ring = Ring(10)
    fill(ring, 0, 20)
    fill(ring, 20, 27)  # now positions wrap: rows 25..26 sit before 20..24 in memory
    fill(ring, 27, 35)
    assert (ring.lo, ring.hi) == (25, 35)
    start, batch = ring.read(since)
    kept = list(range(25, 35))
    newer = [v for v in kept if v >= since]
    assert batch["v"].tolist() == newer
    assert start == (max(since, 25) if newer else 35)
    assert batch["v"].dtype == INT


@pytest.mark.parametrize(("limit", "expected"), [(0, []), (1, [34]), (3, [32, 33, 34])])
def test_read_limit_returns_the_newest_rows(limit, expected):
    ring = Ring(10)
    fill(ring, 0, 35)
    start, batch = ring.read(0, limit)
    assert batch["v"].tolist() == expected
    assert start == 35 - limit


def test_read_limit_larger_than_kept_rows():
    ring = Ring(10)
    fill(ring, 0, 4)
    start, batch = ring.read(0, 100)
    assert start == 0
    assert batch["v"].tolist() == [0, 1, 2, 3]
    start, batch = ring.read(2, 100)
    assert start == 2
    assert batch["v"].tolist() == [2, 3]


def test_batch_bigger_than_retain_keeps_its_tail():
    ring = Ring(10)
    fill(ring, 0, 25)
    assert (ring.lo, ring.hi) == (15, 25)
    assert values(ring) == list(range(15, 25))


def test_batch_bigger_than_retain_after_some_rows():
    ring = Ring(10)
    fill(ring, 0, 4)
    fill(ring, 4, 27)
    assert (ring.lo, ring.hi) == (17, 27)
    assert values(ring) == list(range(17, 27))
    fill(ring, 27, 30)
    assert values(ring) == list(range(20, 30))


def test_batch_bigger_than_capacity_while_growing():
    ring = Ring(3000)
    fill(ring, 0, 10)
    fill(ring, 10, 4010)
    assert ring.capacity == 3000
    assert values(ring) == list(range(1010, 4010))


def test_column_added_later_fills_earlier_rows_with_missing_values():
    ring = Ring(100)
    ring.append({"a": np.array([1.0, 2.0])}, 2)
    ring.append(
        normalize({"a": [3.0], "b": [4.0], "t": ["x"], "when": [np.datetime64("2024")]}), 1
    )
    _, batch = ring.read(0)
    assert list(batch) == ["a", "b", "t", "when"]
    assert batch["a"].tolist() == [1.0, 2.0, 3.0]
    np.testing.assert_array_equal(batch["b"], [np.nan, np.nan, 4.0])
    assert batch["t"].tolist() == [None, None, "x"]
    assert batch["when"].dtype == TIME
    assert np.isnat(batch["when"][:2]).all()
    assert batch["when"][2] == np.datetime64("2024-01-01")


def test_int_column_that_gains_missing_values_becomes_float():
    ring = Ring(100)
    ring.append({"step": np.array([1, 2], dtype=np.int64), "flag": np.array([True, False])}, 2)
    assert ring.dtypes == {"step": INT, "flag": BOOL}
    ring.append({"other": np.array([9.5])}, 1)
    assert ring.dtypes == {"step": FLOAT, "flag": FLOAT, "other": FLOAT}
    _, batch = ring.read(0)
    np.testing.assert_array_equal(batch["step"], [1.0, 2.0, np.nan])
    np.testing.assert_array_equal(batch["flag"], [1.0, 0.0, np.nan])
    np.testing.assert_array_equal(batch["other"], [np.nan, np.nan, 9.5])


def test_new_int_column_after_rows_exist_is_float():
    ring = Ring(100)
    fill(ring, 0, 2)
    ring.append({"v": np.array([2]), "n": np.array([7])}, 1)
    assert ring.dtypes["n"] == FLOAT
    np.testing.assert_array_equal(ring.read(0)[1]["n"], [np.nan, np.nan, 7.0])


def test_int_column_widens_to_float_when_floats_arrive():
    ring = Ring(100)
    fill(ring, 0, 3)
    ring.append({"v": np.array([0.5])}, 1)
    assert ring.dtypes == {"v": FLOAT}
    assert values(ring) == [0.0, 1.0, 2.0, 0.5]


def test_new_column_fills_missing_values_across_the_wrap():
    ring = Ring(5)
    fill(ring, 0, 8)  # positions wrap
    ring.append({"v": np.array([8]), "t": np.array(["x"], dtype=object)}, 1)
    _, batch = ring.read(0)
    assert batch["v"].dtype == INT
    assert batch["v"].tolist() == [4, 5, 6, 7, 8]
    assert batch["t"].tolist() == [None, None, None, None, "x"]


def test_append_zero_rows_changes_nothing():
    ring = Ring(10)
    fill(ring, 0, 3)
    ring.append({"v": np.array([], dtype=np.int64), "new": np.array([])}, 0)
    assert ring.dtypes == {"v": INT}
    assert (ring.lo, ring.hi) == (0, 3)


def test_reads_are_copies_and_writes_copy_in():
    ring = Ring(10)
    source = np.array([1.0, 2.0, 3.0])
    ring.append({"v": source}, 3)
    source[:] = -1
    _, batch = ring.read(0)
    batch["v"][:] = 99
    assert values(ring) == [1.0, 2.0, 3.0]


def test_reads_across_the_wrap_are_copies():
    ring = Ring(4)
    fill(ring, 0, 6)
    _, batch = ring.read(0)
    batch["v"][:] = 99
    assert values(ring) == [2, 3, 4, 5]


def test_append_row_fast_path_grows_and_wraps():
    ring = Ring(1500)
    ring.append(normalize({"i": 0, "x": 0.5, "t": "r0", "b": True}), 1)
    assert ring.capacity == 1024
    for n in range(1, 2000):
        ring.append_row({"i": n, "x": n + 0.5, "t": f"r{n}", "b": n % 2 == 0})
    assert ring.capacity <= 1500 + 1024
    assert (ring.lo, ring.hi) == (500, 2000)
    _, batch = ring.read(0)
    assert batch["i"].tolist() == list(range(500, 2000))
    assert batch["x"].tolist() == [n + 0.5 for n in range(500, 2000)]
    assert batch["t"].tolist() == [f"r{n}" for n in range(500, 2000)]
    assert batch["b"].tolist() == [n % 2 == 0 for n in range(500, 2000)]
    assert ring.dtypes == {"i": INT, "x": FLOAT, "t": TEXT, "b": BOOL}


def test_append_row_and_append_interleave():
    ring = Ring(6)
    fill(ring, 0, 2)
    ring.append_row({"v": 2})
    fill(ring, 3, 5)
    ring.append_row({"v": 5})
    ring.append_row({"v": 6})
    fill(ring, 7, 9)
    assert values(ring) == [3, 4, 5, 6, 7, 8]
    assert values(ring, since=6) == [6, 7, 8]


def test_reset_drops_rows_and_schema_but_keeps_counting():
    ring = Ring(10)
    fill(ring, 0, 5)
    ring.reset()
    assert len(ring) == 0
    assert ring.dtypes == {}
    assert (ring.lo, ring.hi) == (5, 5)
    ring.append({"t": np.array(["a", "b"], dtype=object)}, 2)
    assert (ring.lo, ring.hi) == (5, 7)
    start, batch = ring.read(0)
    assert start == 5
    assert list(batch) == ["t"]
    assert batch["t"].tolist() == ["a", "b"]


def test_conform_plans_dtypes_without_mutating():
    ring = Ring(10)
    ring.append({"i": np.array([1]), "t": np.array(["x"], dtype=object)}, 1)
    plan = ring.conform({"i": np.array([0.5]), "new": np.array([True])}, 1)
    assert plan == {"i": FLOAT, "t": TEXT, "new": FLOAT}
    assert ring.dtypes == {"i": INT, "t": TEXT}
    assert len(ring) == 1
    # an unmergeable column is reported as its stored dtype
    assert ring.conform({"t": np.array([1.0])}, 1)["t"] == TEXT


def test_missing_value_per_dtype():
    assert np.isnan(missing_value(FLOAT))
    assert np.isnan(missing_value(INT))
    assert missing_value(TEXT) is None
    assert np.isnat(missing_value(TIME))


def test_holds_missing_widens_ints_and_bools_only():
    assert holds_missing(INT) == FLOAT
    assert holds_missing(BOOL) == FLOAT
    assert holds_missing(FLOAT) == FLOAT
    assert holds_missing(TEXT) == TEXT
    assert holds_missing(TIME) == TIME


@pytest.mark.parametrize(
    ("stored", "incoming", "merged"),
    [
        (INT, INT, INT),
        (INT, FLOAT, FLOAT),
        (FLOAT, INT, FLOAT),
        (BOOL, INT, INT),
        (BOOL, FLOAT, FLOAT),
        (TEXT, TEXT, TEXT),
        (TIME, TIME, TIME),
        (TEXT, FLOAT, None),
        (FLOAT, TEXT, None),
        (TIME, INT, None),
        (INT, TIME, None),
        (BOOL, TEXT, None),
    ],
)
def test_merged_dtype(stored, incoming, merged):
    assert merged_dtype(stored, incoming) == merged


def test_rows_between_is_raw_rows_over_memory():
    from streamvis.core.lod import ARRIVAL

    ring = Ring(chunk_rows=1024)
    for start in range(0, 3000, 500):
        ring.append(ints(start, start + 500), 500, 10 + start)
    inside = ring.rows_between(100, 200, ["v", ARRIVAL, "nope"])
    assert inside["v"].tolist() == list(range(100, 200))
    assert np.shares_memory(inside["v"], ring._chunks[0].columns["v"])  # a view, no copy
    assert inside[ARRIVAL].tolist() == [10] * 100
    assert np.isnan(inside["nope"]).all()
    assert len(inside["nope"]) == 100
    across = ring.rows_between(1000, 2100, ["v"])
    assert across["v"].tolist() == list(range(1000, 2100))
    ring.drop_before(2048)
    assert ring.lo == 2048
    assert ring.rows_between(0, 2050, ["v"])["v"].tolist() == [2048, 2049]  # kept rows only


def test_a_chunk_leaves_only_once_the_store_has_its_rows():
    ring = Ring(chunk_rows=1024)
    fill(ring, 0, 1500)
    ring.mark(0, 7)  # one write, ticket 7, over both chunks
    fill(ring, 1500, 2100)
    ring.mark(1500, 8)
    assert [chunk.ticket for chunk in ring._chunks] == [7, 8, 8]
    assert ring.drop_oldest_chunk(settled=6) == 0  # the store is behind: keep it
    assert ring.lo == 0
    assert ring.drop_oldest_chunk(settled=7) > 0
    assert ring.lo == 1024
    assert ring.drop_oldest_chunk(settled=7) == 0  # holds rows of ticket 8
    assert ring.drop_oldest_chunk() > 0  # no store: nothing to wait for
