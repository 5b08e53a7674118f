"""Event kinds: everything the generic scorer, trainer and bundle need to know about one kind.

A kind ties an event type to its state views, feature function, reason catalogue and decision
names. The scorer is written once against :class:`EventKind`; adding a kind adds a spec here.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from fraudscore import _transaction
from fraudscore._errors import BundleError
from fraudscore._events import Transaction
from fraudscore._state import StateView

__all__ = ["KINDS", "EventKind", "kind_spec"]


@dataclass(frozen=True)
class EventKind:
    name: str
    event_type: type
    views: tuple[StateView, ...]
    features: tuple[str, ...]
    feature_service: str
    #: One event's columns as floats.
    values: Callable[[Any], dict[str, float]]
    #: ``compute(columns, reads, xp)``: the features, in ``features`` order.
    compute: Callable[..., list[Any]]
    display: Mapping[str, Callable[[Any, Mapping[str, Any]], Any]]
    catalogue: dict[str, Any]
    decisions: tuple[str, str, str]  # (below review, review, block)
    label_keys: tuple[str, ...]  # fields of the label event that key the views


TRANSACTION = EventKind(
    name="transaction",
    event_type=Transaction,
    views=_transaction.VIEWS,
    features=_transaction.FEATURES,
    feature_service=_transaction.FEATURE_SERVICE,
    values=_transaction.event_values,
    compute=_transaction.features,
    display=_transaction.DISPLAY,
    catalogue=_transaction.CATALOGUE,
    decisions=("approve", "review", "decline"),
    label_keys=("customer_id", "terminal_id"),
)

KINDS: dict[str, EventKind] = {TRANSACTION.name: TRANSACTION}


def kind_spec(kind: object, *, where: object = "bundle") -> EventKind:
    spec = KINDS.get(kind) if isinstance(kind, str) else None
    if spec is None:
        raise BundleError(where, f"kind {kind!r} is not one of {sorted(KINDS)}")
    return spec
