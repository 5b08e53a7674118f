"""The offline pipeline: point-in-time correctness of every training row."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from fraudscore._kinds import TRANSACTION
from fraudscore._kinds.transaction import FEATURES
from fraudscore._kinds.transaction.frames import prepare_transactions
from fraudscore._training.offline import OfflineFeatures, fold_history


def test_frame_has_one_row_per_transaction_in_time_order(
    sim: pd.DataFrame, offline: OfflineFeatures
) -> None:
    """Every transaction has exactly one row, sorted by time, with every model feature."""
    frame = offline.frame
    assert len(frame) == len(sim)
    assert set(frame["transaction_id"]) == set(sim["transaction_id"])
    assert frame["timestamp"].is_monotonic_increasing
    assert all(f in frame.columns for f in FEATURES)


def test_features_match_brute_force_over_strictly_earlier_events(offline: OfflineFeatures) -> None:
    """Card counts use only earlier transactions; terminal fraud counts only labels known by then."""
    frame = offline.frame
    t = frame["timestamp"].array.asi8 / 1e9
    lt = frame["label_time"].array.asi8 / 1e9
    rng = np.random.default_rng(0)
    for i in rng.choice(len(frame), 40, replace=False):
        row = frame.iloc[i]
        same_card = (frame["customer_id"] == row.customer_id).to_numpy()
        earlier = np.arange(len(frame)) < i
        prior = same_card & earlier
        expect_n1d = np.exp(-(t[i] - t[prior]) / 86400.0).sum()
        assert row.cust_n_1d == pytest.approx(expect_n1d, rel=1e-9, abs=1e-12)
        same_term = (frame["terminal_id"] == row.terminal_id).to_numpy()
        known = same_term & (frame["is_fraud"] == 1).to_numpy() & (lt <= t[i])
        expect_f7 = np.exp(-(t[i] - lt[known]) / (7 * 86400.0)).sum()
        assert row.term_fraud_7d == pytest.approx(expect_f7, rel=1e-9, abs=1e-12)
        if prior.any():
            assert row.cust_secs_since_last == pytest.approx(t[i] - t[prior].max())
        else:
            assert np.isnan(row.cust_secs_since_last)


def test_truncating_the_future_changes_no_training_row(
    sim: pd.DataFrame, offline: OfflineFeatures
) -> None:
    """A row's features are the same when every later event and every unknown label is removed."""
    frame = offline.frame
    rng = np.random.default_rng(1)
    for i in rng.choice(np.arange(len(frame) // 2, len(frame)), 5, replace=False):
        t_i = frame["timestamp"].iloc[i]
        past = (
            sim.set_index("transaction_id").loc[frame["transaction_id"].iloc[: i + 1]].reset_index()
        )
        # Labels not yet known at t_i become "not fraud": the row must not depend on them.
        unknown = past["label_time"] > t_i
        past.loc[unknown, "is_fraud"] = 0
        truncated = fold_history(TRANSACTION, prepare_transactions(past)).frame
        mine = truncated[truncated["transaction_id"] == frame["transaction_id"].iloc[i]]
        np.testing.assert_allclose(
            mine[list(FEATURES)].to_numpy()[0], frame[list(FEATURES)].to_numpy()[i], rtol=1e-12
        )


def test_label_at_the_same_instant_counts_but_a_later_one_does_not() -> None:
    """A fraud label whose label_time equals an event's time is used; one a second later is not."""
    ts = pd.Timestamp("2018-04-01", tz="UTC")
    df = pd.DataFrame(
        {
            "transaction_id": ["a", "b", "c"],
            "timestamp": [ts, ts + pd.Timedelta(days=2), ts + pd.Timedelta(days=3)],
            "customer_id": ["C1", "C2", "C3"],
            "terminal_id": ["T1", "T1", "T1"],
            "amount": [10.0, 20.0, 30.0],
            "is_fraud": [1, 0, 0],
            "label_time": [
                ts + pd.Timedelta(days=2),
                ts + pd.Timedelta(days=9),
                ts + pd.Timedelta(days=9),
            ],
        }
    )
    frame = fold_history(TRANSACTION, prepare_transactions(df)).frame.set_index("transaction_id")
    assert frame.loc["b", "term_fraud_7d"] == pytest.approx(1.0)
    df.loc[0, "label_time"] = ts + pd.Timedelta(days=2, seconds=1)
    frame = fold_history(TRANSACTION, prepare_transactions(df)).frame.set_index("transaction_id")
    assert frame.loc["b", "term_fraud_7d"] == 0.0
    assert frame.loc["c", "term_fraud_7d"] == pytest.approx(np.exp(-(86399.0) / (7 * 86400.0)))


def test_entity_by_entity_fold_equals_rank_fold(
    login_sim: pd.DataFrame, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Folding every entity alone on floats gives the rank-by-rank array fold's features."""
    import fraudscore._training.offline as offline
    from fraudscore._kinds import LOGIN
    from fraudscore._kinds.login.frames import prepare_logins

    prepared = prepare_logins(login_sim)
    monkeypatch.setattr(offline, "_HEAVY", 10**9)  # every entity folded by rank
    by_rank = offline.fold_history(LOGIN, prepared)
    monkeypatch.setattr(offline, "_HEAVY", 0)  # every entity folded alone
    alone = offline.fold_history(LOGIN, prepared)
    cols = list(LOGIN.features)
    np.testing.assert_allclose(
        alone.frame[cols].to_numpy(), by_rank.frame[cols].to_numpy(), rtol=1e-10
    )
    for name, hist in by_rank.history.items():
        fields = [c for c in hist.columns if hist[c].dtype == float]
        np.testing.assert_allclose(
            alone.history[name][fields].to_numpy(), hist[fields].to_numpy(), rtol=1e-10
        )
