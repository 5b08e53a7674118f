"""Recording: what was served and what was later confirmed, folded into the entities' online
state, with the offline fold's update (``StateView.update``) in one atomic write per call."""

from __future__ import annotations

import time
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from fraudscore._errors import EventValidationError
from fraudscore._kinds import EventKind, served_values
from fraudscore._online import FeatureSource, Key
from fraudscore._serving.assembly import Assembly
from fraudscore._serving.log import DecisionLog
from fraudscore._serving.results import ScoreResult
from fraudscore._state import ABSENT, PY

__all__ = ["Recorder"]


class Recorder:
    """Records a kind's events and labels into a source (and, when given, a decision log)."""

    def __init__(self, assembly: Assembly, log: DecisionLog | None) -> None:
        self.assembly = assembly
        self.kind: EventKind = assembly.kind
        self.source: FeatureSource = assembly.source
        self.log = log
        self.views = self.kind.views
        self.keys = self.kind.keys
        names = [v.name for v in self.views]
        self.derived = [(column, names.index(view)) for column, view in self.kind.derived]
        self.label_views = [i for i, v in enumerate(self.views) if "label" in v.clocks]

    def record_many(
        self, events: Sequence[Any], decided: Sequence[ScoreResult | str | None] | None
    ) -> int:
        """Fold ``events``, in order, into their entities' state (``Scorer.record_many``); returns
        the ns spent in the store's write."""
        self.assembly.check_batch(events)
        served = self.served(events, decided)
        if not events:
            return 0
        names = self.kind.decisions
        cols = [
            self.kind.values(e) | served_values(d, names)
            for e, d in zip(events, served, strict=True)
        ]
        keys = [self.keys(e) for e in events]
        moved = [self.kind.clocks(c) for c in cols]
        derived = self.derived

        def step(i: int, states: dict[Key, list[float]]) -> dict[Key, list[float]]:
            """Fold view ``i``'s events whose key is in ``states``. A view feeding a derived
            column comes before its users, so their column is set from this view's state
            before each event (the same rule as the offline fold)."""
            view = self.views[i]
            feeds = [column for column, source in derived if source == i]
            changed: dict[Key, list[float]] = {}
            for c, ks, mv in zip(cols, keys, moved, strict=True):
                state = states.get(ks[i])
                if state is None:
                    continue
                t = c["t"]
                for column in feeds:
                    _, missing, stale = view.read(state, t, PY)
                    c[column] = 1.0 if missing or stale else 0.0
                for clock in view.clocks:
                    if clock in mv:
                        state = view.update(state, clock, t, c, PY)
                        states[ks[i]] = changed[ks[i]] = state
            return changed

        # An absent entity (an optional key left out) is never written.
        by_view = [[k[i] for k in keys if ABSENT not in k[i]] for i in range(len(self.views))]
        t0 = time.perf_counter_ns()
        self.source.modify(by_view, step)
        took = time.perf_counter_ns() - t0
        if self.log is not None:
            self.log.recorded(self.kind, events, served, took // 1000)
        return took

    def served(
        self, events: Sequence[Any], decided: Sequence[ScoreResult | str | None] | None
    ) -> list[str | None]:
        """The decision names of ``decided``, checked: one per event, each the kind's."""
        if decided is None:
            return [None] * len(events)
        given = list(decided) if isinstance(decided, list | tuple) else None
        if given is None or len(given) != len(events):
            shown = type(decided).__name__ if given is None else f"{len(given)} decisions"
            raise EventValidationError(
                "decided", shown, f"a list of decisions, one per event ({len(events)})"
            )
        names = self.kind.decisions
        out: list[str | None] = []
        for d in given:
            name = d.decision if isinstance(d, ScoreResult) else d
            if name is not None and not (isinstance(name, str) and name in names):
                raise EventValidationError("decided", d, f"one of {list(names)}, or None")
            out.append(name)
        return out

    def record_label(self, label: Any) -> None:
        """Fold a confirmed outcome (a chargeback, say: the kind's ``label_type``, for
        transactions a :class:`~fraudscore.Label`) into label-derived state, as of its
        ``label_time``.

        A genuine label (its ``label`` flag false) changes no state: label-derived features
        count frauds.
        """
        label_type = self.kind.label_type
        if label_type is None or not self.label_views:
            raise EventValidationError(
                "label", label, f"no label-derived state in {self.kind.name} models"
            )
        if type(label) is not label_type:
            raise EventValidationError("label", type(label).__name__, f"a {label_type.__name__}")
        if not getattr(label, self.kind.label):
            return
        stamp: datetime = getattr(label, "label_time")  # noqa: B009 (a kind's label type)
        t = stamp.timestamp()
        # The label type carries the keys of the views that read labels (EventKind checks it).
        keys: list[list[Key]] = [[] for _ in self.views]
        for i in self.label_views:
            key = tuple(getattr(label, k) for k in self.views[i].keys)
            if None not in key:  # a label without an optional key moves no state of its view
                keys[i].append(key)

        def step(i: int, states: dict[Key, list[float]]) -> dict[Key, list[float]]:
            return {k: self.views[i].update(s, "label", t, {}, PY) for k, s in states.items()}

        self.source.modify(keys, step)
