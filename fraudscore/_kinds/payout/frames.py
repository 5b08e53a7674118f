"""The payout kind's training frames: :func:`prepare_payouts` validates a canonical frame as
:class:`Payout` validates one event."""

from __future__ import annotations

import ipaddress
import re
from datetime import timedelta
from typing import TYPE_CHECKING, Any

import numpy as np

import fraudscore._frames as frames
from fraudscore._events import MAX_AMOUNT
from fraudscore._kinds.payout.events import DECISIONS, METHODS

if TYPE_CHECKING:
    import pandas as pd

__all__ = ["COLUMNS", "prepare_payouts"]

COLUMNS = ("payout_id", "timestamp", "account_id", "beneficiary_id", "amount", "method")
_OPTIONAL = ("balance", "device_id", "ip", "country")
_ISO2 = re.compile(r"^[A-Z]{2}$")
_MONEY = f"a finite number from 0 to {MAX_AMOUNT:g}"


def _is_ip(value: Any) -> bool:
    try:
        ipaddress.ip_address(value if isinstance(value, str) else None)  # type: ignore[arg-type]
    except ValueError:
        return False
    return True


def _numbers(column: pd.Series) -> np.ndarray:
    """A column as float64, NaN in each cell that is not a number as :class:`Payout` takes one:
    a bool (``True`` is no amount) or a string (a numeric string included) is NaN, not
    coerced."""
    import pandas as pd

    if pd.api.types.is_bool_dtype(column.dtype):
        return np.full(len(column), np.nan)
    if not pd.api.types.is_numeric_dtype(column.dtype):
        wrong = column.map(lambda v: isinstance(v, (bool, np.bool_, str, bytes)))
        column = column.astype(object).where(~wrong.to_numpy(dtype=bool), None)
    values = pd.to_numeric(column, errors="coerce")
    return np.asarray(values.to_numpy(dtype=np.float64, na_value=np.nan), dtype=np.float64)


def prepare_payouts(
    df: pd.DataFrame,
    *,
    labelled: bool = True,
    label_delay: timedelta = frames.DEFAULT_LABEL_DELAY,
    bad_rows: frames.BadRows = "fail",
) -> pd.DataFrame:
    """A validated copy of a payout frame, sorted by (timestamp, payout_id).

    With ``labelled`` the frame must carry ``is_fraud``; ``label_time`` defaults to ``timestamp +
    label_delay`` where absent or missing, and may not precede ``timestamp``. ``balance``,
    ``device_id``, ``ip`` and ``country`` are optional (missing values allowed). Invalid rows are
    handled as in :func:`prepare_transactions`.
    """
    import pandas as pd

    frames.require(df, COLUMNS + (("is_fraud",) if labelled else ()))
    rows = frames.Rows(df)
    ids = ("payout_id", "account_id", "beneficiary_id")
    ts = frames.common(rows, ids)
    amount = _numbers(df["amount"])
    rows.check("amount", ~(np.isfinite(amount) & (amount >= 0) & (amount <= MAX_AMOUNT)), _MONEY)
    ok = df["method"].map(lambda v: isinstance(v, str) and v in METHODS).to_numpy(dtype=bool)
    rows.check("method", ~ok, f"one of {sorted(METHODS)}")
    optional = {c: df[c].astype(object).where(df[c].notna(), None) for c in _OPTIONAL if c in df}
    balance = np.full(len(df), np.nan)
    if "balance" in optional:
        given = optional["balance"].notna().to_numpy(dtype=bool)
        balance = _numbers(df["balance"])
        good = np.isfinite(balance) & (balance >= 0) & (balance <= MAX_AMOUNT)
        rows.check("balance", given & ~good, f"{_MONEY}, or missing")
        balance = np.where(given, balance, np.nan)
    if "device_id" in optional:
        ok = optional["device_id"].map(lambda v: v is None or frames.is_id(v))
        rows.check("device_id", ~ok.to_numpy(dtype=bool), "a non-empty string id, or missing")
    if "ip" in optional:
        ok = optional["ip"].map(lambda v: v is None or _is_ip(v))
        rows.check("ip", ~ok.to_numpy(dtype=bool), "an IPv4 or IPv6 address, or missing")
    if "country" in optional:
        ok = optional["country"].map(
            lambda v: v is None or (isinstance(v, str) and bool(_ISO2.match(v)))
        )
        rows.check(
            "country",
            ~ok.to_numpy(dtype=bool),
            "an ISO-3166 alpha-2 code: 2 upper-case letters, or missing",
        )
    served = frames.served(rows, DECISIONS)
    label_time = None
    if labelled:
        frames.binary(rows, "is_fraud", "0/1 or a bool")
        label_time = ts + pd.Timedelta(label_delay)
        if "label_time" in df.columns:
            given_time = frames.tz_column(
                df.assign(label_time=df["label_time"].fillna(label_time)), "label_time"
            )
            early = (given_time < ts).to_numpy()
            rows.check("label_time", early, "a time at or after the payout's timestamp")
            label_time = given_time
    keep, dropped = rows.keep(bad_rows)
    out = pd.DataFrame({c: df[c].astype(str) for c in ids}, index=df.index)
    out["timestamp"] = ts
    out["amount"] = amount
    out["method"] = df["method"].astype(str)
    out["balance"] = balance
    for column in ("device_id", "ip", "country"):
        values = optional.get(column)
        out[column] = pd.Series(None, index=df.index, dtype=object) if values is None else values
    if served is not None:
        out["decision"] = served
    if labelled:
        out["is_fraud"] = df["is_fraud"].where(keep, 0).astype(np.int8)
        out["label_time"] = label_time
    return frames.finish(out, keep, dropped, "payout_id")
