"""The transaction kind's training frames: :func:`prepare_transactions` validates a canonical
frame as :class:`~fraudscore.Transaction` validates one event."""

from __future__ import annotations

from datetime import timedelta
from typing import TYPE_CHECKING

import numpy as np

import fraudscore._frames as frames
from fraudscore._events import MAX_AMOUNT
from fraudscore._kinds.transaction.events import CHANNELS, DECISIONS

if TYPE_CHECKING:
    import pandas as pd

__all__ = ["COLUMNS", "prepare_transactions"]

COLUMNS = ("transaction_id", "timestamp", "customer_id", "terminal_id", "amount")
_OPTIONAL = ("currency", "channel", "device_id", "ip", "country")


def prepare_transactions(
    df: pd.DataFrame,
    *,
    labelled: bool = True,
    label_delay: timedelta = frames.DEFAULT_LABEL_DELAY,
    bad_rows: frames.BadRows = "fail",
) -> pd.DataFrame:
    """A validated copy of a transaction frame, sorted by (timestamp, transaction_id).

    With ``labelled`` the frame must carry ``is_fraud``; ``label_time`` defaults to ``timestamp +
    label_delay`` where absent or missing, and may not precede ``timestamp``. Every invalid row
    is listed by reason in a :class:`BadRowsError`; with ``bad_rows="drop"`` they are dropped
    instead, and ``out.attrs["dropped_rows"]`` counts them by reason.
    """
    import pandas as pd

    frames.require(df, COLUMNS + (("is_fraud",) if labelled else ()))
    rows = frames.Rows(df)
    ids = ("transaction_id", "customer_id", "terminal_id")
    ts = frames.common(rows, ids)
    amount = pd.to_numeric(df["amount"], errors="coerce").to_numpy(dtype=np.float64)
    rows.check(
        "amount",
        ~(np.isfinite(amount) & (amount >= 0) & (amount <= MAX_AMOUNT)),
        f"a finite number from 0 to {MAX_AMOUNT:g}",
    )
    optional = {c: df[c].astype(object).where(df[c].notna(), None) for c in _OPTIONAL if c in df}
    if "channel" in optional:
        ok = optional["channel"].map(lambda v: v is None or v in CHANNELS).to_numpy(dtype=bool)
        rows.check("channel", ~ok, f"one of {sorted(CHANNELS)} or missing")
    served = frames.served(rows, DECISIONS)
    label_time = None
    if labelled:
        frames.binary(rows, "is_fraud", "0/1 or a bool")
        label_time = ts + pd.Timedelta(label_delay)
        if "label_time" in df.columns:
            given = frames.tz_column(
                df.assign(label_time=df["label_time"].fillna(label_time)), "label_time"
            )
            early = (given < ts).to_numpy()
            rows.check("label_time", early, "a time at or after the transaction's timestamp")
            label_time = given
    keep, dropped = rows.keep(bad_rows)
    out = pd.DataFrame({c: df[c].astype(str) for c in ids}, index=df.index)
    out["timestamp"] = ts
    out["amount"] = amount
    for column, values in optional.items():
        out[column] = values
    if served is not None:
        out["decision"] = served
    if labelled:
        out["is_fraud"] = df["is_fraud"].where(keep, 0).astype(np.int8)
        out["label_time"] = label_time
    return frames.finish(out, keep, dropped, "transaction_id")
