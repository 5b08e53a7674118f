"""The ``fraudscore`` command line: simulate, apply, materialize, train, evaluate, score, demo."""

from __future__ import annotations

import json
import shutil
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any, TypeVar

import click
from rich.console import Console
from rich.table import Table

from fraudscore._errors import FraudscoreError

console = Console(stderr=True)
out = Console()
T = TypeVar("T")

DEFAULT_REPO = "feature_repo"


@contextmanager
def step(message: str) -> Iterator[None]:
    """A spinner while a long step runs, and a tick with its duration after."""
    start = datetime.now()
    with console.status(message):
        yield
    console.print(f"[green]✓[/] {message} ({(datetime.now() - start).total_seconds():.1f}s)")


def _day(_: Any, __: Any, value: str | None) -> date | None:
    if value is None:
        return None
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise click.BadParameter(f"{value!r} is not a date like 2018-07-25") from None


def _run(fn: Callable[[], T]) -> T:
    try:
        return fn()
    except FraudscoreError as exc:
        console.print(f"[red]error:[/] {exc}")
        sys.exit(2)


@click.group()
@click.version_option(package_name="fraudscore")
def main() -> None:
    """Real-time fraud scoring with Feast features, an ONNX model and reason codes."""


KIND = click.option(
    "--kind",
    type=click.Choice(["transaction", "login"]),
    default="transaction",
    show_default=True,
    help="Card transactions (fraud) or logins (account takeover).",
)


def _kind(name: str) -> Any:
    from fraudscore._kinds import kind_spec

    return kind_spec(name)


def _simulate(
    kind: str, size: int | None, terminals: int | None, days: int | None, seed: int, start: str
) -> Any:
    if kind == "login":
        from fraudscore._simulate_logins import LoginSimConfig, simulate_logins

        base = LoginSimConfig()
        return simulate_logins(
            LoginSimConfig(
                n_users=size or base.n_users, n_days=days or base.n_days, seed=seed, start=start
            )
        )
    from fraudscore._simulate import TransactionSimConfig, simulate_transactions

    tbase = TransactionSimConfig()
    return simulate_transactions(
        TransactionSimConfig(
            n_customers=size or tbase.n_customers,
            n_terminals=terminals or tbase.n_terminals,
            n_days=days or tbase.n_days,
            seed=seed,
            start=start,
        )
    )


@main.command()
@click.option(
    "--out",
    "out_path",
    type=click.Path(dir_okay=False),
    required=True,
    help="Parquet file to write.",
)
@KIND
@click.option("--size", type=int, help="Cards (transactions) or users (logins). [2,000]")
@click.option("--terminals", type=int, help="Terminals (transactions only). [4,000]")
@click.option("--days", type=int, help="Days of history. [100 transactions, 60 logins]")
@click.option("--seed", default=7, show_default=True)
@click.option("--start", default="2018-04-01", show_default=True)
def simulate(
    out_path: str,
    kind: str,
    size: int | None,
    terminals: int | None,
    days: int | None,
    seed: int,
    start: str,
) -> None:
    """Simulate labelled events (canonical columns) into a parquet file."""
    with step(f"simulating {kind}s"):
        df = _simulate(kind, size, terminals, days, seed, start)
        Path(out_path).parent.mkdir(parents=True, exist_ok=True)
        df.to_parquet(out_path, index=False)
    label = _kind(kind).label
    console.print(f"{len(df):,} {kind}s, {df[label].mean():.2%} {label} -> {out_path}")


@main.command()
@click.option("--repo", default=DEFAULT_REPO, show_default=True, type=click.Path(file_okay=False))
@click.option(
    "--data",
    type=click.Path(dir_okay=False),
    help="Canonical events: fold their history into the repo's parquet sources first.",
)
@KIND
def apply(repo: str, data: str | None, kind: str) -> None:
    """Register the Feast repo (`feast apply`), optionally writing its sources from --data."""
    from fraudscore._feast import apply_repo, write_sources
    from fraudscore._pipeline import offline_features, read_events

    def go() -> list[str]:
        if data:
            with step("building state history from the event stream"):
                write_sources(repo, offline_features(read_events(data), _kind(kind)).history)
        with step("feast apply"):
            return apply_repo(repo)

    console.print(f"feature views: {', '.join(_run(go))}")


@main.command()
@click.option("--repo", default=DEFAULT_REPO, show_default=True, type=click.Path(file_okay=False))
@click.option("--start", "start_s", default="1970-01-02T00:00:00+00:00", show_default=True)
@click.option("--end", "end_s", default=None, help="ISO time; default now.")
def materialize(repo: str, start_s: str, end_s: str | None) -> None:
    """Load the latest state per entity in [start, end] into the online store (every view whose
    parquet source exists)."""
    from fraudscore._feast import materialize_repo

    start = datetime.fromisoformat(start_s)
    end = datetime.fromisoformat(end_s) if end_s else datetime.now(UTC)
    with step("feast materialize"):
        _run(lambda: materialize_repo(repo, start, end))


@main.command()
@click.option("--data", required=True, type=click.Path(dir_okay=False))
@click.option("--train-start", required=True, callback=_day)
@click.option("--train-end", required=True, callback=_day)
@click.option("--out", "out_dir", required=True, type=click.Path(file_okay=False))
@KIND
def train(data: str, train_start: date, train_end: date, out_dir: str, kind: str) -> None:
    """Train on [train-start, train-end] (inclusive days) and write an ONNX bundle."""
    from fraudscore._pipeline import offline_features, read_events, train_model

    spec = _kind(kind)

    def go() -> Any:
        with step("building features from the whole history"):
            offline = offline_features(read_events(data), spec)
        with step("training XGBoost and exporting ONNX"):
            return train_model(
                offline.frame, train_start, train_end, out_dir, spec, offline=offline
            )

    trained = _run(go)
    m = trained.bundle.manifest
    console.print(f"bundle {m['model_version']} -> {out_dir}")
    console.print(f"validation: {json.dumps(m['metrics'])}")
    console.print(f"thresholds: {json.dumps(m['thresholds'])}")


@main.command()
@click.option("--bundle", required=True, type=click.Path(file_okay=False))
@click.option("--data", required=True, type=click.Path(dir_okay=False))
@click.option("--test-start", required=True, callback=_day)
@click.option("--test-end", required=True, callback=_day)
@click.option("--json", "as_json", is_flag=True, help="Print the metrics as JSON.")
def evaluate(bundle: str, data: str, test_start: date, test_end: date, as_json: bool) -> None:
    """Metrics of the bundle and its baselines on the test days (its kind is in the bundle)."""
    from fraudscore._pipeline import evaluate_file, read_events

    def go() -> dict[str, Any]:
        with step("building features and evaluating model + baselines"):
            return evaluate_file(bundle, read_events(data), test_start, test_end)

    report = _run(go)
    if as_json:
        click.echo(json.dumps(report, indent=2))
    else:
        print_metrics(report)


def print_metrics(report: dict[str, Any]) -> None:
    window = report["test_window"]
    counts = ", ".join(
        f"{k.removeprefix('test_')}: {v:,}"
        for k, v in report.items()
        if k.startswith("test_") and isinstance(v, int)
    )
    table = Table(title=f"test {window['start']}..{window['end']} ({counts})")
    names = list(next(iter(report["models"].values())))
    table.add_column("model", no_wrap=True)
    for n in names:
        table.add_column(n, justify="right")
    for model, metrics in report["models"].items():
        table.add_row(model, *(f"{metrics[n]:.3f}" for n in names))
    out.print(table)


@main.command()
@click.option("--bundle", required=True, type=click.Path(file_okay=False))
@click.option("--repo", default=DEFAULT_REPO, show_default=True, type=click.Path(file_okay=False))
@click.option("--data", type=click.Path(dir_okay=False), help="Canonical events to score.")
@click.option("--event", "event_json", help="One event as JSON (the bundle's kind).")
@click.option("--limit", default=10, show_default=True)
@click.option("--json", "as_json", is_flag=True)
def score(
    bundle: str, repo: str, data: str | None, event_json: str | None, limit: int, as_json: bool
) -> None:
    """Score events (from --data or --event) against the online store. Writes nothing."""
    from fraudscore._pipeline import read_events, to_events
    from fraudscore._scorer import Scorer

    def go() -> None:
        scorer = Scorer.open(bundle, repo)
        if event_json:
            fields = json.loads(event_json)
            fields["timestamp"] = datetime.fromisoformat(fields["timestamp"])
            events = [scorer.kind.event_type(**fields)]
        elif data:
            events = to_events(read_events(data).head(limit), scorer.kind)
        else:
            raise click.UsageError("give --data or --event")
        for event in events:
            result = scorer.score(event)
            if as_json:
                click.echo(json.dumps(result_dict(result)))
            else:
                print_result(event, result)

    _run(go)


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


@main.command()
@click.option(
    "--workdir",
    default="data/demo",
    show_default=True,
    type=click.Path(file_okay=False),
    help="Where the data, a copy of the Feast repo and the bundles go.",
)
@click.option(
    "--repo",
    default=DEFAULT_REPO,
    show_default=True,
    type=click.Path(file_okay=False),
    help="The Feast repo to copy into the workdir.",
)
@click.option("--customers", default=2_000, show_default=True)
@click.option("--terminals", default=4_000, show_default=True)
@click.option("--days", default=100, show_default=True, help="Days of transactions.")
@click.option("--users", default=2_000, show_default=True)
@click.option("--login-days", default=60, show_default=True)
@click.option("--seed", default=7, show_default=True)
@click.option("--show", default=6, show_default=True, help="Scored events to print per kind.")
def demo(
    workdir: str,
    repo: str,
    customers: int,
    terminals: int,
    days: int,
    users: int,
    login_days: int,
    seed: int,
    show: int,
) -> None:
    """Everything, end to end, on the embedded SQLite store, for transactions then logins:
    simulate, build the Feast store, train, evaluate, export, then score and record the last
    day's events live, with reasons."""
    work, template = Path(workdir), Path(repo)

    def go() -> None:
        work.mkdir(parents=True, exist_ok=True)
        feast_repo = work / "feature_repo"
        if feast_repo.exists():
            shutil.rmtree(feast_repo)
        shutil.copytree(template, feast_repo, ignore=shutil.ignore_patterns("data", "__pycache__"))
        run_demo(
            "transaction",
            work,
            feast_repo,
            _simulate("transaction", customers, terminals, days, seed, "2018-04-01"),
            show,
        )
        run_demo(
            "login",
            work,
            feast_repo,
            _simulate("login", users, None, login_days, seed, "2018-04-01"),
            show,
        )
        console.print(f"\nFeast repo: {feast_repo}  bundles and evaluations: {work}")

    _run(go)


def run_demo(kind_name: str, work: Path, repo: Path, data: Any, show: int) -> None:
    import pandas as pd

    from fraudscore._evaluate import default_windows
    from fraudscore._pipeline import (
        build_store,
        evaluate_file,
        offline_features,
        replay,
        train_model,
    )
    from fraudscore._scorer import Scorer

    kind = _kind(kind_name)
    out.rule(f"[bold]{kind_name}s")
    data.to_parquet(work / f"{kind_name}s.parquet", index=False)
    pattern = "fraud_pattern" if kind_name == "transaction" else "attack_pattern"
    patterns = data[pattern].value_counts()
    console.print(
        f"simulated {len(data):,} {kind_name}s, {data[kind.label].mean():.2%} {kind.label} "
        f"({', '.join(f'{k}: {v}' for k, v in patterns.items() if k != 'none')})"
    )
    with step("folding the history into features and state (offline pipeline)"):
        offline = offline_features(data, kind)
    frame = offline.frame
    train_days = 35 if kind_name == "transaction" else 28
    train_start, train_end, test_start, test_end = default_windows(frame, train_days=train_days)
    live_start = pd.Timestamp(frame["timestamp"].max().normalize())
    with step(f"feast apply + materialize state as of {live_start:%Y-%m-%d %H:%M}"):
        build_store(
            repo, offline, as_of=(live_start - pd.Timedelta(microseconds=1)).to_pydatetime()
        )
    bundle = work / f"{kind_name}_bundle"
    with step(f"training on {train_start}..{train_end}, exporting ONNX"):
        trained = train_model(data, train_start, train_end, bundle, kind, offline=offline)
    with step(f"evaluating on {test_start}..{test_end} against the baselines"):
        report = evaluate_file(bundle, data, test_start, test_end, offline=offline)
    print_metrics(report)
    (work / f"{kind_name}_evaluation.json").write_text(json.dumps(report, indent=2))
    scorer = Scorer.open(bundle, repo)
    live_end = live_start + pd.Timedelta(days=1)
    with step(f"live: score + record every event of {live_start:%Y-%m-%d}"):
        results = replay(scorer, frame, live_start.to_pydatetime(), live_end.to_pydatetime())
    truth = dict(zip(data[kind.id_field], data[pattern], strict=True))
    counts = pd.Series([r.decision for _, r in results]).value_counts().to_dict()
    console.print(f"  {len(results):,} events scored live: {counts}")
    flagged = sorted(results, key=lambda p: -p[1].score)[: max(show - 2, 1)]
    calm = [p for p in results if p[1].decision == kind.decisions[0]][:2]
    out.rule(f"model {trained.bundle.version}: highest-risk events, then two allowed")
    for event, result in flagged + calm:
        print_result(event, result, truth.get(getattr(event, kind.id_field)))


if __name__ == "__main__":  # pragma: no cover
    main()
