"""Layout files followed live (streamvis/layout/watch.py) and who rules a run's layout:
the API's layout over the file's, also after a restart on the same store."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from streamvis.core.hub import Hub
from streamvis.errors import SpecError
from streamvis.layout.spec import layout_from_dict
from streamvis.layout.watch import LayoutFile, follow_file
from streamvis.store import Store, hub_from_store
from streamvis.store.sqlite import SQLiteStore

ONE = "title: one\nplots:\n  - {id: a, kind: line, stream: s, x: t, y: v, at: [0, 0, 1, 1]}\n"
TWO = ONE.replace("title: one", "title: two")
BROKEN = TWO.replace("kind: line", "kind: lin")
OWN = {"title": "own", "plots": [{"id": "b", "kind": "line", "stream": "s", "x": "t", "y": "v",
                                  "at": [0, 0, 1, 1]}]}  # fmt: skip


def edit(path: Path, text: str) -> None:
    """Write `text` and move the mtime on, as a later save would (coarse clocks)."""
    path.write_text(text)
    status = path.stat()
    os.utime(path, ns=(status.st_atime_ns, status.st_mtime_ns + 1_000_000_000))


def settle(watched: LayoutFile) -> bool:
    """The watcher's two looks at a changed file: the first sees the change, the second
    (nothing changed since) reads it."""
    assert watched.check() is False
    return watched.check()


def test_edits_apply_a_broken_edit_keeps_the_last_good_layout(tmp_path: Path) -> None:
    path = tmp_path / "layout.yaml"
    path.write_text(ONE)
    watched = LayoutFile(path)
    hub = Hub()
    watched.follow(hub, "r")
    assert hub.layout("r")[1].title == "one"
    assert watched.check() is False  # nothing changed

    edit(path, TWO)
    assert settle(watched) is True
    assert hub.layout("r")[1].title == "two"
    assert hub.layout_file("r") is watched

    version = hub.layout("r")[0]
    edit(path, BROKEN)
    assert settle(watched) is True
    assert watched.error is not None
    assert f"{path}:3:" in watched.error
    assert "unknown kind 'lin'" in watched.error
    assert hub.layout("r") == (version, watched.layout)  # the last good one stays
    assert watched.check() is False

    edit(path, ONE)
    assert settle(watched) is True
    assert watched.error is None
    assert hub.layout("r")[1].title == "one"


def test_a_touch_without_a_change_is_not_an_edit(tmp_path: Path) -> None:
    path = tmp_path / "layout.yaml"
    path.write_text(ONE)
    watched = LayoutFile(path)
    edit(path, ONE)
    assert settle(watched) is False


def test_a_bad_file_at_start_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "layout.yaml"
    path.write_text(BROKEN)
    with pytest.raises(SpecError, match="unknown kind 'lin'"):
        LayoutFile(path)


def test_an_api_layout_rules_its_run_and_other_runs_follow_the_file(tmp_path: Path) -> None:
    path = tmp_path / "layout.yaml"
    path.write_text(ONE)
    hub = Hub()
    own = layout_from_dict(OWN)
    hub.set_layout("mine", own)
    watched = follow_file(hub, "mine", path)
    follow_file(hub, "theirs", path)
    assert hub.layout("mine")[1] is own
    assert hub.layout_file("mine") is None

    edit(path, TWO)
    settle(watched)
    assert hub.layout("mine")[1] is own
    assert hub.layout("theirs")[1].title == "two"

    hub.set_layout("theirs", own)  # an API layout later takes the run over for good
    edit(path, ONE)
    settle(watched)
    assert hub.layout("theirs")[1] is own


def test_after_a_restart_only_api_layouts_come_back(tmp_path: Path) -> None:
    path = tmp_path / "layout.yaml"
    path.write_text(ONE)
    db = tmp_path / "store.db"
    hub = hub_from_store(Store(SQLiteStore(db)))
    follow_file(hub, "file-run", path)
    own = layout_from_dict(OWN)
    hub.set_layout("api-run", own, stored=OWN)
    assert hub.flush()
    hub.store.close()

    restarted = hub_from_store(Store(SQLiteStore(db)))
    try:
        assert restarted.layout("file-run") == (0, None)  # the file is read again at start
        assert restarted.layout("api-run")[1]["title"] == "own"  # plain data, as stored
        watched = follow_file(restarted, "api-run", path)
        follow_file(restarted, "file-run", path)
        edit(path, TWO)
        settle(watched)
        assert restarted.layout("api-run")[1]["title"] == "own"
        assert restarted.layout("file-run")[1].title == "two"
    finally:
        restarted.store.close()


def test_a_save_in_progress_is_not_read(tmp_path: Path) -> None:
    path = tmp_path / "layout.yaml"
    path.write_text(ONE)
    watched = LayoutFile(path)
    edit(path, "")  # truncated, the new text not written yet
    assert watched.check() is False
    edit(path, TWO)
    assert watched.check() is False  # changed again since the last look: still saving
    assert watched.check() is True
    assert watched.error is None
    assert watched.layout.title == "two"
