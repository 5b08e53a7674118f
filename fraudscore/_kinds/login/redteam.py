"""Attackers of logins: account takeover against the defence, after the password check.

The victims are accounts whose credentials leaked: an attempt with ``success=True`` is the right
password, which the defence then allows, challenges or denies; a challenge is a step-up the
attacker cannot pass, so it goes on trying. Each strategy may set the IP, country, ASN, user
agent, device id and time (``CONTROLS``); the account is the victim's. They know the victim's
own past logins (its country, network, browsers and devices, and its hours: a phished profile or
a stolen cookie jar) and what the defence tells them: the decision (black box) or the reason
codes too (grey box).

What the attacker does not control comes from the network it picks, as for anyone: geo-IP places
an address at its country's centre plus a fixed offset (4 in 5 addresses are located), and the
round trip is the network's (a home line ~35 ms, a residential proxy ~60 ms, a data-centre or
VPN hop ~105 ms, a stuffing bot's farm ~120 ms). Networks and browsers are the simulator's
(``_kinds.login.simulate``): data-centre and VPN ASNs, countries, common user agents. Times
are seconds from the attack's start (midnight of its first day); plans span up to 5 days, and
the harness ends them at the attack's window.
"""

from __future__ import annotations

import zlib
from dataclasses import dataclass, replace

import numpy as np

from fraudscore._kinds.login.events import Login
from fraudscore._kinds.login.simulate import (
    COUNTRIES,
    HOSTING_ASNS,
    ISPS_PER_COUNTRY,
    USER_AGENTS,
    VPN_ASNS,
    _ip,
    _isp,
)
from fraudscore._redteam.harness import Attack, Plan, Strategy, Theatre, Victim

__all__ = ["CONTROLS", "STRATEGIES", "THEATRE"]

CONTROLS = ("ip", "country", "asn", "user_agent", "device_id", "timestamp")
HOUR = 3600.0
DAY = 86400.0
#: Country code -> (latitude, longitude) of its centre, for geo-IP.
_CENTRE = {c[0]: (c[1], c[2]) for c in COUNTRIES}
#: Median round trip (ms) by the kind of network an attempt comes from.
_RTT = {"residential": 60.0, "hosting": 105.0, "farm": 120.0}
#: A stuffing tool's default: the most common desktop browser.
_DEFAULT_UA = USER_AGENTS[0]
_NOT_HOME = frozenset((*VPN_ASNS, *HOSTING_ASNS))


@dataclass(frozen=True, slots=True)
class _Account:
    """What the attacker knows of the victim's account, from its own past successful logins
    (the harness leaves labelled attacks on it aside)."""

    country: str  # where it usually logs in from
    asn: int  # its home network (ISP), VPN exits aside
    user_agent: str  # its most used browser
    devices: tuple[str, ...]  # most used first
    device_agents: dict[str, str]  # each device's browser
    ips: frozenset[str]  # every address it used
    seconds: np.ndarray  # times of day of its logins


def _account(v: Victim) -> _Account:
    h = v.history
    success = h["success"].astype(bool)
    ok = h[success] if success.any() else h
    homes = ok[~ok["asn"].isin(_NOT_HOME)]
    with_device = ok.dropna(subset=["device_id"])
    tod = (ok["timestamp"] - ok["timestamp"].dt.normalize()).dt.total_seconds().to_numpy()
    return _Account(
        country=str(ok["country"].mode().iloc[0]),
        asn=int((homes if len(homes) else ok)["asn"].mode().iloc[0]),
        user_agent=str(ok["user_agent"].mode().iloc[0]),
        devices=tuple(str(d) for d in with_device["device_id"].value_counts().index),
        device_agents={
            str(d): str(g["user_agent"].mode().iloc[0]) for d, g in with_device.groupby("device_id")
        },
        ips=frozenset(h["ip"].dropna().astype(str)),
        seconds=tod,
    )


@dataclass(frozen=True, slots=True)
class _Route:
    """Where an attempt comes from: an address, its country and network, and the kind of
    network (which sets the round trip)."""

    ip: str
    country: str
    asn: int
    network: str


def _login(
    a: Attack, at: float, route: _Route, agent: str, device: str | None, success: bool
) -> Login:
    """A login attempt at ``at`` over ``route``, located by geo-IP, timed by the network."""
    lat, lon = _geo(route.ip, route.country)
    rtt = float(a.rng.lognormal(np.log(_RTT[route.network]), 0.4))
    return Login(
        a.new_id(),
        a.at(at),
        a.victim.entity,
        route.ip,
        route.country,
        route.asn,
        agent,
        success,
        device_id=device,
        latitude=lat,
        longitude=lon,
        rtt_ms=round(rtt, 1),
    )


def _geo(ip: str, country: str) -> tuple[float | None, float | None]:
    """Where geo-IP puts ``ip``: its country's centre plus a fixed offset, or nowhere (1 in 5)."""
    spot = zlib.crc32(ip.encode())
    if spot % 5 == 0 or country not in _CENTRE:
        return None, None
    lat, lon = _CENTRE[country]
    return (
        float(np.clip(lat + (spot % 101) / 25.0 - 2.0, -89, 89)),
        float(np.clip(lon + (spot // 101 % 103) / 25.5 - 2.0, -179, 179)),
    )


def _new_ip(a: Attack, acct: _Account, asn: int, hosts: int = 62_500) -> str:
    """An address of network ``asn`` that the victim never used; ``hosts`` is how many there are
    to draw from (a VPN provider's few shared exits, an ISP's many homes)."""
    while True:
        ip = str(_ip(np.array([asn]), np.array([int(a.rng.integers(hosts))]))[0])
        if ip not in acct.ips:
            return ip


def _datacentre(a: Attack, acct: _Account) -> _Route:
    """A data-centre address (hosting ASN) in a country other than the victim's."""
    asn = int(a.rng.choice(HOSTING_ASNS))
    others = [c[0] for c in COUNTRIES if c[0] != acct.country]
    return _Route(_new_ip(a, acct, asn), str(a.rng.choice(others)), asn, "farm")


def _residential(a: Attack, acct: _Account) -> _Route:
    """A residential proxy: a new address on the victim's own ISP, in its country."""
    return _Route(_new_ip(a, acct, acct.asn), acct.country, acct.asn, "residential")


def _local(a: Attack, acct: _Account, country: str) -> _Route:
    """A residential proxy on an ISP of ``country`` other than the victim's own."""
    where = next(i for i, c in enumerate(COUNTRIES) if c[0] == country)
    isps = _isp(np.full(ISPS_PER_COUNTRY, where), np.arange(ISPS_PER_COUNTRY))
    asn = int(a.rng.choice([int(n) for n in isps if n != acct.asn]))
    return _Route(_new_ip(a, acct, asn), country, asn, "residential")


def _new_device(a: Attack) -> str:
    return f"{a.new_id()}-device"


def _usual_time(a: Attack, acct: _Account, day: int) -> float:
    return day * DAY + float(a.rng.choice(acct.seconds)) + float(a.rng.normal(0, 900))


def naive_stuffing(v: Victim, a: Attack) -> Plan:
    """A stuffing bot: from a data-centre IP (hosting ASN) in another country, the tool's
    default browser and no device id, at any hour: up to two wrong passwords a few seconds
    apart (older leaked ones), then the right one."""
    acct = _account(v)
    route, t = _datacentre(a, acct), float(a.rng.uniform(0, DAY))
    for _ in range(int(a.rng.integers(0, 3))):
        yield _login(a, t, route, _DEFAULT_UA, None, False)
        t += float(a.rng.uniform(2, 20))
    yield _login(a, t, route, _DEFAULT_UA, None, True)


def vpn_in_country(v: Victim, a: Attack) -> Plan:
    """A commercial VPN's exit in the victim's own country (a shared address of a VPN ASN), a
    common browser on a fresh profile (new device id), the right password at the victim's
    usual hour; after a challenge, again the next day from another exit, three tries at most."""
    acct = _account(v)
    for day in range(3):
        asn = int(a.rng.choice(VPN_ASNS))
        route = _Route(_new_ip(a, acct, asn, hosts=500), acct.country, asn, "hosting")
        agent = str(a.rng.choice(USER_AGENTS))
        response = yield _login(a, _usual_time(a, acct, day), route, agent, _new_device(a), True)
        if response.decision == a.allow:
            return


def targeted(v: Victim, a: Attack) -> Plan:
    """A targeted takeover through a residential proxy: the victim's country, ASN and browser,
    a new address in that ASN and a new device, at its usual hour: a wrong password or two
    (older leaked ones), then the right one; after a challenge, the next day from another
    address and device, three tries at most."""
    acct = _account(v)
    for day in range(3):
        route, device, t = _residential(a, acct), _new_device(a), _usual_time(a, acct, day)
        for _ in range(int(a.rng.integers(1, 3))):
            yield _login(a, t, route, acct.user_agent, device, False)
            t += float(a.rng.uniform(20, 120))
        response = yield _login(a, t, route, acct.user_agent, device, True)
        if response.decision == a.allow:
            return


def device_replay(v: Victim, a: Attack) -> Plan:
    """A stolen cookie and fingerprint: the victim's own device id and its browser, from the
    victim's country and ASN but a new address (a residential proxy), the right password at its
    usual hour; after a challenge, the next day with its next device, three tries at most."""
    acct = _account(v)
    for day in range(3):
        device = acct.devices[day % len(acct.devices)] if acct.devices else _new_device(a)
        agent = acct.device_agents.get(device, acct.user_agent)
        t = _usual_time(a, acct, day)
        response = yield _login(a, t, _residential(a, acct), agent, device, True)
        if response.decision == a.allow:
            return


def slow_stuffing(v: Victim, a: Attack) -> Plan:
    """Stuffing under the starter rules' failure caps: one data-centre IP in another country per
    account, the tool's default browser, no device id; three to five wrong passwords 2-6 hours
    apart (the account's and the IP's hourly failures stay at one, the IP sees one account),
    then the right one 2-6 hours later."""
    acct = _account(v)
    route, t = _datacentre(a, acct), float(a.rng.uniform(0, 6)) * HOUR
    for _ in range(int(a.rng.integers(3, 6))):
        yield _login(a, t, route, _DEFAULT_UA, None, False)
        t += float(a.rng.uniform(2, 6)) * HOUR
    yield _login(a, t, route, _DEFAULT_UA, None, True)


def post_takeover_warmup(v: Victim, a: Attack) -> Plan:
    """Familiarity poisoning: one new device and one new address (a residential proxy on the
    victim's ISP, in its country, with its browser), kept throughout: two logins a day at the
    victim's usual hours for four days, whatever the decision (a challenged login is still
    recorded as a correct password from that device), then the sensitive action on the fifth.
    Every login allowed is a takeover."""
    acct = _account(v)
    route, device = _residential(a, acct), _new_device(a)
    for day in range(4):
        for at in sorted(_usual_time(a, acct, day) for _ in range(2)):
            yield _login(a, at, route, acct.user_agent, device, True)
    yield _login(a, _usual_time(a, acct, 4), route, acct.user_agent, device, True)


#: What a grey-box attacker changes when a reason code shows: the control it points at.
_FIXES = {
    "NEW_DEVICE": "own_device",
    "UNUSUAL_BROWSER": "own_browser",
    "NEW_NETWORK": "own_network",
    "HOSTING_NETWORK": "own_network",
    "NEW_COUNTRY": "own_country",
    "NEW_COUNTRY_RISK": "own_country",
    "IMPOSSIBLE_TRAVEL": "own_country",
    "UNUSUAL_TIME": "usual_time",
    "IP_FAILURES": "new_ip",
    "IP_MANY_ACCOUNTS": "new_ip",
    "CREDENTIAL_STUFFING_IP": "new_ip",
    "BLOCKED_IP": "new_ip",
    "ACCOUNT_FAILURES": "wait",
    "FAILURE_BURST": "wait",
    "ACCOUNT_ACTIVITY": "wait",
}


def reason_guided(v: Victim, a: Attack) -> Plan:
    """Grey box: starts as a careful attacker would (a residential proxy on the victim's own ISP,
    a common browser, a new device, at any hour; a model that weighs the network denies another
    ISP outright) with the right password; every reason code it is shown moves the control it
    names (the victim's device, which it holds, its browser, network or country, its usual hour,
    a fresh IP, a wait of 6 hours), and it tries again 30-90 minutes later, eight tries at most,
    until it gets in."""
    acct = _account(v)
    route = _residential(a, acct)
    agent, device = str(a.rng.choice(USER_AGENTS)), _new_device(a)
    t, usual = float(a.rng.uniform(0, DAY)), False
    for _ in range(8):
        at = max(_usual_time(a, acct, int(t // DAY)), t) if usual else t
        response = yield _login(a, at, route, agent, device, True)
        if response.decision == a.allow:
            return
        t = at + float(a.rng.uniform(30, 90)) * 60
        for code in response.reasons:
            fix = _FIXES.get(code)
            if fix == "own_device" and acct.devices:
                device = acct.devices[0]
                agent = acct.device_agents.get(device, acct.user_agent)
            elif fix == "own_browser":
                agent = acct.user_agent
            elif fix == "own_network":
                route = _residential(a, acct)
            elif fix == "own_country":  # back home from wherever the defence placed it
                route = _local(a, acct, acct.country)
            elif fix == "usual_time":
                usual = True
            elif fix == "new_ip":
                route = replace(route, ip=_new_ip(a, acct, route.asn))
            elif fix == "wait":
                t += 6 * HOUR


STRATEGIES: dict[str, Strategy] = {
    s.name: s
    for s in (
        Strategy.of(naive_stuffing, "black", CONTROLS),
        Strategy.of(vpn_in_country, "black", CONTROLS),
        Strategy.of(targeted, "black", CONTROLS),
        Strategy.of(device_replay, "black", CONTROLS),
        Strategy.of(slow_stuffing, "black", CONTROLS),
        Strategy.of(post_takeover_warmup, "black", CONTROLS),
        Strategy.of(reason_guided, "grey", CONTROLS),
    )
}


THEATRE = Theatre(
    kind="login",
    entity="user_id",
    entity_name="account",
    gain_name="takeovers",
    gain=lambda login: 1.0 if login.success else 0.0,
    counted=lambda login: bool(login.success),
    strategies=STRATEGIES,
    traffic_columns=(
        "user_id",
        "ip",
        "country",
        "asn",
        "user_agent",
        "success",
        "device_id",
        "latitude",
        "longitude",
        "rtt_ms",
    ),
    attack_labels=("is_ato", "is_attack_ip"),
    # What benchmarks/redteam_logins.py measured best (8 accounts a day): these five trained on,
    # slow_stuffing and reason_guided (grey box) held out; 16 a day cost more clean AP than 0.01.
    trained=(
        "naive_stuffing",
        "vpn_in_country",
        "targeted",
        "device_replay",
        "post_takeover_warmup",
    ),
    examples_per_day=8.0,
)
