"""Attackers of card transactions: a stolen card, used against the defence for a few days.

Each strategy may set the amount, the time, the terminal and the channel (``CONTROLS``); the
card is the victim's. They know the victim's own past purchases (its terminals, amounts and
hours: a stolen statement or a phished account), and what the defence tells them: the decision
(black box), the reason codes too (grey box), or the whole bundle and the card's state (white
box). Times are seconds from the attack's start (midnight of its first day).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from fraudscore._kinds.transaction.events import Transaction
from fraudscore._redteam.harness import Attack, Plan, Strategy, Theatre, Victim

__all__ = ["CONTROLS", "STRATEGIES", "THEATRE"]

CONTROLS = ("amount", "timestamp", "terminal_id", "channel")
HOUR = 3600.0
DAY = 86400.0


@dataclass(frozen=True, slots=True)
class _Card:
    """What the attacker knows of the victim's card, from its past purchases."""

    terminals: tuple[str, ...]  # most used first
    weights: np.ndarray
    amounts: np.ndarray
    mean: float
    seconds: np.ndarray  # times of day of its purchases
    channel: str | None
    currency: str | None


def _card(v: Victim) -> _Card:
    h = v.history
    counts = h["terminal_id"].value_counts()
    tod = (h["timestamp"] - h["timestamp"].dt.normalize()).dt.total_seconds().to_numpy()
    channel = h["channel"].mode().iloc[0] if "channel" in h and h["channel"].notna().any() else None
    currency = (
        h["currency"].mode().iloc[0] if "currency" in h and h["currency"].notna().any() else None
    )
    amounts = h["amount"].to_numpy(dtype=float)
    return _Card(
        tuple(counts.index),
        (counts / counts.sum()).to_numpy(),
        amounts,
        float(max(amounts.mean(), 1.0)),
        tod,
        channel,
        currency,
    )


def _tx(
    a: Attack, card: _Card, at: float, terminal: str, amount: float, channel: str | None
) -> Transaction:
    return Transaction(
        a.new_id(),
        a.at(at),
        a.victim.entity,
        terminal,
        round(max(float(amount), 0.0), 2),
        currency=card.currency,
        channel=channel,
    )


def _own_terminal(a: Attack, card: _Card) -> str:
    return str(a.rng.choice(card.terminals, p=card.weights))


def _usual_time(a: Attack, card: _Card, day: int) -> float:
    return day * DAY + float(a.rng.choice(card.seconds)) + float(a.rng.normal(0, 900))


def _daytime(a: Attack, day: int) -> float:
    return day * DAY + float(a.rng.uniform(9, 20)) * HOUR


def naive_spree(v: Victim, a: Attack) -> Plan:
    """8 purchases within 3 hours at night, at new terminals, online, 3-6x the usual amount."""
    card = _card(v)
    t = float(a.rng.uniform(1, 3)) * HOUR
    for terminal in a.pick("terminal_id", 8):
        yield _tx(a, card, t, terminal, card.mean * a.rng.uniform(3, 6), "online")
        t += float(a.rng.uniform(5, 22)) * 60


def burst(v: Victim, a: Attack) -> Plan:
    """40 purchases 90 s apart at the card's own terminals, usual amounts and channel: a
    velocity far beyond anything in training."""
    card = _card(v)
    t = _daytime(a, int(a.rng.integers(0, 2)))
    for _ in range(40):
        yield _tx(a, card, t, _own_terminal(a, card), a.rng.choice(card.amounts), card.channel)
        t += 90.0


def velocity_shaping(v: Victim, a: Attack) -> Plan:
    """Throttled: 2 purchases a day in daytime at new terminals, 1.5x the usual amount."""
    card = _card(v)
    terminals = iter(a.pick("terminal_id", 10))
    for day in range(5):
        for t in sorted(_daytime(a, day) for _ in range(2)):
            yield _tx(a, card, t, next(terminals), card.mean * 1.5, "online")


def amount_splitting(v: Victim, a: Attack) -> Plan:
    """Each day, 5x the usual amount split into purchases of 0.6-1x it, 30-60 min apart, at
    two new terminals."""
    card = _card(v)
    terminals = a.pick("terminal_id", 2)
    for day in range(5):
        t, spent = _daytime(a, day), 0.0
        while spent < 5 * card.mean:
            amount = card.mean * a.rng.uniform(0.6, 1.0)
            yield _tx(a, card, t, terminals[int(a.rng.integers(2))], amount, card.channel)
            spent += amount
            t += float(a.rng.uniform(30, 60)) * 60


def terminal_hopping(v: Victim, a: Attack) -> Plan:
    """4 purchases a day in daytime, each at another new terminal, usual amounts."""
    card = _card(v)
    terminals = iter(a.pick("terminal_id", 20))
    for day in range(5):
        for t in sorted(_daytime(a, day) for _ in range(4)):
            yield _tx(a, card, t, next(terminals), a.rng.choice(card.amounts), card.channel)


def threshold_probing(v: Victim, a: Attack) -> Plan:
    """Black box: 5x the usual amount at a new terminal; after each refusal, 0.6x that at
    another new terminal; after an approval, the same amount at the same terminal again."""
    card = _card(v)
    terminals = iter(a.pick("terminal_id", 30))
    terminal, amount, t = next(terminals), 5 * card.mean, _daytime(a, 0)
    for _ in range(25):
        response = yield _tx(a, card, t, terminal, amount, "online")
        if response.decision != a.allow:
            amount *= 0.6
            terminal = next(terminals)
        t += float(a.rng.uniform(10, 30)) * 60


#: What a grey-box attacker changes when a reason code shows: the control it points at.
_FIXES = {
    "AMOUNT_UNUSUAL": "amount",
    "SPENDING_SPIKE": "amount",
    "CARD_VELOCITY": "wait",
    "CARD_HISTORY": "wait",
    "NEW_TERMINAL_FOR_CARD": "own_terminal",
    "TERMINAL_FRAUD": "new_terminal",
    "TERMINAL_VELOCITY": "new_terminal",
    "UNUSUAL_TIME": "usual_time",
    "CARD_NOT_PRESENT": "card_present",
}


def reason_guided(v: Victim, a: Attack) -> Plan:
    """Grey box: starts as a spree (new terminal, 3x, online, at night); every reason code it
    is shown moves the control it names (a lower amount, a wait, the card's own terminal, its
    usual hour, card present) until purchases go through, then keeps buying."""
    card = _card(v)
    terminal, channel = a.pick("terminal_id", 1)[0], "online"
    factor, t, usual = 3.0, float(a.rng.uniform(1, 3)) * HOUR, False
    for _ in range(25):
        at = _usual_time(a, card, int(t // DAY)) if usual else t
        at = max(at, t)
        response = yield _tx(a, card, at, terminal, card.mean * factor, channel)
        t = at + float(a.rng.uniform(20, 60)) * 60
        if response.decision == a.allow:
            continue
        for code in response.reasons:
            fix = _FIXES.get(code)
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
            elif fix == "card_present":
                channel = "pos"


def model_guided(v: Victim, a: Attack) -> Plan:
    """White box: 10 purchases, 2 a day. For each, of the changes to a spree purchase (new
    terminal, 4x, online, at night) it tries the smallest first: one control, then two, then
    three, each amount from 4x down, and sends the richest one the defence would approve."""
    card = _card(v)
    new = a.pick("terminal_id", 10)
    grid = (4.0, 3.0, 2.0, 1.5, 1.0, 0.7, 0.5, 0.3)
    for n in range(10):
        day = n // 2
        night = day * DAY + float(a.rng.uniform(1, 4)) * HOUR + (n % 2) * 3 * HOUR
        usual = max(_usual_time(a, card, day), night)
        base = {"terminal": new[n], "channel": "online", "at": night}
        options = {
            "terminal": _own_terminal(a, card),
            "channel": card.channel or "pos",
            "at": usual,
        }
        chosen = None
        for changed in _subsets(tuple(options)):
            fields = base | {k: options[k] for k in changed}
            for f in grid:
                tx = _tx(
                    a, card, fields["at"], fields["terminal"], card.mean * f, fields["channel"]
                )
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
    the usual amount at those terminals, 3 a day."""
    card = _card(v)
    terminals = a.pick("terminal_id", 3)
    for day in range(3):
        for t in sorted(_daytime(a, day) for _ in range(2)):
            yield _tx(a, card, t, str(a.rng.choice(terminals)), a.rng.uniform(2, 5), card.channel)
    for day in (3, 4):
        for t in sorted(_daytime(a, day) for _ in range(3)):
            yield _tx(a, card, t, str(a.rng.choice(terminals)), 2 * card.mean, card.channel)


def mimicry(v: Victim, a: Attack) -> Plan:
    """Grey box: the card's own terminals, amounts and hours, 2 a day; after a flag whose reason
    names the amount, it buys smaller."""
    card = _card(v)
    factor = 1.0
    for day in range(5):
        for t in sorted(_usual_time(a, card, day) for _ in range(2)):
            amount = float(a.rng.choice(card.amounts)) * factor
            response = yield _tx(a, card, max(t, 0.0), _own_terminal(a, card), amount, card.channel)
            if response.decision != a.allow and {
                "AMOUNT_UNUSUAL",
                "SPENDING_SPIKE",
            } & set(response.reasons):
                factor *= 0.7


def card_testing(v: Victim, a: Attack) -> Plan:
    """Card testing under the starter rules' caps: 4 authorisations of $0-1 online at a new
    terminal, at least 20 min apart (under 5 an hour), then 2 purchases of 5x the usual amount
    the next day at other new terminals."""
    card = _card(v)
    tester, *cash = a.pick("terminal_id", 3)
    t = _daytime(a, 0)
    for _ in range(4):
        yield _tx(a, card, t, tester, a.rng.choice([0.0, 1.0]), "online")
        t += float(a.rng.uniform(20, 40)) * 60
    for terminal in cash:
        yield _tx(a, card, _daytime(a, 1), terminal, 5 * card.mean, "online")


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
    traffic_columns=(
        "customer_id",
        "terminal_id",
        "amount",
        "currency",
        "channel",
        "device_id",
        "ip",
        "country",
    ),
    attack_labels=("is_fraud",),
)
