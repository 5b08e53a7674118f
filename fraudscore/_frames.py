"""The checks of canonical event frames (training data), mirroring the events' checks: each kind
validates its frames in its own folder (``frames.py``) with these.

Anyone can bring their own data: a pandas DataFrame with the canonical columns of DESIGN.md. Bad
data raises :class:`EventValidationError` naming the column, the first bad row and its value.
"""

from __future__ import annotations

from datetime import timedelta
from typing import TYPE_CHECKING, Any, Literal

import numpy as np

from fraudscore._errors import BadRowsError, EventValidationError

if TYPE_CHECKING:
    import pandas as pd

__all__ = [
    "DEFAULT_LABEL_DELAY",
    "BadRows",
    "Rows",
    "binary",
    "check_ids",
    "common",
    "finish",
    "require",
    "served",
    "tz_column",
]

DEFAULT_LABEL_DELAY = timedelta(days=7)


class Rows:
    """The bad rows of a frame, by reason: each check adds a mask of the rows it refuses."""

    def __init__(self, df: pd.DataFrame) -> None:
        self.df = df
        self.bad = np.zeros(len(df), dtype=bool)
        self.problems: dict[str, tuple[int, list[tuple[Any, Any]]]] = {}

    def check(self, column: str, bad: np.ndarray, expected: str, values: Any = None) -> None:
        if not bad.any():
            return
        import pandas as pd

        shown = self.df[column] if values is None else pd.Series(values, index=self.df.index)
        rows = np.flatnonzero(bad)
        examples = [(self.df.index[i], _plain(shown.iloc[i])) for i in rows[:3]]
        key = f"{column}: {expected}"
        count, old = self.problems.get(key, (0, []))
        self.problems[key] = (count + len(rows), (old + examples)[:3])
        self.bad |= bad

    def keep(self, bad_rows: BadRows) -> tuple[np.ndarray, dict[str, int]]:
        """Rows to keep and the dropped count per reason; raises under ``"fail"``."""
        if not self.problems:
            return ~self.bad, {}
        if bad_rows != "drop":
            raise BadRowsError(self.problems, int(self.bad.sum()))
        return ~self.bad, {reason: count for reason, (count, _) in self.problems.items()}


def _plain(value: Any) -> Any:
    return value.item() if isinstance(value, np.generic) else value


def tz_column(df: pd.DataFrame, column: str) -> pd.Series:
    """``column`` as UTC datetimes; a column of another type is refused as a whole."""
    import pandas as pd

    s = df[column]
    if not isinstance(s.dtype, pd.DatetimeTZDtype):
        if s.dtype == object and len(s) and all(getattr(v, "tzinfo", None) is not None for v in s):
            s = pd.to_datetime(s, utc=True)
        else:
            raise EventValidationError(
                column,
                str(s.dtype),
                "a timezone-aware datetime column (UTC); for naive times give a column "
                "mapping with a timezone (CLI: --timezone)",
                where="frame",
            )
    return s.dt.tz_convert("UTC").astype("datetime64[ns, UTC]")


def check_ids(rows: Rows, column: str) -> None:
    values = rows.df[column]
    ok = values.map(is_id).to_numpy(dtype=bool)
    rows.check(column, ~ok, "a non-empty string id of valid Unicode")


def is_id(value: Any) -> bool:
    if not isinstance(value, str) or not value.strip():
        return False
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def binary(rows: Rows, column: str, expected: str) -> None:
    ok = rows.df[column].map(lambda v: v in (0, 1) and not (isinstance(v, float) and np.isnan(v)))
    rows.check(column, ~ok.to_numpy(dtype=bool), expected)


def require(df: pd.DataFrame, required: tuple[str, ...]) -> None:
    for column in required:
        if column not in df.columns:
            raise EventValidationError(
                column,
                "<missing column>",
                f"a column named {column!r} (the frame has {sorted(map(str, df.columns))}; "
                "map other names with a column mapping, CLI: --columns)",
                where="frame",
            )


def common(rows: Rows, ids: tuple[str, ...]) -> pd.Series:
    """Check the string ids (the first unique) and the timestamp; return it in UTC."""
    for column in ids:
        check_ids(rows, column)
    rows.check(ids[0], rows.df[ids[0]].duplicated().to_numpy(), "unique ids")
    ts = tz_column(rows.df, "timestamp")
    rows.check("timestamp", ts.isna().to_numpy(), "a timestamp, not missing")
    return ts


def served(rows: Rows, names: tuple[str, ...]) -> pd.Series | None:
    """The optional ``decision`` column: what the defence in service decided for the event
    (one of ``names``), or missing where unknown (a history from before the defence)."""
    df = rows.df
    if "decision" not in df.columns:
        return None
    values = df["decision"].astype(object).where(df["decision"].notna(), None)
    ok = values.map(lambda v: v is None or (isinstance(v, str) and v in names))
    rows.check("decision", ~ok.to_numpy(dtype=bool), f"one of {list(names)} or missing")
    return values


def finish(
    out: pd.DataFrame, keep: np.ndarray, dropped: dict[str, int], order: str
) -> pd.DataFrame:
    out = out[keep].sort_values(["timestamp", order], kind="stable").reset_index(drop=True)
    out.attrs["dropped_rows"] = dropped
    return out


#: What to do with invalid rows of a training frame: list them and stop, or drop them.
BadRows = Literal["fail", "drop"]
