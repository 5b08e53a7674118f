"""Every command refuses a bad value with one line on stderr, the right exit code, no traceback,
and no change to any store or output (issue 19, part 2)."""

from __future__ import annotations

import contextlib
import hashlib
import json
import shutil
import sqlite3
from pathlib import Path

import pandas as pd
import pytest
from click.testing import CliRunner, Result

from fraudscore._cli import main
from fraudscore._errors import TrainingError

from .conftest import private_copy

#: A transaction the trained bundle accepts; rows below spoil one thing of it.
EVENT = {
    "transaction_id": "t1",
    "timestamp": "2018-05-08T10:00:00+00:00",
    "customer_id": "C1",
    "terminal_id": "T1",
    "amount": 10.0,
}
BAD_RULES = (
    'kind = "transaction"\n[[rules]]\nname = "x"\naction = "decline"\nwhen = "amout > 1.0"\n'
    'reason = "X"\n'
)


def event(**changes: object) -> str:
    return json.dumps({**EVENT, **changes})


@pytest.fixture(scope="module")
def world(
    tmp_path_factory: pytest.TempPathFactory,
    bundle_dir: Path,
    built_repo: Path,
    sim: pd.DataFrame,
) -> Path:
    """One folder with every store and file the commands below are pointed at."""
    w = tmp_path_factory.mktemp("cli_errors")
    shutil.copytree(bundle_dir, w / "bundle")
    private_copy(built_repo, w / "sqlite")
    (w / "sqlite" / "feature_repo").rename(w / "repo")
    (w / "sqlite").rmdir()
    private_copy(built_repo, w / "redis")
    yaml = w / "redis" / "feature_repo" / "feature_store.yaml"
    yaml.write_text(  # the same registry, but a Redis online store where nobody listens
        yaml.read_text().replace(
            "type: sqlite\n  path: data/online_store.db",
            'type: redis\n  redis_type: redis\n  connection_string: "127.0.0.1:1"',
        )
    )
    events = sim.head(400)
    events.to_parquet(w / "events.parquet", index=False)
    spoiled = events.copy()
    spoiled.loc[spoiled.index[-1], "amount"] = -5.0  # in the last chunk of a backfill
    spoiled.to_parquet(w / "badrow.parquet", index=False)
    (w / "bad.parquet").write_text("this is not parquet\n")
    (w / "empty.parquet").write_bytes(b"")
    (w / "afile").write_text("a file, not a folder\n")
    (w / "bad.toml").write_text(BAD_RULES)
    (w / "old.parquet").write_bytes(b"an earlier output, kept as it was\n")
    return w


def checksums(root: Path) -> dict[str, str]:
    """Every file and folder under ``root``: its sha256 (folders: '/'). A SQLite database is
    hashed by its contents (its SQL dump), so that a reader switching it to WAL is no change."""
    return {
        str(p.relative_to(root)): "/" if p.is_dir() else _digest(p)
        for p in sorted(root.rglob("*"))
        if not p.name.endswith(("-wal", "-shm"))
    }


def _digest(path: Path) -> str:
    if path.read_bytes()[:16] == b"SQLite format 3\x00":
        with contextlib.closing(sqlite3.connect(path)) as db:
            dump = "\n".join(db.iterdump())
        return "sql:" + hashlib.sha256(dump.encode()).hexdigest()
    return hashlib.sha256(path.read_bytes()).hexdigest()


def run(w: Path, args: list[str]) -> Result:
    argv = [a.replace("{w}", str(w)) for a in args]
    return CliRunner(env={"FRAUDSCORE_BUNDLE_KEY": None}).invoke(main, argv)


SCORE = ["score", "--bundle", "{w}/bundle", "--repo", "{w}/repo"]
TRAIN = ["train", "--data", "{w}/events.parquet", "--out", "{w}/newbundle"]
TRAIN_DAYS = ["--train-start", "2018-04-08", "--train-end", "2018-05-01"]
TEST_DAYS = ["--test-start", "2018-05-03", "--test-end", "2018-05-09"]
EVALUATE = ["evaluate", "--bundle", "{w}/bundle", "--data", "{w}/events.parquet"]
REPORT = ["report", "--bundle", "{w}/bundle", "--data", "{w}/events.parquet"]
SHADOW = ["shadow-report", "--log", "{w}/events.parquet", "--data", "{w}/events.parquet"]
MONITOR = ["monitor", "--bundle", "{w}/bundle", "--data", "{w}/events.parquet"]
FOLD = ["fold", "--data", "{w}/events.parquet", "--out", "{w}/folded"]
BACKTEST = ["rules", "backtest", "--rules", "{w}/bad.toml", "--bundle", "{w}/bundle"]
SIM = ["simulate", "--out", "{w}/sim.parquet"]
REDTEAM = [
    "redteam",
    "--bundle",
    "{w}/bundle",
    "--repo",
    "{w}/repo",
    "--data",
    "{w}/events.parquet",
]
REBUILD = ["rebuild", "--repo", "{w}/repo", "--data", "{w}/events.parquet"]
UNREACHABLE = ["--dask", "tcp://127.0.0.1:1", "--dask-timeout", "1"]

#: (arguments, exit code, what the line must name). 2: a usage error; 1: a failure.
CASES = {
    # simulate
    "simulate negative size": ([*SIM, "--size", "-10"], 2, "'--size'"),
    "simulate zero days": ([*SIM, "--days", "0"], 2, "'--days'"),
    "simulate text terminals": ([*SIM, "--terminals", "many"], 2, "'--terminals'"),
    "simulate negative seed": ([*SIM, "--seed", "-1"], 2, "'--seed'"),
    "simulate start words": ([*SIM, "--start", "the beginning"], 2, "'--start'"),
    "simulate start 30 Feb": ([*SIM, "--start", "2020-02-30"], 2, "'--start'"),
    "simulate unknown kind": ([*SIM, "--kind", "payment"], 2, "'--kind'"),
    "simulate handbook logins": (
        [*SIM, "--generator", "handbook", "--kind", "login"],
        2,
        "'--generator'",
    ),
    "simulate out is a folder": (["simulate", "--out", "{w}/bundle"], 2, "'--out'"),
    "simulate out under a file": (["simulate", "--out", "{w}/afile/x.parquet"], 2, "'--out'"),
    # rebuild
    "rebuild log missing": ([*REBUILD, "--log", "{w}/nolog"], 2, "'--log'"),
    "rebuild log is a file": ([*REBUILD, "--log", "{w}/afile"], 2, "'--log'"),
    "rebuild log not a log": ([*REBUILD, "--log", "{w}/bundle"], 2, "log"),
    "rebuild data not parquet": (
        ["rebuild", "--data", "{w}/bad.parquet", "--log", "{w}/bundle"],
        2,
        "'--data'",
    ),
    # fold
    "fold data not parquet": (
        ["fold", "--data", "{w}/bad.parquet", "--out", "{w}/f"],
        2,
        "'--data'",
    ),
    "fold data empty": (["fold", "--data", "{w}/empty.parquet", "--out", "{w}/f"], 2, "'--data'"),
    "fold data missing": (["fold", "--data", "{w}/none.parquet", "--out", "{w}/f"], 2, "'--data'"),
    "fold zero partition rows": ([*FOLD, "--partition-rows", "0"], 2, "'--partition-rows'"),
    "fold dask local:0": ([*FOLD, "--dask", "local:0"], 2, "'--dask'"),
    "fold dask no port": ([*FOLD, "--dask", "tcp://scheduler"], 2, "'--dask'"),
    "fold dask timeout 0": (
        [*FOLD, "--dask", "local:1", "--dask-timeout", "0"],
        2,
        "'--dask-timeout'",
    ),
    "fold dask unreachable": ([*FOLD, *UNREACHABLE], 1, "'dask'"),
    "fold timezone on Mars": ([*FOLD, "--timezone", "Mars/Olympus"], 2, "'--timezone'"),
    "fold columns malformed": ([*FOLD, "--columns", "TX_DATETIME"], 2, "'--columns'"),
    "fold out is a file": (
        ["fold", "--data", "{w}/events.parquet", "--out", "{w}/afile"],
        2,
        "'--out'",
    ),
    # apply
    "apply data not parquet": (
        ["apply", "--repo", "{w}/repo", "--data", "{w}/bad.parquet"],
        2,
        "'--data'",
    ),
    "apply data empty": (
        ["apply", "--repo", "{w}/repo", "--data", "{w}/empty.parquet"],
        2,
        "'--data'",
    ),
    "apply repo missing": (["apply", "--repo", "{w}/nowhere"], 2, "'--repo'"),
    "apply dask unreachable": (
        ["apply", "--repo", "{w}/repo", "--data", "{w}/events.parquet", *UNREACHABLE],
        1,
        "'dask'",
    ),
    # materialize
    "materialize start not a date": (
        ["materialize", "--repo", "{w}/repo", "--start", "notadate"],
        2,
        "'--start'",
    ),
    "materialize start 30 Feb": (
        ["materialize", "--repo", "{w}/repo", "--start", "2020-02-30"],
        2,
        "'--start'",
    ),
    "materialize end before start": (
        ["materialize", "--repo", "{w}/repo", "--start", "2018-05-02", "--end", "2018-05-01"],
        2,
        "'--end",
    ),
    "materialize start after now": (
        ["materialize", "--repo", "{w}/repo", "--start", "2999-01-01"],
        2,
        "'--end",
    ),
    "materialize repo not a repo": (["materialize", "--repo", "{w}/bundle"], 2, "'--repo'"),
    # train
    "train data not parquet": (
        ["train", "--data", "{w}/bad.parquet", "--out", "{w}/b", *TRAIN_DAYS],
        2,
        "'--data'",
    ),
    "train data empty": (
        ["train", "--data", "{w}/empty.parquet", "--out", "{w}/b", *TRAIN_DAYS],
        2,
        "'--data'",
    ),
    "train end before start": (
        [*TRAIN, "--train-start", "2018-05-01", "--train-end", "2018-04-01"],
        2,
        "'--train-end'",
    ),
    "train start not a day": (
        [*TRAIN, "--train-start", "May", "--train-end", "2018-05-01"],
        2,
        "'--train-start'",
    ),
    "train grid not lists": (
        [*TRAIN, *TRAIN_DAYS, "--select", "--grid", '{"max_depth": 3}'],
        2,
        "'--grid'",
    ),
    "train grid bad json": ([*TRAIN, *TRAIN_DAYS, "--select", "--grid", "{bad"], 2, "'--grid'"),
    "train out is a file": (
        ["train", "--data", "{w}/events.parquet", "--out", "{w}/afile", *TRAIN_DAYS],
        2,
        "'--out'",
    ),
    "train timezone on Mars": (
        [*TRAIN, *TRAIN_DAYS, "--timezone", "Mars/Olympus"],
        2,
        "'--timezone'",
    ),
    # evaluate, report, shadow-report, monitor
    "evaluate bundle not a bundle": (
        ["evaluate", "--bundle", "{w}/repo", "--data", "{w}/events.parquet", *TEST_DAYS],
        2,
        "'--bundle'",
    ),
    "evaluate end before start": (
        [*EVALUATE, "--test-start", "2018-05-09", "--test-end", "2018-05-03"],
        2,
        "'--test-end'",
    ),
    "evaluate scores-out a folder": (
        [*EVALUATE, *TEST_DAYS, "--scores-out", "{w}/bundle"],
        2,
        "'--scores-out'",
    ),
    "evaluate known-compromised": (
        [*EVALUATE, *TEST_DAYS, "--known-compromised", "some"],
        2,
        "'--known-compromised'",
    ),
    "evaluate data not parquet": (
        ["evaluate", "--bundle", "{w}/bundle", "--data", "{w}/bad.parquet", *TEST_DAYS],
        2,
        "'--data'",
    ),
    "report out under a file": ([*REPORT, *TEST_DAYS, "--out", "{w}/afile/r.html"], 2, "'--out'"),
    "report red team not a repo": (
        [*REPORT, *TEST_DAYS, "--out", "{w}/r.html", "--red-team", "{w}/bundle"],
        2,
        "'--red-team'",
    ),
    "report three bundles": (
        [
            "report",
            "--bundle",
            "{w}/bundle",
            "--bundle",
            "{w}/bundle",
            "--bundle",
            "{w}/bundle",
            "--data",
            "{w}/events.parquet",
            *TEST_DAYS,
            "--out",
            "{w}/r.html",
        ],
        2,
        "'--bundle'",
    ),
    "report rules missing": (
        [*REPORT, *TEST_DAYS, "--out", "{w}/r.html", "--rules", "{w}/none.toml"],
        2,
        "'--rules'",
    ),
    "report rules invalid": (
        [*REPORT, *TEST_DAYS, "--out", "{w}/r.html", "--rules", "{w}/bad.toml"],
        2,
        "'amout'",
    ),
    "shadow-report log not parquet": (
        [
            "shadow-report",
            "--log",
            "{w}/bad.parquet",
            "--data",
            "{w}/events.parquet",
            "--out",
            "{w}/s.html",
        ],
        2,
        "'--log'",
    ),
    "shadow-report data empty": (
        [
            "shadow-report",
            "--log",
            "{w}/events.parquet",
            "--data",
            "{w}/empty.parquet",
            "--out",
            "{w}/s.html",
        ],
        2,
        "'--data'",
    ),
    "shadow-report out a folder": ([*SHADOW, "--out", "{w}/bundle"], 2, "'--out'"),
    "monitor end before start": (
        [*MONITOR, "--start", "2018-05-09", "--end", "2018-05-01"],
        2,
        "'--end'",
    ),
    "monitor month 13": ([*MONITOR, "--start", "2018-13-01"], 2, "'--start'"),
    # score
    "score event bad json": ([*SCORE, "--event", "{bad json"], 2, "'--event'"),
    "score event a list": ([*SCORE, "--event", "[1, 2, 3]"], 2, "'--event'"),
    "score event missing fields": ([*SCORE, "--event", '{"transaction_id": "x"}'], 2, "'--event'"),
    "score event unknown field": ([*SCORE, "--event", event(colour="red")], 2, "'--event'"),
    "score event bad timestamp": (
        [*SCORE, "--event", event(timestamp="yesterday")],
        2,
        "'--event'",
    ),
    "score event bad amount": ([*SCORE, "--event", event(amount=-5)], 2, "'amount'"),
    "score event and data": (
        [*SCORE, "--event", event(), "--data", "{w}/events.parquet"],
        2,
        "--event",
    ),
    "score neither": (SCORE, 2, "--data"),
    "score data not parquet": ([*SCORE, "--data", "{w}/bad.parquet"], 2, "'--data'"),
    "score negative limit": (
        [*SCORE, "--data", "{w}/events.parquet", "--limit", "-3"],
        2,
        "'--limit'",
    ),
    "score zero chunk size": (
        [*SCORE, "--data", "{w}/events.parquet", "--out", "{w}/o.parquet", "--chunk-size", "0"],
        2,
        "'--chunk-size'",
    ),
    "score out without data": ([*SCORE, "--event", event(), "--out", "{w}/o.parquet"], 2, "--out"),
    "score since words": (
        [*SCORE, "--data", "{w}/events.parquet", "--since", "yesterday"],
        2,
        "'--since'",
    ),
    "score timezone on Mars": (
        [*SCORE, "--event", event(), "--timezone", "Mars/Olympus"],
        2,
        "'--timezone'",
    ),
    "score key file missing": (
        [*SCORE, "--event", event(), "--key-file", "{w}/none.key"],
        2,
        "'--key-file'",
    ),
    "score rules invalid": ([*SCORE, "--event", event(), "--rules", "{w}/bad.toml"], 2, "'amout'"),
    "score backfill bad row": (
        [*SCORE, "--data", "{w}/badrow.parquet", "--out", "{w}/old.parquet", "--chunk-size", "100"],
        2,
        "amount",
    ),
    "score redis unreachable": (
        ["score", "--bundle", "{w}/bundle", "--repo", "{w}/redis/feature_repo", "--event", event()],
        1,
        "store",
    ),
    # sign, rules, demo
    "sign without a key": (["sign", "--bundle", "{w}/bundle"], 2, "--key-file"),
    "sign bundle missing": (["sign", "--bundle", "{w}/nowhere"], 2, "'--bundle'"),
    "rules check missing": (["rules", "check", "{w}/none.toml"], 2, "'RULES_FILE'"),
    "rules check invalid": (["rules", "check", "{w}/bad.toml"], 2, "'amout'"),
    "rules init unknown kind": (
        ["rules", "init", "--kind", "payment", "--out", "{w}/r"],
        2,
        "'--kind'",
    ),
    "rules init out a file": (["rules", "init", "--out", "{w}/afile"], 2, "'--out'"),
    "rules backtest end first": (
        [
            *BACKTEST,
            "--data",
            "{w}/events.parquet",
            "--test-start",
            "2018-05-09",
            "--test-end",
            "2018-05-03",
        ],
        2,
        "'--test-end'",
    ),
    "rules backtest data empty": (
        [*BACKTEST, "--data", "{w}/empty.parquet", *TEST_DAYS],
        2,
        "'--data'",
    ),
    "demo zero days": (["demo", "--workdir", "{w}/demo", "--days", "0"], 2, "'--days'"),
    "demo negative show": (["demo", "--workdir", "{w}/demo", "--show", "-1"], 2, "'--show'"),
    "demo repo missing": (
        ["demo", "--workdir", "{w}/demo", "--repo", "{w}/nowhere"],
        2,
        "'--repo'",
    ),
    "demo workdir a file": (["demo", "--workdir", "{w}/afile"], 2, "'--workdir'"),
    # redteam
    "redteam zero victims": ([*REDTEAM, "--victims", "0"], 2, "'--victims'"),
    "redteam zero days": ([*REDTEAM, "--days", "0"], 2, "'--days'"),
    "redteam too many days": ([*REDTEAM, "--days", "100"], 2, "'--days'"),
    "redteam unknown strategy": ([*REDTEAM, "--strategies", "nosuch"], 2, "'strategies'"),
    "redteam empty strategies": ([*REDTEAM, "--strategies", ","], 2, "'--strategies'"),
    "redteam rules twice": (
        [*REDTEAM, "--rules", "{w}/bad.toml", "--starter-rules"],
        2,
        "--rules",
    ),
    "redteam bad rules": ([*REDTEAM, "--rules", "{w}/bad.toml"], 2, "amout"),
    "redteam on redis": (
        [*REDTEAM[:3], "--repo", "{w}/redis/feature_repo", *REDTEAM[5:]],
        2,
        "'repo'",
    ),
    "redteam data not parquet": ([*REDTEAM[:5], "--data", "{w}/bad.parquet"], 2, "'--data'"),
    "unknown command": (["scroe"], 2, "'scroe'"),
    "unknown option": ([*SCORE, "--limt", "3"], 2, "--limt"),
}


@pytest.mark.parametrize(("args", "code", "names"), CASES.values(), ids=CASES.keys())
def test_a_bad_value_gets_one_line_and_changes_nothing(
    world: Path, args: list[str], code: int, names: str
) -> None:
    """The command exits 2 (usage) or 1 (failure) with one stderr line naming the option, no
    traceback, and every store and output file under the world folder as it was."""
    before = checksums(world)
    result = run(world, args)
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert result.exit_code == code, result.output
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("error: ") and names in lines[0], lines[0]
    assert "Traceback" not in result.output
    assert result.exception is None or isinstance(result.exception, SystemExit)
    assert checksums(world) == before


def test_debug_lets_the_traceback_of_a_failure_through(world: Path) -> None:
    """`--debug` re-raises the library error of a failure instead of printing one line."""
    result = run(world, ["--debug", *FOLD, *UNREACHABLE])
    assert isinstance(result.exception, TrainingError)
    assert "cannot reach the Dask scheduler" in str(result.exception)


def test_an_output_is_replaced_only_when_the_command_succeeds(tmp_path: Path) -> None:
    """`written` leaves an earlier output and no partial file or new folder when the block fails,
    and replaces the output (a file, or a directory) when it succeeds."""
    from fraudscore._cli.base import written

    target = tmp_path / "out.parquet"
    target.write_text("old")
    with pytest.raises(RuntimeError), written(target) as tmp:
        tmp.write_text("half")
        raise RuntimeError
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out.parquet"]
    assert target.read_text() == "old"
    with pytest.raises(RuntimeError), written(tmp_path / "new" / "deeper" / "r.html") as tmp:
        tmp.write_text("half")
        raise RuntimeError
    assert not (tmp_path / "new").exists()
    with written(target) as tmp:
        tmp.write_text("new")
    assert target.read_text() == "new"
    bundle = tmp_path / "bundle"
    (bundle).mkdir()
    (bundle / "stale.json").write_text("{}")
    with written(bundle) as tmp:
        tmp.mkdir()
        (tmp / "manifest.json").write_text("{}")
    assert sorted(p.name for p in bundle.iterdir()) == ["manifest.json"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["bundle", "out.parquet"]


@pytest.mark.parametrize("content", [b"", b"this is not parquet\n"], ids=["empty", "text"])
def test_read_events_maps_an_unreadable_file_to_a_typed_error(
    tmp_path: Path, content: bytes
) -> None:
    """A file that is not parquet (or an empty one) is an EventValidationError naming the file,
    raised from pyarrow's error."""
    import pyarrow as pa

    from fraudscore import EventValidationError
    from fraudscore._training.pipeline import read_events

    path = tmp_path / "events.parquet"
    path.write_bytes(content)
    with pytest.raises(EventValidationError, match="events.parquet") as info:
        read_events(path)
    assert info.value.field == "data"
    assert isinstance(info.value.__cause__, pa.ArrowException)
