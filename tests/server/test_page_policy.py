"""Every way of serving a page gives it the Content-Security-Policy of streamvis/page/csp.py: a
fresh nonce per page load on every `<script>` the page has, the policy in a `<meta>` tag
first in `<head>`, and the same policy as a response header wherever streamvis sets up the
server (`streamvis serve`, `--plugins streamvis.ingest`, `sv.serve`, `streamvis_server`).
Plain `panel serve apps/dashboard.py` gets the `<meta>` tag only."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import urllib.request
from pathlib import Path
from typing import Any

import pytest

import streamvis as sv
from streamvis.core.hub import Hub
from streamvis.page.csp import policy_of
from tests.conftest import ROOT, accepts_connections, free_port, wait_until

pytestmark = [pytest.mark.server]

TITLE = "<script>sv_pwn('title')</script></title><script>sv_pwn(1)</script>"
LAYOUT = {
    "title": TITLE,
    "plots": [{"id": "m", "kind": "line", "stream": "s", "x": "x", "y": "y", "at": [0, 0, 1, 1]}],
}
SCRIPT_TAG = re.compile(r"<script\b[^>]*>", re.IGNORECASE)


def fetch(url: str) -> tuple[dict[str, str], str]:
    with urllib.request.urlopen(url, timeout=30) as response:
        return dict(response.headers), response.read().decode()


def nonce_of(policy: str) -> str:
    (nonce,) = re.findall(r"'nonce-([A-Za-z0-9_\-]+)'", policy)
    return nonce


def check_page(url: str, header_expected: bool) -> str:
    """Two loads of `url`: each declares a policy whose nonce is on every script tag and
    differs between loads; the header (when expected) says the same. Returns the policy."""
    nonces = []
    for _ in range(2):
        headers, page = fetch(url)
        declared = policy_of(page)
        assert declared is not None, page[:500]
        assert "'unsafe-inline'" not in declared.split("script-src", 1)[1].split(";", 1)[0]
        nonce = nonce_of(declared)
        tags = SCRIPT_TAG.findall(page)
        assert tags, "the page has its bootstrap scripts"
        assert all(f'nonce="{nonce}"' in tag for tag in tags), tags
        if header_expected:
            assert headers.get("Content-Security-Policy") == declared
        else:
            assert "Content-Security-Policy" not in headers
        nonces.append(nonce)
    assert nonces[0] != nonces[1]
    return declared


def test_panel_serve_with_the_ingest_plugin_sends_the_header(panel_server) -> None:
    server = panel_server(plugins=True)
    check_page(server.url, header_expected=True)


def test_plain_panel_serve_pages_carry_the_policy_in_a_meta_tag(panel_server) -> None:
    server = panel_server()
    check_page(server.url, header_expected=False)
    headers, page = fetch(server.url + "?run=%3Cscript%3E")  # a refused ?run= too
    assert policy_of(page) is not None


def test_sv_serve_sends_the_header_and_escapes_the_title() -> None:
    port = free_port()
    handle = sv.serve(LAYOUT, port=port, hub=Hub())
    try:
        wait_until(lambda: accepts_connections(port), timeout=60, message="sv.serve listening")
        check_page(f"http://127.0.0.1:{port}/", header_expected=True)
        _headers, page = fetch(f"http://127.0.0.1:{port}/")
        assert "<title>&lt;script&gt;sv_pwn(&#39;title&#39;)&lt;/script&gt;&lt;/title&gt;" in page
        assert page.count("<title>") == 1
    finally:
        handle.stop()


def _serve(command: list[str], port: int, tmp_path: Path) -> subprocess.Popen[bytes]:
    log = open(tmp_path / "serve.log", "wb")  # noqa: SIM115 - closed with the process
    process = subprocess.Popen(
        command,
        cwd=ROOT,
        stdout=log,
        stderr=subprocess.STDOUT,
        env={k: v for k, v in os.environ.items() if k != "STREAMVIS_TOKEN"},
        start_new_session=True,  # `streamvis serve` runs panel serve as its child: stop both
    )
    log.close()

    def ready() -> bool:
        if process.poll() is not None:
            raise AssertionError((tmp_path / "serve.log").read_text())
        return accepts_connections(port)

    try:
        wait_until(ready, timeout=60, message=f"server on {port}")
    except BaseException:
        _stop(process)  # a server that never came up is not left running
        raise
    return process


def _stop(process: subprocess.Popen[Any]) -> None:
    """Stop `streamvis serve` and the panel serve it started (its own process group)."""
    if process.poll() is None:
        os.killpg(process.pid, signal.SIGTERM)
    try:
        process.wait(30)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait()


def test_streamvis_serve_sends_the_header(tmp_path: Path) -> None:
    layout = tmp_path / "layout.yaml"
    layout.write_text(json.dumps(LAYOUT))
    port = free_port()
    command = [str(Path(sys.executable).with_name("streamvis")), "serve", str(layout)]
    command += ["--port", str(port), "--store", "none"]
    process = _serve(command, port, tmp_path)
    try:
        check_page(f"http://127.0.0.1:{port}/serve_app", header_expected=True)
    finally:
        _stop(process)


def test_streamvis_server_sends_the_header(streamvis_server) -> None:
    server = streamvis_server("policy")
    check_page(server.page_url, header_expected=True)
