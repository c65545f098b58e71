"""Who may write to a streamvis server: ingest token, Host allowlist, body size, loopback rule.

Routes mounted with `panel serve --plugins` are not covered by Panel's own auth, so the
ingest routes apply these checks themselves. Settings come from arguments (streamvis_server,
`streamvis serve`) or, for the `--plugins` route, from the environment and the `panel serve`
command line of this process.
"""

from __future__ import annotations

import hmac
import ipaddress
import os
import sys
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

from streamvis.limits import (
    DEFAULT_MAX_BODY,
    Limits,
    limits_from_environment,
    max_body_from_environment,
)

__all__ = ["DEFAULT_MAX_BODY", "Access", "Limits", "make_access", "access_from_environment"]
LOOPBACK_NAMES = ("localhost", "127.0.0.1", "::1")


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
    limits: Limits = field(default_factory=Limits)

    def token_ok(self, authorization: str | None) -> bool:
        if not self.token:
            return True
        scheme, _, value = (authorization or "").partition(" ")
        return scheme.lower() == "bearer" and hmac.compare_digest(value.strip(), self.token)

    def host_ok(self, host_header: str | None) -> bool:
        return bool(host_header) and host_name(host_header or "") in self.allowed_hosts


def make_access(
    address: str | None,
    token: str | None,
    extra_hosts: Iterable[str] = (),
    max_body: int = DEFAULT_MAX_BODY,
    limits: Limits | None = None,
) -> Access:
    """Settings for a server listening on `address`; refuses a non-loopback one without
    a token (raises SystemExit with the reason, so the server never starts open). Limits
    not given come from STREAMVIS_* variables (limits.py)."""
    if not is_loopback(address) and not token:
        where = f"on {address}" if address else "on every interface (no --address given)"
        raise SystemExit(
            f"streamvis: refusing to serve ingest routes {where} without a token. "
            "Set STREAMVIS_TOKEN (or --token), or listen on 127.0.0.1 (--address 127.0.0.1)."
        )
    hosts = set(LOOPBACK_NAMES)
    if address and address not in ("0.0.0.0", "::"):
        hosts.add(host_name(address))
    hosts.update(host_name(h) for h in extra_hosts if h)
    return Access(
        token=token or None,
        allowed_hosts=frozenset(hosts),
        max_body=max_body,
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
    """Settings for `panel serve ... --plugins streamvis.ingest`: the address and allowed
    websocket origins from this process's command line, the rest from STREAMVIS_* variables."""
    argv = list(sys.argv if argv is None else argv)
    if "--args" in argv:  # what follows --args belongs to the app, not to panel serve
        argv = argv[: argv.index("--args")]
    addresses = _option(argv, "--address")
    origins = [o for value in _option(argv, "--allow-websocket-origin") for o in value.split(",")]
    extra = origins + os.environ.get("STREAMVIS_ALLOWED_HOSTS", "").split(",")
    max_body = max_body_from_environment()
    return make_access(
        addresses[-1] if addresses else None, os.environ.get("STREAMVIS_TOKEN"), extra, max_body
    )
