"""The decision log: what was served, logged off the hot path, read back, retrained on."""

from __future__ import annotations

import contextlib
import os
import re
import signal
import subprocess
import sys
import threading
import time
from datetime import date
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
import xgboost as xgb
from click.testing import CliRunner

from fraudscore import (
    ConfigError,
    DecisionLog,
    EventValidationError,
    Label,
    OfflineFeatures,
    Scorer,
    Transaction,
    build_features,
    load_bundle,
    read_decision_log,
    served_features,
    train_model,
)
from fraudscore._cli import main
from fraudscore._kinds import TRANSACTION
from fraudscore._kinds.transaction import FEATURES
from fraudscore._training.pipeline import to_events

from .conftest import CUTOFF, capture_features, private_copy

ROOT = Path(__file__).resolve().parents[1]
FEATURE_COLUMNS = [f"feature_{f}" for f in FEATURES]
#: Every wait in these tests is bounded by this many seconds.
WAIT = 60


@pytest.fixture(scope="module")
def live(sim: pd.DataFrame) -> list[Transaction]:
    """Events after the store's cutoff, in time order."""
    return to_events(sim[sim["timestamp"] >= CUTOFF].sort_values("timestamp").head(300))


def open_logged(bundle_dir: Path, repo: Path, path: Path, **options: Any) -> Scorer:
    return Scorer.open(bundle_dir, repo, log=DecisionLog(path, **options))


def close(scorer: Scorer) -> DecisionLog:
    log = scorer.log
    assert log is not None
    log.close()
    return log


def files(path: Path, suffix: str) -> list[Path]:
    return sorted(path.rglob(f"*{suffix}"))


# -- entries -----------------------------------------------------------------------------------


def test_score_entries_equal_what_was_served(
    bundle_dir: Path, repo: Path, tmp_path: Path, live: list[Transaction]
) -> None:
    """Each score entry holds the event, the exact row the model got, and the result served."""
    scorer = open_logged(bundle_dir, repo, tmp_path / "log")
    captured = capture_features(scorer)
    scorer.set_challenger(bundle_dir)
    results = [scorer.score(e) for e in live[:40]]
    log = close(scorer)
    got = read_decision_log(tmp_path / "log")
    assert (log.written, log.dropped, len(got)) == (40, 0, 40)
    assert (got["entry"] == "score").all()
    np.testing.assert_array_equal(got[FEATURE_COLUMNS].to_numpy(), np.vstack(captured))
    assert got["transaction_id"].tolist() == [e.transaction_id for e in live[:40]]
    assert got["timestamp"].tolist() == [e.timestamp for e in live[:40]]
    assert got["amount"].tolist() == [e.amount for e in live[:40]]
    assert got["score"].tolist() == [r.score for r in results]
    assert got["decision"].tolist() == [r.decision for r in results]
    assert got["reasons"].tolist() == [[x.code for x in r.reasons] for r in results]
    assert got["model_version"].tolist() == [r.model_version for r in results]
    assert got["shadow_score"].tolist() == [r.shadow.score for r in results if r.shadow]
    assert got["shadow_version"].tolist() == [r.shadow.model_version for r in results if r.shadow]
    assert (got["store_us"] >= 0).all() and (got["model_us"] >= 0).all()
    assert got["logged_at"].is_monotonic_increasing


def test_logged_scoring_returns_what_unlogged_scoring_does(
    bundle_dir: Path, repo: Path, tmp_path: Path, live: list[Transaction]
) -> None:
    """A log changes no result: the logged path is the same steps, timed."""
    plain = Scorer.open(bundle_dir, repo)
    logged = open_logged(bundle_dir, repo, tmp_path / "log")
    for s in (plain, logged):
        s.set_challenger(bundle_dir)
    for e in live[:30]:
        assert logged.score(e) == plain.score(e)
    assert logged.score_many(live[:10]) == plain.score_many(live[:10])
    assert logged.score_many(live[:100]) == plain.score_many(live[:100])
    close(logged)


def test_score_many_logs_every_event(
    bundle_dir: Path, repo: Path, tmp_path: Path, live: list[Transaction]
) -> None:
    """A batch on arrays and a small batch log one entry per event, each as ``score`` logs it."""
    scorer = open_logged(bundle_dir, repo, tmp_path / "many")
    results = scorer.score_many(live[:100]) + scorer.score_many(live[100:110])
    close(scorer)
    single = open_logged(bundle_dir, repo, tmp_path / "single")
    for e in live[:110]:
        single.score(e)
    close(single)
    many, one = read_decision_log(tmp_path / "many"), read_decision_log(tmp_path / "single")
    assert many["transaction_id"].tolist() == [e.transaction_id for e in live[:110]]
    assert many["score"].tolist() == [r.score for r in results]
    assert many["reasons"].tolist() == [[x.code for x in r.reasons] for r in results]
    np.testing.assert_allclose(
        many[FEATURE_COLUMNS].to_numpy(), one[FEATURE_COLUMNS].to_numpy(), rtol=1e-9, atol=1e-9
    )


def test_record_entries_carry_the_decision_served(
    bundle_dir: Path, repo: Path, tmp_path: Path, live: list[Transaction]
) -> None:
    """Record entries hold the event and ``decided`` (a result's decision, a name, or none)."""
    scorer = open_logged(bundle_dir, repo, tmp_path / "log")
    result = scorer.score(live[0])
    scorer.record(live[0], result)
    scorer.record_many(live[1:4], ["review", None, "decline"])
    scorer.record(live[4])
    close(scorer)
    got = read_decision_log(tmp_path / "log")
    records = got[got["entry"] == "record"]
    assert records["transaction_id"].tolist() == [e.transaction_id for e in live[:5]]
    assert records["decision"].tolist() == [result.decision, "review", None, "decline", None]
    assert records[FEATURE_COLUMNS].isna().all().all()
    assert records["score"].isna().all() and records["model_us"].isna().all()
    assert (records["store_us"] >= 0).all()


def test_a_rejected_call_logs_nothing(
    bundle_dir: Path, repo: Path, tmp_path: Path, live: list[Transaction]
) -> None:
    """An event that fails validation is neither scored, recorded nor logged."""
    scorer = open_logged(bundle_dir, repo, tmp_path / "log")
    with pytest.raises(EventValidationError):
        scorer.record_many(live[:2], ["approve"])
    with pytest.raises(EventValidationError):
        scorer.score_many([live[0], "not an event"])  # type: ignore[list-item]
    scorer.score(live[0])
    assert close(scorer).written == 1
    assert len(read_decision_log(tmp_path / "log")) == 1


# -- off the hot path --------------------------------------------------------------------------


def test_a_full_queue_drops_counts_and_never_blocks(
    bundle_dir: Path, repo: Path, tmp_path: Path, live: list[Transaction]
) -> None:
    """With the writer stalled, calls return, entries past the queue are dropped and counted,
    and every entry that was not dropped is written once, in order."""
    scorer = open_logged(bundle_dir, repo, tmp_path / "log", queue_size=5, flush_s=0.01)
    log = scorer.log
    assert log is not None
    gate, stalled = threading.Event(), threading.Event()
    write = log._write

    def stall(kind: Any, entries: Any) -> None:
        stalled.set()
        gate.wait(WAIT)
        write(kind, entries)

    log._write = stall  # type: ignore[method-assign]
    done = threading.Event()

    def serve() -> None:
        scorer.score(live[0])
        stalled.wait(WAIT)  # the writer holds the first entry and waits
        for e in live[1:100]:
            scorer.score(e)
        done.set()

    threading.Thread(target=serve, daemon=True).start()
    assert done.wait(WAIT), "score blocked on a full decision log"
    assert log.dropped == 99 - 5  # the queue holds 5 while the writer is stalled
    gate.set()
    log.close()
    got = read_decision_log(tmp_path / "log")
    assert log.written == len(got) == 6
    assert log.written + log.dropped == 100
    ids = [e.transaction_id for e in live[:100]]
    assert got["transaction_id"].tolist() == ids[:6]


def test_a_closed_log_refuses_entries(
    bundle_dir: Path, repo: Path, tmp_path: Path, live: list[Transaction]
) -> None:
    """Scoring into a closed log raises ConfigError naming the log; close is idempotent."""
    scorer = open_logged(bundle_dir, repo, tmp_path / "log")
    scorer.score(live[0])
    close(scorer).close()
    with pytest.raises(ConfigError, match="'log'.*closed"):
        scorer.score(live[1])


# -- files -------------------------------------------------------------------------------------

CHILD = """
import os, signal, sys
from pathlib import Path
sys.path.insert(0, {root!r})
import pandas as pd
from fraudscore import DecisionLog, Scorer
from fraudscore._training.pipeline import to_events
mode, bundle, repo, log_dir, events = sys.argv[1:6]
frame = pd.read_parquet(events)
live = to_events(frame)
log = DecisionLog(log_dir, flush_s=0.05)
scorer = Scorer.open(bundle, repo, log=log)
half = len(live) // 2
for e in live[:half]:
    scorer.score(e)
if mode == "kill":
    assert log.flush(30)
    print(log.written, flush=True)
    for e in live[half:]:
        scorer.score(e)
    os.kill(os.getpid(), signal.SIGKILL)
for e in live[half:]:
    scorer.score(e)
log.close()
print(log.written, flush=True)
"""


def child(mode: str, bundle_dir: Path, repo: Path, log_dir: Path, events: Path) -> subprocess.Popen:
    script = CHILD.format(root=str(ROOT))
    args = [sys.executable, "-c", script, mode, str(bundle_dir), str(repo), str(log_dir)]
    return subprocess.Popen([*args, str(events)], stdout=subprocess.PIPE, text=True)


def events_file(sim: pd.DataFrame, tmp_path: Path, lo: int, hi: int) -> Path:
    path = tmp_path / f"events-{lo}-{hi}.parquet"
    sim[sim["timestamp"] >= CUTOFF].sort_values("timestamp").iloc[lo:hi].to_parquet(path)
    return path


def test_a_killed_process_leaves_what_it_flushed(
    bundle_dir: Path, repo: Path, tmp_path: Path, sim: pd.DataFrame
) -> None:
    """SIGKILL after a flush: the leftover stream reads back every entry flushed before it."""
    proc = child("kill", bundle_dir, repo, tmp_path / "log", events_file(sim, tmp_path, 0, 60))
    out, _ = proc.communicate(timeout=WAIT * 2)
    assert proc.returncode == -signal.SIGKILL
    flushed = int(out.split()[0])
    assert flushed == 30
    assert files(tmp_path / "log", ".arrows") and not files(tmp_path / "log", ".parquet")
    got = read_decision_log(tmp_path / "log")
    assert 30 <= len(got) <= 60
    ids = sim[sim["timestamp"] >= CUTOFF].sort_values("timestamp")["transaction_id"].head(60)
    assert got["transaction_id"].tolist() == ids.tolist()[: len(got)]


def test_two_processes_share_one_directory(
    bundle_dir: Path, repo: Path, tmp_path: Path, sim: pd.DataFrame
) -> None:
    """Two workers log into one directory at once: each its own files, nothing lost or mixed."""
    procs = [
        child("close", bundle_dir, repo, tmp_path / "log", events_file(sim, tmp_path, lo, lo + 40))
        for lo in (0, 40)
    ]
    for p in procs:
        p.communicate(timeout=WAIT * 2)
        assert p.returncode == 0
    finished = files(tmp_path / "log", ".parquet")
    pids = {f.name.split("-")[1] for f in finished}
    assert len(pids) == 2 and not files(tmp_path / "log", ".arrows")
    got = read_decision_log(tmp_path / "log")
    ids = sim[sim["timestamp"] >= CUTOFF].sort_values("timestamp")["transaction_id"].head(80)
    assert sorted(got["transaction_id"]) == sorted(ids)


NAME = re.compile(r"transaction/date=\d{4}-\d{2}-\d{2}/\d{8}T\d{12}Z-\d+-\d+\.parquet$")


def test_rotation_by_size_writes_parquet_and_leaves_no_stream(
    bundle_dir: Path, repo: Path, tmp_path: Path, live: list[Transaction]
) -> None:
    """Past ``rotate_bytes`` a stream becomes a parquet file; close leaves no stream."""
    scorer = open_logged(bundle_dir, repo, tmp_path / "log", rotate_bytes=1)
    log = scorer.log
    assert log is not None
    for e in live[:9]:
        scorer.score(e)
        if e in live[:9:3]:
            assert log.flush(WAIT)
    close(scorer)
    finished = files(tmp_path / "log", ".parquet")
    assert len(finished) >= 3 and not files(tmp_path / "log", ".arrows")
    assert all(NAME.search(f.as_posix()) for f in finished), finished
    assert read_decision_log(tmp_path / "log")["transaction_id"].tolist() == [
        e.transaction_id for e in live[:9]
    ]


def test_rotation_by_time(
    bundle_dir: Path, repo: Path, tmp_path: Path, live: list[Transaction]
) -> None:
    """A stream older than ``rotate_s`` is finished at the next flush, entries or none."""
    scorer = open_logged(bundle_dir, repo, tmp_path / "log", rotate_s=1.0, flush_s=10)
    log = scorer.log
    assert log is not None
    scorer.score(live[0])
    assert log.flush(WAIT)
    assert files(tmp_path / "log", ".arrows") and not files(tmp_path / "log", ".parquet")
    time.sleep(1.1)
    assert log.flush(WAIT)  # nothing queued: the old stream is finished all the same
    assert len(files(tmp_path / "log", ".parquet")) == 1
    assert not files(tmp_path / "log", ".arrows")
    scorer.score(live[1])
    close(scorer)
    assert len(files(tmp_path / "log", ".parquet")) == 2
    assert len(read_decision_log(tmp_path / "log")) == 2


def test_a_forked_child_writes_its_own_files(tmp_path: Path, live: list[Transaction]) -> None:
    """A log started before a fork: the child's copy starts empty and writes its own files, the
    parent's queue and streams are never written twice."""
    log = DecisionLog(tmp_path / "log", flush_s=10)
    log.recorded(TRANSACTION, live[:3], [None] * 3, 0)
    pid = os.fork()
    if pid == 0:  # the child: never return into pytest
        code = 1
        try:
            log.recorded(TRANSACTION, live[3:5], [None] * 2, 0)
            log.close()
            code = 0 if (log.written, log.dropped) == (2, 0) else 2
        finally:
            os._exit(code)
    deadline = time.monotonic() + WAIT
    while (done := os.waitpid(pid, os.WNOHANG))[0] == 0 and time.monotonic() < deadline:
        time.sleep(0.05)
    if done[0] == 0:
        os.kill(pid, signal.SIGKILL)
        os.waitpid(pid, 0)
        pytest.fail("the forked child did not finish")
    assert os.waitstatus_to_exitcode(done[1]) == 0
    log.close()
    got = read_decision_log(tmp_path / "log")
    assert sorted(got["transaction_id"]) == sorted(e.transaction_id for e in live[:5])
    assert len({f.name.split("-")[1] for f in files(tmp_path / "log", ".parquet")}) == 2


# -- retraining on what was served ---------------------------------------------------------------


def serve_stream(scorer: Scorer, sim: pd.DataFrame, end: pd.Timestamp) -> list[str]:
    """Score then record every event from the store's cutoff to ``end``, with the fraud labels
    that arrive meanwhile, in time order, as a service does; the ids scored."""
    window = sim[(sim["timestamp"] >= CUTOFF) & (sim["timestamp"] < end)]
    stream: list[tuple[float, int, int, Any]] = [
        (e.timestamp.timestamp(), 1, i, e) for i, e in enumerate(to_events(window))
    ]
    frauds = sim[(sim["is_fraud"] == 1) & (sim["label_time"] >= CUTOFF) & (sim["label_time"] < end)]
    for j, row in enumerate(frauds.itertuples(index=False)):
        label = Label(row.transaction_id, row.customer_id, row.terminal_id, row.label_time)
        stream.append((label.label_time.timestamp(), 0, j, label))
    ids = []
    for _, is_event, _, item in sorted(stream, key=lambda s: s[:3]):
        if is_event:
            scorer.record(item, scorer.score(item))
            ids.append(item.transaction_id)
        else:
            scorer.record_label(item)
    return ids


def refolded(sim: pd.DataFrame, log: Path) -> pd.DataFrame:
    """The offline fold of the history before the cutoff plus the log's record entries (the
    labels joined), indexed by id."""
    records = read_decision_log(log).query("entry == 'record'")
    labels = sim[["transaction_id", "is_fraud", "label_time"]]
    history = pd.concat(
        [sim[sim["timestamp"] < CUTOFF], records.merge(labels, on="transaction_id")],
        ignore_index=True,
    )
    return build_features(history).frame.set_index("transaction_id")


def test_record_entries_are_a_history_build_features_folds(
    bundle_dir: Path, repo: Path, tmp_path: Path, sim: pd.DataFrame
) -> None:
    """The history before the store's cutoff plus the log's record entries (labels joined)
    folds offline into exactly the features the scorer served for the logged events."""
    scorer = open_logged(bundle_dir, repo, tmp_path / "log")
    served = capture_features(scorer)
    ids = serve_stream(scorer, sim, CUTOFF + pd.Timedelta(days=1))
    close(scorer)
    assert len(ids) > 100
    got = read_decision_log(tmp_path / "log")
    assert got.query("entry == 'record'")["decision"].isin(["review", "decline"]).any()
    folded = refolded(sim, tmp_path / "log")
    np.testing.assert_allclose(
        folded.loc[ids, list(FEATURES)].to_numpy(), np.vstack(served), rtol=1e-9, atol=1e-9
    )


def test_served_features_equal_the_fold_and_train_the_same_model(
    bundle_dir: Path, repo: Path, tmp_path: Path, sim: pd.DataFrame
) -> None:
    """``served_features``: one row per scored event, the features the model got, the labels
    that arrived later joined; they equal the offline fold's for the same events to 1e-9, and
    so train the model the fold trains."""
    scorer = open_logged(bundle_dir, repo, tmp_path / "log")
    served = capture_features(scorer)
    ids = serve_stream(scorer, sim, pd.Timestamp("2018-05-11", tz="UTC"))
    close(scorer)
    labels = sim.loc[sim["is_fraud"] == 1, ["transaction_id", "is_fraud", "label_time"]]
    got = served_features(tmp_path / "log", labels)
    frame = got.frame
    assert (got.kind, got.history, got.dropped_rows) == ("transaction", {}, {})
    assert frame["transaction_id"].tolist() == ids
    np.testing.assert_array_equal(frame[list(FEATURES)].to_numpy(), np.vstack(served))
    truth = sim.set_index("transaction_id").loc[ids, "is_fraud"].to_numpy()
    assert frame["is_fraud"].tolist() == truth.tolist() and truth.sum() >= 5
    folded = refolded(sim, tmp_path / "log").loc[ids]
    np.testing.assert_allclose(
        frame[list(FEATURES)].to_numpy(), folded[list(FEATURES)].to_numpy(), rtol=1e-9, atol=1e-9
    )
    window = (date(2018, 5, 8), date(2018, 5, 10))
    on_served = train_model(got, *window, tmp_path / "served")
    on_fold = train_model(
        OfflineFeatures("transaction", folded.reset_index(), {}), *window, tmp_path / "fold"
    )
    x = xgb.DMatrix(frame[list(FEATURES)].to_numpy())
    np.testing.assert_allclose(
        on_served.booster.predict(x), on_fold.booster.predict(x), rtol=1e-6, atol=1e-7
    )
    assert on_served.bundle.manifest["thresholds"] == on_fold.bundle.manifest["thresholds"]
    # The CLI trains the same model from the log and a labels file.
    labels.to_parquet(tmp_path / "labels.parquet")
    source = ["--from-log", str(tmp_path / "log"), "--labels", str(tmp_path / "labels.parquet")]
    window = ["--train-start", "2018-05-08", "--train-end", "2018-05-10"]
    result = CliRunner().invoke(main, ["train", *source, *window, "--out", str(tmp_path / "cli")])
    assert result.exit_code == 0, result.output
    cli = load_bundle(tmp_path / "cli")
    assert cli.manifest["thresholds"] == on_served.bundle.manifest["thresholds"]
    assert cli.manifest["data_fingerprint"] == on_served.bundle.manifest["data_fingerprint"]


@pytest.mark.parametrize(
    ("given", "says"),
    [
        (["--data", "x.parquet", "--from-log", "."], "either --data"),
        ([], "either --data"),
        (["--data", "x.parquet", "--from-log", ".", "--labels", "labels.parquet"], "either --data"),
        (["--from-log", "."], "--from-log needs --labels"),
        (["--labels", "labels.parquet", "--data", "x.parquet"], "--labels goes with --from-log"),
    ],
)
def test_train_from_log_refuses_a_wrong_combination_in_one_line(
    tmp_path: Path, given: list[str], says: str
) -> None:
    """--data or --from-log, and --labels only with --from-log: a usage error, no traceback,
    nothing written."""
    for name in ("x.parquet", "labels.parquet"):
        pd.DataFrame({"transaction_id": ["a"], "is_fraud": [1]}).to_parquet(tmp_path / name)
    window = ["--train-start", "2018-05-08", "--train-end", "2018-05-10", "--out", "out"]
    with contextlib.chdir(tmp_path):
        result = CliRunner().invoke(main, ["train", *given, *window])
    assert result.exit_code == 2, result.output
    assert "Traceback" not in result.output and len(result.output.strip().splitlines()) == 1
    assert says in result.output
    assert not (tmp_path / "out").exists()


def test_served_features_drop_degraded_and_repeated_scores(
    bundle_dir: Path, repo: Path, tmp_path: Path, live: list[Transaction]
) -> None:
    """A degraded score (features not the entity's) is no training row, and an event scored
    twice is one row, its first score (the one acted on); both are counted. A row's decision is
    the one recorded for it."""
    scorer = open_logged(bundle_dir, repo, tmp_path / "log")
    first = [scorer.score(e) for e in live[:20]]
    served = next(d for d in ("review", "decline") if d != first[0].decision)
    # An event whose recording moves its score (trees can map a moved state to the same
    # leaves), found on a private copy of the store.
    trial = Scorer.open(bundle_dir, private_copy(repo, tmp_path / "trial"))
    at = next(
        i for i in range(20) if first[i].decision != served and _moves(trial, live[i], served)
    )
    scorer.record(live[at], served)  # moves the card's state: a second score differs
    again = scorer.score(live[at])
    assert again.score != first[at].score
    log = close(scorer)
    entries = read_decision_log(tmp_path / "log")
    assert log.written == 22 and not entries["degraded"].any()
    entries.loc[5, "degraded"] = True
    fake = tmp_path / "edited" / "transaction" / "date=2018-05-08"
    fake.mkdir(parents=True)
    entries.to_parquet(fake / "0-0-0.parquet")
    got = served_features(tmp_path / "edited", pd.DataFrame(columns=["transaction_id", "is_fraud"]))
    assert got.dropped_rows == {"degraded": 1, "rescored": 1}
    kept = [e.transaction_id for i, e in enumerate(live[:20]) if i != 5]
    assert sorted(got.frame["transaction_id"]) == sorted(kept)
    row = got.frame.set_index("transaction_id").loc[live[at].transaction_id]
    assert row["score"] == first[at].score
    assert row["decision"] == served != first[at].decision  # the recorded one
    assert (got.frame["is_fraud"] == 0).all()


def _moves(scorer: Scorer, event: Transaction, served: str) -> bool:
    """Whether recording ``event`` as ``served`` changes its next score."""
    before = scorer.score(event).score
    scorer.record(event, served)
    return scorer.score(event).score != before


@pytest.mark.parametrize(
    ("labels", "field"),
    [
        (pd.DataFrame({"transaction_id": ["a"]}), "is_fraud"),
        (pd.DataFrame({"is_fraud": [1]}), "transaction_id"),
        (pd.DataFrame({"transaction_id": ["a"], "is_fraud": [2]}), "is_fraud"),
        (pd.DataFrame({"transaction_id": [None], "is_fraud": [1]}), "transaction_id"),
        ({"transaction_id": ["a"], "is_fraud": [1]}, "labels"),
    ],
)
def test_bad_labels_name_the_column(
    bundle_dir: Path,
    repo: Path,
    tmp_path: Path,
    live: list[Transaction],
    labels: Any,
    field: str,
) -> None:
    """Labels without the id or label column, or with a label not 0/1, are refused by name."""
    scorer = open_logged(bundle_dir, repo, tmp_path / "log")
    scorer.score_many(live[:2])
    close(scorer)
    assert len(served_features(tmp_path / "log", pd.DataFrame(columns=[*ID_LABEL])).frame) == 2
    with pytest.raises(EventValidationError) as info:
        served_features(tmp_path / "log", labels)
    assert info.value.field == field


ID_LABEL = ("transaction_id", "is_fraud")


def test_a_log_without_scores_or_features_is_named(tmp_path: Path, live: list[Transaction]) -> None:
    """A log that scored nothing trains nothing: the error names the log."""
    log = DecisionLog(tmp_path / "log")
    log.recorded(TRANSACTION, live[:2], ["approve", "approve"], 0)
    log.close()
    with pytest.raises(EventValidationError, match="scored events") as info:
        served_features(tmp_path / "log", pd.DataFrame(columns=[*ID_LABEL]))
    assert info.value.field == "log"


# -- bad input ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("option", "value"),
    [
        ("flush_s", -1.0),
        ("flush_s", 0),
        ("flush_s", float("nan")),
        ("rotate_s", 0.0),
        ("rotate_s", "1"),
        ("rotate_bytes", 0),
        ("rotate_bytes", 1.5),
        ("queue_size", 0),
        ("queue_size", True),
    ],
)
def test_a_bad_option_raises_config_error_naming_it(
    tmp_path: Path, option: str, value: object
) -> None:
    """Each option is checked at construction, before anything is written."""
    with pytest.raises(ConfigError, match=f"'{option}'") as info:
        DecisionLog(tmp_path / "log", **{option: value})  # type: ignore[arg-type]
    assert info.value.option == option
    assert not (tmp_path / "log").exists()


def test_a_scorer_refuses_a_log_that_is_not_one(bundle_dir: Path, repo: Path) -> None:
    """``log`` must be a DecisionLog."""
    with pytest.raises(ConfigError, match="'log'"):
        Scorer.open(bundle_dir, repo, log="decisions/")


def test_reading_a_missing_directory_names_it(tmp_path: Path) -> None:
    """A path that is not a log directory raises an error naming it."""
    missing = tmp_path / "nowhere"
    with pytest.raises(EventValidationError, match="nowhere"):
        read_decision_log(missing)


def test_a_corrupt_parquet_file_is_named(tmp_path: Path, live: list[Transaction]) -> None:
    """A file that does not read is named in the error, not skipped."""
    log = DecisionLog(tmp_path / "log")
    log.recorded(TRANSACTION, live[:2], [None, None], 0)
    log.close()
    (finished,) = files(tmp_path / "log", ".parquet")
    finished.write_bytes(b"not parquet")
    with pytest.raises(EventValidationError, match=re.escape(finished.name)):
        read_decision_log(tmp_path / "log")
