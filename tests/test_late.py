"""Late events: an event older than its entities' stored state is scored, flagged, and never
shows a negative time."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from fraudscore import OfflineFeatures, Scorer
from fraudscore._kinds import LOGIN, TRANSACTION
from fraudscore._training.pipeline import to_events

from .conftest import CUTOFF, LOGIN_CUTOFF, capture_features
from .test_scorer import assert_same_results

NEGATIVE = re.compile(r"-\d")
SINCE = {
    "transaction": ("cust_secs_since_last", "ct_secs_since_last"),
    "login": (
        "user_secs_since_login",
        "user_secs_since_success",
        "device_secs_since",
        "country_secs_since",
    ),
}


def late_and_on_time(frame: pd.DataFrame, cutoff: pd.Timestamp, kind: object) -> tuple[list, list]:
    """Events of the last day before the store's state (late), and of the day after it."""
    day = pd.Timedelta(days=1)
    before = frame[(frame["timestamp"] >= cutoff - day) & (frame["timestamp"] < cutoff)]
    after = frame[(frame["timestamp"] >= cutoff) & (frame["timestamp"] < cutoff + day)]
    return to_events(before.head(150), kind), to_events(after.head(150), kind)


@pytest.mark.kernel
def test_late_transactions_are_flagged_and_read_as_just_now(
    bundle_dir: Path, repo: Path, offline: OfflineFeatures
) -> None:
    """Transactions from before the store's state: flagged late, every time-since feature >= 0,
    no reason text with a negative number; the batch path agrees; on-time events are not late."""
    late, on_time = late_and_on_time(offline.frame, CUTOFF, TRANSACTION)
    scorer = Scorer.open(bundle_dir, repo)
    captured = capture_features(scorer)
    results = [scorer.score(e) for e in late]
    flagged = [r for r in results if r.late_event]
    assert len(flagged) > len(late) // 2  # most cards were seen again before the cutoff
    x = np.vstack(captured)
    for name in SINCE["transaction"]:
        column = x[:, TRANSACTION.features.index(name)]
        assert (column[~np.isnan(column)] >= 0).all(), name
    assert (x[:, TRANSACTION.features.index("cust_secs_since_last")] == 0).any()
    for r in results:
        for reason in r.reasons:
            assert not NEGATIVE.search(reason.text), reason.text
    assert_same_results(scorer.score_many(late), results)
    assert not any(r.late_event for r in scorer.score_many(on_time[:1]))


@pytest.mark.kernel
def test_late_logins_are_flagged(
    login_bundle_dir: Path, login_repo: Path, login_offline: OfflineFeatures
) -> None:
    """The same rule for logins: flagged, time-since features never negative, no negative text."""
    late, _ = late_and_on_time(login_offline.frame, LOGIN_CUTOFF, LOGIN)
    scorer = Scorer.open(login_bundle_dir, login_repo)
    captured = capture_features(scorer)
    results = [scorer.score(e) for e in late]
    assert sum(r.late_event for r in results) > len(late) // 2
    x = np.vstack(captured)
    for name in SINCE["login"]:
        column = x[:, LOGIN.features.index(name)]
        assert (column[~np.isnan(column)] >= 0).all(), name
    for r in results:
        assert not any(NEGATIVE.search(reason.text) for reason in r.reasons)
    assert_same_results(scorer.score_many(late), results)
