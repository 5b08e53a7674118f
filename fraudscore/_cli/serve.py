"""``fraudscore serve``: the reference service (``fraudscore._service``) under gunicorn."""

from __future__ import annotations

import errno
import os
import shutil
import socket
import tempfile
from pathlib import Path
from typing import Any

import click

from fraudscore._cli.base import DEFAULT_REPO, Failure, console, main
from fraudscore._cli.types import BUNDLE, REPO, Output
from fraudscore._errors import ConfigError

#: gunicorn's exit status when a worker could not start (``Arbiter.WORKER_BOOT_ERROR``).
_BOOT_ERROR = 3


def _bind(ctx: click.Context, param: click.Parameter, value: str) -> str:
    from fraudscore._service.server import check_bind

    try:
        return check_bind(value)
    except ConfigError:
        raise click.BadParameter(
            f"got {value!r}, expected HOST:PORT (like 127.0.0.1:8000) or unix:PATH", ctx, param
        ) from None


@main.command()
@click.option(
    "--bundle",
    "bundles",
    required=True,
    multiple=True,
    type=BUNDLE,
    help="A model bundle to serve; repeat for the other kind (one bundle per kind).",
)
@click.option("--repo", default=DEFAULT_REPO, show_default=True, type=REPO)
@click.option(
    "--workers", default=2, show_default=True, type=click.IntRange(1, 64), help="Worker processes."
)
@click.option("--bind", default="127.0.0.1:8000", show_default=True, callback=_bind)
@click.option(
    "--log",
    "log_dir",
    type=Output(directory=True),
    help="Keep a decision log here (one writer per worker).",
)
@click.option(
    "--store-timeout",
    default=1.0,
    show_default=True,
    type=click.FloatRange(0, 60, min_open=True),
    help="Seconds one read or write may wait on the online store.",
)
@click.option(
    "--on-store-error",
    default="fail",
    show_default=True,
    type=click.Choice(["fail", "degrade"]),
    help="When the store fails: answer 503 (fail), or score without history (degrade).",
)
@click.option("--no-metrics", is_flag=True, help="Serve no /metrics.")
@click.option(
    "--preload", is_flag=True, help="Make the app in the master before forking (gunicorn's)."
)
@click.option(
    "--key-file", type=click.Path(exists=True, dir_okay=False), help="Verify the bundles."
)
@click.option("--require-signature", is_flag=True, help="Refuse an unsigned bundle.")
def serve(
    bundles: tuple[str, ...],
    repo: str,
    workers: int,
    bind: str,
    log_dir: str | None,
    store_timeout: float,
    on_store_error: str,
    no_metrics: bool,
    preload: bool,
    key_file: str | None,
    require_signature: bool,
) -> None:
    """Serve the bundles over HTTP: POST /decide/KIND, /score/KIND, /record/KIND, GET /metrics.

    Runs gunicorn with uvicorn workers; each worker opens its scorers after the fork. Stop it
    with Ctrl-C or SIGTERM."""
    from fraudscore._model.bundle import load_bundle, signing_key
    from fraudscore._service.app import ServiceConfig
    from fraudscore._service.server import run

    key = signing_key(key_file=key_file)
    kinds: dict[str, str] = {}
    for bundle in bundles:  # verified here, so that a bad one ends in one line
        kind = load_bundle(bundle, key=key, require_signature=require_signature).kind
        if kind in kinds:
            raise click.BadParameter(
                f"got {kinds[kind]!r} and {bundle!r}, two {kind} bundles; expected one per kind",
                param_hint="'--bundle'",
            )
        kinds[kind] = bundle
    _check_free(bind)
    failure = Path(tempfile.mkdtemp(prefix="fraudscore-serve-")) / "failure"
    config = ServiceConfig(
        bundles=tuple(Path(b) for b in bundles),
        repo=Path(repo),
        log=None if log_dir is None else Path(log_dir),
        metrics=not no_metrics,
        timeout=store_timeout,
        on_store_error=on_store_error,
        key=key,
        require_signature=require_signature,
        failure_file=failure,
    )
    console.print(f"serving {', '.join(kinds)} on {bind} with {workers} worker(s)")
    master = os.getpid()
    try:
        run(config, bind=bind, workers=workers, preload=preload)
    except SystemExit as exc:
        if os.getpid() != master:  # a forked worker leaving: gunicorn's master reads its status
            raise
        if exc.code in (0, None):
            return
        if exc.code == _BOOT_ERROR:
            why = failure.read_text() if failure.is_file() else "the reason is in the log above"
            raise Failure(f"the workers could not start: {why}") from None
        raise Failure(f"gunicorn stopped with status {exc.code}") from None
    finally:
        if os.getpid() == master:
            shutil.rmtree(failure.parent, ignore_errors=True)


def _check_free(bind: str) -> None:
    """Refuse, in one line, an address another process listens on (gunicorn would retry and
    log for seconds)."""
    if bind.startswith("unix:"):
        return
    host, _, port = bind.rpartition(":")
    host = host.strip("[]")
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    probe: Any = socket.socket(family, socket.SOCK_STREAM)
    try:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        probe.bind((host, int(port)))
    except OSError as exc:
        if exc.errno == errno.EADDRINUSE:
            raise Failure(f"{bind} is in use by another process") from None
        raise Failure(f"cannot listen on {bind}: {exc.strerror or exc}") from None
    finally:
        probe.close()
