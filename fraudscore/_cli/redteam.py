"""``fraudscore redteam``: replay adaptive attackers through the real scorer."""

from __future__ import annotations

import json
from dataclasses import asdict
from pathlib import Path
from typing import Any

import click

from fraudscore._cli.base import DEFAULT_REPO, console, main, step, written
from fraudscore._cli.types import BUNDLE, EVENTS, INSTANT, REPO, Output


class _Names(click.ParamType):
    """Comma-separated strategy names (checked against the bundle's kind by the library)."""

    name = "names"

    def convert(self, value: Any, param: Any, ctx: Any) -> list[str]:
        if isinstance(value, list):
            return value
        names = [n.strip() for n in str(value).split(",") if n.strip()]
        if not names:
            self.fail(f"got {value!r}, expected strategy names separated by commas", param, ctx)
        return names


@main.command()
@click.option("--bundle", required=True, type=BUNDLE, help="The model bundle to attack.")
@click.option(
    "--repo",
    default=DEFAULT_REPO,
    show_default=True,
    type=REPO,
    help="The Feast repo (SQLite) whose online store holds --data's events; it is copied, "
    "never written.",
)
@click.option(
    "--data",
    required=True,
    type=EVENTS,
    help="The events in the store (victims and their habits come from the 30 days before --start).",
)
@click.option(
    "--start",
    type=INSTANT,
    help="When the attacks start (default: the hour after --data's last event).",
)
@click.option("--days", default=5.0, show_default=True, type=click.FloatRange(0, 60, min_open=True))
@click.option("--victims", default=150, show_default=True, type=click.IntRange(min=1))
@click.option(
    "--strategies",
    type=_Names(),
    help="Comma-separated strategy names (default: every built-in one of the bundle's kind).",
)
@click.option(
    "--rules",
    type=click.Path(exists=True, dir_okay=False),
    help="A rules file: each strategy runs against the model alone, then model plus rules.",
)
@click.option("--starter-rules", is_flag=True, help="--rules with the kind's starter file.")
@click.option("--seed", default=0, show_default=True, type=click.IntRange(min=0))
@click.option("--out", "out_path", type=Output(), help="Also write the results here (JSON).")
def redteam(
    bundle: str,
    repo: str,
    data: str,
    start: Any,
    days: float,
    victims: int,
    strategies: list[str] | None,
    rules: str | None,
    starter_rules: bool,
    seed: int,
    out_path: str | None,
) -> None:
    """Attack the bundle with the built-in adaptive attackers of its kind: each on a private
    copy of the store, with the victims' own traffic interleaved and no labels. Prints a table
    per strategy: flagged and blocked attempts, what the attacker got per victim, the victims'
    own events flagged, the attempts used."""
    from fraudscore._model.bundle import load_bundle
    from fraudscore._redteam import red_team
    from fraudscore._serving.rules import load_rules
    from fraudscore._serving.rules import starter_rules as starter
    from fraudscore._training.pipeline import read_events

    if rules and starter_rules:
        raise click.UsageError("give --rules or --starter-rules, not both")
    loaded = load_bundle(bundle)
    rule_set = None
    if rules or starter_rules:
        rule_set = load_rules(rules or starter(loaded.kind), loaded.kind)
    history = read_events(data)
    if start is not None:
        history = history[history["timestamp"] < start]
    with step(f"attacking {victims} victims for {days:g} days"):
        report = red_team(
            loaded,
            repo,
            history,
            strategies=strategies,
            victims=victims,
            days=days,
            start=start,
            rules=rule_set,
            seed=seed,
        )
    click.echo(report.table())
    for r in report.results:
        if r.notes:
            console.print(f"{r.strategy}: " + "; ".join(f"{n} ({c})" for n, c in r.notes[:3]))
    if out_path:
        with written(out_path) as tmp:
            Path(tmp).write_text(
                json.dumps(
                    [
                        {k: v for k, v in asdict(r).items() if k != "per_victim"}
                        for r in report.results
                    ],
                    indent=2,
                )
            )
