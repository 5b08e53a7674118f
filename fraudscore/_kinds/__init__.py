"""Event kinds: everything the generic scorer, trainer and bundle need to know about one kind.

A kind ties an event type to its state views, feature function, reason catalogue and decision
names. The scorer is written once against :class:`EventKind`; adding a kind adds a spec here.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

import numpy as np

from fraudscore._errors import BundleError
from fraudscore._events import LOGIN_DECISIONS, TRANSACTION_DECISIONS, Login, Transaction
from fraudscore._frames import prepare_logins, prepare_transactions
from fraudscore._kinds import login as _login
from fraudscore._kinds import transaction as _transaction
from fraudscore._state import StateView

if TYPE_CHECKING:
    import pandas as pd

__all__ = [
    "KINDS",
    "LOGIN",
    "TRANSACTION",
    "EventKind",
    "kind_spec",
    "served_columns",
    "served_values",
]


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


_WARM = "fraudscore-warm-up"

TRANSACTION = EventKind(
    name="transaction",
    event_type=Transaction,
    id_field="transaction_id",
    context_columns=("customer_id", "terminal_id", "amount"),
    views=_transaction.VIEWS,
    derived=(),
    features=_transaction.FEATURES,
    feature_service=_transaction.FEATURE_SERVICE,
    values=_transaction.event_values,
    keys=_transaction.keys,
    clocks=_transaction.clocks,
    compute=_transaction.features,
    display=_transaction.DISPLAY,
    catalogue=_transaction.CATALOGUE,
    decisions=TRANSACTION_DECISIONS,
    alert_rates=(0.03, 0.01),
    prepare=prepare_transactions,
    frame_columns=_transaction.frame_columns,
    label_events=_transaction.label_events,
    clock_masks=_transaction.clock_masks,
    label="is_fraud",
    scored=lambda frame: np.ones(len(frame), dtype=bool),
    sample=lambda: Transaction(_WARM, datetime.now(UTC), _WARM, _WARM, 1.0, channel="online"),
)

LOGIN = EventKind(
    name="login",
    event_type=Login,
    id_field="login_id",
    context_columns=("user_id", "ip", "country", "asn", "device_id"),
    views=_login.VIEWS,
    derived=_login.DERIVED,
    features=_login.FEATURES,
    feature_service=_login.FEATURE_SERVICE,
    values=_login.event_values,
    keys=_login.keys,
    clocks=_login.clocks,
    compute=_login.features,
    display=_login.DISPLAY,
    catalogue=_login.CATALOGUE,
    decisions=LOGIN_DECISIONS,
    alert_rates=(0.05, 0.005),
    prepare=prepare_logins,
    frame_columns=_login.frame_columns,
    label_events=_login.label_events,
    clock_masks=_login.clock_masks,
    label="is_ato",
    # Auth services call us after the password check: successful logins are what we score.
    scored=lambda frame: frame["success"].to_numpy(dtype=bool),
    sample=lambda: Login(
        _WARM, datetime.now(UTC), _WARM, "192.0.2.1", "ZZ", 0, _WARM, True, device_id=_WARM
    ),
)

KINDS: dict[str, EventKind] = {k.name: k for k in (TRANSACTION, LOGIN)}


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


def kind_spec(kind: object, *, where: object = "bundle") -> EventKind:
    spec = KINDS.get(kind) if isinstance(kind, str) else None
    if spec is None:
        raise BundleError(where, f"kind {kind!r} is not one of {sorted(KINDS)}")
    return spec
