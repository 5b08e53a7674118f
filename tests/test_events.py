"""Boundary validation of events: typed errors naming the field, value and expectation."""

from __future__ import annotations

import math
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest

from fraudscore import EventValidationError, FraudscoreError, Label, Transaction

T0 = datetime(2018, 5, 1, 12, 0, tzinfo=UTC)
GOOD: dict[str, Any] = dict(
    transaction_id="t1", timestamp=T0, customer_id="C1", terminal_id="T1", amount=12.5
)


def make(**changes: Any) -> Transaction:
    return Transaction(**{**GOOD, **changes})


def test_good_transaction_is_accepted() -> None:
    """A complete transaction with every optional field validates."""
    tx = make(currency="EUR", channel="online", device_id="d1", ip="2001:db8::1", country="FR")
    assert tx.amount == 12.5 and tx.country == "FR"


@pytest.mark.parametrize(
    ("field", "value", "expected"),
    [
        ("timestamp", datetime(2018, 5, 1, 12), "timezone-aware"),
        ("timestamp", datetime(2018, 5, 1, 12, tzinfo=timezone(timedelta(hours=2))), "UTC"),
        ("timestamp", "2018-05-01T12:00:00Z", "datetime"),
        ("amount", -3.0, "from 0 to 1e+15"),
        ("amount", -1e-9, "from 0 to 1e+15"),
        ("amount", 1e15 + 1, "from 0 to 1e+15"),
        ("amount", math.nan, "finite"),
        ("amount", math.inf, "finite"),
        ("amount", True, "number"),
        ("amount", "12.5", "number"),
        ("transaction_id", "", "non-empty string"),
        ("customer_id", "  ", "non-empty string"),
        ("terminal_id", 17, "non-empty string"),
        ("currency", "eur", "ISO-4217"),
        ("channel", "telepathy", "one of"),
        ("ip", "300.1.1.1", "IPv4 or IPv6"),
        ("country", "FRA", "ISO-3166"),
        ("device_id", "", "non-empty string"),
    ],
)
def test_bad_field_names_field_value_and_expectation(field: str, value: Any, expected: str) -> None:
    """Each bad field raises EventValidationError whose message has field, value, expectation."""
    with pytest.raises(EventValidationError) as info:
        make(**{field: value})
    err = info.value
    assert err.field == field
    assert (
        err.value is value or err.value == value or (isinstance(value, float) and math.isnan(value))
    )
    assert expected in str(err)
    assert repr(field) in str(err)
    assert isinstance(err, FraudscoreError)


def test_label_validation() -> None:
    """A Label needs UTC label_time, ids and a bool is_fraud."""
    Label("t1", "C1", "T1", T0, True)
    with pytest.raises(EventValidationError, match="label_time"):
        Label("t1", "C1", "T1", datetime(2018, 5, 1), True)
    with pytest.raises(EventValidationError, match="is_fraud"):
        Label("t1", "C1", "T1", T0, 1)  # type: ignore[arg-type]


def test_zero_amount_is_a_valid_transaction() -> None:
    """A $0 authorisation (account verification) is scored, not rejected."""
    assert make(amount=0).amount == 0


def test_events_are_frozen() -> None:
    """Events are immutable values."""
    tx = make()
    with pytest.raises(AttributeError):
        tx.amount = 5.0  # type: ignore[misc]
