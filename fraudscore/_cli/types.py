"""Parameter types of the command line: each refuses a bad value while click parses it.

A refused value is a :class:`click.BadParameter`: one line naming the option, what arrived and
what was expected, exit code 2, before any command has read or written anything. Files are
checked as far as is cheap (a parquet footer, a bundle's manifest, a repo's
``feature_store.yaml``); what can only be known by doing the work is left to the command.
"""

from __future__ import annotations

import json
import os
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import click

__all__ = [
    "BUNDLE",
    "DAY",
    "EVENT",
    "EVENTS",
    "INSTANT",
    "REPO",
    "SINCE",
    "TIMEZONE",
    "Bundle",
    "ColumnsSpec",
    "DaskAddress",
    "Day",
    "EventJSON",
    "Events",
    "Grid",
    "Instant",
    "Output",
    "Repo",
    "Since",
    "Timezone",
    "check_order",
]


class Day(click.ParamType):
    """An ISO calendar day, ``2018-07-25``."""

    name = "day"

    def convert(self, value: Any, param: Any, ctx: Any) -> date:
        if isinstance(value, date):
            return value
        try:
            return date.fromisoformat(str(value))
        except ValueError as exc:
            self.fail(f"got {value!r}, expected a day like 2018-07-25 ({exc})", param, ctx)


class Instant(click.ParamType):
    """An ISO time (``2018-07-25``, ``2018-07-25T10:00:00+02:00``); naive times are UTC."""

    name = "time"

    def convert(self, value: Any, param: Any, ctx: Any) -> datetime:
        if isinstance(value, datetime):
            stamp = value
        else:
            try:
                stamp = datetime.fromisoformat(str(value))
            except ValueError as exc:
                self.fail(
                    f"got {value!r}, expected an ISO time like 2018-07-25T00:00:00+00:00 ({exc})",
                    param,
                    ctx,
                )
        return stamp.replace(tzinfo=UTC) if stamp.tzinfo is None else stamp


class Since(Instant):
    """``state``, ``start`` or an ISO time (returned as is: the keywords stay strings)."""

    name = "since"

    def convert(self, value: Any, param: Any, ctx: Any) -> Any:
        if value in ("state", "start") or isinstance(value, datetime):
            return value
        try:
            return super().convert(value, param, ctx)
        except click.BadParameter:
            self.fail(f"got {value!r}, expected 'state', 'start' or an ISO time", param, ctx)


def check_order(lo: Any, hi: Any, lo_option: str, hi_option: str) -> None:
    """Refuse an end (``hi``, of ``hi_option``) before its start (``lo``, of ``lo_option``)."""
    if lo is not None and hi is not None and hi < lo:
        raise click.BadParameter(
            f"got {hi}, expected a value not before {lo_option} ({lo})", param_hint=f"'{hi_option}'"
        )


class EventJSON(click.ParamType):
    """One event as a JSON object; its fields are checked against the bundle's kind later."""

    name = "json"

    def convert(self, value: Any, param: Any, ctx: Any) -> dict[str, Any]:
        if isinstance(value, dict):
            return value
        try:
            fields = json.loads(value)
        except ValueError as exc:
            self.fail(f"got {value!r}, expected a JSON object ({exc})", param, ctx)
        if not isinstance(fields, dict):
            self.fail(
                f"got {type(fields).__name__} {value!r}, expected a JSON object of the event's "
                "fields",
                param,
                ctx,
            )
        return fields


class Grid(click.ParamType):
    """A JSON object of lists over the selection grid's settings (``train --grid``)."""

    name = "json"

    def convert(self, value: Any, param: Any, ctx: Any) -> dict[str, tuple[Any, ...]]:
        from fraudscore._training.train import SELECTION_GRID

        if isinstance(value, dict):
            return value
        expected = f"a JSON object of non-empty lists over {sorted(SELECTION_GRID)}"
        try:
            given = json.loads(value)
        except ValueError:
            self.fail(f"got {value!r}, expected {expected}", param, ctx)
        if (
            not isinstance(given, dict)
            or not set(given) <= set(SELECTION_GRID)
            or not all(isinstance(v, list) and v for v in given.values())
        ):
            self.fail(f"got {value!r}, expected {expected}", param, ctx)
        return {k: tuple(v) for k, v in given.items()}


class Timezone(click.ParamType):
    """An IANA timezone name."""

    name = "zone"

    def convert(self, value: Any, param: Any, ctx: Any) -> str:
        from fraudscore._columns import Columns
        from fraudscore._errors import ConfigError

        try:
            Columns(timezone=str(value))  # the library's own check
        except ConfigError as exc:
            self.fail(f"got {value!r}, expected {exc.expected}", param, ctx)
        return str(value)


class ColumnsSpec(click.ParamType):
    """A column mapping: a preset name or ``SRC=canonical,...`` pairs."""

    name = "spec"

    def convert(self, value: Any, param: Any, ctx: Any) -> str:
        from fraudscore._columns import Columns
        from fraudscore._errors import FraudscoreError

        try:
            Columns.parse(str(value))
        except FraudscoreError as exc:
            self.fail(f"got {value!r}, expected {getattr(exc, 'expected', exc)}", param, ctx)
        return str(value)


class DaskAddress(click.ParamType):
    """``local:N`` (N >= 1) or a scheduler address (``tcp://host:8786``, ``host:8786``)."""

    name = "address"

    def convert(self, value: Any, param: Any, ctx: Any) -> str:
        text = str(value)
        expected = "local:N with N >= 1 workers, or a scheduler address like tcp://host:8786"
        if text.startswith("local:"):
            workers = text.removeprefix("local:")
            if not workers.isdigit() or int(workers) < 1:
                self.fail(f"got {text!r}, expected {expected}", param, ctx)
            return text
        _, _, hostport = text.rpartition("://")
        host, sep, port = hostport.rpartition(":")
        if not sep or not host or not port.isdigit() or not 0 < int(port) < 65536:
            self.fail(f"got {text!r}, expected {expected}", param, ctx)
        return text


def _where(path: Path) -> str:
    return repr(str(path))


class Events(click.ParamType):
    """Events to read: a parquet file, a directory of parquet parts, or (``csv=True``) a CSV
    file. The parquet footer (or the first part's) must read; CSV must be non-empty text."""

    name = "path"

    def __init__(self, *, csv: bool = True) -> None:
        self.csv = csv

    def convert(self, value: Any, param: Any, ctx: Any) -> str:
        import pyarrow as pa
        import pyarrow.dataset as ds
        import pyarrow.parquet as pq

        path = Path(value)
        kinds = (
            "a parquet file, a directory of parquet parts or a CSV file"
            if self.csv
            else "a parquet file or a directory of parquet parts"
        )
        if not path.exists():
            self.fail(f"got {_where(path)}, which does not exist; expected {kinds}", param, ctx)
        if not os.access(path, os.R_OK):
            self.fail(f"got {_where(path)}, which cannot be read; expected {kinds}", param, ctx)
        try:
            if path.is_dir():
                parts = [f for f in path.rglob("*.parquet") if f.is_file()]
                if not parts:
                    self.fail(
                        f"got {_where(path)}, a directory without parquet parts; expected {kinds}",
                        param,
                        ctx,
                    )
                ds.dataset(path, format="parquet").schema  # noqa: B018 (reads a footer)
            elif path.suffix.lower() == ".csv" and self.csv:
                with path.open("rb") as f:
                    head = f.read(65536)
                if not head.strip():
                    self.fail(
                        f"got {_where(path)}, an empty CSV file; expected {kinds}", param, ctx
                    )
                head.decode("utf-8", errors="strict")
            else:
                pq.read_metadata(path)
        except (pa.ArrowException, OSError, UnicodeDecodeError) as exc:
            problem = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
            self.fail(
                f"got {_where(path)}, which does not read ({problem}); expected {kinds}", param, ctx
            )
        return str(path)


class Bundle(click.ParamType):
    """A model bundle directory (``manifest.json`` in it); it is verified when it is opened."""

    name = "dir"

    def convert(self, value: Any, param: Any, ctx: Any) -> str:
        path = Path(value)
        if not (path / "manifest.json").is_file():
            what = "does not exist" if not path.exists() else "has no manifest.json"
            self.fail(
                f"got {_where(path)}, which {what}; expected a model bundle directory "
                "(with manifest.json), as `fraudscore train` writes",
                param,
                ctx,
            )
        return str(path)


class Repo(click.ParamType):
    """A Feast repo directory (``feature_store.yaml`` in it)."""

    name = "dir"

    def convert(self, value: Any, param: Any, ctx: Any) -> str:
        path = Path(value)
        if not (path / "feature_store.yaml").is_file():
            what = "does not exist" if not path.exists() else "has no feature_store.yaml"
            self.fail(
                f"got {_where(path)}, which {what}; expected a Feast repo directory "
                "(with feature_store.yaml), like feature_repo/",
                param,
                ctx,
            )
        return str(path)


class Output(click.ParamType):
    """A file (or, ``directory=True``, a directory) to write: not the other kind of thing, and
    under a writable directory (missing folders on the way are created when it is written)."""

    name = "path"

    def __init__(self, *, directory: bool = False) -> None:
        self.directory = directory

    def convert(self, value: Any, param: Any, ctx: Any) -> str:
        path = Path(value)
        what = "a directory to write" if self.directory else "a file to write"
        if str(value) == "":
            self.fail(f"got '', expected {what}", param, ctx)
        if path.exists() and path.is_dir() != self.directory:
            other = "a file" if self.directory else "a directory"
            self.fail(f"got {_where(path)}, which is {other}; expected {what}", param, ctx)
        parent = path.absolute().parent
        while not parent.exists():
            parent = parent.parent
        if not parent.is_dir():
            self.fail(
                f"got {_where(path)}, under {_where(parent)}, which is a file; expected {what}",
                param,
                ctx,
            )
        if not os.access(parent, os.W_OK | os.X_OK):
            self.fail(
                f"got {_where(path)}, under {_where(parent)}, which is not writable; "
                f"expected {what}",
                param,
                ctx,
            )
        return str(path)


DAY = Day()
INSTANT = Instant()
SINCE = Since()
EVENT = EventJSON()
EVENTS = Events()
TIMEZONE = Timezone()
BUNDLE = Bundle()
REPO = Repo()
