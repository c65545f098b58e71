"""`sv.dashboard(layout)` in JupyterLab: the cell's output is the live page with no other
call, nothing is fetched from outside the Jupyter server, and every streamed row arrives.

A real JupyterLab (from PyPI) runs on 127.0.0.1 with a token and its own empty config,
runtime and data directories; Chromium opens a notebook that shows the dashboard and then
streams N rows in small batches, and the test reads the plot's ColumnDataSource through
`Bokeh.documents` until it holds steps 0..N-1. A second notebook streams from a cell that
blocks (time.sleep, no await) and must show every row while that cell is still running."""

from __future__ import annotations

import json
import os
import secrets
import signal
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest

from tests.conftest import ROOT, accepts_connections, free_port, wait_until

pytestmark = pytest.mark.ui

ROWS = 800
SHOW_CELL = textwrap.dedent("""\
    import streamvis as sv

    layout = {
        "title": "training",
        "refresh_ms": 100,
        "plots": [
            {"id": "loss", "kind": "line", "stream": "loss", "x": "step", "y": "loss",
             "at": [0, 0, 1, 1]},
        ],
    }
    sv.dashboard(layout)  # the cell's output is the live dashboard
""")
# What a user's training loop looks like in a notebook: a row per step, the kernel free
# (awaiting) in between, so the page redraws while the loop runs.
STREAM_CELL = textwrap.dedent(f"""\
    import asyncio
    import math

    for step in range({ROWS}):
        sv.stream("loss", {{"step": step, "loss": math.exp(-step / 300)}})
        await asyncio.sleep(0.005)
""")
# The same loop as most training loops are written: blocking sleeps, never an await. The
# cell then blocks until the test releases it, so the test reads the plot while it runs.
RELEASE = "release-blocking-cell"
BLOCKING_CELL = textwrap.dedent(f"""\
    import math
    import os
    import time

    for step in range({ROWS}):
        sv.stream("loss", {{"step": step, "loss": math.exp(-step / 300)}})
        time.sleep(0.005)
    waited = 0.0
    while not os.path.exists("{RELEASE}") and waited < 900:  # the test releases it
        time.sleep(0.05)
        waited += 0.05
""")
STEPS = """() => {
    if (!window.Bokeh) return null;
    for (const doc of Bokeh.documents) {
        const source = doc.get_model_by_name("sv:loss:loss");
        if (source) return Array.from(source.data.step);
    }
    return null;
}"""
KERNEL_IDLE = """() => {
    const panel = window.jupyterapp && jupyterapp.shell.currentWidget;
    const kernel = panel && panel.sessionContext && panel.sessionContext.session
        && panel.sessionContext.session.kernel;
    return Boolean(kernel) && kernel.status === "idle";
}"""
# The kernel pushes a root tag "sv-live-..." once the view's comm is open (notebook.py)
COMM_OPEN = """() => {
    if (!window.Bokeh) return false;
    for (const doc of Bokeh.documents) {
        if (!doc.get_model_by_name("sv:loss:loss")) continue;
        for (const root of doc.roots()) {
            if (root.tags.some((tag) => String(tag).startsWith("sv-live-"))) return true;
        }
    }
    return false;
}"""
CELL_RUNNING = """(index) => {  // its prompt shows [*] while the kernel runs it
    const cells = document.querySelectorAll(".jp-NotebookPanel .jp-Notebook .jp-Cell");
    const prompt = cells[index] && cells[index].querySelector(".jp-InputPrompt");
    return Boolean(prompt) && prompt.textContent.includes("[*]");
}"""
# Not awaited: the command's promise settles only when the cell ends
RUN_CELL = "() => { jupyterapp.commands.execute('notebook:run-cell-and-select-next'); }"
RUN_ALL = "() => jupyterapp.commands.execute('notebook:run-all-cells')"
# JupyterLab asks its server for the language server status; the jupyter-lsp server
# extension is not enabled in this isolated setup (no user or environment config), so that
# one request answers 404. It is JupyterLab's own probe, not something a notebook loads.
ALLOWED_CONSOLE_ERRORS = ("/lsp/status",)
FAILED_LOAD = "Failed to load resource: the server responded with a status of 404"


class JupyterLab:
    """JupyterLab on 127.0.0.1 in its own process group, isolated from user configuration:
    empty config, runtime, data and IPython directories; no browser, no update checks, no
    news, no extension manager queries."""

    def __init__(self, home: Path) -> None:
        self.home = home
        self.root = home / "notebooks"
        self.root.mkdir(parents=True)
        self.port = free_port()
        self.token = secrets.token_hex(16)
        self.log_path = home / "jupyter.log"
        env = {
            **os.environ,
            "JUPYTER_NO_CONFIG": "1",  # read no user or environment config
            "JUPYTER_CONFIG_DIR": str(home / "config"),
            "JUPYTER_RUNTIME_DIR": str(home / "runtime"),
            "JUPYTER_DATA_DIR": str(home / "data"),
            "JUPYTERLAB_SETTINGS_DIR": str(home / "lab-settings"),
            "JUPYTERLAB_WORKSPACES_DIR": str(home / "lab-workspaces"),
            "IPYTHONDIR": str(home / "ipython"),
            "PYTHONPATH": str(ROOT),
        }
        command = [
            sys.executable, "-m", "jupyterlab",
            "--no-browser",
            "--ServerApp.ip=127.0.0.1",
            f"--ServerApp.port={self.port}",
            "--ServerApp.port_retries=0",
            f"--IdentityProvider.token={self.token}",
            f"--ServerApp.root_dir={self.root}",
            "--LabApp.expose_app_in_browser=True",  # window.jupyterapp, to run cells
            "--LabApp.news_url=None",
            "--LabApp.check_for_updates_class=jupyterlab.NeverCheckForUpdate",
            "--LabApp.extension_manager=readonly",
        ]  # fmt: skip
        if os.geteuid() == 0:  # CI containers run as root
            command.append("--allow-root")
        notification = home / "lab-settings" / "@jupyterlab" / "apputils-extension"
        notification.mkdir(parents=True)  # no "get Jupyter news?" prompt, no update check
        (notification / "notification.jupyterlab-settings").write_text(
            json.dumps({"fetchNews": "false", "checkForUpdates": False})
        )
        # no autosave: a save makes Panel's JupyterLab extension probe /panel-preview/ (404)
        documents = home / "lab-settings" / "@jupyterlab" / "docmanager-extension"
        documents.mkdir(parents=True)
        (documents / "plugin.jupyterlab-settings").write_text(json.dumps({"autosave": False}))
        self._log = open(self.log_path, "w")  # noqa: SIM115 - closed in stop()
        self.process = subprocess.Popen(
            command,
            cwd=self.root,
            env=env,
            stdout=self._log,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # its kernels share the group: stop() ends them all
        )
        wait_until(self._ready, timeout=120, interval=0.2, message=f"JupyterLab on {self.port}")

    def _ready(self) -> bool:
        if self.process.poll() is not None:
            raise AssertionError(f"JupyterLab exited early:\n{self.output()}")
        return accepts_connections(self.port)

    def url(self, notebook: str) -> str:
        """The notebook in a workspace of its own: no tab of an earlier test is restored."""
        workspace = Path(notebook).stem
        return (
            f"http://127.0.0.1:{self.port}/lab/workspaces/{workspace}/tree/{notebook}"
            f"?token={self.token}"
        )

    def output(self) -> str:
        self._log.flush()
        return self.log_path.read_text()

    def stop(self) -> None:
        """End JupyterLab and every kernel it started (one process group)."""
        group = os.getpgid(self.process.pid)
        self.process.terminate()  # Jupyter shuts its kernels down on SIGTERM
        try:
            self.process.wait(30)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(10)
        try:
            os.killpg(group, signal.SIGKILL)  # a kernel that outlived the server
        except ProcessLookupError:
            pass
        self._log.close()
        wait_until(lambda: not accepts_connections(self.port), message="JupyterLab's port freed")


@pytest.fixture(scope="module")
def jupyter_lab(tmp_path_factory: pytest.TempPathFactory) -> Iterator[JupyterLab]:
    lab = JupyterLab(tmp_path_factory.mktemp("jupyter"))
    try:
        yield lab
    finally:
        lab.stop()


def write_notebook(path: Path, cells: list[str]) -> None:
    """A notebook of code cells (nbformat 4.5) for the Python kernel."""
    document = {
        "cells": [
            {"id": f"cell-{index}", "cell_type": "code", "metadata": {}, "source": source,
             "outputs": [], "execution_count": None}
            for index, source in enumerate(cells)
        ],
        "metadata": {"kernelspec": {"name": "python3", "display_name": "Python 3",
                                    "language": "python"}},
        "nbformat": 4,
        "nbformat_minor": 5,
    }  # fmt: skip
    path.write_text(json.dumps(document))


def missing(steps: list[int]) -> list[int]:
    """The steps of 0..ROWS-1 the plot does not hold."""
    return sorted(set(range(ROWS)) - set(steps))


def not_local(requests: list[str], port: int) -> list[str]:
    """Requests to anything but the Jupyter server (data: and blob: URLs are local)."""
    foreign = []
    for url in requests:
        if url.startswith("data:"):
            continue
        address = urlsplit(url.removeprefix("blob:"))
        if (address.scheme, address.hostname, address.port) not in (
            ("http", "127.0.0.1", port),
            ("ws", "127.0.0.1", port),
        ):
            foreign.append(url)
    return foreign


@dataclass
class NotebookTab:
    """A browser tab on a notebook, with every request it made and every error it logged."""

    context: Any
    page: Any
    requests: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)

    def real_errors(self) -> list[str]:
        """Console errors but JupyterLab's own language-server probe (and its 404 line)."""
        allowed = [e for e in self.errors if any(p in e for p in ALLOWED_CONSOLE_ERRORS)]
        # Chromium also logs each failed response once, without its address
        failed_loads = [e for e in self.errors if e.startswith(FAILED_LOAD)]
        assert len(failed_loads) <= len(allowed), self.errors
        return [e for e in self.errors if e not in allowed and e not in failed_loads]


def open_notebook(lab: JupyterLab, browser: Any, name: str) -> NotebookTab:
    """Open notebook `name` in a new browser context, recording requests and errors, and
    wait until its kernel is idle."""
    context = browser.new_context(viewport={"width": 1200, "height": 900})
    tab = NotebookTab(context, context.new_page())
    context.on("request", lambda sent: tab.requests.append(sent.url))
    context.on("websocket", lambda socket: tab.requests.append(socket.url))
    tab.page.set_default_timeout(120_000)
    tab.page.on("console", lambda m: tab.errors.append(m.text) if m.type == "error" else None)
    tab.page.on("pageerror", lambda error: tab.errors.append(str(error)))
    tab.page.on(
        "response",
        lambda answer: (
            tab.errors.append(f"HTTP {answer.status} {answer.url}")
            if answer.status >= 400
            else None
        ),
    )
    tab.page.goto(lab.url(name))
    tab.page.wait_for_function(KERNEL_IDLE, polling=200)
    return tab


def test_dashboard_cell_shows_every_streamed_row_without_network(
    jupyter_lab: JupyterLab, browser: Any, request: pytest.FixtureRequest
) -> None:
    write_notebook(jupyter_lab.root / "live.ipynb", [SHOW_CELL, STREAM_CELL])
    tab = open_notebook(jupyter_lab, browser, "live.ipynb")
    page = tab.page
    try:
        # A fresh kernel runs the notebook top to bottom, as a user opening it does: the page
        # appears while the loop already streams.
        page.evaluate(RUN_ALL)
        try:
            steps = wait_until(
                lambda: (
                    (found := page.evaluate(STEPS)) is not None and len(found) >= ROWS and found
                ),
                timeout=180,
                interval=0.2,
                message=f"{ROWS} rows in the plot",
            )
        except AssertionError as timeout:
            shown = [int(step) for step in page.evaluate(STEPS) or []]
            raise AssertionError(f"{timeout}; missing steps: {missing(shown)}") from None
        assert [int(step) for step in steps] == list(range(ROWS))
        page.wait_for_function(KERNEL_IDLE, polling=200)
        page.screenshot(path=str(jupyter_lab.home / "notebook.png"))
        if os.environ.get("STREAMVIS_NOTEBOOK_SHOT"):  # refresh docs/notebook.png
            page.screenshot(path=os.environ["STREAMVIS_NOTEBOOK_SHOT"])
        assert not_local(tab.requests, jupyter_lab.port) == [], tab.requests
        assert tab.real_errors() == [], tab.errors
    finally:
        tab.context.close()
        if getattr(request.node, "rep_call", None) is not None and request.node.rep_call.failed:
            print(f"---- JupyterLab log ----\n{jupyter_lab.output()}")


def test_blocking_loop_in_another_cell_updates_the_plot_while_it_runs(
    jupyter_lab: JupyterLab, browser: Any, request: pytest.FixtureRequest
) -> None:
    """A cell that never awaits blocks the kernel's loop; the plot still gets every row
    while that cell runs (a thread ticks the page, streamvis/page/notebook_ticker.py)."""
    write_notebook(jupyter_lab.root / "blocking.ipynb", [SHOW_CELL, BLOCKING_CELL])
    tab = open_notebook(jupyter_lab, browser, "blocking.ipynb")
    page = tab.page
    try:
        page.evaluate(RUN_CELL)  # the dashboard cell, on its own: its view connects
        page.wait_for_function(COMM_OPEN, polling=200)
        page.wait_for_function(KERNEL_IDLE, polling=200)
        page.evaluate(RUN_CELL)  # the blocking loop
        wait_until(
            lambda: page.evaluate(CELL_RUNNING, 1),
            timeout=120,
            interval=0.1,
            message="the blocking cell running",
        )

        def all_rows_while_running() -> list[Any] | bool:
            found = page.evaluate(STEPS) or []
            assert page.evaluate(CELL_RUNNING, 1), "the blocking cell ended"
            return len(found) >= ROWS and found

        try:
            steps = wait_until(
                all_rows_while_running, timeout=180, interval=0.2, message=f"{ROWS} rows"
            )
        except AssertionError as timeout:
            shown = [int(step) for step in page.evaluate(STEPS) or []]
            raise AssertionError(f"{timeout}; missing steps: {missing(shown)}") from None
        assert [int(step) for step in steps] == list(range(ROWS))
        assert page.evaluate(CELL_RUNNING, 1)  # still blocked when all had arrived
        page.screenshot(path=str(jupyter_lab.home / "notebook-blocking.png"))
        (jupyter_lab.root / RELEASE).touch()
        wait_until(
            lambda: not page.evaluate(CELL_RUNNING, 1), timeout=120, message="the cell ending"
        )
        assert [int(step) for step in page.evaluate(STEPS)] == list(range(ROWS))
        assert tab.real_errors() == [], tab.errors
    finally:
        (jupyter_lab.root / RELEASE).touch()  # never leave the kernel blocked
        tab.context.close()
        if getattr(request.node, "rep_call", None) is not None and request.node.rep_call.failed:
            print(f"---- JupyterLab log ----\n{jupyter_lab.output()}")
