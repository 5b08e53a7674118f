"""Transaction features: state views, request-time features and the reason catalogue.

Everything a transaction model knows about features is defined here, once. The offline pipeline
(``_offline``, on arrays) and the online scorer (``_scorer``, on floats) both go event columns ->
``StateView.read`` -> :func:`features`, and call ``StateView.update`` to move state forward.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from fraudscore._kinds.base import WARM_UP, EventKind, Simulator, present
from fraudscore._kinds.transaction import evaluation as _evaluation
from fraudscore._kinds.transaction.events import CNP_CHANNELS, DECISIONS, Label, Transaction
from fraudscore._kinds.transaction.frames import prepare_transactions
from fraudscore._kinds.transaction.handbook import HandbookSimConfig, simulate_handbook
from fraudscore._kinds.transaction.simulate import TransactionSimConfig, simulate_transactions
from fraudscore._state import ABSENT, Accumulator, Array, StateView

if TYPE_CHECKING:
    import pandas as pd

__all__ = [
    "CATALOGUE",
    "CUSTOMER",
    "CUSTOMER_TERMINAL",
    "FEATURES",
    "FEATURE_SERVICE",
    "KIND",
    "RAW_FEATURES",
    "TERMINAL",
    "VIEWS",
    "event_values",
    "features",
]

HOUR = 3600.0
DAY = 86400.0

CUSTOMER = StateView(
    name="customer_state",
    keys=("customer_id",),
    clocks=("tx", "label"),
    accumulators=(
        Accumulator("n_1h", "tx", HOUR),
        Accumulator("n_1d", "tx", DAY),
        Accumulator("n_7d", "tx", 7 * DAY),
        Accumulator("n_30d", "tx", 30 * DAY),
        Accumulator("amt_1d", "tx", DAY, "amount"),
        Accumulator("amt_7d", "tx", 7 * DAY, "amount"),
        Accumulator("amt_30d", "tx", 30 * DAY, "amount"),
        Accumulator("amt2_7d", "tx", 7 * DAY, "amount_sq"),
        Accumulator("amt2_30d", "tx", 30 * DAY, "amount_sq"),
        Accumulator("fraud_30d", "label", 30 * DAY),
        # The defence's own suspicion: attempts it reviewed or declined (see ``clocks``).
        Accumulator("flagged_1d", "tx", DAY, "flagged"),
        # How used the card is to sending a device and a network (card-not-present habits).
        Accumulator("device_30d", "tx", 30 * DAY, "has_device"),
        Accumulator("network_30d", "tx", 30 * DAY, "has_network"),
    ),
    ttl=timedelta(days=90),
    description="Per card: decayed transaction counts, amounts and their squares, confirmed "
    "frauds, attempts the defence flagged, payments with a device and a network.",
)

TERMINAL = StateView(
    name="terminal_state",
    keys=("terminal_id",),
    clocks=("tx", "label"),
    accumulators=(
        Accumulator("n_1d", "tx", DAY),
        Accumulator("n_7d", "tx", 7 * DAY),
        Accumulator("n_30d", "tx", 30 * DAY),
        Accumulator("fraud_7d", "label", 7 * DAY),
        Accumulator("fraud_30d", "label", 30 * DAY),
    ),
    ttl=timedelta(days=90),
    description="Per terminal: decayed transaction counts and confirmed frauds.",
)

CUSTOMER_TERMINAL = StateView(
    name="customer_terminal_state",
    keys=("customer_id", "terminal_id"),
    # Familiarity is built by what went through: a reviewed or declined attempt is not a use.
    clocks=("ok",),
    accumulators=(Accumulator("n_30d", "ok", 30 * DAY),),
    ttl=timedelta(days=180),
    description="Per card and terminal pair: how often and how recently the card was used there "
    "(transactions the defence let through).",
)

# Card-not-present signals: the device, the network and the shipping country a payment comes
# with. Each is optional: a view keyed on one has no entity for an
# event without it (it reads no history and moves no state), and its features read NaN.

DEVICE_CARD = StateView(
    name="device_card_state",
    keys=("device_id", "customer_id"),
    clocks=("tx", "ok"),
    accumulators=(
        Accumulator("n_30d", "ok", 30 * DAY),
        Accumulator("tx_30d", "tx", 30 * DAY),
    ),
    ttl=timedelta(days=180),
    description="Per device and card pair: when the card was last seen on the device, and "
    "how often it paid from it (all attempts, and those that went through).",
)

DEVICE = StateView(
    name="device_state",
    keys=("device_id",),
    clocks=("tx",),
    accumulators=(
        Accumulator("n_1h", "tx", HOUR),
        Accumulator("n_1d", "tx", DAY),
        # A card not seen on the device before (``device_card_state`` empty): distinct cards.
        Accumulator("cards_1d", "tx", DAY, "new_device_card"),
        Accumulator("n_30d", "tx", 30 * DAY),
        Accumulator("flagged_1d", "tx", DAY, "flagged"),
    ),
    ttl=timedelta(days=90),
    description="Per device: decayed payments, distinct cards, and attempts the defence flagged.",
)


def _familiarity(name: str, key: str, description: str) -> StateView:
    """Per card and ``key``: the card's payments with it that went through, in 30 days."""
    return StateView(
        name=name,
        keys=("customer_id", key),
        clocks=("ok",),
        accumulators=(Accumulator("n_30d", "ok", 30 * DAY),),
        ttl=timedelta(days=180),
        description=description,
    )


CUSTOMER_NETWORK = _familiarity(
    "customer_network_state",
    "asn_key",
    "Per card and network (ASN): payments from it that went through.",
)
CUSTOMER_SHIPPING = _familiarity(
    "customer_shipping_state",
    "shipping_country",
    "Per card and shipping country: payments shipped there that went through.",
)

VIEWS: tuple[StateView, ...] = (
    CUSTOMER,
    TERMINAL,
    CUSTOMER_TERMINAL,
    DEVICE_CARD,
    DEVICE,
    CUSTOMER_NETWORK,
    CUSTOMER_SHIPPING,
)
FEATURE_SERVICE = "transaction_model_v4"

FEATURES: tuple[str, ...] = (
    "amount",
    "hour_of_day",
    "is_weekend",
    "card_not_present",
    "cust_secs_since_last",
    "cust_n_1h",
    "cust_n_1d",
    "cust_n_7d",
    "cust_n_30d",
    "amt_ratio_1d",
    "amt_ratio_7d",
    "amt_ratio_30d",
    "cust_fraud_30d",
    "term_n_1d",
    "term_n_7d",
    "term_fraud_7d",
    "term_fraud_30d",
    "term_fraud_rate_30d",
    "ct_n_30d",
    "ct_secs_since_last",
    "amt_z_7d",
    "amt_z_30d",
    "spend_spike_1d_30d",
    "cust_flagged_1d",
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

#: The raw event fields alone: the features of the "raw fields" evaluation baseline.
RAW_FEATURES: tuple[str, ...] = FEATURES[:4]

_NAN = math.nan
_WEEKDAYS = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")


def card_not_present(channel: str | None) -> float:
    """1.0 for card-not-present channels, 0.0 for card-present, NaN when not given."""
    return _NAN if channel is None else float(channel in CNP_CHANNELS)


def mismatch(a: str | None, b: str | None) -> float:
    """1.0 where two countries differ, 0.0 where they agree, NaN where either is not given."""
    return _NAN if a is None or b is None else float(a != b)


#: The optional fields whose presence is an event column (``has_<name>``), and the field.
_PRESENCE = (
    ("has_device", "device_id"),
    ("has_network", "asn_key"),
    ("has_shipping", "shipping_country"),
)
#: The country pairs compared (``mismatch``): column -> (field, field).
_MISMATCHES = (
    ("ip_card_mismatch", "ip_country", "card_country"),
    ("billing_card_mismatch", "billing_country", "card_country"),
    ("shipping_billing_mismatch", "shipping_country", "billing_country"),
)


def frame_columns(frame: pd.DataFrame) -> dict[str, Array]:
    """The event columns of a prepared frame (``t`` is set from the stream)."""
    n = len(frame)

    def strings(name: str) -> list[Any]:
        return frame[name].tolist() if name in frame.columns else [None] * n

    amount = frame["amount"].to_numpy(np.float64)
    out = {
        "t": np.zeros(n),
        "amount": amount,
        "amount_sq": amount * amount,
        "cnp": np.array([card_not_present(c) for c in strings("channel")], dtype=np.float64),
    }
    for column, name in _PRESENCE:
        out[column] = np.array([v is not None for v in strings(name)], dtype=np.float64)
    for column, a, b in _MISMATCHES:
        pairs = zip(strings(a), strings(b), strict=True)
        out[column] = np.array([mismatch(x, y) for x, y in pairs], dtype=np.float64)
    return out


def label_events(frame: pd.DataFrame) -> tuple[np.ndarray, np.ndarray]:
    """(rows, label_time in ns) of the fraud labels: each becomes a stream event at label_time."""
    rows = np.flatnonzero(frame["is_fraud"].to_numpy() == 1)
    return rows, frame["label_time"].array.asi8[rows]


def clock_masks(cols: Mapping[str, Array], is_label: np.ndarray) -> dict[str, np.ndarray]:
    """Which stream events move which clock: transactions ``tx``, those the defence let
    through ``ok`` as well, fraud labels ``label``."""
    tx = ~is_label
    return {"tx": tx, "ok": tx & (cols["allowed"] == 1.0), "label": is_label}


def clocks(values: Mapping[str, float]) -> tuple[str, ...]:
    """The clocks one recorded transaction moves (as ``clock_masks`` does offline)."""
    return ("tx", "ok") if values["allowed"] == 1.0 else ("tx",)


def keys(tx: Transaction) -> list[tuple[str, ...]]:
    """The entity key of each view for one transaction, in ``VIEWS`` order (``ABSENT`` for an
    optional entity the transaction does not carry)."""
    card = tx.customer_id
    device = tx.device_id or ABSENT
    return [
        (card,),
        (tx.terminal_id,),
        (card, tx.terminal_id),
        (device, card),
        (device,),
        (card, ABSENT if tx.asn is None else str(tx.asn)),
        (card, tx.shipping_country or ABSENT),
    ]


def event_values(tx: Transaction) -> dict[str, float]:
    """The event columns of one validated transaction as floats (the online path)."""
    amount = float(tx.amount)
    return {
        "t": tx.timestamp.timestamp(),
        "amount": amount,
        "amount_sq": amount * amount,
        "cnp": card_not_present(tx.channel),
        "has_device": 0.0 if tx.device_id is None else 1.0,
        "has_network": 0.0 if tx.asn is None else 1.0,
        "has_shipping": 0.0 if tx.shipping_country is None else 1.0,
        "ip_card_mismatch": mismatch(tx.ip_country, tx.card_country),
        "billing_card_mismatch": mismatch(tx.billing_country, tx.card_country),
        "shipping_billing_mismatch": mismatch(tx.shipping_country, tx.billing_country),
    }


_C = CUSTOMER.index
_K = TERMINAL.index
_CT = CUSTOMER_TERMINAL.index
_DC = DEVICE_CARD.index
_D = DEVICE.index
_PAIR = CUSTOMER_NETWORK.index  # customer_shipping_state has the same layout


def features(cols: Mapping[str, Any], reads: Mapping[str, Sequence[Any]], xp: Any) -> list[Any]:
    """The model's features, in ``FEATURES`` order, from event columns and state reads.

    ``reads[view.name]`` is ``view.read(state_before_event, t, xp)[0]``: only state from before
    the event, and only labels known at or before it, ever reach this function. Values are
    arrays (``xp = NP``, offline) or floats (``xp = PY``, online).
    """
    t = cols["t"]
    amount = cols["amount"]
    c = reads["customer_state"]
    k = reads["terminal_state"]
    ct = reads["customer_terminal_state"]
    div, at_least = xp.div, xp.at_least
    return [
        amount,
        (t % DAY) / HOUR,
        # 1970-01-01 was a Thursday: (days + 3) % 7 is 0 on Monday, 5 and 6 at the weekend.
        xp.as_float((xp.floor(t / DAY) + 3.0) % 7.0 >= 5.0),
        cols["cnp"],
        # Time since: never negative (a late event reads as "just now", see ScoreResult).
        at_least(t - c[_C["tx_ts"]], 0.0),
        c[_C["n_1h"]],
        c[_C["n_1d"]],
        c[_C["n_7d"]],
        c[_C["n_30d"]],
        # Decay-weighted mean amount: amt_k / n_k does not depend on how much both decayed. A
        # mean below one currency unit (a history of $0 verifications) counts as one unit, so
        # the ratio stays finite; no history at all stays NaN.
        div(amount, at_least(div(c[_C["amt_1d"]], c[_C["n_1d"]]), 1.0)),
        div(amount, at_least(div(c[_C["amt_7d"]], c[_C["n_7d"]]), 1.0)),
        div(amount, at_least(div(c[_C["amt_30d"]], c[_C["n_30d"]]), 1.0)),
        c[_C["fraud_30d"]],
        k[_K["n_1d"]],
        k[_K["n_7d"]],
        k[_K["fraud_7d"]],
        k[_K["fraud_30d"]],
        k[_K["fraud_30d"]] / (k[_K["n_30d"]] + 1.0),
        ct[_CT["n_30d"]],
        at_least(t - ct[_CT["ok_ts"]], 0.0),
        _z_score(amount, c[_C["amt_7d"]], c[_C["amt2_7d"]], c[_C["n_7d"]], xp),
        _z_score(amount, c[_C["amt_30d"]], c[_C["amt2_30d"]], c[_C["n_30d"]], xp),
        # Today's spend, this transaction included, against the card's usual daily spend over
        # 30 days (at least one unit); NaN without history (div(n, n) is 1 or NaN).
        div(
            c[_C["amt_1d"]] + amount,
            at_least(c[_C["amt_30d"]] / 30.0 * div(c[_C["n_30d"]], c[_C["n_30d"]]), 1.0),
        ),
        c[_C["flagged_1d"]],
        *_signals(cols, reads, t, xp),
    ]


def _signals(
    cols: Mapping[str, Any], reads: Mapping[str, Sequence[Any]], t: Any, xp: Any
) -> list[Any]:
    """The card-not-present features: each NaN where its field was not given."""
    c = reads["customer_state"]
    dc = reads["device_card_state"]
    d = reads["device_state"]
    net = reads["customer_network_state"]
    ship = reads["customer_shipping_state"]
    where, nan = xp.where, _NAN
    device = cols["has_device"] > 0.0
    network = cols["has_network"] > 0.0
    shipping = cols["has_shipping"] > 0.0
    return [
        cols["has_device"],
        where(device, dc[_DC["n_30d"]], nan),
        # Since the card last went through on this device; NaN: never (or no device).
        xp.at_least(t - dc[_DC["ok_ts"]], 0.0),
        c[_C["device_30d"]],
        where(device, d[_D["n_1h"]], nan),
        where(device, d[_D["n_1d"]], nan),
        # New cards in about the last day; the tail of a first use weeks ago (a decayed count
        # never reaches 0) reads 0, so the feature does not drift with the device's age.
        where(device, _at_least_or_zero(d[_D["cards_1d"]], 0.05, xp), nan),
        # This card's share of the device's payments in 30 days: 1 on a card's own device,
        # low on a device many cards pay from; NaN on a device with no history.
        where(device, xp.div(dc[_DC["tx_30d"]], d[_D["n_30d"]]), nan),
        where(device, d[_D["flagged_1d"]], nan),
        where(network, net[_PAIR["n_30d"]], nan),
        c[_C["network_30d"]],
        cols["ip_card_mismatch"],
        cols["billing_card_mismatch"],
        cols["shipping_billing_mismatch"],
        where(shipping, ship[_PAIR["n_30d"]], nan),
    ]


def _z_score(amount: Any, total: Any, squares: Any, n: Any, xp: Any) -> Any:
    """How many of the card's standard deviations ``amount`` lies above its decayed mean; the
    deviation counts as at least one currency unit. NaN without history."""
    mean = xp.div(total, n)
    var = xp.at_least(xp.div(squares, n) - mean * mean, 0.0)
    return (amount - mean) / xp.at_least(xp.sqrt(var), 1.0)


#: Extra, human-friendly values for reason templates: name -> f(event, feature values). Each is
#: computed only when a shown reason's template uses it.
DISPLAY: dict[str, Callable[[Transaction, Mapping[str, Any]], Any]] = {
    "time_utc": lambda tx, _: f"{tx.timestamp.hour:02d}:{tx.timestamp.minute:02d}",
    "weekday": lambda tx, _: _WEEKDAYS[tx.timestamp.weekday()],
    "channel": lambda tx, _: tx.channel or "unknown",
    "mins_since_last": lambda _, v: v["cust_secs_since_last"] / 60.0,
    "days_at_terminal": lambda _, v: v["ct_secs_since_last"] / DAY,
    "device_history": lambda tx, v: _device_history(tx, v),
    "device_cards": lambda tx, v: None if tx.device_id is None else _device_cards(tx, v),
    "network_history": lambda tx, v: _network_history(tx, v),
    "countries": lambda tx, v: _countries(tx),
    "shipping_history": lambda tx, v: _shipping_history(tx, v),
}


def _at_least_or_zero(x: Any, lo: float, xp: Any) -> Any:
    """``x`` where it is at least ``lo``, else 0."""
    return xp.where(x >= lo, x, 0.0)


def _device_history(tx: Transaction, v: Mapping[str, Any]) -> str:
    if tx.device_id is None:
        if tx.channel in CNP_CHANNELS:
            return "no device fingerprint was sent with this card-not-present payment"
        return "no device fingerprint was sent with this payment"
    used = v["cust_device_30d"]
    others = "" if not v["dev_n_1d"] > 0 else f"; {_device_cards(tx, v)}"
    if v["card_device_secs_since"] != v["card_device_secs_since"]:
        return (
            "the card never went through on this device before (its payments carried a "
            f"device about {used:.0f} times in 30 days){others}"
        )
    return (
        f"card went through on this device about {v['card_device_n_30d']:.0f} times in 30 "
        f"days, last {v['card_device_secs_since'] / DAY:.1f} days ago{others}"
    )


def _device_cards(tx: Transaction, v: Mapping[str, Any]) -> str:
    share = v["dev_card_share_30d"]
    new = f"device seen with about {v['dev_cards_1d']:.0f} new card(s) in the last day"
    if share != share:
        return f"{new}; no payment from it in 30 days before this one"
    return (
        f"{new}; this card made {share:.0%} of the device's payments in 30 days; about "
        f"{v['dev_n_1h']:.0f} payment(s) from it in the last hour"
    )


def _network_history(tx: Transaction, v: Mapping[str, Any]) -> str | None:
    if tx.asn is None:
        return None
    n = v["card_network_n_30d"]
    if not n >= 0.5:
        return (
            f"payment from network AS{tx.asn}, where this card has no recent payment (it came "
            f"with a network about {v['cust_network_30d']:.0f} times in 30 days)"
        )
    return f"payment from network AS{tx.asn}, used by this card about {n:.0f} times in 30 days"


def _countries(tx: Transaction) -> str | None:
    shown = [
        f"{what} {value}"
        for what, value in (
            ("IP in", tx.ip_country),
            ("billing address in", tx.billing_country),
            ("shipping to", tx.shipping_country),
            ("card issued in", tx.card_country),
        )
        if value is not None
    ]
    return ", ".join(shown) if len(shown) >= 2 else None


def _shipping_history(tx: Transaction, v: Mapping[str, Any]) -> str | None:
    if tx.shipping_country is None:
        return None
    n = v["card_shipping_n_30d"]
    if not n >= 0.5:
        return f"shipping to {tx.shipping_country}, where this card has no recent order"
    return f"shipping to {tx.shipping_country}, about {n:.0f} orders of this card in 30 days"


#: Versioned reason catalogue: code -> features it covers, template, fallback when a value in
#: the template is missing (no history). Templates are ``str.format`` strings over feature values
#: and ``DISPLAY`` values.
CATALOGUE: dict[str, Any] = {
    "version": "transaction-reasons/4",
    "codes": {
        "AMOUNT_UNUSUAL": {
            "features": [
                "amount",
                "amt_ratio_1d",
                "amt_ratio_7d",
                "amt_ratio_30d",
                "amt_z_7d",
                "amt_z_30d",
            ],
            "template": "amount {amount:.2f} is {amt_ratio_30d:.1f}x this card's 30-day average "
            "({amt_z_30d:.1f} standard deviations from it)",
            "fallback": "amount {amount:.2f} on a card with no spending history",
        },
        "SPENDING_SPIKE": {
            "features": ["spend_spike_1d_30d"],
            "template": "card's spending today is {spend_spike_1d_30d:.1f}x its usual daily "
            "spending over 30 days",
            "fallback": "card has no spending history to compare today's spending with",
        },
        "CARD_VELOCITY": {
            "features": ["cust_n_1h", "cust_n_1d", "cust_secs_since_last"],
            "template": "card used about {cust_n_1h:.0f} times in the last hour and "
            "{cust_n_1d:.0f} in the last day; previous use {mins_since_last:.0f} min ago",
            "fallback": "first transaction seen on this card",
        },
        "CARD_HISTORY": {
            "features": ["cust_n_7d", "cust_n_30d"],
            "template": "card activity: about {cust_n_7d:.0f} transactions in 7 days, "
            "{cust_n_30d:.0f} in 30 days",
            "fallback": "card has no recent history",
        },
        "CARD_CONFIRMED_FRAUD": {
            "features": ["cust_fraud_30d"],
            "template": "card has {cust_fraud_30d:.1f} confirmed fraud(s) in the last 30 days "
            "(time-weighted)",
            "fallback": "card has no confirmed fraud on record",
        },
        "CARD_RECENTLY_FLAGGED": {
            "features": ["cust_flagged_1d"],
            "template": "about {cust_flagged_1d:.0f} of this card's attempts were held for "
            "review or declined in the last day",
            "fallback": "no attempt on this card was held or declined recently",
        },
        "TERMINAL_FRAUD": {
            "features": ["term_fraud_7d", "term_fraud_30d", "term_fraud_rate_30d"],
            "template": "terminal had {term_fraud_7d:.1f} confirmed frauds in the last 7 days, "
            "{term_fraud_30d:.1f} in 30 days",
            "fallback": "terminal has no confirmed fraud on record",
        },
        "TERMINAL_VELOCITY": {
            "features": ["term_n_1d", "term_n_7d"],
            "template": "terminal processed about {term_n_1d:.0f} transactions in the last day, "
            "{term_n_7d:.0f} in 7 days",
            "fallback": "terminal not seen before",
        },
        "NEW_TERMINAL_FOR_CARD": {
            "features": ["ct_n_30d", "ct_secs_since_last"],
            "template": "card last used at this terminal {days_at_terminal:.1f} days ago "
            "(about {ct_n_30d:.1f} uses in 30 days)",
            "fallback": "first time this card is used at this terminal",
        },
        "UNUSUAL_TIME": {
            "features": ["hour_of_day", "is_weekend"],
            "template": "transaction at {time_utc} UTC on a {weekday}",
            "fallback": "transaction at {time_utc} UTC",
        },
        "CARD_NOT_PRESENT": {
            "features": ["card_not_present"],
            "template": "card-not-present transaction (channel: {channel})",
            "fallback": "channel not given",
        },
        "NEW_DEVICE_FOR_CARD": {
            "features": [
                "has_device",
                "card_device_n_30d",
                "card_device_secs_since",
                "cust_device_30d",
            ],
            "template": "{device_history}",
            "fallback": "device not given",
        },
        "DEVICE_MANY_CARDS": {
            "features": ["dev_cards_1d", "dev_card_share_30d", "dev_n_1h", "dev_n_1d"],
            "template": "{device_cards}",
            "fallback": "no device fingerprint was sent with this payment",
        },
        "DEVICE_RECENTLY_FLAGGED": {
            "features": ["dev_flagged_1d"],
            "template": "about {dev_flagged_1d:.0f} attempt(s) from this device were held for "
            "review or declined in the last day",
            "fallback": "no device fingerprint was sent with this payment",
        },
        "NEW_NETWORK_FOR_CARD": {
            "features": ["card_network_n_30d", "cust_network_30d"],
            "template": "{network_history}",
            "fallback": "network (ASN) not given",
        },
        "COUNTRY_MISMATCH": {
            "features": ["ip_card_country_mismatch", "billing_card_country_mismatch"],
            "template": "{countries}",
            "fallback": "countries not given",
        },
        "SHIPPING_UNUSUAL": {
            "features": ["shipping_billing_mismatch", "card_shipping_n_30d"],
            "template": "{shipping_history} ({countries})",
            "fallback": "shipping country not given",
        },
    },
}


#: The optional fields of a transaction, as frame columns.
_EVENT_OPTIONAL = tuple(f.name for f in dataclasses.fields(Transaction) if f.default is None)


def event_of(row: Any) -> Transaction:
    """The transaction of one row of a canonical frame."""
    extra = present(row, _EVENT_OPTIONAL)
    if "asn" in extra:
        extra["asn"] = int(extra["asn"])
    return Transaction(
        transaction_id=row.transaction_id,
        timestamp=row.timestamp.to_pydatetime(),
        customer_id=row.customer_id,
        terminal_id=row.terminal_id,
        amount=float(row.amount),
        **extra,
    )


#: The kind, as the generic scorer, trainer and evaluation read it.
KIND = EventKind(
    name="transaction",
    event_type=Transaction,
    id_field="transaction_id",
    context_columns=("customer_id", "terminal_id", "amount"),
    views=VIEWS,
    derived=(("new_device_card", "device_card_state"),),
    features=FEATURES,
    feature_service=FEATURE_SERVICE,
    values=event_values,
    keys=keys,
    clocks=clocks,
    compute=features,
    display=DISPLAY,
    catalogue=CATALOGUE,
    decisions=DECISIONS,
    alert_rates=(0.03, 0.01),
    prepare=prepare_transactions,
    frame_columns=frame_columns,
    label_events=label_events,
    clock_masks=clock_masks,
    label="is_fraud",
    scored=lambda frame: np.ones(len(frame), dtype=bool),
    # Every view keyed, on entities no store holds ("ZZ" is a country code no one is given).
    sample=lambda: Transaction(
        WARM_UP,
        datetime.now(UTC),
        WARM_UP,
        WARM_UP,
        1.0,
        channel="online",
        device_id=WARM_UP,
        asn=0,
        shipping_country="ZZ",
    ),
    protocol=_evaluation.protocol(RAW_FEATURES),
    event_of=event_of,
    entities={
        "customer_id": ("customer", "A card (or the customer holding it)."),
        "terminal_id": ("terminal", "A payment terminal or merchant."),
        "device_id": ("payment_device", "A device fingerprint sent with a payment."),
        "asn_key": ("network", "A network: its autonomous system number, as text."),
        "shipping_country": ("shipping_country", "A shipping country (ISO-3166 alpha-2)."),
    },
    label_type=Label,
    simulators={
        "fraudscore": Simulator(
            simulate_transactions, TransactionSimConfig(), "n_customers", "cards"
        ),
        "handbook": Simulator(simulate_handbook, HandbookSimConfig(), "n_customers", "cards"),
    },
    attacks="fraudscore._kinds.transaction.redteam",
    starter_rules=Path(__file__).with_name("starter_rules.toml"),
    describe=lambda tx: f"card {tx.customer_id} terminal {tx.terminal_id} amount {tx.amount:.2f}",
)
