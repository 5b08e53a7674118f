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

import contextlib
import json
import os
import random
import socket
import threading
import time
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import numpy as np
from google.protobuf.timestamp_pb2 import Timestamp

from fraudscore._errors import FeatureStoreError
from fraudscore._online.base import (
    Key,
    KeyEncoder,
    Step,
    check_timeout,
    decode_values,
    encode_value,
)
from fraudscore._online.layout import StoreLayout, from_store
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
        store: FeatureStore | StoreLayout,
        views: Sequence[StateView],
        *,
        timeout: float = 1.0,
        max_retries: int = 100,
    ) -> None:
        """On a Feast ``FeatureStore``, or on a ``StoreLayout`` (no Feast import)."""
        layout = store if isinstance(store, StoreLayout) else from_store(store)
        online = layout.online
        if layout.store_type not in REDIS_TYPES:
            raise FeatureStoreError(
                f"RedisSource needs a redis online store, not {layout.store_type!r}"
            )
        redis_type = str(online.get("redis_type", "redis"))
        if redis_type not in ("redis", "redis_cluster"):
            raise FeatureStoreError(
                f"redis_type {redis_type!r} is not supported by RedisSource; use redis or "
                "redis_cluster"
            )
        found = layout.check(views)
        self.views = tuple(views)
        self.timeout = check_timeout(timeout)
        self.max_retries = max_retries
        self.cluster = redis_type == "redis_cluster"
        names = [v.stored_name for v in found]
        self._project = layout.project.encode()
        self._encoders = [KeyEncoder(v.keys) for v in self.views]
        #: Per view: the hash field of each state field, in ``view.fields`` order.
        self._fields = [
            [bytes.fromhex(v.redis_fields[v.fields.index(f)]) for f in view.fields]
            for v, view in zip(found, self.views, strict=True)
        ]
        self._ts_fields = [f"_ts:{name}".encode() for name in names]
        ttl = online.get("key_ttl_seconds")  # Feast's optional expiry of entity keys
        self._expire = None if not ttl else str(int(ttl)).encode()
        # Each view's HMGET, packed in RESP once: only the key varies per call.
        self._hmget_head = [b"*%d\r\n$5\r\nHMGET\r\n" % (len(f) + 2) for f in self._fields]
        self._hmget_tail = [
            b"".join(b"$%d\r\n%s\r\n" % (len(x), x) for x in f) for f in self._fields
        ]
        nodes, self._params = _parse(str(online.get("connection_string", "localhost:6379")))
        self._server = nodes[0]
        self._cluster = _cluster(nodes, self._params, self.timeout) if self.cluster else None
        self._local = threading.local()
        if not self.cluster:  # fail at construction when the server is unreachable
            self._io(lambda: self._roundtrip(None, [_pack(b"PING")]))

    # -- keys, connections, round trips --------------------------------------------------------

    def redis_key(self, vi: int, key: Key) -> bytes:
        """Feast's Redis key of entity ``key`` of view ``vi``."""
        return self._encoders[vi](key) + self._project

    def _node(self, rkey: bytes) -> tuple[str, int]:
        """The (host, port) of the server holding ``rkey``."""
        if self._cluster is None:
            return self._server
        from redis.crc import key_slot

        node = self._cluster.nodes_manager.get_node_from_slot(key_slot(rkey))
        return (node.host, int(node.port))

    def _conn(self, node: tuple[str, int] | None) -> _Wire:
        """This thread's connection to ``node`` (the server, when standalone)."""
        local = self._local
        if getattr(local, "pid", None) != os.getpid():  # new thread, or a forked child
            local.pid, local.conns = os.getpid(), {}
        node = node or self._server
        conn: _Wire | None = local.conns.get(node)
        if conn is None:
            conn = local.conns[node] = _Wire(node, self._params, self.timeout)
        return conn

    def _hmget(self, vi: int, rkey: bytes) -> bytes:
        """View ``vi``'s HMGET of all its fields of ``rkey``, in RESP."""
        return b"%s$%d\r\n%s\r\n%s" % (
            self._hmget_head[vi],
            len(rkey),
            rkey,
            self._hmget_tail[vi],
        )

    def _roundtrip(self, node: tuple[str, int] | None, commands: list[bytes]) -> list[Any]:
        """Send RESP ``commands`` in one write and read their replies."""
        conn = self._conn(node)
        conn.send(b"".join(commands))
        return conn.replies(len(commands))

    def _io(self, fn: Any, *, write: bool = False) -> Any:
        """Run ``fn``, mapping server and socket errors to ``FeatureStoreError``.

        A connection that failed mid-reply is dropped. A cluster refreshes its slot map and runs
        ``fn`` once more after a redirect (or, for a read, a lost node). A write is never re-sent
        after a lost connection: its ``EXEC`` may have been applied, and a second one would count
        the events twice, so the caller gets the error instead.
        """
        import redis

        for attempt in (0, 1):
            try:
                return fn()
            except (ReplyError, OSError) as exc:
                self._drop_connections()
                moved = str(exc).startswith(("MOVED", "ASK", "CLUSTERDOWN", "TRYAGAIN"))
                lost = isinstance(exc, OSError) and not write
                if self._cluster is not None and attempt == 0 and (moved or lost):
                    try:
                        self._cluster.nodes_manager.initialize()
                        continue
                    except (redis.RedisError, OSError):
                        pass
                raise FeatureStoreError(
                    f"the Redis online store failed: {type(exc).__name__}: {exc}"
                ) from exc
        raise AssertionError("unreachable")

    def _drop_connections(self) -> None:
        for conn in getattr(self._local, "conns", {}).values():
            conn.close()
        self._local.conns = {}

    # -- reads -----------------------------------------------------------------------------

    def _hmgets(self, pairs: Sequence[tuple[int, bytes]]) -> list[list[Any]]:
        """One HMGET reply per (view index, redis key), pipelined per node."""
        if not self.cluster:
            return self._roundtrip(None, [self._hmget(vi, rk) for vi, rk in pairs])
        by_node: dict[tuple[str, int], list[int]] = {}
        for j, (_, rk) in enumerate(pairs):
            by_node.setdefault(self._node(rk), []).append(j)
        sent = []
        for node, js in by_node.items():  # send to every node, then read: nodes work at once
            conn = self._conn(node)
            conn.send(b"".join([self._hmget(*pairs[j]) for j in js]))
            sent.append((conn, js))
        out: list[list[Any]] = [[] for _ in pairs]
        for conn, js in sent:
            for j, reply in zip(js, conn.replies(len(js)), strict=True):
                out[j] = reply
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
        """One optimistic transaction; False when a watched key changed (nothing written)."""
        node = self._node(rkeys[0])
        replies = self._roundtrip(
            node,
            [_pack(b"WATCH", *dict.fromkeys(rkeys))]
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
            self._roundtrip(node, [_pack(b"UNWATCH")])
            raise
        commands = [_pack(b"MULTI")]
        for vi, rows in changed:
            for k, state in rows.items():
                commands.append(_pack(b"HSET", where[vi, k], *self._hset_fields(vi, state)))
                if self._expire is not None:  # as Feast's own writes do
                    commands.append(_pack(b"EXPIRE", where[vi, k], self._expire))
        commands.append(_pack(b"EXEC"))
        replies = self._roundtrip(node, commands)
        return replies[-1] is not None  # None: a watched key changed, nothing was written

    def _hset_fields(self, vi: int, state: Sequence[float]) -> list[bytes]:
        view = self.views[vi]
        values = [float(x) for x in state]
        ts = max(c for c in values[: len(view.clocks)] if c == c)
        seconds = int(ts // 1)
        stamp = Timestamp(seconds=seconds, nanos=round((ts - seconds) * 1e9) % 1_000_000_000)
        out = [self._ts_fields[vi], stamp.SerializeToString()]
        for field, x in zip(self._fields[vi], values, strict=True):
            out += [field, encode_value(x)]
        return out


class ReplyError(Exception):
    """An error reply from the server (``-ERR ...``, ``-MOVED ...``)."""


def _pack(*args: bytes) -> bytes:
    """One command in RESP."""
    return b"*%d\r\n" % len(args) + b"".join(b"$%d\r\n%s\r\n" % (len(a), a) for a in args)


class _Wire:
    """One connection to one server: a socket and a hiredis reply parser, nothing else.

    A request is the RESP bytes of one or more commands, written at once; the replies are read
    back in order. redis-py's own connection costs tens of µs more per round trip.
    """

    def __init__(self, node: tuple[str, int], params: dict[str, Any], timeout: float) -> None:
        import hiredis

        self.sock = socket.create_connection(node, timeout=timeout)
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        if params.get("ssl"):
            import ssl

            self.sock = ssl.create_default_context().wrap_socket(self.sock, server_hostname=node[0])
        self.reader = hiredis.Reader()
        handshake = []
        if params.get("password") is not None:
            auth = [str(params[k]).encode() for k in ("username", "password") if k in params]
            handshake.append(_pack(b"AUTH", *auth))
        if params.get("db"):
            handshake.append(_pack(b"SELECT", str(int(params["db"])).encode()))
        if handshake:
            self.send(b"".join(handshake))
            self.replies(len(handshake))

    def send(self, data: bytes) -> None:
        self.sock.sendall(data)

    def replies(self, n: int) -> list[Any]:
        out: list[Any] = []
        reader, recv = self.reader, self.sock.recv
        while len(out) < n:
            reply = reader.gets()
            if reply is False:
                data = recv(65536)
                if not data:
                    raise ConnectionError("the Redis server closed the connection")
                reader.feed(data)
                continue
            out.append(reply)
        for reply in out:
            if isinstance(reply, Exception):
                raise ReplyError(str(reply))
        return out

    def close(self) -> None:
        with contextlib.suppress(OSError):
            self.sock.close()


_PARAMS = {"password", "username", "db", "ssl"}
#: Parameters Feast passes to redis-py that change nothing for these reads and writes.
_IGNORED = {"skip_full_coverage_check", "decode_responses", "health_check_interval"}


def _parse(connection_string: str) -> tuple[list[tuple[str, int]], dict[str, Any]]:
    """Feast's ``connection_string``: ``host:port[,host:port...][,name=value...]``."""
    nodes: list[tuple[str, int]] = []
    params: dict[str, Any] = {}
    for part in connection_string.split(","):
        part = part.strip()
        if "=" in part:
            name, value = part.split("=", 1)
            try:
                params[name] = json.loads(value)
            except json.JSONDecodeError:
                params[name] = value
        elif part:
            host, _, port = part.rpartition(":")
            if not host or not port.isdigit():
                raise FeatureStoreError(
                    f"Redis connection_string part {part!r}: expected host:port"
                )
            nodes.append((host, int(port)))
    unknown = set(params) - _PARAMS - _IGNORED
    if unknown:
        raise FeatureStoreError(
            f"Redis connection_string parameters {sorted(unknown)} are not supported by "
            f"RedisSource; it understands {sorted(_PARAMS)}"
        )
    if not nodes:
        raise FeatureStoreError(
            f"no host:port in the Redis connection_string {connection_string!r}"
        )
    return nodes, params


def _cluster(nodes: list[tuple[str, int]], params: dict[str, Any], timeout: float) -> Any:
    """A redis-py cluster client: used for its slot map only (which node holds which key)."""
    try:
        import redis
        from redis.cluster import ClusterNode, RedisCluster
    except ImportError as exc:
        raise FeatureStoreError(
            f"the Redis online store needs the redis extra: pip install 'fraudscore[redis]' ({exc})"
        ) from exc
    kwargs = {k: v for k, v in params.items() if k in _PARAMS - {"db"}}
    try:
        return RedisCluster(
            startup_nodes=[ClusterNode(h, p) for h, p in nodes],
            socket_timeout=timeout,
            socket_connect_timeout=timeout,
            **kwargs,
        )
    except (redis.RedisError, OSError) as exc:
        raise FeatureStoreError(f"cannot reach the Redis cluster at {nodes}: {exc}") from exc
