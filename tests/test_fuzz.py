"""Input that cannot crash it: arbitrary values at every field and every entry point."""

from __future__ import annotations

import hashlib
import sqlite3
from dataclasses import fields
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from fraudscore import EventValidationError, Label, Login, Scorer, Transaction

NOW = datetime(2018, 5, 8, 12, tzinfo=UTC)
GOOD_TX: dict[str, Any] = {
    "transaction_id": "t-fuzz", "timestamp": NOW, "customer_id": "C000001",
    "terminal_id": "T000001", "amount": 12.5, "currency": "EUR", "channel": "online",
    "device_id": "d1", "ip": "192.0.2.1", "country": "FR", "asn": 3215, "ip_country": "FR",
    "email_domain": "orange.fr", "billing_country": "FR", "shipping_country": "FR",
    "card_country": "FR", "bin": "497010", "merchant_category": "5411",
}  # fmt: skip
GOOD_LOGIN: dict[str, Any] = {
    "login_id": "l-fuzz", "timestamp": NOW, "user_id": "U000001", "ip": "192.0.2.1",
    "country": "DE", "asn": 3320, "user_agent": "Mozilla/5.0", "success": True,
    "device_id": "d1", "latitude": 52.5, "longitude": 13.4, "rtt_ms": 30.0,
}  # fmt: skip
GOOD_LABEL: dict[str, Any] = {
    "transaction_id": "t-fuzz", "customer_id": "C000001", "terminal_id": "T000001",
    "label_time": NOW, "is_fraud": True,
}  # fmt: skip

NASTY = st.sampled_from(
    [
        "\x00", "a\x00b", "'; DROP TABLE customer_state; --", '"', "\\", "*", "?", "[a-z]",
        "{slot}", "\r\nSET k v\r\n", "\ud800", "x" * 100_000, "", " ", "ÄÖ", "Ⅻ", "١٢",
        float("nan"), float("inf"), -float("inf"), 10**400, -(10**400), 2**63, -1, 0, True,
        3.4028235677973366e38, 1.7976931348623157e308, 1e15, 1e16, 5e-324, -0.0,
        b"bytes", bytearray(b"x"), {"a": 1}, ["online"], {"online"}, object(),
        datetime(1, 1, 1, tzinfo=UTC), datetime(9999, 12, 31, 23, 59, tzinfo=UTC),
        datetime(2018, 5, 8), datetime(2018, 5, 8, tzinfo=timezone(timedelta(hours=5))),
    ]
)  # fmt: skip
ANY = st.one_of(
    NASTY,
    st.none(),
    st.booleans(),
    st.integers(),
    st.floats(),
    st.text(),
    st.binary(max_size=20),
    st.datetimes(timezones=st.sampled_from([None, UTC, timezone(timedelta(hours=-3))])),
    st.lists(st.integers(), max_size=3),
    st.dictionaries(st.text(max_size=3), st.integers(), max_size=2),
)


@pytest.fixture
def login_scorer(login_bundle_dir: Path, login_repo: Path) -> Scorer:
    return Scorer.open(login_bundle_dir, login_repo)


def changed(good: dict[str, Any], draw: Any) -> dict[str, Any]:
    """The good fields with one to three of them replaced by arbitrary values."""
    names = draw(st.lists(st.sampled_from(sorted(good)), min_size=1, max_size=3, unique=True))
    return {**good, **{n: draw(ANY) for n in names}}


def checksum(repo: Path) -> str:
    """A digest of every row of every table of the SQLite online store."""
    conn = sqlite3.connect(repo / "data" / "online_store.db")
    h = hashlib.sha256()
    tables = sorted(r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type='table'"))
    for table in tables:
        for row in conn.execute(f'SELECT * FROM "{table}" ORDER BY 1, 2'):
            h.update(repr(row).encode())
    conn.close()
    return h.hexdigest()


def attempt(fn: Any, *args: Any) -> Any:
    """Call fn: a value, or an EventValidationError, and nothing else."""
    try:
        return fn(*args)
    except EventValidationError:
        return None


FUZZ = settings(
    max_examples=250,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)


@FUZZ
@given(data=st.data())
def test_transactions_labels_and_entry_points_never_crash(
    data: st.DataObject, scorer: Scorer, repo: Path
) -> None:
    """Arbitrary values at every field of Transaction and Label, and arbitrary objects at score,
    score_many, record_many and record_label: a result or an EventValidationError; a rejected
    event or batch leaves the store byte for byte unchanged."""
    before = checksum(repo)
    kw = changed(GOOD_TX, data.draw)
    tx = attempt(lambda: Transaction(**kw))
    if tx is not None:
        result = scorer.score(tx)
        assert 0.0 <= result.score <= 1.0
        assert scorer.score_many([tx] * 40)[0].decision == result.decision
    label = attempt(lambda: Label(**changed(GOOD_LABEL, data.draw)))
    junk = data.draw(ANY)
    for call in (scorer.score, scorer.record, scorer.record_label):
        assert attempt(call, junk) is None
    for batch in (junk, [tx, junk], [junk] * 40):
        attempt(scorer.score_many, batch)
        assert attempt(scorer.record_many, batch) is None or batch == []
    assert checksum(repo) == before  # nothing above was a valid write
    if label is not None:
        scorer.record_label(label)


@FUZZ
@given(data=st.data())
def test_logins_never_crash(data: st.DataObject, login_scorer: Scorer) -> None:
    """Arbitrary values at every field of Login: a result or an EventValidationError."""
    login = attempt(lambda: Login(**changed(GOOD_LOGIN, data.draw)))
    if login is not None:
        assert 0.0 <= login_scorer.score(login).score <= 1.0


@pytest.mark.parametrize(
    "nasty", ["it's", 'say "hi"', "a\x00b", "x" * 50_000, "k*?[]{}\r\n", "'); DROP TABLE t;--"]
)
def test_nasty_ids_are_stored_and_read_back_as_data(scorer: Scorer, nasty: str) -> None:
    """Ids with quotes, NULs, huge lengths and SQL or Redis metacharacters are plain data: a
    recorded card is read back as history under exactly that id, and no other."""
    tx = Transaction(**{**GOOD_TX, "customer_id": nasty, "transaction_id": nasty})
    assert "customer_state" in scorer.score(tx).missing_state
    scorer.record(tx)
    again = Transaction(**{**GOOD_TX, "customer_id": nasty, "timestamp": NOW + timedelta(hours=1)})
    assert "customer_state" not in scorer.score(again).missing_state
    other = Transaction(**{**GOOD_TX, "customer_id": nasty + "x", "timestamp": NOW})
    assert "customer_state" in scorer.score(other).missing_state


def test_fields_are_all_fuzzed() -> None:
    """The fuzzed field lists are the events' own fields, so a new field is fuzzed too."""
    for cls, good in ((Transaction, GOOD_TX), (Login, GOOD_LOGIN), (Label, GOOD_LABEL)):
        assert set(good) == {f.name for f in fields(cls)}
