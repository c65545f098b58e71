"""The chart CSV (streamvis/page/chart_csv.py): cells written plainly, producer text guarded
against spreadsheet formulas, the x range, fair shares under the cap and its note, and the
rows read from a real hub."""

from __future__ import annotations

import csv
import io

import numpy as np
import pytest

from streamvis.core.hub import Hub
from streamvis.page.chart_csv import (
    DEFAULT_CAP,
    RunRows,
    csv_cap,
    csv_text,
    file_name,
    guard_text,
    plain,
    run_rows,
    shares,
    within,
)


@pytest.mark.parametrize(
    ("value", "text"),
    [
        (3, "3"),
        (np.int64(990_000), "990000"),
        (990_000.0, "990000"),
        (0.1, "0.1"),
        (-2.5, "-2.5"),
        (float("nan"), ""),
        (float("inf"), "inf"),
        (None, ""),
        (True, "true"),
        (np.datetime64("2026-01-02T03:04:05.123456", "us"), "2026-01-02T03:04:05.123456Z"),
        ("=1+2", "'=1+2"),
        ("+cmd", "'+cmd"),
        ("-x", "'-x"),
        ("@SUM(A1)", "'@SUM(A1)"),
        ("\tx", "'\tx"),
        ("<b>bold</b>", "<b>bold</b>"),
        ("plain", "plain"),
    ],
)
def test_cells_are_written_plainly_and_text_is_guarded(value: object, text: str) -> None:
    assert plain(value) == text


def test_guard_leaves_safe_text_alone() -> None:
    assert guard_text("loss") == "loss"
    assert guard_text("=A1") == "'=A1"


def test_shares_split_the_cap_fairly() -> None:
    assert shares([100, 25], 40) == [20, 20]
    assert shares([100, 10], 40) == [30, 10]
    assert shares([5, 5], 40) == [5, 5]
    assert shares([100, 100, 100], 40) == [14, 13, 13]
    assert shares([], 40) == []


def test_csv_has_a_run_column_the_range_and_a_truncation_note() -> None:
    def rows(run: str, count: int) -> RunRows:
        steps = np.arange(count)
        return RunRows(run, steps.astype(float), {"step": steps, "=y": steps * 0.5})

    text, written, total = csv_text([rows("a", 10), rows("b", 3)], compared=True, cap=8)
    lines = text.splitlines()
    assert lines[0] == "run,step,'=y"
    assert lines[-1].startswith("# truncated: 8 of 13 rows written")
    body = list(csv.reader(io.StringIO("\n".join(lines[1:-1]))))
    assert body == [["a", str(s), plain(s * 0.5)] for s in range(5)] + [
        ["b", str(s), plain(s * 0.5)] for s in range(3)
    ]
    assert (written, total) == (8, 13)

    zoomed = within(rows("a", 10), (6.5, 2.5))  # either order
    assert zoomed.columns["step"].tolist() == [3, 4, 5, 6]
    text, written, total = csv_text([zoomed], compared=False, cap=8)
    assert text.splitlines() == ["step,'=y", "3,1.5", "4,2", "5,2.5", "6,3"]
    assert (written, total) == (4, 4)


def test_rows_come_from_the_hub_with_times_for_time_axes() -> None:
    hub = Hub()
    hub.write("m", {"step": [1, 2, 3], "v": [0.5, 1.5, 2.5]}, run="r")
    found = run_rows(hub, "r", "m", "step", ["v"], "step")
    assert found is not None
    assert list(found.columns) == ["step", "v"]
    assert found.columns["v"].tolist() == [0.5, 1.5, 2.5]
    wall = run_rows(hub, "r", "m", "step", ["v"], "wall")
    assert wall is not None
    assert list(wall.columns) == ["_wall_time", "v"]
    text = csv_text([wall], compared=False, cap=10)[0]
    assert text.splitlines()[0] == "wall_time,v"
    assert text.splitlines()[1].endswith("Z,0.5")
    relative = run_rows(hub, "r", "m", "step", ["v"], "relative")
    assert relative is not None
    assert relative.axis_x[0] == 0.0
    assert run_rows(hub, "r", "nothing", "step", ["v"], "step") is None


def test_cap_setting_and_file_name(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("STREAMVIS_CSV_ROWS", raising=False)
    assert csv_cap() == DEFAULT_CAP
    monkeypatch.setenv("STREAMVIS_CSV_ROWS", "25")
    assert csv_cap() == 25
    monkeypatch.setenv("STREAMVIS_CSV_ROWS", "-3")
    assert csv_cap() == DEFAULT_CAP
    assert file_name("metrics", "loss") == "loss-metrics.csv"
    assert file_name("../x y", "=p") == "p-.._x_y.csv"  # no "/" left: a plain name
