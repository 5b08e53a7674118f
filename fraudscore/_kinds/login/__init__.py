"""Login (account-takeover) features: state views, request-time features, reason catalogue.

Same architecture as ``_transaction``: state per user, user x device, user x country,
user x ASN, IP x user and IP, plus the global popularity of countries, networks and browser / OS
families, each as decayed accumulators (``_state``), read and updated by the same code offline
(arrays) and online (floats).

Familiarity (the idea behind Freeman et al., NDSS 2016): for this user, the share of recent
successful logins with this device, country, network (ASN), browser and OS, smoothed against how
common the value is globally: ``(c_user(v) + ALPHA * p_global(v)) / (n_user + ALPHA)``. A user
with no history gets the global share; a value no one uses gets 0. A device belongs to one user,
so its global share is taken as 0.

Clocks of a login: ``login`` (every attempt), ``success`` (correct credentials), ``geo``
(successful and with coordinates).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from fraudscore._kinds.base import WARM_UP, EventKind, Simulator, present
from fraudscore._kinds.login.agents import browser_of, os_of
from fraudscore._kinds.login.evaluation import PROTOCOL, successful
from fraudscore._kinds.login.events import DECISIONS, Login
from fraudscore._kinds.login.frames import NO_DEVICE, prepare_logins
from fraudscore._kinds.login.simulate import LoginSimConfig, simulate_logins
from fraudscore._state import Accumulator, Array, Latest, StateView

if TYPE_CHECKING:
    import pandas as pd

__all__ = [
    "BROWSERS",
    "CATALOGUE",
    "FEATURES",
    "FEATURE_SERVICE",
    "KIND",
    "OSES",
    "VIEWS",
    "browser_of",
    "features",
    "os_of",
]

HOUR = 3600.0
DAY = 86400.0
EARTH_KM = 6371.0

BROWSERS = ("chrome", "safari", "firefox", "edge", "other")
OSES = ("windows", "macos", "linux", "android", "ios", "other")


USER = StateView(
    name="user_state",
    keys=("user_id",),
    clocks=("login", "success", "geo"),
    accumulators=(
        Accumulator("n_1d", "login", DAY),
        Accumulator("n_30d", "login", 30 * DAY),
        Accumulator("fail_1h", "login", HOUR, "fail"),
        Accumulator("fail_1d", "login", DAY, "fail"),
        # The defence's own suspicion: logins it challenged or denied.
        Accumulator("flagged_1d", "login", DAY, "flagged"),
        Accumulator("succ_90d", "success", 90 * DAY),
        *(Accumulator(f"browser_{b}_90d", "success", 90 * DAY, f"browser_{b}") for b in BROWSERS),
        *(Accumulator(f"os_{o}_90d", "success", 90 * DAY, f"os_{o}") for o in OSES),
    ),
    latest=(Latest("lat", "geo", "lat"), Latest("lon", "geo", "lon")),
    ttl=timedelta(days=180),
    description="Per user: login and failure counts, logins the defence flagged, browser and "
    "OS mix, last known location.",
)


def _pair(name: str, key: str, what: str) -> StateView:
    return StateView(
        name=name,
        keys=("user_id", key),
        clocks=("login", "success"),
        accumulators=(
            Accumulator("n_90d", "login", 90 * DAY),
            Accumulator("succ_90d", "success", 90 * DAY),
        ),
        ttl=timedelta(days=180),
        description=f"Per user and {what}: attempts and successful logins.",
    )


USER_DEVICE = _pair("user_device_state", "device_key", "device")
USER_COUNTRY = _pair("user_country_state", "country", "country")
USER_ASN = _pair("user_asn_state", "asn_key", "network (ASN)")
IP_USER = StateView(
    name="ip_user_state",
    keys=("ip", "user_id"),
    clocks=("login",),
    accumulators=(Accumulator("n_30d", "login", 30 * DAY),),
    ttl=timedelta(days=30),
    description="Per IP and user: whether (and how much) this user logged in from this IP.",
)
IP = StateView(
    name="ip_state",
    keys=("ip",),
    clocks=("login",),
    accumulators=(
        Accumulator("n_1h", "login", HOUR),
        Accumulator("n_1d", "login", DAY),
        Accumulator("fail_1h", "login", HOUR, "fail"),
        Accumulator("fail_1d", "login", DAY, "fail"),
        # A user new to this IP (no fresh ip_user_state): distinct users, decayed.
        Accumulator("users_1d", "login", DAY, "new_ip_user"),
    ),
    ttl=timedelta(days=30),
    description="Per IP: attempts, failures and distinct users.",
)


def _popularity(name: str, key: str, what: str) -> StateView:
    return StateView(
        name=name,
        keys=(key,),
        clocks=("success",),
        accumulators=(Accumulator("succ_30d", "success", 30 * DAY),),
        ttl=timedelta(days=90),
        description=f"Per {what}, all users: successful logins (global popularity).",
    )


COUNTRY = _popularity("country_state", "country", "country")
NETWORK = _popularity("asn_state", "asn_key", "network (ASN)")
#: All successful logins, and their browser and OS mix: one row (key ``scope = "*"``).
TOTALS = StateView(
    name="login_totals_state",
    keys=("scope",),
    clocks=("success",),
    accumulators=(
        Accumulator("succ_30d", "success", 30 * DAY),
        *(Accumulator(f"browser_{b}_30d", "success", 30 * DAY, f"browser_{b}") for b in BROWSERS),
        *(Accumulator(f"os_{o}_30d", "success", 30 * DAY, f"os_{o}") for o in OSES),
    ),
    ttl=timedelta(days=90),
    description="All users: successful logins and their browser and OS mix.",
)
SCOPE = "*"

#: ip_user_state comes before ip_state: ip_state's ``new_ip_user`` weight is derived from it.
VIEWS: tuple[StateView, ...] = (
    USER,
    USER_DEVICE,
    USER_COUNTRY,
    USER_ASN,
    IP_USER,
    IP,
    COUNTRY,
    NETWORK,
    TOTALS,
)
#: (event column, view): 1.0 when the view had no fresh state for the event's key before it.
DERIVED = (("new_ip_user", "ip_user_state"),)
FEATURE_SERVICE = "login_model_v2"

FEATURES: tuple[str, ...] = (
    "success",
    "hour_of_day",
    "has_device",
    "rtt_ms",
    "user_secs_since_login",
    "user_secs_since_success",
    "user_n_1d",
    "user_n_30d",
    "user_fail_1h",
    "user_fail_1d",
    "user_succ_90d",
    "fam_browser",
    "fam_os",
    "country_popularity",
    "asn_popularity",
    "device_succ_90d",
    "fam_device",
    "device_secs_since",
    "country_succ_90d",
    "fam_country",
    "country_secs_since",
    "asn_succ_90d",
    "fam_asn",
    "kmh_since_success",
    "ip_n_1h",
    "ip_fail_1h",
    "ip_fail_1d",
    "ip_users_1d",
    "ip_fail_ratio_1d",
    "ip_user_n_30d",
    "user_flagged_1d",
)

_NAN = math.nan


def frame_columns(frame: pd.DataFrame) -> dict[str, Array]:
    """The event columns of a prepared login frame (``t`` is set from the stream)."""
    success = frame["success"].to_numpy(np.float64)
    cols = {
        "t": np.zeros(len(frame)),
        "success": success,
        "fail": 1.0 - success,
        "has_device": frame["device_id"].notna().to_numpy(np.float64),
        "rtt_ms": frame["rtt_ms"].to_numpy(np.float64),
        "lat": frame["latitude"].to_numpy(np.float64),
        "lon": frame["longitude"].to_numpy(np.float64),
    }
    browsers = frame["user_agent"].map(browser_of).to_numpy()
    oses = frame["user_agent"].map(os_of).to_numpy()
    for b in BROWSERS:
        cols[f"browser_{b}"] = (browsers == b).astype(np.float64)
    for o in OSES:
        cols[f"os_{o}"] = (oses == o).astype(np.float64)
    return cols


def event_values(login: Login) -> dict[str, float]:
    """The event columns of one validated login as floats (the online path)."""
    browser, system = browser_of(login.user_agent), os_of(login.user_agent)
    success = 1.0 if login.success else 0.0
    values = {
        "t": login.timestamp.timestamp(),
        "success": success,
        "fail": 1.0 - success,
        "has_device": 0.0 if login.device_id is None else 1.0,
        "rtt_ms": _NAN if login.rtt_ms is None else float(login.rtt_ms),
        "lat": _NAN if login.latitude is None else float(login.latitude),
        "lon": _NAN if login.longitude is None else float(login.longitude),
    }
    for b in BROWSERS:
        values[f"browser_{b}"] = 1.0 if b == browser else 0.0
    for o in OSES:
        values[f"os_{o}"] = 1.0 if o == system else 0.0
    return values


def label_events(frame: pd.DataFrame) -> tuple[np.ndarray, np.ndarray]:
    """Logins carry no label-derived state: no label events."""
    return np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.int64)


def clock_masks(cols: Mapping[str, Array], is_label: np.ndarray) -> dict[str, np.ndarray]:
    """Every attempt moves ``login``; a success the defence let through ``success`` (a
    challenged or denied one builds no familiarity); a located one ``geo``."""
    success = (cols["success"] == 1.0) & (cols["allowed"] == 1.0)
    return {
        "login": ~is_label,
        "success": success & ~is_label,
        "geo": success & ~np.isnan(cols["lat"]) & ~is_label,
    }


def clocks(values: Mapping[str, float]) -> tuple[str, ...]:
    """The clocks one recorded login moves (as ``clock_masks`` does offline)."""
    if values["success"] != 1.0 or values["allowed"] != 1.0:
        return ("login",)
    if values["lat"] != values["lat"]:
        return ("login", "success")
    return ("login", "success", "geo")


def keys(login: Login) -> list[tuple[str, ...]]:
    """The entity key of each view for one login, in ``VIEWS`` order."""
    user = login.user_id
    device = NO_DEVICE if login.device_id is None else login.device_id
    return [
        (user,),
        (user, device),
        (user, login.country),
        (user, str(login.asn)),
        (login.ip, user),
        (login.ip,),
        (login.country,),
        (str(login.asn),),
        (SCOPE,),
    ]


_U = USER.index
_P = USER_DEVICE.index  # the three user-pair views share one layout
_I = IP.index
_IU = IP_USER.index
_G = COUNTRY.index  # country_state and asn_state share one layout
_T = TOTALS.index
#: Prior weight of the global share in familiarity: as if the user had ALPHA more logins.
ALPHA = 2.0
_RAD = math.pi / 180.0


def features(cols: Mapping[str, Any], reads: Mapping[str, Sequence[Any]], xp: Any) -> list[Any]:
    """The login model's features, in ``FEATURES`` order (arrays offline, floats online)."""
    t = cols["t"]
    u = reads["user_state"]
    dev = reads["user_device_state"]
    ctry = reads["user_country_state"]
    net = reads["user_asn_state"]
    ip = reads["ip_state"]
    total = reads["login_totals_state"]
    div = xp.div
    succ = u[_U["succ_90d"]]
    known = succ + ALPHA

    def this(
        state: Sequence[Any],
        index: Mapping[str, int],
        name: str,
        values: tuple[str, ...],
        window: str,
    ) -> Any:
        """The count of this event's value (one-hot event columns) in a per-value family."""
        out = state[index[f"{name}_{values[0]}_{window}"]] * cols[f"{name}_{values[0]}"]
        for v in values[1:]:
            out = out + state[index[f"{name}_{v}_{window}"]] * cols[f"{name}_{v}"]
        return out

    everyone = total[_T["succ_30d"]]
    # Global shares of this login's country, network, browser and OS among recent successes.
    p_country = div(reads["country_state"][_G["succ_30d"]], everyone)
    p_asn = div(reads["asn_state"][_G["succ_30d"]], everyone)
    p_browser = div(this(total, _T, "browser", BROWSERS, "30d"), everyone)
    p_os = div(this(total, _T, "os", OSES, "30d"), everyone)
    # Great-circle distance to the last located successful login, over the time since it.
    lat1, lon1 = u[_U["lat"]] * _RAD, u[_U["lon"]] * _RAD
    lat2, lon2 = cols["lat"] * _RAD, cols["lon"] * _RAD
    h = (
        xp.sin((lat2 - lat1) / 2.0) ** 2
        + xp.cos(lat1) * xp.cos(lat2) * xp.sin((lon2 - lon1) / 2.0) ** 2
    )
    km = 2.0 * EARTH_KM * xp.arcsin(xp.sqrt(xp.where(h > 1.0, 1.0, h)))  # NaN stays NaN
    hours = xp.fmax((t - u[_U["geo_ts"]]) / HOUR, 1.0 / 60.0)  # at least a minute apart
    return [
        cols["success"],
        (t % DAY) / HOUR,
        cols["has_device"],
        cols["rtt_ms"],
        xp.at_least(t - u[_U["login_ts"]], 0.0),
        xp.at_least(t - u[_U["success_ts"]], 0.0),
        u[_U["n_1d"]],
        u[_U["n_30d"]],
        u[_U["fail_1h"]],
        u[_U["fail_1d"]],
        succ,
        (this(u, _U, "browser", BROWSERS, "90d") + ALPHA * p_browser) / known,
        (this(u, _U, "os", OSES, "90d") + ALPHA * p_os) / known,
        p_country,
        p_asn,
        dev[_P["succ_90d"]],
        dev[_P["succ_90d"]] / known,  # a device is one user's: its global share is ~0
        xp.at_least(t - dev[_P["login_ts"]], 0.0),
        ctry[_P["succ_90d"]],
        (ctry[_P["succ_90d"]] + ALPHA * p_country) / known,
        xp.at_least(t - ctry[_P["login_ts"]], 0.0),
        net[_P["succ_90d"]],
        (net[_P["succ_90d"]] + ALPHA * p_asn) / known,
        km / hours,
        ip[_I["n_1h"]],
        ip[_I["fail_1h"]],
        ip[_I["fail_1d"]],
        ip[_I["users_1d"]],
        ip[_I["fail_1d"]] / (ip[_I["n_1d"]] + 1.0),
        reads["ip_user_state"][_IU["n_30d"]],
        u[_U["flagged_1d"]],
    ]


#: Extra, human-friendly values for reason templates, computed only when a template uses them.
DISPLAY: dict[str, Callable[[Login, Mapping[str, Any]], Any]] = {
    "time_utc": lambda e, _: f"{e.timestamp.hour:02d}:{e.timestamp.minute:02d}",
    "country": lambda e, _: e.country,
    "asn": lambda e, _: e.asn,
    "browser": lambda e, _: browser_of(e.user_agent),
    "os": lambda e, _: os_of(e.user_agent),
    "outcome": lambda e, _: "correct" if e.success else "wrong",
    "device_sent": lambda e, _: "not sent" if e.device_id is None else "sent",
    "days_since_success": lambda _, v: v["user_secs_since_success"] / DAY,
    "device_days": lambda _, v: v["device_secs_since"] / DAY,
    "country_days": lambda _, v: v["country_secs_since"] / DAY,
}

CATALOGUE: dict[str, Any] = {
    "version": "login-reasons/2",
    "codes": {
        "PASSWORD_CHECK": {
            "features": ["success"],
            "template": "password was {outcome}",
            "fallback": "password check outcome unknown",
        },
        "UNUSUAL_TIME": {
            "features": ["hour_of_day"],
            "template": "login at {time_utc} UTC",
            "fallback": "login at {time_utc} UTC",
        },
        "CLIENT_SIGNALS": {
            "features": ["has_device", "rtt_ms"],
            "template": "round trip {rtt_ms:.0f} ms, device id {device_sent}",
            "fallback": "client sent no round-trip time",
        },
        "ACCOUNT_ACTIVITY": {
            "features": [
                "user_secs_since_login",
                "user_secs_since_success",
                "user_n_1d",
                "user_n_30d",
                "user_succ_90d",
            ],
            "template": "about {user_n_1d:.0f} logins on this account in the last day; last "
            "successful login {days_since_success:.1f} days ago",
            "fallback": "no successful login on record for this account",
        },
        "ACCOUNT_FAILURES": {
            "features": ["user_fail_1h", "user_fail_1d"],
            "template": "about {user_fail_1h:.0f} failed logins on this account in the last "
            "hour, {user_fail_1d:.0f} in the last day",
            "fallback": "no failed logins on record",
        },
        "ACCOUNT_RECENTLY_FLAGGED": {
            "features": ["user_flagged_1d"],
            "template": "about {user_flagged_1d:.0f} logins on this account were challenged or "
            "denied in the last day",
            "fallback": "no login on this account was challenged or denied recently",
        },
        "UNUSUAL_BROWSER": {
            "features": ["fam_browser", "fam_os"],
            "template": "{browser} on {os} is in {fam_browser:.0%} of this user's recent logins",
            "fallback": "browser not seen for this user",
        },
        "NEW_DEVICE": {
            "features": ["device_succ_90d", "fam_device", "device_secs_since"],
            "template": "device with about {device_succ_90d:.0f} successful logins for this "
            "user in 90 days (last seen {device_days:.1f} days ago)",
            "fallback": "new device for this user",
        },
        "NEW_COUNTRY": {
            "features": [
                "country_succ_90d",
                "fam_country",
                "country_secs_since",
                "country_popularity",
            ],
            "template": "country {country} last seen {country_days:.1f} days ago for this "
            "user, about {country_succ_90d:.0f} successful logins from it in 90 days",
            "fallback": "country {country} never seen for this user",
        },
        "NEW_NETWORK": {
            "features": ["asn_succ_90d", "fam_asn", "asn_popularity"],
            "template": "network AS{asn} with about {asn_succ_90d:.0f} successful logins for "
            "this user in 90 days ({fam_asn:.0%} of them)",
            "fallback": "network AS{asn}",
        },
        "IMPOSSIBLE_TRAVEL": {
            "features": ["kmh_since_success"],
            "template": "{kmh_since_success:,.0f} km/h since the last successful login",
            "fallback": "no earlier location to compare",
        },
        "IP_FAILURES": {
            "features": ["ip_n_1h", "ip_fail_1h", "ip_fail_1d", "ip_fail_ratio_1d"],
            "template": "IP with about {ip_fail_1h:.0f} failed logins in the last hour, "
            "{ip_fail_1d:.0f} in the last day",
            "fallback": "IP not seen before",
        },
        "IP_MANY_ACCOUNTS": {
            "features": ["ip_users_1d", "ip_user_n_30d"],
            "template": "IP used by about {ip_users_1d:.0f} different accounts in the last day",
            "fallback": "IP not seen before",
        },
    },
}


def event_of(row: Any) -> Login:
    """The login of one row of a canonical frame."""
    extra = present(row, ("latitude", "longitude", "rtt_ms"))
    return Login(
        login_id=row.login_id,
        timestamp=row.timestamp.to_pydatetime(),
        user_id=row.user_id,
        ip=row.ip,
        country=row.country,
        asn=int(row.asn),
        user_agent=row.user_agent,
        success=bool(row.success),
        device_id=row.device_id if isinstance(row.device_id, str) else None,
        latitude=extra.get("latitude"),
        longitude=extra.get("longitude"),
        rtt_ms=extra.get("rtt_ms"),
    )


def describe(login: Login) -> str:
    """One line on a login for a person."""
    outcome = "ok" if login.success else "wrong password"
    return f"user {login.user_id} from {login.ip} {login.country} AS{login.asn} ({outcome})"


#: The kind, as the generic scorer, trainer and evaluation read it.
KIND = EventKind(
    name="login",
    event_type=Login,
    id_field="login_id",
    context_columns=("user_id", "ip", "country", "asn", "device_id"),
    views=VIEWS,
    derived=DERIVED,
    features=FEATURES,
    feature_service=FEATURE_SERVICE,
    values=event_values,
    keys=keys,
    clocks=clocks,
    compute=features,
    display=DISPLAY,
    catalogue=CATALOGUE,
    decisions=DECISIONS,
    alert_rates=(0.05, 0.005),
    prepare=prepare_logins,
    frame_columns=frame_columns,
    label_events=label_events,
    clock_masks=clock_masks,
    label="is_ato",
    scored=successful,
    sample=lambda: Login(
        WARM_UP, datetime.now(UTC), WARM_UP, "192.0.2.1", "ZZ", 0, WARM_UP, True, device_id=WARM_UP
    ),
    protocol=PROTOCOL,
    event_of=event_of,
    entities={
        "user_id": ("user", "An account."),
        "device_key": ("device", "A device id ('-' when the client sent none)."),
        "country": ("country", "ISO-3166 alpha-2 country of the login IP."),
        "asn_key": ("network", "Autonomous system number of the login IP, as text."),
        "ip": ("ip_address", "The login IP address."),
        "scope": ("scope", "The one key ('*') of the all-users totals."),
    },
    simulators={
        "fraudscore": Simulator(
            simulate_logins, LoginSimConfig(), "n_users", "users", "attack_pattern", 28
        ),
    },
    attacks="fraudscore._kinds.login.redteam",
    starter_rules=Path(__file__).with_name("starter_rules.toml"),
    describe=describe,
)
