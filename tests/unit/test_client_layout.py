"""Client.set_layout sends the layout for the client's own run (regression: a layout without
`run` went out as run 'default' and the server refused it for any other run)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from streamvis import Client
from tests.conftest import free_port

LAYOUT = {
    "title": "t",
    "plots": [
        {"id": "m", "kind": "line", "stream": "m", "x": "step", "y": "v", "at": [0, 0, 1, 1]}
    ],
}


@pytest.fixture
def client() -> Iterator[Client]:
    instance = Client(f"127.0.0.1:{free_port()}", "exp-7")  # nothing listens there
    instance._closing = True  # no sender: the test inspects the queue itself
    yield instance
    instance._queue.clear()
    instance.close(timeout=0)


@pytest.mark.parametrize("layout_run", [None, "default", "other"])
def test_layout_goes_to_the_clients_run(client: Client, layout_run: str | None) -> None:
    layout = dict(LAYOUT, run=layout_run) if layout_run else dict(LAYOUT)
    client.set_layout(layout)
    (item,) = list(client._queue)
    assert item.kind == "layout"
    assert item.payload["run"] == "exp-7"
    assert item.payload["plots"][0]["id"] == "m"
