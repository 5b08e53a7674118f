"""``RedisSource``: the fast path for Feast's Redis online store: standalone, Redis Cluster, or
a primary and its replicas watched by Redis Sentinel.

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

Sentinel (``redis_type: redis_sentinel``), configured as Feast configures it: ``connection_string``
lists the sentinels (``host:port,...`` plus the same ``name=value`` parameters, which apply to the
primary, not to the sentinels) and ``sentinel_master`` names the master (Feast's default
``mymaster``). The sentinels are asked in turn (``SENTINEL get-master-addr-by-name``) for the
primary's address; a new connection checks with ``ROLE`` that it reached the primary. When a call
fails the way a primary switch makes calls fail (a lost or refused connection, a timeout,
``-READONLY``, ``-LOADING``, ``-MASTERDOWN``, a server that is no longer the primary), the
connections are dropped, the sentinels asked again and the call run again, until it succeeds or
``failover_timeout`` seconds have passed (default: the master's ``down-after-milliseconds``, as the
sentinel reports it at construction, plus ``ELECTION_S``); then ``FeatureStoreError`` names the
master, the sentinels and the last error. None of that runs while calls succeed: the per-call path
is the standalone one. Replication is asynchronous, so a write acknowledged by the old primary just
before it died can be missing on the new one; ``wait_replicas=n`` makes every write wait (``WAIT``)
until ``n`` replicas hold it before it is acknowledged (see ``docs/redis.md``).
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

from fraudscore._errors import ConfigError, FeatureStoreError
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
#: Seconds allowed, beyond the sentinels' ``down-after-milliseconds``, for them to agree, elect a
#: leader, promote a replica and announce it (measured on loopback: 1.3-1.8 s; docs/redis.md).
ELECTION_S = 5.0
#: Error replies of a server that is not, or not yet, the primary: after a switch they go away.
_SWITCHING = ("READONLY", "LOADING", "MASTERDOWN", "NOTPRIMARY")
_EXEC = b"*1\r\n$4\r\nEXEC\r\n"

Unit = list[tuple[int, Key]]  # (view index, entity key) pairs that commit together


class RedisSource:
    """Fast reads and atomic writes of Feast's Redis online store (``redis``, ``redis_cluster``
    or ``redis_sentinel``)."""

    def __init__(
        self,
        store: FeatureStore | StoreLayout,
        views: Sequence[StateView],
        *,
        timeout: float = 1.0,
        max_retries: int = 100,
        failover_timeout: float | None = None,
        wait_replicas: int = 0,
        wait_timeout: float = 0.5,
    ) -> None:
        """On a Feast ``FeatureStore``, or on a ``StoreLayout`` (no Feast import).

        ``failover_timeout`` (``redis_sentinel`` only): how many seconds a call keeps asking the
        sentinels and retrying while the primary is switched; None: the master's
        ``down-after-milliseconds`` plus ``ELECTION_S``. ``wait_replicas``: after each write,
        wait until that many replicas acknowledge it (``WAIT``), at most ``wait_timeout``
        seconds (less than ``timeout``); fewer in time is a ``FeatureStoreError``. 0: do not wait.
        """
        layout = store if isinstance(store, StoreLayout) else from_store(store)
        online = layout.online
        if layout.store_type not in REDIS_TYPES:
            raise FeatureStoreError(
                f"RedisSource needs a redis online store, not {layout.store_type!r}"
            )
        redis_type = str(online.get("redis_type", "redis"))
        if redis_type not in ("redis", "redis_cluster", "redis_sentinel"):
            raise FeatureStoreError(
                f"redis_type {redis_type!r} is not supported by RedisSource; use redis, "
                "redis_cluster or redis_sentinel"
            )
        self.timeout = check_timeout(timeout)
        if type(max_retries) is not int or max_retries < 0:
            raise ConfigError("max_retries", max_retries, "an int >= 0 (retries of a write)")
        if failover_timeout is not None and redis_type != "redis_sentinel":
            raise ConfigError(
                "failover_timeout", failover_timeout, "None: it applies to redis_sentinel only"
            )
        nodes, self._params = _parse(str(online.get("connection_string", "localhost:6379")))
        self._server = nodes[0]
        #: ``redis_sentinel``: the sentinels, the one that answered last first; else None.
        self._sentinels: tuple[tuple[str, int], ...] | None = None
        self.master: str | None = None
        if redis_type == "redis_sentinel":  # first: a wrong address or name is the likeliest fault
            self.master = _sentinel_master(store, layout)
            self._sentinels = tuple(nodes)
            try:
                self._server = self._discover()
            except _NoPrimary as exc:
                raise FeatureStoreError(f"redis_sentinel: {exc}") from exc
        found = layout.check(views)
        self.views = tuple(views)
        self.max_retries = max_retries
        self.wait_replicas, self._wait = _wait_command(wait_replicas, wait_timeout, self.timeout)
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
        self._cluster = _cluster(nodes, self._params, self.timeout) if self.cluster else None
        self._local = threading.local()
        self.failover_timeout = 0.0
        if self._sentinels is not None:
            if failover_timeout is None:
                failover_timeout = self._down_after() + ELECTION_S
            if isinstance(failover_timeout, bool) or not isinstance(failover_timeout, int | float):
                raise ConfigError("failover_timeout", failover_timeout, "seconds >= 0, or None")
            if not 0 <= failover_timeout < 1e6:
                raise ConfigError("failover_timeout", failover_timeout, "seconds >= 0, or None")
            self.failover_timeout = float(failover_timeout)
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
            sentinel = self._sentinels is not None
            if sentinel and local.conns:  # the primary moved: a connection to the old one goes
                self._drop_connections()
            conn = _Wire(node, self._params, self.timeout, primary=sentinel)
            self._local.conns[node] = conn
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
        the events twice, so the caller gets the error instead. Behind sentinels, a failure that
        a primary switch explains is retried on the new primary (``_failover``).
        """
        import redis

        for attempt in (0, 1):
            try:
                return fn()
            except (ReplyError, OSError) as exc:
                self._drop_connections()
                if self._sentinels is not None:
                    return self._failover(fn, exc)
                moved = str(exc).startswith(("MOVED", "ASK", "CLUSTERDOWN", "TRYAGAIN"))
                lost = isinstance(exc, OSError) and not write
                if self._cluster is not None and attempt == 0 and (moved or lost):
                    try:
                        self._cluster.nodes_manager.initialize()
                        continue
                    except (redis.RedisError, OSError):
                        pass
                raise FeatureStoreError(f"the Redis online store failed: {_describe(exc)}") from exc
        raise AssertionError("unreachable")

    # -- sentinel ---------------------------------------------------------------------------

    def _failover(self, fn: Any, exc: Exception) -> Any:
        """Ask the sentinels for the primary and run ``fn`` there, again and again (pausing 20 ms,
        doubling to 250 ms) until it succeeds, the error is not one a primary switch explains, or
        ``failover_timeout`` seconds have passed since the first failure.

        The first retry is immediate, so even ``failover_timeout=0`` follows a switch that is
        already over. A write is retried only when nothing of it can have been applied: its
        ``WATCH``/read round trip failed, or the server refused its ``EXEC`` (``-READONLY``,
        ``-LOADING``: a queued command was rejected, so ``EXEC`` aborted). Then the whole
        read-modify-write runs again, from a fresh read of the new primary, and applies the
        events once. A write whose connection failed after its ``EXEC`` was sent
        (``_OutcomeUnknown``) may have been applied, and may have reached a replica: it is never
        re-sent; the caller gets the error.
        """
        deadline = time.monotonic() + self.failover_timeout
        pause = 0.0
        while _switching(exc):
            if pause:
                left = deadline - time.monotonic()
                if left <= 0:
                    break
                time.sleep(min(pause, left))
            pause = min(max(2 * pause, 0.02), 0.25)
            try:
                self._server = self._discover()
                return fn()
            except (ReplyError, OSError) as again:
                self._drop_connections()
                exc = again
        if not _switching(exc):
            raise FeatureStoreError(f"the Redis online store failed: {_describe(exc)}") from exc
        raise FeatureStoreError(
            f"redis_sentinel: no primary of the master {self.master!r} answered within "
            f"failover_timeout={self.failover_timeout:g} s; sentinels "
            f"{_addresses(self._sentinels or ())}, last primary asked "
            f"{_addresses([self._server])}; last error: {_describe(exc)}"
        ) from exc

    def _discover(self) -> tuple[str, int]:
        """The primary's address, from the first sentinel that names one; that sentinel is asked
        first next time. A name no reachable sentinel knows is a ``FeatureStoreError``; no
        sentinel reachable is a ``_NoPrimary`` (an ``OSError``: a failover may cure it)."""
        sentinels = self._sentinels or ()
        name = str(self.master).encode()
        answers, refused = [], 0
        for i, node in enumerate(sentinels):
            try:
                wire = _Wire(node, {}, self.timeout)
                try:
                    wire.send(_pack(b"SENTINEL", b"get-master-addr-by-name", name))
                    [addr] = wire.replies(1)
                finally:
                    wire.close()
            except OSError as exc:
                answers.append(f"{_addresses([node])}: {_describe(exc)}")
                continue
            except ReplyError as exc:
                answers.append(f"{_addresses([node])} answered {exc}")
            else:
                if isinstance(addr, list) and len(addr) == 2:
                    if i:
                        self._sentinels = (node, *sentinels[:i], *sentinels[i + 1 :])
                    return (addr[0].decode(), int(addr[1]))
                answers.append(f"{_addresses([node])} knows no master named {self.master!r}")
            refused += 1
        if refused:
            raise FeatureStoreError(
                f"redis_sentinel: no sentinel gave the address of the master {self.master!r} "
                f"(sentinel_master): {'; '.join(answers)}. connection_string must list the "
                "sentinels (host:port of each), and sentinel_master name a master they monitor."
            )
        raise _NoPrimary(
            f"no sentinel of the master {self.master!r} could be reached: {'; '.join(answers)}"
        )

    def _down_after(self) -> float:
        """The master's ``down-after-milliseconds``, in seconds, from the first sentinel."""
        wire = _Wire((self._sentinels or ())[0], {}, self.timeout)
        try:
            wire.send(_pack(b"SENTINEL", b"MASTER", str(self.master).encode()))
            [reply] = wire.replies(1)
        except (ReplyError, OSError) as exc:
            raise FeatureStoreError(
                f"redis_sentinel: cannot read the settings of the master {self.master!r}: "
                f"{_describe(exc)}; pass failover_timeout"
            ) from exc
        finally:
            wire.close()
        settings = dict(zip(reply[::2], reply[1::2], strict=True))
        return int(settings.get(b"down-after-milliseconds", 30000)) / 1000

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
        at = len(commands)  # EXEC's reply, then (with wait_replicas) WAIT's
        commands.append(_EXEC)
        if self._wait is not None:
            commands.append(self._wait)
        try:
            replies = self._roundtrip(node, commands)
        except ReplyError as exc:
            if isinstance(exc.replies[at], Exception):  # EXEC refused: nothing was written
                raise
            raise FeatureStoreError(  # EXEC applied; what failed came after it (WAIT)
                f"a write was applied on the Redis primary {_addresses([node])}, then failed: "
                f"{exc}; it was not sent again (a second write would count its events twice)"
            ) from exc
        except OSError as exc:
            raise _OutcomeUnknown(
                f"the connection to {_addresses([node])} failed after a write's EXEC was sent "
                f"({_describe(exc)}): the write may or may not have been applied, so it was not "
                "sent again (a second write would count its events twice)"
            ) from exc
        if replies[at] is None:
            return False  # a watched key changed, nothing was written
        if self._wait is not None and replies[-1] < self.wait_replicas:
            raise FeatureStoreError(
                f"a write was applied on the Redis primary {_addresses([node])} but only "
                f"{replies[-1]} of wait_replicas={self.wait_replicas} replica(s) acknowledged it "
                "within wait_timeout: a failover now could lose it. It was not sent again (a "
                "second write would count its events twice)."
            )
        return True

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
    """An error reply from the server (``-ERR ...``, ``-MOVED ...``); ``replies`` holds every
    reply of its round trip, in order, errors included."""

    def __init__(self, message: str, replies: list[Any] | None = None) -> None:
        super().__init__(message)
        self.replies = replies or []


class _OutcomeUnknown(OSError):
    """The connection failed after a write's ``EXEC`` was sent: it may have been applied."""


class _NoPrimary(OSError):
    """No sentinel could be reached to name the primary."""


def _switching(exc: BaseException) -> bool:
    """Whether ``exc`` is how a call fails while a primary is switched (and a retry is safe)."""
    if isinstance(exc, _OutcomeUnknown):
        return False
    return isinstance(exc, OSError) or str(exc).startswith(_SWITCHING)


def _describe(exc: BaseException) -> str:
    if isinstance(exc, _OutcomeUnknown | _NoPrimary):
        return str(exc)
    return f"{type(exc).__name__}: {exc}"


def _addresses(nodes: Sequence[tuple[str, int]]) -> str:
    return ",".join(f"{h}:{p}" for h, p in nodes)


def _wait_command(replicas: Any, timeout: Any, socket_timeout: float) -> tuple[int, bytes | None]:
    """``wait_replicas`` checked, and its ``WAIT`` command in RESP (None when 0)."""
    if isinstance(replicas, bool) or not isinstance(replicas, int) or replicas < 0:
        raise ConfigError("wait_replicas", replicas, "an int >= 0 (0: do not wait)")
    if not replicas:
        return 0, None
    if (
        isinstance(timeout, bool)
        or not isinstance(timeout, int | float)
        or not 0 < timeout < socket_timeout
    ):
        raise ConfigError(
            "wait_timeout", timeout, f"seconds > 0 and < the store timeout ({socket_timeout:g})"
        )
    ms = max(1, round(timeout * 1000))
    return replicas, _pack(b"WAIT", str(replicas).encode(), str(ms).encode())


def _sentinel_master(store: Any, layout: StoreLayout) -> str:
    """Feast's ``sentinel_master`` (default ``mymaster``): from Feast's config, else from the
    layout, else from the repo's ``feature_store.yaml`` (as Feast reads it)."""
    if not isinstance(store, StoreLayout):
        return str(getattr(store.config.online_store, "sentinel_master", "mymaster"))
    name = layout.online.get("sentinel_master")
    if name is None:
        import yaml

        try:
            text = (layout.repo_path / "feature_store.yaml").read_text()
            config = yaml.safe_load(os.path.expandvars(text))
            name = config["online_store"].get("sentinel_master")
        except (OSError, yaml.YAMLError, KeyError, TypeError, AttributeError):
            name = None
    return str(name or "mymaster")


def _pack(*args: bytes) -> bytes:
    """One command in RESP."""
    return b"*%d\r\n" % len(args) + b"".join(b"$%d\r\n%s\r\n" % (len(a), a) for a in args)


class _Wire:
    """One connection to one server: a socket and a hiredis reply parser, nothing else.

    A request is the RESP bytes of one or more commands, written at once; the replies are read
    back in order. redis-py's own connection costs tens of µs more per round trip.
    """

    def __init__(
        self,
        node: tuple[str, int],
        params: dict[str, Any],
        timeout: float,
        *,
        primary: bool = False,
    ) -> None:
        """``primary``: check with ``ROLE`` that the server is a primary (behind sentinels)."""
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
        if primary:
            handshake.append(_pack(b"ROLE"))
        if handshake:
            try:
                self.send(b"".join(handshake))
                replies = self.replies(len(handshake))
            except BaseException:
                self.close()
                raise
            if primary and replies[-1][0] != b"master":
                self.close()
                role = replies[-1][0].decode(errors="replace")
                raise ReplyError(f"NOTPRIMARY {_addresses([node])} is a {role}, not the primary")

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
                raise ReplyError(str(reply), out)
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
