"""A seeded, vectorised simulator of card transactions with labelled fraud patterns.

Genuine behaviour (in the spirit of the Fraud Detection Handbook's simulator, Le Borgne et al.):
customers live at a point of a 100x100 grid, each with a typical amount, a daily rate, a
card-not-present share and a favourite time of day; they buy at the terminals nearest to them.

Fraud patterns, each labelled and documented in ``fraud_pattern``:

``large_amount``
    a one-off purchase far above the card's usual amount, at a usual terminal.
``compromised_terminal``
    a skimmed terminal: every transaction on it for the next 28 days is fraud (cards are hit
    for days, and terminal-level confirmed-fraud counts reveal it once labels arrive).
``stolen_card_spree``
    a stolen card is used for a burst of 3-10 purchases within a few hours, at terminals the
    card never used, mostly online, at 2-6x its usual amount and often at night.
``card_testing``
    bursts of 3-8 tiny online amounts at a new terminal within minutes, then one or two large
    purchases.

Labels arrive late: ``label_time`` is 1 day plus a log-normal delay (median about 3 days) after a
fraud; for genuine transactions it is ``timestamp + 7 days``. The output has the canonical columns
of DESIGN.md plus ``fraud_pattern`` (ignored by training).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    import pandas as pd

__all__ = ["TransactionSimConfig", "simulate_transactions"]

DAY_S = 86_400


@dataclass(frozen=True, slots=True)
class TransactionSimConfig:
    """Size and fraud rates of a simulated dataset. Rates are per day."""

    n_customers: int = 2_000
    n_terminals: int = 4_000
    n_days: int = 100
    start: str = "2018-04-01"
    seed: int = 7
    home_terminals: int = 12
    compromised_terminals_per_day: float = 1.5
    stolen_cards_per_day: float = 2.5
    card_tests_per_day: float = 1.5
    large_amounts_per_day: float = 2.0

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def _nearest(cust_xy: np.ndarray, term_xy: np.ndarray, k: int) -> np.ndarray:
    out = np.empty((len(cust_xy), k), dtype=np.int64)
    for lo in range(0, len(cust_xy), 512):
        d = ((cust_xy[lo : lo + 512, None, :] - term_xy[None, :, :]) ** 2).sum(-1)
        out[lo : lo + 512] = np.argpartition(d, k, axis=1)[:, :k]
    return out


def simulate_transactions(config: TransactionSimConfig | None = None) -> pd.DataFrame:
    """A frame of canonical transactions with ``is_fraud``, ``label_time`` and ``fraud_pattern``."""
    import pandas as pd

    cfg = config or TransactionSimConfig()
    rng = np.random.default_rng(cfg.seed)
    C, T, D = cfg.n_customers, cfg.n_terminals, cfg.n_days
    k = min(cfg.home_terminals, T - 1)

    cust_xy = rng.uniform(0, 100, (C, 2))
    term_xy = rng.uniform(0, 100, (T, 2))
    mean_amt = rng.uniform(5, 100, C)
    std_amt = mean_amt / 2
    rate = rng.uniform(0.2, 4, C)
    cnp_share = rng.beta(2, 6, C)
    peak_s = rng.uniform(9, 19, C) * 3600
    home = _nearest(cust_xy, term_xy, k)

    # Genuine transactions.
    counts = rng.poisson(np.repeat(rate[:, None], D, axis=1))
    cust = np.repeat(np.repeat(np.arange(C), D), counts.ravel())
    day = np.repeat(np.tile(np.arange(D), C), counts.ravel())
    n = len(cust)
    secs = np.clip(rng.normal(peak_s[cust], 4 * 3600), 0, DAY_S - 1)
    amount = rng.normal(mean_amt[cust], std_amt[cust])
    neg = amount <= 0.5
    amount[neg] = rng.uniform(0.5, 2 * mean_amt[cust[neg]])
    term = home[cust, rng.integers(0, k, n)]
    cnp = rng.random(n) < cnp_share[cust]
    pattern = np.full(n, "", dtype=object)

    # compromised_terminal: every transaction there for 28 days from the compromise is fraud.
    for d, hits in enumerate(rng.poisson(cfg.compromised_terminals_per_day, D)):
        bad = rng.choice(T, hits, replace=False)
        mask = np.isin(term, bad) & (day >= d) & (day < d + 28)
        pattern[mask & (pattern == "")] = "compromised_terminal"

    parts = [(cust, day * DAY_S + secs, term, amount, cnp, pattern)]

    def inject(name: str, per_day: float, burst: tuple[int, int]) -> None:
        victims_per_day = rng.poisson(per_day, D)
        v_cust = rng.integers(0, C, victims_per_day.sum())
        v_day = np.repeat(np.arange(D), victims_per_day)
        sizes = rng.integers(burst[0], burst[1] + 1, len(v_cust))
        b_cust = np.repeat(v_cust, sizes)
        start = v_day * DAY_S + rng.uniform(0, DAY_S, len(v_cust))
        if name == "stolen_card_spree":  # often at night
            night = rng.random(len(v_cust)) < 0.6
            start[night] = v_day[night] * DAY_S + rng.uniform(0, 5 * 3600, night.sum())
        b_start = np.repeat(start, sizes)
        m = len(b_cust)
        if name == "large_amount":
            t = b_start
            b_term = home[b_cust, rng.integers(0, k, m)]
            amt = mean_amt[b_cust] * rng.uniform(5, 15, m) + rng.uniform(100, 400, m)
            b_cnp = rng.random(m) < cnp_share[b_cust]
        elif name == "stolen_card_spree":
            t = b_start + rng.uniform(0, 4 * 3600, m)
            b_term = rng.integers(0, T, m)
            amt = mean_amt[b_cust] * rng.uniform(2, 6, m)
            b_cnp = rng.random(m) < 0.7
        else:  # card_testing: tiny amounts at one new terminal, then a large purchase
            tester = np.repeat(rng.integers(0, T, len(v_cust)), sizes)
            t = b_start + rng.uniform(0, 1800, m)
            b_term = tester
            amt = rng.uniform(0.5, 3.0, m)
            last = np.cumsum(sizes) - 1
            t[last] = b_start[last] + rng.uniform(1800, 6 * 3600, len(last))
            b_term[last] = rng.integers(0, T, len(last))
            amt[last] = rng.uniform(150, 900, len(last))
            b_cnp = np.ones(m, bool)
        ok = t < D * DAY_S
        parts.append(
            (b_cust[ok], t[ok], b_term[ok], amt[ok], b_cnp[ok], np.full(ok.sum(), name, object))
        )

    inject("large_amount", cfg.large_amounts_per_day, (1, 1))
    inject("stolen_card_spree", cfg.stolen_cards_per_day, (3, 10))
    inject("card_testing", cfg.card_tests_per_day, (4, 9))

    t_all = np.concatenate([p[1] for p in parts])
    order = np.argsort(t_all, kind="stable")
    cust, t_s, term, amount, cnp, pattern = (
        np.concatenate([p[i] for p in parts])[order] for i in range(6)
    )
    m = len(cust)
    start = pd.Timestamp(datetime.fromisoformat(cfg.start), tz="UTC")
    timestamp = start + pd.to_timedelta(np.floor(t_s), unit="s")
    is_fraud = (pattern != "").astype(np.int8)
    delay_s = DAY_S + np.minimum(rng.lognormal(np.log(3 * DAY_S), 0.6, m), 30 * DAY_S)
    delay_s = np.where(is_fraud == 1, np.floor(delay_s), 7 * DAY_S)
    return pd.DataFrame(
        {
            "transaction_id": [f"tx{i:09d}" for i in range(m)],
            "timestamp": timestamp,
            "customer_id": [f"C{c:06d}" for c in cust],
            "terminal_id": [f"T{x:06d}" for x in term],
            "amount": np.round(np.maximum(amount, 0.5), 2),
            "currency": "EUR",
            "channel": np.where(cnp, "online", "pos"),
            "is_fraud": is_fraud,
            "label_time": timestamp + pd.to_timedelta(delay_s, unit="s"),
            "fraud_pattern": np.where(pattern == "", "none", pattern),
        }
    )
