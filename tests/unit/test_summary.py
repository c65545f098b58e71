"""The level-of-detail summary (core/summary.py, core/summary_view.py) against brute force:
lod.py's `reference_view` over every raw row, and per pixel column min/max of the raw rows."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import streamvis.core.summary as summary_module
import streamvis.core.table as table_module
from streamvis.core.folder import FOLDER
from streamvis.core.hub import Hub
from streamvis.core.lod import ARRIVAL, Line, View, pixel_min_max, reference_view
from streamvis.core.summary import Summary


class Rows:
    """Raw rows held in plain arrays: the `RawRows` a summary reads (one range a call)."""

    def __init__(self, columns: dict[str, np.ndarray], first: int = 0) -> None:
        self.columns = columns
        self.first = first

    def rows_between(self, start: int, stop: int, columns: Sequence[str]) -> dict[str, np.ndarray]:
        n = len(self.columns[ARRIVAL])
        assert self.first <= start <= stop <= n, f"read [{start}, {stop}) of [{self.first}, {n})"
        return {name: self.columns[name][start:stop].copy() for name in columns}


class SpanRows(Rows):
    """The same, also reading many ranges in one call (as the table's memory does)."""

    def rows_in_spans(
        self, starts: np.ndarray, stops: np.ndarray, columns: Sequence[str]
    ) -> dict[str, np.ndarray]:
        index = np.concatenate([np.arange(a, b) for a, b in zip(starts, stops, strict=True)])
        return {name: self.columns[name][index] for name in columns}


def same_view(got: View, want: View, names: Sequence[str]) -> None:
    assert (got.rows, got.raw, got.width) == (want.rows, want.raw, want.width)
    np.testing.assert_array_equal([got.lo, got.hi], [want.lo, want.hi])
    for name in names:
        np.testing.assert_array_equal(got.lines[name].x, want.lines[name].x)
        np.testing.assert_array_equal(got.lines[name].y, want.lines[name].y)
        if not want.raw:
            mine, theirs = got.stats[name], want.stats[name]
            np.testing.assert_array_equal(mine.count, theirs.count)
            scale = 1.0 + float(np.abs(theirs.squares).max(initial=0.0))
            np.testing.assert_allclose(mine.total, theirs.total, rtol=1e-9, atol=1e-9 * scale)
            np.testing.assert_allclose(mine.squares, theirs.squares, rtol=1e-9, atol=1e-9 * scale)


def random_stream(
    rng: np.random.Generator, n: int, back: bool, float32: bool
) -> dict[str, np.ndarray]:
    """x a step that may go back (a resumed run) or be missing; y with NaN and inf; an int
    column; arrival times in bursts."""
    x = np.cumsum(rng.integers(0, 3, n)).astype(np.float64)
    if back:
        x[rng.random(n) < 0.02] -= 40
    x[rng.random(n) < 0.02] = np.nan
    y = rng.normal(size=n)
    y[rng.random(n) < 0.1] = np.nan
    y[rng.random(n) < 0.02] = np.inf
    y[rng.random(n) < 0.02] = -np.inf
    steps = rng.integers(-5, 5, n)
    arrival = np.cumsum(rng.integers(0, 2, n)) * 1_000 + 1_700_000_000_000_000_000
    return {
        "x": x,
        "y": y.astype(np.float32) if float32 else y,
        "n": steps,
        ARRIVAL: arrival.astype(np.int64),
    }


def fold_in_batches(summary: Summary, rows: Rows, sizes: list[int], n: int) -> None:
    """Append rows in batches of `sizes` (cycled), folding when a table would."""
    dtypes = {name: values.dtype for name, values in rows.columns.items() if name != ARRIVAL}
    written, turn = 0, 0
    while written < n:
        written = min(n, written + sizes[turn % len(sizes)])
        turn += 1
        if written >= summary.due:
            summary.catch_up(rows, rows.first, written, dtypes)


def ranges(rng: np.random.Generator, x: np.ndarray) -> list[tuple[float | None, float | None]]:
    finite = x[np.isfinite(x)]
    top = float(finite.max()) if len(finite) else 10.0
    found: list[tuple[float | None, float | None]] = [(None, None)]
    for _ in range(4):
        a, b = np.sort(rng.uniform(-5, top + 5, 2))
        found.append((float(a), float(b)))
    found.append((top / 2, top / 2))  # an empty or single-x range
    return found


@pytest.mark.parametrize("sizes", [[1], [63], [64], [65], [7, 300, 1, 64, 129]])
@pytest.mark.parametrize("reader", [Rows, SpanRows])
def test_views_equal_brute_force_for_every_batch_size(
    sizes: list[int], reader: type[Rows]
) -> None:
    rng = np.random.default_rng(len(sizes) * 100 + sizes[0])
    summary_module_fold = summary_module.FOLD_ROWS
    try:
        summary_module.FOLD_ROWS = 100  # fold often, so every batch size meets a bucket edge
        for trial in range(6):
            n = int(rng.integers(0, 4000))
            columns = random_stream(rng, n, back=trial % 2 == 1, float32=trial % 3 == 0)
            rows = reader(columns)
            summary = Summary()
            fold_in_batches(summary, rows, sizes, n)
            for x in ("x", ARRIVAL, "n"):
                for lo, hi in ranges(rng, np.asarray(columns[x], np.float64)):
                    width = int(rng.integers(1, 300))
                    limit = int(rng.integers(0, 200))
                    got = summary.view(rows, 0, n, x, ["y", "n"], lo, hi, width, limit)
                    want = reference_view(
                        columns[x], {"y": columns["y"], "n": columns["n"]}, lo, hi, width, limit
                    )
                    same_view(got, want, ["y", "n"])
    finally:
        summary_module.FOLD_ROWS = summary_module_fold


@settings(max_examples=40, deadline=None)
@given(
    seed=st.integers(0, 2**32 - 1),
    n=st.integers(0, 1500),
    width=st.integers(1, 64),
    limit=st.integers(0, 64),
    origin=st.integers(0, 200),
)
def test_any_origin_width_and_limit(
    seed: int, n: int, width: int, limit: int, origin: int
) -> None:
    """A summary may start at any seq (after a clear the numbering goes on)."""
    rng = np.random.default_rng(seed)
    columns = random_stream(rng, n, back=bool(seed % 2), float32=False)
    padded = {name: np.concatenate([np.zeros(origin, v.dtype), v]) for name, v in columns.items()}
    rows = SpanRows(padded, first=origin)
    summary = Summary(origin)
    summary.catch_up(rows, origin, origin + n, {"x": np.dtype("f8"), "y": np.dtype("f8")})
    for lo, hi in ranges(rng, columns["x"]):
        got = summary.view(rows, origin, origin + n, "x", ["y"], lo, hi, width, limit)
        same_view(
            got, reference_view(columns["x"], {"y": columns["y"]}, lo, hi, width, limit), ["y"]
        )


def test_views_after_the_oldest_rows_can_no_longer_be_read(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Memory drops the oldest rows as new ones come: a view is that of the rows still
    readable, from any first row (x not decreasing: then running x is the same)."""
    monkeypatch.setattr(summary_module, "FOLD_ROWS", 200)
    rng = np.random.default_rng(11)
    for _ in range(15):
        n = int(rng.integers(500, 5000))
        x = np.cumsum(rng.integers(0, 3, n)).astype(np.float64)
        y = rng.normal(size=n)
        y[rng.random(n) < 0.1] = np.nan
        rows = SpanRows({"x": x, "y": y, ARRIVAL: np.arange(n)})
        summary = Summary()
        written = first = 0
        while written < n:
            written = min(n, written + int(rng.integers(1, 400)))
            oldest = written - int(rng.integers(300, 3000))
            if rng.random() < 0.5:  # a head of one row before the first whole bucket
                oldest = oldest // 64 * 64 - 1
            first = rows.first = max(first, oldest)
            if written >= summary.due:
                summary.catch_up(rows, first, written, {"x": x.dtype, "y": y.dtype})
        for lo, hi in ranges(rng, x[first:]):
            width, limit = int(rng.integers(1, 100)), int(rng.integers(0, 50))
            got = summary.view(rows, first, n, "x", ["y"], lo, hi, width, limit)
            want = reference_view(x[first:], {"y": y[first:]}, lo, hi, width, limit)
            same_view(got, want, ["y"])


def test_pixel_min_max_equal_the_raw_rows_at_every_level() -> None:
    """300,000 rows (levels of 64 to 262,144 rows): per pixel column, the view's min and max
    are those of the raw rows, NaN and inf never one of them."""
    rng = np.random.default_rng(7)
    n = 300_000
    x = np.arange(n, dtype=np.float64)
    y = np.cumsum(rng.normal(size=n))
    y[rng.random(n) < 0.05] = np.nan
    y[rng.random(n) < 0.01] = np.inf
    rows = SpanRows({"x": x, "y": y, ARRIVAL: np.zeros(n, np.int64)})
    summary = Summary()
    summary.catch_up(rows, 0, n, {"x": np.dtype("f8"), "y": np.dtype("f8")})
    assert len(summary.levels) >= 5
    raw = Line(x, np.where(np.isfinite(y), y, np.nan))
    for lo, hi, width in [(0, n - 1, 1600), (1234.5, 250_000.0, 997), (10, 70_000, 3)]:
        view = summary.view(rows, 0, n, "x", ["y"], lo, hi, width, raw_limit=100)
        assert not view.raw
        assert view.drawn <= 4 * width + 2
        got, want = (
            pixel_min_max(view.lines["y"], lo, hi, width),
            pixel_min_max(raw, lo, hi, width),
        )
        np.testing.assert_array_equal(got[0], want[0])
        np.testing.assert_array_equal(got[1], want[1])
        inside = (x >= lo) & (x <= hi) & np.isfinite(y)
        assert view.stats["y"].count.sum() == inside.sum()


@pytest.fixture
def eager(monkeypatch: pytest.MonkeyPatch) -> None:
    """Tables fold every 128 rows and answer every view from the summary."""
    monkeypatch.setattr(summary_module, "FOLD_ROWS", 128)
    monkeypatch.setattr(table_module, "_SMALL", 0)


def kept_view(hub: Hub, stream: str, x: str, columns: list[str], *args: object) -> View:
    """reference_view over the rows the table keeps now."""
    table = hub.table("default", stream)
    assert table is not None
    snapshot = table.snapshot()
    xs = snapshot.times if x == ARRIVAL else snapshot.batch[x]
    found = {name: snapshot.batch[name] for name in columns if name in snapshot.batch}
    return reference_view(xs, found, *args)  # type: ignore[arg-type]


def table_view(hub: Hub, stream: str, x: str, columns: list[str], *args: object) -> View:
    table = hub.table("default", stream)
    assert table is not None
    return table.view(x, columns, *args)  # type: ignore[arg-type]


@pytest.mark.usefixtures("eager")
def test_single_rows_through_the_fast_path() -> None:
    hub = Hub()
    rng = np.random.default_rng(3)
    hub.stream("s", {"step": 0, "loss": 0.5})
    table = hub.table("default", "s")
    assert table is not None
    for step in range(1, 1500):
        value = float("nan") if step % 17 == 0 else float(rng.normal())
        assert table.try_append_row({"step": step - (step % 500 == 0) * 300, "loss": value}) >= 0
    assert FOLDER.wait_idle(120)  # the background folder (core/folder.py) is done
    assert table._summary.folded >= 1280  # folded as rows came, not only when viewed
    for x in ("step", ARRIVAL):
        for lo, hi in [(None, None), (10.0, 900.0), (1000.0, 1000.0)]:
            args = (lo, hi, 50, 40)
            got = table_view(hub, "s", x, ["loss", "missing"], *args)
            same_view(got, kept_view(hub, "s", x, ["loss"], *args), ["loss"])
            assert "missing" not in got.lines


@pytest.mark.usefixtures("eager")
def test_replace_clear_and_a_new_column() -> None:
    hub = Hub()
    rng = np.random.default_rng(4)
    hub.stream("s", {"step": np.arange(1000), "a": rng.normal(size=1000)})
    hub.stream("s", {"step": np.arange(1000, 1500), "a": rng.normal(size=500), "b": np.ones(500)})
    args = (100.0, 1400.0, 80, 30)
    same_view(
        table_view(hub, "s", "step", ["a", "b"], *args),
        kept_view(hub, "s", "step", ["a", "b"], *args),
        ["a", "b"],
    )
    hub.stream("s", {"step": np.arange(700), "c": rng.normal(size=700)}, mode="replace")
    args = (None, None, 64, 10)
    view = table_view(hub, "s", "step", ["a", "c"], *args)
    assert set(view.lines) == {"c"}
    same_view(view, kept_view(hub, "s", "step", ["c"], *args), ["c"])
    hub.clear("s")
    assert table_view(hub, "s", "step", ["c"], *args).rows == 0
    hub.stream("s", {"step": np.arange(300), "c": np.arange(300.0)})
    same_view(
        table_view(hub, "s", "step", ["c"], *args),
        kept_view(hub, "s", "step", ["c"], *args),
        ["c"],
    )


@pytest.mark.usefixtures("eager")
def test_views_follow_the_rows_memory_keeps() -> None:
    """A small `retain`: the oldest rows are overwritten; the view is that of the kept rows."""
    hub = Hub(retain=1500)
    rng = np.random.default_rng(5)
    for start in range(0, 30_000, 250):
        hub.stream("s", {"step": np.arange(start, start + 250), "y": rng.normal(size=250)})
    table = hub.table("default", "s")
    assert table is not None
    assert table.first_seq == 28_500
    for lo, hi in [(None, None), (28_000.0, 29_200.0), (29_555.0, 29_999.0)]:
        args = (lo, hi, 30, 20)
        same_view(
            table_view(hub, "s", "step", ["y"], *args),
            kept_view(hub, "s", "step", ["y"], *args),
            ["y"],
        )
    assert table._summary.nbytes < 8_000  # buckets of overwritten rows are let go


@pytest.mark.usefixtures("eager")
def test_rows_the_store_refused_become_missing() -> None:
    hub = Hub()
    hub.stream("s", {"step": np.arange(2000), "y": np.arange(2000) % 7 - 3})
    table = hub.table("default", "s")
    assert table is not None
    table.lose(100, 900)
    args = (None, None, 40, 10)
    view = table_view(hub, "s", "step", ["y"], *args)
    same_view(view, kept_view(hub, "s", "step", ["y"], *args), ["y"])
    assert view.stats["y"].count.sum() == 1100


@pytest.mark.usefixtures("eager")
def test_restore_numbers_rows_from_the_stored_seq() -> None:
    hub = Hub()
    table = hub.restore_table("default", "s", 0, 0)
    batches = [
        (
            {"step": np.arange(a, a + 400), "y": np.sin(np.arange(a, a + 400))},
            np.full(400, a, np.int64),
        )
        for a in range(0, 2000, 400)
    ]
    table.restore(12_345, batches, "append", 3)  # type: ignore[arg-type]
    assert table._summary.folded == 12_345 + 2000 - (12_345 + 2000) % 64
    for x in ("step", ARRIVAL):
        args = (None, None, 33, 5)
        same_view(
            table_view(hub, "s", x, ["y"], *args), kept_view(hub, "s", x, ["y"], *args), ["y"]
        )


def test_the_summary_is_small() -> None:
    """About a byte a row per numeric column (bytes per row: module docstring)."""
    n = 64 * 8**4
    rows = SpanRows({"x": np.arange(n, dtype=np.float64), ARRIVAL: np.zeros(n, np.int64)})
    summary = Summary()
    summary.catch_up(rows, 0, n, {"x": np.dtype("f8")})
    assert summary.nbytes / n < 2 * (0.84 + 0.125)


def test_a_table_as_shipped() -> None:
    """Default settings: 70,000 rows in 1,000-row batches are folded once in the background
    (asked by the write that passes 65,536 rows), the rest before the view; the view is the
    brute-force one."""
    hub = Hub()
    rng = np.random.default_rng(12)
    for first in range(0, 70_000, 1_000):
        loss = rng.normal(size=1_000)
        loss[rng.random(1_000) < 0.05] = np.nan
        hub.stream("s", {"step": np.arange(first, first + 1_000), "loss": loss})
        table = hub.table("default", "s")
        assert table is not None
        if first + 1_000 < 65_536:
            assert table._summary.folded == 0
    assert FOLDER.wait_idle(120)
    assert 66_000 // 64 * 64 <= table._summary.folded <= 70_000  # up to the rows it saw
    for lo, hi in [(None, None), (123.0, 69_000.5), (60_000.0, 61_000.0)]:
        args = (lo, hi, 1600, 6400)
        same_view(
            table_view(hub, "s", "step", ["loss"], *args),
            kept_view(hub, "s", "step", ["loss"], *args),
            ["loss"],
        )
    assert table._summary.folded == 70_000 // 64 * 64
