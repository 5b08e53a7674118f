"""The command line, end to end on small data: simulate, apply, train, evaluate, score, demo."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest
from click.testing import CliRunner, Result

from fraudscore._cli import main

from .conftest import copy_repo, store_params, use_store


def invoke(*args: str) -> Result:
    result = CliRunner().invoke(main, list(args), catch_exceptions=False)
    assert result.exit_code == 0, result.output
    return result


@pytest.mark.parametrize("store", store_params())
def test_cli_pipeline(tmp_path: Path, store: str) -> None:
    """simulate -> apply --data -> materialize -> train -> evaluate --json -> score, all succeed,
    on the SQLite store and on Redis (standalone and cluster), filled through Feast."""
    data = str(tmp_path / "tx.parquet")
    repo = str(use_store(copy_repo(tmp_path / "feature_repo"), store))
    invoke("simulate", "--out", data, "--size", "120", "--terminals", "240", "--days", "40")
    assert "feature views" in invoke("apply", "--repo", repo, "--data", data).output
    invoke("materialize", "--repo", repo, "--end", "2018-05-05T00:00:00+00:00")
    bundle = str(tmp_path / "bundle")
    invoke(
        "train",
        "--data",
        data,
        "--train-start",
        "2018-04-05",
        "--train-end",
        "2018-04-25",
        "--out",
        bundle,
    )
    out = invoke(
        "evaluate",
        "--bundle",
        bundle,
        "--data",
        data,
        "--test-start",
        "2018-05-03",
        "--test-end",
        "2018-05-09",
        "--json",
    )
    report = json.loads(out.stdout)
    assert "average_precision" in report["models"]["baseline_xgboost_raw_fields"]
    scored = invoke(
        "score", "--bundle", bundle, "--repo", repo, "--data", data, "--limit", "3", "--json"
    )
    assert scored.stdout.count('"decision"') == 3


def test_cli_reports_bad_input_without_traceback(tmp_path: Path) -> None:
    """A missing bundle exits 2 with the typed error's message, not a traceback."""
    result = CliRunner().invoke(
        main, ["score", "--bundle", str(tmp_path), "--repo", str(tmp_path), "--event", "{}"]
    )
    assert result.exit_code == 2
    assert "manifest.json" in result.output


def test_demo_runs_small(tmp_path: Path) -> None:
    """demo prints evaluation and scored events with decisions and reasons."""
    out = invoke(
        "demo",
        "--workdir",
        str(tmp_path / "demo"),
        "--size",
        "300",
        "--terminals",
        "600",
        "--days",
        "45",
        "--show",
        "3",
    ).stdout
    assert "baseline_logistic_regression" in out and "baseline_freeman" in out
    assert any(d in out for d in ("APPROVE", "REVIEW", "DECLINE"))
    assert any(d in out for d in ("ALLOW", "CHALLENGE", "DENY"))


def test_cli_login_pipeline(tmp_path: Path) -> None:
    """The same commands with --kind login; evaluate reports the model and the Freeman baseline,
    and a bad --event is refused with the field named."""
    data = str(tmp_path / "logins.parquet")
    repo = str(copy_repo(tmp_path / "feature_repo"))
    invoke("simulate", "--kind", "login", "--out", data, "--size", "300", "--days", "40")
    assert "user_state" in invoke("apply", "--kind", "login", "--repo", repo, "--data", data).output
    invoke("materialize", "--repo", repo, "--end", "2018-05-05T00:00:00+00:00")
    bundle = str(tmp_path / "bundle")
    invoke(
        "train",
        "--kind",
        "login",
        "--data",
        data,
        "--train-start",
        "2018-04-05",
        "--train-end",
        "2018-04-25",
        "--out",
        bundle,
    )
    report = json.loads(
        invoke(
            "evaluate",
            "--bundle",
            bundle,
            "--data",
            data,
            "--test-start",
            "2018-05-01",
            "--test-end",
            "2018-05-09",
            "--scores-out",
            str(tmp_path / "scores.parquet"),
            "--json",
        ).stdout
    )
    assert set(report["models"]) == {"model", "baseline_freeman"}
    per_event = pd.read_parquet(tmp_path / "scores.parquet")
    assert len(per_event) == report["test_successful_logins"]
    assert {"login_id", "user_id", "is_ato", "score", "score_baseline_freeman"} <= set(per_event)
    html = tmp_path / "report.html"
    invoke("report", "--bundle", bundle, "--data", data, "--test-start", "2018-05-01",
           "--test-end", "2018-05-09", "--out", str(html))  # fmt: skip
    assert "id='challenge'" in html.read_text()
    scored = invoke(
        "score", "--bundle", bundle, "--repo", repo, "--data", data, "--limit", "3", "--json"
    )
    lines = [json.loads(line) for line in scored.stdout.splitlines()]
    frame = pd.read_parquet(data)
    after = frame[frame["timestamp"] > pd.Timestamp("2018-05-05", tz="UTC")]
    assert [r["event_id"] for r in lines] == after.head(3)["login_id"].tolist()
    assert "after 2018-05-05 00:00:00 UTC" in scored.output  # the window it scored
    assert all(r["decision"] in ("allow", "challenge", "deny") for r in lines)
    assert not any(r["late_event"] for r in lines)
    from_start = invoke(
        "score", "--bundle", bundle, "--repo", repo, "--data", data, "--limit", "20",
        "--since", "start", "--json",
    )  # fmt: skip
    early = [json.loads(line) for line in from_start.stdout.splitlines()]
    assert [r["event_id"] for r in early] == frame.head(20)["login_id"].tolist()
    assert any(r["late_event"] for r in early)  # already folded into the store
    assert all(0.0 <= r["score"] <= 1.0 and r["model_version"] for r in lines)
    bad = (
        '{"login_id": "x", "timestamp": "2018-05-02T10:00:00+00:00", "user_id": "U1", '
        '"ip": "1.2.3.4", "country": "Deutschland", "asn": 1, "user_agent": "ua", '
        '"success": true}'
    )
    result = CliRunner().invoke(main, ["score", "--bundle", bundle, "--repo", repo, "--event", bad])
    assert result.exit_code == 2 and "'country'" in result.output


def test_cli_handbook_generator_and_selected_training(tmp_path: Path) -> None:
    """simulate --generator handbook, then train --select: the bundle records the choice."""
    data = str(tmp_path / "hb.parquet")
    invoke(
        "simulate", "--generator", "handbook", "--out", data,
        "--size", "300", "--terminals", "600", "--days", "60", "--seed", "3",
    )  # fmt: skip
    assert pd.read_parquet(data)["fraud_pattern"].nunique() == 4
    bundle = tmp_path / "bundle"
    out = invoke(
        "train", "--data", data, "--train-start", "2018-05-20", "--train-end", "2018-05-26",
        "--out", str(bundle), "--select", "--grid", '{"max_depth": [2, 4], "n_estimators": [40]}',
    )  # fmt: skip
    assert "selected:" in out.output
    manifest = json.loads((bundle / "manifest.json").read_text())
    assert [c["params"]["max_depth"] for c in manifest["selection"]["candidates"]] == [2, 4]
    assert (
        manifest["selection"]["chosen"]
        == max(manifest["selection"]["candidates"], key=lambda c: c["average_precision"])["params"]
    )
    bad = CliRunner().invoke(
        main, ["simulate", "--generator", "handbook", "--kind", "login", "--out", data]
    )
    assert bad.exit_code == 2 and "the login simulators are fraudscore" in bad.output
    assert "'--generator'" in bad.output


def _online_rows(repo: str) -> dict[str, list[tuple[object, ...]]]:
    import sqlite3

    with sqlite3.connect(Path(repo) / "data" / "online_store.db") as db:
        tables = [r[0] for r in db.execute("SELECT name FROM sqlite_master WHERE type='table'")]
        return {
            t: sorted(db.execute(f'SELECT entity_key, feature_name, value, event_ts FROM "{t}"'))
            for t in tables
        }


@pytest.mark.parametrize("kind", ["transaction", "login"])
def test_cli_fold_and_partitioned_apply_fill_the_same_store(tmp_path: Path, kind: str) -> None:
    """`apply --partition-rows` (and on `--dask local:2`) materializes exactly the online state
    of the in-memory `apply`; `fold` writes the features and the per-view history parts."""
    data = tmp_path / "events"
    data.mkdir()
    invoke(
        "simulate",
        "--kind",
        kind,
        "--out",
        str(data / "a.parquet"),
        "--size",
        "150",
        "--days",
        "30",
    )
    end = "2018-05-01T00:00:00+00:00"
    stores = {}
    for name, extra in {
        "memory": [],
        "partitioned": ["--partition-rows", "700"],
        "dask": ["--partition-rows", "900", "--dask", "local:2"],
    }.items():
        repo = str(copy_repo(tmp_path / name))
        invoke("apply", "--kind", kind, "--repo", repo, "--data", str(data), *extra)
        invoke("materialize", "--repo", repo, "--end", end)
        stores[name] = _online_rows(repo)
    assert sum(len(rows) for rows in stores["memory"].values()) > 1000
    assert stores["partitioned"] == stores["memory"]
    assert stores["dask"] == stores["memory"]
    out = invoke(
        "fold",
        "--kind",
        kind,
        "--data",
        str(data),
        "--out",
        str(tmp_path / "f"),
        "--partition-rows",
        "500",
    )
    assert "partition(s)" in out.output
    assert list((tmp_path / "f" / "features").glob("part-*.parquet"))
    assert (tmp_path / "f" / "history").is_dir()


def test_cli_rules_init_check_backtest_report_and_score(tmp_path: Path) -> None:
    """The starter file, copied, checked, backtested (table and JSON), in the report, and applied
    by `score --rules`."""
    data = str(tmp_path / "tx.parquet")
    repo = str(copy_repo(tmp_path / "feature_repo"))
    invoke("simulate", "--out", data, "--size", "120", "--terminals", "240", "--days", "40")
    bundle = str(tmp_path / "bundle")
    invoke(
        "train",
        "--data",
        data,
        "--train-start",
        "2018-04-05",
        "--train-end",
        "2018-04-25",
        "--out",
        bundle,
    )
    invoke("rules", "init", "--kind", "transaction", "--out", str(tmp_path / "rules"))
    rules = tmp_path / "rules" / "transaction.toml"
    assert (tmp_path / "rules" / "lists" / "compromised_terminals.txt").exists()
    # A rule every event matches, first: the backtest and the scorer must show it.
    rules.write_text(
        rules.read_text().replace(
            "[[rules]]",
            '[[rules]]\nname = "everything"\naction = "review"\nwhen = "amount >= 0.0"\n'
            'reason = "EVERYTHING"\ntext = "all"\n\n[[rules]]',
            1,
        )
    )
    assert "card_testing_burst" in invoke("rules", "check", str(rules)).output
    window = ["--test-start", "2018-05-03", "--test-end", "2018-05-09"]
    args = ["--rules", str(rules), "--bundle", bundle, "--data", data, *window]
    table = invoke("rules", "backtest", *args).output
    assert "combined" in table and "events" in table and "everyt" in table
    report = json.loads(invoke("rules", "backtest", *args, "--json").stdout)
    first = report["rules"][0]
    assert (first["rule"], first["hits"], first["hit_rate"]) == (
        "everything",
        report["events"],
        1.0,
    )
    combined = {row["policy"]: row for row in report["combined"]}
    assert combined["model + rules"]["flagged"] == report["events"]
    out = tmp_path / "report.html"
    invoke(
        "report",
        "--bundle",
        bundle,
        "--data",
        data,
        *window,
        "--out",
        str(out),
        "--rules",
        str(rules),
    )
    html = out.read_text()
    assert "Rules backtest" in html and "everything" in html and "model + rules" in html
    invoke("apply", "--repo", repo, "--data", data)
    invoke("materialize", "--repo", repo, "--end", "2018-05-05T00:00:00+00:00")
    scored = invoke(
        "score", "--bundle", bundle, "--repo", repo, "--data", data, "--limit", "3", "--json",
        "--rules", str(rules),
    )  # fmt: skip
    results = [json.loads(line) for line in scored.stdout.splitlines() if line.startswith("{")]
    assert len(results) == 3
    assert all(r["rule"] == "everything" and r["decision"] == "review" for r in results)
    assert all(r["reasons"][0]["code"] == "EVERYTHING" for r in results)
    bad = tmp_path / "bad.toml"
    bad.write_text(
        'kind = "transaction"\n[[rules]]\nname = "x"\naction = "decline"\nwhen = "amout > 1.0"\nreason = "X"\n'
    )
    result = CliRunner().invoke(main, ["rules", "check", str(bad)])
    assert result.exit_code == 2 and "unknown name 'amout'" in result.output
