"""The defence remembers its own suspicion: what was served becomes state later events read.

``record(event, decided)`` folds the served decision in: a flagged (reviewed or blocked) event
counts in its card's or account's ``*_flagged_1d`` and builds no familiarity (a declined
purchase is not a use of the terminal; a challenged login is not a trusted one). Offline, a
``decision`` column does the same, and ``with_decisions`` gives a simulated history the
decisions of a prior model without leaking the future.
"""

from __future__ import annotations

import math
import sqlite3
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from fraudscore import (
    BadRowsError,
    EventValidationError,
    Login,
    OfflineFeatures,
    Scorer,
    Transaction,
    build_features,
    load_bundle,
    score_frame,
    with_decisions,
)
from fraudscore._kinds import LOGIN, TRANSACTION

from .conftest import CUTOFF
from .memory import MemorySource

T0 = datetime(2018, 6, 1, 12, 0, tzinfo=UTC)


def row(scorer: Scorer, event: object, names: tuple[str, ...]) -> dict[str, float]:
    """The named features ``scorer`` computes for ``event`` from its store now."""
    x = scorer._row(
        event, scorer.source.read_one(scorer.kind.keys(event)), scorer.kind.keys(event)
    )[0]
    return {n: float(x[scorer.kind.features.index(n)]) for n in names}


def tx(i: int, minutes: float, terminal: str = "T1") -> Transaction:
    return Transaction(
        f"t{i}", T0 + timedelta(minutes=minutes), "C1", terminal, 40.0, channel="pos"
    )


FAMILIARITY = ("ct_n_30d", "ct_secs_since_last", "cust_flagged_1d", "cust_n_1d")


def decayed(minutes: list[float], at: float, days: float) -> float:
    """sum exp(-(at - m) / tau) over events at ``minutes``, tau ``days``."""
    return sum(math.exp(-(at - m) * 60.0 / (days * 86400.0)) for m in minutes)


def test_a_refused_purchase_is_suspicion_not_familiarity(bundle_dir: Path) -> None:
    """A reviewed or declined purchase counts in the card's flagged attempts and its velocity,
    never in its familiarity with the terminal; an approved one (or one recorded without a
    decision) builds familiarity and no suspicion. A ScoreResult is read for its decision."""
    scorer = Scorer(load_bundle(bundle_dir), MemorySource(TRANSACTION.views))
    probe = tx(99, 100)
    scorer.record(tx(1, 0), "decline")
    scorer.record(tx(2, 1), replace(scorer.score(tx(2, 1)), decision="review"))
    after_refused = row(scorer, probe, FAMILIARITY)
    assert after_refused["ct_n_30d"] == 0.0 and math.isnan(after_refused["ct_secs_since_last"])
    assert after_refused["cust_flagged_1d"] == pytest.approx(decayed([0, 1], 100, 1))
    assert after_refused["cust_n_1d"] == pytest.approx(decayed([0, 1], 100, 1))  # velocity
    scorer.record(tx(3, 2), "approve")
    scorer.record(tx(4, 3))  # no decision: let through
    after = row(scorer, probe, FAMILIARITY)
    assert after["ct_n_30d"] == pytest.approx(decayed([2, 3], 100, 30))
    assert after["ct_secs_since_last"] == pytest.approx(97 * 60.0)
    assert after["cust_flagged_1d"] == pytest.approx(after_refused["cust_flagged_1d"])
    assert after["cust_n_1d"] == pytest.approx(decayed([0, 1, 2, 3], 100, 1))


def test_a_challenged_login_builds_no_trust(login_bundle_dir: Path) -> None:
    """A successful login that was challenged or denied counts as flagged and as an attempt,
    but not as a success with its device, country or network; an allowed one does."""
    scorer = Scorer(load_bundle(login_bundle_dir), MemorySource(LOGIN.views))

    def login(i: int, minutes: float) -> Login:
        return Login(
            f"l{i}", T0 + timedelta(minutes=minutes), "U1", "198.51.100.7", "DE", 3320,
            "curl/8", True, device_id="d1",
        )  # fmt: skip

    names = ("device_succ_90d", "user_succ_90d", "user_flagged_1d", "user_n_1d")
    scorer.record(login(1, 0), "challenge")
    scorer.record(login(2, 1), "deny")
    got = row(scorer, login(99, 100), names)
    assert got["device_succ_90d"] == 0.0 and got["user_succ_90d"] == 0.0
    assert got["user_flagged_1d"] == pytest.approx(decayed([0, 1], 100, 1))
    assert got["user_n_1d"] == pytest.approx(decayed([0, 1], 100, 1))
    scorer.record(login(3, 2), "allow")
    got = row(scorer, login(99, 100), names)
    assert got["device_succ_90d"] == pytest.approx(decayed([2], 100, 90))
    assert got["user_succ_90d"] == pytest.approx(decayed([2], 100, 90))


def dump(repo: Path) -> list[tuple[object, ...]]:
    conn = sqlite3.connect(repo / "data" / "online_store.db")
    tables = [r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")]
    return [r for t in sorted(tables) for r in conn.execute(f'SELECT * FROM "{t}" ORDER BY 1, 2')]


@pytest.mark.parametrize(
    ("call", "shown"),
    [
        (lambda s, e: s.record(e, "block"), "block"),  # a login's word, or none at all
        (lambda s, e: s.record(e, 1), "1"),
        (lambda s, e: s.record_many([e, e], ["approve"]), "1 decisions"),
        (lambda s, e: s.record_many([e], "approve"), "str"),
        (lambda s, e: s.record_many([e, replace(e, amount=-1.0)], ["approve", "review"]), "-1"),
    ],
)
def test_record_refuses_a_bad_decision_and_changes_nothing(
    scorer: Scorer, repo: Path, call: object, shown: str
) -> None:
    """A decision that is not the kind's, or not one per event, is refused by name before any
    write; the store is unchanged."""
    before = dump(repo)
    event = tx(1, 0)
    with pytest.raises(EventValidationError) as info:
        call(scorer, event)  # type: ignore[operator]
    assert info.value.field in ("decided", "amount") and shown in str(info.value)
    assert dump(repo) == before


def test_a_frame_decision_must_be_the_kinds(sim: pd.DataFrame) -> None:
    """Offline, a ``decision`` that is not one of the kind's is a bad row, named."""
    frame = sim.head(20).assign(decision=["approve"] * 19 + ["deny"])
    with pytest.raises(BadRowsError, match="decision"):
        build_features(frame)
    ok = sim.head(20).assign(decision=[None] * 10 + ["approve", "review", "decline"] * 3 + [None])
    assert (build_features(ok).frame["decision"].notna().sum()) == 9


def test_with_decisions_are_the_prior_models_and_use_only_the_past(
    sim: pd.DataFrame, bundle_dir: Path, offline: OfflineFeatures
) -> None:
    """Each event from ``since`` on gets the bundle's decision on its own features (the same as
    scoring the fold at the bundle's thresholds); earlier events get none; and a decision never
    depends on what comes after its event: cutting the history later changes no decision."""
    since = CUTOFF.to_pydatetime()
    decided = with_decisions(sim, bundle_dir, since=since)
    assert len(decided) == len(sim) and (decided.index == sim.index).all()
    after = (decided["timestamp"] >= CUTOFF).to_numpy()
    assert decided.loc[~after, "decision"].isna().all()
    assert decided.loc[after, "decision"].isin(TRANSACTION.decisions).all()
    t = load_bundle(bundle_dir).thresholds
    scores = score_frame(bundle_dir, offline)["score"].to_numpy()
    want = np.where(scores >= t.block, "decline", np.where(scores >= t.review, "review", "approve"))
    by_id = dict(zip(offline.frame["transaction_id"], want, strict=True))
    got = decided.loc[after]
    assert (got["decision"] == got["transaction_id"].map(by_id)).all()
    assert got["decision"].ne("approve").any()  # the prior model flags some
    cut = CUTOFF + pd.Timedelta(days=1)
    early = with_decisions(sim[sim["timestamp"] < cut], bundle_dir, since=since)
    pd.testing.assert_series_equal(
        early["decision"], decided.loc[decided["timestamp"] < cut, "decision"]
    )


def test_decided_history_feeds_suspicion_features(sim: pd.DataFrame, bundle_dir: Path) -> None:
    """Folded with its decisions, a history's flagged events raise their card's
    ``cust_flagged_1d`` for the events after them, and nothing before ``since`` moves."""
    decided = with_decisions(sim, bundle_dir, since=CUTOFF.to_pydatetime())
    plain = build_features(sim).frame
    folded = build_features(decided).frame
    before = (folded["timestamp"] < CUTOFF).to_numpy()
    assert (plain.loc[before, "cust_flagged_1d"] == 0).all()
    assert (folded.loc[before, "cust_flagged_1d"] == 0).all()
    assert (folded.loc[~before, "cust_flagged_1d"] > 0).any()
    # The first event of every card is unchanged, and a card never flagged, on no device a
    # flagged payment came from, keeps its features.
    flagged = decided["decision"].isin(["review", "decline"])
    flagged_cards = set(decided.loc[flagged, "customer_id"])
    flagged_devices = set(decided.loc[flagged, "device_id"].dropna())
    assert flagged_devices  # the device's suspicion is shared by its cards: some are excluded
    calm = ~(
        folded["customer_id"].isin(flagged_cards) | folded["device_id"].isin(flagged_devices)
    ).to_numpy()
    pd.testing.assert_frame_equal(
        folded.loc[calm, list(TRANSACTION.features)], plain.loc[calm, list(TRANSACTION.features)]
    )


def test_the_starter_rules_decline_a_card_flagged_twice_today(bundle_dir: Path) -> None:
    """With the starter rules, a card whose last two attempts were held or declined is declined
    next at a terminal it has not used (REPEATEDLY_FLAGGED), whatever the model says; one flag,
    two a week ago, or a terminal the card knows, is not enough."""
    from fraudscore import starter_rules

    scorer = Scorer(
        load_bundle(bundle_dir),
        MemorySource(TRANSACTION.views),
        rules=starter_rules("transaction"),
    )
    probe = tx(99, 60)
    scorer.record(tx(1, 0), "decline")
    once = scorer.score(probe)
    assert once.rule != "repeatedly_flagged"
    scorer.record(tx(2, 1), "review")
    twice = scorer.score(probe)
    assert twice.rule == "repeatedly_flagged" and twice.decision == "decline"
    assert twice.reasons[0].code == "REPEATEDLY_FLAGGED"
    later = replace(probe, timestamp=probe.timestamp + timedelta(days=7))
    assert scorer.score(later).rule != "repeatedly_flagged"
    scorer.record(replace(tx(3, 2), terminal_id="T2"), "approve")  # the card uses T2
    assert scorer.score(replace(probe, terminal_id="T2")).rule != "repeatedly_flagged"
    assert scorer.score(replace(probe, terminal_id="T3")).rule == "repeatedly_flagged"
