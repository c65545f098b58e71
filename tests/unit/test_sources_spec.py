"""Layout key `sources:`: valid sources, defaults, round-trip, and the exact error messages."""

from __future__ import annotations

import re
import subprocess
import sys

import pytest

from streamvis.errors import SpecError
from streamvis.layout.spec import (
    Layout,
    Source,
    layout_from_dict,
    layout_from_yaml,
    layout_to_dict,
)

# Line numbers matter: the error table below points into this text.
BASE = """\
title: Feeds
sources:
  - name: feed
    type: websocket
    stream: purchases
    url: ws://127.0.0.1:8765/feed
  - name: log
    type: file
    stream: metrics
    path: data/metrics.csv
plots:
  - {id: a, kind: line, stream: metrics, x: step, y: loss, at: [0, 0, 1, 1]}
"""
PLOT = {"id": "a", "kind": "line", "stream": "s", "x": "t", "y": "v", "at": [0, 0, 1, 1]}


def edit(old: str, new: str, text: str = BASE) -> str:
    """BASE with one exact, unique fragment replaced."""
    assert text.count(old) == 1, old
    return text.replace(old, new)


def with_source(**raw) -> str:
    """A layout whose only source is `raw`, one key per line from line 3 on."""
    lines = "".join(f"    {key}: {value}\n" for key, value in raw.items())
    plot = "  - {id: a, kind: line, stream: s, x: t, y: v, at: [0, 0, 1, 1]}\n"
    return f"sources:\n  -\n{lines}plots:\n{plot}"


def test_sources_are_parsed_with_defaults():
    layout = layout_from_yaml(BASE, source="ok.yaml")
    feed, log = layout.sources
    assert feed == Source("feed", "websocket", "purchases", {"url": "ws://127.0.0.1:8765/feed"})
    assert log == Source(
        "log", "file", "metrics", {"path": "data/metrics.csv", "format": "csv", "from": "start"}
    )
    assert log["path"] == "data/metrics.csv"
    assert log.get("group_id") is None


@pytest.mark.parametrize(
    ("raw", "options"),
    [
        (
            {"type": "file", "path": "a.ndjson"},
            {"path": "a.ndjson", "format": "jsonl", "from": "start"},
        ),
        (
            {"type": "file", "path": "a.log", "format": "csv", "from": "end"},
            {"path": "a.log", "format": "csv", "from": "end"},
        ),
        ({"type": "tcp", "host": "localhost", "port": 9000}, {"host": "localhost", "port": 9000}),
        (
            {"type": "python", "function": "tests/producers.py:rows"},
            {"function": "tests/producers.py:rows", "every_ms": 1000, "mode": "append"},
        ),
        (
            {"type": "python", "function": "pkg.mod:f", "every_ms": 50, "mode": "replace"},
            {"function": "pkg.mod:f", "every_ms": 50, "mode": "replace"},
        ),
        (
            {"type": "kafka", "topic": "t", "bootstrap_servers": "k:9092", "group_id": "g"},
            {"topic": "t", "bootstrap_servers": ["k:9092"], "group_id": "g"},
        ),
    ],
)
def test_each_type_and_its_defaults(raw, options):
    layout = layout_from_dict({"plots": [PLOT], "sources": [{"name": "n", "stream": "s", **raw}]})
    assert layout.sources == (Source("n", raw["type"], "s", options),)


def test_no_sources_is_an_empty_tuple_and_not_in_the_dict():
    layout = layout_from_dict({"plots": [PLOT]})
    assert layout.sources == ()
    assert "sources" not in layout_to_dict(layout)
    assert layout_from_dict({"plots": [PLOT], "sources": None}).sources == ()


def test_round_trip_through_layout_to_dict():
    layout = layout_from_yaml(BASE)
    raw = layout_to_dict(layout)
    assert raw["sources"] == [
        {
            "name": "feed",
            "type": "websocket",
            "stream": "purchases",
            "url": "ws://127.0.0.1:8765/feed",
        },
        {
            "name": "log",
            "type": "file",
            "stream": "metrics",
            "path": "data/metrics.csv",
            "format": "csv",
            "from": "start",
        },
    ]
    assert layout_from_dict(raw).sources == layout.sources


def test_layout_built_in_python_validates_sources():
    source = Source("f", "tcp", "s", {"host": "h", "port": 1})
    layout = Layout(
        plots=[PLOT],
        sources=[source, {"name": "g", "type": "file", "stream": "s", "path": "x.csv"}],
    )
    assert layout.sources[0] == source
    assert layout.sources[1].options["format"] == "csv"
    with pytest.raises(
        SpecError, match=re.escape("layout: sources.f.port: must be a port number")
    ):
        Layout(
            plots=[PLOT],
            sources=[{"name": "f", "type": "tcp", "stream": "s", "host": "h", "port": 0}],
        )


BAD = [
    pytest.param(
        edit("type: websocket", "type: websockett"),
        "bad.yaml:4:5: sources.feed.type: unknown source type 'websockett'. Did you mean "
        "'websocket'? Types: websocket, file, tcp, python, kafka.\n"
        "       4 |     type: websockett",
        id="unknown-type",
    ),
    pytest.param(
        edit("url: ws", "urll: ws"),
        "bad.yaml:6:5: sources.feed.urll: unknown key in a websocket source. Did you mean 'url'? "
        "Valid keys: name, type, stream, url.\n       6 |     urll: ws://127.0.0.1:8765/feed",
        id="unknown-key",
    ),
    pytest.param(
        edit("    url: ws://127.0.0.1:8765/feed\n", ""),
        "bad.yaml:3:5: sources.feed: 'url' is required for a websocket source\n"
        "       3 |   - name: feed",
        id="missing-url",
    ),
    pytest.param(
        edit("    type: websocket\n", ""),
        "bad.yaml:3:5: sources.feed: 'type' is required (one of: websocket, file, tcp, python, "
        "kafka)\n       3 |   - name: feed",
        id="missing-type",
    ),
    pytest.param(
        edit("    stream: purchases\n", ""),
        "bad.yaml:3:5: sources.feed: 'stream' is required for a websocket source",
        id="missing-stream",
    ),
    pytest.param(
        edit("  - name: feed\n    type", "  - type"),
        "bad.yaml:3:5: sources[0]: 'name' is required for a websocket source",
        id="missing-name",
    ),
    pytest.param(
        edit("url: ws://127.0.0.1:8765/feed", "url: http://127.0.0.1/feed"),
        "bad.yaml:6:5: sources.feed.url: must be a ws:// or wss:// URL, not 'http://127.0.0.1/feed'",
        id="url-scheme",
    ),
    pytest.param(
        edit("name: log", "name: feed"),
        "bad.yaml:7:5: sources.feed.name: source name 'feed' is used twice",
        id="duplicate-name",
    ),
    pytest.param(
        edit("name: feed", "name: bad name"),
        "bad.yaml:3:5: sources.bad name.name: source name 'bad name' is not allowed: use 1-128 "
        "letters, digits, '_', '.' or '-', not starting with '.' or '-'",
        id="bad-name",
    ),
    pytest.param(
        edit("stream: purchases", "stream: [a]"),
        "bad.yaml:5:5: sources.feed.stream: stream name ['a'] is not allowed",
        id="stream-not-text",
    ),
    pytest.param(
        edit("path: data/metrics.csv", "path: data/metrics.txt"),
        "bad.yaml:10:5: sources.log.path: cannot tell the format from the extension '.txt'; "
        "add format: jsonl or csv",
        id="file-format-unknown",
    ),
    pytest.param(
        edit("path: data/metrics.csv", "path: data/metrics.csv\n    format: tsv"),
        "bad.yaml:11:5: sources.log.format: must be one of jsonl, csv, not 'tsv'. "
        "Did you mean 'csv'?",
        id="file-format-choice",
    ),
    pytest.param(
        edit("path: data/metrics.csv", "path: data/metrics.csv\n    from: ending"),
        "bad.yaml:11:5: sources.log.from: must be one of start, end, not 'ending'. "
        "Did you mean 'end'?",
        id="file-from-choice",
    ),
    pytest.param(
        edit("path: data/metrics.csv", "path: ''"),
        "bad.yaml:10:5: sources.log.path: must be non-empty text, not ''",
        id="file-path-empty",
    ),
    pytest.param(
        with_source(name="t", type="tcp", stream="s", host="h", port="'80'"),
        "bad.yaml:7:5: sources.t.port: must be a port number between 1 and 65535, not '80'",
        id="tcp-port-text",
    ),
    pytest.param(
        with_source(name="t", type="tcp", stream="s", host="h", port=70000),
        "bad.yaml:7:5: sources.t.port: must be a port number between 1 and 65535, not 70000",
        id="tcp-port-range",
    ),
    pytest.param(
        with_source(name="t", type="tcp", stream="s", port=80),
        "bad.yaml:3:5: sources.t: 'host' is required for a tcp source",
        id="tcp-host-missing",
    ),
    pytest.param(
        with_source(name="p", type="python", stream="s", function="producers.rows"),
        "bad.yaml:6:5: sources.p.function: must look like module:function or "
        "path/file.py:function, not 'producers.rows'",
        id="python-reference",
    ),
    pytest.param(
        with_source(name="p", type="python", stream="s", function="m:f", every_ms=5),
        "bad.yaml:7:5: sources.p.every_ms: must be at least 10, not 5",
        id="python-every-ms-small",
    ),
    pytest.param(
        with_source(name="p", type="python", stream="s", function="m:f", every_ms=1.5),
        "bad.yaml:7:5: sources.p.every_ms: must be an integer, not a number",
        id="python-every-ms-float",
    ),
    pytest.param(
        with_source(name="p", type="python", stream="s", function="m:f", mode="replase"),
        "bad.yaml:7:5: sources.p.mode: must be one of append, replace, not 'replase'. "
        "Did you mean 'replace'?",
        id="python-mode",
    ),
    pytest.param(
        with_source(name="k", type="kafka", stream="s", topic="t"),
        "bad.yaml:3:5: sources.k: 'bootstrap_servers' is required for a kafka source",
        id="kafka-servers-missing",
    ),
    pytest.param(
        with_source(name="k", type="kafka", stream="s", topic="t", bootstrap_servers=9092),
        "bad.yaml:7:5: sources.k.bootstrap_servers: must be a list of text, not an integer",
        id="kafka-servers-type",
    ),
    pytest.param(
        with_source(name="k", type="kafka", stream="s", topic="t", bootstrap_servers="b", url="x"),
        "bad.yaml:8:5: sources.k.url: unknown key in a kafka source. Valid keys: name, type, "
        "stream, topic, bootstrap_servers, group_id.",
        id="kafka-unknown-key",
    ),
    pytest.param(
        "sources: {name: feed}\n" + BASE.split("plots:\n")[1].join(["plots:\n", ""]),
        "bad.yaml:1:1: sources: 'sources' must be a list of sources, not a mapping",
        id="sources-not-a-list",
    ),
    pytest.param(
        "sources: [3]\nplots:\n  - {id: a, kind: line, stream: s, x: t, y: v, at: [0, 0, 1, 1]}\n",
        "bad.yaml:1:11: sources[0]: each source must be a mapping of keys, not an integer",
        id="source-not-a-mapping",
    ),
    pytest.param(
        edit("sources:", "sourses:"),
        "bad.yaml:2:1: sourses: unknown key in the layout. Did you mean 'sources'? "
        "Valid keys: title, refresh_ms, run, grid, plots, sources.",
        id="top-level-typo",
    ),
]


@pytest.mark.parametrize(("text", "expected"), BAD)
def test_bad_sources(text, expected):
    with pytest.raises(SpecError) as info:
        layout_from_yaml(text, source="bad.yaml")
    assert str(info.value).startswith(expected), str(info.value)


# ------------------------------------------------- the declarations, once, on the classes


def test_the_type_table_is_derived_from_the_classes_and_known_to_the_validator():
    from streamvis.layout.source_types import registered
    from streamvis.sources.registry import CLASSES, TYPES

    assert list(TYPES) == ["websocket", "file", "tcp", "python", "kafka"]
    assert all(TYPES[cls.TYPE] is cls for cls in CLASSES)
    assert list(registered()) == list(TYPES)
    for name, declared in registered().items():
        assert declared.settings is TYPES[name].SETTINGS  # one declaration, not a copy


def test_a_new_source_class_is_validated_like_the_others(monkeypatch):
    """A plug-in type: its class declares type, settings and defaults; registering it is all
    the layout needs (errors and defaults come from the declaration)."""
    from streamvis.layout import source_types
    from streamvis.layout.checks import check_count
    from streamvis.sources.base import BaseSource
    from streamvis.sources.registry import declaration

    class CounterSource(BaseSource):
        TYPE = "counter"
        SETTINGS = {"every": source_types.Setting(check_count, default=5)}

    monkeypatch.setitem(source_types._REGISTRY.entries, "counter", declaration(CounterSource))
    raw = {"name": "c", "type": "counter", "stream": "s"}
    layout = layout_from_dict({"plots": [PLOT], "sources": [raw]})
    assert layout.sources == (Source("c", "counter", "s", {"every": 5}),)
    with pytest.raises(SpecError) as info:
        layout_from_dict({"plots": [PLOT], "sources": [{**raw, "evry": 1}]})
    assert str(info.value) == (
        "layout: sources.c.evry: unknown key in a counter source. Did you mean 'every'? "
        "Valid keys: name, type, stream, every."
    )


def test_a_source_reads_its_declared_default_when_the_spec_has_none():
    from streamvis.core.hub import Hub
    from streamvis.sources import make_source

    source = make_source(Source("p", "python", "s", {"function": "m:f"}), Hub())
    assert (source.setting("every_ms"), source.setting("mode")) == (1000, "append")
    assert source.setting("format") is None  # not a python setting


def test_the_page_hears_of_failing_sources_only_through_core_status(monkeypatch):
    from streamvis.core import status
    from streamvis.sources import running

    assert running.report in status._reporters  # registered when sources were imported
    assert status.problems("a run no source writes to") is None  # the header shows nothing
    monkeypatch.setattr(status, "_reporters", [lambda run: ["feed: retrying: down"]])
    status.add_reporter(running.report)
    assert status.problems("r") == ["feed: retrying: down"]


def test_the_types_are_known_to_a_process_that_never_imports_sources_itself():
    """The layout does not import sources; the package's __init__ registers them, so reading
    a layout alone (a fresh interpreter, only layout.spec imported) knows every type."""
    code = (
        "from streamvis.layout.spec import layout_from_dict\n"
        "plot = {'id': 'a', 'kind': 'line', 'stream': 's', 'x': 't', 'y': 'v',"
        " 'at': [0, 0, 1, 1]}\n"
        "source = {'name': 'n', 'type': 'file', 'stream': 's', 'path': 'a.csv'}\n"
        "print(layout_from_dict({'plots': [plot], 'sources': [source]}).sources[0].options)\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=300
    )
    assert result.stdout.strip() == "{'path': 'a.csv', 'format': 'csv', 'from': 'start'}"
