"""`streamvis demo`, as the README's first command runs it: each start is a new run kept in
the store, next to the earlier ones."""

from __future__ import annotations

import subprocess
import sys
import urllib.request
from pathlib import Path

import pytest

from streamvis.store import SQLiteStore
from tests.conftest import end_process, free_port, wait_until

pytestmark = pytest.mark.server


def stored_rows(db: Path) -> dict[tuple[str, str], int]:
    if not db.exists():
        return {}
    try:
        store = SQLiteStore(db, readonly=True)
    except Exception:  # the demo is still creating the file
        return {}
    try:
        return {(r.run, r.stream): r.rows for r in store.streams()}
    finally:
        store.close()


def run_demo(tmp_path: Path, db: Path, run: str) -> dict[tuple[str, str], int]:
    """Start the demo, wait until its page answers and its loss rows reach the store, stop."""
    port = free_port()
    command = [
        str(Path(sys.executable).with_name("streamvis")),
        "demo", "--port", str(port), "--store", str(db), "--run", run,
    ]  # fmt: skip
    log = open(tmp_path / f"{run}.log", "w")  # noqa: SIM115 - closed below
    demo = subprocess.Popen(command, cwd=tmp_path, stdout=log, stderr=subprocess.STDOUT)
    try:

        def page_ok() -> bool:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=5) as reply:
                    return reply.status == 200 and b"bokeh" in reply.read().lower()
            except OSError:
                return False

        wait_until(page_ok, timeout=60, message="the demo page")
        return wait_until(
            lambda: (rows := stored_rows(db)).get((run, "loss"), 0) >= 20 and rows,
            timeout=60,
            message=f"run {run}'s loss rows in the store",
        )
    finally:
        end_process(demo)
        log.close()


def test_each_demo_start_is_a_new_run_kept_in_the_store(tmp_path: Path) -> None:
    db = tmp_path / "demo.db"
    first = run_demo(tmp_path, db, "demo-first")
    assert {("demo-first", "loss"), ("demo-first", "lr"), ("demo-first", "embedding")} <= set(
        first
    )
    second = run_demo(tmp_path, db, "demo-second")
    assert second[("demo-first", "loss")] >= first[("demo-first", "loss")]
    assert second[("demo-second", "loss")] >= 20
    listed = subprocess.run(
        [str(Path(sys.executable).with_name("streamvis")), "ls", "--store", str(db)],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    assert "demo-first" in listed
    assert "demo-second" in listed
