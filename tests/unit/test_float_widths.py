"""float32 columns in the hub: they stay float32, a float64 value widens them (the rule in
README.md, "What you can pass to `sv.stream`"), the scalar-row fast path keeps both widths
apart, and a million float32 rows hold half the column bytes of float64 ones."""

from __future__ import annotations

import gc
import tracemalloc
from pathlib import Path
from typing import Any

import numpy as np
import pytest

import streamvis.core._ring as _ring
import streamvis.core.hub as hub_module
from streamvis.core.folder import FOLDER
from streamvis.core.hub import Hub
from streamvis.core.lod import ARRIVAL
from streamvis.errors import StreamError

F32 = np.dtype(np.float32)
F64 = np.dtype(np.float64)
ROWS32 = np.array([0.1, -2.5], dtype=np.float32)  # 0.1 is not exact: its float32 must survive


def column_after(first: Any, second: Any) -> np.ndarray:
    """Column `v` of a stream written `first` and then `second`."""
    hub = Hub()
    hub.stream("s", first)
    hub.stream("s", second)
    return hub.read("s")["v"]


@pytest.mark.parametrize(
    ("first", "second", "dtype"),
    [
        ({"v": ROWS32}, {"v": ROWS32}, F32),
        ({"v": ROWS32}, {"v": np.float32(3)}, F32),
        ({"v": ROWS32}, {"v": [np.float16(1), np.float16(2)]}, F32),  # float16 fits float32
        ({"v": ROWS32}, {"v": [True, False]}, F32),  # as np.result_type(float32, bool)
        ({"v": [True, False]}, {"v": ROWS32}, F32),
        ({"v": ROWS32}, {"v": np.array([0.5, 0.25])}, F64),  # float64 values widen the column
        ({"v": ROWS32}, {"v": 0.5}, F64),  # a Python float is a float64 value
        ({"v": ROWS32}, {"v": 7}, F64),  # int64 with float32 is float64, as numpy has it
        ({"v": [1, 2]}, {"v": ROWS32}, F64),
        ({"v": [0.5, 0.25]}, {"v": ROWS32}, F64),  # a float64 column never narrows
    ],
)
def test_the_widening_rule(first: Any, second: Any, dtype: np.dtype) -> None:
    column = column_after(first, second)
    assert column.dtype == dtype
    if isinstance(first["v"], np.ndarray) and first["v"].dtype == F32:
        # rows stored before a widening keep their float32 values exactly
        assert column[:2].tolist() == ROWS32.astype(F64).tolist()


@pytest.mark.parametrize("missing", [{"other": 1}, {"v": None, "other": 1}, [{"other": 1}]])
def test_a_float32_column_missing_from_a_batch_stays_float32_with_nan(missing: Any) -> None:
    column = column_after({"v": ROWS32, "other": [1, 2]}, missing)
    assert column.dtype == F32
    assert column[:2].tobytes() == ROWS32.tobytes()
    assert np.isnan(column[2])


def test_text_into_a_float32_column_is_refused_naming_it() -> None:
    hub = Hub()
    hub.stream("s", {"v": ROWS32})
    with pytest.raises(StreamError, match=r"column 'v': expected float32, got text") as caught:
        hub.stream("s", {"v": "high"})
    assert caught.value.column == "v"
    assert hub.read("s")["v"].tobytes() == ROWS32.tobytes()  # nothing changed
    assert hub.table("default", "s").describe()["columns"] == {"v": "float32"}


def refuse_normalize(*args: Any, **kwargs: Any) -> Any:
    raise AssertionError("the row went through normalize, not the fast path")


def test_fast_path_takes_np_float32_rows_but_not_python_floats(monkeypatch) -> None:
    hub = Hub()
    hub.stream("s", {"step": [0], "v": ROWS32[:1]})
    hub.stream("d", {"step": 0, "v": 0.5})
    with monkeypatch.context() as patched:
        patched.setattr(hub_module, "normalize", refuse_normalize)
        for step in range(1, 4):
            hub.stream("s", {"step": step, "v": np.float32(step / 10)})  # float32 column
            hub.stream("d", {"step": step, "v": step / 10})  # float64 column, as before
            hub.stream("d", {"step": step, "v": step})  # an int into a float64 column
        # a Python float does not fit a float32 column's fast path...
        with pytest.raises(AssertionError, match="not the fast path"):
            hub.stream("s", {"step": 4, "v": 0.4})
    assert hub.read("s")["v"].dtype == F32
    assert hub.read("d")["v"].dtype == F64
    # ...the general path takes it and widens the column
    hub.stream("s", {"step": 4, "v": 0.4})
    column = hub.read("s")["v"]
    assert column.dtype == F64
    expected = [*np.array([0.1, 0.1, 0.2, 0.3], dtype=F32).astype(F64).tolist(), 0.4]
    assert column.tolist() == expected


def test_a_view_of_float32_columns_matches_their_values() -> None:
    hub = Hub()
    y = np.linspace(-1, 1, 5000, dtype=np.float32)
    hub.stream("s", {"x": np.arange(5000, dtype=np.float32), "y": y})
    view = hub.table("default", "s").view("x", ["y"], None, None, 100, 1000)
    line = view.lines["y"]
    assert np.nanmin(line.y) == float(y.min())
    assert np.nanmax(line.y) == float(y.max())
    arrival = hub.table("default", "s").view(ARRIVAL, ["y"], None, None, 100, 1000)
    assert arrival.next_seq == 5000


def ring_bytes(columns: dict[str, np.dtype], rows: int) -> int:
    """Bytes the stream's rows hold in memory (allocations made in core/_ring.py and still
    live) after one write of `rows` rows of these columns; summaries and caches not counted."""
    gc.collect()
    tracemalloc.start()
    try:
        hub = Hub()
        hub.stream("s", {name: np.zeros(rows, dtype=dtype) for name, dtype in columns.items()})
        assert FOLDER.wait_idle(120)  # a background fold's reads of the ring are let go
        gc.collect()
        ring = tracemalloc.Filter(True, str(Path(_ring.__file__)))
        held = tracemalloc.take_snapshot().filter_traces([ring])
        assert hub.table("default", "s").row_count == rows
        return sum(trace.size for trace in held.traces)
    finally:
        tracemalloc.stop()


def test_a_million_float32_rows_hold_four_bytes_of_column_each() -> None:
    """Measured as what one more column costs in the ring, so arrival times and the ring's
    own bookkeeping (whatever they are) cancel out."""
    rows = 1_000_000
    base = ring_bytes({"a": F32}, rows)
    float32_column = ring_bytes({"a": F32, "b": F32}, rows) - base
    float64_column = ring_bytes({"a": F32, "b": F64}, rows) - base
    assert 0.95 * 4 * rows < float32_column < 1.1 * 4 * rows, float32_column
    assert 0.95 * 8 * rows < float64_column < 1.1 * 8 * rows, float64_column
