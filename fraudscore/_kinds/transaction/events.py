"""The transaction kind's events: :class:`Transaction` (scored and recorded) and :class:`Label`
(a confirmed outcome, folded into label-derived state), validated at construction."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from fraudscore._errors import EventValidationError
from fraudscore._events import (
    BIN,
    MCC,
    check_amount,
    check_asn,
    check_digits,
    check_domain,
    check_id,
    check_ip,
    check_upper_code,
    set_utc,
)

__all__ = ["CHANNELS", "CNP_CHANNELS", "DECISIONS", "Label", "Transaction"]

#: Accepted values of ``Transaction.channel``; ``online`` and ``moto`` are card-not-present.
CHANNELS = frozenset({"pos", "online", "atm", "moto"})
CNP_CHANNELS = frozenset({"online", "moto"})

#: The decisions, from the least to the most severe: (below review, review, block).
DECISIONS = ("approve", "review", "decline")
_ISO2 = "an ISO-3166 alpha-2 code"


@dataclass(frozen=True, slots=True)
class Transaction:
    """A card transaction to score or record.

    ``amount`` is in the card's currency units, from 0 (a $0 authorisation verifies a card) to
    ``MAX_AMOUNT`` (1e15). ``timestamp`` must be timezone-aware UTC. The optional fields add
    features where the model uses them, and rules can read them:

    - ``currency``: ISO-4217 code; ``channel``: one of ``CHANNELS``; ``device_id``: an id;
      ``ip``: an IPv4 or IPv6 address; ``country``: ISO-3166 alpha-2 of the transaction.
    - ``asn``: the autonomous system (network) of ``ip``, an int from 0 to ``MAX_ASN``;
      ``ip_country``: ISO-3166 alpha-2 of ``ip``.
    - ``email_domain``: the domain of the customer's email, lowercase (``"gmail.com"``).
    - ``billing_country``, ``shipping_country``: ISO-3166 alpha-2 of the addresses;
      ``card_country``: ISO-3166 alpha-2 of the issuer (from the BIN).
    - ``bin``: the card's BIN (IIN), 6 to 8 digits; ``merchant_category``: the merchant's
      ISO 18245 category code (MCC), 4 digits. Both are strings: leading zeros count.
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
    asn: int | None = None
    ip_country: str | None = None
    email_domain: str | None = None
    billing_country: str | None = None
    shipping_country: str | None = None
    card_country: str | None = None
    bin: str | None = None
    merchant_category: str | None = None

    def __post_init__(self) -> None:
        check_id("transaction_id", self.transaction_id)
        set_utc(self, "timestamp")
        check_id("customer_id", self.customer_id)
        check_id("terminal_id", self.terminal_id)
        check_amount("amount", self.amount)
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
            check_upper_code("country", self.country, 2, _ISO2)
        if self.asn is not None:
            check_asn("asn", self.asn)
        if self.ip_country is not None:
            check_upper_code("ip_country", self.ip_country, 2, _ISO2)
        if self.email_domain is not None:
            check_domain("email_domain", self.email_domain)
        if self.billing_country is not None:
            check_upper_code("billing_country", self.billing_country, 2, _ISO2)
        if self.shipping_country is not None:
            check_upper_code("shipping_country", self.shipping_country, 2, _ISO2)
        if self.card_country is not None:
            check_upper_code("card_country", self.card_country, 2, _ISO2)
        if self.bin is not None:
            check_digits("bin", self.bin, *BIN)
        if self.merchant_category is not None:
            check_digits("merchant_category", self.merchant_category, *MCC)


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
