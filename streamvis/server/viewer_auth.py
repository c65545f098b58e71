"""Who may watch: Panel's login options (basic auth, OAuth) and TLS/proxy options, taken by
`streamvis serve`, checked up front and passed on to `panel serve` unchanged.

The ingest API is not behind the login (producers have no browser); it keeps its token, and
a server whose pages need a login refuses to start without one (else `GET /api/v1/...`
would show every run to anyone). docs/security.md explains the whole arrangement.
"""

from __future__ import annotations

import argparse
import ast
import base64
import binascii
import json
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

from streamvis.errors import ServeError
from streamvis.server.access import is_loopback

TEMPLATES = Path(__file__).with_name("templates")
LOGIN_TEMPLATE = TEMPLATES / "login.html"
LOGOUT_TEMPLATE = TEMPLATES / "logout.html"
NO_SECRET_PROVIDERS = ("pam",)  # Panel's providers that need no OAuth key and secret


@dataclass(frozen=True)
class PanelOption:
    """One `panel serve` option streamvis takes and forwards as given."""

    flag: str
    help: str
    env: tuple[str, ...] = ()  # variables Panel reads when the flag is absent
    kind: str = "value"  # "value", "number", "switch" (no value) or "list" (repeatable)
    conflicts: bool = True  # Panel refuses the flag together with its variable
    metavar: str = "VALUE"

    @property
    def dest(self) -> str:
        return self.flag.removeprefix("--").replace("-", "_")


LOGIN_OPTIONS = (
    PanelOption(
        "--basic-auth",
        "password every viewer logs in with (any user name), or a JSON file "
        '{"user": "password", ...}',
        ("PANEL_BASIC_AUTH",),
        metavar="PASSWORD|FILE",
    ),
    PanelOption(
        "--cookie-secret",
        "secret that signs login cookies; needed by any login",
        ("PANEL_COOKIE_SECRET", "BOKEH_COOKIE_SECRET"),
        metavar="SECRET",
    ),
    PanelOption(
        "--cookie-path", "path the login cookies apply to", ("PANEL_COOKIE_PATH",), metavar="PATH"
    ),
    PanelOption(
        "--oauth-provider",
        "OAuth provider: github, gitlab, google, azure, okta, auth0, generic, ...",
        ("PANEL_OAUTH_PROVIDER",),
        metavar="NAME",
    ),
    PanelOption("--oauth-key", "OAuth client id", ("PANEL_OAUTH_KEY",), metavar="ID"),
    PanelOption(
        "--oauth-secret", "OAuth client secret", ("PANEL_OAUTH_SECRET",), metavar="SECRET"
    ),
    PanelOption(
        "--oauth-redirect-uri",
        "where the provider sends viewers back, e.g. https://dash.example.org",
        ("PANEL_OAUTH_REDIRECT_URI",),
        metavar="URL",
    ),
    PanelOption(
        "--oauth-extra-params",
        "more provider settings as a Python dict literal, e.g. \"{'tenant': 'T'}\"",
        ("PANEL_OAUTH_EXTRA_PARAMS",),
        conflicts=False,
        metavar="DICT",
    ),
    PanelOption(
        "--oauth-jwt-user",
        "claim of the ID token that names the user",
        ("PANEL_OAUTH_JWT_USER",),
        metavar="CLAIM",
    ),
    PanelOption(
        "--oauth-encryption-key",
        "key encrypting the OAuth cookies (`panel oauth-secret` makes one)",
        ("PANEL_OAUTH_ENCRYPTION",),
        metavar="KEY",
    ),
    PanelOption(
        "--oauth-expiry-days",
        "days a login stays valid (Panel's default: 1)",
        ("PANEL_OAUTH_EXPIRY",),
        kind="number",
        conflicts=False,
    ),
    PanelOption(
        "--oauth-refresh-tokens",
        "refresh OAuth access tokens when they expire",
        ("PANEL_OAUTH_REFRESH_TOKENS",),
        kind="switch",
        conflicts=False,
    ),
    PanelOption(
        "--oauth-guest-endpoints",
        "a path viewers may open without logging in (repeatable)",
        ("PANEL_OAUTH_GUEST_ENDPOINTS",),
        kind="list",
        conflicts=False,
        metavar="PATH",
    ),
    PanelOption(
        "--oauth-optional",
        "let viewers in as guests without logging in (switches the login off for pages)",
        ("PANEL_OAUTH_OPTIONAL",),
        kind="switch",
        conflicts=False,
    ),
    PanelOption(
        "--oauth-error-template", "Jinja2 page shown when an OAuth login fails", metavar="PATH"
    ),
    PanelOption("--login-endpoint", "path of the login page (default /login)", metavar="PATH"),
    PanelOption("--logout-endpoint", "path of the logout page (default /logout)", metavar="PATH"),
    PanelOption(
        "--auth-template", "Jinja2 page shown to viewers who are not logged in", metavar="PATH"
    ),
    PanelOption(
        "--basic-login-template", "Jinja2 login form (default: streamvis's own)", metavar="PATH"
    ),
    PanelOption(
        "--logout-template", "Jinja2 logout page (default: streamvis's own)", metavar="PATH"
    ),
)
TRANSPORT_OPTIONS = (
    PanelOption("--ssl-certfile", "serve HTTPS with this certificate (PEM)", metavar="PATH"),
    PanelOption("--ssl-keyfile", "the certificate's private key (PEM)", metavar="PATH"),
    PanelOption(
        "--use-xheaders",
        "behind a proxy: take the client address and scheme from X-Forwarded-* / X-Real-Ip",
        kind="switch",
    ),
)
OPTIONS = LOGIN_OPTIONS + TRANSPORT_OPTIONS
TEMPLATE_OPTIONS = (
    "basic_login_template",
    "logout_template",
    "auth_template",
    "oauth_error_template",
)


def add_viewer_options(parser: argparse.ArgumentParser) -> None:
    """Add Panel's login and TLS options to `streamvis serve`, in two help sections."""
    sections = (
        ("viewer login (Panel's options, passed on to panel serve)", LOGIN_OPTIONS),
        ("TLS and proxies (passed on to panel serve)", TRANSPORT_OPTIONS),
    )
    for title, options in sections:
        group = parser.add_argument_group(title)
        for option in options:
            text = option.help + (f" (or {' / '.join(option.env)})" if option.env else "")
            if option.kind == "switch":
                group.add_argument(option.flag, action="store_true", help=text)
            elif option.kind == "list":
                group.add_argument(
                    option.flag, action="append", default=[], metavar=option.metavar, help=text
                )
            elif option.kind == "number":
                group.add_argument(
                    option.flag, type=float, default=None, metavar="DAYS", help=text
                )
            else:
                group.add_argument(option.flag, default=None, metavar=option.metavar, help=text)


def _given(args: argparse.Namespace, option: PanelOption) -> bool:
    value = getattr(args, option.dest, None)
    return bool(value) if option.kind in ("switch", "list") else value is not None


def _env_value(environ: Mapping[str, str], option: PanelOption) -> str | None:
    for name in option.env:
        if environ.get(name):
            return environ[name]
    return None


def _setting(
    args: argparse.Namespace, environ: Mapping[str, str], dest: str
) -> tuple[str | None, str]:
    """The value Panel will use for option `dest` (flag, else variable) and where it is from."""
    option = next(o for o in OPTIONS if o.dest == dest)
    if _given(args, option):
        return getattr(args, dest), option.flag
    for name in option.env:
        if environ.get(name):
            return environ[name], name
    return None, option.flag


def viewer_flags(args: argparse.Namespace, environ: Mapping[str, str]) -> list[str]:
    """The `panel serve` flags for the options given, in a fixed order, plus streamvis's own
    login and logout pages (no resources from a CDN) when a login is on and none is given.
    Values travel as `--flag=value`, so a secret that starts with '-' is not read as a flag."""
    flags: list[str] = []
    for option in OPTIONS:
        value = getattr(args, option.dest, None)
        if not _given(args, option):
            continue
        if option.kind == "switch":
            flags.append(option.flag)
        elif option.kind == "list":
            flags += [option.flag, *(value or ())]
        else:
            text = f"{value:g}" if option.kind == "number" else str(value)
            flags.append(f"{option.flag}={text}")  # one word: a value may start with '-'
    basic, _ = _setting(args, environ, "basic_auth")
    provider, _ = _setting(args, environ, "oauth_provider")
    if basic and not provider and args.basic_login_template is None:
        flags += ["--basic-login-template", str(LOGIN_TEMPLATE)]
    if (basic or provider) and args.logout_template is None:
        flags += ["--logout-template", str(LOGOUT_TEMPLATE)]
    return flags


def bokeh_origin(origin: str) -> str | None:
    """'https://dash.example.org[:443]' -> 'dash.example.org', 'http://h:8443' -> 'h:8443':
    the form Bokeh's --allow-websocket-origin compares a page's Origin with (Bokeh reads an
    Origin without a port as port 80, whatever its scheme). None for '*' or a non-origin."""
    text = origin.strip()
    if "://" not in text:
        return None
    try:
        parts = urlsplit(text)
        port = parts.port
    except ValueError:
        return None
    if parts.scheme not in ("http", "https") or not parts.hostname:
        return None
    host = f"[{parts.hostname}]" if ":" in parts.hostname else parts.hostname
    default = {"http": 80, "https": 443}[parts.scheme]  # browsers leave it out of Origin
    return host if port in (None, default) else f"{host}:{port}"


def check_viewer_options(
    args: argparse.Namespace, environ: Mapping[str, str], token: str | None
) -> list[str]:
    """Refuse (ServeError) what `panel serve` would refuse with a traceback, answer with
    500s or silently misread; return warnings worth printing. `token` is the ingest token."""
    for option in LOGIN_OPTIONS:
        env_value = _env_value(environ, option)
        if option.conflicts and _given(args, option) and env_value is not None:
            where = " / ".join(name for name in option.env if environ.get(name))
            raise ServeError(
                f"{option.flag} is given and {where} is set: Panel takes one or the other, "
                f"not both; drop one"
            )
    basic, basic_from = _setting(args, environ, "basic_auth")
    provider, provider_from = _setting(args, environ, "oauth_provider")
    if basic and provider:
        raise ServeError(
            f"{basic_from} and {provider_from} both set a login: choose basic auth or OAuth"
        )
    if basic is not None:
        _check_basic_auth(basic, basic_from)
    if provider is not None:
        _check_oauth(args, environ, provider.lower(), provider_from)
    for dest in TEMPLATE_OPTIONS:
        path = getattr(args, dest, None)
        if path is not None and not Path(path).is_file():
            raise ServeError(f"--{dest.replace('_', '-')} {path}: no such file")
    if args.ssl_keyfile and not args.ssl_certfile:
        raise ServeError("--ssl-keyfile needs --ssl-certfile (the certificate it belongs to)")
    for dest in ("ssl_certfile", "ssl_keyfile"):
        path = getattr(args, dest, None)
        if path is not None and not Path(path).is_file():
            raise ServeError(f"--{dest.replace('_', '-')} {path}: no such file")
    if args.use_xheaders and not token:
        raise ServeError(
            "--use-xheaders: a proxy forwards other machines' requests, so listening on "
            "127.0.0.1 no longer keeps writers out: give --token (or STREAMVIS_TOKEN)"
        )
    if not (basic or provider):
        return []
    secret, _ = _setting(args, environ, "cookie_secret")
    if not secret:
        raise ServeError(
            "a login needs a cookie secret to sign its cookies: give --cookie-secret or set "
            "PANEL_COOKIE_SECRET (make one with: python -c 'import secrets; "
            "print(secrets.token_hex(32))')"
        )
    if not token:
        raise ServeError(
            "pages need a login, but without an ingest token GET /api/v1/... would show every "
            "run to anyone who can reach the port: give --token (or STREAMVIS_TOKEN) too"
        )
    warnings = []
    if not is_loopback(args.address) and not args.ssl_certfile and not args.use_xheaders:
        warnings.append(
            f"--address {args.address} without --ssl-certfile: passwords and login cookies "
            "cross the network unencrypted. Serve HTTPS (--ssl-certfile/--ssl-keyfile) or "
            "put a TLS proxy in front (then add --use-xheaders); see docs/security.md"
        )
    return warnings


def _check_basic_auth(value: str, source: str) -> None:
    """A credentials file must hold a JSON object of names to passwords; a value that looks
    like a file name but names no file would silently become the password, so it is refused."""
    if source == "PANEL_BASIC_AUTH" and value != value.lower():
        raise ServeError(
            "PANEL_BASIC_AUTH has capital letters, and Panel lowercases this variable (the "
            "password or file name would not be the one you set): give it with --basic-auth"
        )
    if not value.strip():
        raise ServeError(f"{source} is blank: give a password or a credentials file")
    path = Path(value)
    if path.is_file():
        _check_credentials_file(path, source)
    elif value.endswith(".json") or os.sep in value:
        raise ServeError(
            f"{source} {value}: no such credentials file (a value that is not a file would "
            "be taken as the password itself)"
        )


def _check_credentials_file(path: Path, source: str) -> None:
    try:
        users = json.loads(path.read_text(encoding="utf-8"))
    except UnicodeDecodeError:
        raise ServeError(f"{source} {path}: not UTF-8 text") from None
    except json.JSONDecodeError as exc:
        raise ServeError(
            f"{source} {path}, line {exc.lineno} column {exc.colno}: not JSON ({exc.msg})"
        ) from None
    if not isinstance(users, dict) or not users:
        raise ServeError(
            f'{source} {path}: must be a JSON object of user names to passwords, {{"ann": "pw"}}'
        )
    for name, password in users.items():
        if not isinstance(password, str) or not password:
            raise ServeError(f"{source} {path}: user {name!r} has no password string")


def _check_oauth(
    args: argparse.Namespace, environ: Mapping[str, str], provider: str, source: str
) -> None:
    from panel.auth import AUTH_PROVIDERS

    if provider not in AUTH_PROVIDERS:
        known = ", ".join(sorted(AUTH_PROVIDERS))
        raise ServeError(f"{source} {provider!r}: not a Panel OAuth provider ({known})")
    if provider not in NO_SECRET_PROVIDERS:
        for dest in ("oauth_key", "oauth_secret"):
            value, flag = _setting(args, environ, dest)
            if not value:
                env = next(o.env[0] for o in OPTIONS if o.dest == dest)
                raise ServeError(f"OAuth ({provider}) needs {flag} (or {env})")
    extra, extra_from = _setting(args, environ, "oauth_extra_params")
    if extra is not None:
        _check_extra_params(extra, extra_from)
    key, key_from = _setting(args, environ, "oauth_encryption_key")
    if key is not None:
        _check_encryption_key(key, key_from)


def _check_extra_params(text: str, source: str) -> None:
    try:
        value = ast.literal_eval(text)
    except (ValueError, SyntaxError):
        value = None
    if not isinstance(value, dict):
        raise ServeError(
            f"{source} {text!r}: must be a Python dict literal, e.g. \"{{'tenant': 'T'}}\""
        )


def _check_encryption_key(key: str, source: str) -> None:
    try:
        raw = base64.urlsafe_b64decode(key.encode("ascii"))
    except (binascii.Error, UnicodeEncodeError, ValueError):
        raw = b""
    if len(raw) != 32:
        raise ServeError(
            f"{source}: must be 32 bytes in URL-safe base64 (make one with `panel oauth-secret`)"
        )
    try:
        import cryptography  # noqa: F401 - Panel encrypts the cookies with it
    except ImportError:
        raise ServeError(
            f"{source} needs the cryptography package: pip install cryptography"
        ) from None


def forwarded_origins(allow_origin: Sequence[str]) -> list[str]:
    """Bokeh websocket origins for each --allow-origin (a page reached through a proxy opens
    its websocket with the proxy's Origin)."""
    origins = [bokeh_origin(origin) for origin in allow_origin]
    return [origin for origin in origins if origin is not None]
