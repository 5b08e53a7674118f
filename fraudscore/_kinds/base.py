"""What a kind is: :class:`EventKind`, the declaration that the generic scorer, trainer, bundle
and evaluation read, and its evaluation :class:`Protocol`.

Each kind declares itself in its own folder (``_kinds/transaction``, ``_kinds/login``) as
``KIND``; ``_kinds`` registers them. Nothing here names a kind.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from fraudscore._state import StateView

if TYPE_CHECKING:
    import pandas as pd

__all__ = ["WARM_UP", "EventKind", "Protocol", "present", "served_columns", "served_values"]

#: The id and entity of the event a scorer scores at open to warm up (no store holds it).
WARM_UP = "fraudscore-warm-up"


@dataclass(frozen=True)
class Protocol:
    """How a kind is evaluated offline: by :func:`fraudscore.evaluate`, model selection, the
    report and the backtest. Every function takes a folded frame (``OfflineFeatures.frame``)."""

    #: What a positive is called ("frauds"), and the share of scored events the model flags
    #: ("alert rate").
    positives: str
    flag_rate: str
    #: What the scored events are called ("transactions", "successful logins").
    scored_events: str
    #: ``test_rows(frame, start, end, train_start, train_end, known_compromised)``: the rows a
    #: test window scores; a :class:`~fraudscore.TrainingError` when they hold one class.
    test_rows: Callable[..., pd.DataFrame]
    #: ``baselines(frame, test, train_start, train_end, config, features)``: each baseline's
    #: scores of the test rows, by name (``baseline_...``); ``features`` are the model's.
    baselines: Callable[..., dict[str, np.ndarray]]
    #: ``metrics(test, scores)``: one model's summary metrics.
    metrics: Callable[[pd.DataFrame, np.ndarray], dict[str, float]]
    #: ``summary(test, known_compromised)``: the counts and settings the summary reports.
    summary: Callable[[pd.DataFrame, str], dict[str, Any]]
    #: Whether the report plots the recall against the flag rate (a budget the team sets).
    rate_curve: bool = False


@dataclass(frozen=True)
class EventKind:
    name: str
    event_type: type
    #: The event attribute that identifies it in results.
    id_field: str
    #: What an analyst reads beside each scored event in per-event scores: the entity ids (and,
    #: for transactions, the amount).
    context_columns: tuple[str, ...]
    #: Views in fold order; a view that feeds a ``derived`` column comes before its users.
    views: tuple[StateView, ...]
    #: (event column, view name): 1.0 where that view had no fresh state before the event.
    derived: tuple[tuple[str, str], ...]
    features: tuple[str, ...]
    feature_service: str
    #: Online: one event's columns as floats, its view keys, and the clocks it moves.
    values: Callable[[Any], dict[str, float]]
    keys: Callable[[Any], list[tuple[str, ...]]]
    clocks: Callable[[Mapping[str, float]], tuple[str, ...]]
    #: ``compute(columns, reads, xp)``: the features, in ``features`` order.
    compute: Callable[..., list[Any]]
    display: Mapping[str, Callable[[Any, Mapping[str, Any]], Any]]
    catalogue: dict[str, Any]
    decisions: tuple[str, str, str]  # (below review, review, block)
    #: Default share of scored events at or above the review and the block thresholds.
    alert_rates: tuple[float, float]
    #: Offline: validate a frame, its columns as arrays, its label events, its clock masks.
    prepare: Callable[..., pd.DataFrame]
    frame_columns: Callable[[pd.DataFrame], dict[str, Any]]
    label_events: Callable[[pd.DataFrame], tuple[np.ndarray, np.ndarray]]
    clock_masks: Callable[..., dict[str, np.ndarray]]
    #: Training: the label column, and which rows are scored (and so trained and evaluated on).
    label: str
    scored: Callable[[pd.DataFrame], np.ndarray]
    #: A valid event of entities no store holds: the scorer scores it at open to warm up.
    sample: Callable[[], Any]
    #: Offline evaluation: test rows, baselines, metrics (:class:`Protocol`).
    protocol: Protocol
    #: The event of one row of a canonical frame (``DataFrame.itertuples``).
    event_of: Callable[[Any], Any]
    #: The Feast entity of each join key of the views: key -> (entity name, description).
    entities: Mapping[str, tuple[str, str]]


def present(row: Any, names: Sequence[str]) -> dict[str, Any]:
    """The optional fields ``names`` that ``row`` holds a value of (not missing, not NaN)."""
    out = {}
    for name in names:
        value = getattr(row, name, None)
        if value is not None and value == value:
            out[name] = value
    return out


def served_columns(
    decisions: Sequence[str | None] | np.ndarray | None, n: int, names: Sequence[str]
) -> dict[str, np.ndarray]:
    """The columns that the served decisions give a kind's state, one element per event:
    ``flagged`` (1.0 where the defence reviewed or blocked the event) and ``allowed`` (1.0 where
    it let it through: the first decision). An unknown decision (``None``: no ``decision``
    column, or a history from before the defence) counts as allowed and not flagged."""
    if decisions is None:
        return {"flagged": np.zeros(n), "allowed": np.ones(n)}
    served = np.asarray(decisions, dtype=object)
    flagged = np.isin(served, list(names[1:])).astype(np.float64)
    return {"flagged": flagged, "allowed": 1.0 - flagged}


def served_values(decision: str | None, names: Sequence[str]) -> dict[str, float]:
    """:func:`served_columns` of one event, as floats (the online path)."""
    flagged = 0.0 if decision is None or decision == names[0] else 1.0
    return {"flagged": flagged, "allowed": 1.0 - flagged}
