"""Prometheus metrics of a scorer: latency by stage, decisions, degraded and failed calls, rule
hits, shadow disagreements and drift, with ``prometheus_client``.

``Scorer(..., metrics=ScorerMetrics())`` records every call; without it the scorer's hot path
is unchanged. Metric names (``namespace`` first, ``fraudscore`` by default):

    fraudscore_latency_seconds{kind,call,stage}        histogram: call score, score_many or
                                                        record; stage store, features, model,
                                                        total (10 µs to 100 ms buckets)
    fraudscore_decisions_total{kind,decision,model_version}
    fraudscore_degraded_total{kind}                     scored without state: the store failed
    fraudscore_errors_total{kind,call,error}            exceptions out of a call, by type name
    fraudscore_rule_hits_total{kind,rule,mode}          mode live (matched) or shadow
    fraudscore_rule_decisions_total{kind,rule}          the live rule that set the decision
    fraudscore_shadow_total{kind,challenger_version}    events scored by a challenger too
    fraudscore_shadow_disagreements_total{kind,challenger_version,champion,challenger}
    fraudscore_drift_psi{kind,model_version,feature}    gauges, from ``Scorer.drift_report``
    fraudscore_score_psi{kind,model_version}
    fraudscore_drift_events{kind,model_version}

Off the hot path: a call appends its result and clock readings to a queue (one ``deque``
append, atomic in CPython) and returns; a daemon thread moves the queue into the Prometheus
values every ``flush_s`` (default 1 s), and so does every scrape of this process and its exit.
A scrape therefore sees this process's every finished call, and another worker's calls up to
``flush_s`` late. (Observing each value in the call cost 1.12-1.15x on ``score`` p50 in
multiprocess mode, where every value is a write to a memory-mapped file.)

Several worker processes (gunicorn, uvicorn ``--workers``): set ``PROMETHEUS_MULTIPROC_DIR``
to an empty directory before ``prometheus_client`` is first imported; every process then
writes its values to files there, and :func:`metrics_text` / :func:`metrics_app` serve the sum
over processes (``prometheus_client.multiprocess.MultiProcessCollector``). Drift gauges are
per process: their ``multiprocess_mode`` (``drift_mode``, default ``"livemax"``) serves the
largest PSI of the live workers (``"liveall"``: one series per worker ``pid``). A scrape
updates the drift of the process that serves it; other workers update theirs when they call
:meth:`ScorerMetrics.update_drift` (a timer in each worker). The "live" modes drop a dead
worker's gauges once it is marked dead (gunicorn's ``child_exit`` hook:
``prometheus_client.multiprocess.mark_process_dead(worker.pid)``).
"""

from __future__ import annotations

import atexit
import os
import threading
import weakref
from collections import deque
from collections.abc import Callable, Iterable, Sequence
from typing import TYPE_CHECKING, Any, Protocol

from prometheus_client import (
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
    values,
)
from prometheus_client.metrics_core import Metric

from fraudscore._errors import ConfigError

if TYPE_CHECKING:
    from fraudscore._kinds import EventKind
    from fraudscore._serving.drift import DriftReport
    from fraudscore._serving.results import ScoreResult


class Scorer(Protocol):
    """What the metrics read of a scorer they are bound to (``fraudscore.Scorer``): its kind,
    model version, whether it tracks drift, and its drift report. Typed here, so that this
    module does not import the scorer that imports it."""

    @property
    def kind(self) -> EventKind: ...

    @property
    def version(self) -> str: ...

    @property
    def _track_drift(self) -> bool: ...

    def drift_report(self) -> DriftReport: ...


__all__ = ["BUCKETS", "ScorerMetrics", "metrics_app", "metrics_text", "multiprocess_mode"]

_SCORE, _MANY, _RECORD = "score", "score_many", "record"
#: Every live instance of this process: flushed at exit, reset in a forked child.
_ALL: weakref.WeakSet[ScorerMetrics] = weakref.WeakSet()


def _flush_every(ref: weakref.ref[ScorerMetrics], seconds: float) -> None:
    """The flusher thread: flush every ``seconds`` while the instance lives."""
    stop = threading.Event()
    while not stop.wait(seconds):
        metrics = ref()
        if metrics is None:
            return
        metrics.flush()
        del metrics


def _flush_all() -> None:
    for metrics in list(_ALL):
        metrics.flush()


#: The instances whose flush is held across a fork (``_hold_flushes``).
_HELD: list[ScorerMetrics] = []


def _hold_flushes() -> None:
    """Before a fork: wait for any flush to finish and hold the next one, so that no
    prometheus_client value lock (one process-wide lock in multiprocess mode) is held by the
    flusher thread when the process is copied."""
    _HELD[:] = list(_ALL)
    for metrics in _HELD:
        metrics._flushing.acquire()


def _release_flushes() -> None:
    for metrics in _HELD:
        metrics._flushing.release()
    _HELD.clear()


def _forget_after_fork() -> None:
    """A forked child records its own calls: the parent's queued calls are the parent's to
    flush, its thread did not survive the fork, and its locks are the parent's."""
    for metrics in list(_ALL):
        metrics._flusher = None
        metrics._flushing = threading.Lock()
        metrics._binding = threading.Lock()
        for bound in metrics._bound.values():
            bound.pending.clear()
    _HELD.clear()


atexit.register(_flush_all)
os.register_at_fork(
    before=_hold_flushes, after_in_parent=_release_flushes, after_in_child=_forget_after_fork
)

#: Latency buckets, in seconds: 10 µs to 100 ms, about three per decade.
BUCKETS = (
    1e-5,
    2.5e-5,
    5e-5,
    1e-4,
    2.5e-4,
    5e-4,
    1e-3,
    2.5e-3,
    5e-3,
    1e-2,
    2.5e-2,
    5e-2,
    1e-1,
)
_DRIFT_MODES = ("livemax", "liveall", "max", "min", "all", "livemin", "mostrecent", "sum")


def multiprocess_mode() -> bool:
    """Whether prometheus_client keeps values in ``PROMETHEUS_MULTIPROC_DIR``'s files: decided
    once, when it was first imported. (Not the variable now: importing ``feast.metrics``, as
    Feast's ``FeatureStore`` does, sets it to a temporary folder of its own when unset, after
    which the variable says multiprocess while values are still in memory.)"""
    return bool(getattr(values.ValueClass, "_multiprocess", False))


class ScorerMetrics:
    """The Prometheus metrics of one or more scorers (``Scorer(..., metrics=...)``).

    ``registry`` is where the metrics are registered: a new ``CollectorRegistry`` by default,
    so that several instances (tests, services with several scorer sets) never collide. For
    the process-wide default registry, the one ``prometheus_client.start_http_server`` and
    ``make_asgi_app()`` serve, pass ``registry=prometheus_client.REGISTRY`` (once per process).
    One instance serves any number of scorers, of either kind (series carry ``kind``); in
    multiprocess mode use one instance per process (two with the same names would share files).
    """

    def __init__(
        self,
        registry: CollectorRegistry | None = None,
        *,
        namespace: str = "fraudscore",
        buckets: Sequence[float] = BUCKETS,
        drift_mode: str = "livemax",
        flush_s: float = 1.0,
    ) -> None:
        if registry is not None and not isinstance(registry, CollectorRegistry):
            raise ConfigError("registry", registry, "a prometheus_client CollectorRegistry")
        if not isinstance(namespace, str) or not namespace.isidentifier():
            raise ConfigError("namespace", namespace, "a metric name prefix, like 'fraudscore'")
        if drift_mode not in _DRIFT_MODES:
            raise ConfigError("drift_mode", drift_mode, f"one of {list(_DRIFT_MODES)}")
        if (
            isinstance(flush_s, bool)
            or not isinstance(flush_s, int | float)
            or not 0 < flush_s < float("inf")
        ):
            raise ConfigError("flush_s", flush_s, "a finite number of seconds > 0")
        self.flush_s = float(flush_s)
        #: The thread that flushes every ``flush_s``: started by the first call recorded (in
        #: the process that records it: a forked child starts its own).
        self._flusher: threading.Thread | None = None
        self._flushing = threading.Lock()
        _ALL.add(self)
        self.registry = CollectorRegistry() if registry is None else registry
        self.namespace = namespace
        self._bound: dict[str, _Bound] = {}
        self._binding = threading.Lock()
        #: Scorers tracking drift, updated by update_drift() and on every scrape of registry.
        self._drifting: weakref.WeakSet[Scorer] = weakref.WeakSet()
        # First: a registry collects in registration order, so drift is set before it is read.
        self.registry.register(_DriftOnScrape(self))
        r, ns = self.registry, namespace
        self.latency = Histogram(
            "latency_seconds",
            "Time of a scorer call and its stages (store read, features, model, whole call)",
            ["kind", "call", "stage"],
            namespace=ns,
            registry=r,
            buckets=tuple(buckets),
        )
        self.decisions = Counter(
            "decisions",
            "Events scored, by the decision served and the model that made it",
            ["kind", "decision", "model_version"],
            namespace=ns,
            registry=r,
        )
        self.degraded = Counter(
            "degraded",
            "Events scored without history because the online store failed",
            ["kind"],
            namespace=ns,
            registry=r,
        )
        self.errors = Counter(
            "errors",
            "Calls that raised, by call and error type",
            ["kind", "call", "error"],
            namespace=ns,
            registry=r,
        )
        self.rule_hits = Counter(
            "rule_hits",
            "Rules that matched a scored event: live (matched_rules) or shadow (shadow_rules)",
            ["kind", "rule", "mode"],
            namespace=ns,
            registry=r,
        )
        self.rule_decisions = Counter(
            "rule_decisions",
            "Events whose decision a live rule set (ScoreResult.rule)",
            ["kind", "rule"],
            namespace=ns,
            registry=r,
        )
        self.shadow = Counter(
            "shadow",
            "Events a challenger scored in shadow",
            ["kind", "challenger_version"],
            namespace=ns,
            registry=r,
        )
        self.disagreements = Counter(
            "shadow_disagreements",
            "Events on which the challenger's decision differs from the champion's",
            ["kind", "challenger_version", "champion", "challenger"],
            namespace=ns,
            registry=r,
        )
        drift = {"namespace": ns, "registry": r, "multiprocess_mode": drift_mode}
        self.drift_psi = Gauge(
            "drift_psi",
            "PSI of a live feature against the model's training reference",
            ["kind", "model_version", "feature"],
            **drift,  # type: ignore[arg-type]
        )
        self.score_psi = Gauge(
            "score_psi",
            "PSI of the live scores against the model's reference",
            ["kind", "model_version"],
            **drift,  # type: ignore[arg-type]
        )
        self.drift_events = Gauge(
            "drift_events",
            "Events counted into the drift PSI since the model went into service",
            ["kind", "model_version"],
            **drift,  # type: ignore[arg-type]
        )

    def bind(self, scorer: Scorer) -> _Bound:
        """The recorder a scorer calls (its labelled series made once, kept); the scorer's
        drift is then updated on scrape. Called by ``Scorer(..., metrics=...)``."""
        if scorer._track_drift:
            self._drifting.add(scorer)
        with self._binding:
            bound = self._bound.get(scorer.kind.name)
            if bound is None:
                bound = self._bound[scorer.kind.name] = _Bound(self, scorer.kind.name)
            return bound

    def flush(self) -> None:
        """Move every queued call into the Prometheus values now (a scrape of this process, its
        exit and the flusher thread call it)."""
        with self._flushing:
            for bound in list(self._bound.values()):
                bound.flush()

    def _start(self) -> None:
        with self._binding:
            if self._flusher is None:
                self._flusher = threading.Thread(
                    target=_flush_every, args=(weakref.ref(self), self.flush_s), daemon=True,
                    name="fraudscore-metrics",
                )  # fmt: skip
                self._flusher.start()

    def update_drift(self, scorer: Scorer | None = None) -> None:
        """Set the drift gauges from ``scorer.drift_report()`` (every drift-tracking scorer
        attached when ``None``). Off the hot path: it bins the rows buffered since the last
        report. Scraping ``registry`` (or :func:`metrics_text`) calls it first."""
        scorers = list(self._drifting) if scorer is None else [scorer]
        for s in scorers:
            report = s.drift_report()
            kind, version = s.kind.name, s.version
            for feature, value in report.features.items():
                self.drift_psi.labels(kind, version, feature).set(value)
            self.score_psi.labels(kind, version).set(report.score)
            self.drift_events.labels(kind, version).set(report.events)


class _DriftOnScrape:
    """A collector that yields nothing and sets the drift gauges: registered before them, it
    runs first in every scrape (a registry collects in registration order)."""

    def __init__(self, metrics: ScorerMetrics) -> None:
        self._metrics = weakref.ref(metrics)

    def describe(self) -> list[Metric]:
        return []

    def collect(self) -> Iterable[Metric]:
        metrics = self._metrics()
        if metrics is not None:
            metrics.flush()
            metrics.update_drift()
        return []


class _Bound:
    """One kind's series in a :class:`ScorerMetrics`: children made once, looked up per call
    in small dicts (``labels()`` per call costs more than the increment)."""

    def __init__(self, metrics: ScorerMetrics, kind: str) -> None:
        self.metrics = metrics
        self.kind = kind
        latency = metrics.latency
        self.score_stages = tuple(
            latency.labels(kind, "score", stage) for stage in ("store", "features", "model")
        )
        self.score_total = latency.labels(kind, "score", "total")
        self.many_store, self.many_model, self.many_total = (
            latency.labels(kind, "score_many", stage) for stage in ("store", "model", "total")
        )
        self.record_store, self.record_total = (
            latency.labels(kind, "record", stage) for stage in ("store", "total")
        )
        self.degraded = metrics.degraded.labels(kind)
        self._decisions: dict[tuple[str, str], Any] = {}
        self._rules: dict[tuple[str, str], Any] = {}
        self._shadow: dict[tuple[str, str, str], tuple[Any, Any]] = {}
        #: Calls recorded and not yet in the values (``flush``).
        self.pending: deque[tuple[Any, ...]] = deque()

    # -- per call: queued ---------------------------------------------------------------------

    def scored(self, result: ScoreResult, t0: int, t1: int, t2: int, t3: int, t4: int) -> None:
        """One ``score``: the result served and the clock (ns) at the call's start, after the
        store read, after the features, after the model, and at its end."""
        self.pending.append((_SCORE, result, t0, t1, t2, t3, t4))
        if self.metrics._flusher is None:
            self.metrics._start()

    def scored_many(
        self, results: Sequence[ScoreResult], total_ns: int, timing: list[int] | None
    ) -> None:
        """One ``score_many``: its results, its time, and (a batch on arrays) the store and
        model time."""
        self.pending.append((_MANY, results, total_ns, timing))
        if self.metrics._flusher is None:
            self.metrics._start()

    def recorded(self, store_ns: int, total_ns: int) -> None:
        """One ``record`` / ``record_many``: its store write and its whole time."""
        self.pending.append((_RECORD, store_ns, total_ns))
        if self.metrics._flusher is None:
            self.metrics._start()

    def failed(self, call: str, exc: BaseException) -> None:
        """A call that raised ``exc`` (counted at once: rare, and the caller re-raises)."""
        self.metrics.errors.labels(self.kind, call, type(exc).__name__).inc()

    # -- into the values: the flusher thread, a scrape, the exit -----------------------------

    def flush(self) -> None:
        pending = self.pending
        store, features, model = self.score_stages
        while pending:
            try:
                entry = pending.popleft()
            except IndexError:  # drained by another thread meanwhile
                return
            what = entry[0]
            if what is _SCORE:
                _, result, t0, t1, t2, t3, t4 = entry
                store.observe((t1 - t0) / 1e9)
                features.observe((t2 - t1) / 1e9)
                model.observe((t3 - t2) / 1e9)
                self.score_total.observe((t4 - t0) / 1e9)
                self.served(result)
            elif what is _MANY:
                _, results, total_ns, timing = entry
                if timing is not None:
                    self.many_store.observe(timing[0] / 1e9)
                    self.many_model.observe(timing[1] / 1e9)
                self.many_total.observe(total_ns / 1e9)
                for r in results:
                    self.served(r)
            else:
                _, store_ns, total_ns = entry
                self.record_store.observe(store_ns / 1e9)
                self.record_total.observe(total_ns / 1e9)

    def served(self, r: ScoreResult) -> None:
        key = (r.decision, r.model_version)
        counter = self._decisions.get(key)
        if counter is None:
            counter = self._decisions[key] = self.metrics.decisions.labels(self.kind, *key)
        counter.inc()
        if r.degraded:
            self.degraded.inc()
        if r.rule is not None or r.matched_rules or r.shadow_rules:
            self._ruled(r)
        if r.shadow is not None:
            self._shadowed(r)

    def _ruled(self, r: ScoreResult) -> None:
        rules = self._rules
        for mode, names in (("live", r.matched_rules), ("shadow", r.shadow_rules)):
            for name in names:
                c = rules.get((name, mode))
                if c is None:
                    c = rules[name, mode] = self.metrics.rule_hits.labels(self.kind, name, mode)
                c.inc()
        if r.rule is not None:
            c = rules.get((r.rule, "decided"))
            if c is None:
                c = rules[r.rule, "decided"] = self.metrics.rule_decisions.labels(self.kind, r.rule)
            c.inc()

    def _shadowed(self, r: ScoreResult) -> None:
        shadow = r.shadow
        if shadow is None:
            return
        key = (shadow.model_version, r.decision, shadow.decision)
        pair = self._shadow.get(key)
        if pair is None:
            pair = self._shadow[key] = (
                self.metrics.shadow.labels(self.kind, shadow.model_version),
                self.metrics.disagreements.labels(self.kind, *key),
            )
        pair[0].inc()
        if r.decision != shadow.decision:
            pair[1].inc()


def _scrape_registry(metrics: ScorerMetrics | None) -> CollectorRegistry:
    """The registry a scrape reads: in multiprocess mode a fresh one over every process's
    files (with this process's drift updated first), else the metrics' own."""
    if multiprocess_mode():
        from prometheus_client.multiprocess import MultiProcessCollector

        registry = CollectorRegistry()
        if metrics is not None:
            registry.register(_DriftOnScrape(metrics))
        MultiProcessCollector(registry)
        return registry
    if metrics is None:
        from prometheus_client import REGISTRY

        return REGISTRY
    return metrics.registry


def metrics_text(metrics: ScorerMetrics | None = None) -> bytes:
    """The text exposition of ``/metrics`` (``CONTENT_TYPE_LATEST``): ``metrics``' registry
    (the default registry when ``None``), or, in multiprocess mode, the sum over processes."""
    return generate_latest(_scrape_registry(metrics))


def metrics_app(metrics: ScorerMetrics | None = None) -> Callable[..., Any]:
    """An ASGI app serving :func:`metrics_text` (``prometheus_client.make_asgi_app``), to mount
    at ``/metrics`` (FastAPI/Starlette: ``app.mount("/metrics", metrics_app(m))``)."""
    from prometheus_client import make_asgi_app

    return make_asgi_app(registry=_scrape_registry(metrics))
