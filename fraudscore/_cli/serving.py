"""Commands that serve: score (one event, a few, or a whole file), sign."""

from __future__ import annotations

import dataclasses
import json
from datetime import UTC
from pathlib import Path
from typing import Any

import click

from fraudscore._cli.base import (
    DEFAULT_REPO,
    _columns,
    _kind,
    columns_options,
    console,
    main,
    out,
)
from fraudscore._cli.types import BUNDLE, EVENT, INSTANT, REPO, SINCE, Events, Output
from fraudscore._errors import EventValidationError

KEY_FILE = click.Path(exists=True, dir_okay=False)


@main.command()
@click.option("--bundle", required=True, type=BUNDLE)
@click.option("--repo", default=DEFAULT_REPO, show_default=True, type=REPO)
@click.option("--data", type=Events(), help="Canonical events to score.")
@click.option("--event", "fields", type=EVENT, help="One event as JSON (the bundle's kind).")
@click.option("--limit", default=10, show_default=True, type=click.IntRange(min=1))
@click.option("--json", "as_json", is_flag=True)
@click.option(
    "--out",
    "out_path",
    type=Output(),
    help="Backfill: score every event of --data (parquet file or directory) in chunks and write "
    "id, score, decision and reason codes here (parquet).",
)
@click.option(
    "--chunk-size",
    default=20_000,
    show_default=True,
    type=click.IntRange(min=1),
    help="Events per chunk (--out).",
)
@columns_options
@click.option(
    "--since",
    default="state",
    show_default=True,
    type=SINCE,
    help="--data without --out: score the events after this ISO time; 'state' (the end of the "
    "store's latest materialization) or 'start' (from the file's first event).",
)
@click.option("--key-file", type=KEY_FILE, help="Verify the bundle's signature.")
@click.option("--require-signature", is_flag=True, help="Refuse an unsigned bundle.")
@click.option(
    "--rules", type=click.Path(exists=True, dir_okay=False), help="A rules file to apply."
)
def score(
    bundle: str,
    repo: str,
    data: str | None,
    fields: dict[str, Any] | None,
    limit: int,
    as_json: bool,
    out_path: str | None,
    chunk_size: int,
    columns_spec: str | None,
    timezone: str,
    since: Any,
    key_file: str | None,
    require_signature: bool,
    rules: str | None,
) -> None:
    """Score events (from --data or --event) against the online store. Writes nothing to it.

    With --data, the events after the store's state by default: earlier ones are already in it
    (they would score as late events)."""
    from fraudscore._model.bundle import load_bundle, signing_key
    from fraudscore._serving.rules import load_rules
    from fraudscore._serving.scorer import Scorer
    from fraudscore._training.pipeline import read_events, to_events

    if (data is None) == (fields is None):
        raise click.UsageError("give --data or --event (one of them)")
    if out_path and not data:
        raise click.UsageError("--out needs --data")
    if out_path and data and Path(data).suffix.lower() == ".csv":
        raise click.BadParameter(
            f"got {data!r}, a CSV file; expected parquet with --out", param_hint="'--data'"
        )
    columns = _columns(columns_spec, timezone)
    key = signing_key(key_file=key_file)
    if rules:
        load_rules(rules)  # a bad rules file or event is refused before the store is opened
    if fields is not None:
        events = [_event(_kind(load_bundle(bundle, key=key).kind), fields)]
    scorer = Scorer.open(bundle, repo, key=key, require_signature=require_signature, rules=rules)
    if out_path and data:
        _backfill(scorer, data, out_path, columns, chunk_size)
        return
    if fields is None:
        frame = read_events(str(data), columns)
        after = _since(since, repo)
        if after is not None:
            frame = frame[frame["timestamp"] > after]
        window = f"after {after:%Y-%m-%d %H:%M:%S %Z}" if after is not None else "from the start"
        console.print(f"scoring the first {min(limit, len(frame)):,} events {window}")
        events = to_events(frame.head(limit), scorer.kind)
    for event in events:
        result = scorer.score(event)
        if as_json:
            click.echo(json.dumps(result.to_dict()))
        else:
            print_result(scorer.kind, event, result)


def _event(kind: Any, fields: dict[str, Any]) -> Any:
    """The event of ``--event``'s fields; any field that does not fit is a bad ``--event``."""

    def bad(message: str) -> click.BadParameter:
        return click.BadParameter(message, param_hint="'--event'")

    spec = {f.name: f for f in dataclasses.fields(kind.event_type)}
    unknown = sorted(set(fields) - set(spec))
    if unknown:
        raise bad(f"got unknown field(s) {', '.join(unknown)}, expected the fields of a "
                  f"{kind.name}: {', '.join(spec)}")  # fmt: skip
    required = [
        n
        for n, f in spec.items()
        if f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING
    ]
    missing = [n for n in required if n not in fields]
    if missing:
        raise bad(f"got no {', '.join(missing)}, expected every required field of a "
                  f"{kind.name}: {', '.join(required)}")  # fmt: skip
    given = dict(fields)
    if isinstance(given.get("timestamp"), str):
        try:
            given["timestamp"] = INSTANT.convert(given["timestamp"], None, None).astimezone(UTC)
        except click.BadParameter as exc:
            raise bad(f"field 'timestamp': {exc.message}") from None
    try:
        return kind.event_type(**given)
    except EventValidationError as exc:
        raise bad(str(exc)) from exc


@main.command()
@click.option("--bundle", required=True, type=BUNDLE)
@click.option(
    "--key-file",
    type=KEY_FILE,
    help="The secret key; default: the FRAUDSCORE_BUNDLE_KEY environment variable.",
)
def sign(bundle: str, key_file: str | None) -> None:
    """Sign a verified bundle with HMAC-SHA256 (integrity.json), for scorers that require it."""
    from fraudscore._model.bundle import sign_bundle, signing_key

    key = signing_key(key_file=key_file)
    if key is None:
        raise click.UsageError("give --key-file or set FRAUDSCORE_BUNDLE_KEY")
    sign_bundle(bundle, key)
    console.print(f"signed {bundle}")


def _since(since: Any, repo: str) -> Any:
    """The time after which --data's events are scored (None: all of them)."""
    import pandas as pd

    if since == "start":
        return None
    if since == "state":
        from fraudscore._feast import state_as_of

        as_of = state_as_of(repo)
        return pd.Timestamp(as_of).tz_convert("UTC") if as_of is not None else None
    return pd.Timestamp(since).tz_convert("UTC")


def _backfill(scorer: Any, data: str, out_path: str, columns: Any, chunk_size: int) -> None:
    import pyarrow.dataset as ds
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TimeRemainingColumn

    from fraudscore._serving.backfill import backfill

    total = ds.dataset(data, format="parquet").count_rows() if Path(data).exists() else None
    columns_shown = (BarColumn(), MofNCompleteColumn(), TimeRemainingColumn())
    bar_columns = (*Progress.get_default_columns()[:1], *columns_shown)
    with Progress(*bar_columns, console=console, transient=True) as bar:  # gone when it ends
        task = bar.add_task("scoring", total=total)
        report = backfill(
            scorer, data, out_path, columns=columns, chunk_size=chunk_size,
            on_chunk=lambda n: bar.advance(task, n),
        )  # fmt: skip
    console.print(
        f"{report.events:,} events scored in {report.seconds:.1f} s "
        f"({report.events_per_s:,.0f} events/s) -> {report.out}"
    )


#: The colour of each decision, from the least to the most severe.
_COLOURS = ("green", "yellow", "red")


def print_result(kind: Any, event: Any, result: Any, truth: str | None = None) -> None:
    colour = _COLOURS[kind.decisions.index(result.decision)]
    head = (
        f"[bold]{result.event_id}[/] {event.timestamp:%Y-%m-%d %H:%M} "
        f"{kind.describe_event(event)}  "
        f"score {result.score:.3f} [{colour}]{result.decision.upper()}[/]"
    )
    if truth:
        head += f"  (truth: {truth})"
    out.print(head)
    for r in result.reasons:
        out.print(f"    {r.code:<22} +{r.contribution:.2f}  {r.text}")
    if result.missing_state or result.stale_state:
        out.print(f"    no history in: {', '.join(result.missing_state + result.stale_state)}")
