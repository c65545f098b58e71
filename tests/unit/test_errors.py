"""The exception tree (streamvis/errors.py): its shape and exports, the fields each error
carries (so nothing reads a message back), no foreign exception from the public API for a
user's mistake, and `Client.stream(run=...)` queued for the run it names."""

from __future__ import annotations

import ast
import os
import pickle
from pathlib import Path
from typing import Any

import numpy as np
import pytest

import streamvis as sv
from streamvis import errors
from streamvis.client.shutdown import undelivered
from streamvis.client.transport import Item, requests_for
from streamvis.core import hub as hub_module
from streamvis.errors import StoreBusy
from streamvis.store import open_store
from streamvis.store.sqlite import SQLiteStore

PACKAGE = Path(sv.__file__).parent
UNREACHABLE = "http://127.0.0.1:9"  # nothing listens; no test lets a request get that far
PUBLIC = [
    "ClientError",
    "ExportError",
    "ServeError",
    "SpecError",
    "StoreError",
    "StoreFailing",
    "StreamError",
]


# ------------------------------------------------------------------------- the tree
def test_every_public_error_is_a_streamvis_error_exported_from_streamvis() -> None:
    for name in PUBLIC:
        cls = getattr(errors, name)
        assert issubclass(cls, sv.StreamvisError), name
        assert getattr(sv, name) is cls, name
        assert name in sv.__all__, name
    assert issubclass(errors.StoreFailing, errors.StoreError)
    assert issubclass(errors.StoreBusy, errors.StoreError)
    # the built-in types they also are, so code written against those keeps working
    for name in ("StreamError", "SpecError", "ClientError", "ServeError"):
        assert issubclass(getattr(errors, name), ValueError), name
    assert issubclass(errors.StoreFailing, RuntimeError)


def _exception_classes() -> dict[str, str]:
    """{class name: file} of every exception class defined in the package's source."""
    found = {}
    bases = ("Exception", "Error", "ValueError", "TypeError", "RuntimeError", "StreamvisError")
    for path in PACKAGE.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ClassDef):
                names = [ast.unparse(base) for base in node.bases]
                if any(name.endswith(bases) for name in names):
                    found[node.name] = str(path.relative_to(PACKAGE))
    return found


def test_exception_classes_outside_errors_py_are_named_there_as_private() -> None:
    """A class raised inside one room is listed in errors.py's docstring with what it
    becomes; anything else must live in errors.py itself."""
    outside = {n: f for n, f in _exception_classes().items() if f != "errors.py"}
    assert outside, "the scan found nothing: it is broken"
    doc = errors.__doc__ or ""
    unlisted = sorted(f"{f}: {n}" for n, f in outside.items() if f"`{n}`" not in doc)
    assert not unlisted, f"document these in errors.py (or move them there): {unlisted}"


def test_errors_keep_their_message_and_fields_through_pickle() -> None:
    error = errors.StreamError("run 'r', stream 's': bad", run="r", stream="s", column="c")
    again = pickle.loads(pickle.dumps(error))
    assert (str(again), again.run, again.stream, again.column) == (str(error), "r", "s", "c")
    busy = pickle.loads(pickle.dumps(StoreBusy("in use by pid 1", owner="pid 1", file="f")))
    assert (busy.owner, busy.file) == ("pid 1", "f")


def test_located_fills_only_what_is_unknown() -> None:
    error = errors.StreamError("m", column="c").located(run="r", column="other", stream=None)
    assert (error.run, error.stream, error.column) == ("r", None, "c")


# ------------------------------------------------------------------- StreamError fields
@pytest.mark.parametrize(
    ("data", "column"),
    [
        ({"step": 1, "train": "nan?"}, "train"),  # text where numbers are stored
        ({"step": 1, "train": object()}, "train"),  # not storable at all
        ({"step": [1, 2], "train": [1.0]}, None),  # ragged: no one column to blame
        ([{"step": 1, "train": 2**70}], "train"),  # outside int64
    ],
)
def test_stream_errors_name_run_stream_and_column_as_fields(
    data: dict[str, Any], column: str | None
) -> None:
    hub = sv.Hub()
    hub.stream("loss", {"step": 0, "train": 0.5}, run="r1")
    with pytest.raises(sv.StreamError) as refused:
        hub.stream("loss", data, run="r1")
    error = refused.value
    assert (error.run, error.stream, error.column) == ("r1", "loss", column)
    assert str(error).startswith("run 'r1', stream 'loss'")
    if column is not None:
        assert f"column '{column}'" in str(error)
    assert hub.read("loss", run="r1")["train"].tolist() == [0.5]  # nothing changed


def test_a_bad_mode_and_a_missing_stream_name_run_and_stream() -> None:
    hub = sv.Hub()
    with pytest.raises(sv.StreamError) as mode:
        hub.stream("s", {"a": 1}, run="r", mode="upsert")
    assert (mode.value.run, mode.value.stream) == ("r", "s")
    with pytest.raises(sv.StreamError) as missing:
        hub.read("nope", run="r")
    assert (missing.value.run, missing.value.stream) == ("r", "nope")


@pytest.mark.parametrize("retain", [0, -1, 2.5, "10", True])
def test_a_hub_with_a_bad_retain_is_refused_when_built(retain: Any) -> None:
    with pytest.raises(sv.StreamError, match=r"Hub\(retain=.*whole number of at least 1"):
        sv.Hub(retain=retain)


def test_a_numpy_integer_retain_is_accepted() -> None:
    assert sv.Hub(retain=np.int64(3)).retain == 3


# --------------------------------------------------------------------- SpecError fields
def test_a_yaml_mistake_names_file_line_col_and_key_path(tmp_path: Path) -> None:
    layout = tmp_path / "bad.yaml"
    layout.write_text("plots:\n  - id: loss\n    kind: lien\n    stream: loss\n")
    with pytest.raises(sv.SpecError) as refused:
        sv.load_layout(layout)
    error = refused.value
    assert (error.file, error.line, error.col) == (str(layout), 3, 5)
    assert error.path == ("plots", 0, "kind")
    assert str(error).startswith(f"{layout}:3:5: plots.loss.kind: unknown kind 'lien'")


def test_a_yaml_syntax_error_and_a_missing_file_name_the_file(tmp_path: Path) -> None:
    broken = tmp_path / "broken.yaml"
    broken.write_text("plots: [\n")
    with pytest.raises(sv.SpecError) as syntax:
        sv.load_layout(broken)
    assert syntax.value.file == str(broken)
    assert syntax.value.line is not None
    with pytest.raises(sv.SpecError) as missing:
        sv.load_layout(tmp_path / "nope.yaml")
    assert missing.value.file == str(tmp_path / "nope.yaml")


@pytest.mark.parametrize(
    "make",
    [
        lambda: sv.Layout(plots=None),  # type: ignore[arg-type]
        lambda: sv.Layout(plots=[{"id": "p", "kind": "line"}], sources=5),  # type: ignore[arg-type]
        lambda: sv.load_layout(5),  # type: ignore[arg-type]
    ],
    ids=["plots None", "sources 5", "load_layout(5)"],
)
def test_layout_misuse_is_a_spec_error(make: Any) -> None:
    with pytest.raises(sv.SpecError):
        make()


@pytest.mark.parametrize(
    ("options", "match"),
    [
        ({"port": "5006"}, r"serve\(port='5006'\): the port must be a whole number"),
        ({"port": 70000}, "0 to 65535"),
        ({"address": 5}, r"serve\(address=5\): the address must be"),
    ],
)
def test_serve_refuses_a_port_or_address_before_starting(
    options: dict[str, Any], match: str
) -> None:
    with pytest.raises(sv.ServeError, match=match):
        sv.serve({"plots": [{"id": "p", "kind": "markdown", "at": [0, 0, 1, 1]}]}, **options)


# ------------------------------------------------------------------- store and export
def test_a_store_in_use_names_its_owner_and_file(tmp_path: Path) -> None:
    path = tmp_path / "runs.db"
    first = SQLiteStore(path)
    try:
        with pytest.raises(StoreBusy) as busy:
            SQLiteStore(path)
        assert busy.value.owner == f"pid {os.getpid()}"
        assert busy.value.file == str(path)
        assert "is in use by" in str(busy.value)
    finally:
        first.close()


@pytest.mark.parametrize(
    ("retention", "match"),
    [
        ({"rowz": 5}, "unknown retention rowz"),
        ({"rows": 0}, r"use_store\(rows=0\): rows must be a whole number above 0"),
        ({"rows": "10"}, "rows must be a whole number"),
        ({"age": -1.0}, "age must be a number of seconds above 0"),
        ({"bytes": 1.5}, "bytes must be a whole number"),
    ],
)
def test_use_store_names_a_bad_retention(retention: dict[str, Any], match: str) -> None:
    before = hub_module._default_hub
    with pytest.raises(sv.StoreError, match=match):
        sv.use_store("none", **retention)
    assert hub_module._default_hub is before


def test_use_store_refuses_a_path_that_is_not_one() -> None:
    with pytest.raises(sv.StoreError, match="must be a file path"):
        sv.use_store(5)  # type: ignore[arg-type]


def test_a_store_that_cannot_be_opened_leaves_the_default_hub_working(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    current = sv.Hub(store=open_store(tmp_path / "a.db"))
    monkeypatch.setattr(hub_module, "_default_hub", current)
    try:
        with pytest.raises(sv.StoreError) as refused:
            sv.use_store(tmp_path)  # a directory: SQLite cannot open it
        assert refused.value.file == str(tmp_path)
        assert sv.default_hub() is current
        current.stream("s", {"a": 1})
        assert current.flush(timeout=30)  # its store is still open and writing
    finally:
        assert current.store is not None
        current.store.close()


def test_export_refuses_a_store_that_is_not_a_path() -> None:
    with pytest.raises(sv.ExportError, match="must be a file path, not int"):
        sv.export(run="x", store=5)  # type: ignore[arg-type]


def test_a_wrong_hub_or_store_object_is_our_error_not_an_attribute_error() -> None:
    with pytest.raises(sv.StoreError, match=r"Hub\(store=...\) must be a Store"):
        sv.Hub(store="runs.db")  # type: ignore[arg-type]
    with pytest.raises(sv.ExportError, match=r"export\(hub=...\) must be a streamvis Hub"):
        sv.export(run="x", hub=5)  # type: ignore[arg-type]
    layout = {"plots": [{"id": "m", "kind": "markdown", "text": "hi", "at": [0, 0, 1, 1]}]}
    with pytest.raises(sv.StreamError, match=r"dashboard\(hub=...\) must be a streamvis Hub"):
        sv.dashboard(layout, hub=5)  # type: ignore[arg-type]


def test_export_errors_name_run_and_stream() -> None:
    hub = sv.Hub()
    hub.stream("s", {"a": 1}, run="exported")
    with pytest.raises(sv.ExportError) as missing:
        sv.export(run="exported", stream="nope", hub=hub)
    assert (missing.value.run, missing.value.stream) == ("exported", "nope")
    with pytest.raises(sv.ExportError) as no_run:
        sv.export(run="never-written", hub=hub)
    assert (no_run.value.run, no_run.value.stream) == ("never-written", None)


# ------------------------------------------------------------------------ ClientError
@pytest.mark.parametrize(
    ("args", "options", "match"),
    [
        (("ftp://x",), {}, "must look like http://host:port, not 'ftp://x'"),
        ((5,), {}, "must be text"),
        (("http://x:port",), {}, "the port must be a number"),
        ((UNREACHABLE,), {"queue_rows": 0}, r"queue_rows=0\): queue_rows must be a whole"),
        ((UNREACHABLE,), {"batch_rows": "many"}, "batch_rows must be a whole number"),
        (
            (UNREACHABLE,),
            {"when_full": "wait"},
            "when_full must be 'drop_oldest', 'drop_newest' or 'block'",
        ),
        ((UNREACHABLE,), {"flush_interval": -1}, "flush_interval must be a number of seconds"),
        ((UNREACHABLE,), {"timeout": 0}, "timeout must be a number of seconds, more than 0"),
        ((UNREACHABLE,), {"exit_timeout": "soon"}, "exit timeout must be a number"),
        ((UNREACHABLE,), {"max_body": 0}, "max_body must be a whole number of at least 1"),
        ((UNREACHABLE, "default", 1234), {}, "the token must be text"),
    ],
)
def test_a_client_with_a_bad_url_or_setting_is_a_client_error(
    args: tuple[Any, ...], options: dict[str, Any], match: str
) -> None:
    with pytest.raises(sv.ClientError, match=match):
        sv.Client(*args, **options)


def test_a_bad_max_body_in_the_environment_is_a_client_error(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("STREAMVIS_MAX_BODY", "lots")
    with pytest.raises(sv.ClientError, match="STREAMVIS_MAX_BODY='lots'"):
        sv.Client(UNREACHABLE)


def test_connect_names_an_unknown_option_and_keeps_the_local_hub() -> None:
    with pytest.raises(sv.ClientError, match="unknown option.*queue_size") as refused:
        sv.connect(UNREACHABLE, queue_size=10)
    assert refused.value.url == UNREACHABLE
    assert sv._connected is None


def test_a_bad_connect_keeps_the_current_connection() -> None:
    current = sv.connect(UNREACHABLE, run="kept", exit_timeout=0)
    try:
        with pytest.raises(sv.ClientError, match="ftp"):
            sv.connect("ftp://elsewhere")
        assert sv._connected is current
    finally:
        sv.connect(None)


# ------------------------------------------------------------- Client.stream(run=...)
def test_client_stream_queues_rows_for_the_run_it_names() -> None:
    client = sv.Client(UNREACHABLE, "home")
    client._closing = True  # the sender takes nothing: the queue is read below
    try:
        assert client.stream("s", {"i": 1}) == 1
        assert client.stream("s", {"i": 2}, run="other") == 1
        assert client.stream("s", {"i": 3}, run="home") == 1  # its own run: the fast path
        client.clear("s", run="other")
        with pytest.raises(sv.StreamError) as refused:
            client.stream("s", {"i": 4}, run="no good")
        assert "run name 'no good' is not allowed" in str(refused.value)
        with pytest.raises(sv.StreamError, match="run name"):
            client.stream("s", {"i": 4}, run=["not", "text"])  # type: ignore[arg-type]
        with pytest.raises(sv.StreamError) as bad:
            client.stream("s", {"i": "x", "j": [1, 2]}, run="other")
        assert (bad.value.run, bad.value.stream) == ("other", "s")
        queued = list(client._queue)
    finally:
        client._queue.clear()
        client._closing = False
        client.close(timeout=0)
    # own run: scalar rows as (stream, rows); another run's as Items that name it
    assert [entry.run if type(entry) is Item else entry[0] for entry in queued] == [
        "s",
        "other",
        "s",
        "other",
    ]
    requests = requests_for(lambda run: f"/api/v1/runs/{run or 'home'}", queued, 100)
    assert [(r.method, r.path, r.rows) for r in requests] == [
        ("POST", "/api/v1/runs/home/streams/s", 2),
        ("POST", "/api/v1/runs/other/streams/s", 1),
        ("DELETE", "/api/v1/runs/other/streams/s", 0),
    ]


def test_requests_merge_appends_per_run_and_stream_in_queue_order() -> None:
    def batch(value: int) -> dict[str, np.ndarray]:
        return {"i": np.array([value])}

    entries: list[tuple[Any, ...]] = [
        Item("s", "batch", batch(1), rows=1, run="a"),
        Item("s", "batch", batch(2), rows=1, run="b"),
        Item("s", "batch", batch(3), rows=1, run="a"),
        Item("s", "batch", batch(4), rows=1),
    ]
    requests = requests_for(lambda run: f"/r/{run}", entries, 100)
    assert [(r.path, r.rows, r.run) for r in requests] == [
        ("/r/a/streams/s", 2, "a"),
        ("/r/b/streams/s", 1, "b"),
        ("/r/None/streams/s", 1, None),
    ]


def test_undelivered_rows_of_several_runs_name_each_run() -> None:
    report = undelivered("home", "http://h", {(None, "s"): 2, ("other", "s"): 3}, "", False, 1)
    assert report is not None
    entries, message = report
    assert [(e["run"], e["stream"], e["rows"]) for e in entries] == [
        ("home", "s", 2),
        ("other", "s", 3),
    ]
    assert "5 rows of runs 'home', 'other' not delivered" in message
    assert "'home/s', 'other/s'" in message
