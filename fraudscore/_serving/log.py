"""The decision log: what the scorer served, written off the hot path, read back as a frame.

For every event scored (``score``, ``score_many``) or recorded (``record``, ``record_many``) by a
:class:`~fraudscore.Scorer` opened with ``log=DecisionLog(...)``, one entry holds the event's own
fields, the feature row fed to the model, the model version, score, decision, reason codes,
deciding rule, the challenger's verdict, the store and model times, and when it was logged.

Off the hot path: a call appends one tuple to a bounded ``collections.deque`` (atomic in
CPython; no lock, no conversion) and returns. A daemon thread drains it every ``flush_s`` into
Arrow IPC stream files, one record batch per flush, written straight to the OS (unbuffered
``pyarrow.OSFile``), so a crash leaves a readable prefix. A stream is rotated by time
(``rotate_s``), size (``rotate_bytes``) and UTC date: it becomes a parquet file of the same base
name and the stream is deleted. Layout::

    <dir>/<kind>/date=YYYY-MM-DD/<start time>-<pid>-<seq>.parquet   (finished)
    <dir>/<kind>/date=YYYY-MM-DD/<start time>-<pid>-<seq>.arrows    (being written, or a crash)

Several worker processes share one directory safely: each writes only files named by its pid.

Why not Feast's feature logging (``FeatureService(logging_config=LoggingConfig(...))`` and
``FeatureStore.write_logged_features``): it logs the feature server's requests, with a schema
fixed by the feature service (join keys, the stored features, request data), into the offline
store, as a synchronous write of a whole table. It has no place for what this log is for, the
request-time features as served, scores, decisions, reasons, rules or the challenger, and a
synchronous offline-store write has no place on the scoring path.
"""

from __future__ import annotations

import atexit
import dataclasses
import itertools
import logging
import os
import threading
import time
import typing
import weakref
from collections import deque
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from fraudscore._errors import ConfigError, EventValidationError

if TYPE_CHECKING:
    import pandas as pd
    import pyarrow as pa

    from fraudscore._kinds import EventKind
    from fraudscore._serving.results import ScoreResult

__all__ = ["DecisionLog", "read_decision_log"]

_log = logging.getLogger("fraudscore.decision_log")
#: Columns every entry has, after ``entry`` and ``logged_at`` and the event's fields.
_RESULT_COLUMNS = (
    "decision",
    "model_version",
    "score",
    "reasons",
    "rule",
    "shadow_version",
    "shadow_score",
    "shadow_decision",
    "degraded",
    "store_us",
    "model_us",
)
_STREAM, _PARQUET = ".arrows", ".parquet"
#: Files of this process are numbered in the order they are opened.
_SEQ = itertools.count()
#: Every log of this process, reset in a forked child (see ``_forget_after_fork``).
_LOGS: weakref.WeakSet[DecisionLog] = weakref.WeakSet()


class DecisionLog:
    """An append-only log of every served decision, kept off the hot path (module docstring).

    Policies:

    - **Never blocks.** ``Scorer`` calls append to a queue of ``queue_size`` calls (a
      ``score_many`` or ``record_many`` batch is one) and return. When the queue is full, the new
      entry is dropped, never waited for, and counted: :attr:`dropped` (events dropped, whatever
      the cause) and :attr:`written` (events written) always add up to what was logged and is
      no longer queued.
    - **A crash loses at most the last ``flush_s``** (default 1 s) of entries: each flush writes
      one record batch to the OS. A killed process leaves a readable stream file, which
      :func:`read_decision_log` reads (a power loss can lose what the OS had not yet synced).
    - **A write that fails** (a full disk) loses that flush's entries, counts them in
      :attr:`dropped`, logs a warning, and the writer carries on.
    - **One log per worker process.** Open the log after the fork, once per worker. The writer
      thread starts on the first entry, in the process that logs it; a forked child's copy of
      a log starts empty and writes files of its own (its pid is in their names), never the
      parent's queue or files.

    :meth:`close` (also run at interpreter exit) writes what is queued, turns the open streams
    into parquet files and stops the writer; a closed log refuses further entries.
    """

    def __init__(
        self,
        path: str | Path,
        *,
        queue_size: int = 100_000,
        flush_s: float = 1.0,
        rotate_s: float = 3600.0,
        rotate_bytes: int = 64 * 2**20,
    ) -> None:
        import pyarrow  # noqa: F401  (imported here, never in the scorer's thread)

        if type(queue_size) is not int or queue_size < 1:
            raise ConfigError("queue_size", queue_size, "an int >= 1 (calls queued)")
        for name, value in (("flush_s", flush_s), ("rotate_s", rotate_s)):
            if not _positive(value):
                raise ConfigError(name, value, "a finite number of seconds > 0")
        if type(rotate_bytes) is not int or rotate_bytes < 1:
            raise ConfigError("rotate_bytes", rotate_bytes, "an int >= 1 (bytes)")
        self.path = Path(path)
        try:
            self.path.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise ConfigError("path", str(path), f"a directory it can write ({exc})") from exc
        self.queue_size = queue_size
        self.flush_s = float(flush_s)
        self.rotate_s = float(rotate_s)
        self.rotate_bytes = rotate_bytes
        self._closed = False
        self._reset()
        _LOGS.add(self)

    def _reset(self) -> None:
        """No queue, writer, files or counts: the state before the first entry (and of a
        forked child's copy)."""
        #: The queue once the writer runs in ``_pid``; None before (and after ``close``).
        self._queue: deque[tuple[Any, ...]] | None = None
        self._pid = 0
        self._thread: threading.Thread | None = None
        self._starting = threading.Lock()
        self._wake = threading.Event()
        self._done = threading.Condition()
        self._asked = self._answered = 0
        self._stopping = False
        self._streams: dict[str, _Stream] = {}
        self._schemas: dict[str, _Schema] = {}
        self._dropped = self._written = 0
        self._dropping = threading.Lock()

    @property
    def dropped(self) -> int:
        """Events not written: dropped on a full queue, or lost to a failed write."""
        return self._dropped

    @property
    def written(self) -> int:
        """Events written to files."""
        return self._written

    def __repr__(self) -> str:
        return f"DecisionLog({str(self.path)!r}, written={self._written}, dropped={self._dropped})"

    # -- entries (called by the scorer) ---------------------------------------------------------

    def scored(
        self, kind: EventKind, event: Any, x: Any, result: ScoreResult, store_us: int, model_us: int
    ) -> None:
        """Log one scored event: ``x`` is the feature row fed to the model. The hot path's put:
        one tuple, one length check, one append (the writer unpacks it)."""
        queue = self._queue
        if queue is None:
            queue = self._start()
        if len(queue) < self.queue_size:
            queue.append(("one", kind, event, x, result, store_us, model_us, time.time_ns()))
        else:
            self._drop(1)

    def scored_many(
        self,
        kind: EventKind,
        events: Sequence[Any],
        x: Any,
        results: Sequence[ScoreResult],
        store_us: int,
        model_us: int,
    ) -> None:
        """Log a batch scored on arrays: ``x`` holds the rows; the times are per event."""
        self._put(("score", kind, tuple(events), x, results, store_us, model_us, time.time_ns()))

    def recorded(
        self, kind: EventKind, events: Sequence[Any], decided: Sequence[str | None], store_us: int
    ) -> None:
        """Log events folded into state, with the decision served for each (or None)."""
        self._put(("record", kind, tuple(events), None, decided, store_us, None, time.time_ns()))

    def _put(self, entry: tuple[Any, ...]) -> None:
        queue = self._queue
        if queue is None:
            queue = self._start()
        if len(queue) < self.queue_size:
            queue.append(entry)
        else:
            self._drop(len(entry[2]))

    def _drop(self, n: int) -> None:
        with self._dropping:
            self._dropped += n

    def _start(self) -> deque[tuple[Any, ...]]:
        """The queue, starting the writer on the first entry of this process."""
        with self._starting:
            if self._closed:
                raise ConfigError("log", self, "an open DecisionLog (this one is closed)")
            if self._queue is None:
                self._pid = os.getpid()
                self._queue = deque()
                self._thread = threading.Thread(
                    target=self._run, name=f"fraudscore-decision-log-{self._pid}", daemon=True
                )
                self._thread.start()
                atexit.register(self.close)
            return self._queue

    # -- the writer thread ----------------------------------------------------------------------

    def flush(self, timeout: float | None = 10.0) -> bool:
        """Wait until every entry queued before this call is written (or dropped); True when
        done within ``timeout`` seconds. Not needed in service: the writer flushes on its own."""
        if self._thread is None or self._pid != os.getpid():
            return True
        with self._done:
            self._asked += 1
            target = self._asked
        self._wake.set()
        with self._done:
            return self._done.wait_for(lambda: self._answered >= target, timeout)

    def _run(self) -> None:
        while True:
            self._wake.wait(self.flush_s)
            self._wake.clear()
            with self._done:
                asked, stopping = self._asked, self._stopping
            self._drain()
            with self._done:
                self._answered = asked
                self._done.notify_all()
            if stopping:
                return

    def _drain(self) -> None:
        """Write every queued entry, one record batch per kind; rotate streams that are due."""
        queue = self._queue
        entries: list[tuple[Any, ...]] = []
        if queue is not None:
            while queue:
                entries.append(queue.popleft())
        by_kind: dict[str, list[tuple[Any, ...]]] = {}
        for entry in entries:
            if entry[0] == "one":  # a single score: as a batch of one
                _, kind, event, x, result, *rest = entry
                entry = ("score", kind, (event,), (x,), (result,), *rest)
            by_kind.setdefault(entry[1].name, []).append(entry)
        for name, group in by_kind.items():
            n = sum(len(e[2]) for e in group)
            try:
                self._write(group[0][1], group)
            except Exception as exc:  # a full disk, a bad value: lose this flush, not the writer
                _log.warning("decision log %s: %d entries lost: %r", self.path, n, exc)
                self._drop(n)
                broken = self._streams.pop(name, None)
                if broken is not None:
                    broken.abandon()
            else:
                self._written += n
        now = time.time()
        for name, stream in list(self._streams.items()):
            if self._stopping or stream.due(now, self.rotate_s, self.rotate_bytes):
                del self._streams[name]
                try:
                    stream.finish()
                except Exception as exc:  # the stream stays, and reads as a crash's would
                    _log.warning("decision log %s: rotation failed: %r", stream.path, exc)

    def _write(self, kind: EventKind, entries: list[tuple[Any, ...]]) -> None:
        schema = self._schemas.get(kind.name)
        if schema is None:
            schema = self._schemas[kind.name] = _Schema(kind)
        batch = schema.batch(entries)
        stream = self._streams.get(kind.name)
        if stream is None:
            stream = self._streams[kind.name] = _Stream.open(self.path / kind.name, schema.arrow)
        stream.write(batch)

    def close(self) -> None:
        """Write what is queued, turn open streams into parquet files, stop the writer. A
        second call does nothing; in a process that did not start the writer, neither."""
        with self._starting:
            if self._closed:
                return
            self._closed = True
            thread, mine = self._thread, self._pid == os.getpid()
        atexit.unregister(self.close)
        if thread is None or not mine:
            return
        with self._done:
            self._stopping = True
        self._wake.set()
        thread.join()
        left, self._queue = self._queue, None
        if left:  # put while the writer made its last pass: counted, never silently lost
            self._drop(sum(1 if e[0] == "one" else len(e[2]) for e in left))

    def __enter__(self) -> DecisionLog:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _forget_after_fork() -> None:
    """In a forked child, every inherited log starts afresh: no queue, writer or files."""
    for log in list(_LOGS):
        log._reset()


os.register_at_fork(after_in_child=_forget_after_fork)


def _positive(value: object) -> bool:
    return (
        isinstance(value, int | float)
        and not isinstance(value, bool)
        and value > 0
        and value != float("inf")
    )


class _Schema:
    """The Arrow schema of one kind's entries, and the conversion of entries to a batch."""

    def __init__(self, kind: EventKind) -> None:
        import pyarrow as pa

        hints = typing.get_type_hints(kind.event_type)
        self.fields = [f.name for f in dataclasses.fields(kind.event_type)]
        self.features = list(kind.features)
        clash = set(self.fields) & {"entry", "logged_at", *_RESULT_COLUMNS}
        if clash:
            raise ConfigError("log", sorted(clash), "event fields that are not log columns")
        columns = [("entry", pa.string()), ("logged_at", pa.timestamp("us", tz="UTC"))]
        columns += [(name, _arrow_type(hints[name])) for name in self.fields]
        columns += [
            ("decision", pa.string()),
            ("model_version", pa.string()),
            ("score", pa.float64()),
            ("reasons", pa.list_(pa.string())),
            ("rule", pa.string()),
            ("shadow_version", pa.string()),
            ("shadow_score", pa.float64()),
            ("shadow_decision", pa.string()),
            ("degraded", pa.bool_()),
            ("store_us", pa.int64()),
            ("model_us", pa.int64()),
        ]
        columns += [(f"feature_{f}", pa.float64()) for f in self.features]
        self.arrow = pa.schema(columns)

    def batch(self, entries: list[tuple[Any, ...]]) -> pa.RecordBatch:
        import numpy as np
        import pyarrow as pa

        cols: dict[str, list[Any]] = {name: [] for name in self.arrow.names}
        rows: list[Any] = []
        n_features = len(self.features)
        for what, _, events, x, results, store_us, model_us, t_ns in entries:
            n = len(events)
            cols["entry"] += [what] * n
            cols["logged_at"] += [t_ns // 1000] * n
            for name in self.fields:
                cols[name] += [getattr(e, name) for e in events]
            cols["store_us"] += [store_us] * n
            cols["model_us"] += [model_us] * n
            if what == "record":
                cols["decision"] += results
                for name in _RESULT_COLUMNS[1:9]:
                    cols[name] += [None] * n
                rows.append(np.full((n, n_features), np.nan))
                continue
            rows.append(np.asarray(x, dtype=np.float64).reshape(n, n_features))
            for r in results:
                shadow = r.shadow
                cols["decision"].append(r.decision)
                cols["model_version"].append(r.model_version)
                cols["score"].append(r.score)
                cols["reasons"].append([reason.code for reason in r.reasons])
                cols["rule"].append(r.rule)
                cols["shadow_version"].append(None if shadow is None else shadow.model_version)
                cols["shadow_score"].append(None if shadow is None else shadow.score)
                cols["shadow_decision"].append(None if shadow is None else shadow.decision)
                cols["degraded"].append(r.degraded)
        arrays = []
        x_all = np.concatenate(rows) if rows else np.zeros((0, n_features))
        record = np.array([e[0] == "record" for e in entries for _ in e[2]], dtype=bool)
        for f in self.arrow:
            if f.name.startswith("feature_"):
                j = self.features.index(f.name[len("feature_") :])
                arrays.append(pa.array(x_all[:, j], type=f.type, mask=record))
            else:
                arrays.append(pa.array(cols[f.name], type=f.type))
        return pa.RecordBatch.from_arrays(arrays, schema=self.arrow)


def _arrow_type(hint: Any) -> pa.DataType:
    """The Arrow type of an event field's annotation (``X | None`` is a nullable ``X``)."""
    import pyarrow as pa

    args = [a for a in typing.get_args(hint) if a is not type(None)]
    base = args[0] if len(args) == 1 else hint
    types = {
        str: pa.string(),
        float: pa.float64(),
        int: pa.int64(),
        bool: pa.bool_(),
        datetime: pa.timestamp("us", tz="UTC"),
    }
    if base not in types:
        raise ConfigError(
            "log", hint, f"event fields of the types {sorted(t.__name__ for t in types)}"
        )
    return types[base]


class _Stream:
    """One open Arrow IPC stream file, written batch by batch, finished into parquet."""

    def __init__(self, path: Path, sink: Any, writer: Any, started: float) -> None:
        self.path, self._sink, self._writer, self.started = path, sink, writer, started
        self.day = datetime.fromtimestamp(started, UTC).date()

    @classmethod
    def open(cls, root: Path, schema: pa.Schema) -> _Stream:
        import pyarrow as pa

        now = time.time()
        stamp = datetime.fromtimestamp(now, UTC)
        folder = root / f"date={stamp:%Y-%m-%d}"
        folder.mkdir(parents=True, exist_ok=True)
        path = folder / f"{stamp:%Y%m%dT%H%M%S%fZ}-{os.getpid()}-{next(_SEQ)}{_STREAM}"
        os.close(os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644))
        sink = pa.OSFile(str(path), "wb")  # unbuffered: every write reaches the OS
        return cls(path, sink, pa.ipc.new_stream(sink, schema), now)

    def write(self, batch: pa.RecordBatch) -> None:
        self._writer.write_batch(batch)

    def due(self, now: float, rotate_s: float, rotate_bytes: int) -> bool:
        return (
            now - self.started >= rotate_s
            or self._sink.tell() >= rotate_bytes
            or datetime.fromtimestamp(now, UTC).date() != self.day
        )

    def finish(self) -> None:
        """End the stream, write it as parquet beside it (atomically), delete the stream."""
        import pyarrow as pa
        import pyarrow.parquet as pq

        self._writer.close()
        self._sink.close()
        with pa.OSFile(str(self.path), "rb") as source:
            table = pa.ipc.open_stream(source).read_all()
        final = self.path.with_suffix(_PARQUET)
        partial = final.with_name(final.name + ".tmp")
        pq.write_table(table, partial)
        os.replace(partial, final)
        self.path.unlink()

    def abandon(self) -> None:
        """Stop writing to this stream after a failed write: it stays, read as a crash's."""
        for closing in (self._writer, self._sink):
            try:
                closing.close()
            except Exception:  # the write already failed, and was counted
                _log.debug("decision log %s: closing after a failed write", self.path)


# -- reading -----------------------------------------------------------------------------------


def read_decision_log(path: str | Path, kind: str | None = None) -> pd.DataFrame:
    """Every entry of the decision log under ``path``, oldest first, as one frame.

    Reads the finished parquet files and the streams still open or left by a crash (their
    complete batches). ``kind`` (a kind's name) chooses one kind's entries; without
    it the log must hold one kind only. Columns: ``entry`` ("score" or "record"),
    ``logged_at``, the event's fields, ``decision`` (the scored decision, or for a record the
    decision served, passed as ``decided``), ``model_version``, ``score``, ``reasons`` (codes,
    in order), ``rule``, ``shadow_version``, ``shadow_score``, ``shadow_decision``,
    ``degraded`` (scored on no-history state because the store failed), ``store_us``,
    ``model_us`` (µs; a record's ``store_us`` is its write), and ``feature_<name>`` per feature.

    The "record" entries are a history :func:`fraudscore.build_features` folds once the labels
    (``is_fraud``) are joined: a model retrains on what was served, with the defence's own
    decisions. :func:`fraudscore.served_features` takes the "score" entries' features as they
    were served instead, joined with the labels.
    """
    import pandas as pd
    import pyarrow as pa

    root = Path(path)
    if not root.is_dir():
        raise EventValidationError(
            "path", str(path), "an existing decision log directory", where="input"
        )
    try:
        kinds = sorted(p.name for p in root.iterdir() if p.is_dir())
    except OSError as exc:
        raise EventValidationError(
            "path", str(path), f"a readable decision log directory ({exc})", where="input"
        ) from exc
    if kind is None:
        if len(kinds) > 1:
            raise ConfigError("kind", None, f"one of {kinds} (the log holds several kinds)")
        kind = kinds[0] if kinds else None
    if kind is not None and not isinstance(kind, str):
        raise ConfigError("kind", kind, f"one of {kinds}")
    tables = [] if kind is None else _tables(root / kind)
    if not tables:
        return pd.DataFrame(columns=["entry", "logged_at"])
    table = pa.concat_tables(tables, promote_options="default")
    reasons = table.column("reasons").to_pylist()
    frame = table.drop_columns(["reasons"]).to_pandas()
    frame.insert(list(table.column_names).index("reasons"), "reasons", reasons)
    for name in ("store_us", "model_us"):  # none for a record's model
        frame[name] = frame[name].astype("Int64")
    return frame.sort_values("logged_at", kind="stable").reset_index(drop=True)


def _tables(folder: Path) -> list[pa.Table]:
    """The tables of every finished file and every stream's complete batches under ``folder``."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    files = sorted(folder.glob(f"date=*/*{_PARQUET}")) + sorted(folder.glob(f"date=*/*{_STREAM}"))
    out = []
    for file in files:
        if file.suffix == _STREAM and file.with_suffix(_PARQUET).exists():
            continue  # finished, not yet deleted
        try:
            if file.suffix == _PARQUET:
                out.append(pq.read_table(file))
            else:
                out.append(_read_stream(file))
        except (OSError, pa.ArrowException) as exc:
            raise EventValidationError(
                "path", str(file), f"a readable decision log file ({exc})", where="input"
            ) from exc
    return [t for t in out if t is not None]


def _read_stream(file: Path) -> pa.Table | None:
    """The complete batches of a stream (one cut short by a crash ends at its last whole
    batch); None for a stream that has not yet written its schema."""
    import pyarrow as pa

    with pa.OSFile(str(file), "rb") as source:
        try:
            reader = pa.ipc.open_stream(source)
        except pa.ArrowInvalid:
            return None
        batches = []
        while True:
            try:
                batches.append(reader.read_next_batch())
            except StopIteration:
                break
            except pa.ArrowInvalid:  # a batch cut short
                break
        return pa.Table.from_batches(batches, schema=reader.schema)
