"""The scorer: event -> online state -> features -> ONNX graph -> reasons -> result.

Everything that can be decided once (views, key encoders, statements, the ONNX session, the
reason matrix) is decided in ``__init__``; ``score`` only does the per-event work.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from fraudscore._bundle import Bundle, Thresholds, load_bundle
from fraudscore._errors import EventValidationError
from fraudscore._events import Label
from fraudscore._kinds import EventKind, kind_spec
from fraudscore._model import OnnxModel
from fraudscore._online import FeatureSource, Key, open_source
from fraudscore._reasons import MAX_REASONS, Reason, ReasonCatalogue, TemplateValues
from fraudscore._state import PY

__all__ = ["ScoreResult", "Scorer"]

_READ_CHUNK = 1024


@dataclass(frozen=True, slots=True)
class ScoreResult:
    """The outcome of scoring one event."""

    event_id: str
    score: float
    decision: str
    reasons: tuple[Reason, ...]
    model_version: str
    #: Feature views with no state for this event's entity (never seen).
    missing_state: tuple[str, ...] = ()
    #: Feature views whose state was older than the view's ttl, and so read as no history.
    stale_state: tuple[str, ...] = ()

    @property
    def has_full_history(self) -> bool:
        return not (self.missing_state or self.stale_state)


class Scorer:
    """Scores and records events of one kind against a bundle and a Feast online store."""

    def __init__(
        self,
        bundle: Bundle,
        source: FeatureSource,
        *,
        max_reasons: int = 3,
        thresholds: Thresholds | None = None,
    ) -> None:
        self.kind: EventKind = kind_spec(bundle.kind, where=bundle.path)
        if tuple(source.views) != self.kind.views:
            raise EventValidationError(
                "source",
                [v.name for v in source.views],
                f"views {[v.name for v in self.kind.views]}",
                where="scorer",
            )
        self.bundle = bundle
        self.source = source
        self.max_reasons = _check_max_reasons(max_reasons)
        self.thresholds = thresholds or bundle.thresholds
        self.model = OnnxModel(bundle.model_bytes, len(self.kind.features))
        self.catalogue = ReasonCatalogue(
            bundle.manifest["catalogue"], self.kind.features, bundle.path
        )
        self.version = bundle.version
        self._views = self.kind.views
        self._names = [v.name for v in self._views]
        self._keys = self.kind.keys
        self._derived = [(column, self._names.index(view)) for column, view in self.kind.derived]
        self._label_views = [i for i, v in enumerate(self._views) if "label" in v.clocks]
        self._lock = threading.Lock()

    @classmethod
    def open(cls, bundle: str | Path, repo: str | Path, **options: Any) -> Scorer:
        """A scorer for the bundle directory ``bundle`` on the Feast repo ``repo``."""
        loaded = load_bundle(bundle)
        spec = kind_spec(loaded.kind, where=loaded.path)
        return cls(loaded, open_source(repo, spec.views), **options)

    # -- scoring ---------------------------------------------------------------------------

    def _check(self, event: object) -> None:
        if type(event) is not self.kind.event_type:
            raise EventValidationError(
                "event", type(event).__name__, f"a {self.kind.event_type.__name__}"
            )

    def _row(self, event: Any, states: Sequence[Sequence[float]]) -> tuple[list[float], Any, Any]:
        """(features, missing views, stale views) of one event, on floats (``PY``)."""
        cols = self.kind.values(event)
        t = cols["t"]
        reads = {}
        missing: tuple[str, ...] = ()
        stale: tuple[str, ...] = ()
        for view, state in zip(self._views, states, strict=True):
            values, is_missing, is_stale = view.read(state, t, PY)
            reads[view.name] = values
            if is_missing:
                missing += (view.name,)
            elif is_stale:
                stale += (view.name,)
        return self.kind.compute(cols, reads, PY), missing, stale

    def score(
        self,
        event: Any,
        *,
        thresholds: Thresholds | None = None,
        max_reasons: int | None = None,
    ) -> ScoreResult:
        """Score one event from its entities' online state. Never writes."""
        self._check(event)
        x, missing, stale = self._row(event, self.source.read_one(self._keys(event)))
        prob, contrib = self.model.run(np.array([x], dtype=np.float32))
        return self._result(
            event,
            x,
            float(prob[0]),
            (contrib[0] @ self.catalogue.matrix).tolist(),
            missing,
            stale,
            thresholds or self.thresholds,
            self.max_reasons if max_reasons is None else _check_max_reasons(max_reasons),
        )

    def score_many(
        self, events: Sequence[Any], *, thresholds: Thresholds | None = None
    ) -> list[ScoreResult]:
        """Score many events with one bulk state read and one ONNX batch.

        Each result is identical to ``score(event)``: events are scored against the stored state,
        not against each other, and each event's features are computed by the same code.
        """
        if not events:
            return []
        for event in events:
            self._check(event)
        # State is read in chunks, and few objects outlive a chunk (one matrix, flags that are
        # mostly the empty tuple): a batch that kept every key and row alive set off full
        # garbage collections that cost more than the scoring itself.
        x = np.empty((len(events), len(self.kind.features)))
        missing, stale = [], []
        for lo in range(0, len(events), _READ_CHUNK):
            chunk = events[lo : lo + _READ_CHUNK]
            keys = [self._keys(e) for e in chunk]
            one = len(chunk) == 1  # a batch of one reads like score(): one statement
            arrays = [] if one else self.source.read([list(k) for k in zip(*keys, strict=True)])
            for i, event in enumerate(chunk):
                states = self.source.read_one(keys[0]) if one else [a[i].tolist() for a in arrays]
                x[lo + i], m, s = self._row(event, states)
                missing.append(m)
                stale.append(s)
        prob, contrib = self.model.run(x.astype(np.float32))
        sums = contrib @ self.catalogue.matrix
        thr = thresholds or self.thresholds
        k = self.max_reasons
        return [
            self._result(
                e, x[i].tolist(), float(prob[i]), sums[i].tolist(), missing[i], stale[i], thr, k
            )
            for i, e in enumerate(events)
        ]

    def _result(
        self,
        event: Any,
        x: list[float],
        score: float,
        code_sums: list[float],
        missing: tuple[str, ...],
        stale: tuple[str, ...],
        thr: Thresholds,
        k: int,
    ) -> ScoreResult:
        labels = self.kind.decisions
        decision = (
            labels[2] if score >= thr.block else labels[1] if score >= thr.review else labels[0]
        )
        top = self.catalogue.top(code_sums, k)
        reasons: tuple[Reason, ...] = ()
        if top:
            named = dict(zip(self.kind.features, x, strict=True))
            values = TemplateValues(named, event, self.kind.display)
            reasons = tuple(
                Reason(self.catalogue.codes[i], self.catalogue.text(i, values), s) for i, s in top
            )
        return ScoreResult(
            event_id=getattr(event, self.kind.id_field),
            score=score,
            decision=decision,
            reasons=reasons,
            model_version=self.version,
            missing_state=missing,
            stale_state=stale,
        )

    # -- recording ---------------------------------------------------------------------------

    def record(self, event: Any) -> None:
        """Fold one event into its entities' online state (the offline pipeline's ``update``)."""
        self.record_many([event])

    def record_many(self, events: Sequence[Any]) -> None:
        """Fold events, in order, into online state with one bulk read and one atomic write.

        Every event is validated before anything is read or written.
        """
        for event in events:
            self._check(event)
        if not events:
            return
        with self._lock:
            keys = [self._keys(e) for e in events]
            latest = self._read_latest([[k[i] for k in keys] for i in range(len(self._views))])
            changed: list[dict[Key, list[float]]] = [{} for _ in self._views]
            for event, ks in zip(events, keys, strict=True):
                cols = self.kind.values(event)
                t = cols["t"]
                for column, i in self._derived:  # from state before this event
                    _, missing, stale = self._views[i].read(latest[i][ks[i]], t, PY)
                    cols[column] = 1.0 if missing or stale else 0.0
                moved = self.kind.clocks(cols)
                for i, view in enumerate(self._views):
                    for clock in view.clocks:
                        if clock in moved:
                            state = view.update(latest[i][ks[i]], clock, t, cols, PY)
                            latest[i][ks[i]] = changed[i][ks[i]] = state
            self._write(changed)

    def record_label(self, label: Label) -> None:
        """Fold a fraud label (e.g. a chargeback) into label-derived state, as of ``label_time``.

        A genuine label (``is_fraud=False``) changes no state: label-derived features count frauds.
        """
        if type(label) is not Label:
            raise EventValidationError("label", type(label).__name__, "a Label")
        if not self._label_views:
            raise EventValidationError(
                "label", label, f"no label-derived state in {self.kind.name} models"
            )
        if not label.is_fraud:
            return
        t = label.label_time.timestamp()
        keys = [tuple(getattr(label, k) for k in v.keys) for v in self._views]
        with self._lock:
            latest = self._read_latest(
                [[keys[i]] if i in self._label_views else [] for i in range(len(self._views))]
            )
            changed: list[dict[Key, list[float]]] = [{} for _ in self._views]
            for i in self._label_views:
                view = self._views[i]
                changed[i][keys[i]] = view.update(latest[i][keys[i]], "label", t, {}, PY)
            self._write(changed)

    def _read_latest(self, keys: list[list[Key]]) -> list[dict[Key, list[float]]]:
        """Stored state of each distinct key, per view, as lists of floats."""
        unique = [list(dict.fromkeys(ks)) for ks in keys]
        if all(len(u) == 1 for u in unique):  # one event: one statement
            one = self.source.read_one([u[0] for u in unique])
            return [{u[0]: s} for u, s in zip(unique, one, strict=True)]
        states = [a.tolist() for a in self.source.read(unique)]
        return [dict(zip(u, s, strict=True)) for u, s in zip(unique, states, strict=True)]

    def _write(self, latest: list[dict[Key, list[float]]]) -> None:
        self.source.write([list(d.items()) for d in latest])


def _check_max_reasons(k: int) -> int:
    if type(k) is not int or not 0 <= k <= MAX_REASONS:
        raise EventValidationError(
            "max_reasons", k, f"an int from 0 to {MAX_REASONS}", where="option"
        )
    return k
