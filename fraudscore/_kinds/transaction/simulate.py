"""A seeded, vectorised simulator of card transactions with labelled fraud patterns.

Genuine behaviour (in the spirit of the Fraud Detection Handbook's simulator, Le Borgne et al.):
customers live at a point of a 100x100 grid, each with a typical amount, a daily rate, a
card-not-present share and a favourite time of day; they buy at the terminals nearest to them.

Fraud patterns, each labelled and documented in ``fraud_pattern``:

``large_amount``
    a one-off purchase far above the card's usual amount, at a usual terminal.
``compromised_terminal``
    a skimmed terminal: every transaction on it for the next 28 days is fraud (cards are hit
    for days, and terminal-level confirmed-fraud counts reveal it once labels arrive).
``stolen_card_spree``
    a stolen card is used for a burst of 3-10 purchases within a few hours, at terminals the
    card never used, mostly online, at 2-6x its usual amount and often at night.
``card_testing``
    bursts of 3-8 tiny online amounts at a new terminal within minutes, then one or two large
    purchases.

Labels arrive late: ``label_time`` is 1 day plus a log-normal delay (median about 3 days) after a
fraud; for genuine transactions it is ``timestamp + 7 days``. The output has the canonical columns
of DESIGN.md plus ``fraud_pattern`` (ignored by training).

Card-not-present signals (``cnp_signals``, on by default; drawn from their own generator, so the
columns above are the same with and without them). Every row carries the card's ``bin`` (6
digits) and ``card_country`` and the terminal's ``merchant_category`` (an MCC, one per terminal:
groceries 20%, restaurants 14%, misc retail 11.5%, fuel and fast food 10% each, clothing 7%,
drug and department stores 6% each, taxis 5%, electronics 4%, gift cards 2%, jewelry, money
transfer and gambling 1.5% each). Online rows also carry ``device_id``, ``ip``, ``asn`` (an
int), ``ip_country``, ``email`` (a hashed id), ``email_domain``, ``billing_country`` and
``shipping_country``; on ``pos`` rows they are None. The ASNs, IP prefixes, BINs and domains
are a fixed synthetic world, the same for every seed: 39 ISP and mobile-carrier ASNs across the
8 home countries, and 12 hosting/VPN ASNs.

Genuine cardholders live in one home country (FR 62%, DE 10%, ES 8%, IT 7%, NL, BE 4% each, GB
3%, US 2%); 97% of cards are issued there, the rest in another of these countries. The billing
country is home; 2.5% of online purchases ship abroad (a gift). A cardholder has one email (78%
free-mail, 16% the home ISP's domain, 6% a company's) and 1-3 devices (40/40/20%) used with
their own weights; ``1 - exp(-n_days/365)`` of them (24% over 100 days) get a new phone on a
random day, which takes over the first device's share (60% retire the old one, 40% keep using it
at 30%). They buy from 1-2 home networks (35% have a second one, for 20-50% of home purchases),
each on the ASN of a home-country ISP with 1-4 IPs taken in turn (a DHCP lease of 5-40 days);
on average 20% of online purchases come from their mobile carrier instead (a carrier-grade NAT
pool of IPs shared by all its customers). 5% travel once for 3-10 days: their online purchases
then come from a hotel or roaming network abroad, on their own devices. 3% of cardholders live
with a neighbour (about 6% of cards are in such a pair): they share the neighbour's home network
and one of the neighbour's devices, so that neither cards per device nor cards per IP is a
perfect signal.

``stolen_card_spree`` and ``card_testing`` are card-not-present fraud by fraudsters holding a
card number. 90% of attacks come from the fraudster's own device, one of a pool of fraudster
devices each active for 7-35 days and so used with about 8 stolen cards; 70% of these from an
exit IP of the fraudster's hosting/VPN ASN (whose country is mostly not the card's), 30% through
a residential proxy in the card's country (an ISP of that country, never the cardholder's own
IPs). The other 10% replay the victim's own device fingerprint and session, which costs a malware
infection or a cookie theft and so is rarer: the victim's device and email, from a residential
IP of the victim's home country that is not the victim's. The 90% sign up with a fresh email
(60% free-mail, 40% disposable). The billing country is the victim's; 50% of attacks ship to a
reshipper abroad, the rest to a drop in the card's country. Every row of an attack shares its
device, IP, email and shipping country. ``large_amount`` (a takeover-like or friendly fraud: only
the amount stands out) and ``compromised_terminal`` (the skimmed card's own purchases) keep the
cardholder's own signals.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from datetime import datetime
from functools import cache
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    import pandas as pd

__all__ = [
    "SignalWorld",
    "TransactionSimConfig",
    "card_not_present_signals",
    "simulate_transactions",
]

DAY_S = 86_400


@dataclass(frozen=True, slots=True)
class TransactionSimConfig:
    """Size and fraud rates of a simulated dataset. Rates are per day.

    ``cnp_signals`` adds the device, network, email, address, card and merchant columns; without
    them the frame has exactly the columns (and values) it had before they existed.
    """

    n_customers: int = 2_000
    n_terminals: int = 4_000
    n_days: int = 100
    start: str = "2018-04-01"
    seed: int = 7
    home_terminals: int = 12
    compromised_terminals_per_day: float = 1.5
    stolen_cards_per_day: float = 2.5
    card_tests_per_day: float = 1.5
    large_amounts_per_day: float = 2.0
    cnp_signals: bool = True

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def _nearest(cust_xy: np.ndarray, term_xy: np.ndarray, k: int) -> np.ndarray:
    out = np.empty((len(cust_xy), k), dtype=np.int64)
    for lo in range(0, len(cust_xy), 512):
        d = ((cust_xy[lo : lo + 512, None, :] - term_xy[None, :, :]) ** 2).sum(-1)
        out[lo : lo + 512] = np.argpartition(d, k, axis=1)[:, :k]
    return out


# The synthetic world of the card-not-present signals: fixed, not drawn from the seed, so that a
# model trained on one seed reads the same ASNs, BINs and domains on another.
_HOME = ("FR", "DE", "ES", "IT", "NL", "BE", "GB", "US")
_HOME_P = (0.62, 0.10, 0.08, 0.07, 0.04, 0.04, 0.03, 0.02)
_ISPS = (4, 4, 3, 3, 2, 2, 3, 3)  # fixed-line ISPs of each home country
_CARRIERS = (3, 2, 2, 2, 1, 1, 2, 2)  # mobile carriers of each home country
_HOSTING = ("NL", "DE", "US", "GB", "FR", "RO", "RU", "UA", "SG", "HK", "LT", "BG")  # one ASN each
_RESHIP = ("US", "GB", "DE", "NL", "PL", "LT", "RO", "UA")
_FREEMAIL = {
    "gmail.com": 0.45,
    "outlook.com": 0.13,
    "hotmail.com": 0.12,
    "yahoo.com": 0.11,
    "icloud.com": 0.09,
    "gmx.net": 0.06,
    "proton.me": 0.04,
}
_ISP_MAIL = (
    ("orange.fr", "free.fr", "sfr.fr"),
    ("t-online.de", "web.de"),
    ("telefonica.net", "movistar.es"),
    ("libero.it", "tim.it"),
    ("ziggo.nl", "kpnmail.nl"),
    ("skynet.be", "telenet.be"),
    ("btinternet.com", "sky.com"),
    ("comcast.net", "att.net"),
)
_COMPANY_MAIL = ("contoso.com", "fabrikam.com", "northwind.com", "adatum.com")
_DISPOSABLE = (
    "mailinator.com",
    "guerrillamail.com",
    "yopmail.com",
    "10minutemail.com",
    "temp-mail.org",
    "trashmail.com",
)
_MCC = {
    "5411": 20.0,  # grocery stores
    "5812": 14.0,  # restaurants
    "5999": 11.5,  # miscellaneous retail
    "5541": 10.0,  # fuel
    "5814": 10.0,  # fast food
    "5691": 7.0,  # clothing
    "5912": 6.0,  # drug stores
    "5311": 6.0,  # department stores
    "4121": 5.0,  # taxis
    "5732": 4.0,  # electronics
    "5947": 2.0,  # gift cards and souvenirs
    "5944": 1.5,  # jewelry
    "4829": 1.5,  # money transfer
    "7995": 1.5,  # gambling
}


@dataclass(frozen=True, slots=True)
class _World:
    countries: np.ndarray  # ISO codes, the home countries first
    asn: np.ndarray  # each network's ASN, a Python int
    net_country: np.ndarray  # each network's country (an index into ``countries``)
    prefix: np.ndarray  # each network's /16, as the int of its address x.y.0.0
    isp: np.ndarray  # per home country: (first network, count) of its fixed-line ISPs
    carrier: np.ndarray  # per home country: (first network, count) of its mobile carriers
    hosting: np.ndarray  # the hosting/VPN networks
    reship: np.ndarray  # reshippers' countries
    bins: np.ndarray  # four BINs per home country (two Visa, two Mastercard)
    domains: np.ndarray  # free-mail, then each home country's ISP mail, company, disposable
    isp_mail: np.ndarray  # per home country: (first domain, count) of its ISP's mail
    company: int  # the first company domain
    disposable: int  # the first disposable domain
    mcc: np.ndarray


def _spans(counts: tuple[int, ...], first: int) -> np.ndarray:
    size = np.array(counts)
    return np.stack([first + np.cumsum(size) - size, size], axis=1)


@cache
def _world() -> _World:
    rng = np.random.default_rng(2018)
    countries = tuple(dict.fromkeys(_HOME + _HOSTING + _RESHIP))
    code = {c: i for i, c in enumerate(countries)}
    home = np.arange(len(_HOME))
    net_country = np.concatenate(
        [np.repeat(home, _ISPS), np.repeat(home, _CARRIERS), [code[c] for c in _HOSTING]]
    )
    fixed = sum(_ISPS) + sum(_CARRIERS)
    asn = np.concatenate(  # 16-bit public ASNs, and 32-bit ones for the younger hosting firms
        [
            rng.choice(np.arange(1_000, 64_000), fixed, replace=False),
            rng.choice(np.arange(131_072, 400_000), len(_HOSTING), replace=False),
        ]
    )
    reserved = (0, 10, 100, 127, 169, 172, 192, 198, 203)
    first = np.array([o for o in range(1, 224) if o not in reserved])
    ab = rng.choice(len(first) * 256, len(net_country), replace=False)
    visa = rng.choice(np.arange(400_000, 500_000), 2 * len(_HOME), replace=False)
    master = rng.choice(np.arange(510_000, 560_000), 2 * len(_HOME), replace=False)
    bins = np.stack([visa[::2], visa[1::2], master[::2], master[1::2]], axis=1).ravel()
    free = len(_FREEMAIL)
    isp_mail = [d for ds in _ISP_MAIL for d in ds]
    return _World(
        countries=np.array(countries, dtype=object),
        asn=asn.astype(object),
        net_country=net_country,
        prefix=(first[ab // 256] << 24) | ((ab % 256) << 16),
        isp=_spans(_ISPS, 0),
        carrier=_spans(_CARRIERS, sum(_ISPS)),
        hosting=np.arange(fixed, len(net_country)),
        reship=np.array([code[c] for c in _RESHIP]),
        bins=np.array([f"{b:06d}" for b in bins], dtype=object),
        domains=np.array([*_FREEMAIL, *isp_mail, *_COMPANY_MAIL, *_DISPOSABLE], dtype=object),
        isp_mail=_spans(tuple(len(ds) for ds in _ISP_MAIL), free),
        company=free + len(isp_mail),
        disposable=free + len(isp_mail) + len(_COMPANY_MAIL),
        mcc=np.array(list(_MCC), dtype=object),
    )


def _one_of(spans: np.ndarray, country: np.ndarray, u: np.ndarray) -> np.ndarray:
    """A member of each country's span, the first ones (the incumbents) the likeliest."""
    return spans[country, 0] + (u**2 * spans[country, 1]).astype(np.int64)


def _pick(weights: np.ndarray, u: np.ndarray) -> np.ndarray:
    """Per row of ``weights``, the column that ``u`` falls in (never one of weight 0)."""
    cum = np.cumsum(weights, axis=1)
    return (u[:, None] * cum[:, -1:] >= cum).sum(axis=1)


@dataclass(frozen=True, slots=True)
class _Holders:
    """The cardholders' countries, card, email, devices and networks (one row per card)."""

    home: np.ndarray
    card_country: np.ndarray
    bin: np.ndarray
    email_domain: np.ndarray
    devices: np.ndarray  # (card, 4): up to three devices, then the new phone
    before: np.ndarray  # (card, 4): the devices' weights before the new phone
    after: np.ndarray  # (card, 4): and from its day on
    new_day: np.ndarray
    nets: np.ndarray  # (card, 2): home networks
    net_ips: np.ndarray  # (card, 2, 4): their addresses, taken in turn, ``n_ips`` of them
    n_ips: np.ndarray
    lease: np.ndarray  # (card, 2): days an address lasts
    second: np.ndarray  # share of the second home network
    carrier: np.ndarray
    mobile: np.ndarray  # share of purchases on the mobile network
    trip: np.ndarray  # (card, 2): first and end day of a trip abroad (inf: none)
    trip_net: np.ndarray
    trip_ips: np.ndarray  # (card, 2)

    def device(self, card: np.ndarray, day: np.ndarray, u: np.ndarray) -> np.ndarray:
        new = (day >= self.new_day[card])[:, None]
        weights = np.where(new, self.after[card], self.before[card])
        return self.devices[card, _pick(weights, u)]


@dataclass(frozen=True, slots=True)
class SignalWorld:
    """What the card-not-present layer needs of a simulated world: its seed and sizes, and how
    many cards fraudsters use online per day (which sizes their pool of devices)."""

    seed: int
    n_customers: int
    n_terminals: int
    n_days: int
    stolen_per_day: float


def _holders(rng: np.random.Generator, cfg: SignalWorld, xy: np.ndarray) -> _Holders:
    w = _world()
    C, H = cfg.n_customers, len(_HOME)
    home = rng.choice(H, C, p=_HOME_P)
    # Households: a joiner shares the nearest other cardholder's home network and one device.
    joiner = rng.random(C) < 0.03
    others = np.flatnonzero(~joiner)
    if len(others) < 2:
        joiner[:] = False
    j = np.flatnonzero(joiner)
    mate = others[_nearest(xy[j], xy[others], 1)[:, 0]]
    home[j] = home[mate]
    abroad = rng.random(C) < 0.03
    card_country = np.where(abroad, (home + rng.integers(1, H, C)) % H, home)
    domain = np.choose(
        rng.choice(3, C, p=(0.78, 0.16, 0.06)),
        [
            rng.choice(len(_FREEMAIL), C, p=list(_FREEMAIL.values())),
            _one_of(w.isp_mail, home, rng.random(C)),
            w.company + rng.integers(0, len(_COMPANY_MAIL), C),
        ],
    )
    n_dev = rng.choice(np.arange(1, 4), C, p=(0.4, 0.4, 0.2))
    before = rng.gamma(2.0, 1.0, (C, 4)) * (np.arange(4) < n_dev[:, None])
    devices = np.arange(4 * C).reshape(C, 4)
    devices[j, 2] = devices[mate, (n_dev[mate] > 1).astype(np.int64)]
    before[j, 2] = before[j, :2].sum(axis=1) / 3
    new_day = np.where(
        rng.random(C) < 1 - np.exp(-cfg.n_days / 365), rng.uniform(0, cfg.n_days, C), np.inf
    )
    retire = rng.random(C) < 0.6
    after = before.copy()
    after[:, 3] = before[:, 0] * np.where(retire, 1.0, 0.7)
    after[:, 0] *= np.where(retire, 0.0, 0.3)
    nets = _one_of(w.isp, home[:, None], rng.random((C, 2)))
    subnet = w.prefix[nets] | (rng.integers(0, 192, (C, 2)) << 8)
    net_ips = subnet[:, :, None] | rng.integers(1, 255, (C, 2, 4))
    n_ips = rng.integers(1, 5, (C, 2))
    lease = rng.integers(5, 41, (C, 2))
    for a in (nets, net_ips, n_ips, lease):
        a[j, 0] = a[mate, 0]
    dest = (home + rng.integers(1, H, C)) % H
    hotel = rng.random(C) < 0.6
    trip_net = np.where(
        hotel, _one_of(w.isp, dest, rng.random(C)), _one_of(w.carrier, dest, rng.random(C))
    )
    trip_start = np.where(rng.random(C) < 0.05, rng.integers(0, cfg.n_days, C), np.inf)
    return _Holders(
        home=home,
        card_country=card_country,
        bin=card_country * 4 + rng.integers(0, 4, C),
        email_domain=domain,
        devices=devices,
        before=before,
        after=after,
        new_day=new_day,
        nets=nets,
        net_ips=net_ips,
        n_ips=n_ips,
        lease=lease,
        second=np.where(rng.random(C) < 0.35, rng.uniform(0.2, 0.5, C), 0.0),
        carrier=_one_of(w.carrier, home, rng.random(C)),
        mobile=rng.beta(2, 8, C),
        trip=np.stack([trip_start, trip_start + rng.integers(3, 11, C)], axis=1),
        trip_net=trip_net,
        trip_ips=(
            w.prefix[trip_net][:, None]
            | (rng.integers(0, 192, (C, 2)) << 8)
            | rng.integers(1, 255, (C, 2))
        ),
    )


def card_not_present_signals(
    cfg: SignalWorld,
    xy: np.ndarray,
    cust: np.ndarray,
    t_s: np.ndarray,
    term: np.ndarray,
    cnp: np.ndarray,
    stolen: np.ndarray,
    attack: np.ndarray,
) -> dict[str, np.ndarray]:
    """The card-not-present columns of rows (card ``cust`` at ``xy[cust]``, time ``t_s``,
    terminal ``term``, online where ``cnp``), from a generator of their own (see the module
    docstring). Online rows where ``stolen`` are a fraudster's, one buyer side per ``attack``;
    the other online rows are the cardholder's own."""
    rng = np.random.default_rng([cfg.seed, 1])
    w = _world()
    h = _holders(rng, cfg, xy)
    C, H, m = cfg.n_customers, len(_HOME), len(cust)
    mcc = rng.choice(len(_MCC), cfg.n_terminals, p=np.array(list(_MCC.values())) / 100)
    day = t_s / DAY_S
    stolen = cnp & stolen
    dev, net, ip, email, domain, billing, ship = (np.zeros(m, np.int64) for _ in range(7))

    # Cardholders' own purchases (and large_amount, compromised_terminal): rows ``g``.
    g = np.flatnonzero(cnp & ~stolen)
    c, d, n = cust[g], day[g], len(g)
    dev[g] = h.device(c, d, rng.random(n))
    slot = (rng.random(n) < h.second[c]).astype(np.int64)
    turn = (d // h.lease[c, slot]).astype(np.int64) % h.n_ips[c, slot]
    mobile = rng.random(n) < h.mobile[c]
    cgnat = w.prefix[h.carrier[c]] | (rng.integers(224, 232, n) << 8) | rng.integers(1, 255, n)
    away = (d >= h.trip[c, 0]) & (d < h.trip[c, 1])
    net[g] = np.where(away, h.trip_net[c], np.where(mobile, h.carrier[c], h.nets[c, slot]))
    ip[g] = np.where(
        away,
        h.trip_ips[c, rng.integers(0, 2, n)],
        np.where(mobile, cgnat, h.net_ips[c, slot, turn]),
    )
    email[g], domain[g], billing[g] = c, h.email_domain[c], h.home[c]
    gift = rng.random(n) < 0.025
    ship[g] = np.where(gift, (h.home[c] + rng.integers(1, H, n)) % H, h.home[c])

    # Fraudsters' attacks: one device, IP, email and shipping country each; rows ``f``.
    f = np.flatnonzero(stolen)
    ids, at = np.unique(attack[f], return_inverse=True)
    A = len(ids)
    victim = np.zeros(A, np.int64)
    victim[at] = cust[f]
    day0 = np.full(A, np.inf)
    np.minimum.at(day0, at, day[f])
    expected = cfg.stolen_per_day * cfg.n_days
    F = max(2, int(np.ceil(expected / 8)))  # about 8 cards per fraudster device
    span = rng.uniform(7, 35, F)
    begin = rng.uniform(-span / 2, cfg.n_days - span / 2)
    active = (day0[:, None] >= begin) & (day0[:, None] < begin + span)
    fraudster = np.argmax(rng.random((A, F)) + active, axis=1)
    vpn = w.hosting[rng.integers(0, len(w.hosting), F)][fraudster]
    replay = rng.random(A) < 0.10
    local = replay | (rng.random(A) < 0.30)  # a residential IP: a proxy, or the replay's
    own = h.device(victim, day0, rng.random(A))
    a_dev = np.where(replay, own, 4 * C + fraudster)
    residential = _one_of(
        w.isp, np.where(replay, h.home[victim], h.card_country[victim]), rng.random(A)
    )
    a_net = np.where(local, residential, vpn)
    octet3 = np.where(local, rng.integers(192, 224, A), rng.integers(0, 256, A))
    a_ip = w.prefix[a_net] | (octet3 << 8) | rng.integers(1, 255, A)
    disposable = rng.random(A) < 0.4
    fresh = np.where(
        disposable,
        w.disposable + rng.integers(0, len(_DISPOSABLE), A),
        rng.choice(len(_FREEMAIL), A, p=list(_FREEMAIL.values())),
    )
    k = rng.integers(0, len(_RESHIP), A)
    reship = np.where(w.reship[k] == h.home[victim], w.reship[(k + 1) % len(_RESHIP)], w.reship[k])
    a_ship = np.where(rng.random(A) < 0.5, reship, h.card_country[victim])
    dev[f], net[f], ip[f] = a_dev[at], a_net[at], a_ip[at]
    email[f] = np.where(replay, victim, C + np.arange(A))[at]
    domain[f] = np.where(replay, h.email_domain[victim], fresh)[at]
    billing[f], ship[f] = h.home[victim][at], a_ship[at]

    hexes = rng.integers(0, 2**48, 5 * C + F + A)  # the devices', then the emails' hashes
    devices = np.array([f"d{x:012x}" for x in hexes[: 4 * C + F]], dtype=object)
    emails = np.array([f"e{x:012x}" for x in hexes[4 * C + F :]], dtype=object)
    online = np.flatnonzero(cnp)
    addresses, which = np.unique(ip[online], return_inverse=True)
    dotted = np.array(
        [f"{a >> 24}.{a >> 16 & 255}.{a >> 8 & 255}.{a & 255}" for a in addresses.tolist()],
        dtype=object,
    )

    def sparse(values: np.ndarray) -> np.ndarray:
        out = np.full(m, None, dtype=object)
        out[online] = values
        return out

    return {
        "device_id": sparse(devices[dev[online]]),
        "ip": sparse(dotted[which]),
        "asn": sparse(w.asn[net[online]]),
        "ip_country": sparse(w.countries[w.net_country[net[online]]]),
        "email": sparse(emails[email[online]]),
        "email_domain": sparse(w.domains[domain[online]]),
        "billing_country": sparse(w.countries[billing[online]]),
        "shipping_country": sparse(w.countries[ship[online]]),
        "card_country": w.countries[h.card_country[cust]],
        "bin": w.bins[h.bin[cust]],
        "merchant_category": w.mcc[mcc[term]],
    }


def simulate_transactions(config: TransactionSimConfig | None = None) -> pd.DataFrame:
    """A frame of canonical transactions with ``is_fraud``, ``label_time`` and ``fraud_pattern``."""
    import pandas as pd

    cfg = config or TransactionSimConfig()
    rng = np.random.default_rng(cfg.seed)
    C, T, D = cfg.n_customers, cfg.n_terminals, cfg.n_days
    k = min(cfg.home_terminals, T - 1)

    cust_xy = rng.uniform(0, 100, (C, 2))
    term_xy = rng.uniform(0, 100, (T, 2))
    mean_amt = rng.uniform(5, 100, C)
    std_amt = mean_amt / 2
    rate = rng.uniform(0.2, 4, C)
    cnp_share = rng.beta(2, 6, C)
    peak_s = rng.uniform(9, 19, C) * 3600
    home = _nearest(cust_xy, term_xy, k)

    # Genuine transactions.
    counts = rng.poisson(np.repeat(rate[:, None], D, axis=1))
    cust = np.repeat(np.repeat(np.arange(C), D), counts.ravel())
    day = np.repeat(np.tile(np.arange(D), C), counts.ravel())
    n = len(cust)
    secs = np.clip(rng.normal(peak_s[cust], 4 * 3600), 0, DAY_S - 1)
    amount = rng.normal(mean_amt[cust], std_amt[cust])
    neg = amount <= 0.5
    amount[neg] = rng.uniform(0.5, 2 * mean_amt[cust[neg]])
    term = home[cust, rng.integers(0, k, n)]
    cnp = rng.random(n) < cnp_share[cust]
    pattern = np.full(n, "", dtype=object)

    # compromised_terminal: every transaction there for 28 days from the compromise is fraud.
    for d, hits in enumerate(rng.poisson(cfg.compromised_terminals_per_day, D)):
        bad = rng.choice(T, hits, replace=False)
        mask = np.isin(term, bad) & (day >= d) & (day < d + 28)
        pattern[mask & (pattern == "")] = "compromised_terminal"

    parts = [(cust, day * DAY_S + secs, term, amount, cnp, pattern, np.full(n, -1))]
    n_attacks = 0

    def inject(name: str, per_day: float, burst: tuple[int, int]) -> None:
        nonlocal n_attacks
        victims_per_day = rng.poisson(per_day, D)
        v_cust = rng.integers(0, C, victims_per_day.sum())
        v_day = np.repeat(np.arange(D), victims_per_day)
        sizes = rng.integers(burst[0], burst[1] + 1, len(v_cust))
        b_cust = np.repeat(v_cust, sizes)
        start = v_day * DAY_S + rng.uniform(0, DAY_S, len(v_cust))
        if name == "stolen_card_spree":  # often at night
            night = rng.random(len(v_cust)) < 0.6
            start[night] = v_day[night] * DAY_S + rng.uniform(0, 5 * 3600, night.sum())
        b_start = np.repeat(start, sizes)
        b_attack = np.repeat(n_attacks + np.arange(len(v_cust)), sizes)
        n_attacks += len(v_cust)
        m = len(b_cust)
        if name == "large_amount":
            t = b_start
            b_term = home[b_cust, rng.integers(0, k, m)]
            amt = mean_amt[b_cust] * rng.uniform(5, 15, m) + rng.uniform(100, 400, m)
            b_cnp = rng.random(m) < cnp_share[b_cust]
        elif name == "stolen_card_spree":
            t = b_start + rng.uniform(0, 4 * 3600, m)
            b_term = rng.integers(0, T, m)
            amt = mean_amt[b_cust] * rng.uniform(2, 6, m)
            b_cnp = rng.random(m) < 0.7
        else:  # card_testing: tiny amounts at one new terminal, then a large purchase
            tester = np.repeat(rng.integers(0, T, len(v_cust)), sizes)
            t = b_start + rng.uniform(0, 1800, m)
            b_term = tester
            amt = rng.uniform(0.5, 3.0, m)
            last = np.cumsum(sizes) - 1
            t[last] = b_start[last] + rng.uniform(1800, 6 * 3600, len(last))
            b_term[last] = rng.integers(0, T, len(last))
            amt[last] = rng.uniform(150, 900, len(last))
            b_cnp = np.ones(m, bool)
        ok = t < D * DAY_S
        labels = np.full(ok.sum(), name, object)
        parts.append((b_cust[ok], t[ok], b_term[ok], amt[ok], b_cnp[ok], labels, b_attack[ok]))

    inject("large_amount", cfg.large_amounts_per_day, (1, 1))
    inject("stolen_card_spree", cfg.stolen_cards_per_day, (3, 10))
    inject("card_testing", cfg.card_tests_per_day, (4, 9))

    t_all = np.concatenate([p[1] for p in parts])
    order = np.argsort(t_all, kind="stable")
    cust, t_s, term, amount, cnp, pattern, attack = (
        np.concatenate([p[i] for p in parts])[order] for i in range(7)
    )
    m = len(cust)
    start = pd.Timestamp(datetime.fromisoformat(cfg.start), tz="UTC")
    timestamp = start + pd.to_timedelta(np.floor(t_s), unit="s")
    is_fraud = (pattern != "").astype(np.int8)
    delay_s = DAY_S + np.minimum(rng.lognormal(np.log(3 * DAY_S), 0.6, m), 30 * DAY_S)
    delay_s = np.where(is_fraud == 1, np.floor(delay_s), 7 * DAY_S)
    columns: dict[str, Any] = {
        "transaction_id": [f"tx{i:09d}" for i in range(m)],
        "timestamp": timestamp,
        "customer_id": [f"C{c:06d}" for c in cust],
        "terminal_id": [f"T{x:06d}" for x in term],
        "amount": np.round(np.maximum(amount, 0.5), 2),
        "currency": "EUR",
        "channel": np.where(cnp, "online", "pos"),
        "is_fraud": is_fraud,
        "label_time": timestamp + pd.to_timedelta(delay_s, unit="s"),
        "fraud_pattern": np.where(pattern == "", "none", pattern),
    }
    if cfg.cnp_signals:
        stolen = np.isin(pattern, ("stolen_card_spree", "card_testing"))
        world = SignalWorld(cfg.seed, C, T, D, cfg.stolen_cards_per_day + cfg.card_tests_per_day)
        columns |= card_not_present_signals(world, cust_xy, cust, t_s, term, cnp, stolen, attack)
    return pd.DataFrame(columns)
