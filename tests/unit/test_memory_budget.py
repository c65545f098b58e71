"""The hub's byte budget: oldest chunks go first across streams, the budget holds after many
writes, dropped rows are read back from a real SQLite store, the settings and their errors,
and a replay that loads only what the budget holds."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from streamvis.cli import build_parser, main, panel_serve_command
from streamvis.core import _ring
from streamvis.core.folder import FOLDER
from streamvis.core.hub import Hub
from streamvis.core.lod import ARRIVAL
from streamvis.core.memory import (
    DEFAULT_CAP,
    configured_memory,
    default_memory,
    parse_memory,
    physical_memory,
)
from streamvis.errors import StreamError
from streamvis.server.startup import parse_args
from streamvis.store import configured_memory_of, hub_from_store, open_store
from streamvis.store.replay import first_rows_to_load

CHUNK = 1024
CHUNK_BYTES = CHUNK * 16  # an int64 step and a float64 y per row (batch times are runs)


@pytest.fixture(autouse=True)
def small_chunks(monkeypatch: pytest.MonkeyPatch) -> None:
    """Chunks of 1024 rows, so a few thousand rows exercise eviction."""
    monkeypatch.setattr(_ring, "CHUNK_ROWS", CHUNK)
    monkeypatch.delenv("STREAMVIS_MEMORY", raising=False)


def steps(start: int, stop: int) -> dict[str, np.ndarray]:
    return {"step": np.arange(start, stop), "y": np.arange(start, stop) * 0.5}


def write(hub: Hub, name: str, start: int, stop: int, batch: int = CHUNK) -> None:
    for first in range(start, stop, batch):
        hub.write(name, steps(first, min(first + batch, stop)))


def first_seq(hub: Hub, name: str) -> int:
    table = hub.table("default", name)
    assert table is not None
    return table.first_seq


def ring_bytes(hub: Hub) -> int:
    return sum(table._ring.nbytes for table in hub.tables())


# ------------------------------------------------------------------------------- eviction
def test_the_oldest_chunks_go_first_across_streams() -> None:
    """Rows and each stream's level-of-detail summary share the budget (the summary is about
    a tenth of these rows' bytes), so the exact chunk counts below leave room for it."""
    hub = Hub(memory=10 * CHUNK_BYTES + 4096)
    write(hub, "a", 0, 4 * CHUNK)
    write(hub, "b", 0, 4 * CHUNK)
    assert (first_seq(hub, "a"), first_seq(hub, "b")) == (0, 0)
    write(hub, "b", 4 * CHUNK, 8 * CHUNK)  # over: a's oldest go, b's stay
    assert first_seq(hub, "a") >= 2 * CHUNK
    assert first_seq(hub, "b") == 0
    write(hub, "a", 4 * CHUNK, 8 * CHUNK)  # a's older chunks, then b's oldest
    assert first_seq(hub, "a") >= 4 * CHUNK
    assert first_seq(hub, "b") >= 2 * CHUNK
    assert hub.nbytes <= hub.memory
    for name in ("a", "b"):
        kept = first_seq(hub, name)
        assert hub.read(name)["step"].tolist() == list(range(kept, 8 * CHUNK))


def test_the_newest_chunk_of_every_stream_stays() -> None:
    hub = Hub(memory=1)
    for name in ("a", "b", "c"):
        write(hub, name, 0, 5 * CHUNK + 10, batch=700)
    for name in ("a", "b", "c"):
        assert first_seq(hub, name) == 5 * CHUNK  # its newest chunk
        assert hub.read(name)["step"].tolist() == list(range(5 * CHUNK, 5 * CHUNK + 10))


def test_the_budget_holds_after_many_writes() -> None:
    budget = 40 * CHUNK_BYTES
    hub = Hub(memory=budget)
    rng = np.random.default_rng(12)
    written = {"a": 0, "b": 0, "c": 0}
    for _ in range(300):
        name = str(rng.choice(list(written)))
        rows = int(rng.integers(1, 3000))
        hub.write(name, steps(written[name], written[name] + rows))
        written[name] += rows
        assert hub.budget.used == ring_bytes(hub)  # every change was counted
        assert FOLDER.wait_idle(120)  # a summary grown in the background is counted too
        assert hub.nbytes <= budget
    for name, rows in written.items():
        table = hub.table("default", name)
        assert table is not None
        assert table.next_seq == rows
        kept = hub.read(name)["step"]
        assert kept.tolist() == list(range(table.first_seq, rows))  # in order, no holes
    assert hub.nbytes > budget - 3 * 2 * CHUNK_BYTES  # dropped no more than needed


def test_single_row_writes_respect_the_budget_too() -> None:
    hub = Hub(memory=4 * CHUNK * 24)
    for step in range(20 * CHUNK):
        hub.stream("s", {"step": step, "y": step * 0.5})
    assert hub.nbytes <= hub.memory
    assert hub.read("s")["step"].tolist() == list(range(first_seq(hub, "s"), 20 * CHUNK))


def test_a_lower_budget_applies_at_once_and_clear_frees_memory() -> None:
    hub = Hub(memory="1GiB")
    write(hub, "a", 0, 10 * CHUNK)
    assert first_seq(hub, "a") == 0
    assert hub.set_memory(3 * CHUNK_BYTES + 1024) == 3 * CHUNK_BYTES + 1024
    assert first_seq(hub, "a") >= 7 * CHUNK  # the summary's bytes count too
    assert hub.nbytes <= hub.memory
    hub.clear("a")
    assert hub.budget.used == hub.nbytes == 0


def test_the_row_cap_still_caps_rows_when_asked() -> None:
    hub = Hub(retain=100)
    write(hub, "a", 0, 5000, batch=333)
    assert hub.read("a")["step"].tolist() == list(range(4900, 5000))
    assert Hub().retain is None  # no row cap by default: the byte budget decides


def test_describe_shows_bytes_kept() -> None:
    hub = Hub()
    write(hub, "a", 0, 3 * CHUNK)
    table = hub.table("default", "a")
    assert table is not None
    assert table.describe()["bytes"] == table.nbytes == hub.budget.used
    assert hub.describe_memory() == {"budget": hub.memory, "bytes": hub.nbytes, "retain": None}


# ------------------------------------------------------------------------- rows_between
def test_rows_between_reads_memory() -> None:
    hub = Hub()
    write(hub, "a", 0, 3000, batch=500)
    table = hub.table("default", "a")
    assert table is not None
    rows = table.rows_between(1000, 2100, ["step", "y", ARRIVAL, "nope"])
    assert sorted(rows) == sorted(["step", "y", ARRIVAL])
    assert rows["step"].tolist() == list(range(1000, 2100))
    assert rows["y"].tolist() == [s * 0.5 for s in range(1000, 2100)]
    assert rows[ARRIVAL].dtype == np.int64
    assert (np.diff(rows[ARRIVAL]) >= 0).all()
    assert table.rows_between(2900, 5000, ["step"])["step"].tolist() == list(range(2900, 3000))


def test_rows_dropped_without_a_store_come_back_missing() -> None:
    hub = Hub(memory=2 * CHUNK_BYTES)
    write(hub, "a", 0, 6 * CHUNK)
    table = hub.table("default", "a")
    assert table is not None
    assert table.first_seq > CHUNK
    rows = table.rows_between(CHUNK - 2, table.first_seq + 2, ["step"])
    assert len(rows["step"]) == table.first_seq + 4 - CHUNK
    assert np.isnan(rows["step"][:-2]).all()  # gone: no store holds them
    assert rows["step"][-2:].tolist() == [table.first_seq, table.first_seq + 1]


@pytest.fixture
def stored_hub(tmp_path: Path) -> Iterator[tuple[Hub, Path]]:
    """A hub on a real SQLite file with room for four chunks in memory."""
    path = tmp_path / "budget.db"
    store = open_store(path)
    hub = Hub(store=store, memory=4 * CHUNK_BYTES + 4096)
    yield hub, path
    hub.store.close()  # type: ignore[union-attr]


def test_rows_dropped_from_memory_are_read_back_from_the_store(stored_hub) -> None:
    hub, _ = stored_hub
    total = 30 * CHUNK + 123
    arrivals = []
    for first in range(0, total, 2000):
        hub.write("a", steps(first, min(first + 2000, total)))
    assert hub.flush()
    table = hub.table("default", "a")
    assert table is not None
    assert table.first_seq > 20 * CHUNK  # most rows are only in the store now
    rows = table.rows_between(0, total, ["step", "y", ARRIVAL])
    assert rows["step"].dtype == np.int64  # nothing missing: the dtype stays
    assert rows["step"].tolist() == list(range(total))
    np.testing.assert_array_equal(rows["y"], np.arange(total) * 0.5)
    arrivals = rows[ARRIVAL]
    assert (np.diff(arrivals) >= 0).all()
    assert (arrivals[:2000] == arrivals[0]).all()  # one batch, one arrival time
    middle = table.rows_between(5000, 5100, ["y"])["y"]
    np.testing.assert_array_equal(middle, np.arange(5000, 5100) * 0.5)
    with table._lock:  # the summary reads rows while it holds the table's lock
        locked = table.rows_between_locked(0, total, ["step"])["step"]
    assert locked.tolist() == list(range(total))


def test_nearby_reads_from_the_store_are_served_by_the_cache(stored_hub) -> None:
    hub, _ = stored_hub
    write(hub, "a", 0, 100 * CHUNK, batch=8192)  # stored as segments of <= 65,536 rows
    assert hub.flush()
    table = hub.table("default", "a")
    assert table is not None
    assert table.rows_between(8000, 9000, ["step"])["step"].tolist() == list(range(8000, 9000))
    history = table._history
    assert history is not None
    assert history.reads == 1
    for start in range(8000, 8900, 50):  # pixel column edges of a pan: no new store read
        assert table.rows_between(start, start + 7, ["step"])["step"][0] == start
    assert history.reads == 1
    # a row of another segment costs one more read, unless the store's compaction (which
    # runs between commits, so its timing varies) merged it into the segment already read
    cached = history._covering(90_000, 90_010) is not None
    assert table.rows_between(90_000, 90_010, ["step"])["step"][-1] == 90_009
    assert history.reads == (1 if cached else 2)


# ------------------------------------------------------------------------------ replay
def test_replay_loads_only_what_the_budget_holds(tmp_path: Path) -> None:
    path = tmp_path / "replay.db"
    first = Hub(store=open_store(path), memory="1GiB")
    write(first, "a", 0, 30 * CHUNK, batch=3000)
    write(first, "b", 0, 10 * CHUNK, batch=3000)
    assert first.flush()
    first.store.close()  # type: ignore[union-attr]
    budget = 20 * CHUNK_BYTES  # the summaries of all 40 chunks stay, the rows share the rest
    fed = []
    again = hub_from_store(open_store(path), memory=budget, progress=fed.append)
    try:
        assert sum(fed) == 40 * CHUNK  # every stored row went through Table.restore
        a, b = again.table("default", "a"), again.table("default", "b")
        assert a is not None
        assert b is not None
        assert (a.next_seq, b.next_seq) == (30 * CHUNK, 10 * CHUNK)  # numbering goes on
        assert a.first_seq > 0
        assert b.first_seq > 0
        assert again.nbytes <= budget
        assert a.row_count > b.row_count  # the same share of each stream
        assert a.rows_between(0, 50, ["step"])["step"].tolist() == list(range(50))  # store
        assert again.read("a")["step"].tolist() == list(range(a.first_seq, 30 * CHUNK))
        write(again, "a", 30 * CHUNK, 31 * CHUNK)
        assert again.read("a")["step"][-1] == 31 * CHUNK - 1
    finally:
        again.store.close()  # type: ignore[union-attr]


def test_first_rows_to_load_share_the_budget() -> None:
    from streamvis.core.storage import StreamRecord

    def record(id_: int, rows: int, columns: dict[str, str]) -> StreamRecord:
        return StreamRecord(id_, "r", f"s{id_}", "append", 0, columns, 0, rows, rows, 0, 0, 0)

    numbers = {"step": "i8", "y": "f8"}
    records = [record(1, 100_000, numbers), record(2, 10_000, numbers)]
    assert first_rows_to_load(records, 10**9) == {1: 0, 2: 0}  # all fit
    starts = first_rows_to_load(records, 110_000 * 24 // 2)
    assert 100_000 - starts[1] == pytest.approx(45_000, rel=0.01)  # 0.9 x half of each
    assert 10_000 - starts[2] == pytest.approx(4_500, rel=0.01)
    assert first_rows_to_load(records, 1) == {1: 100_000 - 1024, 2: 10_000 - 1024}
    assert first_rows_to_load(records, 10**9, retain=50) == {1: 99_950, 2: 9_950}


# ---------------------------------------------------------------------------- settings
@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("512MB", 512 * 10**6),
        ("8GiB", 8 * 2**30),
        ("8gb", 8 * 10**9),
        ("1.5G", int(1.5 * 2**30)),
        (" 100000 ", 100_000),
        ("64 KiB", 65_536),
        (4096, 4096),
        (np.int64(7), 7),
    ],
)
def test_memory_sizes_parse(text, expected) -> None:
    assert parse_memory(text) == expected


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("12XB", r"--memory: unknown unit 'XB' in '12XB'"),
        ("lots", r"--memory must be a number of bytes or a size like '512MB'"),
        ("", r"--memory must be a number of bytes"),
        (0, r"--memory must be at least 1 byte"),
        (-5, r"--memory must be at least 1 byte"),
        (True, r"--memory must be a number of bytes"),
        (2.5, r"--memory must be a number of bytes"),
    ],
)
def test_bad_memory_sizes_name_the_option(value, message) -> None:
    with pytest.raises(StreamError, match=message):
        parse_memory(value, "--memory")


def test_the_default_is_the_smaller_of_4_gib_and_a_quarter_of_memory() -> None:
    physical = physical_memory()
    assert physical is not None  # Linux says
    assert default_memory() == min(DEFAULT_CAP, physical // 4)
    assert Hub().memory == default_memory()


def test_the_environment_and_the_option_set_the_budget(monkeypatch) -> None:
    monkeypatch.setenv("STREAMVIS_MEMORY", "256MiB")
    assert configured_memory() == 256 * 2**20
    assert Hub().memory == 256 * 2**20
    assert Hub(memory=1000).memory == 1000  # an argument wins
    assert configured_memory_of(["app.py", "--args", "--memory", "2GB"]) == 2 * 10**9
    assert configured_memory_of(["app.py", "--args", "--memory=3GB"]) == 3 * 10**9
    assert configured_memory_of(["app.py", "--args"]) == 256 * 2**20
    monkeypatch.setenv("STREAMVIS_MEMORY", "much")
    with pytest.raises(StreamError, match="STREAMVIS_MEMORY must be a number of bytes"):
        Hub()
    with pytest.raises(StreamError, match=r"Hub\(memory=\.\.\.\): unknown unit 'XB'"):
        Hub(memory="3XB")


def test_serve_takes_memory_and_passes_it_to_the_app(capsys, monkeypatch) -> None:
    args = build_parser().parse_args(["serve", "layout.yaml", "--memory", "8GB"])
    command = panel_serve_command(args, environ={})
    after = command[command.index("--args") :]
    assert after[after.index("--memory") + 1] == "8GB"
    assert parse_args(after[1:]).memory == "8GB"  # the app accepts what serve passes
    assert main(["serve", "--memory", "8 bananas", "--store", "none"]) == 2
    assert capsys.readouterr().err == (
        "streamvis: --memory: unknown unit 'bananas' in '8 bananas'; use B, kB, MB, GB, TB "
        "(powers of 1000) or KiB, MiB, GiB, TiB (powers of 1024)\n"
    )
    monkeypatch.setenv("STREAMVIS_MEMORY", "-1")
    assert main(["serve", "--store", "none"]) == 2  # refused before any server starts
    assert "STREAMVIS_MEMORY must be a number of bytes" in capsys.readouterr().err


def test_rows_read_back_before_a_clear_are_not_served_after_it(stored_hub) -> None:
    hub, _ = stored_hub
    write(hub, "a", 0, 10 * CHUNK, batch=2048)
    assert hub.flush()
    table = hub.table("default", "a")
    assert table is not None
    assert table.rows_between(0, 10, ["step"])["step"].tolist() == list(range(10))  # cached
    hub.clear("a")
    assert hub.flush()
    assert table.rows_between(0, 10, ["step"]) == {}  # gone with the clear, schema too
    write(hub, "a", 10 * CHUNK, 11 * CHUNK)
    assert np.isnan(table.rows_between(0, 10, ["step"])["step"]).all()  # missing, not cached


def test_views_over_history_memory_dropped_are_exact(tmp_path: Path) -> None:
    """With a store, a view covers the whole run: the summary keeps every row's buckets and
    the raw rows at pixel column edges come back from the SQLite file."""
    from streamvis.core.lod import Line, pixel_min_max, reference_view

    hub = Hub(store=open_store(tmp_path / "views.db"), memory=6 * CHUNK_BYTES)
    rows = 40 * CHUNK
    x = np.arange(rows)
    y = np.sin(x / 300.0) + (x % 11) / 20.0
    y[::97] = np.nan
    for first in range(0, rows, 3000):
        hub.write("s", {"step": x[first : first + 3000], "y": y[first : first + 3000]})
    assert hub.flush()
    hub.keep_within_budget()
    table = hub.table("default", "s")
    assert table is not None
    assert table.first_seq > rows // 2  # most rows are only in the store now
    rng = np.random.default_rng(3)
    try:
        for lo, hi, width in [(None, None, 300), (10.0, 5000.0, 200), (100.0, 30000.0, 500)]:
            got = table.view("step", ["y"], lo, hi, width, 4 * width)
            want = reference_view(x, {"y": y}, lo, hi, width, 4 * width)
            assert got.rows == want.rows
            for mine, theirs in zip(
                pixel_min_max(got.lines["y"], want.lo, want.hi, width),
                pixel_min_max(want.lines["y"], want.lo, want.hi, width),
                strict=True,
            ):
                np.testing.assert_array_equal(mine, theirs)
        lo = float(rng.integers(0, rows // 2))
        raw = table.view("step", ["y"], lo, lo + 300, 200, 800)  # zoomed in: raw rows
        assert raw.raw
        np.testing.assert_array_equal(raw.lines["y"].x, x[int(lo) - 1 : int(lo) + 302])
        np.testing.assert_array_equal(raw.lines["y"].y, Line(x, y).y[int(lo) - 1 : int(lo) + 302])
    finally:
        hub.store.close()  # type: ignore[union-attr]


@pytest.mark.parametrize("x", ["x", ARRIVAL])
def test_views_from_rows_only_the_store_holds_equal_brute_force(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, x: str
) -> None:
    """Whole views (every point, count, sum) over history memory dropped equal the brute-force
    reference over every row: the pixel column edges are picked from many small segments of a
    real SQLite file (batches and single rows, so run-length and step-coded arrival times),
    with x that goes back, gaps, NaN and inf, float32 and integer columns."""
    from streamvis.core.lod import reference_view
    from streamvis.store import sqlite as sqlite_module
    from tests.unit.test_summary import random_stream, same_view

    monkeypatch.setattr(sqlite_module, "SEGMENT_ROWS", 700)  # many segments, edges in each
    hub = Hub(store=open_store(tmp_path / "picked.db"), memory=6 * CHUNK_BYTES)
    rows = 24 * CHUNK
    data = random_stream(np.random.default_rng(8), rows, back=True, float32=True)
    try:
        written = 0
        for size in [1, 700, 3, 2000, 64, 5000] * 6:
            stop = min(rows, written + size)
            if size == 3:  # single rows through the scalar path
                for k in range(written, stop):
                    row = {"x": float(data["x"][k]), "y": data["y"][k], "n": int(data["n"][k])}
                    hub.stream("s", row)
            else:
                hub.write("s", {name: data[name][written:stop] for name in ("x", "y", "n")})
            written = stop
        assert written == rows
        assert hub.flush()
        hub.keep_within_budget()
        table = hub.table("default", "s")
        assert table is not None
        assert table.first_seq > rows * 3 // 4  # most rows are only in the store
        everything = table.rows_between(0, rows, [ARRIVAL])  # whole segments, decoded
        xs = everything[ARRIVAL] if x == ARRIVAL else data["x"]
        columns = {"y": data["y"], "n": data["n"]}
        finite = xs[np.isfinite(xs)]
        rng = np.random.default_rng(9)
        spans = [(None, None)] + [tuple(np.sort(rng.choice(finite, 2))) for _ in range(6)]
        for lo, hi in spans:
            width = int(rng.integers(50, 400))
            got = table.view(x, ["y", "n"], lo, hi, width, 4 * width)
            want = reference_view(xs, columns, lo, hi, width, 4 * width)
            same_view(got, want, ["y", "n"])
        history = table._history
        assert history is not None
        assert history.reads > 0  # edges came from the store
        assert list(hub.store.damaged) == []  # type: ignore[union-attr]
    finally:
        hub.store.close()  # type: ignore[union-attr]
