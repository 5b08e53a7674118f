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

from fraudscore._cli.base import (
    DEFAULT_REPO,
    KIND,
    _columns,
    _features,
    _folded,
    _kind,
    at_most,
    columns_options,
    console,
    data_options,
    main,
    out,
    step,
    window,
    written,
)
from fraudscore._cli.types import (
    BUNDLE,
    DAY,
    EVENTS,
    INSTANT,
    REPO,
    DaskAddress,
    Events,
    Grid,
    Output,
    check_order,
)
from fraudscore._kinds import KINDS

#: Positive counts (sizes, days) and the seed, which numpy wants >= 0.
POSITIVE = click.IntRange(min=1)
SEED = click.IntRange(min=0)


#: The kinds that ship a simulator.
_SIMULATED = {n: k for n, k in KINDS.items() if k.simulators}


def _first(kind: Any) -> Any:
    return next(iter(kind.simulators.values()))


def _simulate(
    kind: str,
    size: int | None,
    terminals: int | None,
    days: int | None,
    seed: int,
    start: str,
    generator: str | None = None,
) -> Any:
    """Simulated events of ``kind`` from its simulator ``generator`` (default: its first): each
    option, when given, replaces the simulator's default."""
    from dataclasses import replace

    sim = _simulator(kind, generator)
    config = sim.config
    given = {sim.size: size, "n_terminals": terminals, "n_days": days}
    changes = {k: v for k, v in given.items() if v is not None and hasattr(config, k)}
    return sim.simulate(replace(config, seed=seed, start=start, **changes))


def _simulator(kind: str, generator: str | None) -> Any:
    sims = _kind(kind).simulators
    if not sims:
        raise click.BadParameter(
            f"got {kind!r}, which has no simulator: bring your own data", param_hint="'--kind'"
        )
    if generator is None:
        return _first(_kind(kind))
    if generator not in sims:
        raise click.BadParameter(
            f"got {generator!r}; the {kind} simulators are {', '.join(sims)}",
            param_hint="'--generator'",
        )
    return sims[generator]


@main.command()
@click.option(
    "--out",
    "out_path",
    type=Output(),
    required=True,
    help="Parquet file to write.",
)
@KIND
@click.option(
    "--size",
    type=POSITIVE,
    help="Entities: "
    + ", ".join(
        f"{next(iter(k.simulators.values())).size_of} ({n}s)" for n, k in _SIMULATED.items()
    )
    + ".",
)
@click.option("--terminals", type=POSITIVE, help="Terminals, for a simulator that has them.")
@click.option("--days", type=POSITIVE, help="Days of history (default: the simulator's).")
@click.option("--seed", default=7, show_default=True, type=SEED)
@click.option("--start", default="2018-04-01", show_default=True, type=DAY, help="First day.")
@click.option(
    "--generator",
    type=click.Choice(sorted({g for k in KINDS.values() for g in k.simulators})),
    help="A simulator of the kind (default: its first): "
    + "; ".join(f"{n}: {', '.join(k.simulators)}" for n, k in _SIMULATED.items())
    + ". The handbook's is the fraud-detection handbook's transaction generator (5,000 cards, "
    "10,000 terminals, 183 days by default).",
)
def simulate(
    out_path: str,
    kind: str,
    size: int | None,
    terminals: int | None,
    days: int | None,
    seed: int,
    start: date,
    generator: str | None,
) -> None:
    """Simulate labelled events (canonical columns) into a parquet file."""
    _simulator(kind, generator)  # a bad choice fails before any work
    with step(f"simulating {kind}s ({generator or 'default'})"):
        df = _simulate(kind, size, terminals, days, seed, start.isoformat(), generator)
        with written(out_path) as tmp:
            df.to_parquet(tmp, index=False)
    label = _kind(kind).label
    console.print(f"{len(df):,} {kind}s, {df[label].mean():.2%} {label} -> {out_path}")


def fold_options(fn: Callable[..., Any]) -> Callable[..., Any]:
    """--partition-rows and --dask: fold the history in entity partitions, here or on Dask."""
    fn = click.option(
        "--dask-timeout",
        type=click.FloatRange(min=0, min_open=True, max=3600),
        default=10.0,
        show_default=True,
        help="Seconds to wait for the --dask scheduler to answer.",
    )(fn)
    fn = click.option(
        "--dask",
        type=DaskAddress(),
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
    dask_timeout: float,
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
        dask_timeout=dask_timeout,
    )
    for reason, count in folded.dropped_rows.items():
        console.print(f"[yellow]dropped[/] {count:,} row(s): {reason}")
    return folded


@main.command()
@click.option(
    "--data", required=True, type=Events(csv=False), help="Events: parquet file or parts."
)
@click.option("--out", "out_dir", required=True, type=Output(directory=True))
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
    dask_timeout: float,
) -> None:
    """Fold a history in entity partitions to parquet: features/ and history/<view>/ parts."""
    args = (kind, columns_spec, timezone, drop_bad_rows, partition_rows, dask, dask_timeout)
    with step("folding the history in partitions"), written(out_dir) as tmp:
        folded = _fold(data, tmp, *args)
    target = Path(out_dir)
    console.print(
        f"{folded.rows:,} {kind}s in {folded.partitions} partition(s) -> "
        f"{target / 'features'} and {target / 'history'}"
    )


@main.command()
@click.option("--repo", default=DEFAULT_REPO, show_default=True, type=REPO)
@click.option(
    "--data",
    type=EVENTS,
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
    dask_timeout: float,
) -> None:
    """Register the Feast repo (`feast apply`), optionally writing its sources from --data."""
    import tempfile

    from fraudscore._feast import write_sources
    from fraudscore._online.repo import apply_repo

    if dask and Path(data or "").suffix.lower() == ".csv":
        raise click.BadParameter(
            f"got {data!r}, a CSV file; expected parquet with --dask", param_hint="'--data'"
        )
    if data and (partition_rows or dask):
        with (
            step("folding the history in partitions"),
            tempfile.TemporaryDirectory(dir=repo) as tmp,
        ):
            args = (kind, columns_spec, timezone, drop_bad_rows, partition_rows, dask, dask_timeout)
            folded = _fold(data, Path(tmp) / "fold", *args)
            write_sources(repo, folded.history)
    elif data:
        with step("building state history from the event stream"):
            features = _features(data, kind, columns_spec, timezone, drop_bad_rows)
            write_sources(repo, features.history)
    with step("feast apply"):
        views = apply_repo(repo)
    console.print(f"feature views: {', '.join(views)}")


@main.command()
@click.option("--repo", default=DEFAULT_REPO, show_default=True, type=REPO)
@click.option(
    "--data", required=True, type=EVENTS, help="The offline history (events and known labels)."
)
@click.option(
    "--log",
    "log_dir",
    required=True,
    type=click.Path(exists=True, file_okay=False),
    help="The decision log directory the scorers wrote (DecisionLog).",
)
@KIND
@columns_options
def rebuild(
    repo: str, data: str, log_dir: str, kind: str, columns_spec: str | None, timezone: str
) -> None:
    """Rebuild a lost online store: the history in --data plus every event --log recorded."""
    from fraudscore._training.pipeline import read_events, rebuild_store

    history = read_events(data, _columns(columns_spec, timezone))
    with step("folding the history and the logged events, feast teardown, apply, materialize"):
        added = rebuild_store(repo, history, log_dir, kind)
    console.print(f"{len(history):,} {kind}s from the history, {added:,} from the log")


@main.command()
@click.option("--repo", default=DEFAULT_REPO, show_default=True, type=REPO)
@click.option(
    "--start",
    default="1970-01-02T00:00:00+00:00",
    show_default=True,
    type=INSTANT,
    help="ISO time (naive: UTC).",
)
@click.option("--end", default=None, type=INSTANT, help="ISO time (naive: UTC); default now.")
def materialize(repo: str, start: datetime, end: datetime | None) -> None:
    """Load the latest state per entity in [start, end] into the online store (every view whose
    parquet source exists)."""
    from fraudscore._online.repo import materialize_repo

    end = end or datetime.now(UTC)
    check_order(start, end, "--start", "--end")
    with step("feast materialize"):
        materialize_repo(repo, start, end)


@main.command()
@click.option("--data", type=EVENTS, help="The event history to fold into features.")
@click.option(
    "--from-log",
    "from_log",
    type=click.Path(exists=True, file_okay=False),
    help="Instead of --data: a decision log directory; train on the features as served, "
    "joined with --labels (no attack examples: they need the history).",
)
@click.option(
    "--labels",
    type=EVENTS,
    help="With --from-log: the labels that arrived, the kind's id and label columns "
    "(transaction_id, is_fraud; login_id, is_ato); an event without one is genuine.",
)
@window("train_start", "train_end", what="First and last training day")
@click.option("--out", "out_dir", required=True, type=Output(directory=True))
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
    type=Grid(),
    help="With --select, the settings to try as JSON, e.g. '{\"max_depth\": [3, 5]}' "
    "(every combination; default: the 32 of SELECTION_GRID).",
)
@click.option(
    "--no-refit",
    is_flag=True,
    help="Export the early-stopped model instead of refitting it on the whole window.",
)
@click.option(
    "--attack-examples/--no-attack-examples",
    default=True,
    show_default=True,
    help="Train against the red team too: attacks of the kind's trained strategies on other "
    "cards or accounts in the window, labelled positive (README: 'Adaptive attackers').",
)
def train(
    data: str | None,
    from_log: str | None,
    labels: str | None,
    train_start: date,
    train_end: date,
    out_dir: str,
    kind: str,
    columns_spec: str | None,
    timezone: str,
    drop_bad_rows: bool,
    select: bool,
    grid: dict[str, tuple[Any, ...]] | None,
    no_refit: bool,
    attack_examples: bool,
) -> None:
    """Train on [train-start, train-end] (inclusive days) and write an ONNX bundle: on the
    features folded from --data, or on those served, from a decision log (--from-log)."""
    from fraudscore._redteam import with_attack_examples
    from fraudscore._training.pipeline import read_events, train_model
    from fraudscore._training.served import served_features
    from fraudscore._training.train import SELECTION_GRID, TrainConfig

    if (data is None) == (from_log is None):
        raise click.UsageError("give either --data (a history) or --from-log (a decision log)")
    if (labels is None) != (from_log is None):
        raise click.UsageError("--labels goes with --from-log, and --from-log needs --labels")
    synthetic: list[str] = []
    if from_log is not None:
        assert labels is not None
        with step("joining the served features with the labels"):
            features = served_features(from_log, read_events(labels), kind)
        for reason, count in features.dropped_rows.items():
            console.print(f"[yellow]left out[/] {count:,} score(s): {reason}")
    else:
        assert data is not None
        events = read_events(data, _columns(columns_spec, timezone))
        if attack_examples:
            with step("adding the red team's attack examples to the training window"):
                events, synthetic = with_attack_examples(events, kind, train_start, train_end)
            if not synthetic:
                console.print(f"[yellow]no attack examples[/]: {kind}s have no trained strategies")
        with step("building features from the whole history"):
            features = _folded(events, kind, drop_bad_rows)
    what = "selecting settings, training" if select else "training"
    with step(f"{what} XGBoost and exporting ONNX"), written(out_dir) as tmp:
        config = TrainConfig(select=select, grid=grid or dict(SELECTION_GRID), refit=not no_refit)
        trained = train_model(features, train_start, train_end, tmp, config, synthetic=synthetic)
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
    help="For kinds that drop them (cards, payout accounts): which entities each test day "
    "drops as already known compromised. handbook: frauds since the training start, up to "
    "the day minus the label delay; all-history: any fraud label known before the day.",
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
        raise click.BadParameter(
            f"got bundles of kinds {sorted(kinds)}, expected bundles of one kind",
            param_hint="'--bundle'",
        )
    with step("building features"):
        features = _features(data, loaded[0].kind, columns_spec, timezone, drop_bad_rows)
    with step(f"evaluating {len(loaded)} bundle(s) and the baselines"):
        return features, [
            evaluate(b, features, test_start, test_end, known_compromised=known_compromised)  # type: ignore[arg-type]
            for b in loaded
        ]


@main.command()
@click.option("--bundle", required=True, type=BUNDLE)
@click.option("--data", required=True, type=EVENTS)
@window("test_start", "test_end", what="First and last test day")
@KNOWN
@data_options
@click.option(
    "--scores-out",
    type=Output(),
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
    _, (result,) = _evaluations(
        (bundle,), data, test_start, test_end, known_compromised,
        columns_spec, timezone, drop_bad_rows,
    )  # fmt: skip
    if scores_out:
        with written(scores_out) as tmp:
            result.write_scores(tmp)
        console.print(f"{len(result.scores):,} scored test events -> {scores_out}")
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
    type=BUNDLE,
    callback=at_most(2, "one bundle, or two (champion and challenger)"),
    help="One bundle, or two (champion first, then challenger) compared side by side.",
)
@click.option("--data", required=True, type=EVENTS)
@window("test_start", "test_end", what="First and last test day")
@click.option("--out", "out_path", required=True, type=Output())
@click.option(
    "--rules",
    type=click.Path(exists=True, dir_okay=False),
    help="A rules file: add its backtest (with the first bundle) to the report.",
)
@click.option(
    "--red-team",
    "red_team_repo",
    type=REPO,
    help="A Feast repo holding the state as of the data's end: attack the first bundle with "
    "its kind's built-in strategies there (on a private copy; with --rules beside it) and add "
    "the red team's table.",
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
    red_team_repo: str | None,
    known_compromised: str,
    columns_spec: str | None,
    timezone: str,
    drop_bad_rows: bool,
) -> None:
    """A self-contained HTML report of one bundle, or two side by side, on the test days."""
    from fraudscore._training.report import write_report

    if rules:
        from fraudscore._serving.rules import load_rules

        load_rules(rules)  # a bad rules file is refused before the work
    features, evaluations = _evaluations(
        bundles, data, test_start, test_end, known_compromised,
        columns_spec, timezone, drop_bad_rows,
    )  # fmt: skip
    backtest = None
    if rules:
        from fraudscore._training.backtest import backtest_rules

        with step("backtesting the rules with the first bundle"):
            backtest = backtest_rules(rules, bundles[0], features, test_start, test_end)
    attacked = None
    if red_team_repo:
        from fraudscore._redteam import red_team
        from fraudscore._training.pipeline import read_events

        with step("attacking the first bundle with the red team"):
            history = read_events(data, _columns(columns_spec, timezone))
            attacked = red_team(bundles[0], red_team_repo, history, rules=rules)
    with step("drawing the report"), written(out_path) as tmp:
        write_report(tmp, evaluations, backtest=backtest, red_team=attacked)
    console.print(f"report -> {out_path}")


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
    type=Events(csv=False),
    help="A shadow log as parquet (Scorer.shadow_log() records).",
)
@click.option("--data", required=True, type=EVENTS, help="Labelled events: their ids and labels.")
@KIND
@click.option("--out", "out_path", required=True, type=Output())
@columns_options
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

    labels = read_events(data, _columns(columns_spec, timezone))
    log = pd.read_parquet(log_path)
    with written(out_path) as tmp:
        write_shadow_report(tmp, log, labels, kind)
    console.print(f"shadow report -> {out_path}")


@main.command()
@click.option("--bundle", required=True, type=BUNDLE)
@click.option("--data", required=True, type=EVENTS, help="Live events (with history).")
@window("start_day", "end_day", required=False, what="First and last day to monitor (default: all)")
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

    loaded = load_bundle(bundle)
    with step("building features and scoring"):
        features = _features(data, loaded.kind, columns_spec, timezone, drop_bad_rows)
        report = drift_of(loaded, features, start_day, end_day)
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
