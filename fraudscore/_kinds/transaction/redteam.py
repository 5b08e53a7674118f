"""Attackers of card transactions: a stolen card number, used against the defence for a few days.

The attacker holds the card's number (card-not-present fraud), not the card: every purchase is
online where the world records a channel. Each strategy may set the amount, the time, the
terminal and what the merchant's checkout collects of the buyer (``CONTROLS``): the device, the
IP and its network and country, the email's domain, the shipping country. The card, its BIN and
country and the billing country are the victim's; a terminal comes with its merchant category.
A field the victim's own payments never carry (a world that does not collect it, the handbook's)
the attacker does not send either.

Its own identity (``_Identity``): a device of its own, a new one per card (an anti-detect
browser), and either a careless network (an IP of a network of another country, and a parcel
shipped abroad) or a careful one (a residential proxy: an IP of a network of the card's country
that the victim never used, and a drop in that country). The replaying attacker has the victim's
own device (malware or a stolen cookie), on such a proxy.

They know the victim's own past purchases (its terminals, amounts, hours, device, email domain:
a stolen statement or a phished account), and what the defence tells them: the decision (black
box), the reason codes too (grey box), or the whole bundle and the card's state (white box).
Times are seconds from the attack's start (midnight of its first day).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import numpy as np
import pandas as pd

from fraudscore._kinds.transaction.events import Transaction
from fraudscore._redteam.harness import Attack, Plan, Strategy, Theatre, Victim

__all__ = ["CONTROLS", "STRATEGIES", "THEATRE"]

#: What the buyer's side of a card-not-present payment carries: the attacker's to set.
IDENTITY = ("device_id", "ip", "asn", "ip_country", "email_domain", "shipping_country")
CONTROLS = ("amount", "timestamp", "terminal_id", *IDENTITY)
HOUR = 3600.0
DAY = 86400.0


def _mode(h: pd.DataFrame, column: str) -> str | None:
    if column not in h or not h[column].notna().any():
        return None
    return str(h[column].mode().iloc[0])


@dataclass(frozen=True, slots=True)
class _Card:
    """What the attacker knows of the victim's card, from its past purchases."""

    terminals: tuple[str, ...]  # most used first
    weights: np.ndarray
    amounts: np.ndarray
    mean: float
    seconds: np.ndarray  # times of day of its purchases
    #: "online" where the world records channels (the attacker has no card to present).
    channel: str | None
    currency: str | None
    card_country: str | None
    bin: str | None
    billing_country: str | None
    #: The victim's own buyer side: its most used device, email domain, shipping country and
    #: the networks it bought from.
    device_id: str | None
    email_domain: str | None
    shipping_country: str | None
    asns: frozenset[int]
    #: The identity fields the victim's payments carry (what its merchants collect).
    collects: frozenset[str]


def _card(v: Victim) -> _Card:
    h = v.history
    counts = h["terminal_id"].value_counts()
    tod = (h["timestamp"] - h["timestamp"].dt.normalize()).dt.total_seconds().to_numpy()
    amounts = h["amount"].to_numpy(dtype=float)
    asns = h["asn"].dropna() if "asn" in h else pd.Series([], dtype=float)
    return _Card(
        tuple(counts.index),
        (counts / counts.sum()).to_numpy(),
        amounts,
        float(max(amounts.mean(), 1.0)),
        tod,
        "online" if _mode(h, "channel") is not None else None,
        _mode(h, "currency"),
        _mode(h, "card_country"),
        _mode(h, "bin"),
        _mode(h, "billing_country"),
        _mode(h, "device_id"),
        _mode(h, "email_domain"),
        _mode(h, "shipping_country"),
        frozenset(int(x) for x in asns),
        frozenset(f for f in IDENTITY if f in h and h[f].notna().any()),
    )


@dataclass(slots=True)
class _Identity:
    """The buyer's side the attacker sends (it may change it between purchases)."""

    device_id: str | None
    ip: str | None
    asn: int | None
    ip_country: str | None
    email_domain: str | None
    shipping_country: str | None

    def fields(self, card: _Card) -> dict[str, object]:
        return {f: getattr(self, f) for f in IDENTITY if f in card.collects}


def _network(
    a: Attack, card: _Card, country: str | None, local: bool
) -> tuple[str | None, int | None, str | None]:
    """An IP of a network (from history) of ``country`` (``local``) or of another one, that the
    victim never bought from: (ip, asn, its country); Nones in a world without networks."""
    asns = [
        x
        for x in a.pool.get("asn", ())
        if int(x) not in card.asns and (a.follows("asn", x, "ip_country") == country) == local
    ]
    if not asns:
        return None, None, None
    asn = asns[int(a.rng.integers(len(asns)))]
    ips = [ip for ip in a.pool.get("ip", ()) if a.follows("ip", ip, "asn") == asn]
    ip = ips[int(a.rng.integers(len(ips)))] if ips else None
    return ip, int(asn), a.follows("asn", asn, "ip_country")


def _identity(a: Attack, card: _Card, *, careful: bool, replay: bool = False) -> _Identity:
    """A careful attacker buys through a residential proxy in the card's country, with the
    victim's email domain, shipping to a drop there; a careless one from another country's
    network, with any email domain, shipping abroad. Its device is its own, new for this card,
    or (``replay``) the victim's own."""
    ip, asn, ip_country = _network(a, card, card.card_country, careful)
    domains = a.pool.get("email_domain", [None])
    abroad = [c for c in a.pool.get("shipping_country", ()) if c != card.card_country]
    if careful:
        domain, ship = card.email_domain, card.shipping_country or card.card_country
    else:
        domain = domains[int(a.rng.integers(len(domains)))]
        ship = abroad[int(a.rng.integers(len(abroad)))] if abroad else card.shipping_country
    own = f"dev-{a.new_id()}"
    device = (card.device_id or own) if replay else own
    return _Identity(device, ip, asn, ip_country, domain, ship)


def _tx(
    a: Attack, card: _Card, who: _Identity, at: float, terminal: str, amount: float
) -> Transaction:
    return Transaction(
        a.new_id(),
        a.at(at),
        a.victim.entity,
        terminal,
        round(max(float(amount), 0.0), 2),
        currency=card.currency,
        channel=card.channel,
        billing_country=card.billing_country,
        card_country=card.card_country,
        bin=card.bin,
        merchant_category=a.follows("terminal_id", terminal, "merchant_category"),
        **who.fields(card),  # type: ignore[arg-type]
    )


def _own_terminal(a: Attack, card: _Card) -> str:
    return str(a.rng.choice(card.terminals, p=card.weights))


def _usual_time(a: Attack, card: _Card, day: int) -> float:
    return day * DAY + float(a.rng.choice(card.seconds)) + float(a.rng.normal(0, 900))


def _daytime(a: Attack, day: int) -> float:
    return day * DAY + float(a.rng.uniform(9, 20)) * HOUR


def naive_spree(v: Victim, a: Attack) -> Plan:
    """8 purchases within 3 hours at night, at new terminals, 3-6x the usual amount, careless
    (another country's network, shipped abroad)."""
    card = _card(v)
    who = _identity(a, card, careful=False)
    t = float(a.rng.uniform(1, 3)) * HOUR
    for terminal in a.pick("terminal_id", 8):
        yield _tx(a, card, who, t, terminal, card.mean * a.rng.uniform(3, 6))
        t += float(a.rng.uniform(5, 22)) * 60


def burst(v: Victim, a: Attack) -> Plan:
    """40 purchases 90 s apart at the card's own terminals, usual amounts, careful: a velocity
    far beyond anything in training."""
    card = _card(v)
    who = _identity(a, card, careful=True)
    t = _daytime(a, int(a.rng.integers(0, 2)))
    for _ in range(40):
        yield _tx(a, card, who, t, _own_terminal(a, card), a.rng.choice(card.amounts))
        t += 90.0


def velocity_shaping(v: Victim, a: Attack) -> Plan:
    """Throttled: 2 purchases a day in daytime at new terminals, 1.5x the usual amount,
    careful."""
    card = _card(v)
    who = _identity(a, card, careful=True)
    terminals = iter(a.pick("terminal_id", 10))
    for day in range(5):
        for t in sorted(_daytime(a, day) for _ in range(2)):
            yield _tx(a, card, who, t, next(terminals), card.mean * 1.5)


def amount_splitting(v: Victim, a: Attack) -> Plan:
    """Each day, 5x the usual amount split into purchases of 0.6-1x it, 30-60 min apart, at
    two new terminals, careful."""
    card = _card(v)
    who = _identity(a, card, careful=True)
    terminals = a.pick("terminal_id", 2)
    for day in range(5):
        t, spent = _daytime(a, day), 0.0
        while spent < 5 * card.mean:
            amount = card.mean * a.rng.uniform(0.6, 1.0)
            yield _tx(a, card, who, t, terminals[int(a.rng.integers(2))], amount)
            spent += amount
            t += float(a.rng.uniform(30, 60)) * 60


def terminal_hopping(v: Victim, a: Attack) -> Plan:
    """4 purchases a day in daytime, each at another new terminal, usual amounts, careful."""
    card = _card(v)
    who = _identity(a, card, careful=True)
    terminals = iter(a.pick("terminal_id", 20))
    for day in range(5):
        for t in sorted(_daytime(a, day) for _ in range(4)):
            yield _tx(a, card, who, t, next(terminals), a.rng.choice(card.amounts))


def threshold_probing(v: Victim, a: Attack) -> Plan:
    """Black box: 5x the usual amount at a new terminal; after each refusal, 0.6x that at
    another new terminal; after an approval, the same amount at the same terminal again.
    Careless."""
    card = _card(v)
    who = _identity(a, card, careful=False)
    terminals = iter(a.pick("terminal_id", 30))
    terminal, amount, t = next(terminals), 5 * card.mean, _daytime(a, 0)
    for _ in range(25):
        response = yield _tx(a, card, who, t, terminal, amount)
        if response.decision != a.allow:
            amount *= 0.6
            terminal = next(terminals)
        t += float(a.rng.uniform(10, 30)) * 60


#: What a grey-box attacker changes when a reason code shows: the control it points at. A new
#: device for the card (it has not the victim's) and card-not-present (it has no card) it
#: cannot fix.
_FIXES = {
    "AMOUNT_UNUSUAL": "amount",
    "SPENDING_SPIKE": "amount",
    "CARD_VELOCITY": "wait",
    "CARD_HISTORY": "wait",
    "NEW_TERMINAL_FOR_CARD": "own_terminal",
    "TERMINAL_FRAUD": "new_terminal",
    "TERMINAL_VELOCITY": "new_terminal",
    "UNUSUAL_TIME": "usual_time",
    "COUNTRY_MISMATCH": "careful",
    "SHIPPING_UNUSUAL": "careful",
    "NEW_NETWORK_FOR_CARD": "careful",
    "DEVICE_MANY_CARDS": "new_device",
    "DEVICE_RECENTLY_FLAGGED": "new_device",
}


def reason_guided(v: Victim, a: Attack) -> Plan:
    """Grey box: starts as a spree (new terminal, 3x, at night, careless); every reason code it
    is shown moves the control it names (a lower amount, a wait, the card's own terminal, its
    usual hour, a proxy in the card's country and a drop there, another device) until
    purchases go through, then keeps buying."""
    card = _card(v)
    who = _identity(a, card, careful=False)
    terminal = a.pick("terminal_id", 1)[0]
    factor, t, usual = 3.0, float(a.rng.uniform(1, 3)) * HOUR, False
    for _ in range(25):
        at = _usual_time(a, card, int(t // DAY)) if usual else t
        at = max(at, t)
        response = yield _tx(a, card, who, at, terminal, card.mean * factor)
        t = at + float(a.rng.uniform(20, 60)) * 60
        if response.decision == a.allow:
            continue
        for fix in {_FIXES.get(code) for code in response.reasons}:
            if fix == "amount":
                factor *= 0.6
            elif fix == "wait":
                t += 6 * HOUR
            elif fix == "own_terminal":
                terminal = _own_terminal(a, card)
            elif fix == "new_terminal":
                terminal = a.pick("terminal_id", 1)[0]
            elif fix == "usual_time":
                usual = True
            elif fix == "careful":  # another proxy in the card's country each time
                fresh = _identity(a, card, careful=True)
                who.ip, who.asn, who.ip_country = fresh.ip, fresh.asn, fresh.ip_country
                who.email_domain, who.shipping_country = fresh.email_domain, fresh.shipping_country
            elif fix == "new_device":
                who.device_id = f"dev-{a.new_id()}"


def model_guided(v: Victim, a: Attack) -> Plan:
    """White box: 10 purchases, 2 a day. For each, of the changes to a spree purchase (new
    terminal, 4x, at night, careless) it tries the smallest first: one control, then two, then
    three (the card's own terminal, its usual hour, a proxy in the card's country and a drop
    there), each amount from 4x down, and sends the richest one the defence would approve."""
    card = _card(v)
    new = a.pick("terminal_id", 10)
    careless, careful = _identity(a, card, careful=False), _identity(a, card, careful=True)
    careful.device_id = careless.device_id  # one device of its own
    grid = (4.0, 3.0, 2.0, 1.5, 1.0, 0.7, 0.5, 0.3)
    for n in range(10):
        day = n // 2
        night = day * DAY + float(a.rng.uniform(1, 4)) * HOUR + (n % 2) * 3 * HOUR
        usual = max(_usual_time(a, card, day), night)
        base = {"terminal": new[n], "who": careless, "at": night}
        options = {"terminal": _own_terminal(a, card), "who": careful, "at": usual}
        chosen = None
        for changed in _subsets(tuple(options)):
            fields = base | {k: options[k] for k in changed}
            for f in grid:
                tx = _tx(a, card, fields["who"], fields["at"], fields["terminal"], card.mean * f)
                if a.evaluate(tx).decision == a.allow:
                    chosen = (changed, f, tx)
                    break
            if chosen is not None:
                break
        if chosen is None:
            continue
        changed, f, tx = chosen
        a.note(f"changed {'+'.join(changed) or 'nothing'}; amount {f:g}x")
        yield tx


def _subsets(names: tuple[str, ...]) -> list[tuple[str, ...]]:
    from itertools import combinations

    return [c for k in range(len(names) + 1) for c in combinations(names, k)]


def warm_up(v: Victim, a: Attack) -> Plan:
    """Familiarity poisoning: 3 days of $2-5 purchases at 3 new terminals (2 a day), then 2x
    the usual amount at those terminals, 3 a day; careful, one device throughout."""
    card = _card(v)
    who = _identity(a, card, careful=True)
    terminals = a.pick("terminal_id", 3)
    for day in range(3):
        for t in sorted(_daytime(a, day) for _ in range(2)):
            yield _tx(a, card, who, t, str(a.rng.choice(terminals)), a.rng.uniform(2, 5))
    for day in (3, 4):
        for t in sorted(_daytime(a, day) for _ in range(3)):
            yield _tx(a, card, who, t, str(a.rng.choice(terminals)), 2 * card.mean)


def _mimic(v: Victim, a: Attack, *, replay: bool) -> Plan:
    card = _card(v)
    who = _identity(a, card, careful=True, replay=replay)
    factor = 1.0
    for day in range(5):
        for t in sorted(_usual_time(a, card, day) for _ in range(2)):
            amount = float(a.rng.choice(card.amounts)) * factor
            response = yield _tx(a, card, who, max(t, 0.0), _own_terminal(a, card), amount)
            if response.decision != a.allow and {
                "AMOUNT_UNUSUAL",
                "SPENDING_SPIKE",
            } & set(response.reasons):
                factor *= 0.7


def mimicry(v: Victim, a: Attack) -> Plan:
    """Grey box: the card's own terminals, amounts and hours, 2 a day, from the attacker's own
    device through a proxy in the card's country, the victim's email domain and shipping
    country; after a flag whose reason names the amount, it buys smaller."""
    return _mimic(v, a, replay=False)


def mimicry_replayed_device(v: Victim, a: Attack) -> Plan:
    """Grey box: as mimicry, from the victim's own device (malware or a stolen cookie; its own
    device where the victim never bought online), through a proxy in the card's country."""
    return _mimic(v, a, replay=True)


def card_testing(v: Victim, a: Attack) -> Plan:
    """Card testing under the starter rules' caps: 4 authorisations of $0-1 at a new terminal,
    at least 20 min apart (under 5 an hour), then 2 purchases of 5x the usual amount the next
    day at other new terminals; careless."""
    card = _card(v)
    who = _identity(a, card, careful=False)
    tester, *cash = a.pick("terminal_id", 3)
    t = _daytime(a, 0)
    for _ in range(4):
        yield _tx(a, card, who, t, tester, a.rng.choice([0.0, 1.0]))
        t += float(a.rng.uniform(20, 40)) * 60
    for terminal in cash:
        yield _tx(a, card, who, _daytime(a, 1), terminal, 5 * card.mean)


STRATEGIES: dict[str, Strategy] = {
    s.name: s
    for s in (
        Strategy.of(naive_spree, "black", CONTROLS),
        Strategy.of(burst, "black", CONTROLS),
        Strategy.of(velocity_shaping, "black", CONTROLS),
        Strategy.of(amount_splitting, "black", CONTROLS),
        Strategy.of(terminal_hopping, "black", CONTROLS),
        Strategy.of(threshold_probing, "black", CONTROLS),
        Strategy.of(warm_up, "black", CONTROLS),
        Strategy.of(card_testing, "black", CONTROLS),
        Strategy.of(reason_guided, "grey", CONTROLS),
        Strategy.of(mimicry, "grey", CONTROLS),
        Strategy.of(mimicry_replayed_device, "grey", CONTROLS),
        Strategy.of(model_guided, "white", CONTROLS),
    )
}


THEATRE = Theatre(
    kind="transaction",
    entity="customer_id",
    entity_name="card",
    gain_name="money",
    gain=lambda tx: float(tx.amount),
    counted=lambda tx: True,
    strategies=STRATEGIES,
    trained=(
        "naive_spree",
        "burst",
        "amount_splitting",
        "warm_up",
        "terminal_hopping",
        "card_testing",
    ),
    # Every field of a transaction but its id and time: the victims' own traffic keeps them.
    traffic_columns=tuple(
        f.name
        for f in dataclasses.fields(Transaction)
        if f.name not in ("transaction_id", "timestamp")
    ),
    attack_labels=("is_fraud",),
    attached=(("terminal_id", "merchant_category"), ("asn", "ip_country"), ("ip", "asn")),
)
