"""The offline pipeline: fold a full event history into training rows and state history.

The stream holds every event at its ``timestamp`` and, for transactions, every fraud label at
its ``label_time``. It is ordered by time, labels before events at the same instant (a label
known *at* the event counts), then by the prepared frame's order. Each view folds the stream per
entity with ``StateView.update``; an event's features come from the state *before* it.

The fold is vectorised across entities: step ``r`` applies every entity's ``r``-th event at
once. It runs exactly the same ``update``/``read`` code as the online path.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import numpy as np

from fraudscore._kinds import EventKind, served_columns
from fraudscore._state import NP, PY, Array, StateView

if TYPE_CHECKING:
    import pandas as pd

__all__ = ["FoldedViews", "OfflineFeatures", "features_frame", "fold_history", "fold_views"]

#: Feast breaks ties between rows with the same event timestamp by ``created``; the entity's state
#: version, as microseconds after this instant, keeps the last update on top.
_CREATED_EPOCH = np.datetime64("2000-01-01T00:00:00", "us")


@dataclass(frozen=True)
class OfflineFeatures:
    """A history folded into features: what :func:`fraudscore.build_features` returns.

    ``frame`` has one training row per event, in stream order: the event's canonical columns,
    its label and every model feature. ``history`` is the state of each feature view after each
    event (the Feast offline sources). ``dropped_rows`` counts the invalid rows dropped, by
    reason (empty unless ``bad_rows="drop"``).
    """

    kind: str
    frame: pd.DataFrame
    history: dict[str, pd.DataFrame]
    dropped_rows: dict[str, int] = field(default_factory=dict)


def _entity_codes(df: pd.DataFrame, keys: tuple[str, ...]) -> np.ndarray:
    """Each row's entity number in the view; -1 where a key is missing (no such entity), as
    for every row of a frame without the key's column (an optional field nobody sent)."""
    if not set(keys) <= set(df.columns):
        return np.full(len(df), -1, dtype=np.int64)
    codes = df.groupby(list(keys), sort=False).ngroup()
    return codes.fillna(-1).to_numpy(dtype=np.int64)


def _fold_view(
    view: StateView,
    ent: np.ndarray,
    n_entities: int,
    clocks: dict[str, np.ndarray],
    t: Array,
    cols: dict[str, Array],
) -> tuple[Array, Array]:
    """States before and after each stream event of one view, in stream order.

    Most entities are folded together, rank by rank, on arrays (``NP``). An entity with very
    many events (a global total, a big country) would make that one event per rank, so it is
    folded alone, event by event, on floats (``PY``): the same ``update`` either way.
    """
    n = ent.shape[0]
    before = np.empty((n, view.width))
    after = np.empty((n, view.width))
    counts = np.bincount(ent, minlength=n_entities)
    heavy = counts > _HEAVY
    for e in np.flatnonzero(heavy):
        _fold_one(view, np.flatnonzero(ent == e), clocks, t, cols, before, after)
    light = np.flatnonzero(~heavy[ent]) if heavy.any() else np.arange(n)
    _fold_ranks(view, light, ent, n_entities, clocks, t, cols, before, after)
    return before, after


#: Events above which one entity is folded on its own (see ``_fold_view``).
_HEAVY = 1000


def _fold_one(
    view: StateView,
    positions: np.ndarray,
    clocks: dict[str, np.ndarray],
    t: Array,
    cols: dict[str, Array],
    before: Array,
    after: Array,
) -> None:
    """Fold one entity's events in order, on floats."""
    needed = {w for acc in view.accumulators if (w := acc.weight) != "one"}
    needed |= {x.column for x in view.latest}
    values = {k: cols[k][positions].tolist() for k in needed}
    moves = [(c, clocks[c][positions].tolist()) for c in view.clocks]
    times = t[positions].tolist()
    state = view.empty_row()
    rows_before, rows_after = [], []
    for j, now in enumerate(times):
        rows_before.append(state)
        event = {k: v[j] for k, v in values.items()}
        for clock, moved in moves:
            if moved[j]:
                state = view.update(state, clock, now, event, PY)
        rows_after.append(state)
    before[positions] = rows_before
    after[positions] = rows_after


def _fold_ranks(
    view: StateView,
    positions: np.ndarray,
    ent: np.ndarray,
    n_entities: int,
    clocks: dict[str, np.ndarray],
    t: Array,
    cols: dict[str, Array],
    before: Array,
    after: Array,
) -> None:
    """Fold many entities at once: step ``r`` applies every entity's ``r``-th event."""
    n = len(positions)
    if not n:
        return
    pe = ent[positions]
    order = np.lexsort((positions, pe))  # by entity, then stream position
    ent_sorted = pe[order]
    starts = np.flatnonzero(np.r_[True, ent_sorted[1:] != ent_sorted[:-1]])
    group_start = np.repeat(starts, np.diff(np.r_[starts, n]))
    rank = np.empty(n, dtype=np.int64)
    rank[order] = np.arange(n) - group_start
    by_rank = np.argsort(rank, kind="stable")
    bounds = np.searchsorted(rank[by_rank], np.arange(rank.max() + 2))

    table = view.empty(n_entities)
    for r in range(len(bounds) - 1):
        sel = positions[by_rank[bounds[r] : bounds[r + 1]]]
        ents = ent[sel]
        state = table[ents]
        before[sel] = state
        new = state.copy()
        for clock in view.clocks:  # an event may move several clocks, in the view's order
            idx = np.flatnonzero(clocks[clock][sel])
            if len(idx):
                sub = {k: v[sel[idx]] for k, v in cols.items()}
                updated = view.update(list(new[idx].T), clock, t[sel[idx]], sub, NP)
                new[idx] = np.column_stack(updated)
        table[ents] = new
        after[sel] = new


def _fold_present(
    view: StateView,
    codes: np.ndarray,
    present: np.ndarray,
    clocks: dict[str, np.ndarray],
    t: Array,
    cols: dict[str, Array],
) -> tuple[Array, Array]:
    """``_fold_view`` over the stream events that have the view's entity (``present``); the
    others get the empty state before and after."""
    n_entities = int(codes.max()) + 1 if len(codes) else 0
    if present.all():
        return _fold_view(view, codes, n_entities, {c: clocks[c] for c in view.clocks}, t, cols)
    at = np.flatnonzero(present)
    sub_before, sub_after = _fold_view(
        view,
        codes[at],
        n_entities,
        {c: clocks[c][at] for c in view.clocks},
        t[at],
        {k: v[at] for k, v in cols.items()},
    )
    before = view.empty(len(codes))
    after = view.empty(len(codes))
    before[at], after[at] = sub_before, sub_after
    return before, after


def _versions(codes: np.ndarray) -> np.ndarray:
    """Each row's count of earlier rows with the same code: an entity's state version."""
    order = np.argsort(codes, kind="stable")
    sorted_codes = codes[order]
    starts = np.flatnonzero(np.r_[True, sorted_codes[1:] != sorted_codes[:-1]])
    version = np.empty(len(codes), dtype=np.int64)
    version[order] = np.arange(len(codes)) - np.repeat(starts, np.diff(np.r_[starts, len(codes)]))
    return version


@dataclass(frozen=True)
class FoldedViews:
    """Some views of a kind folded over a prepared frame (see :func:`fold_views`)."""

    #: The event columns, per event in frame order (``t`` and the derived columns included).
    columns: dict[str, Array]
    #: Per view: what its ``read`` gives at each event (one array per value), in frame order.
    reads: dict[str, list[Array]]
    #: Per view: the state after each event or label that moved it (the Feast source rows).
    history: dict[str, pd.DataFrame]


def fold_views(
    kind: EventKind, events: pd.DataFrame, views: tuple[StateView, ...] | None = None
) -> FoldedViews:
    """Fold ``views`` (all of the kind's by default) over a prepared (validated, sorted) frame.

    Each view depends only on its own entities' events, and on derived columns of views before
    it. So folding a frame that holds every event of some entities gives those entities
    exactly what folding the whole history gives them: the partitioned fold rests on this.
    """
    import pandas as pd

    views = kind.views if views is None else views
    n = len(events)
    label_rows, label_ns = kind.label_events(events)
    # Stream: events, then labels; ordered by (time, labels first, row).
    row = np.r_[np.arange(n), label_rows]
    is_label = np.r_[np.zeros(n, bool), np.ones(len(label_rows), bool)]
    ts_ns = np.r_[events["timestamp"].array.asi8, label_ns]
    order = np.lexsort((row, ~is_label, ts_ns))
    row, is_label, ts_ns = row[order], is_label[order], ts_ns[order]
    t = ts_ns / 1e9
    served = events["decision"].to_numpy() if "decision" in events.columns else None
    columns = kind.frame_columns(events) | served_columns(served, n, kind.decisions)
    cols = {k: v[row] for k, v in columns.items()}
    cols["t"] = t
    clocks = kind.clock_masks(cols, is_label)
    derived = dict(kind.derived)

    ev_pos = np.flatnonzero(~is_label)  # stream positions of events (in row order)
    reads: dict[str, list[Array]] = {}
    history: dict[str, pd.DataFrame] = {}
    for view in views:
        # Every stream event is folded (its state before it is what its features read); only
        # those that move one of the view's clocks change the state and enter its history.
        moved = np.zeros(len(row), bool)
        for clock in view.clocks:
            moved |= clocks[clock]
        codes = _entity_codes(events, view.keys)[row]
        # An event without the view's entity (a missing key: no device sent) reads no history
        # and moves no state; the others fold as usual.
        present = codes >= 0
        moved &= present
        before, after = _fold_present(view, codes, present, clocks, t, cols)
        at_events = view.read(list(before[ev_pos].T), t[ev_pos], NP)
        reads[view.name] = at_events[0]
        for column, source in derived.items():
            if source == view.name:  # 1.0 where this view had no (fresh) state before the event
                cols[column] = np.zeros(len(row))
                cols[column][ev_pos] = (at_events[1] | at_events[2]).astype(np.float64)
        hist = pd.DataFrame(after[moved], columns=list(view.fields))
        for key in view.keys:
            values = events[key].to_numpy() if key in events.columns else np.full(n, None)
            hist.insert(0, key, values[row[moved]])
        hist["event_timestamp"] = pd.to_datetime(ts_ns[moved], utc=True)
        # The entity's state version: the same however the history is partitioned.
        version = _versions(codes[moved])
        hist["created"] = pd.to_datetime(
            _CREATED_EPOCH + version.astype("timedelta64[us]"), utc=True
        )
        history[view.name] = hist
    return FoldedViews({k: v[ev_pos] for k, v in cols.items()}, reads, history)


def features_frame(kind: EventKind, events: pd.DataFrame, folded: FoldedViews) -> pd.DataFrame:
    """The training rows: the events' columns followed by every model feature."""
    import pandas as pd

    feats = pd.DataFrame(
        np.column_stack(kind.compute(folded.columns, folded.reads, NP)),
        columns=list(kind.features),
    )
    frame = events.reset_index(drop=True)
    return pd.concat([frame.drop(columns=[c for c in feats if c in frame]), feats], axis=1)


def fold_history(kind: EventKind, events: pd.DataFrame) -> OfflineFeatures:
    """Training rows and state history of ``kind`` from a prepared (validated, sorted) frame."""
    folded = fold_views(kind, events)
    dropped = dict(events.attrs.get("dropped_rows", {}))
    return OfflineFeatures(
        kind=kind.name,
        frame=features_frame(kind, events, folded),
        history=folded.history,
        dropped_rows=dropped,
    )
