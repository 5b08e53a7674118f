"""``RedisSource``: the fast path for Feast's Redis online store, standalone or Redis Cluster.

It reads and writes Feast's own layout, so ``feast materialize`` and ``get_online_features`` see
the same data:

- one hash per entity key: Feast's serialized entity key followed by the project name;
- in it, one field per feature, named by the murmur3 hash of ``"{view}:{feature}"`` and holding
  a serialized ``ValueProto``, plus ``"_ts:{view}"`` holding the event time as a protobuf
  ``Timestamp``.

Everything is resolved at construction: the field-name hashes, the key encoders, the server
addresses. One event's views are read with one pipelined round trip (one per cluster node it
touches), on a connection kept per thread.

Writes are optimistic transactions: ``WATCH`` the entity keys, read them, fold the events with
the library's own ``update`` (the same code as offline), then ``MULTI``/``HSET``/``EXEC``. When
another writer changed a watched key in between, ``EXEC`` aborts and the whole read-modify-write
is retried with the fresh state, up to ``max_retries`` times. On a standalone server all views of
a call commit together. On Redis Cluster a transaction cannot span hash slots, and Feast's keys
put each entity in its own slot, so each entity key commits on its own: no update is lost, but
two views of one event are not updated at one instant.
"""

from __future__ import annotations

import os
import random
import threading
import time
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from fraudscore._errors import FeatureStoreError
from fraudscore._online.base import (
    Key,
    KeyEncoder,
    Step,
    check_timeout,
    decode_values,
    encode_value,
    resolve_views,
)
from fraudscore._state import Array, StateView

if TYPE_CHECKING:
    from feast import FeatureStore

__all__ = ["REDIS_TYPES", "RedisSource"]

REDIS_TYPES = ("redis", "feast.infra.online_stores.redis.RedisOnlineStore")
_CHUNK = 1000  # HMGETs per round trip in bulk reads

Unit = list[tuple[int, Key]]  # (view index, entity key) pairs that commit together


class RedisSource:
    """Fast reads and atomic writes of Feast's Redis online store (``redis`` or
    ``redis_cluster``)."""

    def __init__(
        self,
        store: FeatureStore,
        views: Sequence[StateView],
        *,
        timeout: float = 1.0,
        max_retries: int = 100,
    ) -> None:
        from feast.infra.online_stores.helpers import _mmh3, compute_versioned_name

        config = store.config
        online = config.online_store
        if online.type not in REDIS_TYPES:
            raise FeatureStoreError(f"RedisSource needs a redis online store, not {online.type!r}")
        if config.entity_key_serialization_version != 3:
            raise FeatureStoreError(
                "entity_key_serialization_version must be 3, not "
                f"{config.entity_key_serialization_version}"
            )
        redis_type = str(getattr(online.redis_type, "value", online.redis_type))
        if redis_type not in ("redis", "redis_cluster"):
            raise FeatureStoreError(
                f"redis_type {redis_type!r} is not supported by RedisSource; use redis or "
                "redis_cluster"
            )
        self.views = tuple(views)
        self.timeout = check_timeout(timeout)
        self.max_retries = max_retries
        self.cluster = redis_type == "redis_cluster"
        versioning = bool(getattr(config.registry, "enable_online_feature_view_versioning", False))
        fvs = resolve_views(store, self.views)
        names = [compute_versioned_name(fv, versioning) for fv in fvs]
        self._project = config.project.encode()
        self._encoders = [KeyEncoder(v.keys) for v in self.views]
        #: Per view: the hash field of each state field, in ``view.fields`` order.
        self._fields = [
            [_mmh3(f"{name}:{f}") for f in v.fields]
            for name, v in zip(names, self.views, strict=True)
        ]
        self._ts_fields = [f"_ts:{name}".encode() for name in names]
        # Each view's HMGET, packed in RESP once: only the key varies per call.
        self._hmget_head = [b"*%d\r\n$5\r\nHMGET\r\n" % (len(f) + 2) for f in self._fields]
        self._hmget_tail = [
            b"".join(b"$%d\r\n%s\r\n" % (len(x), x) for x in f) for f in self._fields
        ]
        self._client = _client(online.connection_string, self.cluster, self.timeout)
        self._local = threading.local()
        if not self.cluster:  # fail at construction when the server is unreachable
            self._io(lambda: self._roundtrip(None, [("PING",)]))

    # -- keys, connections, round trips --------------------------------------------------------

    def redis_key(self, vi: int, key: Key) -> bytes:
        """Feast's Redis key of entity ``key`` of view ``vi``."""
        return self._encoders[vi](key) + self._project

    def _node(self, rkey: bytes) -> Any:
        if not self.cluster:
            return None
        from redis.crc import key_slot

        return self._client.nodes_manager.get_node_from_slot(key_slot(rkey))

    def _conn(self, node: Any) -> Any:
        """This thread's connection to ``node`` (the server, when standalone)."""
        local = self._local
        if getattr(local, "pid", None) != os.getpid():  # new thread, or a forked child
            local.pid, local.conns = os.getpid(), {}
        name = None if node is None else node.name
        conn = local.conns.get(name)
        if conn is None:
            client = self._client if node is None else node.redis_connection
            conn = local.conns[name] = client.connection_pool.make_connection()
        return conn

    def _hmget(self, vi: int, rkey: bytes) -> bytes:
        """View ``vi``'s HMGET of all its fields of ``rkey``, in RESP."""
        return b"%s$%d\r\n%s\r\n%s" % (
            self._hmget_head[vi],
            len(rkey),
            rkey,
            self._hmget_tail[vi],
        )

    def _send(self, node: Any, commands: list[tuple[Any, ...] | bytes]) -> Any:
        """Send commands (argument tuples, or bytes already in RESP) in one write."""
        conn = self._conn(node)
        packed = [c if isinstance(c, bytes) else b"".join(conn.pack_command(*c)) for c in commands]
        conn.send_packed_command([b"".join(packed)], check_health=False)
        return conn

    def _roundtrip(self, node: Any, commands: list[tuple[Any, ...] | bytes]) -> list[Any]:
        conn = self._send(node, commands)
        return [conn.read_response() for _ in commands]

    def _io(self, fn: Any, *, write: bool = False) -> Any:
        """Run ``fn``, mapping redis and socket errors to ``FeatureStoreError``.

        A connection that failed mid-reply is dropped. A cluster refreshes its slot map and runs
        ``fn`` once more after a redirect (or, for a read, a lost node). A write is never re-sent
        after a lost connection: its ``EXEC`` may have been applied, and a second one would count
        the events twice, so the caller gets the error instead.
        """
        import redis

        for attempt in (0, 1):
            try:
                return fn()
            except (redis.RedisError, OSError) as exc:
                self._drop_connections()
                moved = str(exc).startswith(("MOVED", "ASK", "CLUSTERDOWN"))
                lost = _is_connection_error(exc) and not write
                if self.cluster and attempt == 0 and (moved or lost):
                    try:
                        self._client.nodes_manager.initialize()
                        continue
                    except (redis.RedisError, OSError):
                        pass
                raise FeatureStoreError(
                    f"the Redis online store failed: {type(exc).__name__}: {exc}"
                ) from exc
        raise AssertionError("unreachable")

    def _drop_connections(self) -> None:
        for conn in getattr(self._local, "conns", {}).values():
            conn.disconnect()
        self._local.conns = {}

    # -- reads -----------------------------------------------------------------------------

    def _hmgets(self, pairs: Sequence[tuple[int, bytes]]) -> list[list[Any]]:
        """One HMGET reply per (view index, redis key), pipelined per node."""
        if not self.cluster:
            return self._roundtrip(None, [("HMGET", rk, *self._fields[vi]) for vi, rk in pairs])
        by_node: dict[str, tuple[Any, list[int]]] = {}
        for j, (_, rk) in enumerate(pairs):
            node = self._node(rk)
            by_node.setdefault(node.name, (node, []))[1].append(j)
        sent = [
            (self._send(node, [self._hmget(*pairs[j]) for j in js]), js)
            for node, js in by_node.values()
        ]
        out: list[list[Any]] = [[] for _ in pairs]
        for conn, js in sent:
            for j in js:
                out[j] = conn.read_response()
        return out

    def _state(self, vi: int, reply: list[Any]) -> list[float]:
        """A view's state from its HMGET reply: like Feast, an entity with no stored field
        has no history, and a missing field of a stored entity is NaN."""
        if all(r is None for r in reply):
            return self.views[vi].empty_row()
        return decode_values([b"" if r is None else r for r in reply])

    def read_one(self, keys: Sequence[Key]) -> list[list[float]]:
        pairs = [(vi, self.redis_key(vi, k)) for vi, k in enumerate(keys)]
        replies = self._io(lambda: self._hmgets(pairs))
        return [self._state(vi, r) for vi, r in enumerate(replies)]

    def read(self, keys: Sequence[Sequence[Key]]) -> list[Array]:
        out = []
        for vi, ks in enumerate(keys):
            view = self.views[vi]
            if not ks:
                out.append(view.empty(0))
                continue
            slot: dict[Key, int] = {}
            inverse = np.array([slot.setdefault(k, len(slot)) for k in ks], dtype=np.intp)
            pairs = [(vi, self.redis_key(vi, k)) for k in slot]
            states: list[list[float]] = []
            for lo in range(0, len(pairs), _CHUNK):
                chunk = pairs[lo : lo + _CHUNK]
                replies = self._io(lambda chunk=chunk: self._hmgets(chunk))
                states += [self._state(vi, r) for r in replies]
            out.append(np.array(states, dtype=np.float64).reshape(len(slot), view.width)[inverse])
        return out

    # -- writes ----------------------------------------------------------------------------

    def modify(self, keys: Sequence[Sequence[Key]], step: Step) -> None:
        pairs = [(vi, k) for vi, ks in enumerate(keys) for k in dict.fromkeys(ks)]
        units = [[p] for p in pairs] if self.cluster else [pairs]
        for unit in units:
            if unit:
                self._transact(unit, step)

    def _transact(self, unit: Unit, step: Step) -> None:
        """WATCH, read, fold, MULTI/HSET/EXEC; again from the read when another writer won."""
        rkeys = [self.redis_key(vi, k) for vi, k in unit]
        for attempt in range(self.max_retries + 1):
            if attempt:  # back off a little, at random, so that hot-key writers spread out
                time.sleep(random.uniform(0, min(0.001 * attempt, 0.02)))
            if self._io(lambda: self._attempt(unit, rkeys, step), write=True):
                return
        raise FeatureStoreError(
            f"gave up writing {len(unit)} Redis key(s) after {self.max_retries} conflicting "
            "writers in a row; the keys are too hot for optimistic transactions at this rate"
        )

    def _attempt(self, unit: Unit, rkeys: list[bytes], step: Step) -> bool:
        node = self._node(rkeys[0])
        replies = self._roundtrip(
            node,
            [("WATCH", *dict.fromkeys(rkeys))]
            + [self._hmget(vi, rk) for (vi, _), rk in zip(unit, rkeys, strict=True)],
        )
        states: list[dict[Key, list[float]]] = [{} for _ in self.views]
        where: dict[tuple[int, Key], bytes] = {}
        for (vi, k), rk, reply in zip(unit, rkeys, replies[1:], strict=True):
            states[vi][k] = self._state(vi, reply)
            where[vi, k] = rk
        try:
            changed = [(vi, step(vi, s)) for vi, s in enumerate(states) if s]
        except BaseException:
            self._roundtrip(node, [("UNWATCH",)])
            raise
        commands: list[tuple[Any, ...] | bytes] = [("MULTI",)]
        for vi, rows in changed:
            for k, state in rows.items():
                commands.append(("HSET", where[vi, k], *self._hset_fields(vi, state)))
        commands.append(("EXEC",))
        replies = self._roundtrip(node, commands)
        return replies[-1] is not None  # None: a watched key changed, nothing was written

    def _hset_fields(self, vi: int, state: Sequence[float]) -> list[bytes]:
        from google.protobuf.timestamp_pb2 import Timestamp

        view = self.views[vi]
        values = [float(x) for x in state]
        ts = max(c for c in values[: len(view.clocks)] if c == c)
        seconds = int(ts // 1)
        stamp = Timestamp(seconds=seconds, nanos=round((ts - seconds) * 1e9) % 1_000_000_000)
        out = [self._ts_fields[vi], stamp.SerializeToString()]
        for field, x in zip(self._fields[vi], values, strict=True):
            out += [field, encode_value(x)]
        return out


def _is_connection_error(exc: BaseException) -> bool:
    import redis

    return isinstance(exc, redis.ConnectionError | redis.TimeoutError | OSError)


def _client(connection_string: str, cluster: bool, timeout: float) -> Any:
    """A redis-py client configured like Feast's, with our timeouts."""
    try:
        import redis
        from feast.infra.online_stores.redis import RedisOnlineStore
        from redis.cluster import ClusterNode, RedisCluster
    except ImportError as exc:
        raise FeatureStoreError(
            f"the Redis online store needs the redis extra: pip install 'fraudscore[redis]' ({exc})"
        ) from exc
    nodes, params = RedisOnlineStore._parse_connection_string(connection_string)
    if not nodes:
        raise FeatureStoreError(
            f"no host:port in the Redis connection_string {connection_string!r}"
        )
    params = {**params, "socket_timeout": timeout, "socket_connect_timeout": timeout}
    try:
        if cluster:
            return RedisCluster(
                startup_nodes=[ClusterNode(n["host"], int(n["port"])) for n in nodes], **params
            )
        return redis.Redis(host=nodes[0]["host"], port=int(nodes[0]["port"]), **params)
    except (redis.RedisError, OSError) as exc:
        raise FeatureStoreError(
            f"cannot connect to the Redis online store {connection_string!r}: {exc}"
        ) from exc
