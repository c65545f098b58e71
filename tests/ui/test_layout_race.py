"""Pages connecting while the layout changes (issue 10, point 8): the bad timings are made
to happen on purpose, and every page must end up drawing the final layout and keep drawing
new rows.

The page's websocket goes through Playwright's websocket route, so the test decides when
the server hears that the browser has drawn the page ("document_ready"): layouts change
while it is held (after the page's HTML was made), right after it, and while a page loads
during a burst of changes."""

from __future__ import annotations

import http.client
import json
import threading
from collections.abc import Callable
from typing import Any

import pytest

from tests.conftest import wait_until

pytestmark = [pytest.mark.server, pytest.mark.ui]

API = "/api/v1"
RUN = "race"
STEPS = """(name) => { const found = new Set();
    for (const root of Bokeh.documents[0].roots())
        for (const model of root.references()) if (model.name === name) found.add(model);
    return found.size === 1 ? Array.from([...found][0].data.step) : null; }"""


def call(port: int, method: str, path: str, body: Any) -> int:
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
    try:
        connection.request(
            method, path, json.dumps(body), headers={"Content-Type": "application/json"}
        )
        response = connection.getresponse()
        response.read()
        return response.status
    finally:
        connection.close()


def layout(*plot_ids: str) -> dict[str, Any]:
    """One line plot of stream `s` per id, side by side."""
    plots = [
        {"id": p, "kind": "line", "stream": "s", "x": "step", "y": "v", "at": [0, i, 1, 1]}
        for i, p in enumerate(plot_ids)
    ]
    return {"refresh_ms": 100, "plots": plots}


SHAPES = (("a",), ("b", "a"), ("a", "c"), ("c",))


class Producer:
    """Rows of stream `s` (step, v) and layouts of run RUN, through the ingest API (from
    one thread at a time)."""

    def __init__(self, port: int) -> None:
        self.port = port
        self.step = 0
        self.changes = 0

    def rows(self, count: int = 3) -> None:
        for _ in range(count):
            row = {"step": self.step, "v": float(self.step % 7)}
            assert call(self.port, "POST", f"{API}/runs/{RUN}/streams/s", row) == 200
            self.step += 1

    def set_layout(self, *plot_ids: str) -> None:
        assert call(self.port, "PUT", f"{API}/runs/{RUN}/layout", layout(*plot_ids)) == 200

    def change_layout(self) -> None:
        self.set_layout(*SHAPES[self.changes % len(SHAPES)])
        self.changes += 1


def gated_page(browser: Any, url: str, errors: list[str]) -> tuple[Any, Callable[[], None]]:
    """A page whose "document_ready" message is held until `release()` is called."""
    context = browser.new_context(viewport={"width": 1200, "height": 700})
    page = context.new_page()
    page.set_default_timeout(60_000)
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    page.on("pageerror", lambda error: errors.append(str(error)))
    held: list[Any] = []
    gate = {"holding": False, "seen": False, "server": None}

    def route(socket: Any) -> None:
        server = gate["server"] = socket.connect_to_server()

        def from_page(message: Any) -> None:
            text = message if isinstance(message, str) else message.decode("latin-1")
            if not gate["seen"] and "document_ready" in text:
                gate["seen"] = gate["holding"] = True
            if gate["holding"]:
                held.append(message)
            else:
                server.send(message)

        socket.on_message(from_page)
        server.on_message(socket.send)

    page.route_web_socket("**/ws*", route)
    page.goto(url, wait_until="commit")
    deadline_checks = 0
    while not gate["seen"]:  # polled through Playwright, which runs the route's callbacks
        page.wait_for_timeout(50)
        deadline_checks += 1
        assert deadline_checks < 1200, "the page never reported document_ready"

    def release() -> None:
        gate["holding"] = False
        for message in held:
            gate["server"].send(message)
        held.clear()

    return page, release


def test_pages_draw_the_final_layout_whenever_they_connect(browser, panel_server) -> None:
    server = panel_server("--run", RUN, plugins=True)
    producer = Producer(server.port)
    producer.set_layout("a")
    producer.rows()
    url = f"{server.url}?run={RUN}"
    errors: list[str] = []
    pages = []

    # 1: the layout changes while the server has not yet heard that the page is drawn,
    # then again just as it hears it, during the page's first ticks
    page, release = gated_page(browser, url, errors)
    for _ in range(3):
        producer.change_layout()
        producer.rows(1)
    release()
    for _ in range(3):
        producer.change_layout()
        producer.rows(1)
    pages.append(page)

    # 2: a page loads while another thread changes the layout again and again
    stop = threading.Event()

    def burst() -> None:
        while not stop.wait(0.1):  # paced, so the loaded pages keep up
            producer.change_layout()
            producer.rows(1)

    changer = threading.Thread(target=burst, daemon=True)
    changer.start()
    try:
        start = producer.changes
        wait_until(lambda: producer.changes > start, message="changes under way")
        page, release = gated_page(browser, url, errors)
        release()
        pages.append(page)
        start = producer.changes
        wait_until(lambda: producer.changes >= start + 3, message="changes after loading")
    finally:
        stop.set()
        changer.join(60)

    producer.set_layout("final", "a")
    producer.rows()
    newest = producer.step - 1
    for index, page in enumerate(pages):
        wait_until(
            lambda p=page: (p.evaluate(STEPS, "sv:final:v") or [-1])[-1] == newest,
            message=f"page {index} draws the final layout with the newest rows",
        )
    producer.rows()
    newest = producer.step - 1
    for index, page in enumerate(pages):  # and keeps drawing
        wait_until(
            lambda p=page: (p.evaluate(STEPS, "sv:final:v") or [-1])[-1] == newest,
            message=f"page {index} keeps drawing",
        )
        wait_until(lambda p=page: (p.evaluate(STEPS, "sv:a:v") or [-1])[-1] == newest)
    pages[0].screenshot(path=str(server.log_path.with_name("race.png")))
    for page in pages:
        page.context.close()
    assert errors == []
