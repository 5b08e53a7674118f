"""Reasons are the codes that drive the score: checked against an independent oracle (xgboost's
own Saabas contributions, summed per code by hand from the catalogue) and on events whose answer
is known by construction."""

from __future__ import annotations

import itertools
from dataclasses import replace
from datetime import timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import xgboost as xgb

from fraudscore import Scorer, Transaction
from fraudscore._kinds import LOGIN, TRANSACTION, EventKind
from fraudscore._training.offline import OfflineFeatures
from fraudscore._training.pipeline import to_events
from fraudscore._training.train import TrainedModel

from .conftest import CUTOFF, LOGIN_CUTOFF, capture_features


def oracle(
    booster: xgb.Booster, kind: EventKind, x: np.ndarray, k: int
) -> tuple[list[tuple[str, float]], float]:
    """(top-k positive codes with their summed contributions, the smallest gap between ranked
    sums) from xgboost's approx_contribs on one float32 feature row."""
    dm = xgb.DMatrix(x[None, :].astype(np.float32), feature_names=list(kind.features))
    contrib = booster.predict(dm, pred_contribs=True, approx_contribs=True)[0]
    sums: dict[str, float] = {}
    for code, spec in kind.catalogue["codes"].items():
        sums[code] = float(sum(contrib[kind.features.index(f)] for f in spec["features"]))
    ranked = sorted(((s, c) for c, s in sums.items() if s > 0), key=lambda p: (-p[0], p[1]))
    # How far the answer is from changing: gaps between neighbours up to rank k + 1, and sums
    # near zero (a code there may be in or out).
    gaps = [a[0] - b[0] for a, b in itertools.pairwise(ranked[: k + 1])]
    gaps += [abs(s) for s in sums.values() if s != 0.0]  # 0.0: features the trees never use
    return [(c, s) for s, c in ranked[:k]], min(gaps)


def check_against_oracle(scorer: Scorer, booster: xgb.Booster, events: list[Any]) -> int:
    captured = capture_features(scorer)
    checked = 0
    for event in events:
        result = scorer.score(event, max_reasons=4)
        want, gap = oracle(booster, scorer.kind, captured[-1], 4)
        if gap < 1e-4:  # a near-tie: float32 rounding may order either way
            continue
        assert [r.code for r in result.reasons] == [c for c, _ in want], event
        for r, (_, s) in zip(result.reasons, want):
            assert r.contribution == pytest.approx(s, rel=1e-4, abs=1e-4)
        checked += 1
    return checked


def test_transaction_reasons_are_the_top_positive_codes(
    scorer: Scorer, trained: TrainedModel, offline: OfflineFeatures
) -> None:
    """For 300 live transactions, the reasons are exactly the oracle's top-4 positive codes, in
    order, with its sums."""
    frame = offline.frame
    events = to_events(frame[frame["timestamp"] >= CUTOFF].head(300), TRANSACTION)
    assert check_against_oracle(scorer, trained.booster, events) > 250


def test_login_reasons_are_the_top_positive_codes(
    login_bundle_dir: Path,
    login_repo: Path,
    login_trained: TrainedModel,
    login_offline: OfflineFeatures,
) -> None:
    """The same for 300 live logins."""
    scorer = Scorer.open(login_bundle_dir, login_repo)
    frame = login_offline.frame
    events = to_events(frame[frame["timestamp"] >= LOGIN_CUTOFF].head(300), LOGIN)
    assert check_against_oracle(scorer, login_trained.booster, events) > 250


def regulars(offline: OfflineFeatures) -> list[Transaction]:
    """Live transactions of a card at a terminal it has used before, for an ordinary amount, with
    (almost) no fraud on record for either."""
    f = offline.frame
    live = f[(f["timestamp"] >= CUTOFF) & (f["is_fraud"] == 0) & (f["ct_n_30d"] > 1)]
    live = live[(live["term_fraud_30d"] < 0.5) & (live["cust_fraud_30d"] == 0)]
    live = live[(live["amt_ratio_30d"] > 0.7) & (live["amt_ratio_30d"] < 1.3)]
    assert len(live) >= 2
    return to_events(live, TRANSACTION)


def test_first_use_of_a_terminal_gives_that_code_first(
    scorer: Scorer, offline: OfflineFeatures
) -> None:
    """A regular card at a terminal it has never used: NEW_TERMINAL_FOR_CARD is the first reason,
    and the score rises."""
    for tx in regulars(offline):
        assert "NEW_TERMINAL_FOR_CARD" not in [r.code for r in scorer.score(tx).reasons]
        elsewhere = replace(tx, terminal_id=offline.frame["terminal_id"].iloc[-1])
        result = scorer.score(elsewhere)
        assert result.reasons[0].code == "NEW_TERMINAL_FOR_CARD", result.reasons
        assert result.score > scorer.score(tx).score


def test_a_tenfold_amount_gives_the_amount_code_first(
    scorer: Scorer, offline: OfflineFeatures
) -> None:
    """The same regular transactions for 10x the card's usual amount: AMOUNT_UNUSUAL first, and
    the score rises."""
    for tx in regulars(offline):
        big = replace(tx, amount=tx.amount * 10, timestamp=tx.timestamp + timedelta(seconds=1))
        result = scorer.score(big)
        assert result.reasons[0].code == "AMOUNT_UNUSUAL", result.reasons
        assert result.score > scorer.score(tx).score
