"""The transaction kind's training frames: :func:`prepare_transactions` validates a canonical
frame as :class:`~fraudscore.Transaction` validates one event."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from typing import TYPE_CHECKING, Any

import numpy as np

import fraudscore._frames as frames
from fraudscore._events import (
    BIN,
    EMAIL_DOMAIN,
    MAX_AMOUNT,
    MAX_ASN,
    MCC,
    digits_expected,
    is_digits,
    is_domain,
    is_upper_code,
)
from fraudscore._kinds.transaction.events import CHANNELS, DECISIONS

if TYPE_CHECKING:
    import pandas as pd

__all__ = ["COLUMNS", "prepare_transactions"]

COLUMNS = ("transaction_id", "timestamp", "customer_id", "terminal_id", "amount")
_OPTIONAL = ("currency", "channel", "device_id", "ip", "country")
_ISO2 = "an ISO-3166 alpha-2 code: 2 upper-case letters"
_NUMBERS = (int, float, np.integer, np.floating)
_ASN = f"a whole number from 0 to {MAX_ASN} (autonomous system), or missing"
#: The card-not-present columns (besides ``asn``): each value missing or as the event checks it.
_CODES: dict[str, tuple[Callable[[Any], bool], str]] = {
    "ip_country": (lambda v: is_upper_code(v, 2), _ISO2),
    "email_domain": (is_domain, EMAIL_DOMAIN),
    "billing_country": (lambda v: is_upper_code(v, 2), _ISO2),
    "shipping_country": (lambda v: is_upper_code(v, 2), _ISO2),
    "card_country": (lambda v: is_upper_code(v, 2), _ISO2),
    "bin": (lambda v: is_digits(v, BIN[1], BIN[2]), digits_expected(*BIN)),
    "merchant_category": (lambda v: is_digits(v, MCC[1], MCC[2]), digits_expected(*MCC)),
}


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

    The card-not-present columns of :class:`~fraudscore.Transaction` (``asn`` to
    ``merchant_category``) are optional, each value missing or valid as in the event, and come
    out as objects with None where missing. ``asn`` may be ints, whole floats or ``Int64`` and
    comes out as whole floats, NaN where missing (as a parquet file keeps it); with it comes
    the view key column ``asn_key`` (the ASN as text).
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
    if "asn" in df.columns:
        optional["asn"] = _asn(rows)
    for column, (valid, expected) in _CODES.items():
        if column in df.columns:
            values = df[column].astype(object).where(df[column].notna(), None)
            ok = values.map(lambda v, valid=valid: v is None or valid(v)).to_numpy(dtype=bool)
            rows.check(column, ~ok, f"{expected}, or missing")
            optional[column] = values
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
    if "asn" in optional:
        # A number column (NaN where missing: what a parquet round trip keeps), and its text.
        out["asn_key"] = optional["asn"].map(lambda a: None if a is None else str(a))
        out["asn"] = optional["asn"].astype(np.float64)
    if served is not None:
        out["decision"] = served
    if labelled:
        out["is_fraud"] = df["is_fraud"].where(keep, 0).astype(np.int8)
        out["label_time"] = label_time
    return frames.finish(out, keep, dropped, "transaction_id")


def _asn(rows: frames.Rows) -> pd.Series:
    """The ``asn`` column as Python ints, None where missing (or bad): ints, whole floats (a
    parquet int column with missing values) or ``Int64``; bools and strings are refused."""
    import pandas as pd

    given = rows.df["asn"]
    present = given.notna().to_numpy()
    if given.dtype.kind in "iuf":  # Int64 and Float64 too; not bool ("b")
        number = given.to_numpy(dtype=np.float64, na_value=np.nan)
    elif given.dtype == object:
        number = np.array([_number(v) for v in given], dtype=np.float64)
    else:
        number = np.full(len(given), np.nan)
    ok = present & np.isfinite(number) & (number >= 0) & (number <= MAX_ASN)
    ok &= number == np.floor(number)
    rows.check("asn", present & ~ok, _ASN)
    return pd.Series(
        [int(n) if good else None for n, good in zip(number, ok, strict=True)],
        index=given.index,
        dtype=object,
    )


def _number(value: Any) -> float:
    """An int or float of an object column as a float; NaN for anything else (bools too)."""
    if isinstance(value, bool | np.bool_) or not isinstance(value, _NUMBERS):
        return np.nan
    try:
        return float(value)
    except OverflowError:  # an int beyond any float: out of range
        return np.nan
