"""The ``fraudscore`` command line.

``__init__`` holds the group and what every command shares; the commands live by family:
``data`` (simulate, apply, materialize, train, evaluate, report, monitor, shadow-report),
``serving`` (score, backfill, sign) and ``demo``.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import date, datetime
from typing import Any, TypeVar

import click
from rich.console import Console

from fraudscore._errors import FraudscoreError

console = Console(stderr=True)
out = Console()
T = TypeVar("T")

DEFAULT_REPO = "feature_repo"


@contextmanager
def step(message: str) -> Iterator[None]:
    """A spinner while a long step runs, and a tick with its duration after."""
    start = datetime.now()
    with console.status(message):
        yield
    console.print(f"[green]✓[/] {message} ({(datetime.now() - start).total_seconds():.1f}s)")


def _day(_: Any, __: Any, value: str | None) -> date | None:
    if value is None:
        return None
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise click.BadParameter(f"{value!r} is not a date like 2018-07-25") from None


def _run(fn: Callable[[], T]) -> T:
    try:
        return fn()
    except FraudscoreError as exc:
        console.print(f"[red]error:[/] {exc}")
        sys.exit(2)


@click.group()
@click.version_option(package_name="fraudscore")
def main() -> None:
    """Real-time fraud scoring with Feast features, an ONNX model and reason codes."""


KIND = click.option(
    "--kind",
    type=click.Choice(["transaction", "login"]),
    default="transaction",
    show_default=True,
    help="Card transactions (fraud) or logins (account takeover).",
)


def data_options(fn: Callable[..., Any]) -> Callable[..., Any]:
    """--columns, --timezone and --drop-bad-rows: how to read a frame that is not canonical."""
    fn = click.option(
        "--drop-bad-rows",
        is_flag=True,
        help="Drop invalid rows (counted in the manifest) instead of listing them and stopping.",
    )(fn)
    fn = click.option(
        "--timezone",
        default="UTC",
        show_default=True,
        help="IANA timezone of naive timestamps (with --columns).",
    )(fn)
    return click.option(
        "--columns",
        "columns_spec",
        help="Column mapping: 'handbook' (the handbook's public files) or "
        "'SRC=canonical,...'. Integer ids become strings; naive times are read in --timezone.",
    )(fn)


def _features(
    data: str, kind: str, columns_spec: str | None, timezone: str, drop_bad_rows: bool
) -> Any:
    from fraudscore._training.pipeline import build_features, read_events

    features = build_features(
        read_events(data, _columns(columns_spec, timezone)),
        kind,
        bad_rows="drop" if drop_bad_rows else "fail",
    )
    for reason, count in features.dropped_rows.items():
        console.print(f"[yellow]dropped[/] {count:,} row(s): {reason}")
    return features


def _kind(name: str) -> Any:
    from fraudscore._kinds import kind_spec

    return kind_spec(name)


def _columns(columns_spec: str | None, timezone: str) -> Any:
    """The column mapping of --columns and --timezone, or None for canonical data."""
    from fraudscore._columns import Columns

    if columns_spec or timezone != "UTC":
        return Columns.parse(columns_spec or "", timezone)
    return None


# The commands register themselves on ``main``.
from fraudscore._cli import data as _data  # noqa: E402, F401
from fraudscore._cli import demo as _demo  # noqa: E402, F401
from fraudscore._cli import rules as _rules  # noqa: E402, F401
from fraudscore._cli import serving as _serving  # noqa: E402, F401

if __name__ == "__main__":  # pragma: no cover
    main()
