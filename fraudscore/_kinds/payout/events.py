"""The payout kind's events: :class:`Payout` (scored and recorded) and :class:`PayoutLabel` (a
confirmed scam or mule cash-out, folded into label-derived state), validated at construction."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from fraudscore._errors import EventValidationError
from fraudscore._events import check_amount, check_id, check_ip, check_upper_code, set_utc

__all__ = ["DECISIONS", "FAST_METHODS", "METHODS", "Payout", "PayoutLabel"]

#: Accepted values of ``Payout.method``: a batch bank transfer, an instant payment (SEPA Inst,
#: Faster Payments), a push to a card, a transfer to an e-wallet.
METHODS = frozenset({"bank_transfer", "instant", "card", "wallet"})
#: The methods whose money lands in seconds and can hardly be recalled.
FAST_METHODS = frozenset({"instant", "card", "wallet"})

#: The decisions, from the least to the most severe: (below review, review, block).
DECISIONS = ("release", "hold", "block")


@dataclass(frozen=True, slots=True)
class Payout:
    """Money leaving a customer's account (``account_id``) to an external beneficiary account
    (``beneficiary_id``), to score before it is released.

    ``amount`` is in the account's currency units, from 0 to ``MAX_AMOUNT`` (1e15); ``method``
    is one of :data:`METHODS`. ``timestamp`` must be timezone-aware UTC. The optional fields add
    features: ``balance`` (the account's balance before the payout, a finite number >= 0),
    ``device_id`` and ``ip`` (of the session that asked for it) and ``country`` (the
    beneficiary bank's, ISO-3166 alpha-2).
    """

    payout_id: str
    timestamp: datetime
    account_id: str
    beneficiary_id: str
    amount: float
    method: str
    balance: float | None = None
    device_id: str | None = None
    ip: str | None = None
    country: str | None = None

    def __post_init__(self) -> None:
        check_id("payout_id", self.payout_id)
        set_utc(self, "timestamp")
        check_id("account_id", self.account_id)
        check_id("beneficiary_id", self.beneficiary_id)
        check_amount("amount", self.amount)
        if type(self.method) is not str or self.method not in METHODS:
            raise EventValidationError("method", self.method, f"one of {sorted(METHODS)}")
        if self.balance is not None:
            check_amount("balance", self.balance)
        if self.device_id is not None:
            check_id("device_id", self.device_id)
        if self.ip is not None:
            check_ip("ip", self.ip)
        if self.country is not None:
            check_upper_code("country", self.country, 2, "an ISO-3166 alpha-2 code")


@dataclass(frozen=True, slots=True)
class PayoutLabel:
    """A confirmed outcome for a past payout (a reported scam, a confirmed mule account).

    ``label_time`` is when it became known; label-derived features (the account's and the
    beneficiary's confirmed frauds) use it only from that moment on.
    """

    payout_id: str
    account_id: str
    beneficiary_id: str
    label_time: datetime
    is_fraud: bool = True

    def __post_init__(self) -> None:
        check_id("payout_id", self.payout_id)
        check_id("account_id", self.account_id)
        check_id("beneficiary_id", self.beneficiary_id)
        set_utc(self, "label_time")
        if type(self.is_fraud) is not bool:
            raise EventValidationError("is_fraud", self.is_fraud, "a bool")
