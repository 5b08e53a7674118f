"""Training-frame validation: bring-your-own data gets the same typed errors as events."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from fraudscore import EventValidationError
from fraudscore._errors import BadRowsError
from fraudscore._kinds.transaction.frames import prepare_transactions


@pytest.fixture
def df() -> pd.DataFrame:
    ts = pd.Timestamp("2018-04-01 10:00", tz="UTC")
    return pd.DataFrame(
        {
            "transaction_id": ["a", "b"],
            "timestamp": [ts, ts + pd.Timedelta(hours=1)],
            "customer_id": ["C1", "C2"],
            "terminal_id": ["T1", "T2"],
            "amount": [10.0, 20.0],
            "is_fraud": [0, 1],
        }
    )


def test_label_time_defaults_to_timestamp_plus_delay(df: pd.DataFrame) -> None:
    """Without label_time, labels are known 7 days after the transaction."""
    out = prepare_transactions(df)
    assert (out["label_time"] - out["timestamp"] == pd.Timedelta(days=7)).all()


@pytest.mark.parametrize(
    ("column", "value", "match"),
    [
        ("amount", -1.0, "finite number from 0 to 1e\\+15"),
        ("amount", np.inf, "finite number from 0 to 1e\\+15"),
        ("amount", 1.000001e15, "finite number from 0 to 1e\\+15"),
        ("amount", 3.4028235677973366e38, "finite number from 0 to 1e\\+15"),
        ("customer_id", "", "non-empty string"),
        ("is_fraud", 2, "0/1"),
        ("transaction_id", "a", "unique"),
    ],
)
def test_bad_cell_names_column_row_and_value(
    df: pd.DataFrame, column: str, value: object, match: str
) -> None:
    """A bad value is reported with its column, row and what was expected."""
    df.loc[1, column] = value
    with pytest.raises(EventValidationError, match=match) as info:
        prepare_transactions(df)
    assert info.value.field == column and "row 1" in str(info.value)
    assert isinstance(info.value, BadRowsError) and info.value.total == 1


def test_zero_amounts_are_kept(df: pd.DataFrame) -> None:
    """A $0 authorisation (card verification) is a valid row, kept as 0.0."""
    out = prepare_transactions(df.assign(amount=[0.0, 20.0]))
    assert out["amount"].tolist() == [0.0, 20.0]


def test_every_bad_row_is_listed_by_reason(df: pd.DataFrame) -> None:
    """By default every bad row is counted per reason, with examples, and nothing is returned."""
    frame = pd.concat([df] * 4, ignore_index=True)
    frame["transaction_id"] = [f"t{i}" for i in range(len(frame))]
    frame.loc[[1, 3, 5], "amount"] = [-1.0, np.nan, -2.0]
    frame.loc[6, "is_fraud"] = 7
    frame.loc[7, "transaction_id"] = "t0"
    with pytest.raises(BadRowsError) as info:
        prepare_transactions(frame)
    problems = info.value.problems
    assert {k: v[0] for k, v in problems.items()} == {
        "amount: a finite number from 0 to 1e+15": 3,
        "is_fraud: 0/1 or a bool": 1,
        "transaction_id: unique ids": 1,
    }
    assert [row for row, _ in problems["amount: a finite number from 0 to 1e+15"][1]] == [1, 3, 5]
    assert info.value.total == 5 and "3 row(s)" in str(info.value)


def test_bad_rows_can_be_dropped_and_counted(df: pd.DataFrame) -> None:
    """With bad_rows='drop' the bad rows go, the rest stay, and the counts are recorded."""
    frame = pd.concat([df] * 3, ignore_index=True)
    frame["transaction_id"] = [f"t{i}" for i in range(len(frame))]
    frame.loc[2, "amount"] = -5.0
    frame.loc[4, "customer_id"] = ""
    out = prepare_transactions(frame, bad_rows="drop")
    assert sorted(out["transaction_id"]) == ["t0", "t1", "t3", "t5"]
    assert out.attrs["dropped_rows"] == {
        "customer_id: a non-empty string id of valid Unicode": 1,
        "amount: a finite number from 0 to 1e+15": 1,
    }


def test_naive_timestamps_and_missing_columns_are_refused(df: pd.DataFrame) -> None:
    """Naive datetimes and missing required columns are refused by name."""
    with pytest.raises(EventValidationError, match="timezone-aware"):
        prepare_transactions(df.assign(timestamp=df["timestamp"].dt.tz_localize(None)))
    with pytest.raises(EventValidationError, match="terminal_id"):
        prepare_transactions(df.drop(columns=["terminal_id"]))


def test_label_before_the_transaction_is_refused(df: pd.DataFrame) -> None:
    """A label cannot become known before its transaction happened."""
    with pytest.raises(EventValidationError, match="label_time"):
        prepare_transactions(df.assign(label_time=df["timestamp"] - pd.Timedelta(seconds=1)))
