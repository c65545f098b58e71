"""A layout the hub holds as plain data (a PUT, a replay) is validated where it is drawn."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from streamvis.core.storage import SetLayout
from streamvis.errors import SpecError
from streamvis.layout.held import as_data, as_layout
from streamvis.layout.spec import Layout, layout_from_dict
from streamvis.store import Store, hub_from_store
from streamvis.store.sqlite import SQLiteStore

GOOD = {
    "title": "kept",
    "plots": [
        {"id": "loss", "kind": "line", "stream": "loss", "x": "t", "y": "v", "at": [0, 0, 1, 1]}
    ],
}


def test_plain_data_is_validated_once_and_a_layout_passes_through() -> None:
    data = dict(GOOD)
    first = as_layout(data, "r")
    assert isinstance(first, Layout)
    assert first.title == "kept"
    assert as_layout(data, "r") is first  # remembered for the same held value
    ready = layout_from_dict(GOOD)
    assert as_layout(ready, "r") is ready
    assert as_layout(None, "r") is None
    assert as_data(ready) == as_data(first)  # a Layout goes out as its plain form
    assert as_data(data) == data  # plain data goes out as it came in


def test_data_that_no_longer_makes_a_layout_names_the_run() -> None:
    with pytest.raises(SpecError, match="layout of run 'old'"):
        as_layout({"plots": [{"id": "p", "kind": "sparkline"}]}, "old")


def test_replay_keeps_stored_layouts_as_data_and_loads_no_layout_model(tmp_path: Path) -> None:
    db = tmp_path / "store.db"
    store = Store(SQLiteStore(db))
    store.put(SetLayout("r", GOOD))
    store.put(SetLayout("broken", {"plots": [{"id": "p", "kind": "sparkline"}]}))
    store.close()
    hub = hub_from_store(Store(SQLiteStore(db)))
    try:
        assert hub.layout("r")[1] == GOOD  # a bad one does not stop the others replaying
        assert hub.layout("broken")[1] is not None
    finally:
        assert hub.store is not None
        hub.store.close()
    code = (
        "import sys\n"
        "from streamvis.store import Store, hub_from_store\n"
        "from streamvis.store.sqlite import SQLiteStore\n"
        f"hub = hub_from_store(Store(SQLiteStore({str(db)!r})))\n"
        "print(sorted(m for m in ('streamvis.layout.spec', 'pandas') if m in sys.modules))\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=120
    )
    assert result.stdout.strip() == "[]"
