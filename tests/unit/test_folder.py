"""The background fold (core/folder.py) and the in-place fold (core/summary.py, core/_ring.py):
a fold read in place from chunks that break mid-bucket equals one read joined; a fold held
halfway never blocks a writer and is dropped when a view, eviction, replace, clear or lost
rows got there first; views taken while a writer races the folder stay exact. No sleeps:
the folder is held and released with events, and every wait is polled with a deadline."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from typing import Any

import numpy as np
import pytest

import streamvis.core.summary as summary_module
import streamvis.core.table as table_module
from streamvis.core import _ring
from streamvis.core.folder import FOLDER, Folder
from streamvis.core.hub import Hub
from streamvis.core.lod import ARRIVAL, View, reference_view
from streamvis.core.summary import HIGH, LOW, SQUARES, TOTAL, Summary
from streamvis.core.table import Table

DEADLINE = 120.0  # seconds any wait may take on a loaded CI machine before the test fails
ODD_CHUNK = 100  # rows per ring chunk: chunk edges fall inside 64-row buckets


@pytest.fixture(autouse=True)
def eager(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Fold every 128 rows, odd-sized chunks, every view from the summary; the folder is
    idle before and after each test (a test holding it must release it)."""
    assert FOLDER.wait_idle(DEADLINE)
    monkeypatch.setattr(summary_module, "FOLD_ROWS", 128)
    monkeypatch.setattr(table_module, "_SMALL", 0)
    monkeypatch.setattr(_ring, "CHUNK_ROWS", ODD_CHUNK)
    yield
    assert FOLDER.wait_idle(DEADLINE)


def batch(rng: np.random.Generator, first: int, rows: int) -> dict[str, np.ndarray]:
    """Steps first .. first + rows - 1 and a float32 y with NaN and inf in it."""
    y = rng.normal(size=rows).astype(np.float32)
    y[rng.random(rows) < 0.05] = np.nan
    y[rng.random(rows) < 0.01] = np.inf
    return {"step": np.arange(first, first + rows), "y": y}


def table_of(hub: Hub) -> Table:
    table = hub.table("default", "s")
    assert table is not None
    return table


def brute_force(
    table: Table, x: str, lo: float | None, hi: float | None, width: int, upto: int | None = None
) -> View:
    """lod.py's reference_view over the rows the table keeps now (those before seq `upto`)."""
    snapshot = table.snapshot()
    last = None if upto is None else upto - snapshot.first_seq
    xs = (snapshot.times if x == ARRIVAL else snapshot.batch[x])[:last]
    return reference_view(xs, {"y": snapshot.batch["y"][:last]}, lo, hi, width, 0)


def assert_same(got: View, want: View) -> None:
    assert (got.rows, got.raw) == (want.rows, want.raw)
    np.testing.assert_array_equal(got.lines["y"].x, want.lines["y"].x)
    np.testing.assert_array_equal(got.lines["y"].y, want.lines["y"].y)
    if not want.raw:
        np.testing.assert_array_equal(got.stats["y"].count, want.stats["y"].count)


class Rows:
    """Plain arrays as `RawRows`: what a fold read joined (not in place) sees."""

    def __init__(self, columns: dict[str, np.ndarray]) -> None:
        self.columns = columns

    def rows_between(self, start: int, stop: int, names: Any) -> dict[str, np.ndarray]:
        return {name: self.columns[name][start:stop] for name in names}


def test_a_fold_in_place_equals_a_fold_of_the_joined_rows() -> None:
    """Chunks of 100 rows (edges inside buckets), batches of many sizes and single rows
    (arrival times as runs and one a row): the table's summary, folded in place in the
    background, holds exactly the buckets of a summary folded from the joined rows."""
    hub, rng = Hub(), np.random.default_rng(1)
    written = 0
    for size in [1, 63, 64, 65, 100, 300, 1, 7, 129, 1000, 2]:
        if size == 1:
            for _ in range(70):
                hub.stream("s", {"step": written, "y": np.float32(rng.normal())})
                written += 1
        else:
            hub.stream("s", batch(rng, written, size))
            written += size
    assert FOLDER.wait_idle(DEADLINE)
    table = table_of(hub)
    with table._lock:
        table._fold()
    snapshot = table.snapshot()
    joined = Summary()
    columns = {**snapshot.batch, ARRIVAL: snapshot.times}
    joined.catch_up(Rows(columns), 0, written, {"step": np.dtype(np.int64), "y": np.dtype("f4")})
    mine = table._summary
    assert mine.folded == joined.folded == written // 64 * 64
    assert len(mine.levels) == len(joined.levels)
    for got, want in zip(mine.levels, joined.levels, strict=True):
        assert (got.offset, got.end) == (want.offset, want.end)
        held = slice(0, got.held)
        for stat in (LOW, HIGH):
            np.testing.assert_array_equal(got.stats[held, :, stat], want.stats[held, :, stat])
        for stat in (TOTAL, SQUARES):
            np.testing.assert_allclose(got.stats[held, :, stat], want.stats[held, :, stat])
        np.testing.assert_array_equal(got.runmax[:, held], want.runmax[:, held])


class HeldFolder:
    """Holds the folder thread inside `compute` (no lock taken) until released."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.entered, self.release = threading.Event(), threading.Event()
        self.applied: list[bool] = []
        compute, apply = table_module.compute, Summary.apply

        def held_compute(plan: Any) -> Any:
            if threading.current_thread().name == "streamvis-folder":
                self.entered.set()
                assert self.release.wait(DEADLINE)
            return compute(plan)

        def recorded_apply(summary: Summary, *args: Any) -> bool:
            done = apply(summary, *args)
            if threading.current_thread().name == "streamvis-folder":
                self.applied.append(done)
            return done

        monkeypatch.setattr(table_module, "compute", held_compute)
        monkeypatch.setattr(Summary, "apply", recorded_apply)


def view_first(table: Table, hub: Hub) -> None:
    table.view("step", ["y"], None, None, 40, 0)  # folds under the lock itself


def clear(table: Table, hub: Hub) -> None:
    hub.clear("s")
    hub.stream("s", batch(np.random.default_rng(7), 0, 500))


def replace(table: Table, hub: Hub) -> None:
    hub.stream("s", batch(np.random.default_rng(8), 0, 700), mode="replace")


def lose(table: Table, hub: Hub) -> None:
    table.lose(150, 300)  # as when the store refuses rows: they become missing


def evict(table: Table, hub: Hub) -> None:
    hub.set_memory(1)  # evicts every chunk but the newest (folding first)


def nothing(table: Table, hub: Hub) -> None:
    return None


@pytest.mark.parametrize(
    ("meanwhile", "kept"),
    [(nothing, True), (view_first, False), (clear, False), (replace, False),
     (lose, False), (evict, False)],
)  # fmt: skip
def test_a_fold_held_halfway(
    monkeypatch: pytest.MonkeyPatch, meanwhile: Callable[[Table, Hub], None], kept: bool
) -> None:
    """The folder is held between reading the rows and applying their stats: writers go
    on (they never wait for it); whatever else happens meanwhile, the fold's stats are
    applied only if the summary is where it was, and every view is exact after."""
    held = HeldFolder(monkeypatch)
    hub, rng = Hub(), np.random.default_rng(2)
    hub.stream("s", batch(rng, 0, 1000))  # past `due`: the folder is asked
    table = table_of(hub)
    assert held.entered.wait(DEADLINE)
    meanwhile(table, hub)
    written = table.next_seq
    finished = threading.Event()

    def writer() -> None:
        for first in range(written, written + 3000, 500):
            hub.stream("s", batch(rng, first, 500))
        finished.set()

    thread = threading.Thread(target=writer)
    thread.start()
    assert finished.wait(DEADLINE), "a writer waited for the held fold"
    thread.join()
    held.release.set()
    assert FOLDER.wait_idle(DEADLINE)
    assert held.applied[0] is kept
    for x in ("step", ARRIVAL):
        for lo, hi in [(None, None), (200.0, 1800.0)] if x == "step" else [(None, None)]:
            assert_same(table.view(x, ["y"], lo, hi, 57, 0), brute_force(table, x, lo, hi, 57))


def test_writes_do_not_wait_for_a_fold_being_applied(monkeypatch: pytest.MonkeyPatch) -> None:
    """The folder is held inside `apply`, holding the summary's lock: writes go on (they
    take only the table's lock), and the views after it is released are exact."""
    entered, release = threading.Event(), threading.Event()
    apply = Summary.apply

    def held_apply(summary: Summary, *args: Any) -> bool:
        if threading.current_thread().name == "streamvis-folder" and not release.is_set():
            entered.set()
            assert release.wait(DEADLINE)
        return apply(summary, *args)

    monkeypatch.setattr(Summary, "apply", held_apply)
    hub, rng = Hub(), np.random.default_rng(5)
    hub.stream("s", batch(rng, 0, 1000))
    table = table_of(hub)
    assert entered.wait(DEADLINE)
    finished = threading.Event()

    def writer() -> None:
        for first in range(1000, 4000, 300):
            hub.stream("s", batch(rng, first, 300))
        hub.stream("s", {"step": 4000, "y": np.float32(1.0)})
        finished.set()

    thread = threading.Thread(target=writer)
    thread.start()
    assert finished.wait(DEADLINE), "a writer waited for the fold being applied"
    thread.join()
    release.set()
    assert FOLDER.wait_idle(DEADLINE)
    assert_same(
        table.view("step", ["y"], None, None, 61, 0), brute_force(table, "step", None, None, 61)
    )


def test_views_stay_exact_while_a_writer_races_the_folder() -> None:
    """A thread writes batches of odd sizes (each asks the folder) while this one takes
    views of ranges already written; each equals brute force over the rows kept."""
    hub, rng = Hub(), np.random.default_rng(3)
    hub.stream("s", batch(rng, 0, 500))
    table = table_of(hub)
    finished = threading.Event()

    def writer() -> None:
        first, sizes = 500, np.random.default_rng(4).integers(1, 400, 150)
        for size in sizes.tolist():
            hub.stream("s", batch(np.random.default_rng(first), first, size))
            first += size
        finished.set()

    thread = threading.Thread(target=writer)
    thread.start()
    views = 0
    while not finished.is_set() or views < 5:
        hi = float(table.next_seq - 1)
        lo = float(rng.uniform(0, hi))
        got = table.view("step", ["y"], lo, hi, 33, 0)
        assert_same(got, brute_force(table, "step", lo, hi, 33, got.next_seq))  # rows it saw
        views += 1
    thread.join()
    assert FOLDER.wait_idle(DEADLINE)
    assert_same(
        table.view("step", ["y"], None, None, 80, 0), brute_force(table, "step", None, None, 80)
    )


def test_a_folder_survives_a_failing_fold_and_queues_a_table_once() -> None:
    """A fold that raises is logged, not fatal: the next request is folded; a table asked
    for twice before its turn is folded once."""
    folder, done = Folder(), threading.Event()

    class Job:
        def __init__(self, fail: bool) -> None:
            self.fail, self.runs = fail, 0

        def fold_in_background(self) -> None:
            self.runs += 1
            if self.fail:
                raise RuntimeError("boom")
            done.set()

    failing, fine = Job(fail=True), Job(fail=False)
    folder.request(failing)
    folder.request(failing)
    folder.request(fine)
    assert done.wait(DEADLINE)
    assert folder.wait_idle(DEADLINE)
    assert (failing.runs, fine.runs, folder.folds) in [
        (1, 1, 2),
        (2, 1, 3),
    ]  # 2: re-asked mid-fold
    folder.request(fine)
    assert folder.wait_idle(DEADLINE)
    assert fine.runs == 2
    assert folder.cpu_seconds >= 0.0


def test_a_summary_grown_in_the_background_counts_in_the_budget() -> None:
    """Each write asks for a fold; once the folder is idle the hub is within its budget
    again (the folder has the hub check it after growing a summary), rows and summary."""
    hub, rng = Hub(memory=60_000), np.random.default_rng(6)
    for first in range(0, 20_000, 500):
        hub.stream("s", batch(rng, first, 500))
        assert FOLDER.wait_idle(DEADLINE)
        assert hub.nbytes <= hub.memory
    table = table_of(hub)
    assert table.first_seq > 0  # the oldest rows went
    assert_same(
        table.view("step", ["y"], None, None, 70, 0), brute_force(table, "step", None, None, 70)
    )
