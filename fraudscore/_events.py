"""The checks every kind's events are validated with at the boundary (each kind declares its
event types in its own folder).

A bad field raises :class:`EventValidationError` naming the field, the value and what was
expected. Nothing downstream (features, stores) ever sees an invalid event.
"""

from __future__ import annotations

import ipaddress
import math
from datetime import UTC, datetime, timedelta
from typing import Any

from fraudscore._errors import EventValidationError

__all__ = [
    "AMOUNT",
    "MAX_AMOUNT",
    "MAX_ASN",
    "check_amount",
    "check_finite",
    "check_id",
    "check_ip",
    "check_unicode",
    "check_upper_code",
    "check_utc",
    "is_finite_number",
    "set_utc",
]

#: The largest amount accepted, in currency units: far above any real payment in any currency,
#: and far inside what the model computes in (float32), squares and sums of a card's history
#: included.
MAX_AMOUNT = 1e15
AMOUNT = f"a finite number from 0 to {MAX_AMOUNT:g}"

_ZERO = timedelta(0)
#: ASNs are 32-bit.
MAX_ASN = 2**32 - 1


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


def check_finite(name: str, value: Any, lo: float, hi: float) -> None:
    if not (is_finite_number(value) and lo <= value <= hi):
        raise EventValidationError(name, value, f"a finite number in [{lo:g}, {hi:g}]")


def check_amount(name: str, value: Any) -> None:
    """An amount of money: a finite number from 0 to ``MAX_AMOUNT`` (not a bool)."""
    if not (is_finite_number(value) and 0 <= value <= MAX_AMOUNT):
        raise EventValidationError(name, value, AMOUNT)
