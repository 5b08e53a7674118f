"""Run the service under gunicorn with uvicorn workers (what ``fraudscore serve`` does).

A gunicorn ``BaseApplication`` in this process: the master binds, forks ``workers`` uvicorn
workers (``uvicorn_worker.UvicornWorker``: uvloop and httptools where installed), restarts one
that dies, and stops them on SIGTERM or SIGINT. Each worker makes the app (or, ``preload``,
inherits the one the master made) and opens its scorers in the ASGI lifespan startup.

Metrics across workers: Prometheus' multiprocess mode keeps each worker's values in files
of ``PROMETHEUS_MULTIPROC_DIR``, which must be set before ``prometheus_client`` is imported.
:func:`run` sets it to a fresh temporary directory when it is unset (and removes that at exit),
marks a dead worker's files dead (gunicorn's ``child_exit`` hook), and ``/metrics`` then serves
the sum over workers.
"""

from __future__ import annotations

import atexit
import os
import shutil
import sys
import tempfile
from typing import Any

from fraudscore._errors import ConfigError
from fraudscore._service.app import Service, ServiceConfig

__all__ = ["WORKER", "check_bind", "run"]

#: The worker class: ``uvicorn.workers`` is deprecated for this package.
WORKER = "uvicorn_worker.UvicornWorker"
_MULTIPROC = "PROMETHEUS_MULTIPROC_DIR"


def check_bind(bind: str) -> str:
    """``HOST:PORT`` (``[::1]:8000`` for IPv6) or ``unix:PATH``; a :class:`ConfigError` else."""
    if bind.startswith("unix:") and len(bind) > 5:
        return bind
    host, sep, port = bind.rpartition(":")
    if not (sep and host and port.isdigit() and 0 <= int(port) <= 65535):
        raise ConfigError("bind", bind, "HOST:PORT (like 127.0.0.1:8000) or unix:PATH")
    return bind


def multiprocess_dir() -> str:
    """``PROMETHEUS_MULTIPROC_DIR``, set to a new temporary directory (removed at exit) when
    unset. Call it before anything imports ``prometheus_client``."""
    path = os.environ.get(_MULTIPROC)
    if not path:
        path = tempfile.mkdtemp(prefix="fraudscore-metrics-")
        os.environ[_MULTIPROC] = path
        pid = os.getpid()

        def remove() -> None:
            if os.getpid() == pid:  # the master, not a worker that exits
                shutil.rmtree(path, ignore_errors=True)

        atexit.register(remove)
    return path


def _child_exit(server: Any, worker: Any) -> None:
    """gunicorn's hook: a dead worker's live gauges stop counting."""
    from prometheus_client import multiprocess

    multiprocess.mark_process_dead(worker.pid)


def run(
    config: ServiceConfig,
    *,
    bind: str = "127.0.0.1:8000",
    workers: int = 2,
    preload: bool = False,
    graceful_timeout: int = 10,
    log_level: str = "info",
) -> None:
    """Serve ``config`` until gunicorn stops (a signal; or a worker that cannot start, which
    makes gunicorn exit with status 3). Returns nothing: gunicorn exits the process."""
    from gunicorn.app.base import BaseApplication

    if config.metrics:
        multiprocess_dir()
    settings: dict[str, Any] = {
        "bind": [check_bind(bind)],
        "workers": workers,
        "worker_class": WORKER,
        "preload_app": preload,
        "graceful_timeout": graceful_timeout,
        "loglevel": log_level,
        "proc_name": "fraudscore-serve",
        # Keep-alive connections from a client or a load balancer stay open between requests.
        "keepalive": 5,
    }
    if config.metrics:
        settings["child_exit"] = _child_exit

    class Application(BaseApplication):
        def load_config(self) -> None:
            for name, value in settings.items():
                self.cfg.set(name, value)
            if "control_socket_disable" in self.cfg.settings:  # gunicorn 25+
                # Its control socket (one path per user) serves nothing here, and two services
                # of one user would share it.
                self.cfg.set("control_socket_disable", True)

        def load(self) -> Any:
            return Service(config)

    sys.stdout.flush()
    Application(prog="fraudscore serve").run()
