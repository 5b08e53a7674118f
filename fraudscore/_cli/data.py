"""Commands on data and models: simulate, apply, materialize, train, evaluate, report,
monitor, shadow-report."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import click
from rich.table import Table

from fraudscore._cli import (
    DEFAULT_REPO,
    KIND,
    _columns,
    _day,
    _features,
    _kind,
    _run,
    console,
    data_options,
    main,
    out,
    step,
)


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


def fold_options(fn: Callable[..., Any]) -> Callable[..., Any]:
    """--partition-rows and --dask: fold the history in entity partitions, here or on Dask."""
    fn = click.option(
        "--dask",
        help="Run the partitioned fold on Dask: a scheduler address (tcp://host:8786) or "
        "local:N for N local worker processes. The source and the output must be on paths "
        "every worker reads and writes.",
    )(fn)
    return click.option(
        "--partition-rows",
        type=click.IntRange(min=1),
        help="Fold in entity partitions of about this many rows (bounded memory) instead of "
        "all in memory. Needs parquet data (a file or a directory of parts).",
    )(fn)


def _fold(
    data: str,
    out: Path,
    kind: str,
    columns_spec: str | None,
    timezone: str,
    drop_bad_rows: bool,
    partition_rows: int | None,
    dask: str | None,
) -> Any:
    from fraudscore._training.partitioned import fold_partitioned

    folded = fold_partitioned(
        data,
        out,
        kind,
        columns=_columns(columns_spec, timezone),
        bad_rows="drop" if drop_bad_rows else "fail",
        partition_rows=partition_rows or 1_000_000,
        dask=dask,
    )
    for reason, count in folded.dropped_rows.items():
        console.print(f"[yellow]dropped[/] {count:,} row(s): {reason}")
    return folded


@main.command()
@click.option("--data", required=True, type=click.Path(), help="Events: parquet file or parts.")
@click.option("--out", "out_dir", required=True, type=click.Path(file_okay=False))
@KIND
@data_options
@fold_options
def fold(
    data: str,
    out_dir: str,
    kind: str,
    columns_spec: str | None,
    timezone: str,
    drop_bad_rows: bool,
    partition_rows: int | None,
    dask: str | None,
) -> None:
    """Fold a history in entity partitions to parquet: features/ and history/<view>/ parts."""
    args = (kind, columns_spec, timezone, drop_bad_rows, partition_rows, dask)
    with step("folding the history in partitions"):
        folded = _run(lambda: _fold(data, Path(out_dir), *args))
    console.print(
        f"{folded.rows:,} {kind}s in {folded.partitions} partition(s) -> "
        f"{folded.features} and {folded.out / 'history'}"
    )


@main.command()
@click.option("--repo", default=DEFAULT_REPO, show_default=True, type=click.Path(file_okay=False))
@click.option(
    "--data",
    type=click.Path(),
    help="Events: fold their history into the repo's parquet sources first.",
)
@KIND
@data_options
@fold_options
def apply(
    repo: str,
    data: str | None,
    kind: str,
    columns_spec: str | None,
    timezone: str,
    drop_bad_rows: bool,
    partition_rows: int | None,
    dask: str | None,
) -> None:
    """Register the Feast repo (`feast apply`), optionally writing its sources from --data."""
    import tempfile

    from fraudscore._feast import apply_repo, write_sources

    def go() -> list[str]:
        if data and (partition_rows or dask):
            Path(repo).mkdir(parents=True, exist_ok=True)
            with (
                step("folding the history in partitions"),
                tempfile.TemporaryDirectory(dir=repo) as tmp,
            ):
                args = (kind, columns_spec, timezone, drop_bad_rows, partition_rows, dask)
                folded = _fold(data, Path(tmp) / "fold", *args)
                write_sources(repo, folded.history)
        elif data:
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
) -> tuple[Any, list[Any]]:
    """The features, and each bundle evaluated on the same test days of them."""
    from fraudscore._model.bundle import load_bundle
    from fraudscore._training.evaluate import evaluate

    loaded = [load_bundle(b) for b in bundles]
    kinds = {b.kind for b in loaded}
    if len(kinds) > 1:
        raise click.UsageError(f"the bundles are of different kinds: {sorted(kinds)}")
    with step("building features"):
        features = _features(data, loaded[0].kind, columns_spec, timezone, drop_bad_rows)
    with step(f"evaluating {len(loaded)} bundle(s) and the baselines"):
        return features, [
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
        _, (result,) = _evaluations(
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
@click.option(
    "--rules",
    type=click.Path(dir_okay=False),
    help="A rules file: add its backtest (with the first bundle) to the report.",
)
@KNOWN
@data_options
def report(
    bundles: tuple[str, ...],
    data: str,
    test_start: date,
    test_end: date,
    out_path: str,
    rules: str | None,
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
        features, evaluations = _evaluations(
            bundles, data, test_start, test_end, known_compromised,
            columns_spec, timezone, drop_bad_rows,
        )  # fmt: skip
        backtest = None
        if rules:
            from fraudscore._training.backtest import backtest_rules

            with step("backtesting the rules with the first bundle"):
                backtest = backtest_rules(rules, bundles[0], features, test_start, test_end)
        with step("drawing the report"):
            return write_report(out_path, evaluations, backtest=backtest)

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

    from fraudscore._training.pipeline import read_events
    from fraudscore._training.report import write_shadow_report

    def go() -> Path:
        labels = read_events(data, _columns(columns_spec, timezone))
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
