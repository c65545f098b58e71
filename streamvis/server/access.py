"""Who may write to a streamvis server: ingest token, Host allowlist, body size, loopback rule.

Routes mounted with `panel serve --plugins` are not covered by Panel's own auth (its
--basic-auth / OAuth login guards pages and their websockets only), so the ingest routes
apply these checks themselves, and with a login on they insist on a token. Settings come
from arguments (streamvis_server, `streamvis serve`) or, for the `--plugins` route, from the
environment and the `panel serve` command line of this process.
"""

from __future__ import annotations

import hmac
import ipaddress
import os
import sys
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from urllib.parse import urlsplit

from streamvis.wire.limits import (
    DEFAULT_MAX_BODY,
    Limits,
    limits_from_environment,
    max_body_from_environment,
)

__all__ = ["DEFAULT_MAX_BODY", "Access", "Limits", "make_access", "access_from_environment"]
DEFAULT_PORT = 5006  # panel serve's
LOOPBACK_NAMES = ("localhost", "127.0.0.1", "::1")
DEFAULT_PORTS = {"http": 80, "https": 443}
ANY_ORIGIN = "*"


def is_loopback(address: str | None) -> bool:
    """True for addresses only this machine can reach (None means every interface)."""
    if not address:
        return False
    if address == "localhost":
        return True
    try:
        return ipaddress.ip_address(address.strip("[]")).is_loopback
    except ValueError:
        return False


def host_name(host_header: str) -> str:
    """'example.org:5006' -> 'example.org'; '[::1]:5006' -> '::1'."""
    host = host_header.strip().lower()
    if host.startswith("["):
        return host[1 : host.find("]")] if "]" in host else host
    return host.rsplit(":", 1)[0] if host.count(":") == 1 else host


@dataclass
class Access:
    """The checks every ingest request passes before it touches the hub."""

    token: str | None = None
    allowed_hosts: frozenset[str] = field(default_factory=lambda: frozenset(LOOPBACK_NAMES))
    max_body: int = DEFAULT_MAX_BODY
    allowed_origins: frozenset[str] = frozenset()  # "scheme://host:port", or "*" for any
    limits: Limits = field(default_factory=Limits)

    def token_ok(self, authorization: str | None) -> bool:
        if not self.token:
            return True
        scheme, _, value = (authorization or "").partition(" ")
        return scheme.lower() == "bearer" and hmac.compare_digest(value.strip(), self.token)

    def host_ok(self, host_header: str | None) -> bool:
        return bool(host_header) and host_name(host_header or "") in self.allowed_hosts

    def origin_ok(self, origin: str | None) -> bool:
        """A browser's Origin must be one of the allowed origins (scheme, host and port all
        equal); a request without Origin (a producer, not a page) passes."""
        if origin is None:
            return True
        if ANY_ORIGIN in self.allowed_origins:
            return True
        normal = normal_origin(origin)
        return normal is not None and normal in self.allowed_origins


def normal_origin(origin: str, scheme: str | None = None) -> str | None:
    """'HTTP://LocalHost' -> 'http://localhost:80'; with a `scheme`, 'host:5006' (as Bokeh's
    --allow-websocket-origin takes it) -> '{scheme}://host:5006'; None if not an origin."""
    text = origin.strip()
    if "://" not in text:
        if scheme is None:
            return None
        text = f"{scheme}://{text}"
    try:
        parts = urlsplit(text)
        port = parts.port
    except ValueError:
        return None
    if parts.scheme not in DEFAULT_PORTS or not parts.hostname or parts.path not in ("", "/"):
        return None
    host = f"[{parts.hostname}]" if ":" in parts.hostname else parts.hostname
    return f"{parts.scheme}://{host}:{port or DEFAULT_PORTS[parts.scheme]}"


def allowed_origins(
    hosts: Iterable[str], ports: Iterable[int], extra: Iterable[str], scheme: str = "http"
) -> frozenset[str]:
    """The served address (each host the server answers to, on each served port, in the
    served scheme) plus `extra` origins: full ones ('https://dash.example.org'), Bokeh-style
    'host:port' (in the served scheme), or '*' for any origin."""
    extra = list(extra)
    origins: set[str | None] = {ANY_ORIGIN} if ANY_ORIGIN in extra else set()
    for host in hosts:
        named = f"[{host}]" if ":" in host else host
        origins.update(normal_origin(f"{named}:{port}", scheme) for port in ports)
    origins.update(normal_origin(o, scheme) for o in extra if o.strip() and o != ANY_ORIGIN)
    return frozenset(o for o in origins if o is not None)


def token_problem(token: str | None) -> str | None:
    """Why `token` cannot be an ingest token (blank, or spaces around it that no client
    header can carry), or None when it is fine or not given."""
    if token is None:
        return None
    if not token.strip():
        return (
            f"the ingest token is blank ({token!r}): give a real one with --token or "
            "STREAMVIS_TOKEN, or unset STREAMVIS_TOKEN to serve without a token on 127.0.0.1"
        )
    if token != token.strip():
        return (
            "the ingest token starts or ends with whitespace, which an Authorization header "
            "cannot carry: remove it from --token / STREAMVIS_TOKEN"
        )
    return None


def make_access(
    address: str | None,
    token: str | None,
    extra_hosts: Iterable[str] = (),
    max_body: int = DEFAULT_MAX_BODY,
    ports: Sequence[int] = (),
    extra_origins: Iterable[str] = (),
    scheme: str = "http",
    limits: Limits | None = None,
    viewer_login: bool = False,
) -> Access:
    """Settings for a server listening on `address`; refuses a non-loopback one without
    a token, a blank token, and pages behind a login with an API open to all (raises
    SystemExit with the reason, so the server never starts open). Websocket origins: the
    hosts served on `ports`, plus `extra_origins`. Limits not given come from STREAMVIS_*
    variables (limits.py)."""
    problem = token_problem(token)
    if problem is not None:
        raise SystemExit(f"streamvis: refusing to start: {problem}")
    if viewer_login and not token:
        raise SystemExit(
            "streamvis: refusing to serve ingest routes without a token while pages need a "
            "login: GET /api/v1/... would show every run to anyone. Set STREAMVIS_TOKEN."
        )
    if not is_loopback(address) and not token:
        where = f"on {address}" if address else "on every interface (no --address given)"
        raise SystemExit(
            f"streamvis: refusing to serve ingest routes {where} without a token. "
            "Set STREAMVIS_TOKEN (or --token), or listen on 127.0.0.1 (--address 127.0.0.1)."
        )
    hosts = set(LOOPBACK_NAMES)
    if address and address not in ("0.0.0.0", "::"):
        hosts.add(host_name(address))
    hosts.update(host_name(h) for h in extra_hosts if h and h != ANY_ORIGIN)
    extra = [o.strip() for o in extra_origins if o.strip()]
    return Access(
        token=token or None,
        allowed_hosts=frozenset(hosts),
        max_body=max_body,
        allowed_origins=allowed_origins(hosts, ports, extra, scheme),
        limits=limits if limits is not None else limits_from_environment(),
    )


def _option(argv: Sequence[str], name: str) -> list[str]:
    values = []
    for index, arg in enumerate(argv):
        if arg == name and index + 1 < len(argv):
            values.append(argv[index + 1])
        elif arg.startswith(name + "="):
            values.append(arg.split("=", 1)[1])
    return values


def access_from_environment(argv: Sequence[str] | None = None) -> Access:
    """Settings for `panel serve ... --plugins streamvis.ingest`: the address, port, scheme
    and allowed websocket origins from this process's command line, the rest from STREAMVIS_*
    variables (STREAMVIS_ALLOWED_ORIGINS: comma-separated origins, e.g. behind a proxy)."""
    argv = list(sys.argv if argv is None else argv)
    if "--args" in argv:  # what follows --args belongs to the app, not to panel serve
        argv = argv[: argv.index("--args")]
    addresses = _option(argv, "--address")
    ports = [int(p) for p in _option(argv, "--port") if p.isdigit()] or [DEFAULT_PORT]
    scheme = "https" if _option(argv, "--ssl-certfile") else "http"
    origins = [o for value in _option(argv, "--allow-websocket-origin") for o in value.split(",")]
    extra = origins + os.environ.get("STREAMVIS_ALLOWED_HOSTS", "").split(",")
    max_body = max_body_from_environment()
    login = bool(_option(argv, "--basic-auth") or _option(argv, "--oauth-provider"))
    login = login or bool(
        os.environ.get("PANEL_BASIC_AUTH") or os.environ.get("PANEL_OAUTH_PROVIDER")
    )
    return make_access(
        addresses[-1] if addresses else None,
        os.environ.get("STREAMVIS_TOKEN"),
        extra,
        max_body,
        ports=ports[-1:],
        extra_origins=origins + os.environ.get("STREAMVIS_ALLOWED_ORIGINS", "").split(","),
        scheme=scheme,
        viewer_login=login,
    )
