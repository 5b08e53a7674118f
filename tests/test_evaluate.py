"""Evaluation metrics (handbook protocol) and the model-vs-baselines report."""

from __future__ import annotations

from datetime import date, timedelta
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from fraudscore import (
    OfflineFeatures,
    Scorer,
    TrainingError,
    build_features,
    default_windows,
    evaluate,
    load_bundle,
    simulate_transactions,
    train_model,
)
from fraudscore._kinds.transaction.evaluation import card_precision_at_k, recall_at_fpr
from fraudscore._kinds.transaction.evaluation import test_rows as select_test_rows
from fraudscore._training.pipeline import replay
from tests.conftest import CUTOFF, TRAIN


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


def test_card_precision_divides_by_k_as_the_handbook_does() -> None:
    """A day with fewer than k cards still divides by k (the handbook's card_precision_top_k)."""
    test = pd.DataFrame({"day": [1, 1], "customer_id": ["a", "b"], "is_fraud": [1, 0]})
    assert card_precision_at_k(test, np.array([0.9, 0.1]), k=100) == pytest.approx(0.01)


def _compromise_story() -> pd.DataFrame:
    """Training days 05-01..05-03, label delay 05-04..05-05, test days 05-06..05-08.

    Every card has one genuine transaction on each test day (E's of 05-07 is a fraud), and:
    A: a fraud on 04-28, before training, labelled 04-29;
    B: a fraud on 05-02, in training, labelled 05-09 (after the test days);
    C: a fraud on 05-04, labelled the same day;
    D: a fraud on 05-05, labelled 05-07 10:00;
    E: the fraud of 05-07, labelled 05-14; F: never a fraud.
    """
    ts = pd.Timestamp
    frauds = {
        "A": ("2018-04-28", "2018-04-29 00:00"),
        "B": ("2018-05-02", "2018-05-09 00:00"),
        "C": ("2018-05-04", "2018-05-04 12:00"),
        "D": ("2018-05-05", "2018-05-07 10:00"),
    }
    rows = []
    for card in "ABCDEF":
        for day in ("2018-05-06", "2018-05-07", "2018-05-08"):
            when = ts(f"{day} 10:00", tz="UTC")
            fraud = card == "E" and day == "2018-05-07"
            label = ts("2018-05-14", tz="UTC") if fraud else when + pd.Timedelta(days=7)
            rows.append((card, when, int(fraud), label))
        if card in frauds:
            day, known = frauds[card]
            rows.append((card, ts(f"{day} 09:00", tz="UTC"), 1, ts(known, tz="UTC")))
    return pd.DataFrame(rows, columns=["customer_id", "timestamp", "is_fraud", "label_time"])


def _kept(rule: str) -> list[str]:
    test = select_test_rows(
        _compromise_story(),
        date(2018, 5, 6),
        date(2018, 5, 8),
        train_start=date(2018, 5, 1),
        train_end=date(2018, 5, 3),
        known_compromised=rule,  # type: ignore[arg-type]
    )
    return sorted(f"{c}{d}" for c, d in zip(test["customer_id"], test["timestamp"].dt.day))


def test_handbook_rule_drops_cards_with_frauds_since_training_start_up_to_day_minus_delay() -> None:
    """Handbook: on day D a card is dropped when it had a fraud on a day from the training start
    to D minus the delay (3 days here); earlier frauds and labels' own times do not matter."""
    assert _kept("handbook") == [
        "A6", "A7", "A8",  # its fraud predates the training window
        # B: fraud on a training day, dropped every day
        "C6",  # fraud on 05-04: known from 05-07
        "D6", "D7",  # fraud on 05-05: known from 05-08
        "E6", "E7", "E8",  # its fraud is in the test window itself
        "F6", "F7", "F8",
    ]  # fmt: skip


def test_all_history_rule_drops_cards_once_any_fraud_label_is_known() -> None:
    """all-history: a card is dropped from the first day that starts after any of its fraud
    labels became known, wherever the fraud lies in history."""
    assert _kept("all-history") == [
        "B6", "B7", "B8",  # labelled only on 05-09
        "D6", "D7",  # labelled 05-07 10:00: dropped from 05-08
        "E6", "E7", "E8",
        "F6", "F7", "F8",
    ]  # fmt: skip


def test_evaluation_metrics_and_scores_belong_to_their_models(
    bundle_dir: Path, offline: OfflineFeatures
) -> None:
    """The model's metrics are those of the bundle's own graph on the test rows, computed here
    with sklearn from the per-event scores, and differ from each baseline's."""
    from sklearn.metrics import average_precision_score, roc_auc_score

    from fraudscore._kinds.transaction import FEATURES
    from fraudscore._model.runtime import OnnxModel

    bundle = load_bundle(bundle_dir)
    result = evaluate(bundle, offline, date(2018, 5, 3), date(2018, 5, 9))
    test = select_test_rows(offline.frame, date(2018, 5, 3), date(2018, 5, 9), *TRAIN)
    scores, _ = OnnxModel(bundle.model_bytes, len(FEATURES)).run(
        test[list(FEATURES)].to_numpy(np.float32)
    )
    assert result.scores["transaction_id"].tolist() == test["transaction_id"].tolist()
    np.testing.assert_allclose(result.scores["score"], scores, rtol=0, atol=1e-12)
    model = result.metrics["models"]["model"]
    y = test["is_fraud"]
    assert model["average_precision"] == pytest.approx(average_precision_score(y, scores))
    assert model["roc_auc"] == pytest.approx(roc_auc_score(y, scores))
    for name in ("baseline_logistic_regression", "baseline_xgboost_raw_fields"):
        baseline = result.metrics["models"][name]["average_precision"]
        assert baseline == pytest.approx(average_precision_score(y, result.scores[f"score_{name}"]))
        assert baseline != pytest.approx(model["average_precision"])


def test_evaluation_has_four_metrics_for_model_and_both_baselines(
    bundle_dir: Path, offline: OfflineFeatures
) -> None:
    """evaluate returns the four metrics for the model and each baseline, from one run."""
    report = evaluate(bundle_dir, offline, date(2018, 5, 3), date(2018, 5, 9)).metrics
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
    assert report["known_compromised"] == "handbook"
    with pytest.raises(TrainingError, match="after the training end"):
        evaluate(bundle_dir, offline, date(2018, 4, 20), date(2018, 4, 25))


def test_per_event_scores_match_the_online_scorer(
    bundle_dir: Path, offline: OfflineFeatures, scorer: Scorer, tmp_path: Path
) -> None:
    """Each test event's row in --scores-out carries the score, decision and top reason codes
    that the online scorer gives the same event when the day is replayed live."""
    result = evaluate(bundle_dir, offline, date(2018, 5, 8), date(2018, 5, 9))
    path = result.write_scores(tmp_path / "scores.parquet")
    written = pd.read_parquet(path).set_index("transaction_id")
    assert list(written.columns) == [
        "timestamp", "customer_id", "terminal_id", "amount", "is_fraud", "score",
        "score_baseline_logistic_regression", "score_baseline_xgboost_raw_fields",
        "decision", "reason_1", "reason_2", "reason_3",
    ]  # fmt: skip
    start = CUTOFF.to_pydatetime()
    live = replay(scorer, offline.frame, start, start + timedelta(days=1))
    compared = 0
    for event, online in live:
        if event.transaction_id not in written.index:
            continue  # a known-compromised card, dropped from the test set
        row = written.loc[event.transaction_id]
        assert row["score"] == pytest.approx(online.score, abs=1e-6)
        assert row["decision"] == online.decision
        codes = [r.code for r in online.reasons[:3]]
        assert [c for c in row[["reason_1", "reason_2", "reason_3"]] if c] == codes
        compared += 1
    assert compared >= 20  # the small simulation has about 30 events a day


def test_model_beats_both_baselines_on_default_data(tmp_path: Path) -> None:
    """On the default simulated data the model's average precision beats both baselines."""
    data = simulate_transactions()
    features = build_features(data)
    train_start, train_end, test_start, test_end = default_windows(features.frame)
    train_model(features, train_start, train_end, tmp_path / "b")
    report = evaluate(tmp_path / "b", features, test_start, test_end).metrics
    ap = {name: m["average_precision"] for name, m in report["models"].items()}
    assert ap["model"] > ap["baseline_logistic_regression"]
    assert ap["model"] > ap["baseline_xgboost_raw_fields"]
