"""Bring your own data: a frame in the handbook's public layout, mapped, trained and evaluated."""

from __future__ import annotations

import json
from datetime import date
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner

from fraudscore import (
    BadRowsError,
    Columns,
    ConfigError,
    EventValidationError,
    OfflineFeatures,
    build_features,
    evaluate,
    train_model,
)
from fraudscore._cli import main
from fraudscore._kinds.transaction import FEATURES

from .conftest import TRAIN

#: Every 97th transaction becomes a $0 authorisation (account verification).
ZERO_EVERY = 97


def handbook_layout(sim: pd.DataFrame) -> pd.DataFrame:
    """The simulator's transactions in the layout of the handbook's public files: integer ids,
    naive ``TX_DATETIME``, ``TX_AMOUNT``, ``TX_FRAUD`` and the handbook's helper columns."""
    start = sim["timestamp"].min().normalize()
    seconds = (sim["timestamp"] - start).dt.total_seconds().astype(np.int64)
    amount = sim["amount"].to_numpy().copy()
    amount[::ZERO_EVERY] = 0.0
    return pd.DataFrame(
        {
            "TRANSACTION_ID": np.arange(len(sim), dtype=np.int64),
            "TX_DATETIME": sim["timestamp"].dt.tz_localize(None),
            "CUSTOMER_ID": sim["customer_id"].str[1:].astype(np.int64),
            "TERMINAL_ID": sim["terminal_id"].str[1:].astype(np.int64),
            "TX_AMOUNT": amount,
            "TX_TIME_SECONDS": seconds,
            "TX_TIME_DAYS": seconds // 86400,
            "TX_FRAUD": sim["is_fraud"].astype(np.int64),
            "TX_FRAUD_SCENARIO": np.where(sim["is_fraud"] == 1, 1, 0),
        }
    )


def canonical_twin(sim: pd.DataFrame) -> pd.DataFrame:
    """The same events in canonical form, with the same $0 rows and the default label delay."""
    amount = sim["amount"].to_numpy().copy()
    amount[::ZERO_EVERY] = 0.0
    return sim[["transaction_id", "timestamp", "customer_id", "terminal_id", "is_fraud"]].assign(
        amount=amount
    )


@pytest.fixture(scope="module")
def handbook(sim: pd.DataFrame) -> pd.DataFrame:
    return handbook_layout(sim)


def test_handbook_layout_maps_to_the_same_features(
    sim: pd.DataFrame, handbook: pd.DataFrame
) -> None:
    """Mapped through Columns.parse('handbook'), integer ids and naive times give exactly the
    features of the same events in canonical form, $0 rows included."""
    mapped = build_features(handbook, columns=Columns.parse("handbook"))
    twin = build_features(canonical_twin(sim))
    assert len(mapped.frame) == len(sim) and (mapped.frame["amount"] == 0).sum() > 10
    a = mapped.frame.sort_values("timestamp", kind="stable")[list(FEATURES)].to_numpy()
    b = twin.frame.sort_values("timestamp", kind="stable")[list(FEATURES)].to_numpy()
    np.testing.assert_allclose(a, b, rtol=0, atol=1e-9, equal_nan=True)
    assert np.isfinite(mapped.frame.loc[mapped.frame["amount"] == 0, "amt_ratio_30d"]).any()
    assert set(mapped.frame["customer_id"]) == {str(int(c[1:])) for c in sim["customer_id"]}


def test_naive_times_are_read_in_the_given_timezone(sim: pd.DataFrame) -> None:
    """Naive wall-clock times in Europe/Paris become the right UTC instants."""
    frame = canonical_twin(sim).head(200)
    paris = frame.assign(
        timestamp=frame["timestamp"].dt.tz_convert("Europe/Paris").dt.tz_localize(None)
    )
    mapped = Columns(timezone="Europe/Paris").apply(paris)
    assert mapped["timestamp"].tolist() == frame["timestamp"].tolist()
    with pytest.raises(EventValidationError, match="timezone-aware"):
        build_features(paris)  # without a mapping, naive times are refused


def test_a_mapping_refuses_what_it_cannot_do(handbook: pd.DataFrame) -> None:
    """Unknown timezone, a missing source column, a malformed spec and a name mapped twice are
    refused by name."""
    with pytest.raises(ConfigError, match="option 'timezone'.*IANA") as bad_zone:
        Columns(timezone="Mars/Olympus")
    assert not isinstance(bad_zone.value, EventValidationError)
    with pytest.raises(EventValidationError, match="TX_DATETIME") as info:
        Columns.parse("handbook").apply(handbook.drop(columns=["TX_DATETIME"]))
    assert info.value.field == "TX_DATETIME"
    with pytest.raises(ConfigError, match="SOURCE=canonical"):
        Columns.parse("TX_DATETIME")
    with pytest.raises(ConfigError, match="twice"):
        Columns.parse("A=amount,B=amount")


def test_bad_rows_policy_reaches_the_manifest(handbook: pd.DataFrame, tmp_path: Path) -> None:
    """Bad rows stop the run by default; dropped, their count is in the bundle's manifest."""
    bad = handbook.copy()
    bad.loc[[5, 9], "TX_AMOUNT"] = [-1.0, np.nan]
    with pytest.raises(BadRowsError, match="2 row"):
        build_features(bad, columns=Columns.parse("handbook"))
    features = build_features(bad, columns=Columns.parse("handbook"), bad_rows="drop")
    assert features.dropped_rows == {"amount: a finite number from 0 to 1e+15": 2}
    assert len(features.frame) == len(handbook) - 2
    bundle = train_model(features, *TRAIN, tmp_path / "b").bundle
    assert bundle.manifest["dropped_rows"] == {"amount: a finite number from 0 to 1e+15": 2}
    result = evaluate(bundle, features, date(2018, 5, 3), date(2018, 5, 9))
    assert (result.scores["amount"] == 0).any()  # $0 authorisations are scored by the API too


def test_handbook_layout_trains_and_evaluates_from_the_cli(
    handbook: pd.DataFrame, offline: OfflineFeatures, tmp_path: Path
) -> None:
    """train, evaluate --scores-out and report accept the handbook layout with --columns and
    keep the $0 rows."""
    data = tmp_path / "handbook.parquet"
    handbook.to_parquet(data)
    bundle = tmp_path / "bundle"
    runner = CliRunner()

    def run(*args: str) -> str:
        result = runner.invoke(main, list(args), catch_exceptions=False)
        assert result.exit_code == 0, result.output
        return result.stdout

    mapping = ("--data", str(data), "--columns", "handbook")
    window = ("--test-start", "2018-05-03", "--test-end", "2018-05-09")
    run("train", *mapping, "--train-start", "2018-04-08", "--train-end", "2018-05-01",
        "--out", str(bundle))  # fmt: skip
    scores = tmp_path / "scores.parquet"
    metrics = json.loads(
        run(
            "evaluate",
            "--bundle",
            str(bundle),
            *mapping,
            *window,
            "--scores-out",
            str(scores),
            "--json",
        )
    )
    per_event = pd.read_parquet(scores)
    assert len(per_event) == metrics["test_transactions"]
    assert (per_event["amount"] == 0).any()  # $0 authorisations are scored
    assert per_event["transaction_id"].str.fullmatch(r"\d+").all()
    report = tmp_path / "report.html"
    run("report", "--bundle", str(bundle), *mapping, *window, "--out", str(report))
    assert "id='thresholds'" in report.read_text()


def test_integer_ids_of_every_kind_become_text() -> None:
    """A mapping turns integer ids into text for every registered kind (its event id and its
    view keys), not only the first kinds': payouts' integer accounts are valid ids."""
    import fraudscore as fs

    frame = pd.DataFrame({"payout_id": [1, 2], "account_id": [10, 11], "beneficiary_id": [7, 7]})
    mapped = fs.Columns({}).apply(frame)
    assert mapped["payout_id"].tolist() == ["1", "2"]
    assert mapped["account_id"].tolist() == ["10", "11"]
    assert mapped["beneficiary_id"].tolist() == ["7", "7"]
