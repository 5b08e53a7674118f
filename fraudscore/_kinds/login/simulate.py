"""A seeded simulator of login streams with labelled account-takeover attacks.

Columns mirror the RBA login dataset (Wiefling et al.): timestamp, user, IP, country, ASN, user
agent, success, plus device, coordinates and round-trip time, and the labels ``is_ato`` (an
attacker got in) and ``is_attack_ip`` (the attempt came from an attacker). ``attack_pattern``
names the pattern (``none`` for genuine logins).

Genuine behaviour: each user has a home country, an ISP (ASN) and home IP, one to three devices
with their browsers, a daily login rate and a favourite time of day. Some travel (a day abroad,
on a local ISP), some use a VPN (hosting ASN, another country), some mistype their password (a
failure, then a success a minute later), and now and then a new device appears.

Attacks (documented patterns):

``credential_stuffing``
    a few hosting IPs try leaked credentials against hundreds of users within hours: mostly
    failures, about 3% successes (takeovers).
``targeted_takeover``
    one user, from a new device in a new country and ASN; a failure or two, then a success.
``impossible_travel``
    a session from the other side of the world minutes after the user's own login.
``password_spraying``
    one IP tries one password on hundreds of users, slowly over a day or two; about 1% succeed.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    import pandas as pd

__all__ = ["LoginSimConfig", "simulate_logins"]

DAY_S = 86_400
COUNTRIES = (  # code, latitude, longitude, share of users
    ("US", 39.0, -98.0, 0.22),
    ("DE", 51.0, 10.0, 0.12),
    ("FR", 46.0, 2.0, 0.09),
    ("GB", 54.0, -2.0, 0.09),
    ("NO", 62.0, 10.0, 0.05),
    ("BR", -10.0, -52.0, 0.07),
    ("IN", 21.0, 78.0, 0.08),
    ("JP", 36.0, 138.0, 0.06),
    ("AU", -25.0, 134.0, 0.04),
    ("CA", 56.0, -106.0, 0.05),
    ("RU", 60.0, 90.0, 0.03),
    ("CN", 35.0, 103.0, 0.03),
    ("NG", 9.0, 8.0, 0.02),
    ("ZA", -29.0, 24.0, 0.02),
    ("VN", 16.0, 107.0, 0.03),
)
USER_AGENTS = (
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/118.0.0.0 Safari/537.36",
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/118.0.0.0 Safari/537.36 Edg/118.0.2088.46",
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:119.0) Gecko/20100101 Firefox/119.0",
    "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko) "
    "Version/17.0 Safari/605.1.15",
    "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/118.0.0.0 Safari/537.36",
    "Mozilla/5.0 (X11; Linux x86_64; rv:119.0) Gecko/20100101 Firefox/119.0",
    "Mozilla/5.0 (Linux; Android 13; Pixel 7) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/118.0.0.0 Mobile Safari/537.36",
    "Mozilla/5.0 (iPhone; CPU iPhone OS 17_0 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like "
    "Gecko) Version/17.0 Mobile/15E148 Safari/604.1",
)
ATTACK_AGENTS = ("python-requests/2.31.0", "curl/8.4.0", USER_AGENTS[0])
ISPS_PER_COUNTRY = 3
VPN_ASNS = tuple(range(9000, 9005))
HOSTING_ASNS = tuple(range(9100, 9110))


@dataclass(frozen=True, slots=True)
class LoginSimConfig:
    """Size and attack rates of a simulated login stream. Rates are per day."""

    n_users: int = 2_000
    n_days: int = 60
    start: str = "2018-04-01"
    seed: int = 5
    stuffing_campaigns_per_day: float = 0.4
    targeted_takeovers_per_day: float = 2.0
    impossible_travel_per_day: float = 1.5
    spraying_campaigns_per_day: float = 0.15

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def _isp(country: np.ndarray, j: np.ndarray) -> np.ndarray:
    return 1000 + 10 * country + j


def _ip(asn: np.ndarray, host: np.ndarray) -> list[str]:
    a = asn % 200 + 20
    b = (asn // 200) % 250
    return [f"{x}.{y}.{(h // 250) % 250}.{h % 250 + 1}" for x, y, h in zip(a, b, host, strict=True)]


class _Rows:
    """Columns accumulated part by part, concatenated once."""

    def __init__(self) -> None:
        self.parts: list[dict[str, np.ndarray]] = []

    def add(self, **cols: Any) -> None:
        n = len(cols["t"])
        self.parts.append(
            {k: np.asarray(v) if np.ndim(v) else np.full(n, v) for k, v in cols.items()}
        )

    def concat(self) -> dict[str, np.ndarray]:
        return {k: np.concatenate([p[k] for p in self.parts]) for k in self.parts[0]}


def simulate_logins(config: LoginSimConfig | None = None) -> pd.DataFrame:
    """A frame of canonical logins with ``is_ato``, ``is_attack_ip`` and ``attack_pattern``."""
    import pandas as pd

    cfg = config or LoginSimConfig()
    rng = np.random.default_rng(cfg.seed)
    U, D = cfg.n_users, cfg.n_days
    lat_c = np.array([c[1] for c in COUNTRIES])
    lon_c = np.array([c[2] for c in COUNTRIES])
    share = np.array([c[3] for c in COUNTRIES])
    n_c = len(COUNTRIES)

    home = rng.choice(n_c, U, p=share / share.sum())
    isp = _isp(home, rng.integers(0, ISPS_PER_COUNTRY, U))
    home_host = rng.integers(0, 60_000, U)
    n_dev = rng.integers(1, 4, U)
    dev_ua = rng.integers(0, len(USER_AGENTS), (U, 3))
    rate = rng.uniform(0.2, 2.5, U)
    typo = rng.uniform(0.02, 0.12, U)
    vpn_share = np.where(rng.random(U) < 0.1, 0.4, 0.0)
    peak = rng.uniform(7, 22, U) * 3600

    rows = _Rows()
    # Genuine logins.
    counts = rng.poisson(np.repeat(rate[:, None], D, axis=1))
    user = np.repeat(np.repeat(np.arange(U), D), counts.ravel())
    day = np.repeat(np.tile(np.arange(D), U), counts.ravel())
    n = len(user)
    t = day * DAY_S + np.clip(rng.normal(peak[user], 3 * 3600), 0, DAY_S - 120)
    dev = rng.integers(0, n_dev[user])
    ua = dev_ua[user, dev]
    device = np.array([f"d{u}-{k}" for u, k in zip(user, dev, strict=True)], dtype=object)
    new_dev = rng.random(n) < 0.02
    device[new_dev] = [f"d{u}-n{i}" for i, u in enumerate(user[new_dev])]
    ua[new_dev] = rng.integers(0, len(USER_AGENTS), new_dev.sum())
    country = home[user].copy()
    asn = isp[user].copy()
    host = home_host[user].copy()
    # Travel: a whole day abroad on a local ISP.
    abroad = rng.random((U, D)) < 0.01
    away = abroad[user, day]
    dest = rng.integers(0, n_c, (U, D))[user, day]
    country[away] = dest[away]
    asn[away] = _isp(dest[away], rng.integers(0, ISPS_PER_COUNTRY, away.sum()))
    host[away] = rng.integers(0, 60_000, away.sum())
    vpn = rng.random(n) < vpn_share[user]
    country[vpn] = rng.integers(0, n_c, vpn.sum())
    asn[vpn] = rng.choice(VPN_ASNS, vpn.sum())
    host[vpn] = rng.integers(0, 500, vpn.sum())
    dhcp = rng.random(n) < 0.05
    host[dhcp & ~away & ~vpn] = rng.integers(0, 60_000, (dhcp & ~away & ~vpn).sum())
    rtt = rng.lognormal(np.log(35), 0.4, n) * np.where(vpn | away, 3.0, 1.0)
    mistyped = rng.random(n) < typo[user]
    for failed in (True, False):  # a mistyped password: failure, then success ~a minute later
        sel = mistyped if failed else np.ones(n, bool)
        rows.add(
            t=t[sel] - (60 if failed else 0) * rng.uniform(0.3, 1.5, sel.sum()),
            user=user[sel],
            country=country[sel],
            asn=asn[sel],
            host=host[sel],
            ua=np.array(USER_AGENTS, dtype=object)[ua[sel]],
            device=device[sel],
            success=not failed,
            rtt=rtt[sel],
            ato=0,
            attack_ip=0,
            pattern="none",
        )

    def attack_ip_block(k: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        where = rng.integers(0, n_c, k)
        return where, rng.choice(HOSTING_ASNS, k), rng.integers(0, 60_000, k)

    # credential_stuffing and password_spraying: many users from few hosting IPs.
    for name, per_day, ips, targets, hours, p_ok in (
        ("credential_stuffing", cfg.stuffing_campaigns_per_day, (2, 6), (100, 300), (2, 6), 0.03),
        ("password_spraying", cfg.spraying_campaigns_per_day, (1, 1), (200, 500), (12, 48), 0.01),
    ):
        for d in np.flatnonzero(rng.poisson(per_day, D)):
            k_ip = int(rng.integers(ips[0], ips[1] + 1))
            where, a_asn, a_host = attack_ip_block(k_ip)
            m = rng.integers(targets[0], targets[1] + 1)
            pick = rng.integers(0, k_ip, m)
            ok = rng.random(m) < p_ok
            rows.add(
                t=d * DAY_S + rng.uniform(0, rng.uniform(*hours) * 3600, m),
                user=rng.choice(U, m, replace=False) if m <= U else rng.integers(0, U, m),
                country=where[pick],
                asn=a_asn[pick],
                host=a_host[pick],
                ua=np.array(ATTACK_AGENTS, dtype=object)[rng.integers(0, 3, m)],
                device=np.full(m, None, dtype=object),
                success=ok,
                rtt=rng.lognormal(np.log(120), 0.3, m),
                ato=ok.astype(int),
                attack_ip=1,
                pattern=name,
            )

    # targeted_takeover: new device, country and ASN; a failure or two, then a success.
    victims = rng.integers(0, U, rng.poisson(cfg.targeted_takeovers_per_day * D))
    for v in victims:
        start = rng.uniform(0, D * DAY_S - 3600)
        where = (home[v] + rng.integers(1, n_c)) % n_c
        a_asn = _isp(np.array([where]), rng.integers(0, ISPS_PER_COUNTRY, 1))
        fails = rng.integers(0, 3)
        m = fails + 1
        rows.add(
            t=start + np.arange(m) * rng.uniform(20, 120, m),
            user=np.full(m, v),
            country=np.full(m, where),
            asn=np.repeat(a_asn, m),
            host=np.full(m, rng.integers(0, 60_000)),
            ua=np.full(m, USER_AGENTS[rng.integers(0, len(USER_AGENTS))], dtype=object),
            device=np.full(m, f"x{v}-{rng.integers(1 << 30)}", dtype=object),
            success=np.arange(m) == m - 1,
            rtt=rng.lognormal(np.log(60), 0.4, m),
            ato=(np.arange(m) == m - 1).astype(int),
            attack_ip=1,
            pattern="targeted_takeover",
        )

    # impossible_travel: the user's own login, then a session from far away minutes later.
    victims = rng.integers(0, U, rng.poisson(cfg.impossible_travel_per_day * D))
    for v in victims:
        t0 = rng.uniform(0, D * DAY_S - 7200)
        dist = np.hypot(lat_c - lat_c[home[v]], (lon_c - lon_c[home[v]]) * 0.7)
        far = int(np.argmax(dist + rng.uniform(0, 20, n_c)))
        own_dev = rng.integers(0, n_dev[v])
        rows.add(
            t=np.array([t0]),
            user=np.array([v]),
            country=np.array([home[v]]),
            asn=np.array([isp[v]]),
            host=np.array([home_host[v]]),
            ua=np.array([USER_AGENTS[dev_ua[v, own_dev]]], dtype=object),
            device=np.array([f"d{v}-{own_dev}"], dtype=object),
            success=True,
            rtt=np.array([35.0]),
            ato=0,
            attack_ip=0,
            pattern="none",
        )
        rows.add(
            t=np.array([t0 + rng.uniform(600, 5400)]),
            user=np.array([v]),
            country=np.array([far]),
            asn=_isp(np.array([far]), rng.integers(0, ISPS_PER_COUNTRY, 1)),
            host=np.array([rng.integers(0, 60_000)]),
            ua=np.array([USER_AGENTS[rng.integers(0, len(USER_AGENTS))]], dtype=object),
            device=np.array(
                [f"x{v}-{rng.integers(1 << 30)}" if rng.random() < 0.5 else None], dtype=object
            ),
            success=True,
            rtt=np.array([90.0]),
            ato=1,
            attack_ip=1,
            pattern="impossible_travel",
        )

    cols = rows.concat()
    keep = (cols["t"] >= 0) & (cols["t"] < D * DAY_S)
    cols = {k: v[keep] for k, v in cols.items()}
    order = np.argsort(cols["t"], kind="stable")
    cols = {k: v[order] for k, v in cols.items()}
    n_rows = len(order)
    located = rng.random(n_rows) < 0.8  # geo-IP resolves most addresses
    c = cols["country"].astype(int)
    # Geo-IP places one address at one spot: a fixed offset (up to 2 degrees) per IP.
    spot = (cols["host"].astype(np.int64) * 7919 + cols["asn"].astype(np.int64) * 104729) % 10007
    d_lat = (spot % 101) / 25.0 - 2.0
    d_lon = (spot % 103) / 25.5 - 2.0
    lat = np.where(located, np.clip(lat_c[c] + d_lat, -89, 89), np.nan)
    lon = np.where(located, np.clip(lon_c[c] + d_lon, -179, 179), np.nan)
    start = pd.Timestamp(datetime.fromisoformat(cfg.start), tz="UTC")
    return pd.DataFrame(
        {
            "login_id": [f"lg{i:09d}" for i in range(n_rows)],
            "timestamp": start + pd.to_timedelta(np.floor(cols["t"]), unit="s"),
            "user_id": [f"U{u:06d}" for u in cols["user"]],
            "ip": _ip(cols["asn"].astype(int), cols["host"].astype(int)),
            "country": [COUNTRIES[i][0] for i in c],
            "asn": cols["asn"].astype(np.int64),
            "user_agent": cols["ua"],
            "success": cols["success"].astype(bool),
            "device_id": cols["device"],
            "latitude": lat,
            "longitude": lon,
            "rtt_ms": np.round(cols["rtt"].astype(float), 1),
            "is_ato": cols["ato"].astype(np.int8),
            "is_attack_ip": cols["attack_ip"].astype(np.int8),
            "attack_pattern": cols["pattern"],
        }
    )
