# ruff: noqa: B023  (the helper closures are called inside the loop iteration that defines them)
"""Brute-force feature oracles, written from each feature's documented definition.

Plain loops over the raw events that came before, with ``math``: no state, no accumulators and
nothing from fraudscore, so that a formula bug in the library cannot cancel out. Each function
takes the events in stream order (time, then id; fraud labels count from ``label_time``, at or
before the event) and returns one dict of features per event.

The definitions hold while no state outlives its view's ttl (30 days and more): the random
streams that use them span less than that.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

H, D = 3600.0, 86400.0
NAN = math.nan


def decayed(
    now: float, times: Sequence[float], tau: float, weights: Sequence[float] | None = None
) -> float:
    """sum_j w_j exp(-(now - t_j) / tau)."""
    w = weights or [1.0] * len(times)
    return sum(wj * math.exp(-(now - tj) / tau) for tj, wj in zip(times, w, strict=True))


def hour_of_day(ts: datetime) -> float:
    """Hours since midnight UTC, with the fraction."""
    utc = ts.astimezone(UTC)
    return utc.hour + utc.minute / 60 + (utc.second + utc.microsecond / 1e6) / 3600


def ratio(num: float, den: float) -> float:
    return num / den if den > 0 else NAN


def flagged(event: dict[str, Any]) -> bool:
    """The defence held or refused the event: its served decision (``decision``, None when
    unknown) is not the first of its kind."""
    return event.get("decision") not in (None, "approve", "allow")


def transaction_features(events: Sequence[dict[str, Any]]) -> list[dict[str, float]]:
    """Every transaction feature, per event. Event keys: timestamp (datetime), customer_id,
    terminal_id, amount, channel, is_fraud, label_time (datetime), decision (what was served,
    or None)."""
    out = []
    for i, e in enumerate(events):
        t = e["timestamp"].timestamp()
        before = events[:i]
        card = [x for x in before if x["customer_id"] == e["customer_id"]]
        term = [x for x in before if x["terminal_id"] == e["terminal_id"]]
        # Familiarity with a terminal: the card's uses of it that the defence let through.
        pair = [x for x in card if x["terminal_id"] == e["terminal_id"] and not flagged(x)]
        ct = [x["timestamp"].timestamp() for x in card]
        kt = [x["timestamp"].timestamp() for x in term]
        pt = [x["timestamp"].timestamp() for x in pair]
        amounts = [x["amount"] for x in card]

        def known_frauds(field: str) -> list[float]:
            """label_time of the frauds of this card (or terminal) known at the event: any
            event of the stream, earlier or not, whose label_time is at or before it."""
            return [
                x["label_time"].timestamp()
                for x in events
                if x[field] == e[field] and x["is_fraud"] and x["label_time"].timestamp() <= t
            ]

        card_labels, term_labels = known_frauds("customer_id"), known_frauds("terminal_id")

        def mean_amount(tau: float) -> float:
            """The card's decayed mean amount, counted as at least one currency unit."""
            mean = ratio(decayed(t, ct, tau, amounts), decayed(t, ct, tau))
            return mean if math.isnan(mean) else max(mean, 1.0)

        def z_score(tau: float) -> float:
            """Standard deviations from the card's decayed mean amount: the decayed variance is
            E[a^2] - E[a]^2 of the same weights, and the deviation counts as at least 1."""
            n = decayed(t, ct, tau)
            if n <= 0:
                return NAN
            mean = decayed(t, ct, tau, amounts) / n
            var = max(decayed(t, ct, tau, [a * a for a in amounts]) / n - mean * mean, 0.0)
            return (e["amount"] - mean) / max(math.sqrt(var), 1.0)

        def spend_spike() -> float:
            """(decayed 1-day spend + this amount) / max(decayed 30-day spend / 30, 1)."""
            if not ct:
                return NAN
            usual = decayed(t, ct, 30 * D, amounts) / 30.0
            return (decayed(t, ct, D, amounts) + e["amount"]) / max(usual, 1.0)

        term_fraud_30d = decayed(t, term_labels, 30 * D)
        out.append(
            {
                "amount": e["amount"],
                "hour_of_day": hour_of_day(e["timestamp"]),
                "is_weekend": float(e["timestamp"].astimezone(UTC).weekday() >= 5),
                "card_not_present": NAN
                if e["channel"] is None
                else float(e["channel"] in ("online", "moto")),
                "cust_secs_since_last": t - max(ct) if ct else NAN,
                "cust_n_1h": decayed(t, ct, H),
                "cust_n_1d": decayed(t, ct, D),
                "cust_n_7d": decayed(t, ct, 7 * D),
                "cust_n_30d": decayed(t, ct, 30 * D),
                "amt_ratio_1d": ratio(e["amount"], mean_amount(D)),
                "amt_ratio_7d": ratio(e["amount"], mean_amount(7 * D)),
                "amt_ratio_30d": ratio(e["amount"], mean_amount(30 * D)),
                "cust_fraud_30d": decayed(t, card_labels, 30 * D),
                "term_n_1d": decayed(t, kt, D),
                "term_n_7d": decayed(t, kt, 7 * D),
                "term_fraud_7d": decayed(t, term_labels, 7 * D),
                "term_fraud_30d": term_fraud_30d,
                "term_fraud_rate_30d": term_fraud_30d / (decayed(t, kt, 30 * D) + 1.0),
                "ct_n_30d": decayed(t, pt, 30 * D),
                "ct_secs_since_last": t - max(pt) if pt else NAN,
                "amt_z_7d": z_score(7 * D),
                "amt_z_30d": z_score(30 * D),
                "spend_spike_1d_30d": spend_spike(),
                "cust_flagged_1d": decayed(
                    t, [x["timestamp"].timestamp() for x in card if flagged(x)], D
                ),
                **card_not_present(e, card, t),
            }
        )
    return out


#: The card-not-present features read from state keyed on a field (device, network, shipping).
_KEYED = {
    "device_id": ("card_device_n_30d", "card_device_secs_since", "dev_n_1h", "dev_n_1d",
                  "dev_cards_1d", "dev_card_share_30d", "dev_flagged_1d"),
    "asn": ("card_network_n_30d",),
    "shipping_country": ("card_shipping_n_30d",),
}  # fmt: skip


def card_not_present(
    e: dict[str, Any], card: Sequence[dict[str, Any]], t: float
) -> dict[str, float]:
    """The card-not-present features of an event that sends none of the keyed fields (a
    device, a network, a shipping country): NaN, the card's own counts of payments with a
    device or a network, and the country mismatches. This oracle defines no keyed state: an
    event that sends a keyed field raises."""

    def given(x: dict[str, Any], name: str) -> bool:
        v = x.get(name)
        return v is not None and v == v

    def mismatch(a: str, b: str) -> float:
        return float(e[a] != e[b]) if given(e, a) and given(e, b) else NAN

    out: dict[str, float] = {}
    for name, features in _KEYED.items():
        if given(e, name):
            raise NotImplementedError(f"no oracle of state keyed on {name}")
        out |= dict.fromkeys(features, NAN)
    return out | {
        "has_device": 0.0,
        "cust_device_30d": decayed(
            t, [x["timestamp"].timestamp() for x in card if given(x, "device_id")], 30 * D
        ),
        "cust_network_30d": decayed(
            t, [x["timestamp"].timestamp() for x in card if given(x, "asn")], 30 * D
        ),
        "ip_card_country_mismatch": mismatch("ip_country", "card_country"),
        "billing_card_country_mismatch": mismatch("billing_country", "card_country"),
        "shipping_billing_mismatch": mismatch("shipping_country", "billing_country"),
    }


def km_between(lat1: float, lon1: float, lat2: float, lon2: float) -> float:
    """Great-circle distance on a 6371 km sphere (haversine)."""
    p1, p2 = math.radians(lat1), math.radians(lat2)
    dp, dl = p2 - p1, math.radians(lon2 - lon1)
    h = math.sin(dp / 2) ** 2 + math.cos(p1) * math.cos(p2) * math.sin(dl / 2) ** 2
    return 2 * 6371.0 * math.asin(math.sqrt(min(h, 1.0)))


def login_features(events: Sequence[dict[str, Any]]) -> list[dict[str, float]]:
    """Every login feature, per event. Event keys: timestamp, user_id, ip, country, asn,
    browser, os (families), success, device_id, latitude, longitude, rtt_ms, decision (what was
    served, or None). A success the defence challenged or denied counts as an attempt, never as
    a success: it builds no familiarity."""
    out = []
    for i, e in enumerate(events):
        t = e["timestamp"].timestamp()
        before = events[:i]

        def times(rows: Sequence[dict[str, Any]]) -> list[float]:
            return [x["timestamp"].timestamp() for x in rows]

        def trusted(x: dict[str, Any]) -> bool:
            return bool(x["success"]) and not flagged(x)

        mine = [x for x in before if x["user_id"] == e["user_id"]]
        ok = [x for x in mine if trusted(x)]
        failed = [x for x in mine if not x["success"]]
        everyone_ok = [x for x in before if trusted(x)]
        total = decayed(t, times(everyone_ok), 30 * D)

        def share(field: str) -> float:
            """The global share of this login's value among all users' recent successes."""
            same = [x for x in everyone_ok if x[field] == e[field]]
            return ratio(decayed(t, times(same), 30 * D), total)

        succ = decayed(t, times(ok), 90 * D)

        def familiarity(field: str, prior: float) -> float:
            """(the user's recent successes with this value + 2 x its global share) / (all the
            user's recent successes + 2)."""
            same = decayed(t, times([x for x in ok if x[field] == e[field]]), 90 * D)
            return (same + 2.0 * prior) / (succ + 2.0)

        device = e["device_id"] or "-"
        dev = [x for x in mine if (x["device_id"] or "-") == device]
        ctry = [x for x in mine if x["country"] == e["country"]]
        net = [x for x in mine if x["asn"] == e["asn"]]
        located = [x for x in ok if x["latitude"] is not None]
        if located and e["latitude"] is not None:
            last = located[-1]
            hours = max((t - last["timestamp"].timestamp()) / H, 1 / 60)
            kmh = (
                km_between(last["latitude"], last["longitude"], e["latitude"], e["longitude"])
                / hours
            )
        else:
            kmh = NAN
        from_ip = [x for x in before if x["ip"] == e["ip"]]
        new_users = []  # logins from this IP by a user with no login from it in the 30 days before
        for j, x in enumerate(from_ip):
            prior = [y for y in from_ip[:j] if y["user_id"] == x["user_id"]]
            if (
                not prior
                or x["timestamp"].timestamp() - prior[-1]["timestamp"].timestamp() > 30 * D
            ):
                new_users.append(x)
        ip_fail_1d = decayed(t, times([x for x in from_ip if not x["success"]]), D)
        p_country, p_asn = share("country"), share("asn")
        out.append(
            {
                "success": float(e["success"]),
                "hour_of_day": hour_of_day(e["timestamp"]),
                "has_device": float(e["device_id"] is not None),
                "rtt_ms": NAN if e["rtt_ms"] is None else e["rtt_ms"],
                "user_secs_since_login": t - times(mine)[-1] if mine else NAN,
                "user_secs_since_success": t - times(ok)[-1] if ok else NAN,
                "user_n_1d": decayed(t, times(mine), D),
                "user_n_30d": decayed(t, times(mine), 30 * D),
                "user_fail_1h": decayed(t, times(failed), H),
                "user_fail_1d": decayed(t, times(failed), D),
                "user_succ_90d": succ,
                "fam_browser": familiarity("browser", share("browser")),
                "fam_os": familiarity("os", share("os")),
                "country_popularity": p_country,
                "asn_popularity": p_asn,
                "device_succ_90d": decayed(t, times([x for x in dev if trusted(x)]), 90 * D),
                "fam_device": decayed(t, times([x for x in dev if trusted(x)]), 90 * D)
                / (succ + 2.0),
                "device_secs_since": t - times(dev)[-1] if dev else NAN,
                "country_succ_90d": decayed(t, times([x for x in ctry if trusted(x)]), 90 * D),
                "fam_country": familiarity("country", p_country),
                "country_secs_since": t - times(ctry)[-1] if ctry else NAN,
                "asn_succ_90d": decayed(t, times([x for x in net if trusted(x)]), 90 * D),
                "fam_asn": familiarity("asn", p_asn),
                "kmh_since_success": kmh,
                "ip_n_1h": decayed(t, times(from_ip), H),
                "ip_fail_1h": decayed(t, times([x for x in from_ip if not x["success"]]), H),
                "ip_fail_1d": ip_fail_1d,
                "ip_users_1d": decayed(t, times(new_users), D),
                "ip_fail_ratio_1d": ip_fail_1d / (decayed(t, times(from_ip), D) + 1.0),
                "ip_user_n_30d": decayed(
                    t, times([x for x in from_ip if x["user_id"] == e["user_id"]]), 30 * D
                ),
                "user_flagged_1d": decayed(t, times([x for x in mine if flagged(x)]), D),
            }
        )
    return out
