"""What a kind is: :class:`EventKind`, the declaration that the generic scorer, trainer, bundle
and evaluation read, and its evaluation :class:`Protocol`.

Each kind declares itself in its own folder (``_kinds/transaction``, ``_kinds/login``) as
``KIND``; ``_kinds`` registers them. Nothing here names a kind.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Generic, TypeVar
from typing import Protocol as _Protocol

import numpy as np

from fraudscore._errors import ConfigError
from fraudscore._kinds.protocols import Protocol, basic_protocol
from fraudscore._state import Array, StateView

if TYPE_CHECKING:
    import pandas as pd

    from fraudscore._frames import BadRows

#: A kind's event type (``Transaction``, ``Login``, ...).
E = TypeVar("E")


class Prepare(_Protocol):
    """A kind's frame validation: a validated, sorted copy of a canonical frame (bad rows listed
    in a :class:`~fraudscore.BadRowsError`, or dropped and counted under ``bad_rows="drop"``);
    ``labelled`` frames carry the kind's label column."""

    def __call__(
        self, df: pd.DataFrame, *, labelled: bool = ..., bad_rows: BadRows = ...
    ) -> pd.DataFrame: ...


#: ``compute(columns, reads, xp)``: a kind's features, in order, from the event's columns and
#: each view's read of the state from before it; arrays offline (``xp = NP``), floats online.
Compute = Callable[[Mapping[str, Any], Mapping[str, Sequence[Any]], Any], list[Any]]

__all__ = [
    "WARM_UP",
    "Compute",
    "E",
    "EventKind",
    "Prepare",
    "Protocol",
    "Simulator",
    "present",
    "served_columns",
    "served_values",
]

#: The id and entity of the event a scorer scores at open to warm up (no store holds it).
WARM_UP = "fraudscore-warm-up"


@dataclass(frozen=True)
class Simulator:
    """A simulator of a kind's genuine and fraudulent events, as ``fraudscore simulate`` and
    ``fraudscore demo`` run it: ``simulate(config)`` is a labelled canonical frame."""

    simulate: Callable[[Any], pd.DataFrame]
    #: The default configuration: a dataclass with ``seed``, ``start`` (a day, ISO text),
    #: ``n_days`` and the ``size`` field; the CLI's options replace its fields.
    config: Any
    #: The configuration field ``--size`` sets, and what it counts ("cards", "users").
    size: str
    size_of: str
    #: The column naming each event's pattern ("none" for a genuine event), for the demo.
    pattern: str = "fraud_pattern"
    #: Days of the demo's training window.
    train_days: int = 35


@dataclass(frozen=True)
class EventKind(Generic[E]):
    """A kind of event, declared once in its own folder: what the generic validation, fold,
    scorer, trainer, bundle, evaluation, CLI and service read. ``E`` is its event type."""

    name: str
    event_type: type[E]
    #: The event attribute that identifies it in results.
    id_field: str
    #: Views in fold order; a view that feeds a ``derived`` column comes before its users.
    views: tuple[StateView, ...]
    features: tuple[str, ...]
    feature_service: str
    #: Online: one event's columns as floats, its view keys, and the clocks it moves.
    values: Callable[[E], dict[str, float]]
    keys: Callable[[E], list[tuple[str, ...]]]
    clocks: Callable[[Mapping[str, float]], tuple[str, ...]]
    #: The features, in ``features`` order (:data:`Compute`).
    compute: Compute
    #: Reason codes: ``{"version": ..., "codes": {code: {"features", "template", "fallback"}}}``.
    catalogue: dict[str, Any]
    decisions: tuple[str, str, str]  # (below review, review, block)
    #: Offline: validate a frame, its columns as arrays, its clock masks.
    prepare: Prepare
    frame_columns: Callable[[pd.DataFrame], dict[str, Array]]
    clock_masks: Callable[[Mapping[str, Array], np.ndarray], dict[str, np.ndarray]]
    #: Training: the label column.
    label: str
    #: A valid event of entities no store holds: the scorer scores it at open to warm up.
    sample: Callable[[], E]
    #: The event of one row of a canonical frame (``DataFrame.itertuples``).
    event_of: Callable[[Any], E]
    #: The Feast entity of each join key of the views: key -> (entity name, description).
    entities: Mapping[str, tuple[str, str]]
    #: What an analyst reads beside each scored event in per-event scores: the entity ids (and,
    #: for transactions, the amount).
    context_columns: tuple[str, ...] = ()
    #: (event column, view name): 1.0 where that view had no fresh state before the event.
    derived: tuple[tuple[str, str], ...] = ()
    #: Extra values for reason templates: name -> f(event, feature values).
    display: Mapping[str, Callable[[E, Mapping[str, Any]], Any]] = field(default_factory=dict)
    #: Default share of scored events at or above the review and the block thresholds.
    alert_rates: tuple[float, float] = (0.03, 0.01)
    #: (rows, label_time in ns) of the label events of a prepared frame: each becomes a stream
    #: event that moves the ``label`` clock (default: none).
    label_events: Callable[[pd.DataFrame], tuple[np.ndarray, np.ndarray]] = field(
        default=lambda frame: (np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.int64))
    )
    #: Which rows are scored (and so trained and evaluated on); default: every row.
    scored: Callable[[pd.DataFrame], np.ndarray] = field(
        default=lambda frame: np.ones(len(frame), dtype=bool)
    )
    #: Offline evaluation: test rows, baselines, metrics (:class:`Protocol`); None gives
    #: :func:`fraudscore.basic_protocol` of the label.
    protocol: Protocol = None  # type: ignore[assignment]
    #: The confirmed outcome ``Scorer.record_label`` folds into label-derived state (views with
    #: a ``label`` clock): a dataclass with each such view's keys, ``label_time`` and the
    #: ``label`` flag; None when no view reads labels.
    label_type: type | None = None
    #: The kind's simulators by name, the default first (empty: bring your own data).
    simulators: Mapping[str, Simulator] = field(default_factory=dict)
    #: The module holding the red team's ``THEATRE`` for this kind (None: no built-in attackers).
    attacks: str | None = None
    #: The starter rules file shipped with the kind (``fraudscore.starter_rules(kind)``).
    starter_rules: Path | None = None
    #: One line on an event for a person (the CLI's scored events); None: its context columns.
    describe: Callable[[E], str] | None = None

    def describe_event(self, event: E) -> str:
        """``describe(event)``, or the event's context columns and their values."""
        if self.describe is not None:
            return self.describe(event)
        return " ".join(f"{c} {getattr(event, c)}" for c in self.context_columns)

    def __post_init__(self) -> None:
        if self.protocol is None:
            object.__setattr__(self, "protocol", basic_protocol(self.label))
        label_views = [v for v in self.views if "label" in v.clocks]
        if (self.label_type is None) != (not label_views):
            raise ConfigError(
                "label_type",
                self.label_type,
                "a label type exactly when a view moves on the label clock "
                f"({[v.name for v in label_views]})",
            )
        if self.label_type is not None:
            if not (
                isinstance(self.label_type, type) and dataclasses.is_dataclass(self.label_type)
            ):
                raise ConfigError("label_type", self.label_type, "a dataclass type")
            fields = {f.name for f in dataclasses.fields(self.label_type)}
            needed = {"label_time", self.label, *(k for v in label_views for k in v.keys)}
            if needed - fields:
                raise ConfigError(
                    "label_type",
                    self.label_type.__name__,
                    f"a dataclass with the fields {sorted(needed)} "
                    f"(it lacks {sorted(needed - fields)})",
                )


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
