"""The offline pipeline: fold a full event history into training rows and state history.

The stream holds every transaction at its ``timestamp`` and every fraud label at its
``label_time``. It is ordered by time, labels before transactions at the same instant (a label
known *at* the event counts), then by (timestamp, transaction_id). Each view folds the stream
per entity with ``StateView.update``; a transaction's features come from the state *before* it.

The fold is vectorised across entities: step ``r`` applies every entity's ``r``-th event at
once. It runs exactly the same ``update``/``read`` code as the online path.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from fraudscore import _transaction as tx_features
from fraudscore._state import NP, Array, StateView

if TYPE_CHECKING:
    import pandas as pd

__all__ = ["OfflineFeatures", "build_transaction_features"]

#: Feast breaks ties between rows with the same event timestamp by ``created``; the fold's
#: sequence number, as microseconds after this instant, keeps the last update on top.
_CREATED_EPOCH = np.datetime64("2000-01-01T00:00:00", "us")


@dataclass(frozen=True)
class OfflineFeatures:
    """Training rows (one per transaction, stream order) and per-view state history."""

    frame: pd.DataFrame
    history: dict[str, pd.DataFrame]


def _entity_codes(df: pd.DataFrame, keys: tuple[str, ...]) -> np.ndarray:
    return df.groupby(list(keys), sort=False).ngroup().to_numpy()


def _fold_view(
    view: StateView,
    ent: np.ndarray,
    n_entities: int,
    is_label: np.ndarray,
    t: Array,
    cols: dict[str, Array],
) -> tuple[Array, Array]:
    """States before and after each stream event of one view, in stream order."""
    n = ent.shape[0]
    order = np.lexsort((np.arange(n), ent))  # by entity, then stream position
    ent_sorted = ent[order]
    starts = np.flatnonzero(np.r_[True, ent_sorted[1:] != ent_sorted[:-1]])
    group_start = np.repeat(starts, np.diff(np.r_[starts, n]))
    rank = np.empty(n, dtype=np.int64)
    rank[order] = np.arange(n) - group_start
    by_rank = np.argsort(rank, kind="stable")
    bounds = np.searchsorted(rank[by_rank], np.arange(rank.max() + 2 if n else 1))

    table = view.empty(n_entities)
    before = np.empty((n, view.width))
    after = np.empty((n, view.width))
    for r in range(len(bounds) - 1):
        sel = by_rank[bounds[r] : bounds[r + 1]]
        ents = ent[sel]
        state = table[ents]
        before[sel] = state
        new = state.copy()
        labels = is_label[sel]
        for clock, mask in (("tx", ~labels), ("label", labels)):
            if mask.any():
                idx = np.flatnonzero(mask)
                sub = {k: v[sel[idx]] for k, v in cols.items()}
                updated = view.update(list(state[idx].T), clock, t[sel[idx]], sub, NP)
                new[idx] = np.column_stack(updated)
        table[ents] = new
        after[sel] = new
    return before, after


def build_transaction_features(tx: pd.DataFrame) -> OfflineFeatures:
    """Training rows and state history from a frame made by ``prepare_transactions``."""
    import pandas as pd

    n = len(tx)
    fraud_rows = np.flatnonzero(tx["is_fraud"].to_numpy() == 1)
    # Stream: transactions, then fraud labels; ordered by (time, labels first, row).
    row = np.r_[np.arange(n), fraud_rows]
    is_label = np.r_[np.zeros(n, bool), np.ones(len(fraud_rows), bool)]
    ts_ns = np.r_[
        tx["timestamp"].array.asi8,
        tx["label_time"].array.asi8[fraud_rows],
    ]
    order = np.lexsort((row, ~is_label, ts_ns))
    row, is_label, ts_ns = row[order], is_label[order], ts_ns[order]
    t = ts_ns / 1e9
    cols_all = _columns(tx)
    cols = {k: v[row] for k, v in cols_all.items()}
    cols["t"] = t

    tx_pos = np.flatnonzero(~is_label)  # stream positions of transactions (in row order)
    reads: dict[str, list[Array]] = {}
    history: dict[str, pd.DataFrame] = {}
    for view in tx_features.VIEWS:
        keep = np.ones(len(row), bool) if "label" in view.clocks else ~is_label
        codes = _entity_codes(tx, view.keys)[row[keep]]
        sub_cols = {k: v[keep] for k, v in cols.items()}
        before, after = _fold_view(
            view,
            codes,
            int(codes.max()) + 1 if len(codes) else 0,
            is_label[keep],
            t[keep],
            sub_cols,
        )
        # Map transaction stream positions into this view's kept positions.
        kept_index = np.cumsum(keep) - 1
        reads[view.name] = view.read(list(before[kept_index[tx_pos]].T), t[tx_pos], NP)[0]
        seq = np.flatnonzero(keep)
        hist = pd.DataFrame(after, columns=list(view.fields))
        for key in view.keys:
            hist.insert(0, key, tx[key].to_numpy()[row[keep]])
        hist["event_timestamp"] = pd.to_datetime(ts_ns[keep], utc=True)
        hist["created"] = pd.to_datetime(_CREATED_EPOCH + seq.astype("timedelta64[us]"), utc=True)
        history[view.name] = hist

    tx_cols = {k: v[tx_pos] for k, v in cols.items()}
    x = np.column_stack(tx_features.features(tx_cols, reads, NP))
    frame = tx.iloc[row[tx_pos]].reset_index(drop=True)
    feats = pd.DataFrame(x, columns=list(tx_features.FEATURES))
    frame = pd.concat([frame, feats.drop(columns=["amount"])], axis=1)
    return OfflineFeatures(frame=frame, history=history)


def _columns(tx: pd.DataFrame) -> dict[str, Array]:
    """The numeric event columns of a prepared frame (``t`` is set from the stream)."""
    channels = tx["channel"].tolist() if "channel" in tx.columns else [None] * len(tx)
    return tx_features.columns(np.zeros(len(tx)), tx["amount"].to_numpy(np.float64), channels)
