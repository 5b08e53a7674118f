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


# -- card-not-present columns ----------------------------------------------------------------

CNP_COLUMNS = (
    "asn",
    "ip_country",
    "email_domain",
    "billing_country",
    "shipping_country",
    "card_country",
    "bin",
    "merchant_category",
)


@pytest.fixture
def cnp(df: pd.DataFrame) -> pd.DataFrame:
    """The two-row frame with every card-not-present column: row 0 full, row 1 all missing."""
    return df.assign(
        asn=[15169.0, np.nan],  # as parquet reads an int column with a missing value
        ip_country=["US", None],
        email_domain=["gmail.com", np.nan],
        billing_country=["GB", None],
        shipping_country=["FR", None],
        card_country=["DE", None],
        bin=["041111", None],
        merchant_category=["0742", None],
    )


def test_card_not_present_columns_are_kept(cnp: pd.DataFrame) -> None:
    """The codes come out as objects, None where missing; asn as whole floats (NaN where
    missing, as parquet keeps it) with its text in asn_key."""
    out = prepare_transactions(cnp)
    assert out.loc[0, list(CNP_COLUMNS)].tolist() == [
        15169, "US", "gmail.com", "GB", "FR", "DE", "041111", "0742",
    ]  # fmt: skip
    assert out.loc[1, list(CNP_COLUMNS[1:])].tolist() == [None] * (len(CNP_COLUMNS) - 1)
    assert out["asn"].dtype == np.float64 and np.isnan(out.loc[1, "asn"])
    assert out["asn_key"].tolist() == ["15169", None]
    assert all(out[c].dtype == object for c in (*CNP_COLUMNS[1:], "asn_key"))


@pytest.mark.parametrize(
    "asn",
    [
        [15169, 7],
        pd.array([15169, None], dtype="Int64"),
        pd.Series([15169, None], dtype=object),
        pd.Series([np.int64(15169), 7.0], dtype=object),
    ],
)
def test_asn_column_of_ints_is_accepted(df: pd.DataFrame, asn: object) -> None:
    """asn may be int64, nullable Int64 or an object column of numbers: the same ints come out."""
    out = prepare_transactions(df.assign(asn=asn))
    assert out["asn"].tolist()[0] == 15169.0 and out["asn"].dtype == np.float64
    assert out["asn_key"].tolist()[0] == "15169"


def test_frame_without_card_not_present_columns_is_unchanged(
    df: pd.DataFrame, cnp: pd.DataFrame
) -> None:
    """A frame without the new columns gives today's columns; with them, the rest is the same."""
    plain = prepare_transactions(df)
    assert list(plain.columns) == [
        "transaction_id", "customer_id", "terminal_id", "timestamp", "amount", "is_fraud",
        "label_time",
    ]  # fmt: skip
    assert "asn_key" not in prepare_transactions(df.assign(bin=["411111", None])).columns
    full = prepare_transactions(cnp)
    pd.testing.assert_frame_equal(full[plain.columns], plain)


@pytest.mark.parametrize(
    ("column", "value", "expected"),
    [
        ("asn", -1, "a whole number from 0 to 4294967295"),
        ("asn", 1.5, "a whole number from 0 to 4294967295"),
        ("asn", 2.0**32, "a whole number from 0 to 4294967295"),
        ("asn", "15169", "a whole number from 0 to 4294967295"),
        ("asn", True, "a whole number from 0 to 4294967295"),
        ("ip_country", "us", "ISO-3166 alpha-2"),
        ("billing_country", "GBR", "ISO-3166 alpha-2"),
        ("shipping_country", 33, "ISO-3166 alpha-2"),
        ("card_country", "de", "ISO-3166 alpha-2"),
        ("email_domain", "Gmail.com", "email domain"),
        ("email_domain", "a@b.com", "email domain"),
        ("email_domain", "nodot", "email domain"),
        ("email_domain", "", "email domain"),
        ("bin", "12345", "a string of 6 to 8 digits"),
        ("bin", 411111, "a string of 6 to 8 digits"),
        ("merchant_category", "541", "a string of 4 digits"),
        ("merchant_category", "5411 ", "a string of 4 digits"),
        ("merchant_category", 5411, "a string of 4 digits"),
    ],
)
def test_bad_card_not_present_cell_is_listed(
    cnp: pd.DataFrame, column: str, value: object, expected: str
) -> None:
    """A bad card-not-present value is listed by column and row, with what was expected."""
    cnp[column] = cnp[column].astype(object)
    cnp.loc[1, column] = value
    with pytest.raises(BadRowsError) as info:
        prepare_transactions(cnp)
    err = info.value
    assert err.field == column and err.total == 1 and expected in err.expected
    ((count, examples),) = err.problems.values()
    assert count == 1 and examples == [(1, value)]


def test_int_codes_are_refused_as_a_column(df: pd.DataFrame) -> None:
    """An int64 merchant_category column (leading zeros lost) is refused row by row, by name."""
    with pytest.raises(BadRowsError) as info:
        prepare_transactions(df.assign(merchant_category=[742, 5411]))
    assert info.value.field == "merchant_category" and info.value.total == 2
    assert "a string of 4 digits" in str(info.value)


def test_bad_card_not_present_rows_are_dropped_and_counted(cnp: pd.DataFrame) -> None:
    """With bad_rows='drop' each bad column's rows go and are counted by column."""
    frame = pd.concat([cnp] * 3, ignore_index=True)
    frame["transaction_id"] = [f"t{i}" for i in range(len(frame))]
    frame["asn"] = frame["asn"].astype(object)
    frame.loc[[1, 2], "asn"] = [-5, 2.5]
    frame.loc[3, "bin"] = "12a456"
    frame.loc[4, "email_domain"] = "a@b.com"
    out = prepare_transactions(frame, bad_rows="drop")
    assert sorted(out["transaction_id"]) == ["t0", "t5"]
    dropped = out.attrs["dropped_rows"]
    assert {k.split(":")[0]: v for k, v in dropped.items()} == {
        "asn": 2,
        "email_domain": 1,
        "bin": 1,
    }
    assert out["asn_key"].tolist() == ["15169", None]
