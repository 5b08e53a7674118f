"""The login kind's training frames: :func:`prepare_logins` validates a canonical frame as
:class:`~fraudscore.Login` validates one event."""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

import fraudscore._frames as frames
from fraudscore._kinds.login.events import DECISIONS

if TYPE_CHECKING:
    import pandas as pd

__all__ = ["COLUMNS", "NO_DEVICE", "prepare_logins"]


COLUMNS = (
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
    df: pd.DataFrame, *, labelled: bool = True, bad_rows: frames.BadRows = "fail"
) -> pd.DataFrame:
    """A validated copy of a login frame, sorted by (timestamp, login_id).

    With ``labelled`` the frame must carry ``is_ato``; ``is_attack_ip`` is optional. Adds the
    view key columns ``device_key`` (device id, or ``"-"``) and ``asn_key`` (the ASN as text).
    Invalid rows are handled as in :func:`prepare_transactions`.
    """
    import ipaddress
    import re

    import pandas as pd

    frames.require(df, COLUMNS + (("is_ato",) if labelled else ()))
    rows = frames.Rows(df)
    ids = ("login_id", "user_id", "user_agent")
    ts = frames.common(rows, ids)
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
    frames.binary(rows, "success", "a bool (or 0/1)")
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
    served = frames.served(rows, DECISIONS)
    if labelled:
        frames.binary(rows, "is_ato", "a bool (or 0/1)")
        if "is_attack_ip" in df.columns:
            frames.binary(rows, "is_attack_ip", "a bool (or 0/1)")
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
    return frames.finish(out, keep, dropped, "login_id")
