"""Access settings without a server: blank tokens refused, websocket origins compared whole
(scheme, host, port) and derived from `panel serve`'s own command line."""

from __future__ import annotations

import pytest

from streamvis.server.access import access_from_environment, make_access, normal_origin


@pytest.mark.parametrize("token", ["", " ", "\t", " \n "])
def test_a_blank_token_stops_the_server(token: str) -> None:
    with pytest.raises(SystemExit, match="the ingest token is blank"):
        make_access("127.0.0.1", token)
    with pytest.raises(SystemExit, match="the ingest token is blank"):
        make_access("0.0.0.0", token)


def test_a_token_with_surrounding_whitespace_stops_the_server() -> None:
    with pytest.raises(SystemExit, match="starts or ends with whitespace"):
        make_access("0.0.0.0", " s3cret")


def test_origins_are_normalised_whole() -> None:
    assert normal_origin("HTTP://LocalHost") == "http://localhost:80"
    assert normal_origin("https://example.org/") == "https://example.org:443"
    assert normal_origin("127.0.0.1:5006", "http") == "http://127.0.0.1:5006"
    assert normal_origin("127.0.0.1:5006", "https") == "https://127.0.0.1:5006"
    assert normal_origin("http://[::1]:7") == "http://[::1]:7"
    for bad in ("null", "file://", "http://h:99999", "ftp://h", "http://h/path", "", "h:1"):
        assert normal_origin(bad) is None, bad


def test_panel_serve_arguments_give_the_served_origins(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("STREAMVIS_ALLOWED_HOSTS", raising=False)
    monkeypatch.setenv("STREAMVIS_ALLOWED_ORIGINS", "https://proxy.example.org, ")
    monkeypatch.delenv("STREAMVIS_TOKEN", raising=False)
    argv = ["panel", "serve", "app.py", "--address", "127.0.0.1", "--port", "8123"]
    argv += ["--allow-websocket-origin", "myhost:8123", "--args", "--port", "1"]
    access = access_from_environment(argv)
    assert access.allowed_origins == {
        "http://127.0.0.1:8123",
        "http://localhost:8123",
        "http://[::1]:8123",
        "http://myhost:8123",
        "https://proxy.example.org:443",
    }
    assert access.origin_ok(None)
    assert access.origin_ok("http://myhost:8123")
    assert not access.origin_ok("http://localhost:8124")
    assert not access.origin_ok("https://localhost:8123")


def test_tls_and_the_default_port_and_a_wildcard(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("STREAMVIS_ALLOWED_HOSTS", "STREAMVIS_ALLOWED_ORIGINS", "STREAMVIS_TOKEN"):
        monkeypatch.delenv(name, raising=False)
    served_tls = access_from_environment(
        ["panel", "serve", "a.py", "--address", "127.0.0.1", "--ssl-certfile", "c.pem"]
    )
    assert served_tls.origin_ok("https://localhost:5006")
    assert not served_tls.origin_ok("http://localhost:5006")
    anything = access_from_environment(
        ["panel", "serve", "a.py", "--address", "127.0.0.1", "--allow-websocket-origin", "*"]
    )
    assert anything.origin_ok("http://elsewhere.example:1")
