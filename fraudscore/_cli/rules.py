"""``fraudscore rules``: start, check and backtest a rules file."""

from __future__ import annotations

import json
import shutil
from datetime import date
from pathlib import Path
from typing import Any

import click
from rich.table import Table

from fraudscore._cli.base import KIND, _features, console, data_options, main, out, step, window
from fraudscore._cli.types import BUNDLE, EVENTS, Output


@main.group()
def rules() -> None:
    """Rules and lists over the model: start from the starter file, check, backtest."""


@rules.command()
@KIND
@click.option("--out", "out_dir", required=True, type=Output(directory=True))
def init(kind: str, out_dir: str) -> None:
    """Copy the starter rules file of --kind and its lists into --out."""
    from fraudscore._serving.rules import load_rules, starter_rules

    src = starter_rules(kind)
    target = Path(out_dir)
    (target / "lists").mkdir(parents=True, exist_ok=True)
    names = []
    for spec in load_rules(src).list_specs.values():
        shutil.copy(spec.path, target / "lists" / spec.path.name)
        names.append(spec.path.name)
    written = target / f"{kind}.toml"
    shutil.copy(src, written)
    console.print(f"{written} with lists {', '.join(names)}")


@rules.command()
@click.argument("rules_file", type=click.Path(exists=True, dir_okay=False))
def check(rules_file: str) -> None:
    """Load and compile a rules file and its lists; print its rules."""
    from fraudscore._serving.rules import load_rules

    ruleset = load_rules(rules_file)
    table = Table(title=f"{rules_file}: {ruleset.kind.name}, mode {ruleset.mode}")
    for column in ("rule", "action", "when", "reason"):
        table.add_column(column)
    for r in ruleset.rules:
        table.add_row(r.name + (" (shadow)" if r.shadow else ""), r.action, r.when, r.reason)
    out.print(table)
    sizes = ruleset.reload_lists()
    console.print("lists: " + ", ".join(f"{n} ({k:,})" for n, k in sizes.items()))


@rules.command()
@click.option("--rules", "rules_file", required=True, type=click.Path(exists=True, dir_okay=False))
@click.option("--bundle", required=True, type=BUNDLE)
@click.option("--data", required=True, type=EVENTS)
@window("test_start", "test_end", what="First and last test day")
@data_options
@click.option("--json", "as_json", is_flag=True, help="Print the backtest as JSON.")
def backtest(
    rules_file: str,
    bundle: str,
    data: str,
    test_start: date,
    test_end: date,
    columns_spec: str | None,
    timezone: str,
    drop_bad_rows: bool,
    as_json: bool,
) -> None:
    """Per rule: hits, hit rate, precision, frauds (takeovers) caught, genuine events hit; and
    the model with the rules against the model alone, on the test days."""
    from fraudscore._serving.rules import load_rules
    from fraudscore._training.backtest import backtest_rules

    ruleset = load_rules(rules_file)
    with step("building features"):
        features = _features(data, ruleset.kind.name, columns_spec, timezone, drop_bad_rows)
    with step("backtesting"):
        result = backtest_rules(ruleset, bundle, features, test_start, test_end)
    if as_json:
        click.echo(json.dumps(result.to_dict(), indent=2))
        return
    print_backtest(result)


def print_backtest(bt: Any) -> None:
    from fraudscore._kinds import kind_spec

    caught = kind_spec(bt.kind).protocol.positives
    title = f"rules, {bt.start} to {bt.end}: {bt.events:,} events, {bt.positives:,} {caught}"
    # Text columns (rule and action; policy) left, numbers right.
    for name, texts, (header, rows, _) in zip(
        (title, "combined"), (2, 1), bt.tables(), strict=True
    ):
        table = Table(title=name)
        for i, column in enumerate(header):
            table.add_column(column, justify="left" if i < texts else "right")
        for row in rows:
            table.add_row(*row)
        out.print(table)
