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

__all__ = [
    "DEFAULT_LABEL_DELAY",
    "LOGIN_COLUMNS",
    "TRANSACTION_COLUMNS",
    "prepare_logins",
    "prepare_transactions",
]

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


def _common(df: pd.DataFrame, required: tuple[str, ...], ids: tuple[str, ...]) -> pd.DataFrame:
    """Required columns present, string ids (the first unique), a UTC ``timestamp``."""
    import pandas as pd

    for column in required:
        if column not in df.columns:
            raise EventValidationError(
                column, "<missing column>", f"a column named {column!r}", where="frame"
            )
    out = pd.DataFrame(index=df.index)
    for column in ids:
        _ids(df, column)
        out[column] = df[column].astype(str)
    duplicated = df[ids[0]].duplicated().to_numpy()
    if duplicated.any():
        _fail(df, ids[0], duplicated, "unique ids")
    out["timestamp"] = _utc(df, "timestamp")
    return out


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
    out = _common(df, required, ("transaction_id", "customer_id", "terminal_id"))
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


LOGIN_COLUMNS = (
    "login_id",
    "timestamp",
    "user_id",
    "ip",
    "country",
    "asn",
    "user_agent",
    "success",
)
#: Key columns of the login views, derived the same way as ``_login.keys`` does online.
NO_DEVICE = "-"


def _bools(df: pd.DataFrame, column: str) -> np.ndarray:
    values = df[column]
    ok = values.map(lambda v: v in (0, 1) and not (isinstance(v, float) and np.isnan(v)))
    if not ok.all():
        _fail(df, column, ~ok.to_numpy(dtype=bool), "a bool (or 0/1)")
    return values.astype(bool).to_numpy()


def prepare_logins(df: pd.DataFrame, *, labelled: bool = True) -> pd.DataFrame:
    """A validated copy of a login frame, sorted by (timestamp, login_id).

    With ``labelled`` the frame must carry ``is_ato``; ``is_attack_ip`` is optional. Adds the
    view key columns ``device_key`` (device id, or ``"-"``) and ``asn_key`` (the ASN as text).
    """
    import ipaddress
    import re

    import pandas as pd

    required = LOGIN_COLUMNS + (("is_ato",) if labelled else ())
    out = _common(df, required, ("login_id", "user_id", "user_agent"))
    valid_ip: dict[object, bool] = {}
    for ip in df["ip"].unique():
        try:
            ipaddress.ip_address(ip)
            valid_ip[ip] = True
        except (ValueError, TypeError):
            valid_ip[ip] = False
    bad = ~df["ip"].map(valid_ip).to_numpy(dtype=bool)
    if bad.any():
        _fail(df, "ip", bad, "an IPv4 or IPv6 address")
    out["ip"] = df["ip"].astype(str)
    iso2 = re.compile(r"^[A-Z]{2}$")
    bad = ~df["country"].map(lambda v: isinstance(v, str) and bool(iso2.match(v))).to_numpy(bool)
    if bad.any():
        _fail(df, "country", bad, "an ISO-3166 alpha-2 code: 2 upper-case letters")
    out["country"] = df["country"].astype(str)
    asn = pd.to_numeric(df["asn"], errors="coerce").to_numpy(dtype=np.float64)
    bad = ~(np.isfinite(asn) & (asn >= 0) & (asn == np.floor(asn)))
    if bad.any():
        _fail(df, "asn", bad, "a non-negative int (autonomous system)")
    out["asn"] = asn.astype(np.int64)
    out["success"] = _bools(df, "success")
    for column in ("device_id", "latitude", "longitude", "rtt_ms"):
        out[column] = df[column] if column in df.columns else None
    out["device_id"] = out["device_id"].astype(object).where(out["device_id"].notna(), None)
    lat = pd.to_numeric(out["latitude"], errors="coerce").to_numpy(dtype=np.float64)
    lon = pd.to_numeric(out["longitude"], errors="coerce").to_numpy(dtype=np.float64)
    if (np.isnan(lat) != np.isnan(lon)).any():
        _fail(
            df.assign(latitude=out["latitude"]),
            "latitude",
            np.isnan(lat) != np.isnan(lon),
            "latitude and longitude together, or neither",
        )
    for column, values, limit in (("latitude", lat, 90.0), ("longitude", lon, 180.0)):
        bad = ~np.isnan(values) & ~(np.abs(values) <= limit)
        if bad.any():
            _fail(df, column, bad, f"a number in [-{limit:g}, {limit:g}]")
    out["latitude"], out["longitude"] = lat, lon
    rtt = pd.to_numeric(out["rtt_ms"], errors="coerce").to_numpy(dtype=np.float64)
    if (rtt < 0).any():
        _fail(df, "rtt_ms", rtt < 0, "a non-negative number of milliseconds")
    out["rtt_ms"] = rtt
    if labelled:
        out["is_ato"] = _bools(df, "is_ato").astype(np.int8)
        if "is_attack_ip" in df.columns:
            out["is_attack_ip"] = _bools(df, "is_attack_ip").astype(np.int8)
    out["device_key"] = out["device_id"].map(lambda d: NO_DEVICE if d is None else d)
    out["asn_key"] = out["asn"].astype(str)
    out["scope"] = "*"  # the key of the one-row totals view
    return out.sort_values(["timestamp", "login_id"], kind="stable").reset_index(drop=True)
