"""`import streamvis` and `sv.stream` stay light: no pandas, plotting stack or event loop.

A training script that only streams rows must not pay for pandas, Panel, HoloViews, Bokeh,
streamz or Tornado (issue 11). Each check runs in a fresh interpreter, since this test
process has long imported them all.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[2]
HEAVY = ("pandas", "panel", "holoviews", "bokeh", "streamz", "tornado")


def run_python(code: str, cwd: Path) -> Any:
    """Run `code` in a new interpreter (no STREAMVIS_STORE) and return the JSON it prints."""
    env = {k: v for k, v in os.environ.items() if k != "STREAMVIS_STORE"}
    result = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)],
        cwd=cwd,
        env={**env, "PYTHONPATH": str(ROOT)},
        capture_output=True,
        text=True,
        timeout=600,  # a hang guard only
    )
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout.strip().splitlines()[-1])


@pytest.mark.parametrize("store", ["memory", "file"])
def test_streaming_rows_loads_no_heavy_module(tmp_path: Path, store: str) -> None:
    use_store = f"sv.use_store({str(tmp_path / 'run.db')!r})" if store == "file" else ""
    loaded = run_python(
        f"""
        import json, sys
        import streamvis as sv
        {use_store}
        sv.stream("loss", {{"step": 1, "loss": 0.5}})
        sv.stream("loss", {{"step": [2, 3], "loss": [0.4, 0.3]}})
        assert sv.default_hub().flush()
        assert sv.default_hub().seq("loss") == 3
        print(json.dumps(sorted(m for m in {HEAVY!r} if m in sys.modules)))
        """,
        tmp_path,
    )
    assert loaded == []


def test_a_file_store_replays_without_heavy_modules(tmp_path: Path) -> None:
    path = str(tmp_path / "run.db")
    write = f"import streamvis as sv; sv.use_store({path!r}); sv.stream('m', {{'x': 1.0}})"
    assert run_python(write + "; print(int(sv.default_hub().flush()))", tmp_path) == 1
    replayed = run_python(
        f"""
        import json, sys
        import streamvis as sv
        hub = sv.use_store({path!r})
        print(json.dumps([hub.seq("m"), sorted(m for m in {HEAVY!r} if m in sys.modules)]))
        """,
        tmp_path,
    )
    assert replayed == [1, []]


def test_public_names_load_on_first_use_and_source_gives_a_working_stream(
    tmp_path: Path,
) -> None:
    seen = run_python(
        """
        import json, sys
        import streamvis as sv
        assert {"Hub", "export", "serve", "Client"} <= set(dir(sv))
        before = "streamz" in sys.modules
        hub = sv.Hub()
        source = hub.source("m", run="r")
        got = []
        source.sink(got.append)
        hub.stream("m", {"x": 1.0}, run="r")
        hub.stream("m", {"x": [2.0, 3.0]}, run="r")
        print(json.dumps({
            "streamz_before": before,
            "same": hub.source("m", run="r") is source,
            "type": type(source).__module__,
            "emitted": [batch["x"].tolist() for batch in got],
            "all": all(hasattr(sv, name) for name in sv.__all__),
        }))
        """,
        tmp_path,
    )
    assert seen == {
        "streamz_before": False,
        "same": True,
        "type": "streamz.core",
        "emitted": [[1.0], [2.0, 3.0]],
        "all": True,
    }


def test_an_unknown_name_is_an_attribute_error() -> None:
    import streamvis

    with pytest.raises(AttributeError, match="no attribute 'nope'"):
        streamvis.nope  # noqa: B018
