"""Every feature against an independent brute-force oracle (tests/oracle.py), on random streams:
the offline frame and the online path (score + record through a real Scorer) must both equal it.

Streams start on a Friday evening and span up to 20 days, so midnights and weekends are crossed;
events share instants on purpose (stream order then decides what is "before"). Transactions carry
the card-not-present fields (each missing on some events, devices shared across cards): their
features' oracles, with the state they read keyed on a device, a network or a shipping country,
are here (``cnp_features``); another stream spans months, so that those states outlive their
views' ttl.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
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
from .oracle import NAN, D, H, decayed, flagged, login_features, ratio, transaction_features

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
COUNTRIES = st.sampled_from([None, "DE", "FR", "US"])
#: The card-not-present fields of a transaction, each missing on some events. Devices and
#: networks are shared across cards; ASN 0 is a network (not a missing one).
CNP_FIELDS = {
    "device_id": st.sampled_from([None, "d1", "d1", "d2", "d3"]),
    "asn": st.sampled_from([None, 0, 3320, 3320, 7922]),
    "ip_country": COUNTRIES,
    "billing_country": COUNTRIES,
    "shipping_country": COUNTRIES,
    "card_country": COUNTRIES,
    "merchant_category": st.sampled_from([None, "0742", "5411", "5999"]),
}
#: Gaps between consecutive events of the long streams: shared instants, the 1-hour to
#: 30-day decays, dev_cards_1d's 0.05 floor (exp(-3) is just under it), and the 90- and
#: 180-day ttls exactly, just under and just over.
LONG_GAPS = st.sampled_from(
    [0, 1, 3600, 86400, 2.99 * 86400, 3.01 * 86400, 20 * 86400, 89 * 86400, 90 * 86400,
     90 * 86400 + 1, 120 * 86400, 180 * 86400, 180 * 86400 + 1, 200 * 86400]
)  # fmt: skip


def cnp_fields(draw: Any) -> dict[str, Any]:
    return {name: draw(values) for name, values in CNP_FIELDS.items()}


@st.composite
def transaction_frames(draw: Any) -> pd.DataFrame:
    n = draw(st.integers(2, 30))
    # Some frames have no card-not-present column at all (a history from before them).
    with_cnp = draw(st.integers(0, 3)) > 0
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
                **(cnp_fields(draw) if with_cnp else {}),
            }
        )
    return pd.DataFrame(rows)


@st.composite
def long_transaction_frames(draw: Any) -> pd.DataFrame:
    """Streams over months: each card's, device's, network's states go stale between events."""
    n = draw(st.integers(2, 16))
    rows = []
    ts = BASE
    for i in range(n):
        ts += timedelta(seconds=draw(LONG_GAPS))
        rows.append(
            {
                "transaction_id": f"t{i:03d}",
                "timestamp": ts,
                "customer_id": draw(st.sampled_from(["C1", "C2"])),
                "terminal_id": "T1",
                "amount": 10.0,
                "channel": "online",
                "is_fraud": draw(st.sampled_from([0, 0, 1])),
                # Labels up to 100 days late keep a card's state fresh without a payment.
                "label_time": ts
                + timedelta(seconds=draw(st.sampled_from([0, D, 60 * D, 100 * D]))),
                "decision": draw(st.sampled_from([None, "approve", "review", "decline"])),
                **cnp_fields(draw),
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
    kind: EventKind,
    expected: list[dict[str, float]],
    offline: pd.DataFrame,
    online: np.ndarray,
    names: Sequence[str] | None = None,
) -> None:
    """The features ``names`` (all of the kind's by default) of both paths equal ``expected``;
    every feature of the kind has an oracle."""
    assert set(expected[0]) == set(kind.features), "features without an oracle, or gone"
    names = kind.features if names is None else names
    want = np.array([[row[f] for f in names] for row in expected], dtype=float)
    for name, got in (
        ("offline", offline[list(names)].to_numpy(dtype=float)),
        ("online", online[:, [kind.features.index(f) for f in names]]),
    ):
        for j, f in enumerate(names):
            np.testing.assert_allclose(
                got[:, j], want[:, j], rtol=1e-9, atol=1e-9, err_msg=f"{name} {f}"
            )


#: The card-not-present features (``cnp_features``).
CNP = (
    "has_device",
    "card_device_n_30d",
    "card_device_secs_since",
    "cust_device_30d",
    "dev_n_1h",
    "dev_n_1d",
    "dev_cards_1d",
    "dev_card_share_30d",
    "dev_flagged_1d",
    "card_network_n_30d",
    "cust_network_30d",
    "ip_card_country_mismatch",
    "billing_card_country_mismatch",
    "shipping_billing_mismatch",
    "card_shipping_n_30d",
)
#: The fields that key state (a device, a network, a shipping country): tests/oracle.py has
#: no oracle of an event that carries one.
KEYED = ("device_id", "asn", "shipping_country")
#: How long each state outlives its newest event: the card's (payments and fraud labels), the
#: device's; a pair's (device and card, card and network, card and shipping country).
CARD_TTL, DEVICE_TTL, PAIR_TTL = 90 * D, 90 * D, 180 * D

#: An entity's history as (time, event index; None for a fraud label).
Moves = list[tuple[float, int | None]]


def fresh(moves: Moves, t: float, ttl: float) -> Moves:
    """The moves of an entity that its state still holds at ``t``: a state whose newest move
    is more than ``ttl`` old, at a move or at ``t``, is forgotten (it starts again empty)."""
    kept: Moves = []
    for s, j in sorted(moves, key=lambda m: m[0]):
        if kept and s - kept[-1][0] > ttl:
            kept = []
        kept.append((s, j))
    return kept if kept and t - kept[-1][0] <= ttl else []


def cnp_features(events: Sequence[dict[str, Any]]) -> list[dict[str, float]]:
    """The card-not-present features, per event, by brute force over the events before it
    (stream order) and the fraud labels known at it. Event keys: those of
    ``transaction_features``, and device_id, asn, ip_country, billing_country,
    shipping_country, card_country (None where missing).

    A keyed feature reads the events with this event's key (none: NaN); ``ok`` events are
    those the defence let through (``flagged`` false). A device's ``cards_1d`` weighs each of
    its payments by whether that (device, card) pair had no fresh history before it."""
    ts = [e["timestamp"].timestamp() for e in events]

    def moves(i: int, *match: Callable[[dict[str, Any]], bool]) -> Moves:
        """The events before event ``i`` (stream order) that every ``match`` accepts."""
        return [(ts[j], j) for j in range(i) if all(m(events[j]) for m in match)]

    def like(x: dict[str, Any], *fields: str) -> Callable[[dict[str, Any]], bool]:
        """Whether an event has ``x``'s values of ``fields`` (its entity's key)."""
        return lambda y: all(y[f] == x[f] for f in fields)

    def times(ms: Moves, keep: Callable[[dict[str, Any]], bool] = lambda _: True) -> list[float]:
        return [s for s, j in ms if j is not None and keep(events[j])]

    def ok(x: dict[str, Any]) -> bool:
        return not flagged(x)

    new_card = [
        float(not fresh(moves(j, like(x, "customer_id", "device_id")), ts[j], PAIR_TTL))
        for j, x in enumerate(events)
    ]

    def mismatch(e: dict[str, Any], a: str, b: str) -> float:
        return NAN if e[a] is None or e[b] is None else float(e[a] != e[b])

    out = []
    for i, e in enumerate(events):
        t = ts[i]
        labels: Moves = [
            (x["label_time"].timestamp(), None)
            for x in events
            if x["customer_id"] == e["customer_id"]
            and x["is_fraud"]
            and x["label_time"].timestamp() <= t
        ]
        mine = moves(i, like(e, "customer_id"))
        card = fresh(mine + labels, t, CARD_TTL)
        row = {
            "has_device": float(e["device_id"] is not None),
            "cust_device_30d": decayed(
                t, times(card, lambda x: x["device_id"] is not None), 30 * D
            ),
            "cust_network_30d": decayed(t, times(card, lambda x: x["asn"] is not None), 30 * D),
            "ip_card_country_mismatch": mismatch(e, "ip_country", "card_country"),
            "billing_card_country_mismatch": mismatch(e, "billing_country", "card_country"),
            "shipping_billing_mismatch": mismatch(e, "shipping_country", "billing_country"),
        }
        if e["device_id"] is None:
            row |= dict.fromkeys(
                ("card_device_n_30d", "card_device_secs_since", "dev_n_1h", "dev_n_1d",
                 "dev_cards_1d", "dev_card_share_30d", "dev_flagged_1d"), NAN
            )  # fmt: skip
        else:
            used = moves(i, like(e, "device_id"))
            device = fresh(used, t, DEVICE_TTL)
            seen = fresh(moves(i, like(e, "customer_id", "device_id")), t, PAIR_TTL)
            went_through = times(seen, ok)
            cards = decayed(t, times(device), D, [new_card[j] for _, j in device if j is not None])
            row |= {
                "card_device_n_30d": decayed(t, went_through, 30 * D),
                "card_device_secs_since": t - max(went_through) if went_through else NAN,
                "dev_n_1h": decayed(t, times(device), H),
                "dev_n_1d": decayed(t, times(device), D),
                "dev_cards_1d": cards if cards >= 0.05 else 0.0,
                "dev_card_share_30d": ratio(
                    decayed(t, times(seen), 30 * D), decayed(t, times(device), 30 * D)
                ),
                "dev_flagged_1d": decayed(t, times(device, flagged), D),
            }
        for feature, field in (
            ("card_network_n_30d", "asn"),
            ("card_shipping_n_30d", "shipping_country"),
        ):
            # Only payments that went through move a (card, network or country) pair.
            through = moves(i, like(e, "customer_id", field), ok)
            row[feature] = (
                NAN if e[field] is None else decayed(t, times(fresh(through, t, PAIR_TTL)), 30 * D)
            )
        out.append(row)
    return out


def as_events(offline: pd.DataFrame) -> list[dict[str, Any]]:
    """The oracles' events of an offline frame (None for a missing field)."""

    def given(v: Any) -> Any:
        return None if v is None or (isinstance(v, float) and math.isnan(v)) else v

    return [
        {
            **r._asdict(),
            "timestamp": r.timestamp.to_pydatetime(),
            "label_time": r.label_time.to_pydatetime(),
            "channel": r.channel if isinstance(r.channel, str) else None,
            "decision": r.decision,
            **{f: given(getattr(r, f, None)) for f in CNP_FIELDS},
        }
        for r in offline.itertuples(index=False)
    ]


def all_features(
    events: Sequence[dict[str, Any]], unkeyed: Sequence[dict[str, Any]]
) -> list[dict[str, float]]:
    """Every transaction feature's oracle: tests/oracle.py's on the events without their keyed
    fields (which do not change those), ``cnp_features`` on the events as they are."""
    return [
        base | cnp
        for base, cnp in zip(transaction_features(unkeyed), cnp_features(events), strict=True)
    ]


@SETTINGS
@given(frame=transaction_frames())
def test_every_transaction_feature_equals_its_oracle(bundle_dir: Path, frame: pd.DataFrame) -> None:
    """Every transaction feature, offline and online, equals the brute-force definitions: the
    card-not-present ones those of ``cnp_features``, the others tests/oracle.py's (which the
    keyed fields do not change). On a stream that sends no keyed field, tests/oracle.py's
    card-not-present oracle holds too."""
    offline, online = both_paths(TRANSACTION, bundle_dir, frame)
    events = as_events(offline)
    unkeyed = [{**e, **dict.fromkeys(KEYED)} for e in events]
    expected = all_features(events, unkeyed)
    compare(TRANSACTION, expected, offline, online)
    if events == unkeyed:
        compare(TRANSACTION, transaction_features(events), offline, online)


@SETTINGS
@given(frame=long_transaction_frames())
def test_card_not_present_features_forget_stale_state(
    bundle_dir: Path, frame: pd.DataFrame
) -> None:
    """Over months, the card-not-present features still equal their definitions: a card's,
    device's or pair's state older than its view's ttl is no history (a device's card seen
    again after 180 days is a new card for it)."""
    offline, online = both_paths(TRANSACTION, bundle_dir, frame)
    events = as_events(offline)
    unkeyed = [{**e, **dict.fromkeys(KEYED)} for e in events]
    expected = all_features(events, unkeyed)
    compare(TRANSACTION, expected, offline, online, CNP)


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
