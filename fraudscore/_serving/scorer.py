"""The scorer: event -> online state -> features -> ONNX graph -> reasons -> result.

A facade over one module per job: the snapshot of what serves (``snapshot``: model,
thresholds, challenger, rules, swapped as one), feature assembly (``assembly``), the decision
and its result (``decide``, ``results``), recording (``recording``) and the backfill's batch
codes (``codes``). Everything that can be decided once (views, key encoders, statements, the
ONNX session, the reason matrix) is decided in ``__init__``; ``score`` only does the per-event
work.
"""

from __future__ import annotations

import gc
import threading
import time
from collections import deque
from collections.abc import Mapping, Sequence
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from fraudscore._errors import (
    ConfigError,
    FeatureStoreError,
    RulesError,
)
from fraudscore._kinds import EventKind, kind_spec
from fraudscore._model.bundle import Bundle, Thresholds, load_bundle, signing_key
from fraudscore._model.runtime import scores_of
from fraudscore._online import FeatureSource, Key, open_source
from fraudscore._serving.assembly import Assembly
from fraudscore._serving.codes import BatchCodes
from fraudscore._serving.decide import STORE_UNAVAILABLE, result_of
from fraudscore._serving.drift import DriftReport
from fraudscore._serving.lists import Matcher
from fraudscore._serving.log import DecisionLog
from fraudscore._serving.reasons import MAX_REASONS
from fraudscore._serving.recording import Recorder
from fraudscore._serving.results import ScoreResult, ShadowRecord, ShadowResult
from fraudscore._serving.rules import RuleSet, load_rules
from fraudscore._serving.snapshot import Snapshot, loaded, snapshot_of

if TYPE_CHECKING:
    import pandas as pd

    from fraudscore._serving.metrics import ScorerMetrics, _Bound

__all__ = ["STORE_UNAVAILABLE", "ScoreResult", "Scorer", "ShadowRecord", "ShadowResult"]

#: Batches of at least this many events compute features on arrays (see ``score_many``).
_ARRAY_BATCH = 32
_POLICIES = ("fail", "degrade")
#: Scores at open: enough for Python 3.11 to specialise the hot path's bytecode.
_WARM_UP = 20


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
        self._source = source  # the one store every job reads and writes (``source``)
        self.max_reasons = _check_max_reasons(max_reasons)
        self._track_drift = bool(track_drift)
        #: Held by the writers of ``_active`` (swap, rules, challenger), never by a call.
        self._writing = threading.Lock()
        self._active = snapshot_of(self.kind, bundle, thresholds, self._track_drift)
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
        # The jobs: feature assembly, recording, batch codes (the backfill's).
        self._assembly = Assembly(self.kind, source)
        self._recorder = Recorder(self._assembly, log)
        self._codes = BatchCodes(self._assembly)
        self._views = self.kind.views
        self._keys = self.kind.keys
        self._row = self._assembly.row
        self._check = self._assembly.check
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

    @property
    def bundle(self) -> Bundle:
        return self._active.bundle

    @property
    def thresholds(self) -> Thresholds:
        return self._active.thresholds

    @property
    def source(self) -> FeatureSource:
        """The online store this scorer reads and records into (one, for every path)."""
        return self._source

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
        new = snapshot_of(
            self.kind, loaded(bundle, key, require_signature), thresholds, self._track_drift
        )
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
            challenger = snapshot_of(
                self.kind, loaded(bundle, key, require_signature), thresholds, self._track_drift
            )
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
        m: Snapshot,
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
            states = self._source.read_one(keys)
            degraded = False
        except FeatureStoreError:
            if not self.degrade:
                raise
            states, degraded = [v.empty_row() for v in self._views], True
        t1 = clock()
        x, missing, stale, late = self._row(event, states, keys)
        t2 = clock()
        score, contrib = m.model.run_one(x)
        t3 = clock()
        sums = m.catalogue.code_sums(contrib)
        result = result_of(
            self.kind, m, lists, event, x, score, sums, missing, stale, late, thr, k, degraded
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
        self, result: ScoreResult, event: Any, shadow: Snapshot, score: float
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
        self._assembly.check_batch(events)
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
        m: Snapshot,
        lists: Mapping[str, Matcher] | None,
        events: Sequence[Any],
        thr: Thresholds,
        k: int,
        timing: list[int] | None = None,
    ) -> list[ScoreResult]:
        log = self._log
        if timing is None and log is not None:
            timing = [0, 0]
        x, flags, degraded, contrib, prob = self._assembly.batch(
            m.model, events, self.degrade, timing
        )
        sums = m.catalogue.code_sums_many(contrib)
        results = [
            result_of(
                self.kind,
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
        m = self._active
        return self._codes.score_codes(m, events, thresholds or m.thresholds, self.max_reasons)

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
        m = self._active
        thr = thresholds or m.thresholds
        return self._codes.frame_codes(m, frame, thr, self.max_reasons, cache)

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
            self._recorder.record_many(events, decided)
            return
        t0 = time.perf_counter_ns()
        try:
            store_ns = self._recorder.record_many(events, decided)
        except Exception as exc:
            metrics.failed("record", exc)
            raise
        metrics.recorded(store_ns, time.perf_counter_ns() - t0)

    def record_label(self, label: Any) -> None:
        """Fold a confirmed outcome (a chargeback, say: the kind's ``label_type``, for
        transactions a :class:`~fraudscore.Label`) into label-derived state, as of its
        ``label_time``.

        A genuine label (its ``label`` flag false) changes no state: label-derived features
        count frauds.
        """
        self._recorder.record_label(label)


def _check_max_reasons(k: int) -> int:
    if type(k) is not int or not 0 <= k <= MAX_REASONS:
        raise ConfigError("max_reasons", k, f"an int from 0 to {MAX_REASONS}")
    return k
