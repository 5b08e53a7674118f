"""Evaluation metrics (handbook protocol) and the model-vs-baselines report."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from fraudscore import TrainingError, load_bundle
from fraudscore._evaluate import (
    card_precision_at_k,
    evaluate_transactions,
    recall_at_fpr,
    select_test_rows,
)
from fraudscore._offline import OfflineFeatures


def test_card_precision_drops_cards_detected_on_earlier_days() -> None:
    """Per day, top-k cards by max score; a card caught on day 1 is not counted again on day 2."""
    test = pd.DataFrame(
        {
            "day": [1, 1, 1, 2, 2, 2],
            "customer_id": ["a", "b", "c", "a", "b", "c"],
            "is_fraud": [1, 0, 0, 1, 0, 1],
        }
    )
    scores = np.array([0.9, 0.8, 0.1, 0.95, 0.5, 0.4])
    # Day 1: top-1 = a (fraud) -> 1.0. Day 2: a dropped; top-1 = b (genuine) -> 0.0.
    assert card_precision_at_k(test, scores, k=1) == pytest.approx(0.5)


def test_recall_at_fpr() -> None:
    """Recall at 1% FPR is the best TPR whose FPR stays within 1%."""
    y = np.r_[np.ones(10), np.zeros(200)]
    s = np.r_[np.linspace(0.9, 0.5, 10), np.linspace(0.0, 0.7, 200)]
    # 1% of 200 negatives = 2 allowed: the cut sits at the 2nd-highest negative (0.6965),
    # above which 5 of the 10 positives lie.
    assert recall_at_fpr(y, s, 0.01) == pytest.approx(0.5)
    assert recall_at_fpr(y, s, 0.05) == pytest.approx(0.6)


def test_known_compromised_cards_are_dropped() -> None:
    """On a hand-built history, each test day keeps exactly the rows of cards with no fraud label
    known before that day's 00:00 UTC, written out here card by card and day by day."""
    ts = pd.Timestamp
    labels = {  # card -> (is_fraud on its 05-03 row, label_time of that fraud)
        "A": ts("2018-05-01 12:00", tz="UTC"),  # a fraud known before the window: never kept
        "B": ts("2018-05-04 09:00", tz="UTC"),  # known during 05-04: kept 05-03 and 05-04
        "C": ts("2018-05-04 00:00", tz="UTC"),  # known at 05-04 00:00 exactly: kept through 05-04
        "E": ts("2018-05-10 00:00", tz="UTC"),  # known after the window: kept every day
    }
    rows = []
    for card in "ABCDE":
        for day in ("2018-05-02", "2018-05-03", "2018-05-04", "2018-05-05", "2018-05-06"):
            fraud = card in labels and day == "2018-05-03"
            when = ts(f"{day} 10:00", tz="UTC")
            rows.append(
                {
                    "customer_id": card,
                    "timestamp": when,
                    "is_fraud": int(fraud),
                    "label_time": labels[card] if fraud else when + pd.Timedelta(days=7),
                }
            )
    # A's fraud is on 05-03 but labelled on 05-01 in this story: give it an earlier fraud row.
    rows.append(
        {
            "customer_id": "A",
            "timestamp": ts("2018-04-30 10:00", tz="UTC"),
            "is_fraud": 1,
            "label_time": labels["A"],
        }
    )
    test = select_test_rows(pd.DataFrame(rows), date(2018, 5, 3), date(2018, 5, 5))
    kept = sorted(zip(test["customer_id"], test["timestamp"].dt.strftime("%m-%d")))
    assert kept == [
        ("B", "05-03"), ("B", "05-04"),
        ("C", "05-03"), ("C", "05-04"),
        ("D", "05-03"), ("D", "05-04"), ("D", "05-05"),
        ("E", "05-03"), ("E", "05-04"), ("E", "05-05"),
    ]  # fmt: skip
    assert test["is_fraud"].sum() == 3  # B, C and E's frauds of 05-03


def test_report_metrics_belong_to_their_models(bundle_dir: Path, offline: OfflineFeatures) -> None:
    """The model's metrics are those of the bundle's own graph on the test rows, computed here
    with sklearn, and differ from each baseline's."""
    from sklearn.metrics import average_precision_score, roc_auc_score

    from fraudscore._model import OnnxModel
    from fraudscore._transaction import FEATURES

    bundle = load_bundle(bundle_dir)
    report = evaluate_transactions(bundle, offline.frame, date(2018, 5, 3), date(2018, 5, 9))
    test = select_test_rows(offline.frame, date(2018, 5, 3), date(2018, 5, 9))
    scores, _ = OnnxModel(bundle.model_bytes, len(FEATURES)).run(
        test[list(FEATURES)].to_numpy(np.float32)
    )
    model = report["models"]["model"]
    assert model["average_precision"] == pytest.approx(
        average_precision_score(test["is_fraud"], scores)
    )
    assert model["roc_auc"] == pytest.approx(roc_auc_score(test["is_fraud"], scores))
    for name in ("baseline_logistic_regression", "baseline_xgboost_raw_fields"):
        assert report["models"][name]["average_precision"] != pytest.approx(
            model["average_precision"]
        )


def test_report_has_four_metrics_for_model_and_both_baselines(
    bundle_dir: Path, offline: OfflineFeatures
) -> None:
    """evaluate returns the four metrics for the model and each baseline, from one run."""
    report = evaluate_transactions(
        load_bundle(bundle_dir), offline.frame, date(2018, 5, 3), date(2018, 5, 9)
    )
    assert set(report["models"]) == {
        "model",
        "baseline_logistic_regression",
        "baseline_xgboost_raw_fields",
    }
    for metrics in report["models"].values():
        assert set(metrics) == {
            "roc_auc",
            "average_precision",
            "card_precision_at_100",
            "recall_at_1pct_fpr",
        }
        assert all(0.0 <= v <= 1.0 for v in metrics.values())
    with pytest.raises(TrainingError, match="after the training end"):
        evaluate_transactions(
            load_bundle(bundle_dir), offline.frame, date(2018, 4, 20), date(2018, 4, 25)
        )


def test_model_beats_both_baselines_on_default_data(tmp_path: Path) -> None:
    """On the default simulated data the model's average precision beats both baselines."""
    from fraudscore._evaluate import default_windows
    from fraudscore._pipeline import evaluate_file, offline_features, train_model
    from fraudscore._simulate import simulate_transactions

    data = simulate_transactions()
    offline = offline_features(data)
    train_start, train_end, test_start, test_end = default_windows(offline.frame)
    train_model(data, train_start, train_end, tmp_path / "b", offline=offline)
    report = evaluate_file(tmp_path / "b", data, test_start, test_end, offline=offline)
    ap = {name: m["average_precision"] for name, m in report["models"].items()}
    assert ap["model"] > ap["baseline_logistic_regression"]
    assert ap["model"] > ap["baseline_xgboost_raw_fields"]
