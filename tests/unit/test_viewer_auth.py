"""`streamvis serve`'s viewer login and TLS options: the exact `panel serve` command line they
become, and what is refused before any server starts (with the reason, exit 2)."""

from __future__ import annotations

import base64
import sys
from pathlib import Path

import pytest

from streamvis import cli
from streamvis.errors import StreamvisError
from streamvis.server.access import access_from_environment
from streamvis.server.viewer_auth import (
    LOGIN_TEMPLATE,
    LOGOUT_TEMPLATE,
    bokeh_origin,
    check_viewer_options,
)

APP = str(Path(cli.__file__).with_name("server") / "serve_app.py")
STORE = ".streamvis/streamvis.db"
SECRET_KEY = base64.urlsafe_b64encode(bytes(range(32))).decode()


def parse(*options: str):
    return cli.build_parser().parse_args(["serve", "layout.yaml", "--store", STORE, *options])


def command(*options: str, environ: dict[str, str] | None = None) -> list[str]:
    return cli.panel_serve_command(parse(*options), environ or {})


def with_flags(*flags: str) -> list[str]:
    """The command without viewer options, with `flags` where `panel serve`'s own options
    end (before --args: what follows it goes to the page, not to Panel)."""
    plain = command()
    end = plain.index("--args")
    return plain[:end] + list(flags) + plain[end:]


def refusal(*options: str, environ: dict[str, str] | None = None, token: str = "t") -> str:
    with pytest.raises(StreamvisError) as caught:
        check_viewer_options(parse(*options), environ or {}, token)
    return str(caught.value)


def test_without_viewer_options_no_login_or_tls_flag_is_added() -> None:
    plain = command()
    assert plain[:5] == [sys.executable, "-m", "panel", "serve", APP]
    assert plain[plain.index("--args") :] == ["--args", "layout.yaml", "--store", STORE]
    assert "--warm" in plain[: plain.index("--args")]  # the first page opens warm
    for flag in ("--basic-auth", "--cookie-secret", "--oauth-provider", "--ssl-certfile"):
        assert flag not in plain


def test_basic_auth_is_passed_on_with_streamvis_login_and_logout_pages() -> None:
    given = ["--basic-auth=users.json", "--cookie-secret=c00kie"]
    pages = ["--basic-login-template", str(LOGIN_TEMPLATE)]
    pages += ["--logout-template", str(LOGOUT_TEMPLATE)]
    assert command(*given) == with_flags(*given, *pages)
    own = ["--basic-login-template=mine.html", "--logout-template=bye.html"]
    assert command(*given, *own) == with_flags(*given, *own)
    # basic auth set by Panel's variable still gets the CDN-free pages, and no flag
    assert command(environ={"PANEL_BASIC_AUTH": "pw"}) == with_flags(*pages)


def test_every_oauth_option_is_passed_on_as_given() -> None:
    given = [
        "--cookie-secret=c00kie",
        "--cookie-path=/dash",
        "--oauth-provider=github",
        "--oauth-key=client-id",
        "--oauth-secret=client-secret",
        "--oauth-redirect-uri=https://dash.example.org/login",
        "--oauth-extra-params={'scope': 'read:user'}",
        "--oauth-jwt-user=email",
        f"--oauth-encryption-key={SECRET_KEY}",
        "--oauth-expiry-days=0.5",
        "--oauth-refresh-tokens",
    ]
    guests = ["--oauth-guest-endpoints", "/health", "--oauth-guest-endpoints", "/about"]
    rest = ["--oauth-optional", "--oauth-error-template=err.html"]
    rest += ["--login-endpoint=/signin", "--logout-endpoint=/signout"]
    rest += ["--auth-template=auth.html"]
    built = command(*given, *guests, *rest)
    guests_as_panel_takes_them = ["--oauth-guest-endpoints", "/health", "/about"]
    logout = ["--logout-template", str(LOGOUT_TEMPLATE)]
    assert built == with_flags(*given, *guests_as_panel_takes_them, *rest, *logout)


def test_a_secret_that_starts_with_a_dash_reaches_panel_whole() -> None:
    """token_urlsafe() starts with '-' one time in 64; `--cookie-secret -x` would be a flag."""
    built = command("--basic-auth=pw", "--cookie-secret=-Zq3", "--oauth-secret=--k")
    assert "--cookie-secret=-Zq3" in built
    assert "--basic-auth=pw" in built


def test_tls_and_proxy_options_are_passed_on() -> None:
    given = ["--ssl-certfile=/etc/c.pem", "--ssl-keyfile=/etc/k.pem", "--use-xheaders"]
    assert command(*given) == with_flags(*given)


def test_a_proxied_origin_also_allows_the_page_websocket() -> None:
    built = command("--allow-origin", "https://dash.example.org", "--allow-origin", "*")
    assert built == with_flags("--allow-websocket-origin", "dash.example.org")
    assert bokeh_origin("https://dash.example.org:8443") == "dash.example.org:8443"
    assert bokeh_origin("https://dash.example.org:443") == "dash.example.org"
    assert bokeh_origin("http://[::1]:81") == "[::1]:81"
    assert bokeh_origin("dash.example.org") is None


def test_a_login_needs_a_cookie_secret_and_an_ingest_token() -> None:
    assert "--cookie-secret" in refusal("--basic-auth", "pw")
    assert "PANEL_COOKIE_SECRET" in refusal("--basic-auth", "pw")
    message = refusal("--basic-auth", "pw", "--cookie-secret", "c", token="")
    assert "--token" in message
    assert "/api/v1" in message
    assert check_viewer_options(parse("--basic-auth", "pw", "--cookie-secret", "c"), {}, "t") == []
    env = {"BOKEH_COOKIE_SECRET": "c", "PANEL_OAUTH_PROVIDER": "github"}
    env |= {"PANEL_OAUTH_KEY": "k", "PANEL_OAUTH_SECRET": "s"}
    assert check_viewer_options(parse(), env, "t") == []


def test_a_flag_and_its_panel_variable_together_are_refused() -> None:
    message = refusal("--cookie-secret", "a", environ={"PANEL_COOKIE_SECRET": "b"})
    assert "--cookie-secret" in message
    assert "PANEL_COOKIE_SECRET" in message
    message = refusal("--basic-auth", "pw", environ={"PANEL_BASIC_AUTH": "pw"})
    assert "PANEL_BASIC_AUTH" in message
    assert "--oauth-key" in refusal("--oauth-key", "k", environ={"PANEL_OAUTH_KEY": "k"})


def test_basic_auth_values_panel_would_misread_are_refused(tmp_path: Path) -> None:
    secret = ["--cookie-secret", "c"]
    assert "no such credentials file" in refusal("--basic-auth", "users.json", *secret)
    assert "lowercases" in refusal(*secret, environ={"PANEL_BASIC_AUTH": "S3cret"})
    assert "blank" in refusal("--basic-auth", " ", *secret)
    broken = tmp_path / "users.json"
    broken.write_text('{"ann": "pw",\n "bob" "x"}')
    assert f"{broken}, line 2 column 8: not JSON" in refusal("--basic-auth", str(broken), *secret)
    broken.write_text('["ann"]')
    assert "JSON object of user names" in refusal("--basic-auth", str(broken), *secret)
    broken.write_text('{"ann": 7}')
    assert "user 'ann' has no password" in refusal("--basic-auth", str(broken), *secret)
    broken.write_text('{"ann": "pw"}')
    assert check_viewer_options(parse("--basic-auth", str(broken), *secret), {}, "t") == []


def test_oauth_settings_panel_would_refuse_are_refused_first() -> None:
    oauth = ["--cookie-secret", "c", "--oauth-provider", "github"]
    keys = ["--oauth-key", "k", "--oauth-secret", "s"]
    assert "not a Panel OAuth provider" in refusal("--cookie-secret", "c", "--oauth-provider", "x")
    assert "--oauth-key" in refusal(*oauth)
    assert "--oauth-secret" in refusal(*oauth, "--oauth-key", "k")
    assert "dict literal" in refusal(*oauth, *keys, "--oauth-extra-params", "[1]")
    assert "32 bytes" in refusal(*oauth, *keys, "--oauth-encryption-key", "short")
    assert "choose basic auth or OAuth" in refusal(*oauth, *keys, "--basic-auth", "pw")
    assert "no such file" in refusal(*oauth, *keys, "--auth-template", "missing.html")
    assert "--ssl-certfile" in refusal("--ssl-keyfile", "k.pem")


def test_behind_a_proxy_a_token_is_needed_even_on_loopback() -> None:
    assert "--token" in refusal("--use-xheaders", token="")
    assert check_viewer_options(parse("--use-xheaders"), {}, "t") == []


def test_a_login_off_loopback_without_tls_is_warned_about() -> None:
    login = ["--basic-auth", "pw", "--cookie-secret", "c", "--address", "0.0.0.0"]
    (warning,) = check_viewer_options(parse(*login), {}, "t")
    assert "unencrypted" in warning
    assert "--ssl-certfile" in warning
    assert check_viewer_options(parse(*login, "--use-xheaders"), {}, "t") == []


def test_the_plugin_route_refuses_a_login_without_a_token(monkeypatch) -> None:
    monkeypatch.delenv("STREAMVIS_TOKEN", raising=False)
    monkeypatch.delenv("PANEL_BASIC_AUTH", raising=False)
    monkeypatch.delenv("PANEL_OAUTH_PROVIDER", raising=False)
    argv = ["panel", "serve", "app.py", "--address", "127.0.0.1"]
    assert access_from_environment(argv).token is None  # no login: loopback may go without
    for login in (["--basic-auth", "pw"], ["--oauth-provider=github"]):
        with pytest.raises(SystemExit, match="while pages need a login"):
            access_from_environment(argv + login)
    monkeypatch.setenv("PANEL_BASIC_AUTH", "pw")
    with pytest.raises(SystemExit, match="while pages need a login"):
        access_from_environment(argv)
    monkeypatch.setenv("STREAMVIS_TOKEN", "t")
    assert access_from_environment(argv).token == "t"
