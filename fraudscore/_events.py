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

__all__ = ["CHANNELS", "CNP_CHANNELS", "Label", "Transaction"]

#: Accepted values of ``Transaction.channel``; ``online`` and ``moto`` are card-not-present.
CHANNELS = frozenset({"pos", "online", "atm", "moto"})
CNP_CHANNELS = frozenset({"online", "moto"})

_ZERO = timedelta(0)


def check_id(name: str, value: Any) -> None:
    if type(value) is not str or not value or value.isspace():
        raise EventValidationError(name, value, "a non-empty string")


def check_utc(name: str, value: Any) -> None:
    if not isinstance(value, datetime):
        raise EventValidationError(name, value, "a timezone-aware UTC datetime")
    if value.tzinfo is None or value.utcoffset() != _ZERO:
        raise EventValidationError(
            name, value, "a timezone-aware UTC datetime (use tzinfo=timezone.utc)"
        )


def check_upper_code(name: str, value: Any, length: int, what: str) -> None:
    if type(value) is not str or len(value) != length or not value.isalpha() or not value.isupper():
        raise EventValidationError(name, value, f"{what}: {length} upper-case letters")


def check_ip(name: str, value: Any) -> None:
    try:
        ipaddress.ip_address(value)
    except (ValueError, TypeError):
        raise EventValidationError(name, value, "an IPv4 or IPv6 address") from None


@dataclass(frozen=True, slots=True)
class Transaction:
    """A card transaction to score or record.

    ``amount`` is in the card's currency units and must be finite and > 0. ``timestamp`` must be
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
        check_utc("timestamp", self.timestamp)
        if self.timestamp.tzinfo is not UTC:  # same instant; fast .timestamp()
            object.__setattr__(self, "timestamp", self.timestamp.replace(tzinfo=UTC))
        check_id("customer_id", self.customer_id)
        check_id("terminal_id", self.terminal_id)
        amount = self.amount
        if (
            isinstance(amount, bool)
            or not isinstance(amount, int | float)
            or not (math.isfinite(amount) and amount > 0)
        ):
            raise EventValidationError("amount", amount, "a finite number > 0")
        if self.currency is not None:
            check_upper_code("currency", self.currency, 3, "an ISO-4217 code")
        if self.channel is not None and self.channel not in CHANNELS:
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
        check_utc("label_time", self.label_time)
        if self.label_time.tzinfo is not UTC:
            object.__setattr__(self, "label_time", self.label_time.replace(tzinfo=UTC))
        if type(self.is_fraud) is not bool:
            raise EventValidationError("is_fraud", self.is_fraud, "a bool")
