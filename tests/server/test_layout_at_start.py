"""A bad layout is reported when a server starts, before any browser comes: `streamvis
serve`, `panel serve apps/dashboard.py` with the ingest plugin or with `--warm`, and
`sv.serve` refuse it with the file, line and column, and nothing listens. Plain `panel serve
apps/dashboard.py` runs no streamvis code before the first page (tests/ui's error page)."""

from __future__ import annotations

import os
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

import streamvis as sv
from streamvis.core.hub import Hub
from tests.conftest import ROOT, accepts_connections, free_port

pytestmark = [pytest.mark.server]

GOOD_PLOT = "  - {id: a, kind: line, stream: s, x: x, y: a, at: [0, 0, 1, 1]}\n"
BAD_LAYOUTS = {  # name: (file text, what the message must say, the line it names)
    "typo": (
        "title: t\nplots:\n  - id: a\n    kind: line\n    strem: s\n    x: x\n    y: a\n"
        "    at: [0, 0, 1, 1]\n",
        "plots.a.strem: unknown key in a line plot. Did you mean 'stream'?",
        5,
    ),
    "unknown kind": (
        "title: t\nplots:\n  - id: a\n    kind: sunburst\n    stream: s\n    at: [0, 0, 1, 1]\n",
        "plots.a.kind: unknown kind 'sunburst'",
        4,
    ),
    "overlap": (
        "title: t\nplots:\n" + GOOD_PLOT + GOOD_PLOT.replace("id: a", "id: b"),
        "plots.b.at: overlaps plot 'a' at row 0, column 0",
        4,
    ),
}
PANEL = [sys.executable, "-m", "panel", "serve", str(ROOT / "apps" / "dashboard.py")]


def write_layouts(folder: Path) -> dict[str, Path]:
    paths = {}
    for name, (text, _message, _line) in BAD_LAYOUTS.items():
        paths[name] = folder / f"{name.replace(' ', '-')}.yaml"
        paths[name].write_text(text)
    return paths


def refused(command: list[str], folder: Path, port: int, **env: str) -> str:
    """Run a server command that must refuse to start: exit 2, no traceback, nothing
    listening on its port; returns its stderr."""
    done = subprocess.run(
        command,
        cwd=folder,
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, "STREAMVIS_STORE": "none", **env},
    )
    assert done.returncode == 2, (command, done.returncode, done.stdout, done.stderr)
    assert "Traceback" not in done.stderr + done.stdout, done.stderr
    assert not accepts_connections(port)
    return done.stderr


def assert_names_file_and_line(stderr: str, path: Path, name: str) -> None:
    """The first line is `streamvis: FILE:LINE:COLUMN: message`, and the offending line of
    the file is quoted after it."""
    _text, message, line = BAD_LAYOUTS[name]
    first = stderr.splitlines()[0]
    assert first.startswith(f"streamvis: {path.name}:{line}:"), (name, stderr)
    assert message in first, (name, stderr)
    assert f"{line} | " in stderr, (name, stderr)


def test_streamvis_serve_refuses_a_bad_layout_with_file_and_line(tmp_path: Path) -> None:
    paths = write_layouts(tmp_path)
    streamvis = str(Path(sys.executable).with_name("streamvis"))
    port = free_port()

    def serve(name: str) -> str:
        command = [streamvis, "serve", paths[name].name, "--port", str(port), "--store", "none"]
        return refused(command, tmp_path, port)

    with ThreadPoolExecutor(len(paths)) as pool:
        outputs = dict(zip(paths, pool.map(serve, paths), strict=True))
    for name, stderr in outputs.items():
        assert_names_file_and_line(stderr, paths[name], name)


def test_panel_serve_refuses_a_bad_layout_before_listening(tmp_path: Path) -> None:
    paths = write_layouts(tmp_path)
    port = free_port()
    cases = {  # (panel serve flags, the bad layout, where the layout is named)
        "plugin, --args": (["--plugins", "streamvis.ingest"], "overlap", "args"),
        "plugin, STREAMVIS_LAYOUT": (["--plugins", "streamvis.ingest"], "typo", "env"),
        "--warm, --args": (["--warm"], "unknown kind", "args"),
    }

    def serve(case: tuple[list[str], str, str]) -> str:
        flags, name, given = case
        command = PANEL + flags + ["--port", str(port)]
        if given == "args":
            return refused(command + ["--args", paths[name].name], tmp_path, port)
        return refused(command, tmp_path, port, STREAMVIS_LAYOUT=paths[name].name)

    with ThreadPoolExecutor(len(cases)) as pool:
        outputs = dict(zip(cases, pool.map(serve, cases.values()), strict=True))
    for case, stderr in outputs.items():
        name = cases[case][1]
        assert_names_file_and_line(stderr, paths[name], name)


def test_sv_serve_raises_spec_error_at_call_time(tmp_path: Path) -> None:
    paths = write_layouts(tmp_path)
    port = free_port()
    with pytest.raises(sv.SpecError) as caught:
        sv.serve(str(paths["unknown kind"]), port=port, hub=Hub())
    assert str(caught.value).startswith(f"{paths['unknown kind']}:4:")
    assert "unknown kind 'sunburst'" in str(caught.value)
    overlapping = {
        "plots": [
            {"id": p, "kind": "line", "stream": "s", "x": "x", "y": "a", "at": [0, 0, 1, 1]}
            for p in ("a", "b")
        ]
    }
    with pytest.raises(sv.SpecError, match="plots.b.at: overlaps plot 'a'"):
        sv.serve(overlapping, port=port, hub=Hub())
    assert not accepts_connections(port)
