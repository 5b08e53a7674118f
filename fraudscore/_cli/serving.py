"""Commands that serve: score (one event, a few, or a whole file), sign."""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path
from typing import Any

import click

from fraudscore._cli import (
    DEFAULT_REPO,
    _columns,
    _run,
    console,
    main,
    out,
)


@main.command()
@click.option("--bundle", required=True, type=click.Path(file_okay=False))
@click.option("--repo", default=DEFAULT_REPO, show_default=True, type=click.Path(file_okay=False))
@click.option("--data", type=click.Path(dir_okay=False), help="Canonical events to score.")
@click.option("--event", "event_json", help="One event as JSON (the bundle's kind).")
@click.option("--limit", default=10, show_default=True)
@click.option("--json", "as_json", is_flag=True)
@click.option(
    "--out",
    "out_path",
    type=click.Path(dir_okay=False),
    help="Backfill: score every event of --data (parquet file or directory) in chunks and write "
    "id, score, decision and reason codes here (parquet).",
)
@click.option("--chunk-size", default=20_000, show_default=True, help="Events per chunk (--out).")
@click.option("--columns", "columns_spec", help="Column mapping of --data (see train).")
@click.option("--timezone", default="UTC", show_default=True)
@click.option(
    "--since",
    "since_s",
    default="state",
    show_default=True,
    help="--data without --out: score the events after this ISO time; 'state' (the end of the "
    "store's latest materialization) or 'start' (from the file's first event).",
)
@click.option("--key-file", type=click.Path(dir_okay=False), help="Verify the bundle's signature.")
@click.option("--require-signature", is_flag=True, help="Refuse an unsigned bundle.")
@click.option("--rules", type=click.Path(dir_okay=False), help="A rules file to apply.")
def score(
    bundle: str,
    repo: str,
    data: str | None,
    event_json: str | None,
    limit: int,
    as_json: bool,
    out_path: str | None,
    chunk_size: int,
    columns_spec: str | None,
    timezone: str,
    since_s: str,
    key_file: str | None,
    require_signature: bool,
    rules: str | None,
) -> None:
    """Score events (from --data or --event) against the online store. Writes nothing to it.

    With --data, the events after the store's state by default: earlier ones are already in it
    (they would score as late events)."""
    from fraudscore._serving.scorer import Scorer
    from fraudscore._training.pipeline import read_events, to_events

    columns = _columns(columns_spec, timezone)

    def go() -> None:
        from fraudscore._model.bundle import signing_key

        key = signing_key(key_file=key_file)
        scorer = Scorer.open(
            bundle, repo, key=key, require_signature=require_signature, rules=rules
        )
        if out_path:
            if not data:
                raise click.UsageError("--out needs --data")
            _backfill(scorer, data, out_path, columns, chunk_size)
            return
        if event_json:
            fields = json.loads(event_json)
            fields["timestamp"] = datetime.fromisoformat(fields["timestamp"])
            events = [scorer.kind.event_type(**fields)]
        elif data:
            frame = read_events(data, columns)
            since = _since(since_s, repo)
            if since is not None:
                frame = frame[frame["timestamp"] > since]
            window = (
                f"after {since:%Y-%m-%d %H:%M:%S %Z}" if since is not None else "from the start"
            )
            console.print(f"scoring the first {min(limit, len(frame)):,} events {window}")
            events = to_events(frame.head(limit), scorer.kind)
        else:
            raise click.UsageError("give --data or --event")
        for event in events:
            result = scorer.score(event)
            if as_json:
                click.echo(json.dumps(result_dict(result)))
            else:
                print_result(event, result)

    _run(go)


@main.command()
@click.option("--bundle", required=True, type=click.Path(file_okay=False))
@click.option(
    "--key-file",
    type=click.Path(dir_okay=False),
    help="The secret key; default: the FRAUDSCORE_BUNDLE_KEY environment variable.",
)
def sign(bundle: str, key_file: str | None) -> None:
    """Sign a verified bundle with HMAC-SHA256 (integrity.json), for scorers that require it."""
    from fraudscore._model.bundle import sign_bundle, signing_key

    def go() -> None:
        key = signing_key(key_file=key_file)
        if key is None:
            raise click.UsageError("give --key-file or set FRAUDSCORE_BUNDLE_KEY")
        sign_bundle(bundle, key)

    _run(go)
    console.print(f"signed {bundle}")


def _since(since_s: str, repo: str) -> Any:
    """The time after which --data's events are scored (None: all of them)."""
    import pandas as pd

    if since_s == "start":
        return None
    if since_s == "state":
        from fraudscore._feast import state_as_of

        as_of = state_as_of(repo)
        return pd.Timestamp(as_of).tz_convert("UTC") if as_of is not None else None
    try:
        stamp = pd.Timestamp(since_s)
    except ValueError:
        raise click.BadParameter(
            f"{since_s!r} is not an ISO time, 'state' or 'start'", param_hint="--since"
        ) from None
    return stamp.tz_localize("UTC") if stamp.tzinfo is None else stamp.tz_convert("UTC")


def _backfill(scorer: Any, data: str, out_path: str, columns: Any, chunk_size: int) -> None:
    import pyarrow.dataset as ds
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TimeRemainingColumn

    from fraudscore._serving.backfill import backfill

    total = ds.dataset(data, format="parquet").count_rows() if Path(data).exists() else None
    columns_shown = (BarColumn(), MofNCompleteColumn(), TimeRemainingColumn())
    with Progress(*Progress.get_default_columns()[:1], *columns_shown, console=console) as bar:
        task = bar.add_task("scoring", total=total)
        report = backfill(
            scorer, data, out_path, columns=columns, chunk_size=chunk_size,
            on_chunk=lambda n: bar.advance(task, n),
        )  # fmt: skip
    console.print(
        f"{report.events:,} events scored in {report.seconds:.1f} s "
        f"({report.events_per_s:,.0f} events/s) -> {report.out}"
    )


def result_dict(result: Any) -> dict[str, Any]:
    return {
        "event_id": result.event_id,
        "score": result.score,
        "decision": result.decision,
        "reasons": [
            {"code": r.code, "text": r.text, "contribution": r.contribution} for r in result.reasons
        ],
        "model_version": result.model_version,
        "missing_state": list(result.missing_state),
        "stale_state": list(result.stale_state),
        "degraded": result.degraded,
        "late_event": result.late_event,
        "rule": result.rule,
        "matched_rules": list(result.matched_rules),
        "shadow_rules": list(result.shadow_rules),
    }


_COLOURS = {"approve": "green", "allow": "green", "review": "yellow", "challenge": "yellow"}


def _describe(event: Any) -> str:
    if hasattr(event, "amount"):
        return f"card {event.customer_id} terminal {event.terminal_id} amount {event.amount:.2f}"
    outcome = "ok" if event.success else "wrong password"
    return f"user {event.user_id} from {event.ip} {event.country} AS{event.asn} ({outcome})"


def print_result(event: Any, result: Any, truth: str | None = None) -> None:
    colour = _COLOURS.get(result.decision, "red")
    head = (
        f"[bold]{result.event_id}[/] {event.timestamp:%Y-%m-%d %H:%M} {_describe(event)}  "
        f"score {result.score:.3f} [{colour}]{result.decision.upper()}[/]"
    )
    if truth:
        head += f"  (truth: {truth})"
    out.print(head)
    for r in result.reasons:
        out.print(f"    {r.code:<22} +{r.contribution:.2f}  {r.text}")
    if result.missing_state or result.stale_state:
        out.print(f"    no history in: {', '.join(result.missing_state + result.stale_state)}")
