"""The Redis store's addresses and clients: `redis://` for one Redis, `redis+cluster://` (or
`rediss+cluster://`) for a Redis Cluster, found from one seed node (docs/scale-out.md).

A cluster keeps each stream's keys on one node (they share the hash tag `{run/stream}`), so
the store's check-and-append stays one WATCH/MULTI on one node; the follower reads a cluster
one key at a time (store/redis_cluster_follow.py), since one XREAD cannot span hash slots.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit, urlunsplit

from streamvis.errors import StoreError

CLUSTER_SCHEMES = {"redis+cluster": "redis", "rediss+cluster": "rediss"}


def is_cluster_url(text: object) -> bool:
    """True for a `redis+cluster://` or `rediss+cluster://` store address."""
    return isinstance(text, str) and text.split("://", 1)[0].lower() in CLUSTER_SCHEMES


def seed_url(url: str, shown: str) -> str:
    """The `redis://` (or `rediss://`) URL of a cluster address's seed node; a StoreError
    when it names a database other than 0 (a cluster has only database 0)."""
    parts = urlsplit(url)
    database = parts.path.strip("/")
    if database not in ("", "0"):
        raise StoreError(
            f"{shown}: a Redis Cluster has only database 0, the address names '{database}'"
        )
    if not parts.hostname:
        raise StoreError(f"{shown}: a Redis Cluster address needs a host (and port) to start from")
    scheme = CLUSTER_SCHEMES[parts.scheme.lower()]
    return urlunsplit(parts._replace(scheme=scheme, path=""))


def client_for(url: str, shown: str, timeout: float, connect_timeout: float) -> Any:
    """A client for a store address: `redis.Redis`, or `redis.cluster.RedisCluster` for a
    cluster address (its replies are untyped unions, hence Any). Connects lazily for one Redis;
    a cluster client asks its seed node for the slot map at once."""
    import redis

    options = {"socket_timeout": timeout, "socket_connect_timeout": connect_timeout}
    if not is_cluster_url(url):
        return redis.Redis.from_url(url, **options)
    import redis.cluster

    if not hasattr(redis.cluster, "TransactionStrategy"):
        raise StoreError(
            f"{shown}: the installed redis package has no transactions on a Redis Cluster, "
            "which the store's appends need (pip install -U redis)"
        )
    return redis.cluster.RedisCluster.from_url(seed_url(url, shown), **options)


def check_kind(client: Any, url: str, shown: str) -> None:
    """A StoreError when a `redis://` address names a node of a Redis Cluster: a plain
    client there would be sent elsewhere (MOVED) for most streams' keys."""
    import redis

    if is_cluster_url(url):
        return
    try:
        enabled = client.info("cluster").get("cluster_enabled")
    except redis.ResponseError:  # INFO refused (a managed Redis may rename it): no answer
        return
    if enabled:
        cluster = "rediss+cluster" if url.lower().startswith("rediss") else "redis+cluster"
        raise StoreError(
            f"{shown}: this is a node of a Redis Cluster; address the cluster as "
            f"{cluster}://HOST:PORT"
        )
