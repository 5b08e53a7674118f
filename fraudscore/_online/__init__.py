"""Online state sources: the seam between the scorer and a Feast online store.

:class:`FeatureSource` (``base``) is the Protocol. Implementations:

``SqliteSource`` (``sqlite``)
    The fast path for Feast's embedded SQLite online store: reads and writes Feast's own table
    layout with statements prepared once.
``RedisSource`` (``redis``)
    The fast path for Feast's Redis online store, standalone or Redis Cluster: Feast's own key
    and hash layout, pipelined reads, optimistic ``WATCH``/``MULTI``/``EXEC`` writes.
``FeastSource`` (``feast``)
    Reads through ``FeatureStore.get_online_features``: the reference (and the slow path a user
    would write). Read-only.

Every Feast-side decision (feature views, table names, key encodings, statements) is made at
construction; a store type or table layout we do not recognise fails there, with a clear error.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from fraudscore._errors import ConfigError, FeatureStoreError
from fraudscore._feast import open_store
from fraudscore._online.base import FeatureSource, Key, Step
from fraudscore._online.feast import FeastSource
from fraudscore._online.layout import from_descriptor, from_store
from fraudscore._online.redis import REDIS_TYPES, RedisSource
from fraudscore._online.sqlite import _SQLITE_TYPES, SqliteSource
from fraudscore._state import StateView

if TYPE_CHECKING:
    from feast import FeatureStore

__all__ = [
    "FeastSource",
    "FeatureSource",
    "Key",
    "RedisSource",
    "SqliteSource",
    "Step",
    "open_source",
]


#: The options of a Redis online store a caller may set (``RedisSource``'s arguments).
_REDIS_OPTIONS = ("failover_timeout", "wait_replicas", "wait_timeout", "max_retries")


def open_source(
    repo: str | Path | FeatureStore,
    views: Sequence[StateView],
    *,
    timeout: float = 1.0,
    **options: Any,
) -> FeatureSource:
    """The fastest source for the repo's online store type; a clear error for an unknown one.

    A repo directory with a current serving descriptor (``fraudscore apply``) opens without
    importing Feast; otherwise it opens through Feast (see ``layout``). ``timeout`` bounds, in
    seconds, how long one read or write waits on the store: SQLite's busy timeout, Redis's
    connect and socket timeouts. ``options`` go to the Redis source (:class:`RedisSource`:
    ``failover_timeout``, ``wait_replicas``, ``wait_timeout``, ``max_retries``); SQLite has
    none.
    """
    layout = from_descriptor(repo) if isinstance(repo, str | Path) else None
    if layout is None:
        layout = from_store(repo if not isinstance(repo, str | Path) else open_store(repo))
    kind = layout.store_type
    if kind in _SQLITE_TYPES:
        if options:
            raise ConfigError("store_options", sorted(options), "none for a SQLite online store")
        return SqliteSource(layout, views, timeout=timeout)
    if kind in REDIS_TYPES:
        unknown = sorted(set(options) - set(_REDIS_OPTIONS))
        if unknown:
            raise ConfigError("store_options", unknown, f"some of {list(_REDIS_OPTIONS)}")
        return RedisSource(layout, views, timeout=timeout, **options)
    raise FeatureStoreError(
        f"online store type {kind!r} is not supported by the fast path; use sqlite or redis"
    )
