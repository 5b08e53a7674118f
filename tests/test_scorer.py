"""The scorer: results, reasons, missing history, batch = single, threads, record and skew."""

from __future__ import annotations

import sqlite3
import threading
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from fraudscore import (
    ConfigError,
    EventValidationError,
    Label,
    Scorer,
    ScoreResult,
    Thresholds,
    Transaction,
)
from fraudscore._kinds.transaction import FEATURES, KIND
from fraudscore._state import ABSENT
from fraudscore._training.offline import OfflineFeatures
from fraudscore._training.pipeline import replay, to_events

from .conftest import CUTOFF, capture_features


def events_after_cutoff(offline: OfflineFeatures, n: int) -> list[Transaction]:
    frame = offline.frame
    return to_events(frame[frame["timestamp"] >= CUTOFF].head(n))


def dump(repo: Path) -> list[tuple[object, ...]]:
    conn = sqlite3.connect(repo / "data" / "online_store.db")
    tables = [r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")]
    return [
        row for t in sorted(tables) for row in conn.execute(f'SELECT * FROM "{t}" ORDER BY 1, 2')
    ]


def test_score_returns_a_complete_result(scorer: Scorer, offline: OfflineFeatures) -> None:
    """A result has a probability, a decision from the thresholds, ≤3 positive reasons, version."""
    for tx in events_after_cutoff(offline, 50):
        r = scorer.score(tx)
        assert isinstance(r, ScoreResult) and 0.0 <= r.score <= 1.0
        thr = scorer.thresholds
        expected = (
            "decline" if r.score >= thr.block else "review" if r.score >= thr.review else "approve"
        )
        assert r.decision == expected
        assert len(r.reasons) <= 3
        assert all(x.contribution > 0 for x in r.reasons)
        assert [x.contribution for x in r.reasons] == sorted(
            (x.contribution for x in r.reasons), reverse=True
        )
        assert all(x.text and "{" not in x.text for x in r.reasons)
        assert r.model_version == scorer.bundle.version and r.event_id == tx.transaction_id


def test_unknown_card_and_terminal_score_with_no_history(scorer: Scorer) -> None:
    """A never-seen card and terminal are scored (no exception) and flagged as missing state."""
    tx = Transaction(
        "new", datetime(2018, 5, 9, 3, tzinfo=UTC), "brand-new-card", "brand-new-term", 450.0
    )
    r = scorer.score(tx)
    assert set(r.missing_state) == {"customer_state", "terminal_state", "customer_terminal_state"}
    assert not r.has_full_history
    codes = {x.code: x.text for x in scorer.score(tx, max_reasons=4).reasons}
    # With no history, the reasons read their fallback sentences, never "nan".
    assert codes["AMOUNT_UNUSUAL"] == "amount 450.00 on a card with no spending history"
    assert codes["NEW_TERMINAL_FOR_CARD"] == "first time this card is used at this terminal"
    assert not any("nan" in text for text in codes.values())


def test_stale_state_is_flagged_and_read_as_no_history(
    scorer: Scorer, offline: OfflineFeatures
) -> None:
    """Scoring a known card a year later treats its state as stale: same score as a new card."""
    tx = events_after_cutoff(offline, 1)[0]
    later = replace(tx, timestamp=tx.timestamp + timedelta(days=365))
    r = scorer.score(later)
    # Every view of an entity the transaction carries (a card-present one sends no device).
    carried = {v.name for v, k in zip(KIND.views, KIND.keys(tx)) if ABSENT not in k}
    assert {"customer_state", "terminal_state", "customer_terminal_state"} <= carried
    assert set(r.stale_state) == carried
    fresh = replace(later, customer_id="never-seen", terminal_id="never-seen-either")
    assert scorer.score(fresh).score == pytest.approx(r.score)


def test_thresholds_and_reason_count_can_be_overridden(
    scorer: Scorer, offline: OfflineFeatures
) -> None:
    """Per-call thresholds change the decision; max_reasons bounds the reasons (0..4)."""
    tx = events_after_cutoff(offline, 1)[0]
    assert scorer.score(tx, thresholds=Thresholds(review=0.0, block=0.0)).decision == "decline"
    assert scorer.score(tx, thresholds=Thresholds(review=1.0, block=1.0)).decision == "approve"
    assert scorer.score(tx, max_reasons=0).reasons == ()
    assert len(scorer.score(tx, max_reasons=4).reasons) <= 4
    with pytest.raises(ConfigError, match="option 'max_reasons'"):
        scorer.score(tx, max_reasons=5)
    with pytest.raises(ConfigError, match="option 'thresholds.block'"):
        Thresholds(review=0.9, block=0.5)
    for bad in (True, float("nan"), 1.5, "0.5"):
        with pytest.raises(ConfigError, match="option 'thresholds.review'"):
            Thresholds(review=bad, block=1.0)  # type: ignore[arg-type]


def assert_same_results(batch: list[ScoreResult], single: list[ScoreResult]) -> None:
    """Equal results: scores and reason contributions to 1e-9, everything else exactly."""
    assert len(batch) == len(single)
    for b, s in zip(batch, single, strict=True):
        assert b.score == pytest.approx(s.score, rel=0, abs=1e-9)
        assert [r.contribution for r in b.reasons] == pytest.approx(
            [r.contribution for r in s.reasons], rel=0, abs=1e-9
        )
        assert replace(b, score=0.0, reasons=()) == replace(s, score=0.0, reasons=())
        assert [(r.code, r.text) for r in b.reasons] == [(r.code, r.text) for r in s.reasons]


@pytest.mark.kernel
@pytest.mark.parametrize("size", [1, 31, 32, 205, 9000])
def test_score_many_equals_score(scorer: Scorer, offline: OfflineFeatures, size: int) -> None:
    """Batch results equal scoring each event alone, duplicates included, on both sides of the
    switch to array features (32 events) and across read chunks (8,192)."""
    events = events_after_cutoff(offline, size)
    events = (events * (size // len(events) + 1))[:size]  # repeats when the day is short
    assert_same_results(scorer.score_many(events), [scorer.score(e) for e in events])


def test_scoring_from_threads_gives_serial_results(
    scorer: Scorer, offline: OfflineFeatures
) -> None:
    """Eight threads scoring concurrently get exactly the serial results."""
    events = events_after_cutoff(offline, 120)
    serial = [scorer.score(e) for e in events]
    out: dict[int, list[ScoreResult]] = {}

    def work(i: int) -> None:
        out[i] = [scorer.score(e) for e in events]

    threads = [threading.Thread(target=work, args=(i,)) for i in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert all(out[i] == serial for i in range(8))


def test_rejected_events_write_nothing(
    scorer: Scorer, repo: Path, offline: OfflineFeatures
) -> None:
    """A batch with one bad event is refused whole, and the online store is unchanged."""
    before = dump(repo)
    good = events_after_cutoff(offline, 3)
    with pytest.raises(EventValidationError):
        scorer.record_many([*good, {"amount": 5}])  # type: ignore[list-item]
    with pytest.raises(EventValidationError):
        scorer.record_label("chargeback")  # type: ignore[arg-type]
    with pytest.raises(EventValidationError):
        scorer.score({"transaction_id": "x"})
    assert dump(repo) == before


def test_record_changes_the_next_score(scorer: Scorer, offline: OfflineFeatures) -> None:
    """Recording an event moves its card's state: the same card's next event sees it."""
    tx = events_after_cutoff(offline, 1)[0]
    nxt = replace(tx, transaction_id="next", timestamp=tx.timestamp + timedelta(seconds=30))
    before = scorer.score(nxt)
    scorer.record(tx)
    after = scorer.score(nxt)
    assert before.score != after.score
    assert "customer_terminal_state" not in after.missing_state


def test_genuine_label_changes_nothing(
    scorer: Scorer, repo: Path, offline: OfflineFeatures
) -> None:
    """A genuine (is_fraud=False) label leaves state untouched; a fraud label changes it."""
    tx = events_after_cutoff(offline, 1)[0]
    before = dump(repo)
    scorer.record_label(
        Label(tx.transaction_id, tx.customer_id, tx.terminal_id, tx.timestamp, False)
    )
    assert dump(repo) == before
    scorer.record_label(
        Label(tx.transaction_id, tx.customer_id, tx.terminal_id, tx.timestamp, True)
    )
    assert dump(repo) != before


def test_skew_online_replay_equals_offline_frame(
    bundle_dir: Path, repo: Path, offline: OfflineFeatures
) -> None:
    """Replaying the stream through record/record_label gives the offline features at every event."""
    frame = offline.frame
    start = CUTOFF.to_pydatetime()
    end = (CUTOFF + pd.Timedelta(days=3)).to_pydatetime()
    scorer = Scorer.open(bundle_dir, repo)
    captured = capture_features(scorer)
    results = replay(scorer, frame, start, end)
    online = np.vstack(captured)
    ids = [tx.transaction_id for tx, _ in results]
    assert len(ids) > 300
    expected = frame.set_index("transaction_id").loc[ids, list(FEATURES)].to_numpy()
    np.testing.assert_allclose(online, expected, rtol=1e-9, atol=1e-9)
    # Labels arrived during the replay, so label-derived features were exercised.
    assert (expected[:, FEATURES.index("term_fraud_7d")] > 0).any()
