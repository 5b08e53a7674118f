"""Prometheus metrics: what a scrape reports equals what the scorer served, in one process and
summed over worker processes."""

from __future__ import annotations

import json
import os
import pickle
import sqlite3
import subprocess
import sys
import threading
from collections import Counter
from dataclasses import replace
from pathlib import Path

import pandas as pd
import pytest
from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.parser import text_string_to_metric_families

from fraudscore import (
    ConfigError,
    EventValidationError,
    FeatureStoreError,
    Scorer,
    ScoreResult,
    Thresholds,
    Transaction,
    starter_rules,
)
from fraudscore._serving.metrics import ScorerMetrics, metrics_app, metrics_text
from fraudscore._training.pipeline import to_events

from .conftest import CUTOFF

ROOT = Path(__file__).resolve().parents[1]
#: Every wait on a worker process is bounded by this many seconds.
WAIT = 180
#: Samples of a scrape: (sample name, sorted labels) -> value.
Samples = dict[tuple[str, tuple[tuple[str, str], ...]], float]


@pytest.fixture(scope="module")
def live(sim: pd.DataFrame) -> list[Transaction]:
    """Events after the store's cutoff, in time order."""
    return to_events(sim[sim["timestamp"] >= CUTOFF].sort_values("timestamp").head(200))


def parse(text: bytes | str) -> Samples:
    """Every sample of a text exposition, parsed by prometheus_client's own parser."""
    if isinstance(text, bytes):
        text = text.decode()
    return {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }


def scrape(metrics: ScorerMetrics) -> Samples:
    return parse(generate_latest(metrics.registry))


def value(samples: Samples, name: str, **labels: str) -> float:
    """The sample ``name`` with exactly ``labels`` (0 when absent: a counter never touched)."""
    return samples.get((name, tuple(sorted(labels.items()))), 0.0)


def series(samples: Samples, name: str) -> dict[tuple[tuple[str, str], ...], float]:
    return {labels: v for (n, labels), v in samples.items() if n == name}


def decisions(results: list[ScoreResult]) -> dict[tuple[str, str], int]:
    return dict(Counter((r.decision, r.model_version) for r in results))


def scraped_decisions(samples: Samples, kind: str = "transaction") -> dict[tuple[str, str], float]:
    out = {}
    for labels, v in series(samples, "fraudscore_decisions_total").items():
        d = dict(labels)
        assert d["kind"] == kind
        out[d["decision"], d["model_version"]] = v
    return out


def latency_count(samples: Samples, call: str, stage: str) -> float:
    return value(
        samples, "fraudscore_latency_seconds_count", kind="transaction", call=call, stage=stage
    )


# -- one process ---------------------------------------------------------------------------------


def test_counts_equal_what_was_served(
    bundle_dir: Path, repo: Path, live: list[Transaction]
) -> None:
    """Decisions by outcome equal the results' decisions; each latency histogram counts one
    observation per call and stage; results are those of a scorer without metrics."""
    metrics = ScorerMetrics()
    scorer = Scorer.open(bundle_dir, repo, metrics=metrics)
    plain = Scorer.open(bundle_dir, repo)
    assert scorer.metrics is metrics and plain.metrics is None
    single = [scorer.score(e) for e in live[:60]]
    assert single == [plain.score(e) for e in live[:60]]
    many = scorer.score_many(live[60:100])  # on arrays
    small = scorer.score_many(live[100:110])  # the single-event path
    assert many + small == plain.score_many(live[60:100]) + plain.score_many(live[100:110])
    scorer.record(live[0], single[0])
    scorer.record_many(live[1:4], ["review", None, "decline"])
    got = scrape(metrics)
    assert scraped_decisions(got) == decisions(single + many + small)
    for stage in ("store", "features", "model", "total"):
        assert latency_count(got, "score", stage) == 60
    assert latency_count(got, "score_many", "total") == 2
    assert latency_count(got, "score_many", "store") == 1  # only the batch on arrays
    assert latency_count(got, "score_many", "model") == 1
    assert latency_count(got, "record", "store") == latency_count(got, "record", "total") == 2
    assert latency_count(got, "score", "features") == 60
    total = value(
        got, "fraudscore_latency_seconds_sum", kind="transaction", call="score", stage="total"
    )
    parts = sum(
        value(got, "fraudscore_latency_seconds_sum", kind="transaction", call="score", stage=s)
        for s in ("store", "features", "model")
    )
    assert 0 < parts <= total  # the stages lie inside the call
    top = value(
        got,
        "fraudscore_latency_seconds_bucket",
        kind="transaction",
        call="score",
        stage="total",
        le="+Inf",
    )
    assert top == 60
    assert value(got, "fraudscore_degraded_total", kind="transaction") == 0
    assert not series(got, "fraudscore_errors_total")


def test_rule_hits_count_live_shadow_and_deciding_rules(
    bundle_dir: Path, repo: Path, live: list[Transaction], tmp_path: Path
) -> None:
    """Rule hits by rule and mode equal the results' matched and shadow rules (the starter
    rules, with events on a compromised terminal); the deciding rule is counted apart."""
    metrics = ScorerMetrics()
    scorer = Scorer.open(bundle_dir, repo, rules=starter_rules("transaction"), metrics=metrics)
    events = [replace(e, terminal_id="T000000") for e in live[:10]] + live[10:80]
    results = [scorer.score(e) for e in events] + scorer.score_many(events[:40])
    shadow_file = tmp_path / "shadow.toml"
    shadow_file.write_text(
        'kind = "transaction"\n[[rules]]\nname = "any_amount"\naction = "decline"\n'
        'when = "amount > 0.0"\nreason = "ANY"\ntext = "any"\nshadow = true\n'
    )
    scorer.set_rules(shadow_file)
    results += [scorer.score(e) for e in live[:15]]
    live_hits = Counter(n for r in results for n in r.matched_rules)
    shadow_hits = Counter(n for r in results for n in r.shadow_rules)
    deciding = Counter(r.rule for r in results if r.rule is not None)
    assert live_hits["compromised_terminal"] >= 10 + 10 and shadow_hits["any_amount"] == 15
    got = scrape(metrics)
    hits = {
        (d["rule"], d["mode"]): v
        for d, v in ((dict(k), v) for k, v in series(got, "fraudscore_rule_hits_total").items())
    }
    expected = {(n, "live"): c for n, c in live_hits.items()}
    expected |= {(n, "shadow"): c for n, c in shadow_hits.items()}
    assert hits == expected
    decided = {
        dict(k)["rule"]: v for k, v in series(got, "fraudscore_rule_decisions_total").items()
    }
    assert decided == deciding
    assert scraped_decisions(got) == decisions(results)


def test_degraded_and_failed_calls_are_counted(
    bundle_dir: Path, repo: Path, live: list[Transaction]
) -> None:
    """A store that fails: a degrading scorer's results count as degraded, a fail-closed
    scorer's score and every record count as errors by type; so do refused arguments."""
    metrics = ScorerMetrics()
    degrade = Scorer.open(bundle_dir, repo, timeout=0.3, on_store_error="degrade", metrics=metrics)
    fail = Scorer.open(bundle_dir, repo, timeout=0.3, metrics=metrics)
    with pytest.raises(EventValidationError):
        degrade.record(live[0], "bogus")  # refused before the store is touched
    with pytest.raises(EventValidationError):
        degrade.score("not an event")
    source = degrade.source
    with sqlite3.connect(source.path) as conn:  # type: ignore[attr-defined]
        conn.execute(f'DROP TABLE "{source.tables[1]}"')  # type: ignore[attr-defined]
    results = [degrade.score(e) for e in live[:5]] + degrade.score_many(live[:40])
    assert all(r.degraded for r in results)
    with pytest.raises(FeatureStoreError):
        degrade.record(live[0])
    for e in live[:3]:
        with pytest.raises(FeatureStoreError):
            fail.score(e)
    with pytest.raises(FeatureStoreError):
        fail.score_many(live[:40])
    got = scrape(metrics)
    assert value(got, "fraudscore_degraded_total", kind="transaction") == 45
    errors = {
        (d["call"], d["error"]): v
        for d, v in ((dict(k), v) for k, v in series(got, "fraudscore_errors_total").items())
    }
    assert errors == {
        ("record", "EventValidationError"): 1,
        ("score", "EventValidationError"): 1,
        ("record", "FeatureStoreError"): 1,
        ("score", "FeatureStoreError"): 3,
        ("score_many", "FeatureStoreError"): 1,
    }
    assert scraped_decisions(got) == decisions(results)  # failed calls decide nothing
    assert latency_count(got, "score", "total") == 5  # nor are they timed


def test_shadow_disagreements_equal_the_results(
    bundle_dir: Path, repo: Path, live: list[Transaction]
) -> None:
    """Events scored by a challenger count once each; those where its decision differs from
    the champion's count as disagreements, by the two decisions."""
    metrics = ScorerMetrics()
    scorer = Scorer.open(bundle_dir, repo, metrics=metrics)
    scorer.score(live[0])  # no challenger yet: no shadow series
    assert not series(scrape(metrics), "fraudscore_shadow_total")
    scorer.set_challenger(bundle_dir, thresholds=Thresholds(review=0.0, block=0.5))
    results = [scorer.score(e) for e in live[:50]] + scorer.score_many(live[50:100])
    pairs = Counter(
        (r.decision, r.shadow.decision)
        for r in results
        if r.shadow is not None and r.shadow.decision != r.decision
    )
    assert sum(pairs.values()) >= 50  # the challenger reviews what the champion approves
    got = scrape(metrics)
    version = results[0].shadow.model_version if results[0].shadow else ""
    assert value(
        got, "fraudscore_shadow_total", kind="transaction", challenger_version=version
    ) == len(results)
    seen = {
        (d["champion"], d["challenger"]): v
        for d, v in (
            (dict(k), v) for k, v in series(got, "fraudscore_shadow_disagreements_total").items()
        )
        if v
    }
    assert seen == pairs


def test_drift_gauges_equal_the_drift_report(
    bundle_dir: Path, repo: Path, live: list[Transaction]
) -> None:
    """With drift tracked, a scrape sets the PSI gauges to the scorer's drift report (per
    feature and for the score); without tracking there are none."""
    metrics = ScorerMetrics()
    scorer = Scorer.open(bundle_dir, repo, track_drift=True, metrics=metrics)
    Scorer.open(bundle_dir, repo, metrics=metrics).score(live[0])  # not tracked
    for e in live[:120]:
        scorer.score(e)
    got = scrape(metrics)  # drift is updated on scrape, nothing on the hot path
    report = scorer.drift_report()
    assert report.events == 120
    psi = {
        dict(k)["feature"]: v
        for k, v in series(got, "fraudscore_drift_psi").items()
        if dict(k)["model_version"] == scorer.version
    }
    assert psi == pytest.approx(report.features, rel=1e-12)
    labels = {"kind": "transaction", "model_version": scorer.version}
    assert value(got, "fraudscore_score_psi", **labels) == pytest.approx(report.score)
    assert value(got, "fraudscore_drift_events", **labels) == 120
    scorer.score_many(live[120:200])
    metrics.update_drift(scorer)  # explicitly, read without a scrape
    [family] = metrics.drift_events.collect()
    [sample] = [s for s in family.samples if s.labels["model_version"] == scorer.version]
    assert sample.value == 200


def test_options_are_validated_and_registries_are_private(
    bundle_dir: Path, repo: Path, live: list[Transaction]
) -> None:
    """``metrics`` must be a ScorerMetrics; each instance has its own registry (two never
    collide), or the one it is given, under its namespace; metrics_text serves it."""
    with pytest.raises(ConfigError, match="option 'metrics'"):
        Scorer.open(bundle_dir, repo, metrics="prometheus")
    with pytest.raises(ConfigError, match="option 'drift_mode'"):
        ScorerMetrics(drift_mode="average")
    for bad in (0, -1.0, float("inf"), "1", True):
        with pytest.raises(ConfigError, match="option 'flush_s'"):
            ScorerMetrics(flush_s=bad)  # type: ignore[arg-type]
    a, b = ScorerMetrics(), ScorerMetrics()
    assert a.registry is not b.registry
    registry = CollectorRegistry()
    named = ScorerMetrics(registry, namespace="fraud_api")
    assert named.registry is registry
    with pytest.raises(ValueError, match="Duplicated timeseries"):
        ScorerMetrics(registry, namespace="fraud_api")
    scorer = Scorer.open(bundle_dir, repo, metrics=named)
    result = scorer.score(live[0])
    got = parse(metrics_text(named))
    labels = {"kind": "transaction", "decision": result.decision}
    assert value(got, "fraud_api_decisions_total", model_version=result.model_version, **labels)
    assert not scrape(a).keys() & {k for k in got if k[0].startswith("fraudscore_decisions")}
    assert callable(metrics_app(named))


# -- off the hot path ----------------------------------------------------------------------------


def own_values(metrics: ScorerMetrics) -> Samples:
    """The latency and decision values as they are now, without the flush a scrape does."""
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in (*metrics.latency.collect(), *metrics.decisions.collect())
        for sample in family.samples
    }


def test_a_call_only_queues_and_a_flush_or_scrape_counts_it(
    bundle_dir: Path, repo: Path, live: list[Transaction]
) -> None:
    """Scoring observes no Prometheus value itself: its call waits in the queue until a flush
    (the flusher thread, a scrape, the exit), which then counts every call once."""
    metrics = ScorerMetrics(flush_s=3600.0)
    scorer = Scorer.open(bundle_dir, repo, metrics=metrics)
    before = own_values(metrics)
    results = [scorer.score(e) for e in live[:30]]
    scorer.record_many(live[:30], results)
    assert own_values(metrics) == before  # nothing observed on the call's path
    got = scrape(metrics)  # a scrape flushes first
    assert scraped_decisions(got) == decisions(results)
    assert latency_count(got, "score", "total") == 30
    assert latency_count(got, "record", "total") == 1
    assert scrape(metrics) == got  # counted once


def test_the_flusher_thread_counts_calls_without_a_scrape(
    bundle_dir: Path, repo: Path, live: list[Transaction]
) -> None:
    """With ``flush_s`` small, queued calls reach the values within about ``flush_s`` with no
    scrape in this process: what another worker's scrape reads."""
    metrics = ScorerMetrics(flush_s=0.05)
    scorer = Scorer.open(bundle_dir, repo, metrics=metrics)
    warm = own_values(metrics)
    results = [scorer.score(e) for e in live[:10]]
    key = ("fraudscore_latency_seconds_count", tuple(sorted(
        {"kind": "transaction", "call": "score", "stage": "total"}.items()
    )))  # fmt: skip
    for _ in range(100):
        if own_values(metrics).get(key, 0.0) - warm.get(key, 0.0) >= len(results):
            break
        threading.Event().wait(0.05)
    assert own_values(metrics)[key] - warm.get(key, 0.0) == len(results)


def test_a_forked_child_never_flushes_the_parents_queue(
    bundle_dir: Path, repo: Path, live: list[Transaction]
) -> None:
    """A fork copies the queue; the child drops its copy (the parent flushes those calls), so
    no call is counted twice across worker processes."""
    metrics = ScorerMetrics(flush_s=3600.0)
    scorer = Scorer.open(bundle_dir, repo, metrics=metrics)
    for e in live[:5]:
        scorer.score(e)
    queued = sum(len(b.pending) for b in metrics._bound.values())
    assert queued >= 5
    pid = os.fork()
    if pid == 0:  # the child: its queue is empty, its own calls still count
        ok = all(not b.pending for b in metrics._bound.values()) and metrics._flusher is None
        scorer.score(live[6])
        ok = ok and sum(len(b.pending) for b in metrics._bound.values()) == 1
        os._exit(0 if ok else 1)
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0
    assert sum(len(b.pending) for b in metrics._bound.values()) == queued


# -- several processes ---------------------------------------------------------------------------

WORKER = """
import json, pickle, sys
from fraudscore import Scorer
from fraudscore._serving.metrics import ScorerMetrics
bundle, repo, events = sys.argv[1], sys.argv[2], pickle.load(open(sys.argv[3], "rb"))
scorer = Scorer.open(bundle, repo, metrics=ScorerMetrics())
print(json.dumps([scorer.score(e).decision for e in events]))
"""

SCRAPER = """
from fraudscore._serving.metrics import ScorerMetrics, metrics_text
import sys
sys.stdout.write(metrics_text(ScorerMetrics()).decode())
"""


def test_multiprocess_scrape_sums_every_worker(
    bundle_dir: Path, repo: Path, live: list[Transaction], tmp_path: Path
) -> None:
    """Three worker processes with PROMETHEUS_MULTIPROC_DIR score events each; the parent's
    MultiProcessCollector and a fresh process's metrics_text both report the sum."""
    from prometheus_client.multiprocess import MultiProcessCollector

    folder = tmp_path / "prom"
    folder.mkdir()
    env = {**os.environ, "PROMETHEUS_MULTIPROC_DIR": str(folder)}
    n, workers = 25, 3
    procs = []
    for w in range(workers):
        path = tmp_path / f"events{w}.pkl"
        path.write_bytes(pickle.dumps(live[w * n : (w + 1) * n]))
        procs.append(
            subprocess.Popen(
                [sys.executable, "-c", WORKER, str(bundle_dir), str(repo), str(path)],
                env=env,
                cwd=ROOT,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                text=True,
            )
        )
    served: Counter[str] = Counter()
    try:
        for p in procs:
            out, err = p.communicate(timeout=WAIT)
            assert p.returncode == 0, err
            served.update(json.loads(out))
    finally:
        for p in procs:
            p.kill()
    assert sum(served.values()) == n * workers
    assert len(list(folder.glob("*.db"))) >= workers  # each process wrote its own files
    registry = CollectorRegistry()
    MultiProcessCollector(registry, path=str(folder))
    scraped = [parse(generate_latest(registry))]
    text = subprocess.run(
        [sys.executable, "-c", SCRAPER],
        env=env,
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=WAIT,
        check=True,
    ).stdout
    scraped.append(parse(text))
    for got in scraped:
        by_decision: Counter[str] = Counter()
        for labels, v in series(got, "fraudscore_decisions_total").items():
            by_decision[dict(labels)["decision"]] += int(v)
        assert by_decision == served
        assert latency_count(got, "score", "total") == n * workers
        assert latency_count(got, "score", "store") == n * workers
