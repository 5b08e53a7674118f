"""Validation of canonical event frames (training data), mirroring the event contract.

Anyone can bring their own data: a pandas DataFrame with the canonical columns of DESIGN.md. Bad
data raises :class:`EventValidationError` naming the column, the first bad row and its value.
"""

from __future__ import annotations

from datetime import timedelta
from typing import TYPE_CHECKING

import numpy as np

from fraudscore._errors import EventValidationError
from fraudscore._events import CHANNELS

if TYPE_CHECKING:
    import pandas as pd

__all__ = ["DEFAULT_LABEL_DELAY", "TRANSACTION_COLUMNS", "prepare_transactions"]

DEFAULT_LABEL_DELAY = timedelta(days=7)
TRANSACTION_COLUMNS = ("transaction_id", "timestamp", "customer_id", "terminal_id", "amount")
_OPTIONAL = ("currency", "channel", "device_id", "ip", "country")


def _fail(df: pd.DataFrame, column: str, bad: np.ndarray, expected: str) -> None:
    pos = int(np.flatnonzero(bad)[0])
    raise EventValidationError(
        column, df[column].iloc[pos], expected, where=f"frame row {df.index[pos]!r}"
    )


def _utc(df: pd.DataFrame, column: str) -> pd.Series:
    import pandas as pd

    s = df[column]
    if not isinstance(s.dtype, pd.DatetimeTZDtype):
        if s.dtype == object and len(s) and all(getattr(v, "tzinfo", None) is not None for v in s):
            s = pd.to_datetime(s, utc=True)
        else:
            raise EventValidationError(
                column, str(s.dtype), "a timezone-aware datetime column (UTC)", where="frame"
            )
    s = s.dt.tz_convert("UTC").astype("datetime64[ns, UTC]")
    if s.isna().any():
        _fail(df, column, s.isna().to_numpy(), "a timestamp, not missing")
    return s


def _ids(df: pd.DataFrame, column: str) -> None:
    values = df[column]
    bad = ~values.map(lambda v: isinstance(v, str) and bool(v.strip())).to_numpy(dtype=bool)
    if bad.any():
        _fail(df, column, bad, "a non-empty string id")


def prepare_transactions(
    df: pd.DataFrame,
    *,
    labelled: bool = True,
    label_delay: timedelta = DEFAULT_LABEL_DELAY,
) -> pd.DataFrame:
    """A validated copy of a transaction frame, sorted by (timestamp, transaction_id).

    With ``labelled`` the frame must carry ``is_fraud``; ``label_time`` defaults to ``timestamp +
    label_delay`` where absent or missing, and may not precede ``timestamp``.
    """
    import pandas as pd

    required = TRANSACTION_COLUMNS + (("is_fraud",) if labelled else ())
    for column in required:
        if column not in df.columns:
            raise EventValidationError(
                column, "<missing column>", f"a column named {column!r}", where="frame"
            )
    out = pd.DataFrame(index=df.index)
    for column in ("transaction_id", "customer_id", "terminal_id"):
        _ids(df, column)
        out[column] = df[column].astype(str)
    if df["transaction_id"].duplicated().any():
        _fail(df, "transaction_id", df["transaction_id"].duplicated().to_numpy(), "unique ids")
    out["timestamp"] = _utc(df, "timestamp")
    amount = pd.to_numeric(df["amount"], errors="coerce").to_numpy(dtype=np.float64)
    bad = ~(np.isfinite(amount) & (amount > 0))
    if bad.any():
        _fail(df, "amount", bad, "a finite number > 0")
    out["amount"] = amount
    for column in _OPTIONAL:
        if column in df.columns:
            out[column] = df[column].astype(object).where(df[column].notna(), None)
    if "channel" in out.columns:
        bad = ~out["channel"].map(lambda v: v is None or v in CHANNELS).to_numpy(dtype=bool)
        if bad.any():
            _fail(df, "channel", bad, f"one of {sorted(CHANNELS)} or missing")
    if labelled:
        fraud = df["is_fraud"]
        ok = fraud.map(lambda v: v in (0, 1) and not (isinstance(v, float) and np.isnan(v)))
        if not ok.all():
            _fail(df, "is_fraud", ~ok.to_numpy(dtype=bool), "0/1 or a bool")
        out["is_fraud"] = fraud.astype(np.int8)
        default = out["timestamp"] + pd.Timedelta(label_delay)
        if "label_time" in df.columns:
            lt = df["label_time"]
            lt = _utc(df.assign(label_time=lt.fillna(default)), "label_time")
            early = (lt < out["timestamp"]).to_numpy()
            if early.any():
                _fail(df, "label_time", early, "a time at or after the transaction's timestamp")
            out["label_time"] = lt
        else:
            out["label_time"] = default
    out = out.sort_values(["timestamp", "transaction_id"], kind="stable").reset_index(drop=True)
    return out
