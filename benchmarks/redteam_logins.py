"""Adaptive account-takeover attackers against the login scorer, before and after hardening.

    python -m benchmarks.redteam_logins [--victims 150] [--days 5] [--per-day 8]
                                        [--trained naive_stuffing,targeted,...]
                                        [--challenge-rate 0.01] [--workdir data/redteam]

The world is the demo's (``fraudscore demo``): 2,000 simulated users over 60 days (seed 7),
features folded from the whole history, models trained on the default windows (28 days, then a
week of label delay, then the 7 test days), the Feast store (embedded SQLite) built as of
``--days`` before the data's end from the clean history. Two models trained on the same window:

- ``baseline``: ``train_model`` on the history;
- ``hardened``: the same, on the history plus attack examples (``attack_examples``: open-loop
  runs of the ``--trained`` strategies, default the login theatre's ``trained`` set, against
  ``--per-day`` other accounts a day of the training window, labelled takeovers), passed as
  ``synthetic`` so that the thresholds, validation metrics and drift reference stay those of
  the real traffic. Its training victims are held out of the red team (``exclude``), for both
  models, and the strategies not trained on are held out too;
- ``hardened + suspicion`` (``--models``): the defence remembers its own suspicion. A prior
  model (hardened, trained on the first half of the window) is put in service at the half:
  ``with_decisions`` gives every later login it scores its decision, the history is folded
  again with them (a challenged or denied login counts in ``user_flagged_1d`` and builds no
  familiarity) and the model is trained on that. Its store, clean cost and red team use the
  decided history; the harness records each attempt with what was served.

Each model is then attacked by every built-in login strategy: ``--victims`` accounts for
``--days`` through the real ``Scorer.score`` and ``record``, on a private copy of the store,
with the victims' own traffic interleaved, model alone and with ``starter_rules("login")``;
first at the bundle's thresholds (the kind's default alert rates), then, with
``--challenge-rate``, at thresholds where that share of the genuine successful logins of the
clean test window is challenged or denied (the deny threshold stays the bundle's).

Clean cost, both models, on the clean test window (no attack examples): average precision,
takeover recall at a 1% challenge rate, and the genuine challenge rate at the bundle's
thresholds (the share of genuine scored logins challenged or denied).

It prints everything and writes it under the work folder (git-ignored): ``logins.md``, and
``logins.json`` with the timings.
"""

from __future__ import annotations

import argparse
import json
import shutil
import time
from dataclasses import asdict, dataclass, replace
from datetime import date
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from fraudscore import (
    LoginSimConfig,
    OfflineFeatures,
    build_features,
    build_store,
    evaluate,
    simulate_logins,
    starter_rules,
    train_model,
    with_decisions,
)
from fraudscore._model.bundle import Bundle, Thresholds
from fraudscore._redteam import attack_examples, red_team, theatre
from fraudscore._training.evaluate import default_windows

REPO_TEMPLATE = Path(__file__).resolve().parents[1] / "feature_repo"
#: The demo's login world.
WORLD = LoginSimConfig(n_users=2_000, n_days=60, seed=7, start="2018-04-01")
#: The strategies the hardened model trains on by default (the theatre's; the rest held out).
TRAINED = theatre("login").trained


@dataclass(frozen=True)
class World:
    """The simulated logins, their clean features and windows, and the store as of the cutoff."""

    data: pd.DataFrame
    features: OfflineFeatures
    windows: tuple[date, date, date, date]  # train start, train end, test start, test end
    repo: Path
    history: pd.DataFrame  # the events before the cutoff, folded into the store
    cutoff: pd.Timestamp  # where the attacks start


def build_world(work: Path, days: float) -> World:
    data = simulate_logins(WORLD)
    features = build_features(data, "login")
    end = pd.Timestamp(features.frame["timestamp"].max()).normalize() + pd.Timedelta(days=1)
    cutoff = end - pd.Timedelta(days=days)
    repo = work / "feature_repo"
    if repo.exists():
        shutil.rmtree(repo)
    shutil.copytree(REPO_TEMPLATE, repo, ignore=shutil.ignore_patterns("data", "__pycache__"))
    build_store(repo, features, as_of=(cutoff - pd.Timedelta(microseconds=1)).to_pydatetime())
    windows = default_windows(features.frame, train_days=28)
    if pd.Timestamp(windows[1], tz="UTC") >= cutoff:
        raise SystemExit(f"training ends {windows[1]}, after the attack starts ({cutoff})")
    return World(data, features, windows, repo, data[data["timestamp"] < cutoff], cutoff)


def train_both(
    world: World,
    work: Path,
    trained: tuple[str, ...],
    per_day: float,
    seed: int,
    models: tuple[str, ...] = ("baseline", "hardened"),
) -> tuple[dict[str, tuple[Bundle, World]], pd.DataFrame]:
    """The bundles (each with the world it serves: its store, features and history), and the
    attack examples the hardened ones trained on."""
    train_start, train_end, _, _ = world.windows
    attacks = attack_examples(
        world.history,
        "login",
        strategies=trained,
        start=pd.Timestamp(train_start, tz="UTC").to_pydatetime(),
        end=pd.Timestamp(train_end, tz="UTC").to_pydatetime(),
        per_day=per_day,
        seed=seed,
    )
    examples = pd.concat([world.data, attacks], ignore_index=True)
    hardened = build_features(examples, "login")
    synthetic = attacks["login_id"]

    def fit(name: str, features: OfflineFeatures, ids: Any, start: date, end: date) -> Bundle:
        out = work / f"login_{name}"
        if out.exists():
            shutil.rmtree(out)
        return train_model(features, start, end, out, synthetic=ids).bundle

    bundles = {}
    if "baseline" in models:
        bundles["baseline"] = (fit("baseline", world.features, (), train_start, train_end), world)
    if "hardened" in models:
        bundles["hardened"] = (fit("hardened", hardened, synthetic, train_start, train_end), world)
    if "hardened + suspicion" in models:
        half = train_start + (train_end - train_start) / 2
        prior = fit("prior", hardened, synthetic, train_start, half)
        since = pd.Timestamp(half + pd.Timedelta(days=1), tz="UTC").to_pydatetime()
        decided = with_decisions(examples, prior, since=since)
        served = decided["login_id"].isin(synthetic)
        flagged = decided["decision"].isin(["challenge", "deny"])
        print(
            f"prior model {train_start}..{half}; from {since:%Y-%m-%d}: "
            f"{flagged[~served].mean():.2%} of real logins flagged, "
            f"{flagged[served].mean():.2%} of attack examples",
            flush=True,
        )
        bundle = fit(
            "suspicion", build_features(decided, "login"), synthetic, train_start, train_end
        )
        real = decided[~served]
        features = build_features(real, "login")
        repo = work / "feature_repo_suspicion"
        if repo.exists():
            shutil.rmtree(repo)
        shutil.copytree(REPO_TEMPLATE, repo, ignore=shutil.ignore_patterns("data", "__pycache__"))
        as_of = (world.cutoff - pd.Timedelta(microseconds=1)).to_pydatetime()
        build_store(repo, features, as_of=as_of)
        history = real[real["timestamp"] < world.cutoff]
        served_world = replace(world, data=real, features=features, repo=repo, history=history)
        bundles["hardened + suspicion"] = (bundle, served_world)
    return bundles, attacks


def clean_cost(bundle: Bundle, world: World, rate: float) -> tuple[dict[str, float], Thresholds]:
    """Clean metrics on the test window, and the thresholds that challenge or deny ``rate`` of
    its genuine successful logins (the deny threshold kept at the bundle's)."""
    _, _, test_start, test_end = world.windows
    ev = evaluate(bundle, world.features, test_start, test_end)
    m = ev.metrics["models"]["model"]
    scores = ev.scores
    genuine = scores[scores["is_ato"] == 0]
    review = float(np.quantile(genuine["score"], 1.0 - rate, method="higher")) if rate else 1.0
    at_rate = Thresholds(review=review, block=max(review, bundle.thresholds.block))
    return {
        "average_precision": m["average_precision"],
        "roc_auc": m["roc_auc"],
        "recall_at_1pct_challenge": m["recall_at_1pct_challenge"],
        "genuine_flagged": float((genuine["decision"] != "allow").mean()),
        "genuine_denied": float((genuine["decision"] == "deny").mean()),
        "genuine_flagged_at_rate": float((genuine["score"] >= at_rate.review).mean()),
        "test_takeovers": int(scores["is_ato"].sum()),
        "test_genuine": len(genuine),
    }, at_rate


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--victims", type=int, default=150)
    parser.add_argument("--days", type=float, default=5.0)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--per-day", type=float, default=8.0, help="attacked accounts a day")
    parser.add_argument(
        "--trained",
        type=lambda s: tuple(n for n in s.split(",") if n),
        default=TRAINED,
        help="comma-separated strategies the hardened model trains on",
    )
    parser.add_argument(
        "--challenge-rate",
        type=float,
        default=0.01,
        help="also attack at this genuine challenge rate (0: the bundle's thresholds only)",
    )
    parser.add_argument("--workdir", type=Path, default=Path("data/redteam"))
    parser.add_argument(
        "--models",
        type=lambda s: tuple(n.strip() for n in s.split(",") if n.strip()),
        default=("baseline", "hardened", "hardened + suspicion"),
    )
    args = parser.parse_args()
    if not args.trained:
        raise SystemExit("no strategy to train on: pass --trained (the theatre's set is empty)")
    work: Path = args.workdir
    work.mkdir(parents=True, exist_ok=True)

    t0 = time.perf_counter()
    world = build_world(work, args.days)
    bundles, attacks = train_both(world, work, args.trained, args.per_day, args.seed, args.models)
    exclude = set(attacks["user_id"])
    built_s = time.perf_counter() - t0
    train_start, train_end, test_start, test_end = world.windows
    head = (
        f"login world: {len(world.history):,} events before {world.cutoff:%Y-%m-%d}; "
        f"{len(attacks):,} attack examples ({int(attacks['is_ato'].sum()):,} takeovers) on "
        f"{len(exclude)} accounts ({', '.join(args.trained)}; {args.per_day:g} a day), "
        f"train {train_start}..{train_end}, test {test_start}..{test_end}; built in {built_s:.0f} s"
    )
    print(head, flush=True)
    lines = [head]
    record: dict[str, Any] = {
        "victims": args.victims,
        "days": args.days,
        "seed": args.seed,
        "per_day": args.per_day,
        "trained": list(args.trained),
        "challenge_rate": args.challenge_rate,
        "start": str(world.cutoff),
        "attack_examples": len(attacks),
        "build_s": round(built_s, 1),
        "models": {},
    }
    for name, (bundle, served) in bundles.items():
        t0 = time.perf_counter()
        clean, at_rate = clean_cost(bundle, served, args.challenge_rate)
        t = bundle.thresholds
        settings: list[tuple[str, Thresholds | None]] = [
            (f"bundle's thresholds (challenge {t.review:.3f}, deny {t.block:.3f})", None)
        ]
        if args.challenge_rate:
            settings.append(
                (
                    f"{args.challenge_rate:.0%} genuine challenge rate "
                    f"(challenge {at_rate.review:.3f}, deny {at_rate.block:.3f})",
                    at_rate,
                )
            )
        text = (
            f"\n## {name}: clean AP {clean['average_precision']:.3f}, ROC AUC "
            f"{clean['roc_auc']:.3f}, takeover recall at a 1% challenge rate "
            f"{clean['recall_at_1pct_challenge']:.3f}; genuine successful logins challenged "
            f"or denied {clean['genuine_flagged']:.2%} (denied {clean['genuine_denied']:.2%}) "
            f"at the bundle's thresholds, {clean['genuine_flagged_at_rate']:.2%} at the "
            f"{args.challenge_rate:.0%} operating point ({clean['test_genuine']:,} genuine, "
            f"{clean['test_takeovers']} takeovers in the test window)"
        )
        print(text, flush=True)
        lines.append(text)
        runs = []
        for label, thresholds in settings:
            report = red_team(
                bundle,
                served.repo,
                served.history,
                victims=args.victims,
                days=args.days,
                start=world.cutoff.to_pydatetime(),
                rules=starter_rules("login"),
                thresholds=thresholds,
                exclude=exclude,
                seed=args.seed,
            )
            table = f"\n### {name}, {label}\n\n{report.table()}"
            print(table, flush=True)
            lines.append(table)
            runs.append(
                {
                    "setting": label,
                    "thresholds": None if thresholds is None else asdict(thresholds),
                    "results": [
                        {k: v for k, v in asdict(r).items() if k not in ("per_victim", "notes")}
                        for r in report.results
                    ],
                }
            )
        record["models"][name] = {
            "clean": clean,
            "thresholds": asdict(t),
            "runs": runs,
            "attack_s": round(time.perf_counter() - t0, 1),
        }
    total = f"\n{sum(m['attack_s'] for m in record['models'].values()) + built_s:.0f} s in all"
    print(total)
    (work / "logins.md").write_text("\n".join(lines) + "\n" + total + "\n")
    (work / "logins.json").write_text(json.dumps(record, indent=2))


if __name__ == "__main__":
    main()
