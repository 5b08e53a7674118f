"""Evaluation: a bundle and its kind's baselines scored on a test window, by the kind's protocol.

Each kind declares its protocol (``EventKind.protocol``): which rows a test window scores (for
transactions, the fraud-detection handbook's, dropping the cards already known compromised:
``_kinds/transaction/evaluation.py``), its baselines, and its metrics. Baselines are trained on
the bundle's own training window.

:func:`evaluate` returns an :class:`Evaluation`: those metrics and one row per test event (ids,
label, every model's score, the decision and the top reason codes), which analysts and the
report read.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import numpy as np

from fraudscore._errors import TrainingError
from fraudscore._kinds import kind_spec
from fraudscore._model.bundle import Bundle, load_bundle
from fraudscore._model.fit import TrainConfig
from fraudscore._model.runtime import OnnxModel
from fraudscore._serving.reasons import ReasonCatalogue

if TYPE_CHECKING:
    import pandas as pd

    from fraudscore._training.offline import OfflineFeatures

__all__ = ["Evaluation", "KnownCompromised", "default_windows", "evaluate"]

#: Which cards a transaction test day drops as already known compromised
#: (``_kinds/transaction/evaluation.py``); other kinds ignore it.
KnownCompromised = Literal["handbook", "all-history"]
#: Reason codes per test event in :attr:`Evaluation.scores`.
_TOP_REASONS = 3


@dataclass(frozen=True)
class Evaluation:
    """A bundle and its baselines scored on a test window.

    ``metrics`` is the JSON-ready summary. ``scores`` has one row per test event: its id,
    timestamp, entity ids and label, ``score`` (the model), ``score_<baseline>`` for each
    baseline, the model's ``decision`` at the bundle's thresholds and ``reason_1..3``, its top
    reason codes. ``contributions`` holds the model's per-feature contributions of those rows
    (log-odds; the last column is the bias).
    """

    bundle: Bundle
    metrics: dict[str, Any]
    scores: pd.DataFrame
    contributions: np.ndarray

    @property
    def kind(self) -> str:
        return self.bundle.kind

    def write_scores(self, path: str | Path) -> Path:
        """Write :attr:`scores` as parquet and return the path."""
        out = Path(path)
        out.parent.mkdir(parents=True, exist_ok=True)
        self.scores.to_parquet(out, index=False)
        return out


def evaluate(
    bundle: Bundle | str | Path,
    features: OfflineFeatures,
    start: date,
    end: date,
    *,
    known_compromised: KnownCompromised = "handbook",
    config: TrainConfig | None = None,
) -> Evaluation:
    """Score ``bundle`` and its baselines on the test days ``[start, end]`` (inclusive).

    ``features`` come from :func:`fraudscore.build_features` on a history that covers the
    bundle's training window and the test window. ``known_compromised`` picks the rule for
    transactions (see ``_kinds/transaction/evaluation.py``); logins ignore it.
    """
    loaded = bundle if isinstance(bundle, Bundle) else load_bundle(bundle)
    kind = kind_spec(loaded.kind)
    if features.kind != kind.name:
        raise TrainingError(f"the bundle scores {kind.name}s, the features are {features.kind}s")
    window = loaded.manifest["training_window"]
    train_start = date.fromisoformat(window["start"])
    train_end = date.fromisoformat(window["end"])
    if start <= train_end:
        raise TrainingError(f"test start {start} must come after the training end {train_end}")
    if end < start:
        raise TrainingError(f"test end {end} is before test start {start}")
    frame = features.frame
    protocol = kind.protocol
    test = protocol.test_rows(frame, start, end, train_start, train_end, known_compromised)
    baselines = protocol.baselines(frame, test, train_start, train_end, config, kind.features)
    model = OnnxModel(loaded.model_bytes, len(kind.features))
    scores, contributions = model.run(test[list(kind.features)].to_numpy(np.float64))
    models = {"model": protocol.metrics(test, scores)} | {
        name: protocol.metrics(test, s) for name, s in baselines.items()
    }
    summary = {
        "kind": kind.name,
        "test_window": {"start": str(start), "end": str(end)},
        "training_window": {"start": str(train_start), "end": str(train_end)},
        "label_delay_gap_days": (start - train_end).days - 1,
        **protocol.summary(test, known_compromised),
        "model_version": loaded.version,
        "models": models,
    }
    per_event = test[[kind.id_field, "timestamp", *kind.context_columns, kind.label]].reset_index(
        drop=True
    )
    per_event["score"] = scores
    for name, s in baselines.items():
        per_event[f"score_{name}"] = np.asarray(s, dtype=np.float64)
    t = loaded.thresholds
    per_event["decision"] = t.decisions(scores, kind.decisions)
    catalogue = ReasonCatalogue(loaded.manifest["catalogue"], loaded.features, loaded.path)
    top = catalogue.top_codes(contributions, _TOP_REASONS)
    for i in range(_TOP_REASONS):
        per_event[f"reason_{i + 1}"] = [codes[i] if len(codes) > i else None for codes in top]
    return Evaluation(loaded, summary, per_event, contributions)


def default_windows(
    frame: pd.DataFrame, train_days: int = 35, gap_days: int = 7, test_days: int = 7
) -> tuple[date, date, date, date]:
    """(train_start, train_end, test_start, test_end) ending at the frame's last full day, with
    ``gap_days`` of label delay between training and test."""
    last = frame["timestamp"].max().date() - timedelta(days=1)
    test_end = last
    test_start = test_end - timedelta(days=test_days - 1)
    train_end = test_start - timedelta(days=gap_days + 1)
    train_start = train_end - timedelta(days=train_days - 1)
    return train_start, train_end, test_start, test_end
