"""The scorer: event -> online state -> features -> ONNX graph -> reasons -> result.

Everything that can be decided once (views, key encoders, statements, the ONNX session, the
reason matrix) is decided in ``__init__``; ``score`` only does the per-event work.
"""

from __future__ import annotations

import gc
import threading
import time
from collections import ChainMap, deque
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from fraudscore._errors import (
    BundleError,
    ConfigError,
    EventValidationError,
    FeatureStoreError,
    RulesError,
)
from fraudscore._kinds import EventKind, kind_spec, served_values
from fraudscore._model.bundle import Bundle, Thresholds, load_bundle, signing_key
from fraudscore._model.runtime import OnnxModel, scores_of
from fraudscore._online import FeatureSource, Key, open_source
from fraudscore._serving.drift import DriftReport, DriftTracker
from fraudscore._serving.lists import Matcher
from fraudscore._serving.log import DecisionLog
from fraudscore._serving.reasons import MAX_REASONS, Reason, ReasonCatalogue, TemplateValues
from fraudscore._serving.results import ScoreResult, ShadowRecord, ShadowResult
from fraudscore._serving.rules import RuleSet, Verdict, load_rules
from fraudscore._state import NP, PY

if TYPE_CHECKING:
    import pandas as pd

    from fraudscore._serving.metrics import ScorerMetrics, _Bound

__all__ = ["STORE_UNAVAILABLE", "ScoreResult", "Scorer", "ShadowRecord", "ShadowResult"]

_READ_CHUNK = 8192
#: States a backfill keeps per view across chunks (``frame_codes(cache=...)``).
_CACHE_ROWS = 1_000_000
#: (missing views, stale views, late) of one scored event.
_Flags = tuple[tuple[str, ...], tuple[str, ...], bool]
#: Batches of at least this many events compute features on arrays (see ``score_many``).
_ARRAY_BATCH = 32
_POLICIES = ("fail", "degrade")
#: Scores at open: enough for Python 3.11 to specialise the hot path's bytecode.
_WARM_UP = 20

#: The reason code of a result scored without history because the online store failed.
STORE_UNAVAILABLE = "STORE_UNAVAILABLE"


@dataclass(frozen=True, slots=True)
class _Active:
    """Everything a call reads that can change while the scorer serves: the model, its
    thresholds, the challenger and the rules, swapped as one object. A call reads it once
    (and the rules' lists once), so it is decided by one snapshot whatever changes meanwhile."""

    bundle: Bundle
    model: OnnxModel
    catalogue: ReasonCatalogue
    thresholds: Thresholds
    version: str
    #: A challenger scored in shadow beside this model, or None.
    shadow: _Active | None = None
    #: Live feature and score counts against this model's reference, or None (not tracked).
    drift: DriftTracker | None = None
    #: The rules over the model, or None.
    rules: RuleSet | None = None

    def lists(self) -> Mapping[str, Matcher] | None:
        """The rules' lists now: read once per call, passed to every verdict of the call."""
        return None if self.rules is None else self.rules.lists


class Scorer:
    """Scores and records events of one kind against a bundle and a Feast online store."""

    def __init__(
        self,
        bundle: Bundle,
        source: FeatureSource,
        *,
        max_reasons: int = 3,
        thresholds: Thresholds | None = None,
        on_store_error: str = "fail",
        shadow_log_size: int = 100_000,
        track_drift: bool = False,
        rules: RuleSet | str | Path | None = None,
        log: DecisionLog | None = None,
        metrics: ScorerMetrics | None = None,
    ) -> None:
        """``on_store_error`` chooses what ``score`` does when the online store fails (down,
        past its timeout, locked): ``"fail"`` raises :class:`FeatureStoreError` (fail closed);
        ``"degrade"`` scores on no-history state and marks the result ``degraded``. Recording
        always raises: a lost state update is never silent. ``rules`` (a :class:`RuleSet` or a
        rules file) run over every scored event, after the model (:meth:`set_rules`). ``log``
        (a :class:`DecisionLog`) receives every event scored and recorded, off the hot path.
        ``metrics`` (a :class:`ScorerMetrics`) counts and times every call in Prometheus metrics.
        """
        if on_store_error not in _POLICIES:
            raise ConfigError("on_store_error", on_store_error, f"one of {list(_POLICIES)}")
        self.degrade = on_store_error == "degrade"
        self.kind: EventKind = kind_spec(bundle.kind, where=bundle.path)
        if tuple(source.views) != self.kind.views:
            raise ConfigError(
                "source",
                [v.name for v in source.views],
                f"a source of the views {[v.name for v in self.kind.views]}",
            )
        self.source = source
        self.max_reasons = _check_max_reasons(max_reasons)
        self._track_drift = bool(track_drift)
        #: Held by the writers of ``_active`` (swap, rules, challenger), never by a call.
        self._writing = threading.Lock()
        self._active = self._model_of(bundle, thresholds)
        self.set_rules(rules)
        if type(shadow_log_size) is not int or shadow_log_size < 0:
            raise ConfigError("shadow_log_size", shadow_log_size, "a non-negative int")
        self._shadow_log: deque[ShadowRecord] = deque(maxlen=shadow_log_size)
        if log is not None and not isinstance(log, DecisionLog):
            raise ConfigError("log", log, "a DecisionLog, or None")
        self._log = log
        if metrics is not None:  # prometheus_client is imported only by a scorer that uses it
            from fraudscore._serving.metrics import ScorerMetrics

            if not isinstance(metrics, ScorerMetrics):
                raise ConfigError("metrics", metrics, "a ScorerMetrics, or None")
        self._metrics_of = metrics
        #: The per-kind recorder the calls use, bound once (its labelled series made now).
        self._metrics = None if metrics is None else metrics.bind(self)
        self._views = self.kind.views
        self._names = [v.name for v in self._views]
        #: Positions of each view's clocks in its state.
        self._clocks = [tuple(range(len(v.clocks))) for v in self._views]
        self._keys = self.kind.keys
        self._derived = [(column, self._names.index(view)) for column, view in self.kind.derived]
        self._label_views = [i for i, v in enumerate(self._views) if "label" in v.clocks]
        # Score a few events of unknown entities now (a read, never a write): the first real
        # event then runs warm code, statements and caches instead of paying for them.
        warm = self.kind.sample()
        m = replace(self._active, drift=None)
        for _ in range(_WARM_UP):
            self._score(m, m.lists(), warm, self.thresholds, MAX_REASONS)

    @classmethod
    def open(
        cls,
        bundle: str | Path,
        repo: str | Path,
        *,
        timeout: float = 1.0,
        key: bytes | str | None = None,
        require_signature: bool = False,
        store_options: Mapping[str, Any] | None = None,
        **options: Any,
    ) -> Scorer:
        """A scorer for the bundle directory ``bundle`` on the Feast repo ``repo``.

        ``timeout`` bounds each wait on the online store, in seconds; ``store_options`` set
        the Redis source's others (``failover_timeout``, ``wait_replicas``, ``wait_timeout``:
        docs/redis.md). ``key`` (else the ``FRAUDSCORE_BUNDLE_KEY`` environment variable)
        verifies the bundle's signature; ``require_signature`` refuses an unsigned one.
        ``options`` go to :class:`Scorer`.
        """
        loaded = load_bundle(bundle, key=signing_key(key), require_signature=require_signature)
        spec = kind_spec(loaded.kind, where=loaded.path)
        source = open_source(repo, spec.views, timeout=timeout, **dict(store_options or {}))
        return cls(loaded, source, **options)

    # -- the model in service ------------------------------------------------------------------

    def _model_of(self, bundle: Bundle, thresholds: Thresholds | None) -> _Active:
        if bundle.kind != self.kind.name:
            raise BundleError(
                bundle.path, f"it scores {bundle.kind}s, this scorer {self.kind.name}s"
            )
        thr = thresholds or bundle.thresholds
        drift = None
        if self._track_drift:
            ref = bundle.manifest.get("drift_reference")
            if ref is None:
                raise BundleError(bundle.path, "it has no drift reference to track against")
            drift = DriftTracker(ref, self.kind.features, thr)
        return _Active(
            bundle=bundle,
            model=OnnxModel(bundle.model_bytes, len(self.kind.features)),
            catalogue=ReasonCatalogue(
                bundle.manifest["catalogue"], self.kind.features, bundle.path
            ),
            thresholds=thr,
            version=bundle.version,
            drift=drift,
        )

    @property
    def bundle(self) -> Bundle:
        return self._active.bundle

    @property
    def thresholds(self) -> Thresholds:
        return self._active.thresholds

    @property
    def version(self) -> str:
        """The version of the model in service; every result names the one that made it."""
        return self._active.version

    def swap(
        self,
        bundle: Bundle | str | Path,
        *,
        thresholds: Thresholds | None = None,
        key: bytes | str | None = None,
        require_signature: bool = False,
    ) -> str:
        """Put another bundle of this kind in service, atomically, while other threads score.

        The new model, catalogue and thresholds (``thresholds``, else the bundle's) are loaded,
        checked and warmed up first; then one assignment switches every later call to them. A
        call already running finishes on the model it started with. A bundle that would fail
        (another kind, features this library or store does not compute, a bad signature)
        raises :class:`BundleError` and the current model keeps serving. Returns the version
        that was replaced, for a rollback.
        """
        loaded = _loaded(bundle, key, require_signature)
        new = self._model_of(loaded, thresholds)
        warm = self.kind.sample()
        untracked = replace(new, drift=None)
        for _ in range(_WARM_UP):
            self._score(untracked, None, warm, new.thresholds, MAX_REASONS)
        with self._writing:
            old = self._active
            self._active = replace(new, shadow=old.shadow, rules=old.rules)
        return old.version

    def set_challenger(
        self,
        bundle: Bundle | str | Path | None,
        *,
        thresholds: Thresholds | None = None,
        key: bytes | str | None = None,
        require_signature: bool = False,
    ) -> None:
        """Score every event with a challenger too, in shadow: the champion decides, the
        challenger's score and decision go into ``result.shadow`` and the shadow log. The same
        features feed both (read once); the challenger runs a second ONNX pass, without reasons.
        ``None`` removes the challenger. Checked like :meth:`swap`."""
        challenger = None
        if bundle is not None:
            challenger = self._model_of(_loaded(bundle, key, require_signature), thresholds)
            challenger.model.run_one([0.0] * len(self.kind.features))
        with self._writing:
            self._active = replace(self._active, shadow=challenger)

    def drift_report(self) -> DriftReport:
        """PSI of the live features and scores seen since the model went into service, against
        its training reference (``Scorer(..., track_drift=True)``)."""
        tracker = self._active.drift
        if tracker is None:
            raise ConfigError("track_drift", False, "a scorer opened with track_drift=True")
        return tracker.report()

    @property
    def rules(self) -> RuleSet | None:
        return self._active.rules

    def set_rules(self, rules: RuleSet | str | Path | None) -> RuleSet | None:
        """Put a rule set (or a rules file, loaded and compiled now) in service, or none.

        A file that does not load raises :class:`RulesError` and the rules in service stay.
        The new rules replace the old in one assignment: each call uses one set throughout.
        Returns the rules replaced. (To reload only the lists: ``scorer.rules.reload_lists()``.)
        """
        if rules is not None and not isinstance(rules, RuleSet):
            rules = load_rules(rules)
        if rules is not None and rules.kind.name != self.kind.name:
            raise RulesError(
                f"{rules.where}: rules for {rules.kind.name}s, this scorer scores {self.kind.name}s"
            )
        with self._writing:
            old = self._active
            self._active = replace(old, rules=rules)
        return old.rules

    @property
    def log(self) -> DecisionLog | None:
        """The decision log this scorer writes to, if any (``Scorer(..., log=...)``)."""
        return self._log

    @property
    def metrics(self) -> ScorerMetrics | None:
        """The Prometheus metrics this scorer records, if any (``Scorer(..., metrics=...)``)."""
        return self._metrics_of

    def shadow_log(self, *, clear: bool = False) -> list[ShadowRecord]:
        """The shadow log, oldest first: the last ``shadow_log_size`` events scored with a
        challenger (``Scorer(..., shadow_log_size=...)``, default 100,000)."""
        records = list(self._shadow_log)
        if clear:
            self._shadow_log.clear()
        return records

    # -- scoring ---------------------------------------------------------------------------

    def _check_batch(self, events: object) -> None:
        if not isinstance(events, list | tuple):
            raise EventValidationError(
                "events", type(events).__name__, f"a list of {self.kind.event_type.__name__}"
            )
        for event in events:
            self._check(event)

    def _check(self, event: object) -> None:
        if type(event) is not self.kind.event_type:
            raise EventValidationError(
                "event", type(event).__name__, f"a {self.kind.event_type.__name__}"
            )

    def _row(
        self, event: Any, states: Sequence[Sequence[float]]
    ) -> tuple[list[float], tuple[str, ...], tuple[str, ...], bool]:
        """(features, missing views, stale views, late) of one event, on floats (``PY``)."""
        cols = self.kind.values(event)
        t = cols["t"]
        reads = {}
        missing: tuple[str, ...] = ()
        stale: tuple[str, ...] = ()
        late = False
        for view, state, clocks in zip(self._views, states, self._clocks, strict=True):
            values, is_missing, is_stale = view.read(state, t, PY)
            reads[view.name] = values
            if is_missing:
                missing += (view.name,)
            elif is_stale:
                stale += (view.name,)
            elif not late:
                for c in clocks:
                    if state[c] > t:
                        late = True
        return self.kind.compute(cols, reads, PY), missing, stale, late

    def score(
        self,
        event: Any,
        *,
        thresholds: Thresholds | None = None,
        max_reasons: int | None = None,
    ) -> ScoreResult:
        """Score one event from its entities' online state. Never writes."""
        m = self._active
        k = self.max_reasons if max_reasons is None else _check_max_reasons(max_reasons)
        metrics = self._metrics
        if metrics is None:
            return self._score(m, m.lists(), event, thresholds or m.thresholds, k, self._log)
        try:
            return self._score(
                m, m.lists(), event, thresholds or m.thresholds, k, self._log, metrics
            )
        except Exception as exc:
            metrics.failed("score", exc)
            raise

    def _score(
        self,
        m: _Active,
        lists: Mapping[str, Matcher] | None,
        event: Any,
        thr: Thresholds,
        k: int,
        log: DecisionLog | None = None,
        metrics: _Bound | None = None,
    ) -> ScoreResult:
        """One event, timed by stage (five clock reads, a fraction of a microsecond) for the
        decision log and the metrics when they are attached."""
        clock = time.perf_counter_ns
        start = clock()
        self._check(event)
        keys = self._keys(event)
        t0 = clock()
        try:
            states = self.source.read_one(keys)
            degraded = False
        except FeatureStoreError:
            if not self.degrade:
                raise
            states, degraded = [v.empty_row() for v in self._views], True
        t1 = clock()
        x, missing, stale, late = self._row(event, states)
        t2 = clock()
        score, contrib = m.model.run_one(x)
        t3 = clock()
        sums = m.catalogue.code_sums(contrib)
        result = self._result(
            m, lists, event, x, score, sums, missing, stale, late, thr, k, degraded
        )
        if m.drift is not None:
            m.drift.add(x, score)
        if m.shadow is not None:
            result = self._shadowed(result, event, m.shadow, m.shadow.model.run_one(x)[0])
        if log is not None:
            log.scored(self.kind, event, x, result, (t1 - t0) // 1000, (t3 - t2) // 1000)
        if metrics is not None:
            metrics.scored(result, start, t1, t2, t3, clock())
        return result

    def _shadowed(
        self, result: ScoreResult, event: Any, shadow: _Active, score: float
    ) -> ScoreResult:
        """``result`` with the challenger's verdict, logged."""
        decision = self.kind.decisions[shadow.thresholds.level(score)]
        verdict = ShadowResult(shadow.version, score, decision)
        self._shadow_log.append(
            ShadowRecord(
                result.event_id,
                event.timestamp,
                result.model_version,
                result.score,
                result.decision,
                verdict.model_version,
                score,
                decision,
            )
        )
        return replace(result, shadow=verdict)

    def score_many(
        self, events: Sequence[Any], *, thresholds: Thresholds | None = None
    ) -> list[ScoreResult]:
        """Score many events with bulk state reads and one ONNX batch.

        Each result equals ``score(event)``: events are scored against the stored state, not
        against each other. Batches of ``_ARRAY_BATCH`` events or more compute their features
        on arrays (``NP``, the offline pipeline's execution of the same feature code) and their
        scores as one vectorised sigmoid; smaller ones run the single-event path on floats. Both
        agree with ``score`` to float rounding (1e-12 here), and a test holds them to 1e-9.
        """
        metrics = self._metrics
        if metrics is None:
            return self._score_many(events, thresholds)
        t0 = time.perf_counter_ns()
        timing = [0, 0]
        try:
            results = self._score_many(events, thresholds, timing)
        except Exception as exc:
            metrics.failed("score_many", exc)
            raise
        big = len(results) >= _ARRAY_BATCH
        metrics.scored_many(results, time.perf_counter_ns() - t0, timing if big else None)
        return results

    def _score_many(
        self,
        events: Sequence[Any],
        thresholds: Thresholds | None,
        timing: list[int] | None = None,
    ) -> list[ScoreResult]:
        """``score_many``; ``timing`` (given with metrics) gets the store and model ns."""
        self._check_batch(events)
        if not events:
            return []
        m = self._active  # one model for the whole batch, whatever swaps meanwhile
        thr = thresholds or m.thresholds
        k = self.max_reasons
        lists = m.lists()  # and one version of the rules' lists
        if len(events) < _ARRAY_BATCH:
            return [self._score(m, lists, e, thr, k, self._log) for e in events]
        # The batch allocates many small objects that all live until it returns: the cyclic
        # garbage collector, set off again and again by them, cost more than the scoring (half
        # of a batch of 10,000). None of them forms a cycle, so it is paused for the batch.
        paused = gc.isenabled()
        gc.disable()
        try:
            return self._score_arrays(m, lists, events, thr, k, timing)
        finally:
            if paused:
                gc.enable()

    def _score_arrays(
        self,
        m: _Active,
        lists: Mapping[str, Matcher] | None,
        events: Sequence[Any],
        thr: Thresholds,
        k: int,
        timing: list[int] | None = None,
    ) -> list[ScoreResult]:
        log = self._log
        if timing is None and log is not None:
            timing = [0, 0]
        x, flags, degraded, contrib, prob = self._batch(m, events, self.degrade, timing)
        sums = m.catalogue.code_sums_many(contrib)
        results = [
            self._result(
                m,
                lists,
                event,
                x[i].tolist(),
                float(prob[i]),
                sums[i].tolist(),
                *flags[i],
                thr,
                k,
                bool(degraded[i]),
            )
            for i, event in enumerate(events)
        ]
        if m.drift is not None:
            for row, r in zip(x.tolist(), results, strict=True):
                m.drift.add(row, r.score)
        if m.shadow is not None:
            shadow = m.shadow
            scores = scores_of(shadow.model.contributions(x)).tolist()
            results = [
                self._shadowed(r, e, shadow, s)
                for r, e, s in zip(results, events, scores, strict=True)
            ]
        if log is not None and timing is not None:  # the batch's times, per event
            n = len(events)
            log.scored_many(self.kind, events, x, results, timing[0] // n, timing[1] // n)
        return results

    def score_codes(
        self, events: Sequence[Any], *, thresholds: Thresholds | None = None
    ) -> tuple[np.ndarray, list[str], list[list[str]], list[str | None]]:
        """Scores, decisions, top reason codes and deciding rules of many events, without
        building results or reason texts: what a backfill writes. The same state reads,
        features, graph and rules as :meth:`score_many`; a store failure always raises (a batch
        job is never degraded)."""
        self._check_batch(events)
        m = self._active
        thr = thresholds or m.thresholds
        if not events:
            return np.zeros(0), [], [], []
        x, _, _, contrib, prob = self._batch(m, events, degrade=False)
        rules = m.rules
        verdicts: Iterable[Verdict | None] = ()
        if rules is not None:
            lists = rules.lists
            rows = zip(events, x.tolist(), prob.tolist(), strict=True)
            verdicts = (rules.decide_event(e, row, p, lists) for e, row, p in rows)
        return (prob, *self._codes(m, rules, thr, contrib, prob, verdicts))

    def _codes(
        self,
        m: _Active,
        rules: RuleSet | None,
        thr: Thresholds,
        contrib: np.ndarray,
        prob: np.ndarray,
        verdicts: Iterable[Verdict | None],
    ) -> tuple[list[str], list[list[str]], list[str | None]]:
        """Decisions, top reason codes and deciding rules of scored events (the rules' verdicts
        in event order; none without rules)."""
        decisions = thr.decisions(prob, self.kind.decisions).tolist()
        codes = m.catalogue.top_codes(contrib, self.max_reasons)
        fired: list[str | None] = [None] * len(decisions)
        for i, verdict in enumerate(verdicts):
            if rules is not None and verdict is not None and verdict.rule is not None:
                fired[i] = verdict.rule.name
                decisions[i] = rules.overrule(decisions[i], verdict.rule)
                codes[i] = [verdict.rule.reason, *codes[i]]
        return decisions, codes, fired

    def _batch(
        self, m: _Active, events: Sequence[Any], degrade: bool, timing: list[int] | None = None
    ) -> tuple[np.ndarray, list[_Flags], np.ndarray, np.ndarray, np.ndarray]:
        """(features, (missing, stale) per event, degraded, contributions, scores) of many
        checked events: states read in bulk, features on arrays, one ONNX batch. ``timing``,
        when given, gets the ns spent in the store and in the model added to its two items."""
        n = len(events)
        x = np.empty((n, len(self.kind.features)))
        flags: list[_Flags] = []
        degraded = np.zeros(n, dtype=bool)
        for lo in range(0, n, _READ_CHUNK):
            chunk = events[lo : lo + _READ_CHUNK]
            keys = [self._keys(e) for e in chunk]
            t0 = time.perf_counter_ns() if timing is not None else 0
            try:
                arrays = self.source.read([list(k) for k in zip(*keys, strict=True)])
            except FeatureStoreError:
                if not degrade:
                    raise
                arrays = [v.empty(len(chunk)) for v in self._views]
                degraded[lo : lo + len(chunk)] = True
            if timing is not None:
                timing[0] += time.perf_counter_ns() - t0
            x[lo : lo + len(chunk)] = self._rows(chunk, arrays, flags)
        t0 = time.perf_counter_ns() if timing is not None else 0
        contrib = m.model.contributions(x)
        if timing is not None:
            timing[1] += time.perf_counter_ns() - t0
        return x, flags, degraded, contrib, scores_of(contrib)

    def _rows(
        self,
        events: Sequence[Any],
        arrays: Sequence[np.ndarray],
        flags: list[_Flags],
    ) -> np.ndarray:
        """Features of many events on arrays (``NP``); appends each event's (missing, stale)."""
        values = [self.kind.values(e) for e in events]
        cols = {name: np.array([v[name] for v in values]) for name in values[0]}
        x, missing, stale, late = self._features(cols, arrays)
        names = self._names
        cache: dict[bytes, _Flags] = {}
        for m_row, s_row, is_late in zip(missing, stale, late, strict=True):
            key = m_row.tobytes() + s_row.tobytes() + is_late.tobytes()
            triple = cache.get(key)
            if triple is None:
                triple = cache[key] = (
                    tuple(n for n, f in zip(names, m_row, strict=True) if f),
                    tuple(n for n, f in zip(names, s_row, strict=True) if f),
                    bool(is_late),
                )
            flags.append(triple)
        return x

    def _features(
        self, cols: dict[str, np.ndarray], arrays: Sequence[np.ndarray]
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """(features, missing, stale, late) of many events from their columns and states."""
        t = cols["t"]
        reads = {}
        missing = np.zeros((len(t), len(self._views)), dtype=bool)
        stale = np.zeros_like(missing)
        late = np.zeros(len(t), dtype=bool)
        for vi, (view, state) in enumerate(zip(self._views, arrays, strict=True)):
            reads[view.name], m, s = view.read(list(state.T), t, NP)
            missing[:, vi], stale[:, vi] = m, s & ~m
            fresh = ~(m | s)
            late |= fresh & (state[:, list(self._clocks[vi])] > t[:, None]).any(axis=1)
        x = np.column_stack(
            [np.broadcast_to(f, t.shape) for f in self.kind.compute(cols, reads, NP)]
        )
        return x, missing, stale, late

    def frame_codes(
        self,
        frame: pd.DataFrame,
        *,
        thresholds: Thresholds | None = None,
        cache: list[dict[Key, np.ndarray]] | None = None,
    ) -> tuple[pd.DataFrame, np.ndarray, list[str], list[list[str]], list[str | None]]:
        """:meth:`score_codes` of a frame of events, without building an event object per row.

        The frame is validated as a whole (a :class:`BadRowsError` lists every bad row) and
        sorted by time; the same state reads, features, graph and rules follow, on its columns.
        Returns the validated frame (its row order is the results'), then as ``score_codes``.
        ``cache`` (one dict per view, kept by the caller across frames) holds states already
        read, so that a backfill reads each card and terminal once, not once per chunk: the
        states are then those of the store when first read.
        """
        kind = self.kind
        prepared = kind.prepare(frame, labelled=False)
        m = self._active
        thr = thresholds or m.thresholds
        n = len(prepared)
        if not n:
            return prepared, np.zeros(0), [], [], []
        cols = kind.frame_columns(prepared)
        cols["t"] = prepared["timestamp"].array.asi8 / 1e9
        x = np.empty((n, len(kind.features)))
        keys = [
            list(zip(*(prepared[k].tolist() for k in v.keys), strict=True)) for v in self._views
        ]
        for lo in range(0, n, _READ_CHUNK):
            hi = min(lo + _READ_CHUNK, n)
            part_keys = [ks[lo:hi] for ks in keys]
            arrays = self._read_cached(part_keys, cache) if cache else self.source.read(part_keys)
            part = {k: v[lo:hi] for k, v in cols.items()}
            x[lo:hi] = self._features(part, arrays)[0]
        contrib = m.model.contributions(x)
        prob = scores_of(contrib)
        rules = m.rules
        verdicts: Iterable[Verdict | None] = ()
        if rules is not None:
            lists = rules.lists
            columns = {c: prepared[c].tolist() for c in rules.variables if c in prepared.columns}
            features = [(f, j) for j, f in enumerate(kind.features) if f not in columns]
            rows, scores = x.tolist(), prob.tolist()
            verdicts = (
                rules.decide(
                    {c: v[i] for c, v in columns.items()}
                    | {f: rows[i][j] for f, j in features}
                    | {"score": scores[i]},
                    lists,
                )
                for i in range(n)
            )
        return (prepared, prob, *self._codes(m, rules, thr, contrib, prob, verdicts))

    def _read_cached(
        self, keys: Sequence[Sequence[Key]], cache: list[dict[Key, np.ndarray]]
    ) -> list[np.ndarray]:
        """Bulk read of the keys not yet in ``cache`` (kept up to ``_CACHE_ROWS`` per view)."""
        todo = [
            list(dict.fromkeys(k for k in ks if k not in c))
            for ks, c in zip(keys, cache, strict=True)
        ]
        fresh = self.source.read(todo) if any(todo) else [v.empty(0) for v in self._views]
        out = []
        for view, ks, c, new, rows in zip(self._views, keys, cache, todo, fresh, strict=True):
            known: Mapping[Key, np.ndarray] = c
            if new:
                got = dict(zip(new, rows, strict=True))
                if len(c) + len(got) <= _CACHE_ROWS:
                    c.update(got)
                else:  # the cache is full: these serve this read only
                    known = ChainMap(got, c)
            out.append(np.array([known[k] for k in ks]) if ks else view.empty(0))
        return out

    def _result(
        self,
        m: _Active,
        lists: Mapping[str, Matcher] | None,
        event: Any,
        x: list[float],
        score: float,
        code_sums: list[float],
        missing: tuple[str, ...],
        stale: tuple[str, ...],
        late: bool,
        thr: Thresholds,
        k: int,
        degraded: bool,
    ) -> ScoreResult:
        decision = self.kind.decisions[thr.level(score)]
        catalogue = m.catalogue
        top = catalogue.top(code_sums, k)
        reasons: tuple[Reason, ...] = ()
        if top:
            named = dict(zip(self.kind.features, x, strict=True))
            values = TemplateValues(named, event, self.kind.display)
            reasons = tuple(
                Reason(catalogue.codes[i], catalogue.text(i, values), s) for i, s in top
            )
        rule: str | None = None
        matched: tuple[str, ...] = ()
        shadow: tuple[str, ...] = ()
        rules = m.rules
        if rules is not None:
            verdict = rules.decide_event(event, x, score, lists)
            if verdict is not None:
                matched, shadow = verdict.matched, verdict.shadow
                if verdict.rule is not None:
                    rule = verdict.rule.name
                    decision = rules.overrule(decision, verdict.rule)
                    reasons = (Reason(verdict.rule.reason, verdict.text, 0.0), *reasons)
        if degraded:
            reasons = (_UNAVAILABLE, *reasons)
        return ScoreResult(
            event_id=getattr(event, self.kind.id_field),
            score=score,
            decision=decision,
            reasons=reasons,
            model_version=m.version,
            missing_state=missing,
            stale_state=stale,
            degraded=degraded,
            late_event=late,
            rule=rule,
            matched_rules=matched,
            shadow_rules=shadow,
        )

    # -- recording ---------------------------------------------------------------------------

    def record(self, event: Any, decided: ScoreResult | str | None = None) -> None:
        """Fold one event into its entities' online state (the offline pipeline's ``update``).

        ``decided`` is what the defence served for it (its :class:`ScoreResult`, or the decision
        name): a reviewed or blocked event counts in the entity's suspicion and builds no
        familiarity (a declined purchase is not a use of the terminal). ``None``, for an event
        that was not scored, counts as let through.
        """
        self.record_many([event], None if decided is None else [decided])

    def record_many(
        self, events: Sequence[Any], decided: Sequence[ScoreResult | str | None] | None = None
    ) -> None:
        """Fold events, in order, into online state: one atomic read-modify-write.

        ``decided``, when given, holds what was served for each event (see :meth:`record`).
        Every event and decision is validated before anything is read or written. Concurrent
        writers (threads, processes, machines) lose no update: the store reads and writes under
        one lock or optimistic transaction (see ``FeatureSource.modify``).
        """
        metrics = self._metrics
        if metrics is None:
            self._record_many(events, decided)
            return
        t0 = time.perf_counter_ns()
        try:
            store_ns = self._record_many(events, decided)
        except Exception as exc:
            metrics.failed("record", exc)
            raise
        metrics.recorded(store_ns, time.perf_counter_ns() - t0)

    def _record_many(
        self, events: Sequence[Any], decided: Sequence[ScoreResult | str | None] | None
    ) -> int:
        """``record_many``; returns the ns spent in the store's write (0 when not timed)."""
        self._check_batch(events)
        served = self._served(events, decided)
        if not events:
            return 0
        names = self.kind.decisions
        cols = [
            self.kind.values(e) | served_values(d, names)
            for e, d in zip(events, served, strict=True)
        ]
        keys = [self._keys(e) for e in events]
        moved = [self.kind.clocks(c) for c in cols]
        derived = self._derived

        def step(i: int, states: dict[Key, list[float]]) -> dict[Key, list[float]]:
            """Fold view ``i``'s events whose key is in ``states``. A view feeding a derived
            column comes before its users, so their column is set from this view's state
            before each event (the same rule as the offline fold)."""
            view = self._views[i]
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

        by_view = [[k[i] for k in keys] for i in range(len(self._views))]
        t0 = time.perf_counter_ns()
        self.source.modify(by_view, step)
        took = time.perf_counter_ns() - t0
        if self._log is not None:
            self._log.recorded(self.kind, events, served, took // 1000)
        return took

    def _served(
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
        if label_type is None or not self._label_views:
            raise EventValidationError(
                "label", label, f"no label-derived state in {self.kind.name} models"
            )
        if type(label) is not label_type:
            raise EventValidationError("label", type(label).__name__, f"a {label_type.__name__}")
        if not getattr(label, self.kind.label):
            return
        stamp: datetime = getattr(label, "label_time")  # noqa: B009 (a kind's label type)
        t = stamp.timestamp()
        keys = [tuple(getattr(label, k) for k in v.keys) for v in self._views]

        def step(i: int, states: dict[Key, list[float]]) -> dict[Key, list[float]]:
            return {k: self._views[i].update(s, "label", t, {}, PY) for k, s in states.items()}

        self.source.modify(
            [[keys[i]] if i in self._label_views else [] for i in range(len(self._views))], step
        )


_UNAVAILABLE = Reason(
    STORE_UNAVAILABLE,
    "online history unavailable (feature store down or too slow); scored as a first-seen "
    "card/account",
    0.0,
)


def _loaded(bundle: Bundle | str | Path, key: bytes | str | None, required: bool) -> Bundle:
    """A bundle as given, or loaded and verified from its directory."""
    if isinstance(bundle, Bundle):
        return bundle
    return load_bundle(bundle, key=signing_key(key), require_signature=required)


def _check_max_reasons(k: int) -> int:
    if type(k) is not int or not 0 <= k <= MAX_REASONS:
        raise ConfigError("max_reasons", k, f"an int from 0 to {MAX_REASONS}")
    return k
