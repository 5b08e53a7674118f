"""The checks every kind's events are validated with at the boundary (each kind declares its
event types in its own folder).

A bad field raises :class:`EventValidationError` naming the field, the value and what was
expected. Nothing downstream (features, stores) ever sees an invalid event.
"""

from __future__ import annotations

import ipaddress
import math
import re
from datetime import UTC, datetime, timedelta
from typing import Any

from fraudscore._errors import EventValidationError

__all__ = [
    "AMOUNT",
    "ASN",
    "BIN",
    "EMAIL_DOMAIN",
    "MAX_AMOUNT",
    "MAX_ASN",
    "MAX_DOMAIN",
    "MCC",
    "check_amount",
    "check_asn",
    "check_digits",
    "check_domain",
    "check_finite",
    "check_id",
    "check_ip",
    "check_unicode",
    "check_upper_code",
    "check_utc",
    "digits_expected",
    "is_asn",
    "is_digits",
    "is_domain",
    "is_finite_number",
    "is_upper_code",
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
ASN = f"a non-negative int (autonomous system, at most {MAX_ASN})"

#: A domain name's longest text form (RFC 1035), and an email domain: lowercase ASCII labels
#: of letters, digits and hyphens, joined by dots (at least two labels).
MAX_DOMAIN = 253
_DOMAIN = re.compile(r"[a-z0-9-]+(?:\.[a-z0-9-]+)+")
EMAIL_DOMAIN = (
    "an email domain such as 'gmail.com': lowercase ASCII labels of letters, digits and "
    f"hyphens joined by dots, at most {MAX_DOMAIN} characters, no '@'"
)

#: Card codes: (what, fewest digits, most digits).
BIN = ("a card BIN (IIN)", 6, 8)
MCC = ("an ISO 18245 merchant category code (MCC)", 4, 4)


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


def is_upper_code(value: Any, length: int) -> bool:
    """A string of exactly ``length`` upper-case ASCII letters (ISO country, currency codes)."""
    return (
        type(value) is str
        and len(value) == length
        and value.isascii()
        and value.isalpha()
        and value.isupper()
    )


def check_upper_code(name: str, value: Any, length: int, what: str) -> None:
    if not is_upper_code(value, length):
        raise EventValidationError(name, value, f"{what}: {length} upper-case letters")


def is_asn(value: Any) -> bool:
    """An autonomous system number: an int (not a bool) from 0 to ``MAX_ASN``."""
    return type(value) is int and 0 <= value <= MAX_ASN


def check_asn(name: str, value: Any) -> None:
    if not is_asn(value):
        raise EventValidationError(name, value, ASN)


def is_digits(value: Any, fewest: int, most: int) -> bool:
    """A string of ``fewest`` to ``most`` ASCII digits (a code: leading zeros count)."""
    return (
        type(value) is str and fewest <= len(value) <= most and value.isascii() and value.isdigit()
    )


def digits_expected(what: str, fewest: int, most: int) -> str:
    count = str(fewest) if fewest == most else f"{fewest} to {most}"
    return f"{what}: a string of {count} digits"


def check_digits(name: str, value: Any, what: str, fewest: int, most: int) -> None:
    """A code of digits, such as ``check_digits("bin", value, *BIN)``."""
    if not is_digits(value, fewest, most):
        raise EventValidationError(name, value, digits_expected(what, fewest, most))


def is_domain(value: Any) -> bool:
    """A lowercase ASCII domain name of two labels or more (no ``@``, no whitespace)."""
    return type(value) is str and len(value) <= MAX_DOMAIN and _DOMAIN.fullmatch(value) is not None


def check_domain(name: str, value: Any) -> None:
    if not is_domain(value):
        raise EventValidationError(name, value, EMAIL_DOMAIN)


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
