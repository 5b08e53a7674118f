"""The main job, end to end: ``fraudscore demo``."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import click

from fraudscore._cli.base import (
    DEFAULT_REPO,
    _kind,
    console,
    main,
    out,
    step,
)
from fraudscore._cli.data import _SIMULATED, POSITIVE, SEED, _simulate, print_metrics
from fraudscore._cli.serving import print_result
from fraudscore._cli.types import REPO, Output


@main.command()
@click.option(
    "--workdir",
    default="data/demo",
    show_default=True,
    type=Output(directory=True),
    help="Where the data, a copy of the Feast repo and the bundles go.",
)
@click.option(
    "--repo",
    default=DEFAULT_REPO,
    show_default=True,
    type=REPO,
    help="The Feast repo to copy into the workdir.",
)
@click.option(
    "--kind",
    "kinds",
    multiple=True,
    type=click.Choice(list(_SIMULATED)),
    help="A kind to run (repeat for more; default: every kind with a simulator, in order).",
)
@click.option(
    "--size",
    type=POSITIVE,
    help="Entities per kind (default: each simulator's: 2,000 cards, users, accounts).",
)
@click.option("--terminals", type=POSITIVE, help="Terminals, for a simulator that has them.")
@click.option("--days", type=POSITIVE, help="Days of history (default: each simulator's).")
@click.option("--seed", default=7, show_default=True, type=SEED)
@click.option(
    "--show",
    default=6,
    show_default=True,
    type=POSITIVE,
    help="Scored events to print per kind.",
)
def demo(
    workdir: str,
    repo: str,
    kinds: tuple[str, ...],
    size: int | None,
    terminals: int | None,
    days: int | None,
    seed: int,
    show: int,
) -> None:
    """Everything, end to end, on the embedded SQLite store, for each kind in turn (card
    transactions, logins, payouts): simulate, build the Feast store, train, evaluate, export,
    then score and record the last day's events live, with reasons."""
    work, template = Path(workdir), Path(repo)

    work.mkdir(parents=True, exist_ok=True)
    feast_repo = work / "feature_repo"
    if feast_repo.exists():
        shutil.rmtree(feast_repo)
    shutil.copytree(template, feast_repo, ignore=shutil.ignore_patterns("data", "__pycache__"))
    for name in kinds or _SIMULATED:
        data = _simulate(name, size, terminals, days, seed, "2018-04-01")
        run_demo(name, work, feast_repo, data, show)
    console.print(f"\nFeast repo: {feast_repo}  bundles and evaluations: {work}")


def run_demo(kind_name: str, work: Path, repo: Path, data: Any, show: int) -> None:
    import pandas as pd

    from fraudscore._redteam import with_attack_examples
    from fraudscore._serving.scorer import Scorer
    from fraudscore._training.evaluate import default_windows, evaluate
    from fraudscore._training.pipeline import build_features, build_store, replay, train_model

    kind = _kind(kind_name)
    out.rule(f"[bold]{kind_name}s")
    data.to_parquet(work / f"{kind_name}s.parquet", index=False)
    simulator = next(iter(kind.simulators.values()))
    pattern = simulator.pattern
    patterns = data[pattern].value_counts()
    console.print(
        f"simulated {len(data):,} {kind_name}s, {data[kind.label].mean():.2%} {kind.label} "
        f"({', '.join(f'{k}: {v}' for k, v in patterns.items() if k != 'none')})"
    )
    with step("folding the history into features and state (offline pipeline)"):
        features = build_features(data, kind)
    frame = features.frame
    windows = default_windows(frame, train_days=simulator.train_days)
    train_start, train_end, test_start, test_end = windows
    live_start = pd.Timestamp(frame["timestamp"].max().normalize())
    with step(f"feast apply + materialize state as of {live_start:%Y-%m-%d %H:%M}"):
        build_store(
            repo, features, as_of=(live_start - pd.Timedelta(microseconds=1)).to_pydatetime()
        )
    bundle = work / f"{kind_name}_bundle"
    training = features
    synthetic: list[str] = []
    if kind.attacks is not None:
        with step("adding the red team's attack examples to the training window"):
            examples, synthetic = with_attack_examples(data, kind_name, train_start, train_end)
            if synthetic:  # the store keeps the real history; only the model sees the attacks
                training = build_features(examples, kind)
    if synthetic:
        console.print(f"  {len(synthetic):,} attack events of {kind_name}s, labelled positive")
    with step(f"training on {train_start}..{train_end}, exporting ONNX"):
        trained = train_model(training, train_start, train_end, bundle, synthetic=synthetic)
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
        print_result(kind, event, result, truth.get(getattr(event, kind.id_field)))
