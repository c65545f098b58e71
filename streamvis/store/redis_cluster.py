"""The Redis store's addresses and clients: `redis://` for one Redis, `redis+cluster://` (or
`rediss+cluster://`) for a Redis Cluster, found from any of the seed nodes it lists
(docs/scale-out.md).

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


def cluster_seeds(url: str, shown: str) -> tuple[str, list[tuple[str, int]]]:
    """A cluster address `redis+cluster://[USER:PASSWORD@]HOST:PORT[,HOST:PORT...][/0]` as
    the `redis://` (or `rediss://`) URL of its first seed node and the other seeds' (host,
    port); a StoreError naming what is wrong (no host, a bad port, a database other than 0,
    which is all a cluster has)."""
    parts = urlsplit(url)
    database = parts.path.strip("/")
    if database not in ("", "0"):
        raise StoreError(
            f"{shown}: a Redis Cluster has only database 0, the address names '{database}'"
        )
    credentials, _, hosts = parts.netloc.rpartition("@")
    seeds = []
    for seed in hosts.split(","):
        host, _, port = seed.strip().rpartition(":")
        if not host or not port.isdigit() or not 0 < int(port) < 65536:
            raise StoreError(f"{shown}: a Redis Cluster seed must be HOST:PORT, not '{seed}'")
        seeds.append((host.strip("[]"), int(port)))
    first = hosts.split(",")[0].strip()
    netloc = f"{credentials}@{first}" if credentials else first
    scheme = CLUSTER_SCHEMES[parts.scheme.lower()]
    return urlunsplit(parts._replace(scheme=scheme, netloc=netloc, path="")), seeds[1:]


def client_for(url: str, shown: str, timeout: float, connect_timeout: float) -> Any:
    """A client for a store address: `redis.Redis`, or `redis.cluster.RedisCluster` for a
    cluster address (its replies are untyped unions, hence Any). Connects lazily for one Redis;
    a cluster client asks its seed node for the slot map at once."""
    import redis

    options = {"socket_timeout": timeout, "socket_connect_timeout": connect_timeout}
    if not is_cluster_url(url):
        return redis.Redis.from_url(url, **options)
    import redis.cluster

    cluster: Any = redis.cluster  # partly untyped
    if not hasattr(cluster, "TransactionStrategy"):
        raise StoreError(
            f"{shown}: the installed redis package has no transactions on a Redis Cluster, "
            "which the store's appends need (pip install -U redis)"
        )
    first, others = cluster_seeds(url, shown)
    nodes = [cluster.ClusterNode(host, port) for host, port in others]
    return cluster.RedisCluster.from_url(first, startup_nodes=nodes, **options)


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
