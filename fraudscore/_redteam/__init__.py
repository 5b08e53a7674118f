"""The red team: adaptive attackers replayed through the real scorer.

``harness`` runs them (kind-generic); each kind's strategies and :class:`Theatre` live in a
module of their own, which the kind names (``EventKind.attacks``) and :func:`theatre` loads.
"""

from __future__ import annotations

import importlib
from collections.abc import Iterable
from datetime import date, datetime
from pathlib import Path
from typing import TYPE_CHECKING

from fraudscore._errors import ConfigError
from fraudscore._kinds import DEFAULT_KIND, KINDS, kind_spec
from fraudscore._model.bundle import Bundle, Thresholds, load_bundle
from fraudscore._redteam.harness import (
    KNOWLEDGE,
    Attack,
    RedTeamReport,
    Response,
    Strategy,
    StrategyResult,
    Theatre,
    Victim,
    run_red_team,
)
from fraudscore._redteam.harness import attack_examples as harness_examples

if TYPE_CHECKING:
    import pandas as pd

    from fraudscore._serving.rules import RuleSet

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
    "red_team",
    "run_red_team",
    "strategies",
    "theatre",
    "with_attack_examples",
]


def theatre(kind: str) -> Theatre:
    """The red team's :class:`Theatre` of ``kind``: the module its ``attacks`` names holds it
    as ``THEATRE`` (loaded on first use: the strategies import the scorer, above the kinds)."""
    spec = kind_spec(kind, where="kind")
    if spec.attacks is None:
        with_attacks = sorted(n for n, k in KINDS.items() if k.attacks is not None)
        raise ConfigError("kind", kind, f"a kind with built-in attackers: one of {with_attacks}")
    found: Theatre = importlib.import_module(spec.attacks).THEATRE
    return found


def strategies(kind: str) -> dict[str, Strategy]:
    """The built-in attackers of ``kind``, by name."""
    return dict(theatre(kind).strategies)


def attack_examples(
    history: pd.DataFrame,
    kind: str = DEFAULT_KIND,
    *,
    start: datetime,
    end: datetime,
    strategies: Iterable[str | Strategy] | None = None,
    per_day: float | None = None,
    days: float = 5.0,
    seed: int = 0,
) -> pd.DataFrame:
    """Labelled attacks to train a model against: each day in ``[start, end)``, ``per_day``
    (default: the kind's ``examples_per_day``) cards or accounts of ``history`` attacked by
    ``strategies`` (default: the kind's ``trained`` set) for ``days``, as canonical rows with
    ``is_fraud``/``is_ato`` set. Fold them with the history and pass their ids as
    ``train_model(..., synthetic=...)`` so that the thresholds stay those of the real traffic;
    hold their victims out of a red team (``red_team(..., exclude=frame[entity])``)."""
    found = theatre(kind)
    return harness_examples(
        found,
        history,
        found.trained if strategies is None else strategies,
        start=start,
        end=end,
        per_day=found.examples_per_day if per_day is None else per_day,
        days=days,
        seed=seed,
    )


def with_attack_examples(
    history: pd.DataFrame,
    kind: str,
    start: date,
    end: date,
    *,
    per_day: float | None = None,
    seed: int = 0,
) -> tuple[pd.DataFrame, list[str]]:
    """``history`` with :func:`attack_examples` of the kind's trained strategies on the days
    ``[start, end]`` added, and the ids of the rows added (``train_model(..., synthetic=ids)``).
    A kind with no trained strategies gets its history back and no ids."""
    import pandas as pd

    if kind_spec(kind, where="kind").attacks is None or not theatre(kind).trained:
        return history, []
    attacks = attack_examples(
        history,
        kind,
        start=pd.Timestamp(start, tz="UTC").to_pydatetime(),
        end=(pd.Timestamp(end, tz="UTC") + pd.Timedelta(days=1)).to_pydatetime(),
        per_day=per_day,
        seed=seed,
    )
    id_field = kind_spec(kind).id_field
    both = pd.concat([history, attacks], ignore_index=True)
    return both, attacks[id_field].tolist()


def red_team(
    bundle: Bundle | str | Path,
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
    """Replay attackers through the real scorer: ``strategies`` names the built-in ones of the
    bundle's kind (default: all) or gives your own :class:`Strategy` objects.

    ``repo`` is the Feast repo (SQLite online store) holding the state as of the end of
    ``history`` (the canonical events folded into it); each strategy attacks ``victims``
    entities active in its last 30 days, for ``days`` from ``start`` (default: the hour after
    its last event), on its own private copy of the store, with the victims' own traffic
    interleaved and no labels. With ``rules`` (a rule set or file), each strategy runs twice:
    model alone, then model plus rules; ``thresholds`` replace the bundle's; no victim is one
    of ``exclude`` (the victims of attacks a model trained on: :func:`attack_examples`).
    """
    loaded = bundle if isinstance(bundle, Bundle) else load_bundle(bundle)
    return run_red_team(
        theatre(loaded.kind),
        loaded,
        repo,
        history,
        strategies=strategies,
        victims=victims,
        days=days,
        start=start,
        rules=rules,
        thresholds=thresholds,
        exclude=exclude,
        seed=seed,
    )
