"""The handbook's transaction generator (Le Borgne et al., *Reproducible Machine Learning for
Credit Card Fraud Detection*, chapter 3, "Simulated dataset"), as closely as its text allows.

- **Customers** sit uniformly on a 100 x 100 grid. Each has a mean amount ``U(5, 100)``, a
  standard deviation of half of it, and a mean number of transactions per day ``U(0, 4)``.
- **Terminals** sit uniformly on the same grid. A customer uses the terminals within
  ``radius`` (5) of it, each equally likely; a customer with none makes no transaction.
- **Transactions.** Each day a customer makes ``Poisson(mean per day)`` transactions at times
  ``N(noon, 20,000 s)``; a time outside the day is dropped. The amount is
  ``N(mean, std)``; a negative draw is replaced by ``U(0, 2 * mean)``; rounded to cents.
- **Frauds**, in the handbook's order:
  1. every amount over 220 is a fraud;
  2. each day, 2 terminals are compromised for 28 days: every transaction at them is a fraud;
  3. each day, 3 customers are compromised for 14 days: a third of their transactions in that
     time, drawn at random, have their amount multiplied by 5 and are frauds.

The handbook's defaults are 5,000 customers, 10,000 terminals and 183 days from 2018-04-01
(about 1.75 M transactions, 0.8% fraud). Its published protocol trains on 2018-07-25..07-31 and
tests on 2018-08-08..08-14 (:data:`HANDBOOK_WINDOWS`). The random draws use a seeded numpy
``Generator``, not the handbook's global ``np.random`` state, so the data has the same law but not
the same rows as the published file. Labels become known ``label_delay`` (7 days) after each
transaction, as the protocol's delay assumes.

**Card-not-present layer** (``cnp_signals``, off by default: the handbook's payments carry no
channel, device or network). On, it adds a ``channel`` and the default simulator's
card-not-present columns and cardholders (devices, networks, email, countries, BIN, MCC; see
:mod:`fraudscore._kinds.transaction.simulate`), drawn from generators of their own, so every
column above keeps its values. Each card buys online with a share ``Beta(2, 6)`` (mean 25%) of
its purchases, the default simulator's. A compromised card's frauds are a fraudster's purchases
with the card's number: online, from a fraudster's device and network (one buyer side per card
and compromise, the default simulator's mix of own devices, proxies and replayed devices); the
over-220 amounts and the compromised terminals' frauds are the cardholders' own purchases, on
their own signals.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import TYPE_CHECKING

import numpy as np

from fraudscore._kinds.transaction.simulate import SignalWorld, card_not_present_signals

if TYPE_CHECKING:
    import pandas as pd

__all__ = ["HANDBOOK_WINDOWS", "HandbookSimConfig", "simulate_handbook"]

#: (train start, train end, test start, test end) of the handbook's published test: 7 days of
#: training, 7 days of label delay, 7 test days.
HANDBOOK_WINDOWS = (date(2018, 7, 25), date(2018, 7, 31), date(2018, 8, 8), date(2018, 8, 14))

_DAY = 86_400
#: Cards compromised each day (the handbook's third fraud scenario).
_CARDS_A_DAY = 3


@dataclass(frozen=True, slots=True)
class HandbookSimConfig:
    """Sizes and seed of :func:`simulate_handbook`; the defaults are the handbook's."""

    n_customers: int = 5_000
    n_terminals: int = 10_000
    n_days: int = 183
    radius: float = 5.0
    start: str = "2018-04-01"
    seed: int = 0
    #: Days after each transaction at which its label is known.
    label_delay_days: float = 7.0
    #: The card-not-present layer (see the module docstring).
    cnp_signals: bool = False


def simulate_handbook(config: HandbookSimConfig | None = None) -> pd.DataFrame:
    """Labelled transactions in canonical columns, plus ``fraud_pattern`` (``none``,
    ``amount_over_220``, ``compromised_terminal``, ``compromised_card``)."""
    import pandas as pd

    cfg = config or HandbookSimConfig()
    rng = np.random.default_rng(cfg.seed)
    cust_xy = rng.uniform(0, 100, (cfg.n_customers, 2))
    mean_amount = rng.uniform(5, 100, cfg.n_customers)
    per_day = rng.uniform(0, 4, cfg.n_customers)
    term_xy = rng.uniform(0, 100, (cfg.n_terminals, 2))
    nearby = _terminals_within(cust_xy, term_xy, cfg.radius)

    counts = rng.poisson(per_day[:, None], (cfg.n_customers, cfg.n_days))
    counts[[len(t) == 0 for t in nearby]] = 0
    cust = np.repeat(np.arange(cfg.n_customers), counts.sum(axis=1))
    day = np.concatenate([np.repeat(np.arange(cfg.n_days), row) for row in counts])
    secs = rng.normal(_DAY / 2, 20_000, len(cust)).astype(np.int64)
    keep = (secs > 0) & (secs < _DAY)
    cust, day, secs = cust[keep], day[keep], secs[keep]
    amount = rng.normal(mean_amount[cust], mean_amount[cust] / 2)
    negative = amount < 0
    amount[negative] = rng.uniform(0, 2 * mean_amount[cust[negative]])
    amount = np.round(amount, 2)
    sizes = np.array([len(t) for t in nearby])
    pick = (rng.random(len(cust)) * sizes[cust]).astype(np.int64)
    offsets = np.r_[0, np.cumsum(sizes)[:-1]]
    terminal = np.concatenate(nearby)[offsets[cust] + pick]

    order = np.lexsort((cust, day * _DAY + secs))
    cust, day, secs, terminal = cust[order], day[order], secs[order], terminal[order]
    amount = amount[order]
    pattern = np.zeros(len(cust), dtype=np.int8)
    pattern[amount > 220] = 1
    _compromise_terminals(rng, cfg, day, terminal, pattern)
    attack = _compromise_cards(rng, cfg, day, cust, amount, pattern)

    timestamp = pd.Timestamp(cfg.start, tz="UTC") + pd.to_timedelta(day * _DAY + secs, unit="s")
    names = np.array(["none", "amount_over_220", "compromised_terminal", "compromised_card"])
    columns = {
        "transaction_id": [f"hb{i:09d}" for i in range(len(cust))],
        "timestamp": timestamp,
        "customer_id": [f"C{c:06d}" for c in cust],
        "terminal_id": [f"T{t:06d}" for t in terminal],
        "amount": amount,
        "is_fraud": (pattern > 0).astype(np.int8),
        "label_time": timestamp + pd.Timedelta(days=cfg.label_delay_days),
        "fraud_pattern": names[pattern],
    }
    if cfg.cnp_signals:
        layer = np.random.default_rng([cfg.seed, 2])
        stolen = pattern == 3
        cnp = (layer.random(len(cust)) < layer.beta(2, 6, cfg.n_customers)[cust]) | stolen
        world = SignalWorld(cfg.seed, cfg.n_customers, cfg.n_terminals, cfg.n_days, _CARDS_A_DAY)
        t_s = (day * _DAY + secs).astype(np.float64)
        columns["channel"] = np.where(cnp, "online", "pos")
        columns |= card_not_present_signals(
            world, cust_xy, cust, t_s, terminal, cnp, stolen, attack
        )
    return pd.DataFrame(columns)


def _terminals_within(cust_xy: np.ndarray, term_xy: np.ndarray, radius: float) -> list[np.ndarray]:
    """Per customer, the terminals strictly within ``radius`` (in chunks: 5,000 x 10,000)."""
    out: list[np.ndarray] = []
    for lo in range(0, len(cust_xy), 500):
        block = cust_xy[lo : lo + 500]
        d2 = ((block[:, None, :] - term_xy[None, :, :]) ** 2).sum(axis=2)
        out.extend(np.flatnonzero(row < radius * radius) for row in d2)
    return out


def _rows_by(keys: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Rows sorted by key, and where each key's rows start (``starts[k]:starts[k+1]``)."""
    order = np.argsort(keys, kind="stable")
    starts = np.searchsorted(keys[order], np.arange(keys.max() + 2))
    return order, starts


def _compromise_terminals(
    rng: np.random.Generator, cfg: HandbookSimConfig, day: np.ndarray, terminal: np.ndarray,
    pattern: np.ndarray,
) -> None:  # fmt: skip
    order, starts = _rows_by(terminal)
    for d in range(int(day.max())):
        for t in rng.choice(cfg.n_terminals, 2, replace=False):
            if t + 1 >= len(starts):
                continue
            rows = order[starts[t] : starts[t + 1]]
            hit = rows[(day[rows] >= d) & (day[rows] < d + 28)]
            pattern[hit] = 2


def _compromise_cards(
    rng: np.random.Generator, cfg: HandbookSimConfig, day: np.ndarray, cust: np.ndarray,
    amount: np.ndarray, pattern: np.ndarray,
) -> np.ndarray:  # fmt: skip
    """Marks the compromised cards' frauds; returns each row's compromise (day x cards + card,
    the last to hit the row; -1 for none)."""
    attack = np.full(len(cust), -1, dtype=np.int64)
    order, starts = _rows_by(cust)
    for d in range(int(day.max())):
        drawn = rng.choice(cfg.n_customers, _CARDS_A_DAY, replace=False)
        picked = [c for c in drawn if c + 1 < len(starts)]
        parts = [order[starts[c] : starts[c + 1]] for c in picked]
        rows = np.concatenate(parts) if parts else np.zeros(0, dtype=np.int64)
        rows = rows[(day[rows] >= d) & (day[rows] < d + 14)]
        hit = rng.choice(rows, len(rows) // 3, replace=False) if len(rows) else rows
        amount[hit] = np.round(amount[hit] * 5, 2)
        pattern[hit] = 3
        attack[hit] = d * cfg.n_customers + cust[hit]
    return attack
