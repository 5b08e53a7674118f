"""Hot swap: a model change without a restart, atomic under concurrent scoring."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import pytest

from fraudscore import (
    BundleError,
    OfflineFeatures,
    Scorer,
    ScoreResult,
    TrainConfig,
    train_model,
)

from .conftest import TRAIN
from .test_scorer import assert_same_results, events_after_cutoff


@pytest.fixture(scope="module")
def challenger(tmp_path_factory: pytest.TempPathFactory, offline: OfflineFeatures) -> Path:
    out = tmp_path_factory.mktemp("challenger") / "bundle"
    return train_model(
        offline, *TRAIN, out, TrainConfig(max_depth=2, learning_rate=0.3)
    ).bundle.path


def test_swap_changes_the_model_and_every_result_names_its_version(
    scorer: Scorer, bundle_dir: Path, challenger: Path, offline: OfflineFeatures, repo: Path
) -> None:
    """After a swap, results are the challenger's, named by its version; swapping back
    restores the champion's results exactly."""
    events = events_after_cutoff(offline, 30)
    champion = [scorer.score(e) for e in events]
    expected = [Scorer.open(challenger, repo).score(e) for e in events]
    replaced = scorer.swap(challenger)
    assert replaced == champion[0].model_version
    assert [scorer.score(e) for e in events] == expected
    assert {r.model_version for r in expected} == {scorer.version} != {replaced}
    assert scorer.score_many(events) == expected
    scorer.swap(bundle_dir)
    assert [scorer.score(e) for e in events] == champion


def test_a_failing_swap_leaves_the_current_model_serving(
    scorer: Scorer,
    login_bundle_dir: Path,
    challenger: Path,
    tmp_path: Path,
    offline: OfflineFeatures,
) -> None:
    """Another kind, a tampered bundle and a required signature that is missing all raise, and
    the scorer keeps serving the model it had."""
    import json
    import shutil

    event = events_after_cutoff(offline, 1)[0]
    before = scorer.score(event)
    with pytest.raises(BundleError, match="scores logins"):
        scorer.swap(login_bundle_dir)
    tampered = tmp_path / "tampered"
    shutil.copytree(challenger, tampered)
    m = json.loads((tampered / "manifest.json").read_text())
    m["thresholds"]["block"] = 0.999999
    (tampered / "manifest.json").write_text(json.dumps(m))
    with pytest.raises(BundleError, match="manifest.json was modified"):
        scorer.swap(tampered)
    with pytest.raises(BundleError, match="not signed"):
        scorer.swap(challenger, require_signature=True)
    assert scorer.score(event) == before


@pytest.mark.kernel
def test_swaps_under_concurrent_scoring_fail_no_call(
    scorer: Scorer, bundle_dir: Path, challenger: Path, offline: OfflineFeatures, repo: Path
) -> None:
    """Four threads score a stream while the bundle is swapped back and forth (100 times or more): no call
    fails, and every result is exactly the champion's or the challenger's for its event."""
    events = events_after_cutoff(offline, 60)
    one = {e.transaction_id: scorer.score(e) for e in events}
    other_scorer = Scorer.open(challenger, repo)
    two = {e.transaction_id: other_scorer.score(e) for e in events}
    stop = threading.Event()
    errors: list[BaseException] = []
    seen: list[ScoreResult] = []
    batches: list[list[ScoreResult]] = []

    def work() -> None:
        while not stop.is_set():
            for e in events:
                try:
                    r = scorer.score(e)
                    batch = scorer.score_many(events[:40])
                except BaseException as exc:
                    errors.append(exc)
                    return
                seen.append(r)
                batches.append(batch)

    threads = [threading.Thread(target=work) for _ in range(4)]
    for t in threads:
        t.start()
    versions = {one[events[0].transaction_id].model_version}
    versions.add(two[events[0].transaction_id].model_version)
    # At least 100 swaps, and on until the threads have been served by both models (a slow
    # machine may finish 100 swaps before a thread's first call returns).
    i, deadline = 0, time.monotonic() + 120
    while i < 100 or (
        {r.model_version for r in seen[-200:]} != versions and time.monotonic() < deadline
    ):
        scorer.swap(challenger if i % 2 == 0 else bundle_dir)
        i += 1
    stop.set()
    for t in threads:
        t.join()
    assert not errors
    assert {r.model_version for r in seen} == versions
    for r in seen:
        assert r in (one[r.event_id], two[r.event_id])
    by_version = {one[events[0].transaction_id].model_version: one}
    by_version[two[events[0].transaction_id].model_version] = two
    for batch in batches:  # each batch is scored by one model, whole
        (version,) = {b.model_version for b in batch}
        assert_same_results(batch, [by_version[version][b.event_id] for b in batch])


def test_shadow_challenger_scores_beside_the_champion(
    scorer: Scorer, challenger: Path, offline: OfflineFeatures, repo: Path
) -> None:
    """With a challenger, the champion still decides (its results unchanged but for .shadow);
    the challenger's score and decision are its own model's; the log records both, bounded."""
    from dataclasses import replace

    events = events_after_cutoff(offline, 60)
    champion = [scorer.score(e) for e in events]
    alone = {e.transaction_id: Scorer.open(challenger, repo).score(e) for e in events}
    small = Scorer.open(scorer.bundle.path, repo, shadow_log_size=50)
    for s in (scorer, small):
        s.set_challenger(challenger)
    shadowed = [scorer.score(e) for e in events]
    assert [replace(r, shadow=None) for r in shadowed] == champion
    for r in shadowed:
        assert r.shadow is not None
        twin = alone[r.event_id]
        assert (r.shadow.model_version, r.shadow.decision) == (twin.model_version, twin.decision)
        assert r.shadow.score == pytest.approx(twin.score, abs=1e-12)
    batch = scorer.score_many(events)  # the array path shadows too
    assert [b.shadow.score for b in batch] == pytest.approx([r.shadow.score for r in shadowed])
    log = scorer.shadow_log(clear=True)
    assert len(log) == 120 and log[0].event_id == events[0].transaction_id
    assert (log[0].champion_score, log[0].challenger_score) == (
        shadowed[0].score,
        shadowed[0].shadow.score,
    )
    assert scorer.shadow_log() == []
    for e in events:
        small.score(e)
    assert [r.event_id for r in small.shadow_log()] == [e.transaction_id for e in events[-50:]]
    scorer.set_challenger(None)
    assert scorer.score(events[0]) == champion[0]


def test_shadow_report_compares_the_two_on_labelled_live_events(
    scorer: Scorer, challenger: Path, offline: OfflineFeatures, tmp_path: Path
) -> None:
    """The shadow log joined with labels: both models' AP from their own scores, decisions at
    each model's thresholds, and the disagreements; from the API and from the CLI."""
    import re
    from dataclasses import asdict

    import pandas as pd
    from click.testing import CliRunner
    from sklearn.metrics import average_precision_score

    from fraudscore import write_shadow_report
    from fraudscore._cli import main
    from fraudscore._training.pipeline import to_events

    scorer.set_challenger(challenger)
    frame = offline.frame
    events = to_events(frame[frame["is_fraud"] == 1].head(40)) + to_events(frame.head(400))
    for e in events:
        scorer.score(e)
    log = scorer.shadow_log()
    html = write_shadow_report(tmp_path / "s.html", log, frame, "transaction").read_text()
    found = dict(re.findall(r"<section id='([a-z]+)'>(.*?)</section>", html, flags=re.S))
    assert list(found) == ["summary", "curves", "thresholds", "disagreements"]
    labelled = pd.DataFrame([asdict(r) for r in log]).drop_duplicates("event_id", keep="last")
    labelled = labelled.merge(
        frame[["transaction_id", "is_fraud"]], left_on="event_id", right_on="transaction_id"
    )
    for who in ("champion", "challenger"):
        ap = average_precision_score(labelled["is_fraud"], labelled[f"{who}_score"])
        assert f"<td>{ap:.3f}</td>" in found["summary"]
    log_file = tmp_path / "log.parquet"
    pd.DataFrame([asdict(r) for r in log]).to_parquet(log_file)
    labels = tmp_path / "labels.parquet"
    frame[["transaction_id", "timestamp", "is_fraud"]].to_parquet(labels)
    out = tmp_path / "cli.html"
    result = CliRunner().invoke(
        main,
        ["shadow-report", "--log", str(log_file), "--data", str(labels), "--out", str(out)],
    )
    assert result.exit_code == 0, result.output
    assert "id='disagreements'" in out.read_text()


@pytest.mark.kernel
def test_a_call_reads_one_rule_set_and_one_list_version(
    scorer: Scorer, offline: OfflineFeatures, tmp_path: Path
) -> None:
    """While one thread swaps rule sets and another reloads a list, every ``score_many`` batch
    (on floats and on arrays) and every backfill chunk is decided by one rule set and one
    version of the list, whole."""
    import pandas as pd

    from fraudscore import load_rules

    events = events_after_cutoff(offline, 40)
    cards = tmp_path / "cards.txt"
    every = "\n".join(sorted({e.customer_id for e in events}))
    cards.write_text(every)

    def rules(name: str, action: str) -> Path:
        path = tmp_path / f"{name}.toml"
        path.write_text(
            'kind = "transaction"\n[lists.cards]\nfile = "cards.txt"\nmatch = "customer_id"\n'
            f'[[rules]]\nname = "{name}_listed"\naction = "{action}"\nwhen = "lists.cards"\n'
            'reason = "LISTED"\n'
            f'[[rules]]\nname = "{name}_rest"\naction = "review"\nwhen = "score >= 0.0"\n'
            'reason = "REST"\n'
        )
        return path

    sets = [load_rules(rules("one", "decline")), load_rules(rules("two", "approve"))]
    frame = pd.DataFrame([_fields(e) for e in events])
    stop = threading.Event()
    errors: list[BaseException] = []
    seen: list[set[str | None]] = []

    def score() -> None:
        try:
            while not stop.is_set():
                for batch in (scorer.score_many(events[:10]), scorer.score_many(events)):
                    seen.append({r.rule for r in batch})
                seen.append(set(scorer.frame_codes(frame)[4]))
        except BaseException as exc:
            errors.append(exc)

    scorer.set_rules(sets[0])
    threads = [threading.Thread(target=score) for _ in range(3)]
    for t in threads:
        t.start()
    outcomes = {"one_listed", "one_rest", "two_listed", "two_rest"}
    deadline = time.monotonic() + 60
    i = 0
    while i < 60 or (not outcomes <= {r for s in seen for r in s} and time.monotonic() < deadline):
        scorer.set_rules(sets[i % 2])
        for rule_set in sets:  # both sets read the one file: flip it between all and none
            cards.write_text(every if i % 3 else "")
            rule_set.reload_lists()
        time.sleep(0.002)
        i += 1
    stop.set()
    for t in threads:
        t.join()
    assert not errors
    assert all(len(rules_of_call) == 1 for rules_of_call in seen), [s for s in seen if len(s) > 1]
    assert {r for s in seen for r in s} == outcomes  # every rule set and list version served


def _fields(event: object) -> dict[str, object]:
    from dataclasses import fields

    return {f.name: getattr(event, f.name) for f in fields(event)}  # type: ignore[arg-type]
