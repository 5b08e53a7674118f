"""Every feature against an independent brute-force oracle (tests/oracle.py), on random streams:
the offline frame and the online path (score + record through a real Scorer) must both equal it.

Streams start on a Friday evening and span up to 20 days, so midnights and weekends are crossed;
events share instants on purpose (stream order then decides what is "before").
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from fraudscore import EventValidationError, Scorer, Transaction, load_bundle
from fraudscore._kinds import LOGIN, TRANSACTION, EventKind
from fraudscore._training.offline import fold_history
from fraudscore._training.pipeline import replay

from .conftest import capture_features
from .memory import MemorySource
from .oracle import login_features, transaction_features

BASE = datetime(2018, 4, 6, 22, 30, tzinfo=UTC)  # a Friday, 22:30 UTC
SETTINGS = settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
#: Offsets that land on midnights, the weekend, and on other events' instants.
OFFSETS = st.one_of(
    st.integers(0, 20 * 86400),
    st.sampled_from([0, 1, 5400, 5401, 86400, 2 * 86400 - 1, 3 * 86400, 3 * 86400 + 0.5]),
)
#: User agents and their (browser, OS) families, written out by hand.
AGENTS = {
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 Chrome/118.0 Safari/537.36": (
        "chrome",
        "windows",
    ),
    "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 Version/17.0 Safari/605.1.15": (
        "safari",
        "macos",
    ),
    "Mozilla/5.0 (X11; Linux x86_64; rv:109.0) Gecko/20100101 Firefox/118.0": ("firefox", "linux"),
    "Mozilla/5.0 (Linux; Android 13) AppleWebKit/537.36 Chrome/118.0 Mobile Safari/537.36": (
        "chrome",
        "android",
    ),
    "Mozilla/5.0 (Windows NT 10.0) AppleWebKit/537.36 Chrome/118.0 Safari/537.36 Edg/118.0": (
        "edge",
        "windows",
    ),
    "curl/8.4.0": ("other", "other"),
}
PLACES = [(52.52, 13.40), (48.86, 2.35), (40.71, -74.01), (-33.87, 151.21)]


@st.composite
def transaction_frames(draw: Any) -> pd.DataFrame:
    n = draw(st.integers(2, 30))
    rows = []
    for i in range(n):
        ts = BASE + timedelta(seconds=draw(OFFSETS))
        rows.append(
            {
                "transaction_id": f"t{i:03d}",
                "timestamp": ts,
                "customer_id": draw(st.sampled_from(["C1", "C2", "C3"])),
                "terminal_id": draw(st.sampled_from(["T1", "T2", "T3", "T4"])),
                # $0 verifications and sub-unit amounts exercise the ratio's floor.
                "amount": draw(st.one_of(st.just(0.0), st.floats(0.0, 2.0), st.floats(0.5, 2e3))),
                "channel": draw(st.sampled_from([None, "pos", "online", "atm", "moto"])),
                "is_fraud": draw(st.sampled_from([0, 0, 1])),
                "label_time": ts + timedelta(seconds=draw(st.integers(0, 5 * 86400))),
                # What the defence served (None: unknown, a history from before it).
                "decision": draw(
                    st.sampled_from([None, "approve", "approve", "review", "decline"])
                ),
            }
        )
    return pd.DataFrame(rows)


@st.composite
def login_frames(draw: Any) -> pd.DataFrame:
    n = draw(st.integers(2, 30))
    rows = []
    for i in range(n):
        place = draw(st.sampled_from([None, *PLACES]))
        rows.append(
            {
                "login_id": f"l{i:03d}",
                "timestamp": BASE + timedelta(seconds=draw(OFFSETS)),
                "user_id": draw(st.sampled_from(["U1", "U2", "U3"])),
                "ip": draw(st.sampled_from(["198.51.100.1", "198.51.100.2", "2001:db8::7"])),
                "country": draw(st.sampled_from(["DE", "FR", "US"])),
                "asn": draw(st.sampled_from([3320, 3215, 7922])),
                "user_agent": draw(st.sampled_from(sorted(AGENTS))),
                "success": draw(st.booleans()),
                "device_id": draw(st.sampled_from([None, "d1", "d2"])),
                "latitude": None if place is None else place[0],
                "longitude": None if place is None else place[1],
                "rtt_ms": draw(st.sampled_from([None, 12.5, 80.0])),
                "is_ato": 0,
                "decision": draw(st.sampled_from([None, "allow", "allow", "challenge", "deny"])),
            }
        )
    return pd.DataFrame(rows)


def both_paths(
    kind: EventKind, bundle: Path, frame: pd.DataFrame
) -> tuple[pd.DataFrame, np.ndarray]:
    """(offline frame, online feature rows in the same order) for one stream."""
    offline = fold_history(kind, kind.prepare(frame)).frame
    scorer = Scorer(load_bundle(bundle), MemorySource(kind.views))
    captured = capture_features(scorer)
    start = offline["timestamp"].min().to_pydatetime()
    end = offline["timestamp"].max().to_pydatetime() + timedelta(days=30)
    results = replay(scorer, offline, start, end)
    id_field = kind.id_field
    assert [getattr(e, id_field) for e, _ in results] == offline[id_field].tolist()
    return offline, np.vstack(captured)


def compare(
    kind: EventKind, expected: list[dict[str, float]], offline: pd.DataFrame, online: np.ndarray
) -> None:
    want = np.array([[row[f] for f in kind.features] for row in expected], dtype=float)
    for name, got in (
        ("offline", offline[list(kind.features)].to_numpy(dtype=float)),
        ("online", online),
    ):
        for j, f in enumerate(kind.features):
            np.testing.assert_allclose(
                got[:, j], want[:, j], rtol=1e-9, atol=1e-9, err_msg=f"{name} {f}"
            )


@SETTINGS
@given(frame=transaction_frames())
def test_every_transaction_feature_equals_its_oracle(bundle_dir: Path, frame: pd.DataFrame) -> None:
    """Every transaction feature, offline and online, equals the brute-force definitions (on
    frames without the card-not-present fields: those read as missing)."""
    offline, online = both_paths(TRANSACTION, bundle_dir, frame)
    events = [
        {
            **r._asdict(),
            "timestamp": r.timestamp.to_pydatetime(),
            "label_time": r.label_time.to_pydatetime(),
            "channel": r.channel if isinstance(r.channel, str) else None,
            "decision": r.decision,
        }
        for r in offline.itertuples(index=False)
    ]
    compare(TRANSACTION, transaction_features(events), offline, online)


@SETTINGS
@given(frame=login_frames())
def test_every_login_feature_equals_its_oracle(login_bundle_dir: Path, frame: pd.DataFrame) -> None:
    """All 31 login features, offline and online, equal the brute-force definitions."""
    offline, online = both_paths(LOGIN, login_bundle_dir, frame)
    events = []
    for r in offline.itertuples(index=False):
        browser, system = AGENTS[r.user_agent]
        located = isinstance(r.latitude, float) and not np.isnan(r.latitude)
        events.append(
            {
                "timestamp": r.timestamp.to_pydatetime(),
                "user_id": r.user_id,
                "ip": r.ip,
                "country": r.country,
                "asn": r.asn,
                "browser": browser,
                "os": system,
                "success": bool(r.success),
                "device_id": r.device_id if isinstance(r.device_id, str) else None,
                "latitude": r.latitude if located else None,
                "longitude": r.longitude if located else None,
                "rtt_ms": None if np.isnan(r.rtt_ms) else r.rtt_ms,
                "decision": r.decision,
            }
        )
    compare(LOGIN, login_features(events), offline, online)


@pytest.mark.parametrize(
    ("instant", "hour", "weekend"),
    [
        (datetime(2018, 4, 6, 23, 59, 59, tzinfo=UTC), 23 + 59 / 60 + 59 / 3600, 0.0),  # Friday
        (datetime(2018, 4, 7, 0, 0, tzinfo=UTC), 0.0, 1.0),  # Saturday midnight
        (datetime(2018, 4, 8, 23, 30, tzinfo=UTC), 23.5, 1.0),  # Sunday
        (datetime(2018, 4, 9, 0, 0, tzinfo=UTC), 0.0, 0.0),  # Monday midnight
    ],
)
def test_day_and_hour_are_utc_in_any_time_zone(
    bundle_dir: Path, instant: datetime, hour: float, weekend: float
) -> None:
    """hour_of_day and is_weekend are the UTC hour and day. Online, an event must be UTC (another
    offset is refused, naming the field); a training frame in any zone is converted, so that
    Saturday 00:00 UTC written as Friday 19:00 in New York is the weekend."""
    scorer = Scorer(load_bundle(bundle_dir), MemorySource(TRANSACTION.views))
    captured = capture_features(scorer)
    scorer.score(Transaction("t", instant, "C", "T", 10.0))
    with pytest.raises(EventValidationError, match="timestamp"):
        Transaction("t", instant.astimezone(timezone(timedelta(hours=-5))), "C", "T", 10.0)
    for zone in ("America/New_York", "Asia/Kolkata"):
        frame = pd.DataFrame(
            [
                {
                    "transaction_id": "t",
                    "timestamp": pd.Timestamp(instant).tz_convert(zone),
                    "customer_id": "C",
                    "terminal_id": "T",
                    "amount": 10.0,
                    "is_fraud": 0,
                }
            ]
        )
        row = fold_history(TRANSACTION, TRANSACTION.prepare(frame)).frame
        captured.append(row[list(TRANSACTION.features)].to_numpy()[0])
    for row in captured:
        assert row[TRANSACTION.features.index("hour_of_day")] == pytest.approx(hour, abs=1e-9)
        assert row[TRANSACTION.features.index("is_weekend")] == weekend
    tokyo = instant.astimezone(timezone(timedelta(hours=9)))
    login = fold_history(LOGIN, LOGIN.prepare(_login_frame(tokyo))).frame
    assert login["hour_of_day"].iloc[0] == pytest.approx(hour, abs=1e-9)


def _login_frame(at: datetime) -> pd.DataFrame:
    return pd.DataFrame(
        [
            {
                "login_id": "l",
                "timestamp": pd.Timestamp(at),
                "user_id": "U",
                "ip": "198.51.100.1",
                "country": "DE",
                "asn": 1,
                "user_agent": "curl/8",
                "success": True,
                "device_id": None,
                "latitude": None,
                "longitude": None,
                "rtt_ms": None,
                "is_ato": 0,
            }
        ]
    )
