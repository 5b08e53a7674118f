"""The offline fold in entity partitions: bounded memory, in process or on a Dask cluster.

A view's fold depends only on its own entities' events (and on derived columns of the views
before it), so the history is folded in three passes over parquet files, none of which holds
more than one part of it:

1. **split**: each chunk of the source (about ``partition_rows`` rows of whole row groups) is
   validated like the in-memory fold's input, numbered, and written once per *group* of views,
   hashed into ``P`` partitions by the group's key.
2. **fold**: each partition of every group but the first gathers its rows from every chunk,
   restores the global order (timestamp, id), and folds the group's views with
   :func:`fold_views`, exactly as the in-memory fold does. It writes the views' state history,
   and what they read at each event, bucketed by the event's partition in the first group.
3. **fold and join**: each partition of the first group is folded the same way, joined with
   the other groups' reads of its events, and its training rows are written.

A group is the views whose first key is the same column (``customer_id``; ``ip``), so a view
that derives a column (``ip_user_state``) is folded beside the view that uses it
(``ip_state``). A single-row view (the login totals) or a very big entity is one partition.

Every pass is a list of independent tasks on files: run one after another in this process, or
mapped onto a ``distributed`` cluster whose workers all see ``out``.
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from fraudscore._errors import ConfigError, EventValidationError, TrainingError
from fraudscore._frames import BadRows
from fraudscore._kinds import DEFAULT_KIND, EventKind, kind_spec
from fraudscore._state import StateView
from fraudscore._training.offline import (
    FoldedViews,
    OfflineFeatures,
    features_frame,
    fold_views,
)

if TYPE_CHECKING:
    import pandas as pd

    from fraudscore._columns import Columns

__all__ = ["FoldedHistory", "fold_partitioned"]

#: The global event number in split and read files (chunk offset + position in the chunk).
_ROW = "_row"
#: In a split file of any group but the first: the row's partition in the first group.
_HOME = "_home"
_MANIFEST = "fold.json"


@dataclass(frozen=True)
class FoldedHistory:
    """A history folded to parquet by :func:`fraudscore.fold_partitioned`.

    ``features`` is a directory of parquet parts with one training row per event (the same
    columns as :attr:`OfflineFeatures.frame`, plus ``_row``), ``history`` one directory of
    parts per feature view (the Feast offline sources). :meth:`load` reads them back into an
    :class:`OfflineFeatures`, where that fits in memory.
    """

    kind: str
    out: Path
    rows: int
    partitions: int
    dropped_rows: dict[str, int] = field(default_factory=dict)

    @property
    def features(self) -> Path:
        return self.out / "features"

    @property
    def history(self) -> dict[str, Path]:
        return {v.name: self.out / "history" / v.name for v in kind_spec(self.kind).views}

    def load(self) -> OfflineFeatures:
        """Everything in memory, in the in-memory fold's order."""
        import pandas as pd

        spec = kind_spec(self.kind)
        frame = pd.read_parquet(self.features)
        frame = frame.sort_values(["timestamp", spec.id_field], kind="stable")
        frame = frame.drop(columns=[_ROW]).reset_index(drop=True)
        history = {}
        for view in spec.views:
            hist = pd.read_parquet(self.history[view.name])
            order = ["event_timestamp", "created", *view.keys]
            history[view.name] = hist.sort_values(order, kind="stable").reset_index(drop=True)
        return OfflineFeatures(self.kind, frame, history, dict(self.dropped_rows))


def fold_partitioned(
    data: str | Path | Sequence[str | Path],
    out: str | Path,
    kind: str = DEFAULT_KIND,
    *,
    columns: Columns | None = None,
    bad_rows: BadRows = "fail",
    partition_rows: int = 1_000_000,
    dask: Any = None,
    dask_timeout: float = 10.0,
) -> FoldedHistory:
    """Fold a parquet history (a file, a directory of parts, or a list of files) to ``out``.

    Memory depends on ``partition_rows`` (the rows per source chunk and, on average, per
    entity partition), not on the history. ``dask`` runs every pass on a cluster: a
    ``distributed.Client``, a scheduler address (``"tcp://host:8786"``), or ``"local:N"`` for a
    ``LocalCluster`` of N worker processes started for this call. Then ``out`` and the source
    must be paths every worker can read and write; a scheduler that does not answer within
    ``dask_timeout`` seconds is a :class:`TrainingError`, raised before ``out`` is touched. The
    results equal :func:`build_features`'s
    (a test holds every feature and every state row to it).
    """
    spec = kind_spec(kind, where="kind")
    if partition_rows < 1:
        raise EventValidationError(
            "partition_rows", partition_rows, "a positive number of rows", where="fold"
        )
    chunks = _chunks(_parquet_files(data), partition_rows)
    rows = sum(n for *_, n in chunks)
    partitions = max(1, round(rows / partition_rows))  # partitions of about partition_rows
    groups = view_groups(spec)
    with _executor(dask, dask_timeout) as run:  # connects first: an unreachable one changes nothing
        out = Path(out)
        if out.exists():
            shutil.rmtree(out)
        out.mkdir(parents=True)
        starts = np.r_[0, np.cumsum([n for *_, n in chunks])]
        split = run(
            _split,
            [
                (spec.name, str(out), c, files, int(starts[c]), columns, bad_rows, partitions)
                for c, (files, _) in enumerate(chunks)
            ],
        )
        run(
            _fold,
            [(spec.name, str(out), g, p) for g in range(1, len(groups)) for p in range(partitions)],
        )
        run(_fold_home, [(spec.name, str(out), p) for p in range(partitions)])
    for scratch in ("split", "reads"):
        shutil.rmtree(out / scratch, ignore_errors=True)
    dropped: dict[str, int] = {}
    for counts in split:
        for reason, n in counts.items():
            dropped[reason] = dropped.get(reason, 0) + n
    kept = rows - sum(dropped.values())
    result = FoldedHistory(spec.name, out, kept, partitions, dropped)
    (out / _MANIFEST).write_text(
        json.dumps({"kind": spec.name, "rows": kept, "partitions": partitions, "dropped": dropped})
    )
    return result


def view_groups(kind: EventKind) -> list[tuple[str, tuple[StateView, ...]]]:
    """The kind's views grouped by their first key column, in fold order within a group."""
    groups: dict[str, list[StateView]] = {}
    for view in kind.views:
        groups.setdefault(view.keys[0], []).append(view)
    for column, source in kind.derived:
        users = [k for k, vs in groups.items() if any(_uses(v, column) for v in vs)]
        home = next(k for k, vs in groups.items() if any(v.name == source for v in vs))
        if any(k != home for k in users):  # a new kind must keep this true
            raise AssertionError(f"{column} is derived in group {home} but used in {users}")
    return [(k, tuple(vs)) for k, vs in groups.items()]


def _uses(view: StateView, column: str) -> bool:
    return any(a.weight == column for a in view.accumulators) or any(
        x.column == column for x in view.latest
    )


def _parquet_files(data: str | Path | Sequence[str | Path]) -> list[Path]:
    paths = [Path(data)] if isinstance(data, str | Path) else [Path(p) for p in data]
    files: list[Path] = []
    for p in paths:
        if p.is_dir():
            files += sorted(f for f in p.rglob("*.parquet") if f.is_file())
        elif p.is_file():
            files.append(p)
        else:
            raise EventValidationError(
                "data", str(p), "an existing parquet file or directory of parts", where="fold"
            )
    if not files:
        raise EventValidationError("data", [str(p) for p in paths], "parquet files", where="fold")
    return files


def _chunks(files: list[Path], size: int) -> list[tuple[list[tuple[str, list[int]]], int]]:
    """Whole row groups, in file order, gathered into chunks of about ``size`` rows."""
    import pyarrow.parquet as pq

    chunks: list[tuple[list[tuple[str, list[int]]], int]] = []
    parts: list[tuple[str, list[int]]] = []
    rows = 0
    for f in files:
        meta = pq.ParquetFile(f).metadata
        for g in range(meta.num_row_groups):
            if rows and rows + meta.row_group(g).num_rows > size:
                chunks.append((parts, rows))
                parts, rows = [], 0
            if not parts or parts[-1][0] != str(f):
                parts.append((str(f), []))
            parts[-1][1].append(g)
            rows += meta.row_group(g).num_rows
    if parts:
        chunks.append((parts, rows))
    return chunks


def _split(
    kind: str,
    out: str,
    chunk: int,
    files: list[tuple[str, list[int]]],
    start: int,
    columns: Columns | None,
    bad_rows: BadRows,
    partitions: int,
) -> dict[str, int]:
    """Pass 1: validate a source chunk and write it hashed into each group's partitions."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    spec = kind_spec(kind)
    table = pa.concat_tables(pq.ParquetFile(f).read_row_groups(g) for f, g in files)
    frame = table.to_pandas()
    del table
    if columns is not None:
        frame = columns.apply(frame)
    events = spec.prepare(frame, bad_rows=bad_rows)
    del frame
    dropped = dict(events.attrs.get("dropped_rows", {}))
    events.attrs = {}
    events[_ROW] = start + np.arange(len(events), dtype=np.int64)
    for g, (key, _) in enumerate(view_groups(spec)):
        part = _partition(events, key, partitions)
        if g == 0:
            home = part
        else:  # where the first group's fold will want this group's reads
            events[_HOME] = home
        for p in np.unique(part):
            rows = events[part == p]
            _write(rows, Path(out) / "split" / f"g{g}" / f"p{int(p):05d}" / f"c{chunk:05d}.parquet")
    return dropped


def _partition(events: pd.DataFrame, key: str, partitions: int) -> np.ndarray:
    import pandas as pd

    if key not in events.columns:  # an optional field nobody sent: no entity, one partition
        return np.zeros(len(events), dtype=np.int64)
    hashed = pd.util.hash_array(events[key].to_numpy(dtype=object))
    return (hashed % np.uint64(partitions)).astype(np.int64)


def _gather_split(kind: EventKind, src: Path) -> pd.DataFrame:
    """A partition's rows from every chunk, in the in-memory fold's order (timestamp, id)."""
    import pandas as pd

    events = pd.concat([pd.read_parquet(f) for f in sorted(src.iterdir())], ignore_index=True)
    # Sort on integers (time, then chunk order), then order the rarer same-time rows by id.
    ts = events["timestamp"].array.asi8
    order = np.lexsort((events[_ROW].to_numpy(), ts))
    ts_sorted = ts[order]
    tied = np.r_[False, ts_sorted[1:] == ts_sorted[:-1]]
    tied[:-1] |= tied[1:]
    if tied.any():
        ties = events.iloc[order[tied]][["timestamp", kind.id_field]]
        order[tied] = order[tied][np.argsort(_sort_key(ties, kind.id_field), kind="stable")]
    return events.iloc[order].reset_index(drop=True)


def _sort_key(ties: pd.DataFrame, id_field: str) -> np.ndarray:
    """Each row's rank in ``ties`` sorted by (timestamp, id)."""
    ranked = ties.reset_index(drop=True).sort_values(["timestamp", id_field], kind="stable")
    rank = np.empty(len(ties), dtype=np.int64)
    rank[ranked.index.to_numpy()] = np.arange(len(ties))
    return rank


def _fold(kind: str, out: str, group: int, partition: int) -> None:
    """Pass 2: fold one group's views over one partition's entities; hand on the reads."""
    import pandas as pd

    spec = kind_spec(kind)
    base = Path(out)
    done = _fold_partition(spec, base, group, partition)
    if done is None:
        return
    events, folded = done
    reads: dict[str, Any] = {_ROW: events[_ROW].to_numpy()}
    for name, values in folded.reads.items():
        for i, value in enumerate(values):
            reads[f"{name}:{i}"] = value
    for derived, source in spec.derived:
        if source in folded.reads:
            reads[derived] = folded.columns[derived]
    frame = pd.DataFrame(reads)
    home = events[_HOME].to_numpy()
    for h in np.unique(home):
        _write(frame[home == h], base / "reads" / f"h{h:05d}" / f"g{group}-{partition:05d}.parquet")


def _fold_home(kind: str, out: str, partition: int) -> None:
    """Pass 3: fold the first group over one partition, join the other groups' reads of its
    events, and write their training rows."""
    import pandas as pd

    spec = kind_spec(kind)
    base = Path(out)
    done = _fold_partition(spec, base, 0, partition)
    if done is None:
        return
    events, folded = done
    reads_dir = base / "reads" / f"h{partition:05d}"
    parts = [pd.read_parquet(f) for f in sorted(reads_dir.iterdir())] if reads_dir.exists() else []
    rows = events[_ROW].to_numpy()
    by_row = np.argsort(rows)
    columns, reads = dict(folded.columns), dict(folded.reads)
    for view in spec.views:
        if view.name not in reads:
            names = [c for c in _names(parts) if _of(c, view.name)]
            reads[view.name] = list(_gather(parts, rows, by_row, names).T)
    for column, _ in spec.derived:
        if column not in columns:
            columns[column] = _gather(parts, rows, by_row, [column])[:, 0]
    frame = features_frame(spec, events, FoldedViews(columns, reads, {}))
    _write(frame, base / "features" / f"part-{partition:05d}.parquet")
    if reads_dir.exists():
        shutil.rmtree(reads_dir)


def _fold_partition(
    kind: EventKind, base: Path, group: int, partition: int
) -> tuple[pd.DataFrame, FoldedViews] | None:
    """Fold one group's views over one partition's rows (None: the partition is empty); write
    their state history and drop the partition's split files."""
    src = base / "split" / f"g{group}" / f"p{partition:05d}"
    if not src.exists():
        return None
    events = _gather_split(kind, src)
    _, views = view_groups(kind)[group]
    folded = fold_views(kind, events, views)
    for name, hist in folded.history.items():
        _write(hist, base / "history" / name / f"part-{group}-{partition:05d}.parquet")
    shutil.rmtree(src)
    return events, folded


def _names(parts: Iterable[pd.DataFrame]) -> list[str]:
    return list(dict.fromkeys(c for p in parts for c in p.columns if c != _ROW))


def _of(column: str, view: str) -> bool:
    return column.startswith(view + ":")


def _gather(
    parts: list[pd.DataFrame], rows: np.ndarray, by_row: np.ndarray, names: list[str]
) -> np.ndarray:
    """``names`` at each of the events ``rows`` (``by_row`` sorts them), from the read files."""
    names = sorted(names, key=lambda c: int(c.rsplit(":", 1)[1]) if ":" in c else 0)
    out = np.full((len(rows), len(names)), np.nan)
    seen = np.zeros(len(rows), bool)
    for part in parts:
        if not set(names) <= set(part.columns):
            continue
        pos = by_row[np.searchsorted(rows, part[_ROW].to_numpy(), sorter=by_row)]
        out[pos] = part[names].to_numpy(np.float64)
        seen[pos] = True
    if names and not seen.all():  # a lost partition must not pass as "no history"
        raise RuntimeError(f"{int((~seen).sum())} events have no {names[0]} read")
    return out


def _write(frame: pd.DataFrame, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    frame.to_parquet(path, index=False)


class _executor:
    """``run(fn, args)``: every task of one pass, here or on a Dask cluster; their results."""

    def __init__(self, dask: Any, timeout: float = 10.0) -> None:
        if not (isinstance(timeout, int | float) and 0 < timeout < float("inf")):
            raise ConfigError("dask_timeout", timeout, "a positive number of seconds")
        self._dask = dask
        self._timeout = float(timeout)
        self._owned: list[Any] = []

    def __enter__(self) -> Callable[[Callable[..., Any], list[tuple[Any, ...]]], list[Any]]:
        if self._dask is None:
            return lambda fn, args: [fn(*a) for a in args]
        client = self._client()
        return lambda fn, args: client.gather([client.submit(fn, *a, pure=False) for a in args])

    def _client(self) -> Any:
        try:
            from distributed import Client, LocalCluster
        except ImportError as exc:
            raise EventValidationError(
                "dask",
                self._dask,
                "the 'distributed' package (pip install fraudscore[dask])",
                where="fold",
            ) from exc
        if isinstance(self._dask, Client):
            return self._dask
        address = str(self._dask)
        if address.startswith("local:"):
            workers = address.removeprefix("local:")
            if not workers.isdigit() or int(workers) < 1:
                raise EventValidationError(
                    "dask",
                    address,
                    "local:N with N >= 1 workers, or a scheduler address",
                    where="fold",
                )
            cluster = LocalCluster(
                n_workers=int(workers), threads_per_worker=1, dashboard_address=None
            )
            self._owned.append(cluster)
            client = Client(cluster)
        else:
            try:
                client = Client(address, timeout=self._timeout)
            except (OSError, TimeoutError, ValueError) as exc:
                raise TrainingError(
                    f"option 'dask': cannot reach the Dask scheduler {address!r} within "
                    f"{self._timeout:g} s ({type(exc).__name__}: {exc}); expected a running "
                    "scheduler (`dask scheduler`), or local:N for N local workers"
                ) from exc
        self._owned.append(client)
        return client

    def __exit__(self, *exc: object) -> None:
        for obj in reversed(self._owned):
            obj.close()
