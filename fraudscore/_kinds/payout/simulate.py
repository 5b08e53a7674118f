"""A seeded, vectorised simulator of payouts (money leaving an account to an external
beneficiary account) with labelled scam and mule cash-out patterns.

Genuine behaviour: each account has a monthly salary (paid on a day of its own), a starting
balance and day-to-day card spending that slowly drains it (and stops when the account is
empty); the ``balance`` column is the account's balance just before each payout (salaries in,
card spending and earlier payouts out). No payout exceeds the balance: the bank refuses one the
balance cannot cover, and a genuine payout that the account cannot afford when it comes due
(about 5% of those planned) is left out, not shrunk.
An account pays a few regular beneficiaries, each with a cadence and amounts of its own:

- rent, monthly, a fixed amount a few days after payday, by bank transfer;
- savings, weekly, fortnightly or monthly, to the account holder's own account elsewhere;
- bills, monthly, to one to three billers shared by many accounts (utilities, telecoms);
- family, now and then, amounts that vary, often instant, sometimes abroad;
- and now and then a new, one-off beneficiary (a marketplace seller, a friend), sometimes a
  large one (a car, a deposit) that takes 30-80% of the balance, often instantly.

Payouts come from one of the account's one or two devices and home IP addresses, in the
daytime (around 13:00 UTC, 06:00 to midnight) but for a night tail of ``NIGHT_SHARE`` (2%)
between 00:00 and 06:00 (shift workers, other time zones, a sleepless night); one in twenty
from a one-off session elsewhere (work, travel, a new phone). One time zone for everyone and a
flat night tail are a simplification.

Fraud patterns, each labelled in ``fraud_pattern`` (``"none"`` for genuine payouts):

``account_takeover``
    a fraudster who took over the account cashes it out: a burst of 1-4 payouts within two
    hours, a third of them at night, from a device and IP the account never used (or, in 30%,
    the victim's own device driven by a remote-access tool), by instant payment, card push or
    wallet, to one or two mule beneficiaries (a pool of mules that several takeovers share),
    each payout taking 30-90% of what is left of the balance (an account with less than 20 left
    is not paid out).
``push_payment_scam``
    an authorised push-payment scam: the victim, on their own device, pays a new beneficiary
    (the scammer's account or a mule) 2-6 times over up to a week, each amount 1.3-2x the
    previous one, each at most 95% of what is left, until most of the balance is gone.
``mule_collection``
    one mule beneficiary collects from 5-15 different accounts (victims of marketplace,
    romance or investment scams, paying from their own devices at the hours they pay, each
    at most what is in the account) over two days.

The fraud share is about 1% of payouts at the default rates (0.94% for seed 7). Labels arrive late:
``label_time`` is a log-normal delay after the payout (median about 1.5 days for a takeover,
which the customer notices, 5 days for a push-payment scam, 3 for a mule collection, at most
30 days); for genuine payouts it is ``timestamp + 7 days``.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    import pandas as pd

__all__ = ["PATTERNS", "PayoutSimConfig", "simulate_payouts"]

DAY_S = 86_400.0
HOUR_S = 3_600.0
#: The fraud patterns of ``fraud_pattern`` (module docstring).
PATTERNS = ("account_takeover", "push_payment_scam", "mule_collection")
_HOME = "DE"
_ABROAD = np.array(["AT", "FR", "NL", "PL", "RO", "TR", "GB", "ES", "IT", "LT"], dtype=object)
#: Internal pattern of the genuine large one-offs (``"none"`` in the output); devices from this
#: number up are one-off sessions (work, travel), with a public IP.
_LARGE = "genuine_large"
_AWAY = 10
_METHODS = np.array(["bank_transfer", "instant", "card", "wallet"], dtype=object)
#: Share of people's own payouts made at night (00:00-06:00 UTC).
NIGHT_SHARE = 0.02
#: The smallest payout a fraudster bothers with: an account with less left is not paid out.
_MIN_FRAUD = 20.0


@dataclass(frozen=True, slots=True)
class PayoutSimConfig:
    """Size and fraud rates of a simulated dataset. Fraud rates are per day and 1,000
    accounts (a takeover, a scam or a collection each is a group of payouts)."""

    n_accounts: int = 2_000
    n_days: int = 60
    start: str = "2018-04-01"
    seed: int = 7
    #: Billers shared by the accounts, and mule accounts shared by the fraudsters.
    n_billers: int = 40
    n_mules: int = 120
    takeovers_per_day: float = 0.5
    push_scams_per_day: float = 0.25
    mule_collections_per_day: float = 0.1

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def _hours(rng: np.random.Generator, n: int) -> np.ndarray:
    """Hours of the day (UTC) at which people pay: around midday, 06:00 to midnight, and a
    night tail of ``NIGHT_SHARE`` between 00:00 and 06:00 (shift workers, another time zone,
    a sleepless night)."""
    day = np.clip(rng.normal(13.0, 3.5, n), 6.0, 23.99)
    return np.where(rng.random(n) < NIGHT_SHARE, rng.uniform(0.0, 6.0, n), day)


def _within(counts: np.ndarray) -> np.ndarray:
    """0, 1, ... within each group of sizes ``counts`` (concatenated)."""
    starts = np.repeat(np.cumsum(counts) - counts, counts)
    return np.arange(int(counts.sum())) - starts


def simulate_payouts(config: PayoutSimConfig | None = None) -> pd.DataFrame:
    """A frame of canonical payouts with ``is_fraud``, ``label_time`` and ``fraud_pattern``."""
    import pandas as pd

    cfg = config or PayoutSimConfig()
    rng = np.random.default_rng(cfg.seed)
    A, D, B, M = cfg.n_accounts, cfg.n_days, max(cfg.n_billers, 1), max(cfg.n_mules, 1)

    salary = rng.lognormal(np.log(2500.0), 0.4, A)
    payday = rng.integers(0, 30, A).astype(np.float64)
    opening = salary * rng.uniform(0.3, 2.0, A)
    card_spend = salary * rng.uniform(0.25, 0.45, A) / 30.0  # per day
    n_devices = rng.integers(1, 3, A)

    # Beneficiary codes: landlords [0, A), savings [A, 2A), billers [2A, 2A+B), family
    # [2A+B, 4A+B) (two per account), then mules, then one-off and scam beneficiaries.
    LAND, SAVE, BILL, FAM = 0, A, 2 * A, 2 * A + B
    MULE = FAM + 2 * A
    NEW = MULE + M
    country = {}  # code -> beneficiary bank country, where not home
    fam_abroad = rng.random(2 * A) < 0.15
    for j in np.flatnonzero(fam_abroad):
        country[FAM + int(j)] = str(rng.choice(_ABROAD))
    for j in np.flatnonzero(rng.random(M) < 0.35):
        country[MULE + int(j)] = str(rng.choice(_ABROAD))

    # Regular streams: (account, beneficiary, period days, phase days, amount, sd share, method)
    acc: list[np.ndarray] = []
    ben: list[np.ndarray] = []
    period: list[np.ndarray] = []
    phase: list[np.ndarray] = []
    amt: list[np.ndarray] = []
    sd: list[np.ndarray] = []
    meth: list[np.ndarray] = []

    def stream(
        a: np.ndarray,
        b: np.ndarray,
        p: np.ndarray,
        ph: np.ndarray,
        m: np.ndarray,
        s: float,
        method: np.ndarray,
    ) -> None:
        for into, value in zip(
            (acc, ben, period, phase, amt, sd, meth),
            (a, b, p, ph, m, np.full(len(a), s), method),
            strict=True,
        ):
            into.append(value)

    idx = np.arange(A)
    rent = idx[rng.random(A) < 0.7]
    n = len(rent)
    due = (payday[rent] + rng.uniform(1, 4, n)) % 30  # a few days after payday
    fixed = np.round(salary[rent] * rng.uniform(0.25, 0.4, n), -1)
    stream(rent, LAND + rent, np.full(n, 30.0), due, fixed, 0.0, np.zeros(n, np.int64))
    save = idx[rng.random(A) < 0.5]
    n = len(save)
    p_save = rng.choice([7.0, 14.0, 30.0], n)
    ph_save = rng.uniform(0, 1, n) * p_save
    put_by = np.round(salary[save] * rng.uniform(0.05, 0.15, n) * p_save / 30, -1)
    m_save = np.where(rng.random(n) < 0.7, 0, 1)
    stream(save, SAVE + save, p_save, ph_save, np.maximum(put_by, 10.0), 0.0, m_save)
    n_bills = rng.integers(1, 4, A)
    b_acc = np.repeat(idx, n_bills)
    n = len(b_acc)
    biller = BILL + rng.integers(0, B, n)
    ph_bill = rng.uniform(0, 30, n)
    bill = rng.lognormal(np.log(60.0), 0.6, n)
    stream(b_acc, biller, np.full(n, 30.0), ph_bill, bill, 0.15, np.zeros(n, np.int64))
    acc_r = np.concatenate(acc)
    period_r, phase_r = np.concatenate(period), np.concatenate(phase)
    counts = np.maximum(0, np.ceil((D - phase_r) / period_r)).astype(np.int64)
    k = _within(counts)
    r_acc = np.repeat(acc_r, counts)
    r_day = np.repeat(phase_r, counts) + k * np.repeat(period_r, counts)
    r_ben = np.repeat(np.concatenate(ben), counts)
    r_amt = np.repeat(np.concatenate(amt), counts)
    r_amt = r_amt * (1 + np.repeat(np.concatenate(sd), counts) * rng.standard_normal(len(r_amt)))
    r_meth = np.repeat(np.concatenate(meth), counts)

    # Family: Poisson, one or two family beneficiaries; one-off new beneficiaries: Poisson.
    fam = rng.random(2 * A) < np.r_[np.full(A, 0.6), np.full(A, 0.25)]
    f_pair = np.flatnonzero(fam)
    f_acc = f_pair % A
    f_n = rng.poisson(D / rng.uniform(7, 30, len(f_pair)))
    fa = np.repeat(f_acc, f_n)
    f_amt = np.repeat(salary[f_acc] * rng.uniform(0.02, 0.1, len(f_pair)), f_n)
    f_amt = f_amt * rng.lognormal(0.0, 0.5, len(fa))
    n_new = rng.poisson(D / 15.0, A)
    na = np.repeat(idx, n_new)
    n_amt = salary[na] * 0.04 * rng.lognormal(0.0, 0.9, len(na))
    new_codes = NEW + np.arange(len(na))
    for j in np.flatnonzero(rng.random(len(na)) < 0.15):
        country[int(new_codes[j])] = str(rng.choice(_ABROAD))
    next_code = NEW + len(na)

    g_acc = np.concatenate([r_acc, fa, na])
    g_day = np.concatenate([r_day, rng.uniform(0, D, len(fa) + len(na))])
    g_ben = np.concatenate([r_ben, np.repeat(FAM + f_pair, f_n), new_codes])
    g_amt = np.concatenate([r_amt, f_amt, n_amt])
    g_meth = np.concatenate([
        r_meth,
        np.where(rng.random(len(fa)) < 0.5, 1, 0),
        rng.choice(4, len(na), p=[0.45, 0.4, 0.1, 0.05]),
    ])  # fmt: skip
    hour = _hours(rng, len(g_acc))
    g_t = np.floor(g_day) * DAY_S + hour * HOUR_S + rng.uniform(0, 60, len(g_acc))
    g_amt = np.maximum(np.round(g_amt, 2), 1.0)
    g_dev = rng.integers(0, 2, len(g_acc)) % n_devices[g_acc]
    # Now and then a payout from elsewhere: a browser at work, a hotel, a new phone.
    away = rng.random(len(g_acc)) < 0.05
    g_dev[away] = rng.integers(_AWAY, 1000, int(away.sum()))
    n_g = len(g_acc)

    # Fraud: each group (a takeover, a scam, a collection) a few payouts.
    f_rows: list[tuple[Any, ...]] = []  # (account, t, beneficiary, method, device, pattern, group)
    group = 0
    per_k = A / 1000.0
    for d in range(D):
        # Genuine large one-offs (a car, a deposit): most of the balance to a new beneficiary.
        for _ in range(rng.poisson(A / 120.0)):
            owner = int(rng.integers(0, A))
            t = d * DAY_S + float(_hours(rng, 1)[0]) * HOUR_S
            method = int(rng.choice(4, p=[0.5, 0.4, 0.05, 0.05]))
            dev = int(rng.integers(0, n_devices[owner]))
            f_rows.append((owner, t, next_code, method, dev, _LARGE, group))
            next_code, group = next_code + 1, group + 1
        for _ in range(rng.poisson(cfg.takeovers_per_day * per_k)):
            victim = int(rng.integers(0, A))
            night = rng.random() < 0.35
            t0 = d * DAY_S + (rng.uniform(0, 6) if night else rng.uniform(6, 24)) * HOUR_S
            n = int(rng.integers(1, 5))
            mules = MULE + rng.integers(0, M, 2)
            method = int(rng.choice([1, 2, 3], p=[0.7, 0.15, 0.15]))
            # A remote-access tool drives the victim's own device in 30% of takeovers.
            dev = 0 if rng.random() < 0.3 else -1 - group
            for i, t in enumerate(np.sort(t0 + rng.uniform(0, 2 * HOUR_S, n))):
                mule = int(mules[1] if i and rng.random() < 0.3 else mules[0])
                f_rows.append((victim, t, mule, method, dev, "account_takeover", group))
            group += 1
        for _ in range(rng.poisson(cfg.push_scams_per_day * per_k)):
            victim = int(rng.integers(0, A))
            if rng.random() < 0.6:
                scammer, next_code = next_code, next_code + 1
            else:
                scammer = MULE + int(rng.integers(0, M))
            n = int(rng.integers(2, 7))
            t0 = d * DAY_S + rng.uniform(8, 21) * HOUR_S
            span = rng.uniform(1, 7) * DAY_S
            method = int(rng.choice([0, 1]))
            dev = int(rng.integers(0, n_devices[victim]))
            for t in np.sort(t0 + np.r_[0.0, rng.uniform(0, span, n - 1)]):
                f_rows.append((victim, t, scammer, method, dev, "push_payment_scam", group))
            group += 1
        for _ in range(rng.poisson(cfg.mule_collections_per_day * per_k)):
            mule = MULE + int(rng.integers(0, M))
            senders = rng.choice(A, min(int(rng.integers(5, 16)), A), replace=False)
            # The victims pay from their own devices, at the hours they pay, over two days.
            days = d + rng.integers(0, 2, len(senders))
            at = days * DAY_S + _hours(rng, len(senders)) * HOUR_S
            for v, t in zip(senders, at, strict=True):
                dev = int(rng.integers(0, n_devices[v]))
                f_rows.append((int(v), t, mule, int(rng.choice([0, 1], p=[0.4, 0.6])), dev,
                               "mule_collection", group))  # fmt: skip
            group += 1
    horizon = D * DAY_S
    f_rows = [r for r in f_rows if r[1] < horizon]
    n_f = len(f_rows)
    f_cols = list(zip(*f_rows, strict=True)) if f_rows else [()] * 7

    account = np.r_[g_acc, np.array(f_cols[0], np.int64)]
    t_s = np.floor(np.r_[g_t, np.array(f_cols[1], np.float64)])
    beneficiary = np.r_[g_ben, np.array(f_cols[2], np.int64)]
    method_i = np.r_[g_meth, np.array(f_cols[3], np.int64)]
    device = np.r_[g_dev, np.array(f_cols[4], np.int64)]
    pattern = np.r_[np.full(n_g, "none", dtype=object), np.array(f_cols[5], dtype=object)]
    f_group = np.array(f_cols[6], np.int64)
    amount = np.r_[g_amt, np.zeros(n_f)]

    # One pass per account in time order: the balance before each payout (salaries in, card
    # spending out until the account is empty, earlier payouts out). A payout the balance
    # cannot cover is refused by the bank and left out: a genuine one as it was planned, a
    # fraud one when less than _MIN_FRAUD is left (else it takes at most what is there).
    f_group = np.r_[np.full(n_g, -1, np.int64), f_group]
    balance = np.zeros(len(account))
    made = np.ones(len(account), dtype=bool)
    scam: dict[int, list[float]] = {}  # push-payment scam group -> [next amount, growth]
    a_list, t_list, p_list = account.tolist(), t_s.tolist(), pattern.tolist()
    g_list, amounts = f_group.tolist(), amount.tolist()
    last = -1
    b = t_prev = n_prev = 0.0
    for r in np.lexsort((t_s, account)).tolist():
        a, day, what = a_list[r], t_list[r] / DAY_S, p_list[r]
        n_sal = max(math.floor((day - payday[a] - 0.25) / 30.0) + 1.0, 0.0)
        if a != last:
            last, b, t_prev, n_prev = a, float(opening[a]), 0.0, 0.0
        b = round(max(b - card_spend[a] * (day - t_prev), 0.0) + (n_sal - n_prev) * salary[a], 2)
        t_prev, n_prev = day, n_sal
        balance[r] = b
        if what == "none":
            x = amounts[r]
        elif what == _LARGE:
            x = b * rng.uniform(0.3, 0.8) if b > 500 else rng.uniform(300, 2000)
        elif b < _MIN_FRAUD:
            x = math.inf
        elif what == "account_takeover":
            x = min(max(b * rng.uniform(0.3, 0.9), _MIN_FRAUD), b)
        elif what == "push_payment_scam":
            step = scam.setdefault(
                g_list[r], [max(b, 200.0) * rng.uniform(0.05, 0.15), rng.uniform(1.3, 2.0)]
            )
            x = min(max(step[0], _MIN_FRAUD), 0.95 * b)
            step[0] *= step[1]
        else:
            x = min(rng.lognormal(np.log(300.0), 0.6), b)
        x = round(x, 2)
        if x > b:
            made[r] = False
            continue
        amount[r] = x
        b = round(b - x, 2)
    account, t_s, beneficiary, method_i, device, pattern, amount, balance = (
        col[made] for col in (account, t_s, beneficiary, method_i, device, pattern, amount, balance)
    )

    order = np.argsort(t_s, kind="stable")
    account, t_s, beneficiary, method_i, device, pattern, amount, balance = (
        x[order] for x in (account, t_s, beneficiary, method_i, device, pattern, amount, balance)
    )
    n = len(account)
    start = pd.Timestamp(datetime.fromisoformat(cfg.start), tz="UTC")
    timestamp = start + pd.to_timedelta(t_s, unit="s")
    pattern = np.where(np.isin(pattern, PATTERNS), pattern, "none")
    is_fraud = (pattern != "none").astype(np.int8)
    median = np.select(
        [pattern == "account_takeover", pattern == "push_payment_scam"], [1.5, 5.0], 3.0
    )
    delay = np.minimum(rng.lognormal(np.log(median * DAY_S), 0.6), 30 * DAY_S)
    delay_s = np.where(is_fraud == 1, np.floor(delay), 7 * DAY_S)
    public = (device < 0) | (device >= _AWAY)
    devices = [
        f"ax{-d:06d}" if d < 0 else f"dv{a:06d}{d}" for a, d in zip(account, device, strict=True)
    ]
    octet = rng.integers(1, 255, (n, 3))
    ips = [
        f"185.{o[0]}.{o[1]}.{o[2]}" if bad else f"10.{a // 256 % 256}.{a % 256}.{d % 2 + 1}"
        for a, d, bad, o in zip(account, device, public, octet, strict=True)
    ]
    return pd.DataFrame(
        {
            "payout_id": [f"po{i:09d}" for i in range(n)],
            "timestamp": timestamp,
            "account_id": [f"A{a:06d}" for a in account],
            "beneficiary_id": [f"B{b:07d}" for b in beneficiary],
            "amount": amount,
            "method": _METHODS[method_i],
            "balance": balance,
            "device_id": devices,
            "ip": ips,
            "country": [country.get(int(b), _HOME) for b in beneficiary],
            "is_fraud": is_fraud,
            "label_time": timestamp + pd.to_timedelta(delay_s, unit="s"),
            "fraud_pattern": pattern.astype(str),
        }
    )
