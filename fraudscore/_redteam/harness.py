"""The red-team harness: adaptive attackers replayed through the real scorer.

An attack is a sequence of real events that goes through the real path: ``Scorer.score`` (with
the rules and lists in service), then ``Scorer.record``, on a private copy of the online store,
with the victims' own traffic interleaved and no label arriving (the attack fits inside the
label delay). Every event, the attacker's and the victim's, is scored then recorded, in time
order, as a service does.

A :class:`Strategy` is a generator: it yields an event and is sent back what the defence
returned (a :class:`Response`: the decision, and the reason codes for a grey-box attacker), then
yields its next event, and so on. What it knows is its ``knowledge``: ``black`` (the decision),
``grey`` (and the reason codes, which services return and so leak) or ``white`` (the bundle and
the victim's state: it may evaluate candidates on the scorer without recording them, an
insider's upper bound). It may change only its ``controls``; it never changes an entity's past:
its events are new, later than every event it sent before, and of its victim.

Outcomes, in a fraud team's units (per victim, then the median over victims):

- an allowed attempt (the first decision) gets the attacker its ``gain`` (the amount; a
  takeover); a reviewed or challenged one is held and gets nothing, and the attacker goes on;
  a blocked one (the third decision) ends the attack: the card or account is blocked;
- the gain is counted before the first block, and reported in units of the victim's normal
  activity over the same days (its spend; its successful logins), from its history;
- false flags: the victims' own events flagged during the attack (from its attacker's first
  attempt until the card or account is blocked, later events not being on it, or the window
  ends), beside the same events in the clean run (the victims' traffic alone, no attack): what
  the attack adds to what the cardholders meet anyway;
- queries: the attempts the attacker sent.
"""

from __future__ import annotations

import heapq
import math
import shutil
import tempfile
from collections import Counter
from collections.abc import Callable, Generator, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import numpy as np

from fraudscore._errors import ConfigError, EventValidationError
from fraudscore._kinds import EventKind, kind_spec

if TYPE_CHECKING:
    import pandas as pd

    from fraudscore._model.bundle import Thresholds
    from fraudscore._serving.rules import RuleSet
    from fraudscore._serving.scorer import Scorer, ScoreResult

__all__ = [
    "KNOWLEDGE",
    "Attack",
    "RedTeamReport",
    "Response",
    "Strategy",
    "StrategyResult",
    "Theatre",
    "Victim",
    "attack_examples",
    "run_red_team",
]

Knowledge = Literal["black", "grey", "white"]
KNOWLEDGE: tuple[str, ...] = ("black", "grey", "white")

#: What a strategy's generator is: it yields events, is sent responses.
Plan = Generator[Any, "Response", None]


@dataclass(frozen=True, slots=True)
class Response:
    """What the attacker sees of one attempt: the decision, and the reason codes when it is
    grey or white box (empty for black box)."""

    decision: str
    reasons: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class Victim:
    """A victim as the attacker may know it: its id and its own past events (a frame)."""

    entity: str
    history: pd.DataFrame
    #: The victim's normal gain per day (spend; successful logins), from its history.
    normal_per_day: float


@dataclass(frozen=True)
class Strategy:
    """An attacker: what it knows, what it may change, and its plan."""

    name: str
    knowledge: Knowledge
    #: The event fields it may set (all else comes from the victim: its card, its account).
    controls: tuple[str, ...]
    description: str
    #: ``plan(victim, attack)``: a generator of events, sent a :class:`Response` after each.
    plan: Callable[[Victim, Attack], Plan]

    def __post_init__(self) -> None:
        if self.knowledge not in KNOWLEDGE:
            raise ConfigError("knowledge", self.knowledge, f"one of {list(KNOWLEDGE)}")

    @classmethod
    def of(
        cls, plan: Callable[[Victim, Attack], Plan], knowledge: Knowledge, controls: tuple[str, ...]
    ) -> Strategy:
        """A strategy named after its plan function, described by its docstring."""
        doc = " ".join((plan.__doc__ or "").split())
        return cls(plan.__name__, knowledge, controls, doc, plan)


@dataclass(frozen=True)
class Theatre:
    """What the harness needs to know about a kind to attack it (one per kind)."""

    kind: str
    #: The column of the attacked entity (the card; the account).
    entity: str
    #: Its name and the gain's unit, for tables: ("card", "money"), ("account", "takeovers").
    entity_name: str
    gain_name: str
    #: What an allowed event gets the attacker (the amount; 1 for a successful login).
    gain: Callable[[Any], float]
    #: Whether an attempt counts in the flagged share (logins: only correct credentials).
    counted: Callable[[Any], bool]
    strategies: Mapping[str, Strategy]
    #: Columns that the victims' resampled traffic keeps from their past events.
    traffic_columns: tuple[str, ...]
    #: The label columns that mark a history row as an attack (the victims' own traffic and
    #: habits are their other rows): ``is_fraud``; ``is_ato`` and ``is_attack_ip``.
    attack_labels: tuple[str, ...] = ()
    #: The strategies that ``attack_examples`` trains against by default (the rest are held
    #: out, to measure a hardened model on attacks it never saw); empty: no hardening.
    trained: tuple[str, ...] = ()
    #: How many cards or accounts a day ``attack_examples`` attacks by default.
    examples_per_day: float = 2.0
    #: ``(column, field)`` pairs where a value of ``column`` comes with one of ``field`` (a
    #: terminal's merchant category, a network's country): ``Attack.follows`` looks it up.
    attached: tuple[tuple[str, str], ...] = ()

    @property
    def spec(self) -> EventKind:
        """The kind attacked: its event type, ids, decisions."""
        return kind_spec(self.kind)


class Attack:
    """One attacker's side of the run: its clock, its randomness, fresh ids, and (white box)
    an oracle. Strategies build their events through it."""

    def __init__(
        self,
        theatre: Theatre,
        victim: Victim,
        start: datetime,
        rng: np.random.Generator,
        pool: Mapping[str, Any],
        oracle: Callable[[Any], ScoreResult] | None,
        decisions: tuple[str, str, str],
    ) -> None:
        self.theatre = theatre
        self.victim = victim
        self.start = start
        self.rng = rng
        #: Values seen in history that the attacker can pick (terminals, IPs, ...), and the
        #: theatre's ``attached`` lookups (``"column->field"``: a dict).
        self.pool = pool
        self._oracle = oracle
        #: The decision that lets an attempt through (approve; allow).
        self.allow = decisions[0]
        #: What the strategy says it did (a white-box attacker's smallest change), counted.
        self.notes: list[str] = []
        self._n = 0
        self._clock = -1.0

    def new_id(self) -> str:
        self._n += 1
        return f"rt-{self.victim.entity}-{self._n}"

    def at(self, seconds: float) -> datetime:
        """The instant ``seconds`` after the attack started, to the second. The attacker's clock
        only moves forward: an instant before its previous event's becomes a second after it."""
        self._clock = max(float(round(seconds)), self._clock + 1.0)
        return self.start + timedelta(seconds=self._clock)

    def pick(self, name: str, n: int = 1) -> list[Any]:
        """``n`` distinct values of the pool ``name`` that the victim never used."""
        own = set(self.victim.history[name].dropna()) if name in self.victim.history else set()
        values = self.pool[name]
        out: list[Any] = []
        for i in self.rng.permutation(len(values)):
            if values[i] not in own:
                out.append(values[i])
                if len(out) == n:
                    break
        return out

    def follows(self, column: str, value: Any, name: str) -> Any:
        """The ``name`` that comes with this ``column`` value in history (a terminal's merchant
        category), None when history never gave one; ``(column, name)`` is one of the theatre's
        ``attached`` pairs."""
        return self.pool[f"{column}->{name}"].get(value)

    def note(self, what: str) -> None:
        self.notes.append(what)

    def evaluate(self, event: Any) -> ScoreResult:
        """White box only: the defence's result on ``event``, without sending it (no record,
        no query counted)."""
        if self._oracle is None:
            raise ConfigError("knowledge", "black/grey", "a white-box strategy to evaluate")
        return self._oracle(event)


@dataclass(frozen=True, slots=True)
class StrategyResult:
    """One strategy's outcome over every victim, with or without rules in service."""

    strategy: str
    knowledge: str
    rules: bool
    victims: int
    attempts: int
    #: Shares of the counted attempts that were flagged (any decision but the first), blocked
    #: (NaN when no attempt counted, e.g. every attacker stopped on a wrong password).
    flagged: float
    blocked: float
    #: Share of victims whose attacker was blocked (the card or account then blocked).
    stopped: float
    #: Median over victims of the gain before the first block, absolute and in units of the
    #: victim's normal activity over the same days.
    gain_median: float
    gain_vs_normal_median: float
    #: Share of victims from whom the attacker got anything.
    victims_hit: float
    #: The victims' own events flagged during the attack (from the attacker's first attempt
    #: on the card or account until it is blocked or the window ends), and the same events'
    #: share flagged in the clean run (no attack); how many events that is.
    victim_false_flags: float
    clean_false_flags: float
    #: Attempts per victim (mean): the query budget used.
    queries: float
    #: What the attackers noted (a white-box attacker's changes), most common first.
    notes: tuple[tuple[str, int], ...] = ()
    #: The victims' own events during the attack (the false flags' denominator).
    victim_events: int = 0
    #: Per victim: (gain, normal activity over the days, attempts, flagged attempts, blocked).
    per_victim: tuple[tuple[float, float, int, int, bool], ...] = field(repr=False, default=())


@dataclass(frozen=True)
class RedTeamReport:
    """Every strategy's :class:`StrategyResult` (model alone, and with rules when given)."""

    kind: str
    entity_name: str
    gain_name: str
    days: float
    results: tuple[StrategyResult, ...]

    def result(self, strategy: str, *, rules: bool = False) -> StrategyResult:
        for r in self.results:
            if r.strategy == strategy and r.rules == rules:
                return r
        raise ConfigError(
            "strategy", strategy, f"one of {sorted({r.strategy for r in self.results})}"
        )

    def rows(self) -> tuple[list[str], list[list[str]]]:
        """(header, rows): one row per strategy and rules setting, as text."""
        header = [
            "attacker",
            "knows",
            "rules",
            "flagged",
            "blocked",
            "attackers stopped",
            f"{self.gain_name} per {self.entity_name} (median)",
            f"x normal {self.days:g}-day activity",
            "victims hit",
            "victims' own flagged during the attack (same events, no attack)",
            "attempts per victim",
        ]
        rows = [
            [
                r.strategy,
                r.knowledge,
                "yes" if r.rules else "no",
                _share(r.flagged),
                _share(r.blocked),
                f"{r.stopped:.0%}",
                f"{r.gain_median:,.2f}",
                f"{r.gain_vs_normal_median:.2f}",
                f"{r.victims_hit:.0%}",
                f"{r.victim_false_flags:.1%} of {r.victim_events} ({r.clean_false_flags:.1%})",
                f"{r.queries:.1f}",
            ]
            for r in self.results
        ]
        return header, rows

    def table(self) -> str:
        """A Markdown table, one row per strategy and rules setting."""
        header, rows = self.rows()
        lines = ["| " + " | ".join(header) + " |", "|---|---|---|" + "---:|" * 8]
        lines += ["| " + " | ".join(row) + " |" for row in rows]
        return "\n".join(lines)


def _share(x: float) -> str:
    return "n/a" if math.isnan(x) else f"{x:.1%}"


def private_store(repo: str | Path, into: Path) -> Path:
    """A copy of a SQLite-backed Feast repo that the attack may write to."""
    src = Path(repo)
    text = (src / "feature_store.yaml").read_text() if (src / "feature_store.yaml").exists() else ""
    if "type: sqlite" not in text:
        raise ConfigError(
            "repo",
            str(src),
            "a Feast repo on the embedded SQLite online store (the harness attacks a private "
            "copy of it; copy a Redis store into one with build_store first)",
        )
    dst = into / "feature_repo"
    shutil.copytree(src, dst, ignore=shutil.ignore_patterns("__pycache__", "*-wal", "*-shm"))
    return dst


def pick_victims(
    theatre: Theatre,
    history: pd.DataFrame,
    n: int,
    start: datetime,
    seed: int,
    exclude: Iterable[str] = (),
    *,
    required: bool = True,
) -> list[Victim]:
    """``n`` entities active in the 30 days before ``start`` (at least 5 events), at random,
    none of ``exclude`` (the victims of the attacks a model was trained on). None there: an
    error, or (not ``required``) no victims."""
    import pandas as pd

    own = genuine(theatre, history)
    t = own["timestamp"]
    begin = pd.Timestamp(start)
    recent = own[(t >= begin - pd.Timedelta(days=30)) & (t < begin)]
    counts = recent[theatre.entity].value_counts()
    banned = set(exclude)
    active = sorted(e for e in counts[counts >= 5].index if e not in banned)
    if not active and not required:
        return []
    if not active:
        raise EventValidationError(
            "history", len(history), f"{theatre.entity_name}s with 5 events in the last 30 days"
        )
    rng = np.random.default_rng(seed)
    chosen = [active[i] for i in sorted(rng.choice(len(active), min(n, len(active)), False))]
    theirs = recent[recent[theatre.entity].isin(set(chosen))]
    by_entity = dict(tuple(theirs.groupby(theatre.entity, sort=False)))
    victims = []
    for entity in chosen:
        rows = by_entity[entity]
        gain = sum(theatre.gain(e) for e in _events(theatre, rows))
        victims.append(Victim(entity, rows, gain / 30.0))
    return victims


def genuine(theatre: Theatre, history: pd.DataFrame) -> pd.DataFrame:
    """The rows of ``history`` that no attack label marks: the entities' own events."""
    attack = np.zeros(len(history), dtype=bool)
    for column in theatre.attack_labels:
        if column in history:
            attack |= history[column].fillna(0).to_numpy().astype(bool)
    return history[~attack] if attack.any() else history


def victim_traffic(
    theatre: Theatre, victims: Sequence[Victim], start: datetime, days: float, seed: int
) -> list[Any]:
    """The victims' own events over the attack: each day, as many as their daily rate (Poisson),
    each a past event of theirs (its terminal, amount, device, ...) at its time of day."""
    import pandas as pd

    rng = np.random.default_rng(seed + 1)
    rows = []
    day0 = pd.Timestamp(start)
    for v in victims:
        past = v.history
        rate = len(past) / 30.0
        tod = (past["timestamp"] - past["timestamp"].dt.normalize()).dt.total_seconds().to_numpy()
        for d in range(int(np.ceil(days))):
            for _ in range(rng.poisson(rate)):
                j = int(rng.integers(len(past)))
                secs = d * 86400 + tod[j] + rng.normal(0, 1800)
                if not 0 <= secs < days * 86400:
                    continue
                row = {c: past[c].iloc[j] for c in theatre.traffic_columns if c in past}
                row["timestamp"] = day0 + pd.Timedelta(seconds=round(secs))
                rows.append(row)
    if not rows:
        return []
    frame = pd.DataFrame(rows).sort_values("timestamp", kind="stable")
    id_field = theatre.spec.id_field
    frame[id_field] = [f"own-{i}" for i in range(len(frame))]
    return _events(theatre, frame.reset_index(drop=True))


def _events(theatre: Theatre, frame: pd.DataFrame) -> list[Any]:
    """Events of the theatre's kind from rows of a canonical frame."""
    from fraudscore._training.pipeline import to_events

    return to_events(frame, theatre.spec)


def run_red_team(
    theatre: Theatre,
    bundle: Any,
    repo: str | Path,
    history: pd.DataFrame,
    *,
    strategies: Iterable[str | Strategy] | None = None,
    victims: int = 150,
    days: float = 5.0,
    start: datetime | None = None,
    rules: RuleSet | str | Path | None = None,
    thresholds: Thresholds | None = None,
    exclude: Iterable[str] = (),
    seed: int = 0,
) -> RedTeamReport:
    """Every strategy (default: all of the theatre's) against the same victims, model alone and,
    with ``rules``, model plus rules; each on its own private copy of the store. ``thresholds``
    replace the bundle's; ``exclude`` are entities never picked as victims."""
    import pandas as pd

    from fraudscore._serving.scorer import Scorer

    plans = _resolve(theatre, theatre.strategies if strategies is None else strategies)
    if not 0 < days <= 60:
        raise ConfigError("days", days, "a number of days in (0, 60]")
    if type(victims) is not int or victims < 1:
        raise ConfigError("victims", victims, "a positive int")
    with tempfile.TemporaryDirectory(prefix="fraudscore-redteam-") as probe:
        private_store(repo, Path(probe))  # a store the harness cannot copy is refused first
    last = pd.Timestamp(history["timestamp"].max())
    begin = pd.Timestamp(start) if start is not None else last.ceil("h")
    if begin < last:
        raise ConfigError("start", begin, f"a time at or after the history's last event ({last})")
    begin_dt = begin.to_pydatetime()
    chosen = pick_victims(theatre, history, victims, begin_dt, seed, exclude)
    own = victim_traffic(theatre, chosen, begin_dt, days, seed)
    pools = _pools(theatre, history)
    settings = [None] if rules is None else [None, rules]
    results = []
    with tempfile.TemporaryDirectory(prefix="fraudscore-redteam-") as tmp:
        for setting in settings:
            clean = None
            for k, strategy in enumerate([None, *plans]):  # None: the victims' traffic alone
                work = Path(tmp) / f"{k}-{setting is not None}"
                work.mkdir()
                scorer = Scorer(
                    bundle,
                    _source(private_store(repo, work), bundle),
                    rules=setting,
                    thresholds=thresholds,
                )
                outcome = _run(
                    theatre,
                    scorer,
                    chosen,
                    own,
                    strategy,
                    begin_dt,
                    days,
                    pools,
                    seed,
                )
                if strategy is None:
                    clean = outcome
                    continue
                assert clean is not None  # the victims' traffic alone runs first
                results.append(outcome.result(strategy, setting is not None, clean))
    return RedTeamReport(theatre.kind, theatre.entity_name, theatre.gain_name, days, tuple(results))


def attack_examples(
    theatre: Theatre,
    history: pd.DataFrame,
    strategies: Iterable[str | Strategy],
    *,
    start: datetime,
    end: datetime,
    per_day: float = 3.0,
    days: float = 5.0,
    label_delay: timedelta = timedelta(days=3),
    seed: int = 0,
) -> pd.DataFrame:
    """Attacks to train on: each day in ``[start, end)``, ``per_day`` new victims (Poisson)
    active in the 30 days before, each attacked by one of ``strategies`` (at random) for
    ``days``, open loop (every attempt is answered with the first decision: no defence shapes
    them). Their events as canonical rows labelled positive (``label_time`` after
    ``label_delay``; ``fraud_pattern``/``attack_pattern`` ``redteam:<name>``; ids
    ``redteam-...``). Their victims (the frame's entity column) are to be held out of any
    evaluation of a model trained on them."""
    import pandas as pd

    plans = _resolve(theatre, strategies)
    if any(p.knowledge == "white" for p in plans):
        raise ConfigError(
            "strategies", [p.name for p in plans], "black- or grey-box strategies (open loop)"
        )
    kind = theatre.spec
    allow = Response(kind.decisions[0])
    rng = np.random.default_rng(seed)
    pools = _pools(theatre, history)
    history = genuine(theatre, history)  # once, not once a day
    rows: list[dict[str, Any]] = []
    victims: set[str] = set()
    day = pd.Timestamp(start)
    stop_all = pd.Timestamp(end)
    while day < stop_all:
        n = int(rng.poisson(per_day))
        chosen = []
        if n:  # a day with no card or account active enough has no attack
            when, draw = day.to_pydatetime(), int(rng.integers(2**31))
            chosen = pick_victims(theatre, history, n, when, draw, victims, required=False)
        for v in chosen:
            victims.add(v.entity)
            strategy = plans[int(rng.integers(len(plans)))]
            at = day + pd.Timedelta(seconds=int(rng.integers(86400)))
            attack = Attack(theatre, v, at.to_pydatetime(), rng, pools, None, kind.decisions)
            plan = strategy.plan(v, attack)
            horizon = at + pd.Timedelta(days=days)
            try:
                event = next(plan)
                while event.timestamp < horizon:
                    row = {f: getattr(event, f) for f in theatre_fields(theatre)}
                    row["strategy"] = strategy.name
                    row["counted"] = theatre.counted(event)
                    rows.append(row)
                    event = plan.send(allow)
            except StopIteration:
                pass
        day += pd.Timedelta(days=1)
    frame = pd.DataFrame(rows, columns=[*theatre_fields(theatre), "strategy", "counted"])
    if frame.empty:
        raise ConfigError("per_day", per_day, "enough attack examples to train on (none made)")
    frame["timestamp"] = pd.to_datetime(frame["timestamp"], utc=True)
    frame[kind.id_field] = [f"redteam-{seed}-{i}" for i in range(len(frame))]
    # Every attempt is an attack; the label is set where the kind counts an attempt (a login
    # with the right password is a takeover; a wrong one is an attack attempt, not a takeover).
    for column in theatre.attack_labels:
        frame[column] = 1
    frame[kind.label] = frame.pop("counted").astype(int)
    frame["label_time"] = frame["timestamp"] + label_delay
    pattern = "fraud_pattern" if "fraud_pattern" in history else "attack_pattern"
    frame[pattern] = "redteam:" + frame.pop("strategy")
    return frame.sort_values("timestamp", kind="stable").reset_index(drop=True)


def _resolve(theatre: Theatre, strategies: Iterable[str | Strategy]) -> list[Strategy]:
    """Strategies by name (the theatre's built-in ones) or as given (a user's own)."""
    given = list(strategies)
    unknown = [s for s in given if not isinstance(s, Strategy) and s not in theatre.strategies]
    if unknown or not given:
        raise ConfigError(
            "strategies",
            unknown or given,
            f"Strategy objects or names among {sorted(theatre.strategies)}",
        )
    out = [s if isinstance(s, Strategy) else theatre.strategies[s] for s in given]
    names = [s.name for s in out]
    if len(set(names)) != len(names):
        raise ConfigError("strategies", names, "strategies of distinct names")
    return out


def theatre_fields(theatre: Theatre) -> tuple[str, ...]:
    """The fields of the kind's event type."""
    import dataclasses

    return tuple(f.name for f in dataclasses.fields(theatre.spec.event_type))


def _source(repo: Path, bundle: Any) -> Any:
    from fraudscore._online import open_source

    return open_source(repo, kind_spec(bundle.kind).views)


def _pools(theatre: Theatre, history: pd.DataFrame) -> dict[str, Any]:
    """Per column the victims' traffic keeps, the values seen in history, sorted: what an
    attacker can pick (a merchant's terminal, a residential IP, a browser, ...); per
    ``attached`` pair, the last value of the field seen with each value of the column."""
    pools: dict[str, Any] = {
        c: sorted(history[c].dropna().unique().tolist())
        for c in theatre.traffic_columns
        if c in history and c != theatre.entity
    }
    for column, name in theatre.attached:
        both = history[[column, name]].dropna() if {column, name} <= set(history) else None
        pools[f"{column}->{name}"] = (
            {}
            if both is None
            else dict(zip(both[column].tolist(), both[name].tolist(), strict=True))
        )
    return pools


@dataclass
class _Outcome:
    gains: list[float]
    normals: list[float]
    attempts: list[int]
    flagged: list[int]
    blocked: list[bool]
    notes: list[str] = field(default_factory=list)
    counted: int = 0
    counted_flagged: int = 0
    counted_blocked: int = 0
    #: The victims' own events counted (during the attack; all of them in the clean run): their
    #: index in the victims' traffic -> flagged.
    own: dict[int, bool] = field(default_factory=dict)

    def result(self, strategy: Strategy, rules: bool, clean: _Outcome) -> StrategyResult:
        own = list(self.own)
        flags = float(np.mean([self.own[n] for n in own])) if own else 0.0
        same = float(np.mean([clean.own[n] for n in own])) if own else 0.0
        gains = np.array(self.gains)
        normals = np.array(self.normals)
        ratio = np.divide(gains, normals, out=np.zeros_like(gains), where=normals > 0)
        n = len(gains)
        return StrategyResult(
            strategy=strategy.name,
            knowledge=strategy.knowledge,
            rules=rules,
            victims=n,
            attempts=int(sum(self.attempts)),
            flagged=self.counted_flagged / self.counted if self.counted else math.nan,
            blocked=self.counted_blocked / self.counted if self.counted else math.nan,
            stopped=float(np.mean(self.blocked)) if n else 0.0,
            gain_median=float(np.median(gains)) if n else 0.0,
            gain_vs_normal_median=float(np.median(ratio)) if n else 0.0,
            victims_hit=float((gains > 0).mean()) if n else 0.0,
            victim_false_flags=flags,
            clean_false_flags=same,
            queries=float(np.mean(self.attempts)) if n else 0.0,
            notes=tuple(Counter(self.notes).most_common()),
            victim_events=len(own),
            per_victim=tuple(
                zip(
                    self.gains,
                    self.normals,
                    self.attempts,
                    self.flagged,
                    self.blocked,
                    strict=True,
                )
            ),
        )


def _run(
    theatre: Theatre,
    scorer: Scorer,
    victims: Sequence[Victim],
    own: Sequence[Any],
    strategy: Strategy | None,
    start: datetime,
    days: float,
    pools: Mapping[str, Any],
    seed: int,
) -> _Outcome:
    """One strategy against every victim on one store: all events in time order, each scored
    then recorded; the attackers adapt to what they are told."""
    kind = scorer.kind
    allow, _, block = kind.decisions
    out = _Outcome([], [], [], [], [])
    # (time, order, victim or -1 for the victims' own events, event): the order breaks ties.
    queue = [(e.timestamp.timestamp(), n, -1, e) for n, e in enumerate(own)]
    heapq.heapify(queue)
    order = len(queue)
    plans: list[Plan | None] = []
    attacks: list[Attack] = []
    last: list[float] = []
    stop = start.timestamp() + days * 86400.0  # the attack window ends here
    index = {v.entity: i for i, v in enumerate(victims)}
    # When each victim's attack began (its first attempt); the clean run counts every event.
    began = [-math.inf if strategy is None else math.inf] * len(victims)
    for i, v in enumerate(victims):
        out.gains.append(0.0)
        out.normals.append(v.normal_per_day * days)
        out.attempts.append(0)
        out.flagged.append(0)
        out.blocked.append(False)
        plans.append(None)
        last.append(start.timestamp())
        if strategy is None:
            continue
        rng = np.random.default_rng([seed, i, _stable_hash(strategy.name)])
        oracle = scorer.score if strategy.knowledge == "white" else None
        attack = Attack(theatre, v, start, rng, pools, oracle, kind.decisions)
        attacks.append(attack)
        opened = strategy.plan(v, attack)
        plans[i] = opened
        first = next(opened, None)
        if first is not None and _keeps_rules(first, v, last, i, theatre) < stop:
            began[i] = first.timestamp.timestamp()
            heapq.heappush(queue, (first.timestamp.timestamp(), order, i, first))
            order += 1
    grey = strategy is not None and strategy.knowledge != "black"
    blocked: set[str] = set()
    while queue:
        when, n, i, event = heapq.heappop(queue)
        if i < 0 and getattr(event, theatre.entity) in blocked:
            continue  # the card or account was blocked: its owner's later events are not on it
        result = scorer.score(event)
        scorer.record(event, result)
        flagged = result.decision != allow
        if i < 0:
            if when >= began[index[getattr(event, theatre.entity)]]:
                out.own[n] = flagged  # during its attack (the clean run: every event)
            continue
        out.attempts[i] += 1
        if theatre.counted(event):
            out.counted += 1
            out.counted_flagged += flagged
            out.counted_blocked += result.decision == block
        out.flagged[i] += flagged
        if result.decision == allow:
            out.gains[i] += theatre.gain(event)
        if result.decision == block:
            out.blocked[i] = True
            blocked.add(victims[i].entity)
            plans[i] = None  # the card or account is blocked: the attack ends
            continue
        running = plans[i]
        if running is None:
            continue
        reasons = tuple(r.code for r in result.reasons) if grey else ()
        try:
            nxt = running.send(Response(result.decision, reasons))
        except StopIteration:
            plans[i] = None
            continue
        if _keeps_rules(nxt, victims[i], last, i, theatre) >= stop:
            plans[i] = None  # past the attack's window: it ends here
            continue
        heapq.heappush(queue, (nxt.timestamp.timestamp(), order, i, nxt))
        order += 1
    out.notes = [n for a in attacks for n in a.notes]
    return out


def _keeps_rules(event: Any, victim: Victim, last: list[float], i: int, theatre: Theatre) -> float:
    """The time of an attacker's event, after checking that it keeps to the rules of the game:
    an event of its victim, not before its previous one (the past cannot change)."""
    expected: Any = theatre.spec.event_type
    if type(event) is not expected:
        raise EventValidationError("event", type(event).__name__, f"a {theatre.kind} event")
    stamp: datetime = event.timestamp
    if getattr(event, theatre.entity) != victim.entity:
        raise EventValidationError(
            theatre.entity, getattr(event, theatre.entity), f"the victim's own ({victim.entity})"
        )
    t = stamp.timestamp()
    if t < last[i]:
        raise EventValidationError(
            "timestamp",
            stamp,
            "a time at or after the attacker's previous event (the past cannot change)",
        )
    last[i] = t
    return t


def _stable_hash(name: str) -> int:
    import zlib

    return zlib.crc32(name.encode())
