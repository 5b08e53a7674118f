"""Online state sources: the seam between the scorer and a Feast online store.

:class:`FeatureSource` is the Protocol. Implementations:

``SqliteSource``
    The fast path for Feast's embedded SQLite online store: reads and writes Feast's own table
    layout (one row per entity and feature, Feast's entity-key encoding, ``ValueProto`` values)
    with statements prepared once. A test proves it returns what ``get_online_features`` does.
``FeastSource``
    Reads through ``FeatureStore.get_online_features``: the reference (and the slow path a user
    would write). Read-only.

Every Feast-side decision (feature views, table names, key encodings, statements) is made at
construction; a store type or table layout we do not recognise fails there, with a clear error.
"""

from __future__ import annotations

import math
import sqlite3
import struct
import threading
from collections.abc import Sequence
from contextlib import closing
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

import numpy as np

from fraudscore._errors import FeatureStoreError
from fraudscore._feast import feast_errors, open_store
from fraudscore._state import Array, StateView

if TYPE_CHECKING:
    from feast import FeatureStore

__all__ = ["FeastSource", "FeatureSource", "SqliteSource", "encode_key", "open_source"]

Key = tuple[str, ...]

_STRING = struct.pack("<I", 2)  # feast ValueType.STRING
_DOUBLE_TAG = 0x29  # ValueProto field 5 (double_val), wire type 1 (64-bit)
_unpack_double = struct.Struct("<d").unpack_from
_NAN = math.nan


class FeatureSource(Protocol):
    """Reads and writes the state of ``views``; index ``i`` of each argument is ``views[i]``."""

    views: tuple[StateView, ...]

    def read(self, keys: Sequence[Sequence[Key]]) -> list[Array]:
        """For each view, an ``(len(keys[i]), width)`` array of stored states.

        An unknown key reads as ``view.empty()``; a view may be given no keys.
        """
        ...

    def read_one(self, keys: Sequence[Key]) -> list[list[float]]:
        """For each view, the stored state of its one key as a list of floats (one event)."""
        ...

    def write(self, rows: Sequence[Sequence[tuple[Key, Sequence[float]]]]) -> None:
        """Store the given (key, state) rows of each view, atomically where the store allows."""
        ...


class KeyEncoder:
    """Feast's entity-key serialization (version 3) for string join keys, prebuilt per view."""

    def __init__(self, join_keys: Sequence[str]) -> None:
        self.order = sorted(range(len(join_keys)), key=lambda i: join_keys[i])
        parts = [struct.pack("<I", len(join_keys))]
        for i in self.order:
            k = join_keys[i].encode()
            parts += [_STRING, struct.pack("<I", len(k)), k]
        self.prefix = b"".join(parts)

    def __call__(self, key: Key) -> bytes:
        out = [self.prefix]
        for i in self.order:
            v = key[i].encode()
            out += [_STRING, struct.pack("<I", len(v)), v]
        return b"".join(out)


def encode_key(join_keys: Sequence[str], key: Key) -> bytes:
    """Feast's serialized entity key for string values ``key`` of ``join_keys``."""
    return KeyEncoder(join_keys)(key)


def decode_value(raw: bytes) -> float:
    """A stored ``ValueProto`` as a float; an empty (null) value is NaN."""
    if len(raw) == 9 and raw[0] == _DOUBLE_TAG:
        return float(_unpack_double(raw, 1)[0])
    if not raw:
        return _NAN
    from feast.protos.feast.types.Value_pb2 import Value

    v = Value.FromString(raw)
    which = v.WhichOneof("val")
    return _NAN if which is None else float(getattr(v, which))


_NULL_AS_DOUBLE = b")" + struct.pack("<d", _NAN)


def decode_values(raws: Sequence[bytes]) -> list[float]:
    """Many stored values at once: one unpack when all are doubles or null (the usual case)."""
    blob = b"".join([r or _NULL_AS_DOUBLE for r in raws])
    n = len(raws)
    if len(blob) == 9 * n and blob[::9] == b")" * n:
        return list(struct.unpack("<" + "xd" * n, blob))
    return [decode_value(r) for r in raws]


def encode_value(x: float) -> bytes:
    """A float as Feast stores it: a serialized ``ValueProto(double_val=x)``, null for NaN."""
    return b"" if x != x else b")" + struct.pack("<d", x)


_SQLITE_TYPES = ("sqlite", "feast.infra.online_stores.sqlite.SqliteOnlineStore")


def _sqlite_path(store: FeatureStore) -> Path:
    config = store.config
    path = Path(config.online_store.path)
    return path if path.is_absolute() else Path(str(config.repo_path)) / path


def add_read_indexes(store: FeatureStore) -> None:
    """Give each SQLite online-store table a covering index for the scorer's read.

    Feast's own index is on ``entity_key`` only, so each of an entity's rows costs one more
    lookup in the table; an index on (entity_key, feature_name, value) answers the read from the
    index alone (a login's six views: 66 -> 50 µs here). SQLite maintains it on Feast's writes
    too. Other store types, and a store applied without it, work the same, a little slower.
    """
    from feast.infra.online_stores.helpers import compute_table_id

    config = store.config
    if config.online_store.type not in _SQLITE_TYPES:
        return
    versioning = bool(getattr(config.registry, "enable_online_feature_view_versioning", False))
    tables = [compute_table_id(config.project, fv, versioning) for fv in store.list_feature_views()]
    try:
        with closing(sqlite3.connect(_sqlite_path(store))) as conn, conn:
            for table in tables:
                conn.execute(
                    f'CREATE INDEX IF NOT EXISTS "{table}_fraudscore_read" '
                    f'ON "{table}" (entity_key, feature_name, value)'
                )
    except sqlite3.Error as exc:
        raise FeatureStoreError(f"indexing the SQLite online store failed: {exc}") from exc


def _resolve_views(store: FeatureStore, views: Sequence[StateView]) -> list[Any]:
    out = []
    for view in views:
        with feast_errors(f"looking up feature view {view.name!r}"):
            try:
                fv = store.get_feature_view(view.name)
            except Exception as exc:
                raise FeatureStoreError(
                    f"feature view {view.name!r} is not registered in the Feast repo "
                    f"{str(store.repo_path)!r}; run `fraudscore apply` first"
                ) from exc
        fields = tuple(f.name for f in fv.features)
        if set(fields) != set(view.fields) or sorted(fv.join_keys) != sorted(view.keys):
            raise FeatureStoreError(
                f"feature view {view.name!r} has fields {sorted(fields)} keyed by "
                f"{sorted(fv.join_keys)}; this library expects {sorted(view.fields)} keyed by "
                f"{sorted(view.keys)}. Re-apply the repo with this version of fraudscore."
            )
        out.append(fv)
    return out


class SqliteSource:
    """Fast reads and writes of Feast's SQLite online store tables."""

    def __init__(self, store: FeatureStore, views: Sequence[StateView]) -> None:
        from feast.infra.online_stores.helpers import compute_table_id

        config = store.config
        if config.online_store.type not in _SQLITE_TYPES:
            raise FeatureStoreError(
                f"SqliteSource needs a sqlite online store, not {config.online_store.type!r}"
            )
        if config.entity_key_serialization_version != 3:
            raise FeatureStoreError(
                "entity_key_serialization_version must be 3, not "
                f"{config.entity_key_serialization_version}"
            )
        path = self.path = _sqlite_path(store)
        self.views = tuple(views)
        fvs = _resolve_views(store, self.views)
        versioning = bool(getattr(config.registry, "enable_online_feature_view_versioning", False))
        self.tables = [compute_table_id(config.project, fv, versioning) for fv in fvs]
        self._encoders = [KeyEncoder(v.keys) for v in self.views]
        self._index = [{f: i for i, f in enumerate(v.fields)} for v in self.views]
        self._local = threading.local()
        conn = self._conn()
        self._has_text = []
        for table in self.tables:
            cols = {r[1] for r in conn.execute(f'PRAGMA table_info("{table}")')}
            if not {"entity_key", "feature_name", "value", "event_ts", "created_ts"} <= cols:
                raise FeatureStoreError(
                    f"online store table {table!r} in {str(path)!r} is missing or has an unknown "
                    f"layout (columns {sorted(cols)}); run `fraudscore apply`"
                )
            self._has_text.append("value_text" in cols)
        self._one = " UNION ALL ".join(
            f'SELECT {i}, feature_name, value FROM "{t}" WHERE entity_key = ?'
            for i, t in enumerate(self.tables)
        )
        # The same read without names: each view's values in feature-name order (the order of
        # the covering index), placed by a permutation computed here, once.
        self._one_ordered = " UNION ALL ".join(
            f'SELECT * FROM (SELECT {i}, value FROM "{t}" WHERE entity_key = ? '
            "ORDER BY feature_name)"
            for i, t in enumerate(self.tables)
        )
        self._from_sorted = [[sorted(v.fields).index(f) for f in v.fields] for v in self.views]
        self._upserts = [
            f'INSERT INTO "{t}" (entity_key, feature_name, value, '
            + ("value_text, " if has_text else "")
            + "event_ts, created_ts) VALUES (?, ?, ?, "
            + ("?, " if has_text else "")
            + "?, ?) ON CONFLICT(entity_key, feature_name) DO UPDATE SET value = excluded.value, "
            + ("value_text = excluded.value_text, " if has_text else "")
            + "event_ts = excluded.event_ts, created_ts = excluded.created_ts"
            for t, has_text in zip(self.tables, self._has_text, strict=True)
        ]
        self._write_lock = threading.Lock()

    def _cursor(self) -> sqlite3.Cursor:
        cur: sqlite3.Cursor | None = getattr(self._local, "cursor", None)
        if cur is None:
            cur = self._local.cursor = self._conn().cursor()
        return cur

    def _conn(self) -> sqlite3.Connection:
        conn: sqlite3.Connection | None = getattr(self._local, "conn", None)
        if conn is None:
            if not self.path.is_file():
                raise FeatureStoreError(
                    f"no SQLite online store at {str(self.path)!r}; run `fraudscore apply`"
                )
            try:
                conn = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False)
                conn.execute("PRAGMA journal_mode=WAL")
                conn.execute("PRAGMA synchronous=NORMAL")
            except sqlite3.Error as exc:
                raise FeatureStoreError(f"cannot open {str(self.path)!r}: {exc}") from exc
            self._local.conn = conn
        return conn

    def read_one(self, keys: Sequence[Key]) -> list[list[float]]:
        params = [enc(k) for enc, k in zip(self._encoders, keys, strict=True)]
        try:
            rows = self._cursor().execute(self._one_ordered, params).fetchall()
        except sqlite3.Error as exc:
            raise FeatureStoreError(f"reading the SQLite online store failed: {exc}") from exc
        values = decode_values([r[1] for r in rows])
        counts = [0] * len(self.views)
        for r in rows:
            counts[r[0]] += 1
        out = []
        at = 0
        for view, n, perm in zip(self.views, counts, self._from_sorted, strict=True):
            if n == 0:
                out.append(view.empty_row())
            elif n == view.width:
                chunk = values[at : at + n]
                out.append([chunk[j] for j in perm])
            else:  # some features of the entity missing: place each value by its name
                return self._read_one_named(params)
            at += n
        return out

    def _read_one_named(self, params: list[bytes]) -> list[list[float]]:
        """Like Feast: a feature with no row is None (NaN) unless the entity has no rows at all."""
        found: list[list[float] | None] = [None] * len(self.views)
        index = self._index
        try:
            rows = self._cursor().execute(self._one, params).fetchall()
        except sqlite3.Error as exc:
            raise FeatureStoreError(f"reading the SQLite online store failed: {exc}") from exc
        for (vi, name, _), x in zip(rows, decode_values([r[2] for r in rows]), strict=True):
            state = found[vi]
            if state is None:
                state = found[vi] = [_NAN] * self.views[vi].width
            state[index[vi][name]] = x
        return [v.empty_row() if s is None else s for v, s in zip(self.views, found, strict=True)]

    def read(self, keys: Sequence[Sequence[Key]]) -> list[Array]:
        try:
            conn = self._conn()
            out = [v.empty(len(ks)) for v, ks in zip(self.views, keys, strict=True)]
            for vi, (enc, ks) in enumerate(zip(self._encoders, keys, strict=True)):
                if not ks:
                    continue
                index = self._index[vi]
                slot: dict[bytes, int] = {}
                inverse = np.array([slot.setdefault(enc(k), len(slot)) for k in ks], dtype=np.intp)
                unique = np.full((len(slot), self.views[vi].width), np.nan)
                encoded = list(slot)
                rows = []
                for lo in range(0, len(encoded), 500):
                    chunk = encoded[lo : lo + 500]
                    sql = (
                        f'SELECT entity_key, feature_name, value FROM "{self.tables[vi]}" '
                        f"WHERE entity_key IN ({','.join('?' * len(chunk))})"
                    )
                    rows += conn.execute(sql, chunk).fetchall()
                seen = np.zeros(len(slot), bool)
                if rows:
                    at_row = [slot[r[0]] for r in rows]
                    at_col = [index[r[1]] for r in rows]
                    unique[at_row, at_col] = decode_values([r[2] for r in rows])
                    seen[at_row] = True
                unique[~seen] = self.views[vi].empty(1)[0]  # unknown entity: no history
                out[vi] = unique[inverse]
        except sqlite3.Error as exc:
            raise FeatureStoreError(f"reading the SQLite online store failed: {exc}") from exc
        return out

    def write(self, rows: Sequence[Sequence[tuple[Key, Sequence[float]]]]) -> None:
        params: list[list[tuple[Any, ...]]] = []
        for vi, view_rows in enumerate(rows):
            view = self.views[vi]
            nclk = len(view.clocks)
            has_text = self._has_text[vi]
            out: list[tuple[Any, ...]] = []
            for key, state in view_rows:
                ek = self._encoders[vi](key)
                values = [float(x) for x in state]
                ts = int(max(c for c in values[:nclk] if c == c))
                for name, x in zip(view.fields, values, strict=True):
                    value = encode_value(x)
                    if has_text:
                        out.append((ek, name, value, None if x != x else repr(x), ts, ts))
                    else:
                        out.append((ek, name, value, ts, ts))
            params.append(out)
        conn = self._conn()
        try:
            with self._write_lock:
                conn.execute("BEGIN")
                try:
                    for sql, p in zip(self._upserts, params, strict=True):
                        if p:
                            conn.executemany(sql, p)
                except BaseException:
                    conn.execute("ROLLBACK")
                    raise
                conn.execute("COMMIT")
        except sqlite3.Error as exc:
            raise FeatureStoreError(f"writing the SQLite online store failed: {exc}") from exc


class FeastSource:
    """Reads state through ``FeatureStore.get_online_features`` (reference; read-only)."""

    def __init__(self, store: FeatureStore, views: Sequence[StateView]) -> None:
        self.store = store
        self.views = tuple(views)
        self._fvs = _resolve_views(store, self.views)

    def read(self, keys: Sequence[Sequence[Key]]) -> list[Array]:
        out = []
        for view, ks in zip(self.views, keys, strict=True):
            if not ks:
                out.append(view.empty(0))
                continue
            refs = [f"{view.name}:{f}" for f in view.fields]
            rows = [dict(zip(view.keys, k, strict=True)) for k in ks]
            with feast_errors("get_online_features"):
                got = self.store.get_online_features(features=refs, entity_rows=rows).to_dict()
            values = [got[f] for f in view.fields]
            state = view.empty(len(ks))
            for row in range(len(ks)):
                if any(col[row] is not None for col in values):  # else: unknown entity, empty
                    state[row] = [_NAN if col[row] is None else float(col[row]) for col in values]
            out.append(state)
        return out

    def read_one(self, keys: Sequence[Key]) -> list[list[float]]:
        return [s[0].tolist() for s in self.read([[k] for k in keys])]

    def write(self, rows: Sequence[Sequence[tuple[Key, Sequence[float]]]]) -> None:
        raise FeatureStoreError("FeastSource is read-only; use open_source() to record events")


def open_source(repo: str | Path | FeatureStore, views: Sequence[StateView]) -> FeatureSource:
    """The fastest source for the repo's online store type; a clear error for an unknown one."""
    store = repo if not isinstance(repo, str | Path) else open_store(repo)
    kind = store.config.online_store.type
    if kind in _SQLITE_TYPES:
        return SqliteSource(store, views)
    raise FeatureStoreError(
        f"online store type {kind!r} is not supported by the fast path; use sqlite"
    )
