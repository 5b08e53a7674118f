"""Validation of canonical event frames (training data), mirroring the event contract.

Anyone can bring their own data: a pandas DataFrame with the canonical columns of DESIGN.md. Bad
data raises :class:`EventValidationError` naming the column, the first bad row and its value.
"""

from __future__ import annotations

from datetime import timedelta
from typing import TYPE_CHECKING, Any, Literal

import numpy as np

from fraudscore._errors import BadRowsError, EventValidationError
from fraudscore._events import CHANNELS, LOGIN_DECISIONS, MAX_AMOUNT, TRANSACTION_DECISIONS

if TYPE_CHECKING:
    import pandas as pd

__all__ = [
    "DEFAULT_LABEL_DELAY",
    "LOGIN_COLUMNS",
    "TRANSACTION_COLUMNS",
    "BadRows",
    "prepare_logins",
    "prepare_transactions",
]

DEFAULT_LABEL_DELAY = timedelta(days=7)
TRANSACTION_COLUMNS = ("transaction_id", "timestamp", "customer_id", "terminal_id", "amount")
_OPTIONAL = ("currency", "channel", "device_id", "ip", "country")


class _Rows:
    """The bad rows of a frame, by reason: each check adds a mask of the rows it refuses."""

    def __init__(self, df: pd.DataFrame) -> None:
        self.df = df
        self.bad = np.zeros(len(df), dtype=bool)
        self.problems: dict[str, tuple[int, list[tuple[Any, Any]]]] = {}

    def check(self, column: str, bad: np.ndarray, expected: str, values: Any = None) -> None:
        if not bad.any():
            return
        import pandas as pd

        shown = self.df[column] if values is None else pd.Series(values, index=self.df.index)
        rows = np.flatnonzero(bad)
        examples = [(self.df.index[i], _plain(shown.iloc[i])) for i in rows[:3]]
        key = f"{column}: {expected}"
        count, old = self.problems.get(key, (0, []))
        self.problems[key] = (count + len(rows), (old + examples)[:3])
        self.bad |= bad

    def keep(self, bad_rows: BadRows) -> tuple[np.ndarray, dict[str, int]]:
        """Rows to keep and the dropped count per reason; raises under ``"fail"``."""
        if not self.problems:
            return ~self.bad, {}
        if bad_rows != "drop":
            raise BadRowsError(self.problems, int(self.bad.sum()))
        return ~self.bad, {reason: count for reason, (count, _) in self.problems.items()}


def _plain(value: Any) -> Any:
    return value.item() if isinstance(value, np.generic) else value


def _tz_column(df: pd.DataFrame, column: str) -> pd.Series:
    """``column`` as UTC datetimes; a column of another type is refused as a whole."""
    import pandas as pd

    s = df[column]
    if not isinstance(s.dtype, pd.DatetimeTZDtype):
        if s.dtype == object and len(s) and all(getattr(v, "tzinfo", None) is not None for v in s):
            s = pd.to_datetime(s, utc=True)
        else:
            raise EventValidationError(
                column,
                str(s.dtype),
                "a timezone-aware datetime column (UTC); for naive times give a column "
                "mapping with a timezone (CLI: --timezone)",
                where="frame",
            )
    return s.dt.tz_convert("UTC").astype("datetime64[ns, UTC]")


def _ids(rows: _Rows, column: str) -> None:
    values = rows.df[column]
    ok = values.map(_is_id).to_numpy(dtype=bool)
    rows.check(column, ~ok, "a non-empty string id of valid Unicode")


def _is_id(value: Any) -> bool:
    if not isinstance(value, str) or not value.strip():
        return False
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def _binary(rows: _Rows, column: str, expected: str) -> None:
    ok = rows.df[column].map(lambda v: v in (0, 1) and not (isinstance(v, float) and np.isnan(v)))
    rows.check(column, ~ok.to_numpy(dtype=bool), expected)


def _require(df: pd.DataFrame, required: tuple[str, ...]) -> None:
    for column in required:
        if column not in df.columns:
            raise EventValidationError(
                column,
                "<missing column>",
                f"a column named {column!r} (the frame has {sorted(map(str, df.columns))}; "
                "map other names with a column mapping, CLI: --columns)",
                where="frame",
            )


def _common(rows: _Rows, ids: tuple[str, ...]) -> pd.Series:
    """Check the string ids (the first unique) and the timestamp; return it in UTC."""
    for column in ids:
        _ids(rows, column)
    rows.check(ids[0], rows.df[ids[0]].duplicated().to_numpy(), "unique ids")
    ts = _tz_column(rows.df, "timestamp")
    rows.check("timestamp", ts.isna().to_numpy(), "a timestamp, not missing")
    return ts


def _served(rows: _Rows, names: tuple[str, ...]) -> pd.Series | None:
    """The optional ``decision`` column: what the defence in service decided for the event
    (one of ``names``), or missing where unknown (a history from before the defence)."""
    df = rows.df
    if "decision" not in df.columns:
        return None
    values = df["decision"].astype(object).where(df["decision"].notna(), None)
    ok = values.map(lambda v: v is None or (isinstance(v, str) and v in names))
    rows.check("decision", ~ok.to_numpy(dtype=bool), f"one of {list(names)} or missing")
    return values


def _finish(
    out: pd.DataFrame, keep: np.ndarray, dropped: dict[str, int], order: str
) -> pd.DataFrame:
    out = out[keep].sort_values(["timestamp", order], kind="stable").reset_index(drop=True)
    out.attrs["dropped_rows"] = dropped
    return out


#: What to do with invalid rows of a training frame: list them and stop, or drop them.
BadRows = Literal["fail", "drop"]


def prepare_transactions(
    df: pd.DataFrame,
    *,
    labelled: bool = True,
    label_delay: timedelta = DEFAULT_LABEL_DELAY,
    bad_rows: BadRows = "fail",
) -> pd.DataFrame:
    """A validated copy of a transaction frame, sorted by (timestamp, transaction_id).

    With ``labelled`` the frame must carry ``is_fraud``; ``label_time`` defaults to ``timestamp +
    label_delay`` where absent or missing, and may not precede ``timestamp``. Every invalid row
    is listed by reason in a :class:`BadRowsError`; with ``bad_rows="drop"`` they are dropped
    instead, and ``out.attrs["dropped_rows"]`` counts them by reason.
    """
    import pandas as pd

    _require(df, TRANSACTION_COLUMNS + (("is_fraud",) if labelled else ()))
    rows = _Rows(df)
    ids = ("transaction_id", "customer_id", "terminal_id")
    ts = _common(rows, ids)
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
    served = _served(rows, TRANSACTION_DECISIONS)
    label_time = None
    if labelled:
        _binary(rows, "is_fraud", "0/1 or a bool")
        label_time = ts + pd.Timedelta(label_delay)
        if "label_time" in df.columns:
            given = _tz_column(
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
    return _finish(out, keep, dropped, "transaction_id")


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


def prepare_logins(
    df: pd.DataFrame, *, labelled: bool = True, bad_rows: BadRows = "fail"
) -> pd.DataFrame:
    """A validated copy of a login frame, sorted by (timestamp, login_id).

    With ``labelled`` the frame must carry ``is_ato``; ``is_attack_ip`` is optional. Adds the
    view key columns ``device_key`` (device id, or ``"-"``) and ``asn_key`` (the ASN as text).
    Invalid rows are handled as in :func:`prepare_transactions`.
    """
    import ipaddress
    import re

    import pandas as pd

    _require(df, LOGIN_COLUMNS + (("is_ato",) if labelled else ()))
    rows = _Rows(df)
    ids = ("login_id", "user_id", "user_agent")
    ts = _common(rows, ids)
    valid_ip: dict[object, bool] = {}
    for ip in df["ip"].unique():
        try:
            ipaddress.ip_address(ip)
            valid_ip[ip] = True
        except (ValueError, TypeError):
            valid_ip[ip] = False
    rows.check("ip", ~df["ip"].map(valid_ip).to_numpy(dtype=bool), "an IPv4 or IPv6 address")
    iso2 = re.compile(r"^[A-Z]{2}$")
    ok = df["country"].map(lambda v: isinstance(v, str) and bool(iso2.match(v)))
    rows.check("country", ~ok.to_numpy(bool), "an ISO-3166 alpha-2 code: 2 upper-case letters")
    asn = pd.to_numeric(df["asn"], errors="coerce").to_numpy(dtype=np.float64)
    bad = ~(np.isfinite(asn) & (asn >= 0) & (asn == np.floor(asn)))
    rows.check("asn", bad, "a non-negative int (autonomous system)")
    _binary(rows, "success", "a bool (or 0/1)")
    extra = {
        c: df[c] if c in df.columns else pd.Series(None, index=df.index, dtype=object)
        for c in ("device_id", "latitude", "longitude", "rtt_ms")
    }
    lat = pd.to_numeric(extra["latitude"], errors="coerce").to_numpy(dtype=np.float64)
    lon = pd.to_numeric(extra["longitude"], errors="coerce").to_numpy(dtype=np.float64)
    rows.check(
        "latitude",
        np.isnan(lat) != np.isnan(lon),
        "latitude and longitude together, or neither",
        values=extra["latitude"],
    )
    for column, values, limit in (("latitude", lat, 90.0), ("longitude", lon, 180.0)):
        bad = ~np.isnan(values) & ~(np.abs(values) <= limit)
        rows.check(column, bad, f"a number in [-{limit:g}, {limit:g}]")
    rtt = pd.to_numeric(extra["rtt_ms"], errors="coerce").to_numpy(dtype=np.float64)
    rows.check("rtt_ms", rtt < 0, "a non-negative number of milliseconds", values=extra["rtt_ms"])
    served = _served(rows, LOGIN_DECISIONS)
    if labelled:
        _binary(rows, "is_ato", "a bool (or 0/1)")
        if "is_attack_ip" in df.columns:
            _binary(rows, "is_attack_ip", "a bool (or 0/1)")
    keep, dropped = rows.keep(bad_rows)

    def flags(column: str) -> np.ndarray:
        return df[column].where(keep, 0).astype(bool).to_numpy()

    out = pd.DataFrame({c: df[c].astype(str) for c in ids}, index=df.index)
    out["timestamp"] = ts
    out["ip"] = df["ip"].astype(str)
    out["country"] = df["country"].astype(str)
    out["asn"] = np.where(keep, asn, 0).astype(np.int64)
    out["success"] = flags("success")
    device = extra["device_id"]
    out["device_id"] = device.astype(object).where(device.notna(), None)
    out["latitude"], out["longitude"], out["rtt_ms"] = lat, lon, rtt
    if served is not None:
        out["decision"] = served
    if labelled:
        out["is_ato"] = flags("is_ato").astype(np.int8)
        if "is_attack_ip" in df.columns:
            out["is_attack_ip"] = flags("is_attack_ip").astype(np.int8)
    out["device_key"] = out["device_id"].map(lambda d: NO_DEVICE if d is None else d)
    out["asn_key"] = out["asn"].astype(str)
    out["scope"] = "*"  # the key of the one-row totals view
    return _finish(out, keep, dropped, "login_id")
