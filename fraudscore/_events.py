"""Events: the public input contract, validated at the boundary.

A bad field raises :class:`EventValidationError` naming the field, the value and what was
expected. Nothing downstream (features, stores) ever sees an invalid event.
"""

from __future__ import annotations

import ipaddress
import math
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from fraudscore._errors import EventValidationError

__all__ = [
    "CHANNELS",
    "CNP_CHANNELS",
    "LOGIN_DECISIONS",
    "MAX_AMOUNT",
    "TRANSACTION_DECISIONS",
    "Label",
    "Login",
    "Transaction",
]

#: Accepted values of ``Transaction.channel``; ``online`` and ``moto`` are card-not-present.
CHANNELS = frozenset({"pos", "online", "atm", "moto"})
CNP_CHANNELS = frozenset({"online", "moto"})

#: The decisions of each kind, from the least to the most severe: (below review, review, block).
TRANSACTION_DECISIONS = ("approve", "review", "decline")
LOGIN_DECISIONS = ("allow", "challenge", "deny")

#: The largest amount accepted, in currency units: far above any real payment in any currency,
#: and far inside what the model computes in (float32), squares and sums of a card's history
#: included.
MAX_AMOUNT = 1e15
_AMOUNT = f"a finite number from 0 to {MAX_AMOUNT:g}"

_ZERO = timedelta(0)
#: ASNs are 32-bit.
_MAX_ASN = 2**32 - 1


def check_id(name: str, value: Any) -> None:
    if type(value) is not str or not value or value.isspace():
        raise EventValidationError(name, value, "a non-empty string")
    check_unicode(name, value)


def check_unicode(name: str, value: str) -> None:
    """Stores encode ids as UTF-8: a lone surrogate cannot be encoded."""
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        raise EventValidationError(
            name, value, "a string of valid Unicode (no lone surrogates)"
        ) from None


def is_finite_number(value: Any) -> bool:
    """A real number (not a bool) that is finite as a float; huge ints are not."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return False
    try:
        return math.isfinite(value)
    except OverflowError:
        return False


def check_utc(name: str, value: Any) -> None:
    if not isinstance(value, datetime):
        raise EventValidationError(name, value, "a timezone-aware UTC datetime")
    if value.tzinfo is None or value.utcoffset() != _ZERO:
        raise EventValidationError(
            name, value, "a timezone-aware UTC datetime (use tzinfo=timezone.utc)"
        )


def set_utc(event: object, name: str) -> None:
    """Check ``event.name`` is a UTC datetime and store it with ``datetime.UTC`` as its tzinfo:
    the same instant, but ``.timestamp()`` is fast (a pytz or zoneinfo UTC costs ~25 µs)."""
    value = getattr(event, name)
    check_utc(name, value)
    if value.tzinfo is not UTC:
        object.__setattr__(event, name, value.replace(tzinfo=UTC))


def check_upper_code(name: str, value: Any, length: int, what: str) -> None:
    if (
        type(value) is not str
        or len(value) != length
        or not value.isascii()
        or not value.isalpha()
        or not value.isupper()
    ):
        raise EventValidationError(name, value, f"{what}: {length} upper-case letters")


def check_ip(name: str, value: Any) -> None:
    """A string holding an IPv4 or IPv6 address (``ip_address`` also takes ints: not here)."""
    try:
        if type(value) is not str:
            raise TypeError
        ipaddress.ip_address(value)
    except (ValueError, TypeError):
        raise EventValidationError(name, value, "an IPv4 or IPv6 address, as a string") from None


@dataclass(frozen=True, slots=True)
class Transaction:
    """A card transaction to score or record.

    ``amount`` is in the card's currency units, from 0 (a $0 authorisation verifies a card) to
    ``MAX_AMOUNT`` (1e15). ``timestamp`` must be
    timezone-aware UTC. The optional fields add features where the model uses them.
    """

    transaction_id: str
    timestamp: datetime
    customer_id: str
    terminal_id: str
    amount: float
    currency: str | None = None
    channel: str | None = None
    device_id: str | None = None
    ip: str | None = None
    country: str | None = None

    def __post_init__(self) -> None:
        check_id("transaction_id", self.transaction_id)
        set_utc(self, "timestamp")
        check_id("customer_id", self.customer_id)
        check_id("terminal_id", self.terminal_id)
        amount = self.amount
        if not (is_finite_number(amount) and 0 <= amount <= MAX_AMOUNT):
            raise EventValidationError("amount", amount, _AMOUNT)
        if self.currency is not None:
            check_upper_code("currency", self.currency, 3, "an ISO-4217 code")
        if self.channel is not None and (
            type(self.channel) is not str or self.channel not in CHANNELS
        ):
            raise EventValidationError("channel", self.channel, f"one of {sorted(CHANNELS)}")
        if self.device_id is not None:
            check_id("device_id", self.device_id)
        if self.ip is not None:
            check_ip("ip", self.ip)
        if self.country is not None:
            check_upper_code("country", self.country, 2, "an ISO-3166 alpha-2 code")


@dataclass(frozen=True, slots=True)
class Label:
    """A confirmed outcome for a past transaction (a chargeback, or a confirmed genuine).

    ``label_time`` is when the label became known; label-derived features use a label only from
    that moment on.
    """

    transaction_id: str
    customer_id: str
    terminal_id: str
    label_time: datetime
    is_fraud: bool = True

    def __post_init__(self) -> None:
        check_id("transaction_id", self.transaction_id)
        check_id("customer_id", self.customer_id)
        check_id("terminal_id", self.terminal_id)
        set_utc(self, "label_time")
        if type(self.is_fraud) is not bool:
            raise EventValidationError("is_fraud", self.is_fraud, "a bool")


def _check_finite(name: str, value: Any, lo: float, hi: float) -> None:
    if not (is_finite_number(value) and lo <= value <= hi):
        raise EventValidationError(name, value, f"a finite number in [{lo:g}, {hi:g}]")


@dataclass(frozen=True, slots=True)
class Login:
    """A login attempt, scored after the password check (``success``: were the credentials right).

    The columns mirror the public RBA login dataset (Wiefling et al.). ``country`` is ISO-3166
    alpha-2, ``asn`` a non-negative int, ``ip`` an IPv4 or IPv6 address. ``latitude`` and
    ``longitude`` come together or not at all.
    """

    login_id: str
    timestamp: datetime
    user_id: str
    ip: str
    country: str
    asn: int
    user_agent: str
    success: bool
    device_id: str | None = None
    latitude: float | None = None
    longitude: float | None = None
    rtt_ms: float | None = None

    def __post_init__(self) -> None:
        check_id("login_id", self.login_id)
        set_utc(self, "timestamp")
        check_id("user_id", self.user_id)
        check_ip("ip", self.ip)
        check_upper_code("country", self.country, 2, "an ISO-3166 alpha-2 code")
        if type(self.asn) is not int or not 0 <= self.asn <= _MAX_ASN:
            raise EventValidationError(
                "asn", self.asn, f"a non-negative int (autonomous system, at most {_MAX_ASN})"
            )
        check_id("user_agent", self.user_agent)
        if type(self.success) is not bool:
            raise EventValidationError("success", self.success, "a bool")
        if self.device_id is not None:
            check_id("device_id", self.device_id)
        if (self.latitude is None) != (self.longitude is None):
            field = "longitude" if self.longitude is None else "latitude"
            raise EventValidationError(field, None, "latitude and longitude together, or neither")
        if self.latitude is not None:
            _check_finite("latitude", self.latitude, -90.0, 90.0)
            _check_finite("longitude", self.longitude, -180.0, 180.0)
        if self.rtt_ms is not None:
            _check_finite("rtt_ms", self.rtt_ms, 0.0, 600_000.0)
