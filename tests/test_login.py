"""Logins end to end: validation, point in time, Feast equivalence, skew, scorer, evaluation."""

from __future__ import annotations

import math
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from fraudscore import EventValidationError, FeastSource, Label, Login, Scorer, SqliteSource
from fraudscore._feast import open_store
from fraudscore._kinds import LOGIN
from fraudscore._kinds.login import FEATURES, VIEWS, browser_of, os_of
from fraudscore._kinds.login.frames import prepare_logins
from fraudscore._training.offline import OfflineFeatures, fold_history
from fraudscore._training.pipeline import replay, to_events

from .conftest import LOGIN_CUTOFF, capture_features
from .test_scorer import assert_same_results

T0 = datetime(2018, 5, 1, 12, tzinfo=UTC)
GOOD: dict[str, Any] = dict(
    login_id="l1",
    timestamp=T0,
    user_id="U1",
    ip="198.51.100.7",
    country="DE",
    asn=3320,
    user_agent="Mozilla/5.0 (Windows NT 10.0) Chrome/118.0",
    success=True,
)


@pytest.mark.parametrize(
    ("field", "value", "expected"),
    [
        ("ip", "999.1.1.1", "IPv4 or IPv6"),
        ("country", "Germany", "ISO-3166"),
        ("country", "de", "ISO-3166"),
        ("asn", -1, "non-negative int"),
        ("asn", 3.5, "non-negative int"),
        ("asn", True, "non-negative int"),
        ("user_agent", "", "non-empty string"),
        ("success", 1, "a bool"),
        ("timestamp", datetime(2018, 5, 1), "timezone-aware"),
        ("rtt_ms", -4.0, "finite number"),
        ("latitude", 91.0, "finite number"),
    ],
)
def test_bad_login_field_is_named(field: str, value: Any, expected: str) -> None:
    """Each bad login field raises EventValidationError naming the field and the expectation."""
    extra = {"longitude": 10.0} if field == "latitude" else {}
    with pytest.raises(EventValidationError) as info:
        Login(**{**GOOD, **extra, field: value})
    assert info.value.field == field and expected in str(info.value)


def test_coordinates_come_in_pairs_and_ipv6_is_accepted() -> None:
    """Latitude without longitude is refused; an IPv6 address is a valid ip."""
    with pytest.raises(EventValidationError, match="together"):
        Login(**{**GOOD, "latitude": 50.0})
    assert Login(**{**GOOD, "ip": "2001:db8::1", "latitude": 50.0, "longitude": 8.0}).ip


def test_user_agent_families() -> None:
    """Browser and OS families are parsed from the user agent, Edge and Android first."""
    edge = "Mozilla/5.0 (Windows NT 10.0) Chrome/118 Safari/537.36 Edg/118"
    android = "Mozilla/5.0 (Linux; Android 13) Chrome/118 Mobile Safari/537.36"
    assert (browser_of(edge), os_of(edge)) == ("edge", "windows")
    assert (browser_of(android), os_of(android)) == ("chrome", "android")
    assert (browser_of("curl/8.4.0"), os_of("curl/8.4.0")) == ("other", "other")


def test_frame_validation_names_column_and_row(login_sim: pd.DataFrame) -> None:
    """A bad cell in a login frame is reported with its column and row."""
    bad = login_sim.head(5).copy()
    bad.loc[3, "asn"] = -7
    with pytest.raises(EventValidationError, match="row 3") as info:
        prepare_logins(bad)
    assert info.value.field == "asn"


def test_simulator_has_every_attack_pattern(login_sim: pd.DataFrame) -> None:
    """All four documented attacks appear; takeovers are successful attacker logins."""
    patterns = set(login_sim["attack_pattern"])
    assert {
        "credential_stuffing",
        "targeted_takeover",
        "impossible_travel",
        "password_spraying",
    } <= patterns
    ato = login_sim[login_sim["is_ato"] == 1]
    assert ato["success"].all() and (ato["is_attack_ip"] == 1).all()
    assert (login_sim.loc[login_sim["attack_pattern"] == "none", "is_ato"] == 0).all()


def test_features_match_brute_force_over_earlier_logins(login_offline: OfflineFeatures) -> None:
    """Per-user failures and per-IP distinct users use only earlier logins."""
    f = login_offline.frame
    t = f["timestamp"].array.asi8 / 1e9
    failed = ~f["success"].astype(bool).to_numpy()
    rng = np.random.default_rng(0)
    for i in rng.choice(len(f), 40, replace=False):
        row = f.iloc[i]
        earlier = np.arange(len(f)) < i
        mine = (f["user_id"] == row.user_id).to_numpy() & earlier
        expect = np.exp(-(t[i] - t[mine & failed]) / 3600.0).sum()
        assert row.user_fail_1h == pytest.approx(expect, rel=1e-9, abs=1e-12)
        same_ip = (f["ip"] == row.ip).to_numpy() & earlier
        # A user counts on the IP when they had no login from it in the 30 days before.
        users = 0.0
        for j in np.flatnonzero(same_ip):
            before = (
                same_ip
                & (np.arange(len(f)) < j)
                & (f["user_id"] == f["user_id"].iloc[j]).to_numpy()
            )
            if not before.any() or t[j] - t[before].max() > 30 * 86400:
                users += math.exp(-(t[i] - t[j]) / 86400.0)
        assert row.ip_users_1d == pytest.approx(users, rel=1e-9, abs=1e-12)


def test_truncating_the_future_changes_no_login_row(
    login_sim: pd.DataFrame, login_offline: OfflineFeatures
) -> None:
    """A login's features are unchanged when every later login is removed."""
    f = login_offline.frame
    rng = np.random.default_rng(2)
    for i in rng.choice(np.arange(len(f) // 2, len(f)), 4, replace=False):
        past = login_sim.set_index("login_id").loc[f["login_id"].iloc[: i + 1]].reset_index()
        truncated = fold_history(LOGIN, prepare_logins(past)).frame
        np.testing.assert_allclose(
            truncated[list(FEATURES)].to_numpy()[-1], f[list(FEATURES)].to_numpy()[i], rtol=1e-12
        )


@pytest.mark.parametrize("view_index", range(len(VIEWS)))
def test_fast_reader_equals_get_online_features_for_login_views(
    built_login_repo: Path, login_offline: OfflineFeatures, view_index: int
) -> None:
    """For every login view, SqliteSource equals Feast's get_online_features, unknown keys too."""
    store = open_store(built_login_repo)
    fast, ref = SqliteSource(store, VIEWS), FeastSource(store, VIEWS)
    view = VIEWS[view_index]
    hist = login_offline.history[view.name]
    known = [
        tuple(r)
        for r in hist[hist["event_timestamp"] < LOGIN_CUTOFF][list(view.keys)]
        .drop_duplicates()
        .head(5)
        .itertuples(index=False)
    ]
    keys: list[list[tuple[str, ...]]] = [[] for _ in VIEWS]
    keys[view_index] = [*known, tuple("nobody" for _ in view.keys)]
    a, b = fast.read(keys)[view_index], ref.read(keys)[view_index]
    np.testing.assert_array_equal(a, b)
    np.testing.assert_array_equal(a[-1], view.empty(1)[0])
    assert not np.isnan(a[:-1, : len(view.clocks)]).all(axis=1).any()


def test_skew_login_replay_equals_offline_frame(
    login_bundle_dir: Path, login_repo: Path, login_offline: OfflineFeatures
) -> None:
    """Replaying logins through record gives the offline features at every login."""
    scorer = Scorer.open(login_bundle_dir, login_repo)
    captured = capture_features(scorer)
    end = LOGIN_CUTOFF + pd.Timedelta(days=3)
    results = replay(scorer, login_offline.frame, LOGIN_CUTOFF.to_pydatetime(), end.to_pydatetime())
    ids = [e.login_id for e, _ in results]
    assert len(ids) > 300
    expected = login_offline.frame.set_index("login_id").loc[ids, list(FEATURES)].to_numpy()
    np.testing.assert_allclose(np.vstack(captured), expected, rtol=1e-9, atol=1e-9)
    # Attacks happened in the window, so failure and distinct-user features were exercised.
    assert (expected[:, FEATURES.index("ip_users_1d")] > 1).any()


@pytest.mark.kernel
def test_login_scorer_results(
    login_bundle_dir: Path, login_repo: Path, login_offline: OfflineFeatures
) -> None:
    """Decisions are allow/challenge/deny; a new user is scored with missing flags; batch equals
    single; a transaction label is refused."""
    scorer = Scorer.open(login_bundle_dir, login_repo)
    f = login_offline.frame
    events = to_events(f[f["timestamp"] >= LOGIN_CUTOFF].head(150), LOGIN)
    single = [scorer.score(e) for e in events]
    assert_same_results(scorer.score_many(events), single)  # arrays: 150 >= 32
    assert_same_results(scorer.score_many(events[:20]), single[:20])  # floats
    assert {r.decision for r in single} <= {"allow", "challenge", "deny"}
    new = scorer.score(Login(**{**GOOD, "user_id": "never-seen", "ip": "203.0.113.9"}))
    assert "user_state" in new.missing_state and "ip_state" in new.missing_state
    # A known user logging in from a device, country and network never seen for them: the
    # first reason names one of the three.
    new_codes = ("NEW_DEVICE", "NEW_NETWORK", "NEW_COUNTRY")
    regular = next(
        e
        for e, r in zip(events, single)
        if e.success and r.decision == "allow" and not {x.code for x in r.reasons} & set(new_codes)
    )
    moved = replace(regular, device_id="never-seen-device", country="KP", asn=64512)
    reasons = [r.code for r in scorer.score(moved).reasons]
    assert reasons and reasons[0] in new_codes, reasons
    assert scorer.score(moved).score > scorer.score(regular).score
    with pytest.raises(EventValidationError, match="label"):
        scorer.record_label(Label("t", "C", "T", T0, True))


def test_record_of_a_failed_login_moves_failure_counts(
    login_bundle_dir: Path, login_repo: Path, login_offline: OfflineFeatures
) -> None:
    """Recording failed logins raises the next login's user and IP failure features."""
    scorer = Scorer.open(login_bundle_dir, login_repo)
    f = login_offline.frame
    base = to_events(
        f[(f["timestamp"] >= LOGIN_CUTOFF) & f["success"].astype(bool)].head(1), LOGIN
    )[0]
    probe = replace(base, login_id="probe", timestamp=base.timestamp + timedelta(minutes=5))
    before = scorer._row(
        probe, scorer.source.read_one(scorer.kind.keys(probe)), scorer.kind.keys(probe)
    )[0]
    for k in range(5):
        scorer.record(
            replace(
                base,
                login_id=f"f{k}",
                success=False,
                timestamp=base.timestamp + timedelta(seconds=k),
            )
        )
    after = scorer._row(
        probe, scorer.source.read_one(scorer.kind.keys(probe)), scorer.kind.keys(probe)
    )[0]
    i, j = FEATURES.index("user_fail_1h"), FEATURES.index("ip_fail_1h")
    assert after[i] > before[i] + 4 and after[j] > before[j] + 4


def test_freeman_prefers_the_users_usual_place() -> None:
    """The Freeman score of a login from the user's usual IP is lower than from a new country."""
    from fraudscore._kinds.login.freeman import freeman_scores

    ts = pd.Timestamp("2018-04-01", tz="UTC")
    rows = [
        dict(
            login_id=f"l{i}",
            timestamp=ts + pd.Timedelta(hours=i),
            user_id="U1",
            ip="198.51.100.7",
            country="DE",
            asn=3320,
            user_agent=GOOD["user_agent"],
            success=True,
            is_ato=0,
        )
        for i in range(20)
    ]
    rows += [
        dict(
            login_id=f"o{i}",
            timestamp=ts + pd.Timedelta(hours=i, minutes=30),
            user_id=f"V{i}",
            ip=f"203.0.113.{i}",
            country=c,
            asn=a,
            user_agent=GOOD["user_agent"],
            success=True,
            is_ato=0,
        )
        for i, (c, a) in enumerate([("DE", 3320), ("FR", 5410), ("US", 7922)] * 5)
    ]
    rows += [
        dict(
            login_id="x1",
            timestamp=ts + pd.Timedelta(days=2),
            user_id="U1",
            ip="198.51.100.7",
            country="DE",
            asn=3320,
            user_agent=GOOD["user_agent"],
            success=True,
            is_ato=0,
        ),
        dict(
            login_id="x2",
            timestamp=ts + pd.Timedelta(days=2, hours=1),
            user_id="U1",
            ip="203.0.113.200",
            country="US",
            asn=7922,
            user_agent="curl/8.4.0",
            success=True,
            is_ato=1,
        ),
    ]
    frame = prepare_logins(pd.DataFrame(rows))
    train = (frame["timestamp"] < ts + pd.Timedelta(days=1)).to_numpy()
    scored = frame["login_id"].isin(["x1", "x2"]).to_numpy()
    usual, foreign = freeman_scores(frame, train, scored)
    assert foreign > usual + 5


def test_model_beats_freeman_on_default_login_data(tmp_path: Path) -> None:
    """On the default simulated logins the model's average precision beats the Freeman baseline."""
    from fraudscore import build_features, default_windows, evaluate, simulate_logins, train_model

    data = simulate_logins()
    features = build_features(data, "login")
    a, b, c, d = default_windows(features.frame, train_days=28)
    train_model(features, a, b, tmp_path / "b")
    result = evaluate(tmp_path / "b", features, c, d)
    assert result.scores["is_ato"].sum() == result.metrics["test_takeovers"] > 0
    assert result.scores["login_id"].is_unique
    models = result.metrics["models"]
    assert set(models["model"]) == {
        "average_precision",
        "roc_auc",
        "recall_at_1pct_challenge",
        "recall_at_5pct_challenge",
    }
    assert models["model"]["average_precision"] > models["baseline_freeman"]["average_precision"]
