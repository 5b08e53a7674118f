"""Payout features: state views, request-time features and the reason catalogue.

A payout is money leaving a customer's account to an external beneficiary account; fraud is
scam and mule cash-out. Same architecture as ``_kinds/transaction``: state per account, per
beneficiary and per beneficiary x account pair, as decayed accumulators (``_state``), read and
updated by the same code offline (arrays) and online (floats).

Clocks of a payout: ``payout`` (every payout), ``ok`` (a payout the defence released) and
``label`` (a confirmed fraud, at its ``label_time``). A pair's familiarity is built by the money
that went out: a held or blocked payout is not a use of the beneficiary.

The pair view is keyed (``beneficiary_id``, ``account_id``), beneficiary first: the
partitioned fold groups views by their first key, and the pair view's "no earlier payout of this
account to this beneficiary released" (the derived column ``new_pair``: no fresh pair state) feeds
the beneficiary view's count of payouts from new senders, which must stay in its group.
"""

from __future__ import annotations

import math
import zlib
from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from fraudscore._kinds.base import WARM_UP, EventKind, Simulator, present
from fraudscore._kinds.payout.evaluation import PROTOCOL
from fraudscore._kinds.payout.events import DECISIONS, FAST_METHODS, Payout, PayoutLabel
from fraudscore._kinds.payout.frames import prepare_payouts
from fraudscore._kinds.payout.simulate import PayoutSimConfig, simulate_payouts
from fraudscore._state import Accumulator, Array, Latest, StateView

if TYPE_CHECKING:
    import pandas as pd

__all__ = [
    "ACCOUNT",
    "BENEFICIARY",
    "BENEFICIARY_ACCOUNT",
    "CATALOGUE",
    "FEATURES",
    "FEATURE_SERVICE",
    "KIND",
    "VIEWS",
    "code_of",
    "event_values",
    "features",
]

HOUR = 3600.0
DAY = 86400.0
_NAN = math.nan

ACCOUNT = StateView(
    name="payout_account_state",
    keys=("account_id",),
    clocks=("payout", "label"),
    accumulators=(
        Accumulator("n_1h", "payout", HOUR),
        Accumulator("n_1d", "payout", DAY),
        Accumulator("n_7d", "payout", 7 * DAY),
        Accumulator("n_30d", "payout", 30 * DAY),
        Accumulator("n_90d", "payout", 90 * DAY),
        Accumulator("amt_1h", "payout", HOUR, "amount"),
        Accumulator("amt_1d", "payout", DAY, "amount"),
        Accumulator("amt_30d", "payout", 30 * DAY, "amount"),
        Accumulator("amt_90d", "payout", 90 * DAY, "amount"),
        Accumulator("fraud_30d", "label", 30 * DAY),
        # The defence's own suspicion: payouts it held or blocked.
        Accumulator("flagged_1d", "payout", DAY, "flagged"),
    ),
    latest=(
        Latest("device", "payout", "device"),
        Latest("ip", "payout", "ip"),
        Latest("country", "payout", "country"),
    ),
    ttl=timedelta(days=180),
    description="Per account: decayed payout counts and amounts, confirmed frauds, payouts the "
    "defence flagged, and the device, IP and beneficiary country of the last payout (as codes).",
)

BENEFICIARY_ACCOUNT = StateView(
    name="account_beneficiary_state",
    keys=("beneficiary_id", "account_id"),
    clocks=("ok",),
    accumulators=(
        Accumulator("n_90d", "ok", 90 * DAY),
        Accumulator("amt_90d", "ok", 90 * DAY, "amount"),
    ),
    ttl=timedelta(days=400),
    description="Per beneficiary and account: how often, how much and how recently the account "
    "paid this beneficiary (payouts the defence released).",
)

BENEFICIARY = StateView(
    name="beneficiary_state",
    keys=("beneficiary_id",),
    clocks=("payout", "label"),
    accumulators=(
        Accumulator("n_1d", "payout", DAY),
        Accumulator("n_7d", "payout", 7 * DAY),
        Accumulator("n_30d", "payout", 30 * DAY),
        # A sender new to this beneficiary (no fresh account_beneficiary_state): fan-in.
        Accumulator("senders_1d", "payout", DAY, "new_pair"),
        Accumulator("senders_7d", "payout", 7 * DAY, "new_pair"),
        Accumulator("fraud_30d", "label", 30 * DAY),
        Accumulator("fraud_90d", "label", 90 * DAY),
        Accumulator("flagged_1d", "payout", DAY, "flagged"),
    ),
    ttl=timedelta(days=180),
    description="Per beneficiary, all accounts: payouts into it, new senders, confirmed frauds "
    "and payouts into it the defence flagged.",
)

#: account_beneficiary_state comes before beneficiary_state: its ``new_pair`` feeds it.
VIEWS: tuple[StateView, ...] = (ACCOUNT, BENEFICIARY_ACCOUNT, BENEFICIARY)
DERIVED = (("new_pair", "account_beneficiary_state"),)
FEATURE_SERVICE = "payout_model_v1"

FEATURES: tuple[str, ...] = (
    "amount",
    "hour_of_day",
    "fast_method",
    "balance_share",
    "drain_1h",
    "acct_secs_since_last",
    "acct_n_1h",
    "acct_n_1d",
    "acct_n_7d",
    "acct_n_30d",
    "amt_ratio_30d",
    "amt_ratio_90d",
    "outflow_spike_1d_30d",
    "acct_fraud_30d",
    "acct_flagged_1d",
    "device_changed",
    "ip_changed",
    "country_changed",
    "new_beneficiary",
    "pair_n_90d",
    "pair_secs_since_last",
    "pair_amt_ratio_90d",
    "ben_n_1d",
    "ben_n_7d",
    "ben_n_30d",
    "ben_senders_1d",
    "ben_senders_7d",
    "ben_new_sender_share_7d",
    "ben_fraud_30d",
    "ben_fraud_90d",
    "ben_flagged_1d",
)


def code_of(value: str | None) -> float:
    """A text value (device id, IP, country) as a float that state can hold: its CRC-32 (equal
    texts, equal codes); NaN when not given. Only equality of codes is ever used."""
    return _NAN if value is None else float(zlib.crc32(value.encode("utf-8")))


def _codes(frame: pd.DataFrame, column: str) -> Array:
    values = frame[column].tolist() if column in frame.columns else [None] * len(frame)
    return np.array([code_of(v) for v in values], dtype=np.float64)


def frame_columns(frame: pd.DataFrame) -> dict[str, Array]:
    """The event columns of a prepared payout frame (``t`` is set from the stream)."""
    method = frame["method"].to_numpy()
    balance = (
        frame["balance"].to_numpy(np.float64)
        if "balance" in frame.columns
        else np.full(len(frame), _NAN)
    )
    return {
        "t": np.zeros(len(frame)),
        "amount": frame["amount"].to_numpy(np.float64),
        "balance": balance,
        "fast": np.isin(method, sorted(FAST_METHODS)).astype(np.float64),
        "device": _codes(frame, "device_id"),
        "ip": _codes(frame, "ip"),
        "country": _codes(frame, "country"),
    }


def event_values(p: Payout) -> dict[str, float]:
    """The event columns of one validated payout as floats (the online path)."""
    return {
        "t": p.timestamp.timestamp(),
        "amount": float(p.amount),
        "balance": _NAN if p.balance is None else float(p.balance),
        "fast": 1.0 if p.method in FAST_METHODS else 0.0,
        "device": code_of(p.device_id),
        "ip": code_of(p.ip),
        "country": code_of(p.country),
    }


def label_events(frame: pd.DataFrame) -> tuple[np.ndarray, np.ndarray]:
    """(rows, label_time in ns) of the fraud labels: each becomes a stream event at label_time."""
    rows = np.flatnonzero(frame["is_fraud"].to_numpy() == 1)
    return rows, frame["label_time"].array.asi8[rows]


def clock_masks(cols: Mapping[str, Array], is_label: np.ndarray) -> dict[str, np.ndarray]:
    """Which stream events move which clock: payouts ``payout``, those the defence released
    ``ok`` as well, fraud labels ``label``."""
    payout = ~is_label
    return {"payout": payout, "ok": payout & (cols["allowed"] == 1.0), "label": is_label}


def clocks(values: Mapping[str, float]) -> tuple[str, ...]:
    """The clocks one recorded payout moves (as ``clock_masks`` does offline)."""
    return ("payout", "ok") if values["allowed"] == 1.0 else ("payout",)


def keys(p: Payout) -> list[tuple[str, ...]]:
    """The entity key of each view for one payout, in ``VIEWS`` order."""
    return [(p.account_id,), (p.beneficiary_id, p.account_id), (p.beneficiary_id,)]


_A = ACCOUNT.index
_P = BENEFICIARY_ACCOUNT.index
_B = BENEFICIARY.index


def _changed(now: Any, before: Any, xp: Any) -> Any:
    """1.0 where the event's code differs from the last payout's, 0.0 where equal, NaN where
    either is unknown."""
    d = now - before
    return xp.where(xp.isnan(d), _NAN, xp.as_float(d != 0.0))


def features(cols: Mapping[str, Any], reads: Mapping[str, Sequence[Any]], xp: Any) -> list[Any]:
    """The payout model's features, in ``FEATURES`` order, from event columns and state reads
    (only state from before the event; arrays offline, floats online)."""
    t = cols["t"]
    amount = cols["amount"]
    balance = cols["balance"]
    a = reads["payout_account_state"]
    p = reads["account_beneficiary_state"]
    b = reads["beneficiary_state"]
    div, at_least = xp.div, xp.at_least
    return [
        amount,
        (t % DAY) / HOUR,
        cols["fast"],
        # Share of the balance this payout takes (a balance under one unit counts as one, so
        # the share stays finite); NaN without a balance.
        div(amount, at_least(balance, 1.0)),
        # Share of the balance an hour ago paid out within the hour, this payout included.
        div(a[_A["amt_1h"]] + amount, at_least(balance + a[_A["amt_1h"]], 1.0)),
        at_least(t - a[_A["payout_ts"]], 0.0),
        a[_A["n_1h"]],
        a[_A["n_1d"]],
        a[_A["n_7d"]],
        a[_A["n_30d"]],
        # The amount over the account's decay-weighted mean payout (at least one unit).
        div(amount, at_least(div(a[_A["amt_30d"]], a[_A["n_30d"]]), 1.0)),
        div(amount, at_least(div(a[_A["amt_90d"]], a[_A["n_90d"]]), 1.0)),
        # Paid out today, this payout included, over the usual daily outflow over 30 days.
        div(
            a[_A["amt_1d"]] + amount,
            at_least(a[_A["amt_30d"]] / 30.0 * div(a[_A["n_30d"]], a[_A["n_30d"]]), 1.0),
        ),
        a[_A["fraud_30d"]],
        a[_A["flagged_1d"]],
        _changed(cols["device"], a[_A["device"]], xp),
        _changed(cols["ip"], a[_A["ip"]], xp),
        _changed(cols["country"], a[_A["country"]], xp),
        xp.as_float(xp.isnan(p[_P["ok_ts"]])),
        p[_P["n_90d"]],
        at_least(t - p[_P["ok_ts"]], 0.0),
        div(amount, at_least(div(p[_P["amt_90d"]], p[_P["n_90d"]]), 1.0)),
        b[_B["n_1d"]],
        b[_B["n_7d"]],
        b[_B["n_30d"]],
        b[_B["senders_1d"]],
        b[_B["senders_7d"]],
        div(b[_B["senders_7d"]], b[_B["n_7d"]]),
        b[_B["fraud_30d"]],
        b[_B["fraud_90d"]],
        b[_B["flagged_1d"]],
    ]


def _known(x: Any) -> bool:
    return x is not None and x == x


#: How long each view keeps an entity's state after its newest clock (older state reads as none):
#: a reason saying "nothing on record" says over how long.
_ACCOUNT_DAYS = ACCOUNT.ttl.days
_PAIR_DAYS = BENEFICIARY_ACCOUNT.ttl.days
_BENEFICIARY_DAYS = BENEFICIARY.ttl.days


def _duration(secs: Any) -> str | None:
    """A time span for an analyst ("40 min", "5.2 hours", "3.1 days"); None when not known."""
    if not _known(secs):
        return None
    if secs < 1.5 * HOUR:
        return f"{secs / 60.0:.0f} min"
    if secs < 2 * DAY:
        return f"{secs / HOUR:.1f} hours"
    return f"{secs / DAY:.1f} days"


def _seen(feature: str, by: str | None = None) -> Callable[[Payout, Mapping[str, Any]], Any]:
    """A display value: ``feature``, or None (the template falls back) where the accumulator
    ``by`` (default: the feature itself) reads 0 or NaN, that is, no history at all. Decayed
    accumulators read 0, not NaN, without history, so only this makes their fallbacks show."""

    def value(_: Payout, v: Mapping[str, Any]) -> Any:
        gate = v[by or feature]
        return v[feature] if _known(gate) and gate > 0.0 else None

    return value


def _times(ratio: Any, floored: bool | None) -> str | None:
    """A ratio as "6.3x"; "at least 6.3x" where its denominator was (or may have been) under one
    unit and counted as one, so the true ratio is no smaller; None when not known."""
    if not _known(ratio):
        return None
    return f"{ratio:.1f}x" if floored is False else f"at least {ratio:.1f}x"


def _mean_ratio(feature: str) -> Callable[[Payout, Mapping[str, Any]], Any]:
    """``amount / max(mean, 1)`` as text: the mean was floored exactly where the ratio equals
    the (positive) amount (``amount / 1``); a zero amount reads 0.0x either way."""

    def value(_: Payout, v: Mapping[str, Any]) -> Any:
        ratio, amount = v[feature], v["amount"]
        return _times(ratio, bool(_known(amount) and amount > 0.0 and ratio == amount))

    return value


def _outflow_floored(v: Mapping[str, Any]) -> bool | None:
    """Whether ``outflow_spike_1d_30d``'s daily average (``amt_30d / 30``) was under one unit
    (counted as one), recovered from the 30-day mean payout and count; None when they cannot
    tell (a zero amount, or a mean under one unit with more than 30 payouts)."""
    amount, ratio, n = v["amount"], v["amt_ratio_30d"], v["acct_n_30d"]
    if not (_known(amount) and _known(ratio) and _known(n)) or amount <= 0.0 or ratio <= 0.0:
        return None
    if ratio == amount:  # the mean payout was at most one unit: the daily average <= n / 30
        return True if n <= 30.0 else None
    return bool(amount / ratio * n / 30.0 < 1.0)


def _balance_shown(p: Payout, v: Mapping[str, Any]) -> Any:
    """The balance when ``balance_share`` is its share (a balance of at least one unit); None
    (the fallback) when not given or under one unit, which the share counts as one."""
    return p.balance if p.balance is not None and p.balance >= 1.0 else None


def _balance_note(p: Payout, v: Mapping[str, Any]) -> str:
    """The fallback of ``BALANCE_DRAIN``: no balance, or one the shares cannot be read against."""
    if p.balance is None or not _known(v["balance_share"]):
        return "balance not given"
    return f"payout of {p.amount:.2f} against a balance of {p.balance:.2f}"


def _pair_last(_: Payout, v: Mapping[str, Any]) -> Any:
    """How long ago the account's last released payout to this beneficiary was; None when
    there is none (``new_beneficiary``, or no released payout counted)."""
    n = v["pair_n_90d"]
    if v["new_beneficiary"] == 1.0 or not (_known(n) and n > 0.0):
        return None
    return _duration(v["pair_secs_since_last"])


def _device_ip_note(p: Payout, v: Mapping[str, Any]) -> str:
    """What changed since the account's previous payout, a clause for the device and one for the
    IP address, each saying what is known: not given, different, the same, or nothing to
    compare with."""

    def clause(changed: Any, given: bool, what: str) -> str:
        if not given:
            return f"{what} not given"
        if _known(changed):
            return f"a different {what}" if changed == 1.0 else f"the same {what}"
        return f"no earlier {what} to compare with"

    device = clause(v["device_changed"], p.device_id is not None, "device")
    ip = clause(v["ip_changed"], p.ip is not None, "IP address")
    return f"compared with the account's previous payout: {device}, {ip}"


def _country_note(p: Payout, v: Mapping[str, Any]) -> str:
    """The beneficiary bank's country as far as it is known (the fallback of
    ``BENEFICIARY_COUNTRY``: the country did not change, or cannot be compared)."""
    if p.country is None:
        return "beneficiary bank country not given"
    if v["country_changed"] == 0.0:
        return f"beneficiary bank in {p.country}, as for the account's previous payout"
    return f"beneficiary bank in {p.country}; no earlier payout's country to compare with"


#: Extra, human-friendly values for reason templates, computed only when a template uses them.
#: A value that is None makes the template fall back (``ReasonCatalogue.text``): the values
#: that state a change are None unless the feature says the change happened, and the counts
#: are None where their accumulator reads 0 (no history), so that "not seen before" shows.
DISPLAY: dict[str, Callable[[Payout, Mapping[str, Any]], Any]] = {
    "time_utc": lambda p, _: f"{p.timestamp.hour:02d}:{p.timestamp.minute:02d}",
    "method": lambda p, _: p.method.replace("_", " "),
    "fast_method_name": lambda p, _: (
        p.method.replace("_", " ") if p.method in FAST_METHODS else None
    ),
    "changed_country": lambda p, v: (
        p.country if v["country_changed"] == 1.0 and p.country is not None else None
    ),
    "country_note": _country_note,
    "balance_shown": _balance_shown,
    "balance_note": _balance_note,
    "amt_ratio_30d_x": _mean_ratio("amt_ratio_30d"),
    "pair_amt_ratio_90d_x": _mean_ratio("pair_amt_ratio_90d"),
    "outflow_spike_x": lambda _, v: _times(v["outflow_spike_1d_30d"], _outflow_floored(v)),
    "since_last": lambda _, v: (
        _duration(v["acct_secs_since_last"])
        if _known(v["acct_n_30d"]) and v["acct_n_30d"] > 0.0
        else None
    ),
    "payout_amount": lambda p, _: p.amount,
    "pair_last": _pair_last,
    "acct_n_30d_seen": _seen("acct_n_30d"),
    "acct_fraud_30d_seen": _seen("acct_fraud_30d"),
    "acct_flagged_1d_seen": _seen("acct_flagged_1d"),
    "ben_n_1d_seen": _seen("ben_n_1d", "ben_n_30d"),
    "ben_fraud_90d_seen": _seen("ben_fraud_90d"),
    "ben_flagged_1d_seen": _seen("ben_flagged_1d"),
    "device_ip_note": _device_ip_note,
}

#: Versioned reason catalogue: code -> features it covers, template, fallback when a value in
#: the template is missing (no history, a field not given). Counts are of decayed accumulators
#: ("time-weighted"); the account's and the beneficiary's count every payout asked for (held and
#: blocked too: the ``payout`` clock), the pair's only released ones (the ``ok`` clock).
CATALOGUE: dict[str, Any] = {
    "version": "payout-reasons/3",
    "codes": {
        "AMOUNT_UNUSUAL": {
            "features": ["amount", "amt_ratio_30d", "amt_ratio_90d"],
            "template": "amount {payout_amount:.2f} is {amt_ratio_30d_x} this account's average "
            "payout asked for (time-weighted over 30 days)",
            "fallback": "amount {payout_amount:.2f} from an account with no payout asked for in "
            f"the last {_ACCOUNT_DAYS} days",
        },
        "BALANCE_DRAIN": {
            "features": ["balance_share", "drain_1h"],
            "template": "payout takes {balance_share:.0%} of the balance of {balance_shown:.2f}; "
            "with the last hour's other payouts asked for, {drain_1h:.0%} of the balance an "
            "hour ago",
            "fallback": "{balance_note}",
        },
        "OUTFLOW_SPIKE": {
            "features": ["outflow_spike_1d_30d"],
            "template": "payouts asked for in the last day, this one included, come to "
            "{outflow_spike_x} this account's daily average (time-weighted over 30 days)",
            "fallback": "account has no payout history to compare the last day's payouts asked "
            "for with",
        },
        "PAYOUT_VELOCITY": {
            "features": ["acct_n_1h", "acct_n_1d", "acct_secs_since_last"],
            "template": "about {acct_n_1h:.1f} payouts asked for from this account in the last "
            "hour and {acct_n_1d:.1f} in the last day (time-weighted); the previous one "
            "{since_last} ago",
            "fallback": "no earlier payout asked for from this account in the last "
            f"{_ACCOUNT_DAYS} days",
        },
        "ACCOUNT_HISTORY": {
            "features": ["acct_n_7d", "acct_n_30d"],
            "template": "account activity: about {acct_n_7d:.1f} payouts asked for in 7 days, "
            "{acct_n_30d_seen:.1f} in 30 days (time-weighted)",
            "fallback": f"account asked for no payout in the last {_ACCOUNT_DAYS} days",
        },
        "ACCOUNT_CONFIRMED_FRAUD": {
            "features": ["acct_fraud_30d"],
            "template": "account has about {acct_fraud_30d_seen:.1f} confirmed fraudulent "
            "payout(s) (time-weighted over 30 days from confirmation)",
            "fallback": "account has no confirmed fraud on record",
        },
        "ACCOUNT_RECENTLY_FLAGGED": {
            "features": ["acct_flagged_1d"],
            "template": "about {acct_flagged_1d_seen:.1f} of this account's payouts were held or "
            "blocked in the last day (time-weighted)",
            "fallback": "no payout of this account was held or blocked recently",
        },
        "NEW_DEVICE_OR_IP": {
            "features": ["device_changed", "ip_changed"],
            "template": "{device_ip_note}",
            "fallback": "no device or IP address to compare with the account's previous payout",
        },
        "BENEFICIARY_COUNTRY": {
            "features": ["country_changed"],
            "template": "beneficiary bank in {changed_country}, the account's previous payout "
            "went to another country",
            "fallback": "{country_note}",
        },
        "NEW_BENEFICIARY": {
            "features": ["new_beneficiary", "pair_n_90d", "pair_secs_since_last"],
            "template": "the account's last released payout to this beneficiary was {pair_last} "
            "ago (about {pair_n_90d:.1f} released payouts to it, time-weighted over 90 days)",
            "fallback": "no earlier payout from this account to this beneficiary was released "
            f"in the last {_PAIR_DAYS} days (held or blocked ones are not counted)",
        },
        "AMOUNT_UNUSUAL_FOR_BENEFICIARY": {
            "features": ["pair_amt_ratio_90d"],
            "template": "amount is {pair_amt_ratio_90d_x} this account's average released payout "
            "to this beneficiary (time-weighted over 90 days)",
            "fallback": "no earlier released payout from this account to this beneficiary to "
            "compare the amount with",
        },
        "BENEFICIARY_FAN_IN": {
            "features": [
                "ben_n_1d",
                "ben_n_7d",
                "ben_n_30d",
                "ben_senders_1d",
                "ben_senders_7d",
                "ben_new_sender_share_7d",
            ],
            "template": "about {ben_n_1d_seen:.1f} payouts asked for into this beneficiary in "
            "the last day, {ben_senders_1d:.1f} of them from accounts with no earlier released "
            "payout to it (time-weighted)",
            "fallback": f"beneficiary not seen in the last {_BENEFICIARY_DAYS} days (no payout "
            "asked for into it)",
        },
        "BENEFICIARY_CONFIRMED_FRAUD": {
            "features": ["ben_fraud_30d", "ben_fraud_90d"],
            "template": "payouts to this beneficiary confirmed fraudulent: about "
            "{ben_fraud_30d:.1f} in 30 days, {ben_fraud_90d_seen:.1f} in 90 days (time-weighted "
            "from confirmation; a sign of a mule account)",
            "fallback": "beneficiary has no confirmed fraud on record",
        },
        "BENEFICIARY_RECENTLY_FLAGGED": {
            "features": ["ben_flagged_1d"],
            "template": "about {ben_flagged_1d_seen:.1f} payouts into this beneficiary were held "
            "or blocked in the last day (time-weighted)",
            "fallback": "no payout into this beneficiary was held or blocked recently",
        },
        "INSTANT_METHOD": {
            "features": ["fast_method"],
            "template": "{fast_method_name} payout: the money lands in seconds and can hardly "
            "be recalled",
            "fallback": "payout by {method}, not an instant method",
        },
        "UNUSUAL_TIME": {
            "features": ["hour_of_day"],
            "template": "payout at {time_utc} UTC",
            "fallback": "payout at {time_utc} UTC",
        },
    },
}


def event_of(row: Any) -> Payout:
    """The payout of one row of a canonical frame."""
    extra = present(row, ("balance", "device_id", "ip", "country"))
    if "balance" in extra:
        extra["balance"] = float(extra["balance"])
    return Payout(
        payout_id=row.payout_id,
        timestamp=row.timestamp.to_pydatetime(),
        account_id=row.account_id,
        beneficiary_id=row.beneficiary_id,
        amount=float(row.amount),
        method=row.method,
        **extra,
    )


#: The kind, as the generic scorer, trainer and evaluation read it.
KIND = EventKind(
    name="payout",
    event_type=Payout,
    id_field="payout_id",
    context_columns=("account_id", "beneficiary_id", "amount", "method"),
    views=VIEWS,
    derived=DERIVED,
    features=FEATURES,
    feature_service=FEATURE_SERVICE,
    values=event_values,
    keys=keys,
    clocks=clocks,
    compute=features,
    display=DISPLAY,
    catalogue=CATALOGUE,
    decisions=DECISIONS,
    alert_rates=(0.02, 0.005),
    prepare=prepare_payouts,
    frame_columns=frame_columns,
    label_events=label_events,
    clock_masks=clock_masks,
    label="is_fraud",
    scored=lambda frame: np.ones(len(frame), dtype=bool),
    sample=lambda: Payout(
        WARM_UP,
        datetime.now(UTC),
        WARM_UP,
        WARM_UP,
        1.0,
        "instant",
        balance=100.0,
        device_id=WARM_UP,
        ip="192.0.2.1",
    ),
    protocol=PROTOCOL,
    event_of=event_of,
    entities={
        "account_id": ("account", "A customer's account that money is paid out of."),
        "beneficiary_id": ("beneficiary", "An external account that payouts are paid into."),
    },
    label_type=PayoutLabel,
    simulators={
        "fraudscore": Simulator(
            simulate_payouts, PayoutSimConfig(), "n_accounts", "accounts", "fraud_pattern", 35
        ),
    },
    attacks=None,
    starter_rules=Path(__file__).with_name("starter_rules.toml"),
    describe=lambda p: (
        f"account {p.account_id} pays {p.beneficiary_id} {p.amount:.2f} by {p.method}"
    ),
)
