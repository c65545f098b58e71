"""docs/security.md's nginx site, for real where nginx is installed (`apt-get install
nginx-light`; skipped otherwise): TLS terminated by nginx in front of `streamvis serve` with
the flags the docs give. Through the proxy a producer writes with the token, the page asks
for the login, and after it draws live rows over its proxied websocket."""

from __future__ import annotations

import http.client
import json
import re
import shutil
import signal
import ssl
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import (
    CHROMIUM,
    CHROMIUM_ARGS,
    ROOT,
    accepts_connections,
    free_port,
    wait_until,
)
from tests.serve_process import ServeProcess

pytestmark = [pytest.mark.server, pytest.mark.ui]

NGINX = shutil.which("nginx") or shutil.which("nginx", path="/usr/sbin:/sbin")
OPENSSL = shutil.which("openssl")
SITE = "dash.example.org"
TOKEN = "proxied-producer-token"
USERS = {"ann": "Proxy-Pass-1"}
LAYOUT = """\
refresh_ms: 100
plots:
  - {id: a, kind: line, stream: s, x: step, y: a, at: [0, 0, 1, 1]}
"""
ROWS = """() => {
    const source = Bokeh.documents[0].get_model_by_name("sv:a:a");
    return source ? source.data.step.length : -1;
}"""


def documented_site() -> str:
    """The ```nginx block of docs/security.md."""
    text = (ROOT / "docs" / "security.md").read_text()
    (block,) = re.findall(r"```nginx\n(.*?)```", text, re.DOTALL)
    return block


def site_for_test(folder: Path, https_port: int, http_port: int, upstream: int) -> str:
    """The documented site on free loopback ports with a self-signed certificate; every
    replaced line must be there exactly once, so the docs cannot drift from what runs."""
    site = documented_site()
    replacements = {
        "listen 443 ssl;": f"listen 127.0.0.1:{https_port} ssl;",
        "listen 80;": f"listen 127.0.0.1:{http_port};",
        f"/etc/ssl/{SITE}/fullchain.pem": str(folder / "cert.pem"),
        f"/etc/ssl/{SITE}/privkey.pem": str(folder / "key.pem"),
        "proxy_pass http://127.0.0.1:5006;": f"proxy_pass http://127.0.0.1:{upstream};",
    }
    for documented, local in replacements.items():
        assert site.count(documented) == 1, f"docs/security.md's nginx site lacks {documented}"
        site = site.replace(documented, local)
    return site


class Nginx:
    """nginx in the foreground with the documented site inside a minimal http block."""

    def __init__(self, folder: Path, site: str) -> None:
        self.folder = folder
        config = folder / "nginx.conf"
        config.write_text(
            f"daemon off;\npid {folder / 'nginx.pid'};\nerror_log {folder / 'error.log'};\n"
            "events {}\nhttp {\n"
            f"access_log {folder / 'access.log'};\n"
            f"client_body_temp_path {folder / 'body'};\nproxy_temp_path {folder / 'proxy'};\n"
            f"{site}}}\n"
        )
        command = [NGINX, "-p", str(folder), "-e", str(folder / "error.log"), "-c", str(config)]
        self.process = subprocess.Popen(command, stderr=subprocess.STDOUT, stdout=subprocess.PIPE)

    def ready(self, port: int) -> bool:
        if self.process.poll() is not None:
            output = self.process.stdout.read().decode(errors="replace")
            raise AssertionError(f"nginx exited ({self.process.returncode}): {output}")
        return accepts_connections(port)

    def stop(self) -> None:
        self.process.send_signal(signal.SIGQUIT)  # graceful: workers exit, then the master
        try:
            self.process.wait(10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(10)
        self.process.stdout.close()


@pytest.fixture(scope="module")
def proxied(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[int, int]]:
    """(https port, http port) of nginx in front of `streamvis serve` with a login."""
    if not NGINX or not OPENSSL:
        pytest.skip("nginx and openssl are not installed (apt-get install nginx-light)")
    folder = tmp_path_factory.mktemp("proxy")
    subprocess.run(
        [OPENSSL, "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2"]
        + ["-keyout", str(folder / "key.pem"), "-out", str(folder / "cert.pem")]
        + ["-subj", f"/CN={SITE}", "-addext", f"subjectAltName=DNS:{SITE}"],
        check=True,
        capture_output=True,
    )
    (folder / "layout.yaml").write_text(LAYOUT)
    (folder / "users.json").write_text(json.dumps(USERS))
    https_port, http_port = free_port(), free_port()
    origin = f"https://{SITE}:{https_port}"  # a test port; on 443 it is https://SITE
    options = ["--store", "none", "--basic-auth", str(folder / "users.json")]
    options += ["--use-xheaders", "--allow-host", SITE, "--allow-origin", origin]
    env = {"STREAMVIS_TOKEN": TOKEN, "PANEL_COOKIE_SECRET": "proxy-test-cookie-secret"}
    server = ServeProcess(folder / "layout.yaml", options, folder / "serve.log", env)
    nginx = Nginx(folder, site_for_test(folder, https_port, http_port, server.port))
    try:
        wait_until(lambda: nginx.ready(https_port), message=f"nginx on {https_port}")
        yield https_port, http_port
    finally:
        nginx.stop()
        server.stop()


def through_proxy(
    port: int, method: str, path: str, body: Any = None, token: str | None = None
) -> tuple[int, dict[str, str], bytes]:
    """A request to nginx over TLS for SITE (its certificate is self-signed)."""
    headers = {"Host": f"{SITE}:{port}"}
    if body is not None:
        headers["Content-Type"] = "application/json"
    if token:
        headers["Authorization"] = f"Bearer {token}"
    context = ssl._create_unverified_context()  # noqa: S323 - the test's own certificate
    connection = http.client.HTTPSConnection("127.0.0.1", port, timeout=30, context=context)
    try:
        connection.request(method, path, json.dumps(body) if body is not None else None, headers)
        response = connection.getresponse()
        return response.status, dict(response.getheaders()), response.read()
    finally:
        connection.close()


@pytest.fixture(scope="module")
def resolving_browser(proxied: tuple[int, int], browser: Any) -> Iterator[Any]:
    """A second Chromium of the session's Playwright that resolves SITE to 127.0.0.1."""
    rule = f"--host-resolver-rules=MAP {SITE} 127.0.0.1"
    launched = browser.browser_type.launch(executable_path=CHROMIUM, args=[*CHROMIUM_ARGS, rule])
    yield launched
    launched.close()


def test_producers_write_through_the_proxy_with_the_token(proxied: tuple[int, int]) -> None:
    port, http_port = proxied
    rows = [{"step": step, "a": step / 2} for step in range(5)]
    status, _, body = through_proxy(port, "POST", "/api/v1/runs/px/streams/s", rows, TOKEN)
    assert status == 200, body
    status, _, body = through_proxy(port, "POST", "/api/v1/runs/px/streams/s", rows)
    assert status == 401
    assert json.loads(body)["error"] == "unauthorized"  # streamvis's answer, passed through
    status, headers, _ = through_proxy(port, "GET", "/serve_app?run=px", token=TOKEN)
    assert status == 302
    assert headers["Location"].startswith("./login")

    plain = http.client.HTTPConnection("127.0.0.1", http_port, timeout=30)
    try:
        plain.request("GET", "/serve_app?run=px", headers={"Host": SITE})
        response = plain.getresponse()
        response.read()
    finally:
        plain.close()
    assert response.status == 301
    assert response.getheader("Location") == f"https://{SITE}/serve_app?run=px"


def test_after_login_the_page_draws_live_rows_over_the_proxy(
    proxied: tuple[int, int], resolving_browser: Any, tmp_path: Path
) -> None:
    port, _ = proxied
    context = resolving_browser.new_context(ignore_https_errors=True)
    errors: list[str] = []
    foreign: list[str] = []
    own = ("data:", f"https://{SITE}:{port}/", f"blob:https://{SITE}:{port}/")
    context.on("request", lambda r: r.url.startswith(own) or foreign.append(r.url))
    page = context.new_page()
    page.set_default_timeout(60_000)
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    page.on("pageerror", lambda error: errors.append(str(error)))
    try:
        address = f"https://{SITE}:{port}/serve_app?run=px"
        page.goto(address)
        page.fill("#username", "ann")
        page.fill("#password", USERS["ann"])
        page.click("#submit")
        page.wait_for_function("() => window.Bokeh && Bokeh.documents.length > 0")
        assert page.url == address
        wait_until(lambda: page.evaluate(ROWS) >= 5, message="the stored rows")
        before = page.evaluate(ROWS)
        rows = [{"step": before + step, "a": 1.0} for step in range(3)]
        status, _, body = through_proxy(port, "POST", "/api/v1/runs/px/streams/s", rows, TOKEN)
        assert status == 200, body
        wait_until(lambda: page.evaluate(ROWS) == before + 3, message="rows sent after load")
        page.screenshot(path=str(tmp_path / "proxied.png"))
        assert errors == []
        assert foreign == []
    finally:
        context.close()
