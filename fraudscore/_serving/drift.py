"""Drift without labels: does live traffic still look like the training data?

At training time the manifest records a **reference** for each feature and for the score: the
edges of ten quantile bins over the training window (the score's over the held-out days, the
scores the thresholds came from), each bin's share, and the share of missing values. Live values
are counted into the same bins and compared by the population stability index,
``PSI = sum((live - ref) * ln(live / ref))`` over the bins (shares floored at 1e-4). The usual
limits flag a feature: PSI above 0.1 is a moderate shift, above 0.25 a major one. The report
also compares the live alert rates with the rates the thresholds were chosen for.

Live counts come from a frame of features (``fraudscore monitor``) or from a scorer that tracks
them (``Scorer(..., track_drift=True)``): each ``score`` appends its feature row to a buffer,
and every ``_FLUSH`` rows are binned at once with numpy, so the cost per call stays a list append.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from typing import Any

import numpy as np

__all__ = ["LIMITS", "DriftReport", "DriftTracker", "drift_report", "reference"]

#: PSI above which a feature is a moderate, then a major shift.
LIMITS = (0.1, 0.25)
_BINS = 10
_FLOOR = 1e-4
_FLUSH = 1024


def _edges(values: np.ndarray) -> np.ndarray:
    """Inner bin edges: the distinct deciles of the non-missing values."""
    present = values[~np.isnan(values)]
    if not len(present):
        return np.zeros(0)
    return np.unique(np.quantile(present, np.linspace(0, 1, _BINS + 1)[1:-1]))


def _counts(values: np.ndarray, edges: np.ndarray) -> np.ndarray:
    """Counts per bin (``len(edges) + 1`` bins, right-closed), then the missing count."""
    missing = np.isnan(values)
    bins = np.searchsorted(edges, values[~missing], side="left")
    return np.append(np.bincount(bins, minlength=len(edges) + 1), missing.sum())


def _entry(values: np.ndarray) -> dict[str, Any]:
    edges = _edges(values)
    counts = _counts(values, edges)
    return {"edges": edges.tolist(), "shares": (counts / max(counts.sum(), 1)).tolist()}


def reference(
    names: tuple[str, ...], x: np.ndarray, scores: np.ndarray, alert_rates: dict[str, float]
) -> dict[str, Any]:
    """The manifest's drift reference: per feature and for the score, bin edges and shares."""
    return {
        "method": f"{_BINS} quantile bins plus missing; PSI limits {LIMITS}",
        "features": {n: _entry(x[:, i].astype(np.float64)) for i, n in enumerate(names)},
        "score": _entry(np.asarray(scores, dtype=np.float64)),
        "alert_rates": alert_rates,
    }


def psi(shares: list[float], counts: np.ndarray) -> float:
    """Population stability index of live ``counts`` against reference ``shares``."""
    ref = np.maximum(np.asarray(shares), _FLOOR)
    live = np.maximum(counts / max(counts.sum(), 1), _FLOOR)
    return float(np.sum((live - ref) * np.log(live / ref)))


@dataclass(frozen=True)
class DriftReport:
    """PSI per feature and for the score, the flagged features, and the alert rates."""

    events: int
    features: dict[str, float]
    score: float
    alert_rates: dict[str, float]
    expected_alert_rates: dict[str, float]

    @property
    def flagged(self) -> dict[str, str]:
        """Features over the limits: ``"moderate"`` (PSI > 0.1) or ``"major"`` (> 0.25)."""
        return {
            name: "major" if value > LIMITS[1] else "moderate"
            for name, value in self.features.items()
            if value > LIMITS[0]
        }

    def to_dict(self) -> dict[str, Any]:
        return {
            "events": self.events,
            "psi": self.features,
            "score_psi": self.score,
            "flagged": self.flagged,
            "alert_rates": self.alert_rates,
            "expected_alert_rates": self.expected_alert_rates,
        }


def drift_report(
    ref: dict[str, Any],
    names: tuple[str, ...],
    x: np.ndarray,
    scores: np.ndarray,
    thresholds: Any,
) -> DriftReport:
    """The report of live features ``x`` (rows; columns ``names``, the model's order, while the
    manifest keeps the reference by name) and scores."""
    features = {}
    for i, name in enumerate(names):
        entry = ref["features"][name]
        features[name] = psi(entry["shares"], _counts(x[:, i], np.asarray(entry["edges"])))
    score_ref = ref["score"]
    score = psi(score_ref["shares"], _counts(scores, np.asarray(score_ref["edges"])))
    n = len(scores)
    rates = {
        "review": float((scores >= thresholds.review).mean()) if n else float("nan"),
        "block": float((scores >= thresholds.block).mean()) if n else float("nan"),
    }
    return DriftReport(n, features, score, rates, dict(ref["alert_rates"]))


class DriftTracker:
    """Running counts of a scorer's live features and scores against a bundle's reference."""

    def __init__(self, ref: dict[str, Any], names: tuple[str, ...], thresholds: Any) -> None:
        """``names``: the features of each row given to :meth:`add`, in order."""
        self.ref = ref
        self.thresholds = thresholds
        self._names = list(names)
        self._edges = [np.asarray(ref["features"][n]["edges"]) for n in self._names]
        self._score_edges = np.asarray(ref["score"]["edges"])
        self._counts = [np.zeros(len(e) + 2, dtype=np.int64) for e in self._edges]
        self._score_counts = np.zeros(len(self._score_edges) + 2, dtype=np.int64)
        self._alerts = np.zeros(2, dtype=np.int64)
        self._n = 0
        self._buffer: list[tuple[list[float], float]] = []
        self._lock = threading.Lock()

    def add(self, x: list[float], score: float) -> None:
        """One scored event: one list append (atomic under the GIL); every ``_FLUSH`` events
        are binned at once."""
        self._buffer.append((x, score))
        if len(self._buffer) >= _FLUSH:
            self.flush()

    def flush(self) -> None:
        with self._lock:
            buffer, self._buffer = self._buffer, []
            if not buffer:
                return
            x = np.asarray([row for row, _ in buffer], dtype=np.float64)
            s = np.asarray([score for _, score in buffer], dtype=np.float64)
            for i, edges in enumerate(self._edges):
                self._counts[i] += _counts(x[:, i], edges)
            self._score_counts += _counts(s, self._score_edges)
            self._alerts += [
                (s >= self.thresholds.review).sum(),
                (s >= self.thresholds.block).sum(),
            ]
            self._n += len(s)

    def report(self) -> DriftReport:
        self.flush()
        with self._lock:
            features = {
                n: psi(self.ref["features"][n]["shares"], c)
                for n, c in zip(self._names, self._counts, strict=True)
            }
            score = psi(self.ref["score"]["shares"], self._score_counts)
            n = max(self._n, 1)
            rates = {"review": float(self._alerts[0] / n), "block": float(self._alerts[1] / n)}
            return DriftReport(self._n, features, score, rates, dict(self.ref["alert_rates"]))
