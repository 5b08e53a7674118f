"""The login red team: every built-in attacker through the real scorer, and known outcomes."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field, replace
from datetime import timedelta
from itertools import pairwise
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from fraudscore import starter_rules
from fraudscore._kinds import LOGIN
from fraudscore._kinds.login.events import Login
from fraudscore._kinds.login.redteam import CONTROLS, STRATEGIES, THEATRE
from fraudscore._kinds.login.simulate import HOSTING_ASNS, VPN_ASNS
from fraudscore._redteam import Attack, RedTeamReport, Response, Strategy, Victim, run_red_team
from fraudscore._training.pipeline import to_events

from .conftest import LOGIN_CUTOFF

VICTIMS = 10
DAYS = 2.0
START = LOGIN_CUTOFF.to_pydatetime()
END = START + timedelta(days=DAYS)


@dataclass
class Sent:
    """One attacker's side of one run, as its plan saw it."""

    strategy: str
    victim: Victim
    events: list[Login] = field(default_factory=list)
    responses: list[Response] = field(default_factory=list)

    @property
    def scored(self) -> list[Login]:
        """The events the harness took: those inside the attack's window (the first after it
        ends the attack)."""
        return [e for e in self.events if e.timestamp < END]

    @property
    def blocked(self) -> bool:
        """Whether the attack was ended by a block: a scored event that got no response."""
        return len(self.responses) < len(self.scored)


def spied(strategy: Strategy, log: list[Sent]) -> Strategy:
    """``strategy`` with a plan that logs every event it yields and every response it gets."""

    def plan(victim: Victim, attack: Attack) -> Iterator[Any]:
        sent = Sent(strategy.name, victim)
        log.append(sent)
        inner = strategy.plan(victim, attack)
        try:
            event = next(inner)
            while True:
                sent.events.append(event)
                response = yield event
                sent.responses.append(response)
                event = inner.send(response)
        except StopIteration:
            return

    return replace(strategy, plan=plan)


@pytest.fixture(scope="module")
def history(login_sim: pd.DataFrame) -> pd.DataFrame:
    """The events the store folded: those before its cutoff (labelled attacks included; the
    harness leaves them out of the victims' habits and traffic)."""
    return login_sim[login_sim["timestamp"] < LOGIN_CUTOFF]


@pytest.fixture(scope="module")
def every_strategy(
    login_bundle_dir: Path, built_login_repo: Path, history: pd.DataFrame
) -> tuple[RedTeamReport, list[Sent]]:
    """Every built-in login strategy, model alone then with the starter rules, spied on."""
    log: list[Sent] = []
    theatre = replace(THEATRE, strategies={n: spied(s, log) for n, s in STRATEGIES.items()})
    report = run_red_team(
        theatre,
        _bundle(login_bundle_dir),
        built_login_repo,
        history,
        victims=VICTIMS,
        days=DAYS,
        start=START,
        rules=starter_rules("login"),
    )
    return report, log


def _bundle(path: Path) -> Any:
    from fraudscore._model.bundle import load_bundle

    return load_bundle(path)


def _runs(log: list[Sent], name: str) -> tuple[list[Sent], list[Sent]]:
    """A strategy's attackers, model alone then with rules (each run opens them in order)."""
    mine = [s for s in log if s.strategy == name]
    return mine[: len(mine) // 2], mine[len(mine) // 2 :]


def _own(sent: Sent) -> pd.DataFrame:
    h = sent.victim.history
    return h[h["success"].astype(bool)]


def test_login_strategies_are_registered_with_their_knowledge() -> None:
    """Every issue-listed login attacker is registered, documented, with the login controls."""
    assert {
        "naive_stuffing",
        "vpn_in_country",
        "targeted",
        "device_replay",
        "slow_stuffing",
        "post_takeover_warmup",
    } <= set(STRATEGIES)
    for name, s in STRATEGIES.items():
        assert s.name == name and s.description and s.controls == CONTROLS
    assert STRATEGIES["reason_guided"].knowledge == "grey"
    assert STRATEGIES["targeted"].knowledge == "black"


def test_every_strategy_attacks_every_victim_in_both_settings(
    every_strategy: tuple[RedTeamReport, list[Sent]],
) -> None:
    """Each strategy sends at least one attempt against each of the same victims, per setting."""
    _, log = every_strategy
    victims = {s.victim.entity for s in log}
    assert len(victims) == VICTIMS
    for name in STRATEGIES:
        for run in _runs(log, name):
            assert sorted(s.victim.entity for s in run) == sorted(victims), name
            assert all(s.events for s in run), name


def test_attempts_are_new_logins_of_the_victim_moving_forward(
    every_strategy: tuple[RedTeamReport, list[Sent]],
) -> None:
    """Every attempt is a valid login of its victim, after the start, later than the previous
    one, with an id of its own, and at least one per attacker is the right password."""
    _, log = every_strategy
    for sent in log:
        times = [e.timestamp for e in sent.events]
        assert all(isinstance(e, Login) for e in sent.events)
        assert {e.user_id for e in sent.events} == {sent.victim.entity}
        assert times[0] >= START and all(b > a for a, b in pairwise(times))
        assert any(e.success for e in sent.events) or sent.blocked, sent.strategy
    for name in STRATEGIES:
        for run in _runs(log, name):
            per_run = [e.login_id for s in run for e in s.events]
            assert len(per_run) == len(set(per_run)), name


def test_only_grey_box_attackers_see_reasons(
    every_strategy: tuple[RedTeamReport, list[Sent]],
) -> None:
    """Black-box attackers get decisions without reasons; the grey-box one gets reason codes."""
    _, log = every_strategy
    for sent in log:
        if STRATEGIES[sent.strategy].knowledge == "black":
            assert all(r.reasons == () for r in sent.responses), sent.strategy
    grey = [r for s in log if s.strategy == "reason_guided" for r in s.responses]
    assert any(r.reasons for r in grey if r.decision != "allow")


def test_strategies_send_what_they_describe(
    every_strategy: tuple[RedTeamReport, list[Sent]],
) -> None:
    """Each strategy sets its controls as documented, against the victim's own logins."""
    _, log = every_strategy
    for sent in log:
        own, ev = _own(sent), sent.events
        home, isp = own["country"].mode().iloc[0], own["asn"].mode().iloc[0]
        ips, devices = set(sent.victim.history["ip"]), set(own["device_id"].dropna())
        assert not {e.ip for e in ev} & ips, sent.strategy  # a new address, always
        if sent.strategy in ("naive_stuffing", "slow_stuffing"):
            assert all(e.asn in HOSTING_ASNS and e.country != home for e in ev)
            assert all(e.device_id is None for e in ev)
            assert not any(e.success for e in ev[:-1])  # wrong passwords, then the right one
            assert ev[-1].success or sent.blocked  # unless a wrong one was denied
        if sent.strategy == "slow_stuffing":
            assert len(ev) >= 4 or sent.blocked
            gaps = np.diff([e.timestamp.timestamp() for e in ev])
            assert all(gaps >= 2 * 3600)  # one failure an hour at most: under the caps
        if sent.strategy == "vpn_in_country":
            assert all(e.asn in VPN_ASNS and e.country == home for e in ev)
        if sent.strategy in ("targeted", "post_takeover_warmup"):
            assert all(e.country == home and e.asn == isp for e in ev)
            assert not {e.device_id for e in ev} & devices
        if sent.strategy == "targeted":
            assert not ev[0].success  # a wrong password or two first
        if sent.strategy == "device_replay":
            assert all(e.device_id in devices and e.asn == isp for e in ev)
        if sent.strategy == "post_takeover_warmup":
            assert len({(e.device_id, e.ip) for e in ev}) == 1  # the same device and IP
            assert all(e.success for e in ev)


def test_results_count_what_each_attacker_sent_and_got(
    every_strategy: tuple[RedTeamReport, list[Sent]],
) -> None:
    """Per strategy and setting: attempts, per-victim takeovers, flags and blocks are those of
    the attempts the spy saw, and every share lies in [0, 1]."""
    report, log = every_strategy
    assert {(r.strategy, r.rules) for r in report.results} == {
        (n, rules) for n in STRATEGIES for rules in (False, True)
    }
    for name in STRATEGIES:
        for rules, run in zip((False, True), _runs(log, name), strict=True):
            r = report.result(name, rules=rules)
            assert r.victims == VICTIMS and r.attempts == sum(len(s.scored) for s in run)
            assert r.queries == pytest.approx(r.attempts / VICTIMS)
            for share in (r.flagged, r.blocked, r.victims_hit, r.victim_false_flags):
                assert 0.0 <= share <= 1.0
            assert r.blocked <= r.flagged and 0.0 <= r.clean_false_flags <= 1.0
            for sent, (gain, normal, attempts, flagged, blocked) in zip(
                sorted(run, key=lambda s: s.victim.entity), r.per_victim, strict=True
            ):
                answered = list(zip(sent.events, sent.responses, strict=False))
                assert attempts == len(sent.scored) and blocked == sent.blocked
                assert gain == sum(e.success and x.decision == "allow" for e, x in answered)
                assert flagged == sum(x.decision != "allow" for x in sent.responses) + blocked
                assert normal == pytest.approx(sent.victim.normal_per_day * DAYS)


def replay_own(v: Victim, a: Attack) -> Iterator[Login]:
    """A hand-built attacker that sends the victim's own past successful logins again (its IP,
    network, device, browser, location and round trip), at their times of day, at its rate."""
    own = v.history[v.history["success"].astype(bool)]
    rows = to_events(own, LOGIN)
    tod = (own["timestamp"] - own["timestamp"].dt.normalize()).dt.total_seconds().to_numpy()
    for day in range(int(DAYS)):
        picks = a.rng.choice(len(rows), size=max(1, int(a.rng.poisson(len(rows) / 30))))
        for j in sorted(picks, key=lambda j: tod[j]):
            yield replace(rows[j], login_id=a.new_id(), timestamp=a.at(day * 86400 + tod[j]))


def test_known_outcomes_replay_passes_like_the_victim_naive_stuffing_does_not(
    login_bundle_dir: Path, built_login_repo: Path, history: pd.DataFrame
) -> None:
    """The victim's own logins replayed are flagged about as rarely as its own traffic, each
    allowed one a takeover; naive stuffing from a data centre abroad is flagged far more."""
    replay = Strategy("replay_own", "black", CONTROLS, "the victim's own logins", replay_own)
    theatre = replace(
        THEATRE, strategies={"replay_own": replay, "naive_stuffing": STRATEGIES["naive_stuffing"]}
    )
    report = run_red_team(
        theatre,
        _bundle(login_bundle_dir),
        built_login_repo,
        history,
        victims=VICTIMS,
        days=DAYS,
        start=START,
    )
    mimic, naive = report.result("replay_own"), report.result("naive_stuffing")
    own = mimic.clean_false_flags
    assert mimic.attempts >= 2 * VICTIMS and own <= 0.1
    assert mimic.flagged <= own + 0.1
    assert naive.flagged >= 0.9 and naive.flagged >= own + 0.5
    assert mimic.victims_hit >= 0.9 and naive.victims_hit <= 0.2
    ratios = [g / n for g, n, *_ in mimic.per_victim if n > 0]
    for gain, _, attempts, flagged, _ in mimic.per_victim:
        assert gain == attempts - flagged  # every attempt is the right password
    assert mimic.gain_vs_normal_median == pytest.approx(np.median(ratios))
