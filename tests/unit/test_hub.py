"""Hub: streams per (run, name), subscriptions, clear/replace, schema safety, threads."""

from __future__ import annotations

import re
import threading

import numpy as np
import pandas as pd
import pytest

import streamvis.core.hub as hub_module
from streamvis.core.hub import Hub, Subscription, check_name, default_hub
from streamvis.errors import StreamError

INT = np.dtype(np.int64)
FLOAT = np.dtype(np.float64)
BOOL = np.dtype(bool)
TEXT = np.dtype(object)


def assert_same_batch(actual: dict[str, np.ndarray], expected: dict[str, np.ndarray]) -> None:
    """Identical column names (in order), dtypes and values (NaN equals NaN)."""
    assert list(actual) == list(expected)
    for name in expected:
        assert actual[name].dtype == expected[name].dtype, name
        if expected[name].dtype == TEXT:
            assert actual[name].tolist() == expected[name].tolist(), name
        else:
            np.testing.assert_array_equal(actual[name], expected[name], err_msg=name)


# ---------------------------------------------------------------- writing and reading


def test_rows_are_kept_in_write_order_with_their_types():
    hub = Hub()
    assert hub.stream("m", {"step": 0, "loss": 1.0, "tag": "a"}) == 1
    assert hub.stream("m", {"step": [1, 2], "loss": [0.5, 0.25], "tag": ["b", "c"]}) == 2
    assert hub.stream("m", [{"step": 3, "loss": 0.125, "tag": "d"}]) == 1
    batch = hub.read("m")
    assert batch["step"].tolist() == [0, 1, 2, 3]
    assert batch["loss"].tolist() == [1.0, 0.5, 0.25, 0.125]
    assert batch["tag"].tolist() == ["a", "b", "c", "d"]
    described = hub.table("default", "m").describe()
    assert described.pop("created") <= described.pop("updated")
    assert described.pop("bytes") >= 1024 * (8 + 8 + 8)  # a first chunk of 1024 rows
    assert described == {
        "run": "default",
        "stream": "m",
        "mode": "append",
        "columns": {"step": "integers", "loss": "numbers", "tag": "text"},
        "rows": 4,
        "seq": 4,
        "generation": 0,
    }


def test_retention_keeps_the_newest_rows_and_seq_keeps_counting():
    hub = Hub(retain=5)
    for step in range(12):
        hub.stream("m", {"step": step})
    assert hub.read("m")["step"].tolist() == [7, 8, 9, 10, 11]
    info = hub.table("default", "m").describe()
    assert (info["rows"], info["seq"]) == (5, 12)
    assert hub.read("m", since=10)["step"].tolist() == [10, 11]
    assert hub.read("m", since=2)["step"].tolist() == [7, 8, 9, 10, 11]


def test_big_batch_is_cut_to_retain():
    hub = Hub(retain=4)
    assert hub.stream("m", {"v": list(range(10))}) == 10
    assert hub.read("m")["v"].tolist() == [6, 7, 8, 9]


def test_runs_are_separate():
    hub = Hub()
    hub.stream("loss", {"v": 1}, run="a")
    hub.stream("loss", {"v": 2.5}, run="b")
    assert hub.read("loss", run="a")["v"].tolist() == [1]
    assert hub.read("loss", run="b")["v"].tolist() == [2.5]
    assert hub.runs() == ["a", "b"]
    assert [(t.run, t.name) for t in hub.tables()] == [("a", "loss"), ("b", "loss")]
    assert [t.run for t in hub.tables("b")] == ["b"]


def test_reading_an_unknown_stream_raises():
    hub = Hub()
    with pytest.raises(StreamError, match=re.escape("run 'default' has no stream 'nope'")):
        hub.read("nope")


def test_array_with_columns_through_the_hub():
    hub = Hub()
    assert hub.stream("xy", np.array([[1.0, 2.0], [3.0, 4.0]]), columns=["x", "y"]) == 2
    assert hub.read("xy")["y"].tolist() == [2.0, 4.0]


def test_writes_copy_the_data_in():
    hub = Hub()
    values = np.array([1.0, 2.0, 3.0])
    hub.stream("m", {"v": values})
    values[:] = 0.0
    assert hub.read("m")["v"].tolist() == [1.0, 2.0, 3.0]


# ---------------------------------------------------------------- subscriptions


def test_poll_returns_only_rows_newer_than_the_cursor():
    hub = Hub()
    sub = hub.subscribe("m")
    assert sub.poll() is None  # stream does not exist yet
    hub.stream("m", {"v": 1})
    first = sub.poll()
    assert first.reset is True
    assert first.batch["v"].tolist() == [1]
    assert (first.rows, first.seq, first.generation) == (1, 1, 0)
    assert sub.poll() is None
    hub.stream("m", {"v": [2, 3]})
    hub.stream("m", {"v": 4})
    second = sub.poll()
    assert second.reset is False
    assert second.batch["v"].tolist() == [2, 3, 4]
    assert (second.rows, second.seq) == (3, 4)
    assert sub.poll() is None


def test_each_subscription_has_its_own_cursor():
    hub = Hub()
    early = hub.subscribe("m")
    hub.stream("m", {"v": [1, 2]})
    assert early.poll().batch["v"].tolist() == [1, 2]
    late = hub.subscribe("m")
    hub.stream("m", {"v": 3})
    assert early.poll().batch["v"].tolist() == [3]
    assert late.poll().batch["v"].tolist() == [1, 2, 3]


def test_poll_reset_after_replace():
    hub = Hub()
    sub = hub.subscribe("cloud")
    hub.stream("cloud", {"x": [1.0, 2.0], "y": [3.0, 4.0]})
    assert sub.poll().reset is True
    hub.stream("cloud", {"x": [5.0], "y": [6.0]}, mode="replace")
    update = sub.poll()
    assert update.reset is True
    assert update.batch["x"].tolist() == [5.0]
    assert update.batch["y"].tolist() == [6.0]
    assert update.generation == 1
    assert sub.poll() is None
    hub.stream("cloud", {"x": 7.0, "y": 8.0})
    update = sub.poll()
    assert update.reset is False
    assert update.batch["x"].tolist() == [7.0]


def test_poll_reset_after_clear():
    hub = Hub()
    sub = hub.subscribe("m")
    hub.stream("m", {"v": [1, 2]})
    sub.poll()
    hub.clear()
    update = sub.poll()
    assert update.reset is True
    assert update.rows == 0
    assert update.batch == {}
    assert sub.poll() is None
    hub.stream("m", {"w": "text now"})
    update = sub.poll()
    assert update.reset is False
    assert update.batch["w"].tolist() == ["text now"]


def test_limit_returns_the_newest_rows_first():
    hub = Hub()
    hub.stream("m", {"v": list(range(100))})
    sub = hub.subscribe("m", limit=10)
    assert sub.poll().batch["v"].tolist() == list(range(90, 100))
    hub.stream("m", {"v": [100, 101]})
    assert sub.poll().batch["v"].tolist() == [100, 101]


def test_limit_applies_after_replace_too():
    hub = Hub()
    sub = hub.subscribe("m", limit=3)
    hub.stream("m", {"v": [1, 2]})
    assert sub.poll().batch["v"].tolist() == [1, 2]
    hub.stream("m", {"v": list(range(10))}, mode="replace")
    update = sub.poll()
    assert update.reset is True
    assert update.batch["v"].tolist() == [7, 8, 9]


def test_close_decrements_subscription_count():
    hub = Hub()
    first = hub.subscribe("a")
    second = hub.subscribe("b", run="r")
    assert isinstance(first, Subscription)
    assert hub.subscription_count == 2
    first.close()
    assert hub.subscription_count == 1
    first.close()
    assert hub.subscription_count == 1
    second.close()
    assert hub.subscription_count == 0


def test_closed_subscription_polls_nothing():
    hub = Hub()
    sub = hub.subscribe("m")
    hub.stream("m", {"v": 1})
    sub.close()
    assert sub.poll() is None


# ---------------------------------------------------------------- clear and replace


def _four_streams() -> Hub:
    hub = Hub()
    for run in ("a", "b"):
        for name in ("x", "y"):
            hub.stream(name, {"v": [1, 2]}, run=run)
    return hub


def _rows(hub: Hub) -> dict[tuple[str, str], int]:
    return {(t.run, t.name): t.row_count for t in hub.tables()}


def test_clear_one_stream_of_one_run():
    hub = _four_streams()
    assert hub.clear("x", run="a") == 1
    assert _rows(hub) == {("a", "x"): 0, ("a", "y"): 2, ("b", "x"): 2, ("b", "y"): 2}


def test_clear_a_stream_name_in_every_run():
    hub = _four_streams()
    assert hub.clear("x") == 2
    assert _rows(hub) == {("a", "x"): 0, ("a", "y"): 2, ("b", "x"): 0, ("b", "y"): 2}


def test_clear_one_run():
    hub = _four_streams()
    assert hub.clear(run="b") == 2
    assert _rows(hub) == {("a", "x"): 2, ("a", "y"): 2, ("b", "x"): 0, ("b", "y"): 0}


def test_clear_everything():
    hub = _four_streams()
    assert hub.clear() == 4
    assert set(_rows(hub).values()) == {0}


def test_clear_nothing_matching():
    hub = _four_streams()
    assert hub.clear("zzz") == 0
    assert set(_rows(hub).values()) == {2}


def test_clear_drops_the_schema():
    hub = Hub()
    hub.stream("m", {"v": 1.0})
    hub.clear("m")
    hub.stream("m", {"v": "now text"})
    assert hub.read("m")["v"].tolist() == ["now text"]


def test_replace_makes_the_write_the_whole_content():
    hub = Hub()
    hub.stream("cloud", {"x": [1.0, 2.0, 3.0], "old": ["a", "b", "c"]})
    assert hub.stream("cloud", {"x": ["p", "q"]}, mode="replace") == 2
    batch = hub.read("cloud")
    assert list(batch) == ["x"]
    assert batch["x"].tolist() == ["p", "q"]
    info = hub.table("default", "cloud").describe()
    assert (info["mode"], info["rows"], info["seq"], info["generation"]) == ("replace", 2, 5, 1)


def test_replace_then_append_continues_from_the_replacement():
    hub = Hub()
    hub.stream("m", {"v": [1, 2, 3]})
    hub.stream("m", {"v": [10]}, mode="replace")
    hub.stream("m", {"v": 11})
    hub.stream("m", {"v": 12})
    assert hub.read("m")["v"].tolist() == [10, 11, 12]
    assert hub.table("default", "m").mode == "append"


def test_invalid_mode_raises_and_stores_nothing():
    hub = Hub()
    hub.stream("m", {"v": 1})
    with pytest.raises(
        StreamError,
        match=re.escape(
            "run 'default', stream 'm': mode must be 'append' or 'replace', not 'add'"
        ),
    ):
        hub.stream("m", {"v": 2}, mode="add")
    assert hub.read("m")["v"].tolist() == [1]


# ---------------------------------------------------------------- refused writes change nothing


def _filled_hub() -> tuple[Hub, dict[str, np.ndarray]]:
    hub = Hub(retain=8)
    for step in range(6):
        hub.stream(
            "metrics", {"step": step, "loss": 1.0 / (step + 1), "tag": f"t{step}"}, run="r1"
        )
    # nine rows in a ring of eight: the oldest is gone and the ring has wrapped
    hub.stream(
        "metrics", {"step": [6, 7, 8], "loss": [0.1, 0.2, 0.3], "tag": ["x", "y", "z"]}, run="r1"
    )
    before = hub.read("metrics", run="r1")
    assert before["step"].tolist() == [1, 2, 3, 4, 5, 6, 7, 8]
    return hub, before


@pytest.mark.parametrize(
    ("data", "columns", "message"),
    [
        pytest.param(
            {"step": 9, "loss": "high", "tag": "t9"},
            None,
            "run 'r1', stream 'metrics', column 'loss': expected numbers, got text ('high')",
            id="text-into-numbers-scalar-dict",
        ),
        pytest.param(
            {"step": [9, 10], "loss": ["a", "b"], "tag": ["u", "v"]},
            None,
            "run 'r1', stream 'metrics', column 'loss': expected numbers, got text ('a')",
            id="text-into-numbers-dict-of-lists",
        ),
        pytest.param(
            pd.DataFrame({"step": [9], "loss": [0.5], "tag": [3.0]}),
            None,
            "run 'r1', stream 'metrics', column 'tag': expected text, got numbers",
            id="numbers-into-text-dataframe",
        ),
        pytest.param(
            [{"step": 9, "loss": 0.5, "tag": True}],
            None,
            "run 'r1', stream 'metrics', column 'tag': expected text, got booleans",
            id="bool-into-text-rows",
        ),
        pytest.param(
            {"step": np.datetime64("2024-01-01"), "loss": 0.5, "tag": "t"},
            None,
            "run 'r1', stream 'metrics', column 'step': expected integers, got timestamps",
            id="timestamps-into-integers",
        ),
        pytest.param(
            {"brand_new": [1, 2], "loss": ["a", "b"]},
            None,
            "run 'r1', stream 'metrics', column 'loss': expected numbers, got text ('a')",
            id="conflict-next-to-a-new-column",
        ),
        pytest.param(
            {"step": [9, 10], "loss": [0.5]},
            None,
            "run 'r1', stream 'metrics': ragged columns: lengths {'step': 2, 'loss': 1}",
            id="ragged",
        ),
        pytest.param(
            {"step": 9, "loss": [0.5, 0.6]},
            None,
            "run 'r1', stream 'metrics': ragged columns: 'step' is a single value but 'loss'",
            id="scalar-and-list",
        ),
        pytest.param(
            np.zeros((2, 2, 3)),
            ["step", "loss", "tag"],
            "run 'r1', stream 'metrics': expected a 2-D array (rows x columns), got 3-D",
            id="3d-array",
        ),
        pytest.param(
            {"step": [9, "x"]},
            None,
            "run 'r1', stream 'metrics', column 'step': mixes numbers and text in one column",
            id="mixed-column",
        ),
    ],
)
def test_refused_write_leaves_stored_rows_untouched(data, columns, message):
    hub, before = _filled_hub()
    sub = hub.subscribe("metrics", run="r1")
    sub.poll()
    info_before = hub.table("r1", "metrics").describe()
    with pytest.raises(StreamError, match=re.escape(message)):
        hub.stream("metrics", data, run="r1", columns=columns)
    assert_same_batch(hub.read("metrics", run="r1"), before)
    assert hub.table("r1", "metrics").describe() == info_before
    assert sub.poll() is None
    # the stream still accepts good rows afterwards, fast path included
    hub.stream("metrics", {"step": 9, "loss": 0.9, "tag": "t9"}, run="r1")
    assert hub.read("metrics", run="r1")["step"].tolist() == [2, 3, 4, 5, 6, 7, 8, 9]


def test_refused_replace_keeps_the_old_content():
    hub, before = _filled_hub()
    with pytest.raises(StreamError, match="ragged columns"):
        hub.stream("metrics", {"a": [1, 2], "b": [1]}, run="r1", mode="replace")
    assert_same_batch(hub.read("metrics", run="r1"), before)
    assert hub.table("r1", "metrics").generation == 0


# ---------------------------------------------------------------- names


@pytest.mark.parametrize(
    "bad",
    ["", " ", "my loss", "a/b", "../etc", ".hidden", "-flag", "x" * 129, "é", None, 7],
)
def test_invalid_stream_and_run_names(bad):
    hub = Hub()
    with pytest.raises(StreamError, match=re.escape(f"stream name {bad!r} is not allowed")):
        hub.stream(bad, {"v": 1})
    with pytest.raises(StreamError, match=re.escape(f"run name {bad!r} is not allowed")):
        hub.stream("ok", {"v": 1}, run=bad)
    assert list(hub.tables()) == []


@pytest.mark.parametrize("good", ["a", "x" * 128, "loss.train-1", "_private", "0", "A_b.C-d"])
def test_valid_names(good):
    hub = Hub()
    hub.stream(good, {"v": 1}, run=good)
    assert hub.read(good, run=good)["v"].tolist() == [1]
    assert check_name("run", good) == good


def test_name_error_message_explains_the_rule():
    with pytest.raises(StreamError) as info:
        check_name("stream", "a b")
    assert str(info.value) == (
        "stream name 'a b' is not allowed: use 1-128 letters, digits, '_', '.' or '-', "
        "not starting with '.' or '-'"
    )


@pytest.mark.parametrize("bad", ["loss\n", "run1\n"])
def test_name_with_trailing_newline_is_refused(bad):
    with pytest.raises(StreamError, match="is not allowed"):
        check_name("stream", bad)


# ---------------------------------------------------------------- fast path


def _rows_for_paths(count: int) -> list[dict]:
    rows = []
    for i in range(count):
        loss = i // 7 if i % 5 == 0 else 1.0 / (i + 1)  # ints among floats
        rows.append({"step": i, "loss": loss, "ok": i % 3 == 0, "tag": f"t{i}"})
    return rows


@pytest.mark.parametrize("retain", [1000, 32])
def test_fast_scalar_dict_path_matches_the_dataframe_path(retain, monkeypatch):
    rows = _rows_for_paths(100)
    calls = []
    real_normalize = hub_module.normalize

    def counting_normalize(*args, **kwargs):
        calls.append(1)
        return real_normalize(*args, **kwargs)

    monkeypatch.setattr(hub_module, "normalize", counting_normalize)
    hub = Hub(retain=retain)
    for row in rows:
        assert hub.stream("dicts", row) == 1
    # the fast path must really have been taken for most rows
    assert len(calls) < 10
    calls.clear()
    assert hub.stream("frame", pd.DataFrame(rows)) == 100
    assert hub.stream("list", rows) == 100
    assert len(calls) == 2
    dicts = hub.read("dicts")
    assert {n: c.dtype for n, c in dicts.items()} == {
        "step": INT,
        "loss": FLOAT,
        "ok": BOOL,
        "tag": TEXT,
    }
    assert dicts["step"].tolist() == list(range(100 - min(retain, 100), 100))
    assert_same_batch(dicts, hub.read("frame"))
    assert_same_batch(dicts, hub.read("list"))
    assert hub.table("default", "dicts").describe()["seq"] == 100


def test_fast_path_falls_back_for_new_types_and_keys():
    hub = Hub()
    hub.stream("m", {"a": 1, "b": "x"})
    hub.stream("m", {"a": 2.5, "b": "y"})  # float into int column: widened by the slow path
    hub.stream("m", {"a": 3, "b": "z", "c": True})  # extra key
    hub.stream("m", {"a": 4})  # missing key
    batch = hub.read("m")
    assert batch["a"].tolist() == [1.0, 2.5, 3.0, 4.0]
    assert batch["a"].dtype == FLOAT
    assert batch["b"].tolist() == ["x", "y", "z", None]
    np.testing.assert_array_equal(batch["c"], [np.nan, np.nan, 1.0, np.nan])


def test_bool_is_not_taken_as_an_int_by_the_fast_path():
    hub = Hub()
    hub.stream("m", {"n": 5})
    hub.stream("m", {"n": True})
    batch = hub.read("m")
    assert batch["n"].dtype == INT
    assert batch["n"].tolist() == [5, 1]


def test_huge_int_on_the_fast_path_behaves_like_the_slow_path():
    fast = Hub(retain=4)
    slow = Hub(retain=4)
    for step in range(4):
        fast.stream("m", {"a": step})
        slow.stream("m", [{"a": step}])
    with pytest.raises(StreamError, match=r"column 'a': 1180591620717411303424 is outside"):
        slow.stream("m", [{"a": 2**70}])
    with pytest.raises(StreamError, match=r"column 'a': 1180591620717411303424 is outside"):
        fast.stream("m", {"a": 2**70})
    assert_same_batch(fast.read("m"), slow.read("m"))
    assert fast.read("m")["a"].tolist() == [0, 1, 2, 3]


def test_a_failed_fast_path_write_changes_nothing():
    hub = Hub(retain=4)
    for step in range(4):
        hub.stream("m", {"a": step})
    before = hub.read("m")
    try:
        hub.stream("m", {"a": 2**70})
    except (StreamError, OverflowError):
        # refusing is acceptable, but then nothing stored may change
        assert_same_batch(hub.read("m"), before)
    else:
        assert hub.read("m")["a"].tolist() == [1.0, 2.0, 3.0, float(2**70)]


def test_ints_past_int64_are_refused_never_wrapped_or_rounded():
    hub = Hub(retain=4)
    hub.stream("m", [{"a": 1}])
    for value in (2**63, 2**64 - 1, -(2**63) - 1, 2**70):
        with pytest.raises(StreamError, match=r"outside the 64-bit integer range"):
            hub.stream("m", [{"a": 1}, {"a": value}])
    with pytest.raises(StreamError, match=r"outside the 64-bit integer range"):
        hub.stream("m", {"a": np.array([2**63], dtype=np.uint64)})
    hub.stream("m", [{"a": 2**63 - 1}, {"a": -(2**63)}, {"a": 2.0**70}])
    batch = hub.read("m")
    assert batch["a"].dtype == FLOAT  # the float widened the column, as documented
    assert batch["a"].tolist() == [1.0, float(2**63 - 1), float(-(2**63)), 2.0**70]


def test_none_for_a_text_column_is_a_missing_value():
    hub = Hub()
    hub.stream("events", {"step": 1, "note": "start"})
    hub.stream("events", {"step": 2, "note": None})
    assert hub.read("events")["note"].tolist() == ["start", None]


def test_missing_text_key_stores_none():
    hub = Hub()
    hub.stream("events", {"step": 1, "note": "start"})
    hub.stream("events", {"step": 2})
    assert hub.read("events")["note"].tolist() == ["start", None]


# ---------------------------------------------------------------- streamz source


def test_source_emits_each_stored_batch():
    hub = Hub()
    emitted: list[dict] = []
    source = hub.source("m", run="r")
    source.sink(emitted.append)
    assert hub.source("m", run="r") is source
    hub.stream("m", {"v": 1.0}, run="r")
    hub.stream("m", {"v": 2.0}, run="r")  # would take the fast path without a sink
    hub.stream("m", pd.DataFrame({"v": [3.0, 4.0]}), run="r")
    hub.stream("m", {"v": [5.0]}, run="r", mode="replace")
    assert [batch["v"].tolist() for batch in emitted] == [[1.0], [2.0], [3.0, 4.0], [5.0]]
    assert all(batch["v"].dtype == FLOAT for batch in emitted)
    with pytest.raises(StreamError):
        hub.stream("m", {"v": "text"}, run="r")
    assert len(emitted) == 4  # refused writes are not emitted
    assert hub.read("m", run="r")["v"].tolist() == [5.0]


def test_source_checks_names():
    with pytest.raises(StreamError, match="stream name 'a b' is not allowed"):
        Hub().source("a b")


def test_a_source_made_after_rows_emits_only_later_batches():
    hub = Hub()
    hub.stream("m", {"v": 1.0})
    emitted: list[dict] = []
    hub.source("m").sink(emitted.append)
    hub.stream("m", {"v": 2.0})
    assert [batch["v"].tolist() for batch in emitted] == [[2.0]]


# ---------------------------------------------------------------- what a table offers


def test_table_snapshot_copies_rows_and_arrival_times_since_a_seq():
    hub = Hub(retain=4)
    for step in range(6):
        hub.stream("m", {"step": step})
    table = hub.table("default", "m")
    assert table is not None
    assert (table.first_seq, table.next_seq, table.row_count) == (2, 6, 4)
    kept = table.snapshot(3)
    assert (kept.first_seq, kept.next_seq) == (3, 6)
    assert kept.batch["step"].tolist() == [3, 4, 5]
    assert kept.times.dtype == np.int64
    assert len(kept.times) == 3
    assert list(kept.times) == sorted(kept.times)
    assert table.snapshot(0).batch["step"].tolist() == [2, 3, 4, 5]  # older rows are gone
    assert table.snapshot(0, limit=1).batch["step"].tolist() == [5]
    kept.batch["step"][:] = -1  # a copy: the table is unchanged
    assert hub.read("m")["step"].tolist() == [2, 3, 4, 5]
    empty = table.snapshot(6)
    assert (empty.first_seq, empty.batch["step"].tolist(), len(empty.times)) == (6, [], 0)


def test_table_first_arrival_is_the_oldest_kept_rows_time():
    hub = Hub(retain=2)
    hub.stream("m", {"v": 1.0})
    table = hub.table("default", "m")
    assert table is not None
    first = table.first_arrival()
    assert first == table.snapshot(0).times[0]
    hub.stream("m", {"v": [2.0, 3.0]})  # the first row falls out of the ring
    assert table.first_arrival() == table.snapshot(0).times[0] >= first
    hub.clear("m")
    assert table.first_arrival() is None


def test_table_drop_forgets_rows_and_resets_readers_without_a_store_change():
    hub = Hub()
    hub.stream("m", {"v": [1.0, 2.0]})
    table = hub.table("default", "m")
    assert table is not None
    generation = table.generation
    table.drop()
    assert (table.row_count, table.next_seq, table.generation) == (0, 2, generation + 1)
    update = table.read(generation, 2, None)
    assert update is not None
    assert (update.reset, update.rows) == (True, 0)


def test_default_hub_is_one_hub():
    assert isinstance(default_hub(), Hub)
    assert default_hub() is default_hub()


# ---------------------------------------------------------------- threads

THREADS = 4
ROWS_PER_THREAD = 20_000


def _writer(hub: Hub, tid: int, barrier: threading.Barrier, errors: list) -> None:
    try:
        barrier.wait()
        for n in range(ROWS_PER_THREAD):
            hub.stream("shared", {"tid": tid, "n": n})
    except BaseException as exc:  # noqa: BLE001 - reported by the main thread
        errors.append(exc)


def _assert_every_thread_complete_and_ordered(tid: np.ndarray, n: np.ndarray) -> None:
    assert len(tid) == THREADS * ROWS_PER_THREAD
    for thread in range(THREADS):
        assert n[tid == thread].tolist() == list(range(ROWS_PER_THREAD)), thread


def test_concurrent_writers_lose_and_reorder_nothing():
    hub = Hub(retain=THREADS * ROWS_PER_THREAD)
    barrier = threading.Barrier(THREADS)
    errors: list = []
    threads = [
        threading.Thread(target=_writer, args=(hub, t, barrier, errors)) for t in range(THREADS)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    batch = hub.read("shared")
    assert hub.table("default", "shared").describe()["seq"] == THREADS * ROWS_PER_THREAD
    assert batch["tid"].dtype == INT
    _assert_every_thread_complete_and_ordered(batch["tid"], batch["n"])


def test_concurrent_reader_sees_every_row_once_in_seq_order():
    hub = Hub(retain=THREADS * ROWS_PER_THREAD)
    sub = hub.subscribe("shared")
    barrier = threading.Barrier(THREADS + 1)
    writers_done = threading.Event()
    errors: list = []
    seen_tid: list[np.ndarray] = []
    seen_n: list[np.ndarray] = []
    updates: list[tuple[bool, int, int]] = []

    def reader() -> None:
        try:
            barrier.wait()
            while True:
                finished = writers_done.is_set()
                update = sub.poll()
                if update is None:
                    if finished:
                        return
                    continue
                updates.append((update.reset, update.seq, update.rows))
                seen_tid.append(update.batch["tid"])
                seen_n.append(update.batch["n"])
        except BaseException as exc:  # noqa: BLE001 - reported by the main thread
            errors.append(exc)

    reader_thread = threading.Thread(target=reader)
    writers = [
        threading.Thread(target=_writer, args=(hub, t, barrier, errors)) for t in range(THREADS)
    ]
    reader_thread.start()
    for thread in writers:
        thread.start()
    for thread in writers:
        thread.join()
    writers_done.set()
    reader_thread.join()
    assert errors == []
    # the first update starts the view; the rest continue it exactly where it stopped
    assert updates[0][0] is True
    assert all(reset is False for reset, _, _ in updates[1:])
    cursor = 0
    for _, seq, rows in updates:
        assert seq - rows == cursor
        cursor = seq
    assert cursor == THREADS * ROWS_PER_THREAD
    tid = np.concatenate(seen_tid)
    n = np.concatenate(seen_n)
    _assert_every_thread_complete_and_ordered(tid, n)
    # seen in seq order == the stored order
    stored = hub.read("shared")
    assert tid.tolist() == stored["tid"].tolist()
    assert n.tolist() == stored["n"].tolist()
