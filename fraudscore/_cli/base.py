"""What every ``fraudscore`` command shares: the ``main`` group, the one-line errors and
their exit codes (module ``fraudscore._cli``), the common options, progress steps.
"""

from __future__ import annotations

import os
import shutil
import sys
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path
from typing import Any, NoReturn, TypeVar

import click
from rich.console import Console

from fraudscore._cli.types import DAY, TIMEZONE, ColumnsSpec, check_order
from fraudscore._errors import (
    BundleError,
    ConfigError,
    EventValidationError,
    FraudscoreError,
    RulesError,
)
from fraudscore._kinds import DEFAULT_KIND, KINDS

console = Console(stderr=True)
out = Console()
F = TypeVar("F", bound=Callable[..., Any])

DEFAULT_REPO = "feature_repo"

#: Library errors that mean "an input was wrong": usage errors, exit code 2.
USAGE_ERRORS: tuple[type[FraudscoreError], ...] = (
    ConfigError,
    EventValidationError,
    BundleError,
    RulesError,
)
_DEBUG = "fraudscore.debug"


class Failure(click.ClickException):
    """A command that failed at run time (not a usage error): exit code 1."""

    exit_code = 1


class Fraudscore(click.Group):
    """The group: maps every error to one line on stderr and its exit code (module docstring)."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except USAGE_ERRORS as exc:
            if ctx.meta.get(_DEBUG):
                raise
            raise click.UsageError(str(exc)) from exc
        except (FraudscoreError, OSError) as exc:
            if ctx.meta.get(_DEBUG):
                raise
            raise Failure(_describe(exc)) from exc

    def main(
        self,
        args: Sequence[str] | None = None,
        prog_name: str | None = None,
        complete_var: str | None = None,
        standalone_mode: bool = True,
        **extra: Any,
    ) -> Any:
        """Click's ``main``, with every error shown as one line (not click's usage block)."""
        call = (args, prog_name, complete_var)
        if not standalone_mode:
            return super().main(*call, standalone_mode=False, **extra)
        try:
            code = super().main(*call, standalone_mode=False, **extra)
        except click.ClickException as exc:
            _exit_with(exc)
        except click.Abort:
            click.echo("error: aborted", err=True)
            sys.exit(1)
        sys.exit(code if isinstance(code, int) else 0)


def _describe(exc: BaseException) -> str:
    if isinstance(exc, OSError) and not isinstance(exc, FraudscoreError):
        where = f" {exc.filename!r}" if exc.filename else ""
        return f"{type(exc).__name__}{where}: {exc.strerror or exc}"
    return str(exc)


def _exit_with(exc: click.ClickException) -> NoReturn:
    """One line: the message (its lines joined), and for a usage error where to find help."""
    line = " ".join(part.strip() for part in exc.format_message().splitlines() if part.strip())
    if isinstance(exc, click.UsageError) and exc.ctx is not None:
        line += f" (see '{exc.ctx.command_path} --help')"
    click.echo(f"error: {line}", err=True)
    sys.exit(exc.exit_code)


@contextmanager
def step(message: str) -> Iterator[None]:
    """A spinner while a long step runs, and a tick with its duration after."""
    start = datetime.now()
    with console.status(message):
        yield
    console.print(f"[green]✓[/] {message} ({(datetime.now() - start).total_seconds():.1f}s)")


@contextmanager
def written(path: str | Path) -> Iterator[Path]:
    """A temporary path beside ``path`` to write (a file or a directory); it replaces ``path``
    only when the block succeeds. On failure it is removed, with any folder made for it, so a
    failed command leaves no half-written output."""
    target = Path(path)
    made = [p for p in (target.parent, *target.parent.parents) if not p.exists()]
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.with_name(f".{target.name}.partial-{os.getpid()}{target.suffix}")
    old = target.with_name(f".{target.name}.old-{os.getpid()}")
    try:
        yield tmp
        if tmp.is_dir() and target.is_dir():
            target.rename(old)
        os.replace(tmp, target)
    except BaseException:
        _remove(tmp)
        if old.exists() and not target.exists():
            old.rename(target)
        for folder in made:  # deepest first
            if folder.is_dir() and not any(folder.iterdir()):
                folder.rmdir()
        raise
    _remove(old)


def _remove(path: Path) -> None:
    if path.is_dir():
        shutil.rmtree(path, ignore_errors=True)
    elif path.exists():
        path.unlink()


def ordered(start: str, end: str) -> Callable[[F], F]:
    """Refuse an end before its start: ``start`` and ``end`` are the command's parameter names."""

    def decorate(fn: F) -> F:
        def checked(**kwargs: Any) -> Any:
            check_order(kwargs[start], kwargs[end], _flag(start), _flag(end))
            return fn(**kwargs)

        checked.__name__, checked.__doc__ = fn.__name__, fn.__doc__
        checked.__dict__.update(fn.__dict__)  # the options click attached
        return checked  # type: ignore[return-value]

    return decorate


def _flag(name: str) -> str:
    return "--" + name.removesuffix("_day").removesuffix("_s").replace("_", "-")


@click.group(cls=Fraudscore)
@click.version_option(package_name="fraudscore")
@click.option("--debug", is_flag=True, help="Show the traceback of a failure.")
@click.pass_context
def main(ctx: click.Context, debug: bool) -> None:
    """Real-time fraud scoring with Feast features, an ONNX model and reason codes."""
    ctx.meta[_DEBUG] = debug


KIND = click.option(
    "--kind",
    type=click.Choice(sorted(KINDS)),
    default=DEFAULT_KIND,
    show_default=True,
    help="The kind of event: " + ", ".join(KINDS) + ".",
)


def window(start: str, end: str, *, required: bool = True, what: str = "day") -> Callable[[F], F]:
    """Two day options, ``--START`` and ``--END`` (inclusive), the end not before the start."""

    def decorate(fn: F) -> F:
        fn = ordered(start, end)(fn)
        for name in (end, start):
            fn = click.option(
                _flag(name), name, type=DAY, required=required, help=f"{what} (YYYY-MM-DD)."
            )(fn)
        return fn

    return decorate


def columns_options(fn: F) -> F:
    """--columns and --timezone: the column mapping of a frame that is not canonical."""
    fn = click.option(
        "--timezone",
        default="UTC",
        show_default=True,
        type=TIMEZONE,
        help="IANA timezone of naive timestamps (with --columns).",
    )(fn)
    return click.option(
        "--columns",
        "columns_spec",
        type=ColumnsSpec(),
        help="Column mapping: 'handbook' (the handbook's public files) or "
        "'SRC=canonical,...'. Integer ids become strings; naive times are read in --timezone.",
    )(fn)


def data_options(fn: F) -> F:
    """--columns, --timezone and --drop-bad-rows: how to read a frame that is not canonical."""
    fn = click.option(
        "--drop-bad-rows",
        is_flag=True,
        help="Drop invalid rows (counted in the manifest) instead of listing them and stopping.",
    )(fn)
    return columns_options(fn)


def _features(
    data: str, kind: str, columns_spec: str | None, timezone: str, drop_bad_rows: bool
) -> Any:
    from fraudscore._training.pipeline import read_events

    return _folded(read_events(data, _columns(columns_spec, timezone)), kind, drop_bad_rows)


def _folded(events: Any, kind: str, drop_bad_rows: bool) -> Any:
    """The features of a frame of events, with the rows dropped as invalid said."""
    from fraudscore._training.pipeline import build_features

    features = build_features(events, kind, bad_rows="drop" if drop_bad_rows else "fail")
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


def at_most(count: int, what: str) -> Callable[[click.Context, click.Parameter, Any], Any]:
    """A callback refusing more than ``count`` values of a ``multiple`` option."""

    def check(ctx: click.Context, param: click.Parameter, value: Sequence[Any]) -> Any:
        if len(value) > count:
            raise click.BadParameter(f"got {len(value)} values, expected {what}", ctx, param)
        return value

    return check
