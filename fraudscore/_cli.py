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


def data_options(fn: Callable[..., Any]) -> Callable[..., Any]:
    """--columns, --timezone and --drop-bad-rows: how to read a frame that is not canonical."""
    fn = click.option(
        "--drop-bad-rows",
        is_flag=True,
        help="Drop invalid rows (counted in the manifest) instead of listing them and stopping.",
    )(fn)
    fn = click.option(
        "--timezone",
        default="UTC",
        show_default=True,
        help="IANA timezone of naive timestamps (with --columns).",
    )(fn)
    return click.option(
        "--columns",
        "columns_spec",
        help="Column mapping: 'handbook' (the handbook's public files) or "
        "'SRC=canonical,...'. Integer ids become strings; naive times are read in --timezone.",
    )(fn)


def _features(
    data: str, kind: str, columns_spec: str | None, timezone: str, drop_bad_rows: bool
) -> Any:
    from fraudscore._columns import Columns
    from fraudscore._training.pipeline import build_features, read_events

    columns = None
    if columns_spec or timezone != "UTC":
        columns = Columns.parse(columns_spec or "", timezone)
    features = build_features(
        read_events(data, columns), kind, bad_rows="drop" if drop_bad_rows else "fail"
    )
    for reason, count in features.dropped_rows.items():
        console.print(f"[yellow]dropped[/] {count:,} row(s): {reason}")
    return features


def _kind(name: str) -> Any:
    from fraudscore._kinds import kind_spec

    return kind_spec(name)


def _simulate(
    kind: str,
    size: int | None,
    terminals: int | None,
    days: int | None,
    seed: int,
    start: str,
    generator: str = "fraudscore",
) -> Any:
    """Simulated events: each option, when given, replaces the simulator's default."""
    from dataclasses import replace

    from fraudscore._sim.handbook import HandbookSimConfig, simulate_handbook
    from fraudscore._sim.logins import LoginSimConfig, simulate_logins
    from fraudscore._sim.transactions import TransactionSimConfig, simulate_transactions

    if generator == "handbook" and kind != "transaction":
        raise click.UsageError("the handbook generator makes transactions only")
    choices: dict[str, tuple[Callable[[Any], Any], Any, str]] = {
        "handbook": (simulate_handbook, HandbookSimConfig(), "n_customers"),
        "login": (simulate_logins, LoginSimConfig(), "n_users"),
        "transaction": (simulate_transactions, TransactionSimConfig(), "n_customers"),
    }
    make, config, size_field = choices[generator if generator == "handbook" else kind]
    given = {size_field: size, "n_terminals": terminals, "n_days": days}
    changes = {k: v for k, v in given.items() if v is not None and hasattr(config, k)}
    return make(replace(config, seed=seed, start=start, **changes))


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
@click.option(
    "--generator",
    type=click.Choice(["fraudscore", "handbook"]),
    default="fraudscore",
    show_default=True,
    help="fraudscore's simulators, or the fraud-detection handbook's transaction generator "
    "(5,000 cards, 10,000 terminals, 183 days by default).",
)
def simulate(
    out_path: str,
    kind: str,
    size: int | None,
    terminals: int | None,
    days: int | None,
    seed: int,
    start: str,
    generator: str,
) -> None:
    """Simulate labelled events (canonical columns) into a parquet file."""
    with step(f"simulating {kind}s ({generator})"):
        df = _run(lambda: _simulate(kind, size, terminals, days, seed, start, generator))
        Path(out_path).parent.mkdir(parents=True, exist_ok=True)
        df.to_parquet(out_path, index=False)
    label = _kind(kind).label
    console.print(f"{len(df):,} {kind}s, {df[label].mean():.2%} {label} -> {out_path}")


@main.command()
@click.option("--repo", default=DEFAULT_REPO, show_default=True, type=click.Path(file_okay=False))
@click.option(
    "--data",
    type=click.Path(),
    help="Events: fold their history into the repo's parquet sources first.",
)
@KIND
@data_options
def apply(
    repo: str,
    data: str | None,
    kind: str,
    columns_spec: str | None,
    timezone: str,
    drop_bad_rows: bool,
) -> None:
    """Register the Feast repo (`feast apply`), optionally writing its sources from --data."""
    from fraudscore._feast import apply_repo, write_sources

    def go() -> list[str]:
        if data:
            with step("building state history from the event stream"):
                features = _features(data, kind, columns_spec, timezone, drop_bad_rows)
                write_sources(repo, features.history)
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
@click.option("--data", required=True, type=click.Path())
@click.option("--train-start", required=True, callback=_day)
@click.option("--train-end", required=True, callback=_day)
@click.option("--out", "out_dir", required=True, type=click.Path(file_okay=False))
@KIND
@data_options
@click.option(
    "--select",
    is_flag=True,
    help="Choose depth, learning rate, trees, min_child_weight and scale_pos_weight by "
    "prequential validation on the history before the window (32 settings x 4 folds).",
)
@click.option(
    "--grid",
    "grid_json",
    help="With --select, the settings to try as JSON, e.g. '{\"max_depth\": [3, 5]}' "
    "(every combination; default: the 32 of SELECTION_GRID).",
)
@click.option(
    "--no-refit",
    is_flag=True,
    help="Export the early-stopped model instead of refitting it on the whole window.",
)
def train(
    data: str,
    train_start: date,
    train_end: date,
    out_dir: str,
    kind: str,
    columns_spec: str | None,
    timezone: str,
    drop_bad_rows: bool,
    select: bool,
    grid_json: str | None,
    no_refit: bool,
) -> None:
    """Train on [train-start, train-end] (inclusive days) and write an ONNX bundle."""
    from fraudscore._training.pipeline import train_model
    from fraudscore._training.train import SELECTION_GRID, TrainConfig

    grid = dict(SELECTION_GRID)
    if grid_json:
        try:
            given = json.loads(grid_json)
            if not isinstance(given, dict) or not set(given) <= set(SELECTION_GRID):
                raise ValueError
            grid = {k: tuple(v) for k, v in given.items()}
        except (ValueError, TypeError):
            raise click.BadParameter(
                f"{grid_json!r} is not a JSON object of lists over {sorted(SELECTION_GRID)}",
                param_hint="--grid",
            ) from None

    def go() -> Any:
        with step("building features from the whole history"):
            features = _features(data, kind, columns_spec, timezone, drop_bad_rows)
        what = "selecting settings, training" if select else "training"
        with step(f"{what} XGBoost and exporting ONNX"):
            config = TrainConfig(select=select, grid=grid, refit=not no_refit)
            return train_model(features, train_start, train_end, out_dir, config)

    trained = _run(go)
    m = trained.bundle.manifest
    console.print(f"bundle {m['model_version']} -> {out_dir}")
    console.print(f"validation: {json.dumps(m['metrics'])}")
    console.print(f"thresholds: {json.dumps(m['thresholds'])}")
    if m.get("selection"):
        chosen = m["selection"]
        console.print(
            f"selected: {json.dumps(chosen['chosen'])} "
            f"(prequential AP {chosen['chosen_average_precision']:.3f})"
        )


KNOWN = click.option(
    "--known-compromised",
    type=click.Choice(["handbook", "all-history"]),
    default="handbook",
    show_default=True,
    help="Transactions: which cards each test day drops as already known compromised. "
    "handbook: frauds since the training start, up to the day minus the label delay; "
    "all-history: any fraud label known before the day.",
)


def _evaluations(
    bundles: tuple[str, ...],
    data: str,
    test_start: date,
    test_end: date,
    known_compromised: str,
    columns_spec: str | None,
    timezone: str,
    drop_bad_rows: bool,
) -> list[Any]:
    """Each bundle evaluated on the same test days of the same features."""
    from fraudscore._model.bundle import load_bundle
    from fraudscore._training.evaluate import evaluate

    loaded = [load_bundle(b) for b in bundles]
    kinds = {b.kind for b in loaded}
    if len(kinds) > 1:
        raise click.UsageError(f"the bundles are of different kinds: {sorted(kinds)}")
    with step("building features"):
        features = _features(data, loaded[0].kind, columns_spec, timezone, drop_bad_rows)
    with step(f"evaluating {len(loaded)} bundle(s) and the baselines"):
        return [
            evaluate(b, features, test_start, test_end, known_compromised=known_compromised)  # type: ignore[arg-type]
            for b in loaded
        ]


@main.command()
@click.option("--bundle", required=True, type=click.Path(file_okay=False))
@click.option("--data", required=True, type=click.Path())
@click.option("--test-start", required=True, callback=_day)
@click.option("--test-end", required=True, callback=_day)
@KNOWN
@data_options
@click.option(
    "--scores-out",
    type=click.Path(dir_okay=False),
    help="Write one row per test event (ids, label, every model's score, reasons) as parquet.",
)
@click.option("--json", "as_json", is_flag=True, help="Print the metrics as JSON.")
def evaluate(
    bundle: str,
    data: str,
    test_start: date,
    test_end: date,
    known_compromised: str,
    columns_spec: str | None,
    timezone: str,
    drop_bad_rows: bool,
    scores_out: str | None,
    as_json: bool,
) -> None:
    """Metrics of the bundle and its baselines on the test days (its kind is in the bundle)."""

    def go() -> Any:
        (result,) = _evaluations(
            (bundle,), data, test_start, test_end, known_compromised,
            columns_spec, timezone, drop_bad_rows,
        )  # fmt: skip
        if scores_out:
            result.write_scores(scores_out)
            console.print(f"{len(result.scores):,} scored test events -> {scores_out}")
        return result

    result = _run(go)
    if as_json:
        click.echo(json.dumps(result.metrics, indent=2))
    else:
        print_metrics(result.metrics)


@main.command()
@click.option(
    "--bundle",
    "bundles",
    required=True,
    multiple=True,
    type=click.Path(file_okay=False),
    help="One bundle, or two (champion first, then challenger) compared side by side.",
)
@click.option("--data", required=True, type=click.Path())
@click.option("--test-start", required=True, callback=_day)
@click.option("--test-end", required=True, callback=_day)
@click.option("--out", "out_path", required=True, type=click.Path(dir_okay=False))
@KNOWN
@data_options
def report(
    bundles: tuple[str, ...],
    data: str,
    test_start: date,
    test_end: date,
    out_path: str,
    known_compromised: str,
    columns_spec: str | None,
    timezone: str,
    drop_bad_rows: bool,
) -> None:
    """A self-contained HTML report of one bundle, or two side by side, on the test days."""
    from fraudscore._training.report import write_report

    if len(bundles) > 2:
        raise click.UsageError("give one bundle, or two (champion and challenger)")

    def go() -> Path:
        evaluations = _evaluations(
            bundles, data, test_start, test_end, known_compromised,
            columns_spec, timezone, drop_bad_rows,
        )  # fmt: skip
        with step("drawing the report"):
            return write_report(out_path, evaluations)

    console.print(f"report -> {_run(go)}")


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
) -> None:
    """Score events (from --data or --event) against the online store. Writes nothing to it.

    With --data, the events after the store's state by default: earlier ones are already in it
    (they would score as late events)."""
    from fraudscore._columns import Columns
    from fraudscore._serving.scorer import Scorer
    from fraudscore._training.pipeline import read_events, to_events

    columns = None
    if columns_spec or timezone != "UTC":
        columns = Columns.parse(columns_spec or "", timezone)

    def go() -> None:
        from fraudscore._model.bundle import signing_key

        key = signing_key(key_file=key_file)
        scorer = Scorer.open(bundle, repo, key=key, require_signature=require_signature)
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


@main.command("shadow-report")
@click.option(
    "--log",
    "log_path",
    required=True,
    type=click.Path(dir_okay=False),
    help="A shadow log as parquet (Scorer.shadow_log() records).",
)
@click.option(
    "--data", required=True, type=click.Path(), help="Labelled events: their ids and labels."
)
@KIND
@click.option("--out", "out_path", required=True, type=click.Path(dir_okay=False))
@click.option("--columns", "columns_spec", help="Column mapping of --data (see train).")
@click.option("--timezone", default="UTC", show_default=True)
def shadow_report(
    log_path: str,
    data: str,
    kind: str,
    out_path: str,
    columns_spec: str | None,
    timezone: str,
) -> None:
    """Champion against challenger on live events, from a shadow log and the labels known."""
    import pandas as pd

    from fraudscore._columns import Columns
    from fraudscore._training.pipeline import read_events
    from fraudscore._training.report import write_shadow_report

    def go() -> Path:
        columns = None
        if columns_spec or timezone != "UTC":
            columns = Columns.parse(columns_spec or "", timezone)
        labels = read_events(data, columns)
        return write_shadow_report(out_path, pd.read_parquet(log_path), labels, kind)

    console.print(f"shadow report -> {_run(go)}")


@main.command()
@click.option("--bundle", required=True, type=click.Path(file_okay=False))
@click.option("--data", required=True, type=click.Path(), help="Live events (with history).")
@click.option("--start", "start_day", callback=_day, help="First day to monitor (default: all).")
@click.option("--end", "end_day", callback=_day, help="Last day to monitor.")
@data_options
@click.option("--json", "as_json", is_flag=True)
def monitor(
    bundle: str,
    data: str,
    start_day: date | None,
    end_day: date | None,
    columns_spec: str | None,
    timezone: str,
    drop_bad_rows: bool,
    as_json: bool,
) -> None:
    """Drift without labels: PSI of each feature and of the score against the bundle's training
    reference (flags over 0.1 and 0.25), and the alert rates against the expected ones."""
    from fraudscore._model.bundle import load_bundle
    from fraudscore._training.pipeline import monitor as drift_of

    def go() -> Any:
        loaded = load_bundle(bundle)
        with step("building features and scoring"):
            features = _features(data, loaded.kind, columns_spec, timezone, drop_bad_rows)
            return drift_of(loaded, features, start_day, end_day)

    report = _run(go)
    if as_json:
        click.echo(json.dumps(report.to_dict(), indent=2))
        return
    table = Table(
        title=f"drift over {report.events:,} scored events (PSI; > 0.1 moderate, > 0.25 major)"
    )
    table.add_column("feature")
    table.add_column("PSI", justify="right")
    table.add_column("flag")
    flagged = report.flagged
    for name, value in sorted(report.features.items(), key=lambda kv: -kv[1]):
        table.add_row(name, f"{value:.3f}", flagged.get(name, ""))
    table.add_row("[bold]score[/]", f"{report.score:.3f}", "")
    out.print(table)
    for level in ("review", "block"):
        out.print(
            f"{level} rate: {report.alert_rates[level]:.2%} live, "
            f"{report.expected_alert_rates[level]:.2%} expected"
        )


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

    from fraudscore._serving.scorer import Scorer
    from fraudscore._training.evaluate import default_windows, evaluate
    from fraudscore._training.pipeline import build_features, build_store, replay, train_model

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
        features = build_features(data, kind)
    frame = features.frame
    train_days = 35 if kind_name == "transaction" else 28
    train_start, train_end, test_start, test_end = default_windows(frame, train_days=train_days)
    live_start = pd.Timestamp(frame["timestamp"].max().normalize())
    with step(f"feast apply + materialize state as of {live_start:%Y-%m-%d %H:%M}"):
        build_store(
            repo, features, as_of=(live_start - pd.Timedelta(microseconds=1)).to_pydatetime()
        )
    bundle = work / f"{kind_name}_bundle"
    with step(f"training on {train_start}..{train_end}, exporting ONNX"):
        trained = train_model(features, train_start, train_end, bundle)
    with step(f"evaluating on {test_start}..{test_end} against the baselines"):
        evaluation = evaluate(trained.bundle, features, test_start, test_end)
    print_metrics(evaluation.metrics)
    (work / f"{kind_name}_evaluation.json").write_text(json.dumps(evaluation.metrics, indent=2))
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
