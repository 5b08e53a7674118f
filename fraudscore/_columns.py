"""Bring your own data: map a frame's own column names and types onto the canonical ones.

A :class:`Columns` renames columns (source name -> canonical name), turns integer ids into
strings and reads naive timestamps in a given timezone. Everything else is left to the frame
validation that follows (``prepare_transactions`` / ``prepare_logins``), so a mapped frame gets
the same typed errors as any other.

``Columns.parse("handbook")`` is the layout of the fraud-detection handbook's public files
(``TRANSACTION_ID``, ``TX_DATETIME`` naive, integer ``CUSTOMER_ID`` and ``TERMINAL_ID``,
``TX_AMOUNT``, ``TX_FRAUD``); other columns, such as ``TX_FRAUD_SCENARIO``, are kept as they are.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from fraudscore._errors import ConfigError, EventValidationError

if TYPE_CHECKING:
    import pandas as pd

__all__ = ["PRESETS", "Columns"]

#: Id columns beside every kind's own (its event id and view keys): integers become strings.
_IDS = ("device_id",)
_TIMES = ("timestamp", "label_time")

PRESETS: dict[str, dict[str, str]] = {
    "handbook": {
        "TRANSACTION_ID": "transaction_id",
        "TX_DATETIME": "timestamp",
        "CUSTOMER_ID": "customer_id",
        "TERMINAL_ID": "terminal_id",
        "TX_AMOUNT": "amount",
        "TX_FRAUD": "is_fraud",
    },
}


@dataclass(frozen=True, slots=True)
class Columns:
    """How a frame's columns map onto fraudscore's canonical ones.

    ``rename`` maps a source column to its canonical name. Naive ``timestamp`` and
    ``label_time`` values are read in ``timezone`` (an IANA name) and converted to UTC; times
    that do not exist or are ambiguous there (daylight-saving changes) become missing, and the
    frame validation reports those rows.
    """

    rename: Mapping[str, str] = field(default_factory=dict)
    timezone: str = "UTC"

    def __post_init__(self) -> None:
        from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

        try:
            ZoneInfo(self.timezone)
        except (ZoneInfoNotFoundError, ValueError, TypeError):
            raise ConfigError(
                "timezone", self.timezone, "an IANA timezone name like 'UTC' or 'Europe/Paris'"
            ) from None
        targets = list(self.rename.values())
        twice = sorted({t for t in targets if targets.count(t) > 1})
        if twice:
            raise ConfigError(
                "columns", dict(self.rename), f"each canonical name once (twice: {twice})"
            )

    @classmethod
    def parse(cls, spec: str, timezone: str = "UTC") -> Columns:
        """A preset name (``"handbook"``) or ``"SRC=canonical,SRC2=canonical2"``."""
        if spec in PRESETS:
            return cls(PRESETS[spec], timezone)
        rename = {}
        for part in filter(None, (p.strip() for p in spec.split(","))):
            source, sep, target = part.partition("=")
            if not sep or not source.strip() or not target.strip():
                raise ConfigError(
                    "columns",
                    spec,
                    f"a preset ({', '.join(PRESETS)}) or SOURCE=canonical pairs separated by "
                    "commas, e.g. 'TX_DATETIME=timestamp,TX_AMOUNT=amount'",
                )
            rename[source.strip()] = target.strip()
        return cls(rename, timezone)

    def apply(self, df: pd.DataFrame) -> pd.DataFrame:
        """A copy of ``df`` with canonical names, string ids and UTC timestamps."""
        missing = [c for c in self.rename if c not in df.columns]
        if missing:
            raise EventValidationError(
                missing[0],
                "<missing column>",
                f"a column to map (the frame has {sorted(map(str, df.columns))})",
                where="frame",
            )
        out = df.rename(columns=dict(self.rename))
        for column in _id_columns():
            if column in out.columns:
                out[column] = _ids_as_text(out[column])
        for column in _TIMES:
            if column in out.columns:
                out[column] = self._utc(out[column])
        return out

    def _utc(self, values: pd.Series) -> pd.Series:
        import pandas as pd

        if not isinstance(values.dtype, pd.DatetimeTZDtype):
            try:
                values = pd.to_datetime(values, format="ISO8601")
            except (ValueError, TypeError):
                return values  # the frame validation names the column and the row
        if isinstance(values.dtype, pd.DatetimeTZDtype):
            return values.dt.tz_convert("UTC")
        local = values.dt.tz_localize(self.timezone, ambiguous="NaT", nonexistent="NaT")
        return local.dt.tz_convert("UTC")


def _ids_as_text(values: pd.Series) -> pd.Series:
    """Integer ids (an integer column, or ints among objects) as their decimal text."""
    import pandas as pd

    if pd.api.types.is_integer_dtype(values.dtype):
        return values.astype(str).where(values.notna(), None)

    def text(v: Any) -> Any:
        return str(v) if isinstance(v, int) and not isinstance(v, bool) else v

    if values.dtype == object:
        return values.map(text)
    return values


def _id_columns() -> list[str]:
    """The id columns of every registered kind: its event id and its views' keys (those that
    are event fields: a derived key such as a login's ``asn_key`` is made by the kind)."""
    from fraudscore._kinds import KINDS

    ids: dict[str, None] = dict.fromkeys(_IDS)
    for kind in KINDS.values():
        fields = {f.name for f in dataclasses.fields(kind.event_type)}
        keys = (k for v in kind.views for k in v.keys if k in fields)
        ids.update(dict.fromkeys((kind.id_field, *keys)))
    return list(ids)
