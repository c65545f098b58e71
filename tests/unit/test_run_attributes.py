"""Run attributes (core/attributes.py) end to end below the server: the rules and their
errors (naming run and key, nothing changed), the merge, both stores holding what the hub
holds and replaying it, an older SQLite file upgraded, a second Redis-backed hub seeing a
change through its follower, the CLI's ls/export/rm, and the Client's queued request."""

from __future__ import annotations

import json
import sqlite3
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest

import streamvis as sv
from streamvis.cli import main as cli_main
from streamvis.client.transport import Item, requests_for
from streamvis.core.attributes import MAX_KEYS, MAX_TEXT, as_text
from streamvis.core.hub import Hub
from streamvis.errors import AttributesError, StreamError
from streamvis.store import hub_from_store, open_store
from streamvis.store import sqlite as sqlite_module
from streamvis.store.sqlite import SQLiteStore
from tests.conftest import wait_until

GOOD = {"lr": 3e-4, "seed": 1, "optimizer": "adam", "warmup": True}
BAD = [  # (attributes, the key the error names, words the message says)
    ({"bad key": 1}, "bad key", "attribute name 'bad key' is not allowed"),
    ({".hidden": 1}, ".hidden", "not starting with '.'"),
    ({"lr": float("nan")}, "lr", "not a finite number"),
    ({"lr": float("inf")}, "lr", "not a finite number"),
    ({"note": "x" * (MAX_TEXT + 1)}, "note", f"the limit is {MAX_TEXT}"),
    ({"layers": [1, 2]}, "layers", "not list"),
    ({"cfg": {"a": 1}}, "cfg", "not dict"),
    ({"big": 2**63}, "big", "out of range"),
    ({f"k{i}": i for i in range(MAX_KEYS + 1)}, None, f"at most {MAX_KEYS}"),
]


def unique(prefix: str = "run") -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


@pytest.fixture
def sqlite_hub(tmp_path: Path) -> Iterator[Hub]:
    hub = hub_from_store(open_store(tmp_path / "attrs.db"))
    yield hub
    if hub.store is not None:
        hub.store.close()


# ------------------------------------------------------------------ rules and merge
@pytest.mark.parametrize(("given", "key", "words"), BAD)
def test_a_bad_attribute_names_run_and_key_and_changes_nothing(
    sqlite_hub: Hub, given: dict[str, Any], key: str | None, words: str
) -> None:
    sqlite_hub.set_attributes("exp", GOOD)
    with pytest.raises(AttributesError) as refused:
        sqlite_hub.set_attributes("exp", {"seed": 2, **given})
    error = refused.value
    assert isinstance(error, StreamError)  # code catching StreamError catches it
    assert (error.run, error.key) == ("exp", key)
    assert "run 'exp'" in str(error)
    assert words in str(error)
    assert sqlite_hub.attributes("exp") == GOOD  # not even the good key of the change
    sqlite_hub.flush()
    assert sqlite_hub.store is not None
    assert sqlite_hub.store.attributes() == {"exp": GOOD}


def test_attributes_that_are_not_a_mapping_are_refused(sqlite_hub: Hub) -> None:
    with pytest.raises(AttributesError, match="run 'r': attributes must be a mapping"):
        sqlite_hub.set_attributes("r", [("lr", 1)])
    with pytest.raises(StreamError, match="run name 'a b' is not allowed"):
        sqlite_hub.set_attributes("a b", {"lr": 1})
    assert sqlite_hub.runs() == []


def test_setting_merges_none_removes_and_numpy_scalars_become_plain(sqlite_hub: Hub) -> None:
    sqlite_hub.set_attributes("r", {"lr": 0.1, "seed": 1})
    result, ticket = sqlite_hub.set_attributes(
        "r", {"seed": None, "batch": np.int64(64), "dropout": np.float32(0.5), "ok": np.bool_(1)}
    )
    assert result == {"lr": 0.1, "batch": 64, "dropout": 0.5, "ok": True}
    assert [type(v) for v in result.values()] == [float, int, float, bool]
    assert ticket > 0
    assert sqlite_hub.attributes("r") == result
    assert sqlite_hub.set_attributes("r", {})[1] == 0  # nothing to store
    assert "r" in sqlite_hub.runs()  # a run with attributes and no streams is a run


def test_a_full_run_takes_changes_to_keys_it_holds_but_no_new_key(sqlite_hub: Hub) -> None:
    full = {f"k{i}": i for i in range(MAX_KEYS)}
    sqlite_hub.set_attributes("r", full)
    sqlite_hub.set_attributes("r", {"k0": "changed", "k1": None})
    with pytest.raises(AttributesError, match=f"at most {MAX_KEYS}") as refused:
        sqlite_hub.set_attributes("r", {"new1": 1, "new2": 2})
    assert refused.value.key == "new1"
    assert len(sqlite_hub.attributes("r")) == MAX_KEYS - 1


def test_as_text_is_one_plain_line() -> None:
    shown = as_text({"lr": 3e-4, "ok": True, "opt": "adam", "note": 'a "b" c', "empty": ""})
    assert shown == 'lr=0.0003 ok=true opt=adam note="a \\"b\\" c" empty=""'


def test_sv_set_attributes_writes_to_the_process_hub() -> None:
    run = unique()
    sv.set_attributes({"run": "a key named run"}, run=run, lr=0.01)
    try:
        assert sv.default_hub().attributes(run) == {"run": "a key named run", "lr": 0.01}
        with pytest.raises(AttributesError):
            sv.set_attributes(run=run, lr="x" * 1000)
    finally:
        sv.default_hub().delete_run(run)
    assert sv.default_hub().attributes(run) == {}


# ------------------------------------------------------------------ SQLite
def test_sqlite_stores_replays_and_deletes_them_with_the_run(tmp_path: Path) -> None:
    path = tmp_path / "replay.db"
    hub = hub_from_store(open_store(path))
    hub.stream("loss", {"step": 0, "loss": 1.0}, run="a")
    hub.set_attributes("a", GOOD)
    hub.set_attributes("a", {"warmup": None, "note": "<b>bold</b>"})
    hub.set_attributes("b", {"seed": 7})  # a run with attributes only
    hub.delete_run("b")
    hub.set_attributes("c", {"seed": 3})
    hub.flush()
    expected = {"a": hub.attributes("a"), "c": {"seed": 3}}
    assert hub.store is not None
    assert hub.store.attributes() == expected
    hub.store.close()
    again = hub_from_store(open_store(path))
    try:
        assert {run: again.attributes(run) for run in again.runs()} == expected
        assert again.runs() == ["a", "c"]
        again.delete_run("a")
        again.flush()
        assert again.store is not None
        assert again.store.attributes() == {"c": {"seed": 3}}
    finally:
        assert again.store is not None
        again.store.close()


def test_a_format_2_file_is_upgraded_and_a_read_only_open_reads_it_as_it_is(
    tmp_path: Path,
) -> None:
    path = tmp_path / "old.db"
    hub = Hub(store=open_store(path))
    hub.stream("s", {"step": [0, 1]}, run="r")
    hub.flush()
    assert hub.store is not None
    hub.store.close()
    with sqlite3.connect(path) as raw:  # the file as streamvis before attributes wrote it
        raw.execute("DROP TABLE run_attributes")
        raw.execute("UPDATE meta SET value='2' WHERE key='format'")
    raw.close()
    reader = SQLiteStore(path, readonly=True)
    try:
        assert reader.attributes() == {}
        assert [r["run"] for r in reader.runs()] == ["r"]
    finally:
        reader.close()
    again = hub_from_store(open_store(path))
    try:
        np.testing.assert_array_equal(again.read("s", run="r")["step"], [0, 1])
        again.set_attributes("r", {"seed": 1})
        again.flush()
        assert again.store is not None
        assert again.store.attributes() == {"r": {"seed": 1}}
    finally:
        assert again.store is not None
        again.store.close()
    with sqlite3.connect(path) as raw:
        found = raw.execute("SELECT value FROM meta WHERE key='format'").fetchone()[0]
    raw.close()
    assert found == str(sqlite_module.FORMAT) == "3"


# ------------------------------------------------------------------ Redis
def test_redis_stores_them_and_every_hub_follows(redis_server: Any) -> None:
    """Two hubs on one Redis stand for two server processes: what one sets, the other
    sees through its follower; a hub started later catches up; a delete reaches both."""
    one = hub_from_store(open_store(redis_server.url))
    two = hub_from_store(open_store(redis_server.url))
    late: Hub | None = None
    try:
        one.set_attributes("exp", GOOD)
        wait_until(lambda: two.attributes("exp") == GOOD, message="the attributes on two")
        assert "exp" in two.runs()
        two.set_attributes("exp", {"warmup": None, "seed": 2})
        expected = {"lr": 3e-4, "seed": 2, "optimizer": "adam"}
        wait_until(lambda: one.attributes("exp") == expected, message="two's change on one")
        one.flush()
        two.flush()
        assert one.store is not None
        assert one.store.attributes() == {"exp": expected}
        assert two.attributes("exp") == expected  # hub == store, in both processes
        late = hub_from_store(open_store(redis_server.url))
        assert late.attributes("exp") == expected  # read at catch-up, before serving
        with pytest.raises(AttributesError):
            one.set_attributes("exp", {"lr": float("inf")})
        one.delete_run("exp")
        one.flush()
        for hub in (one, two, late):
            wait_until(lambda hub=hub: "exp" not in hub.runs(), message="the delete")
            assert hub.attributes("exp") == {}
        assert one.store.attributes() == {}
    finally:
        for hub in (one, two, late):
            if hub is not None and hub.store is not None:
                hub.store.close()


# ------------------------------------------------------------------ CLI
def test_ls_prints_export_writes_and_rm_removes_them(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "cli.db"
    hub = Hub(store=open_store(path))
    hub.stream("loss", {"step": [0, 1], "loss": [1.0, 0.5]}, run="exp")
    hub.set_attributes("exp", {"lr": 0.001, "optimizer": "adam"})
    hub.flush()
    assert hub.store is not None
    hub.store.close()
    assert cli_main(["ls", "--store", str(path), "--json"]) == 0
    listed = json.loads(capsys.readouterr().out)
    assert listed[0]["attributes"] == {"lr": 0.001, "optimizer": "adam"}
    assert cli_main(["ls", "--store", str(path)]) == 0
    assert "lr=0.001 optimizer=adam" in capsys.readouterr().out
    out = tmp_path / "out"
    assert cli_main(["export", "--store", str(path), "--run", "exp", "-o", str(out)]) == 0
    exported = json.loads((out / "attributes.json").read_text())
    assert exported == {"lr": 0.001, "optimizer": "adam"}
    assert cli_main(["rm", "exp", "--store", str(path), "--yes"]) == 0
    reader = SQLiteStore(path, readonly=True)
    try:
        assert reader.attributes() == {}
    finally:
        reader.close()


# ------------------------------------------------------------------ the Client's request
def test_the_client_sends_attributes_as_a_put_before_its_rows() -> None:
    made = requests_for(
        lambda run: f"/api/v1/runs/{run or 'mine'}",
        [Item(None, "attributes", {"lr": 0.1}, rows=0), ("loss", [{"step": 0}])],
        batch_rows=100,
    )
    assert [(r.method, r.path) for r in made] == [
        ("PUT", "/api/v1/runs/mine/attributes"),
        ("POST", "/api/v1/runs/mine/streams/loss"),
    ]
    assert json.loads(made[0].body or b"") == {"lr": 0.1}


def test_a_client_refuses_bad_attributes_at_once() -> None:
    with pytest.raises(AttributesError) as refused:
        sv.Client("http://127.0.0.1:9", "exp", attributes={"lr": float("nan")})
    assert (refused.value.run, refused.value.key) == ("exp", "lr")


# ------------------------------------------------------------------ what grouping reads
def test_grouped_runs_read_the_attributes_a_real_hub_holds() -> None:
    """The grouped bands (page/group_lines.py) group by `Hub.attributes(run)`."""
    from streamvis.page.group_lines import attribute_names
    from streamvis.transforms.groups import GroupRule, group_runs

    hub = Hub()
    for run, seed in (("a", 1), ("b", 2), ("c", 1)):
        hub.stream("loss", {"step": 0, "loss": 1.0}, run=run)
        hub.set_attributes(run, {"seed": seed, "lr": 0.1})
    runs = ["a", "b", "c"]
    assert attribute_names(hub, runs) == ["lr", "seed"]
    held = {run: hub.attributes(run) for run in runs}
    assert dict(group_runs(GroupRule("attribute", "seed"), runs, held)) == {
        "seed=1": ["a", "c"],
        "seed=2": ["b"],
    }


# ------------------------------------------------------------------ the runs panel's row
def test_the_runs_panel_row_shows_attributes_as_escaped_text() -> None:
    from streamvis.page.runs_panel import row_html, row_of

    note = "<img src=x onerror=sv_pwn(1)><script>sv_pwn(2)</script>"
    hub = Hub()
    hub.stream("loss", {"step": 0, "loss": 1.0}, run="exp")
    hub.set_attributes("exp", {"lr": 0.001, "note": note})
    row = row_of(hub, "exp", "#30a2da", hub.run_facts("exp").last_write)
    assert row.details == as_text({"lr": 0.001, "note": note})
    shown = row_html(row, "1970-01-01")
    for tag in ("<img", "<script"):
        assert tag not in shown
    assert "lr=0.001" in shown
    assert "&lt;img src=x onerror=sv_pwn(1)&gt;" in shown
