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


# -- card-not-present fields -----------------------------------------------------------------

CNP_GOOD: dict[str, Any] = dict(
    asn=15169,
    ip_country="US",
    email_domain="mail.example-shop.co.uk",
    billing_country="GB",
    shipping_country="FR",
    card_country="DE",
    bin="41111111",
    merchant_category="0742",
)


def test_card_not_present_fields_are_kept() -> None:
    """Every card-not-present field accepts a good value and keeps it as given."""
    tx = make(**CNP_GOOD)
    assert {name: getattr(tx, name) for name in CNP_GOOD} == CNP_GOOD


@pytest.mark.parametrize("field", list(CNP_GOOD))
def test_card_not_present_fields_are_optional(field: str) -> None:
    """Each card-not-present field defaults to None and accepts None beside the others."""
    assert getattr(make(), field) is None
    assert getattr(make(**{**CNP_GOOD, field: None}), field) is None


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("asn", 0),
        ("asn", 2**32 - 1),
        ("bin", "000000"),
        ("bin", "1234567"),
        ("email_domain", "a.b"),
        ("email_domain", "xn--bcher-kva.example"),
        ("email_domain", "a." + "b" * 251),
    ],
)
def test_card_not_present_edge_values_are_accepted(field: str, value: Any) -> None:
    """Edge values are valid: ASN 0 and 2**32-1, 6-digit BINs, 3- and 253-character domains."""
    assert getattr(make(**{field: value}), field) == value


@pytest.mark.parametrize(
    ("field", "value", "expected"),
    [
        ("asn", -1, "non-negative int"),
        ("asn", 2**32, "at most 4294967295"),
        ("asn", True, "non-negative int"),
        ("asn", 15169.0, "non-negative int"),
        ("asn", "15169", "non-negative int"),
        ("ip_country", "us", "ISO-3166"),
        ("ip_country", "USA", "ISO-3166"),
        ("billing_country", "gb", "ISO-3166"),
        ("billing_country", 44, "ISO-3166"),
        ("shipping_country", "F1", "ISO-3166"),
        ("card_country", "de", "ISO-3166"),
        ("card_country", "ÉS", "ISO-3166"),
        ("merchant_category", "5411 ", "a string of 4 digits"),
        ("merchant_category", "541", "a string of 4 digits"),
        ("merchant_category", 5411, "a string of 4 digits"),
        ("merchant_category", "54a1", "a string of 4 digits"),
        ("merchant_category", "٥٤١١", "a string of 4 digits"),  # Arabic-Indic digits
        ("bin", "12345", "a string of 6 to 8 digits"),
        ("bin", "123456789", "a string of 6 to 8 digits"),
        ("bin", "12a456", "a string of 6 to 8 digits"),
        ("bin", 411111, "a string of 6 to 8 digits"),
        ("email_domain", "Gmail.com", "lowercase"),
        ("email_domain", "a@b.com", "no '@'"),
        ("email_domain", "nodot", "joined by dots"),
        ("email_domain", "", "email domain"),
        ("email_domain", "gmail.com ", "email domain"),
        ("email_domain", "gmail..com", "email domain"),
        ("email_domain", "gmail_x.com", "email domain"),
        ("email_domain", "gmäil.com", "ASCII"),
        ("email_domain", "a." + "b" * 252, "at most 253"),
        ("email_domain", b"gmail.com", "email domain"),
    ],
)
def test_bad_card_not_present_field_is_named(field: str, value: Any, expected: str) -> None:
    """Each bad card-not-present value raises EventValidationError naming field and value."""
    with pytest.raises(EventValidationError) as info:
        make(**{**CNP_GOOD, field: value})
    err = info.value
    assert err.field == field and err.value is value
    assert expected in err.expected and repr(field) in str(err)
