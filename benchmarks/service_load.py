"""Proof under HTTP load: the real ``fraudscore serve`` (gunicorn, uvicorn workers) scores and
records a stream with one hot card and one hot IP, from concurrent keep-alive connections on
loopback; then the online state must equal the offline fold of the same events, with the
decisions the service served, and no request may have failed.

The stream is ``benchmarks/load.py``'s: transactions and logins after the store's cutoff, a
burst of one card at one instant (card testing) and a burst of many users from one IP at one
instant (credential stuffing). Every event is one ``POST /decide/{kind}``: score, then record
with the decision served. Two login features depend on the order of a user's logins (see
``load.py``), and so does a transaction's new-card-on-device column, so each user's logins and
each card's transactions go through one connection, in time order; the hot card's burst (one
instant) goes round-robin. The connections are spread evenly over the workers (each is asked which worker
holds it), so every worker records the hot card and the hot IP at the same time.

The client is one asyncio event loop writing HTTP/1.1 by hand on raw keep-alive streams: it
costs tens of microseconds per request, where an HTTP client library costs hundreds, and on a
small machine the client's CPU is taken from the server's. Bounded in count (the stream) and in
time (``--max-seconds``; each request also has its own timeout).

After the server has stopped, the same events are scored and recorded in this process
(``Scorer.score`` then ``Scorer.record``, one after another, on the same store) for the
baseline: p50 and p99 per request against per event, in the same run.

    python -m benchmarks.service_load [--store sqlite|redis] [--workers 2] [--requests 4000]
        [--concurrency 8]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import dataclasses
import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
import zlib
from collections import Counter
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from benchmarks.load import World, compare_with_offline
from fraudscore import Scorer
from fraudscore._kinds import LOGIN
from fraudscore._training.pipeline import to_events

#: Seconds one request may take before it counts as failed.
REQUEST_TIMEOUT = 10.0


# The stream -------------------------------------------------------------------------------------


def event_json(event: Any) -> bytes:
    """An event as the service reads it: its fields, times in ISO 8601 with their offset."""
    fields = {}
    for f in dataclasses.fields(event):
        value = getattr(event, f.name)
        fields[f.name] = value.isoformat() if isinstance(value, datetime) else value
    return json.dumps(fields).encode()


@dataclass
class Request:
    kind: str
    event_id: str
    body: bytes
    event: Any


def lanes(worlds: Sequence[World], n: int) -> list[list[Request]]:
    """Each connection's requests, in time order: logins by user, transactions by card but for
    the hot card's one-instant burst, round-robin."""
    out: list[list[tuple[datetime, int, Request]]] = [[] for _ in range(n)]
    seq = 0
    for w in worlds:
        kind = w.kind
        for i, e in enumerate(to_events(w.stream, kind)):
            if kind.name == LOGIN.name:
                lane = zlib.crc32(e.user_id.encode())
            elif e.customer_id != "hot-card":  # a card's new-device column depends on order
                lane = zlib.crc32(e.customer_id.encode())
            else:
                lane = i
            req = Request(kind.name, getattr(e, kind.id_field), event_json(e), e)
            out[lane % n].append((e.timestamp, seq, req))
            seq += 1
    return [[r for _, _, r in sorted(lane, key=lambda x: (x[0], x[1]))] for lane in out]


# The server ------------------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class Server:
    proc: subprocess.Popen[bytes]
    #: Where the server's output goes (gunicorn's and the workers' logs).
    log: Path

    def tail(self, n: int = 3000) -> str:
        return self.log.read_text(errors="replace")[-n:]


@contextlib.contextmanager
def serving(
    bundles: Sequence[Path],
    repo: Path,
    *,
    workers: int,
    port: int,
    log: Path | None = None,
    preload: bool = False,
) -> Iterator[Server]:
    """``fraudscore serve`` in a subprocess, until the block ends (then SIGTERM, and a kill if
    it has not stopped in 30 s). Its output goes to a temporary file (``Server.log``)."""
    args = [sys.executable, "-c", "from fraudscore._cli import main; main()", "serve"]
    for b in bundles:
        args += ["--bundle", str(b)]
    args += ["--repo", str(repo), "--workers", str(workers), "--bind", f"127.0.0.1:{port}"]
    if log is not None:
        args += ["--log", str(log)]
    if preload:
        args.append("--preload")
    env = {k: v for k, v in os.environ.items() if k != "PROMETHEUS_MULTIPROC_DIR"}
    fd, name = tempfile.mkstemp(prefix="fraudscore-serve-", suffix=".log")
    with os.fdopen(fd, "wb") as out:
        proc = subprocess.Popen(args, env=env, stdout=out, stderr=subprocess.STDOUT)
    server = Server(proc, Path(name))
    try:
        yield server
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(timeout=10)


# The client ------------------------------------------------------------------------------------


class Connection:
    """One keep-alive HTTP/1.1 connection, requests written and responses parsed by hand (the
    server always sends a Content-Length)."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader, self.writer = reader, writer
        self.closed = False

    @classmethod
    async def open(cls, port: int) -> Connection:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        sock = writer.get_extra_info("socket")
        if sock is not None:
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        return cls(reader, writer)

    async def request(self, method: str, path: str, body: bytes = b"") -> tuple[int, bytes]:
        head = (
            f"{method} {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
            f"Content-Length: {len(body)}\r\n\r\n"
        )
        self.writer.write(head.encode() + body)
        status_line = await self.reader.readline()
        if not status_line:
            raise ConnectionError("the server closed the connection")
        status = int(status_line.split(b" ", 2)[1])
        length = 0
        while True:
            line = await self.reader.readline()
            if line in (b"\r\n", b""):
                break
            name, _, value = line.partition(b":")
            name = name.strip().lower()
            if name == b"content-length":
                length = int(value)
            elif name == b"connection" and value.strip().lower() == b"close":
                self.closed = True
            elif name == b"transfer-encoding":
                raise ConnectionError("a chunked response: this client reads Content-Length")
        return status, await self.reader.readexactly(length)

    def close(self) -> None:
        self.writer.close()


async def wait_ready(port: int, workers: int, server: Server, limit: float) -> None:
    """Until ``workers`` distinct workers answer /healthz (each on a new connection)."""
    seen: set[int] = set()
    deadline = time.monotonic() + limit
    while len(seen) < workers:
        if server.proc.poll() is not None:
            raise RuntimeError(
                f"fraudscore serve exited with {server.proc.returncode}:\n{server.tail()}"
            )
        if time.monotonic() > deadline:
            raise RuntimeError(
                f"{len(seen)} of {workers} workers up after {limit:g} s:\n{server.tail()}"
            )
        try:
            conn = await Connection.open(port)
            status, body = await asyncio.wait_for(conn.request("GET", "/healthz"), 5)
            conn.close()
            if status == 200:
                seen.add(json.loads(body)["pid"])
        except (TimeoutError, OSError):
            pass
        await asyncio.sleep(0.05)


async def spread(port: int, n: int, workers: int) -> list[tuple[Connection, int]]:
    """``n`` connections, as evenly spread over the workers as the kernel allows in a few
    hundred tries: each is asked for its worker's pid, and one to a worker that has its share
    is closed and opened again."""
    share = -(-n // workers)
    held: list[tuple[Connection, int]] = []
    per: Counter[int] = Counter()
    for _ in range(50 * n):
        if len(held) == n:
            break
        conn = await Connection.open(port)
        _status, body = await conn.request("GET", "/healthz")
        pid = json.loads(body)["pid"]
        if per[pid] < share:
            per[pid] += 1
            held.append((conn, pid))
        else:
            conn.close()
    while len(held) < n:  # the kernel kept choosing full workers: take what comes
        conn = await Connection.open(port)
        pid = json.loads((await conn.request("GET", "/healthz"))[1])["pid"]
        held.append((conn, pid))
    return held


@dataclass
class HttpRun:
    latencies: list[float]
    statuses: Counter[int]
    failures: list[str]
    decisions: dict[tuple[str, str], str]
    per_worker: Counter[int]
    unsent: int
    seconds: float
    #: The sum of ``fraudscore_decisions_total`` over workers, scraped from /metrics at the end.
    metrics_decisions: float = 0.0
    #: The server's output.
    server_log: Path | None = None


async def _drive(port: int, plan: list[list[Request]], workers: int, max_seconds: float) -> HttpRun:
    held = await spread(port, len(plan), workers)
    run = HttpRun([], Counter(), [], {}, Counter(), 0, 0.0)
    start = time.perf_counter()
    deadline = time.monotonic() + max_seconds

    async def lane(conn: Connection, pid: int, requests: list[Request]) -> None:
        for i, req in enumerate(requests):
            if time.monotonic() > deadline:
                run.unsent += len(requests) - i
                return
            t0 = time.perf_counter()
            try:
                status, body = await asyncio.wait_for(
                    conn.request("POST", f"/decide/{req.kind}", req.body), REQUEST_TIMEOUT
                )
            except (TimeoutError, OSError, asyncio.IncompleteReadError) as exc:
                run.failures.append(f"{req.kind} {req.event_id}: {exc!r}")
                run.unsent += len(requests) - i - 1
                return  # the connection is unusable now
            run.latencies.append(time.perf_counter() - t0)
            run.statuses[status] += 1
            run.per_worker[pid] += 1
            if status == 200:
                run.decisions[req.kind, req.event_id] = json.loads(body)["decision"]
            else:
                run.failures.append(f"{req.kind} {req.event_id}: {status} {body[:300]!r}")
            if conn.closed:
                run.failures.append(f"{req.kind} {req.event_id}: the server closed the connection")
                run.unsent += len(requests) - i - 1
                return

    await asyncio.gather(*(lane(c, pid, r) for (c, pid), r in zip(held, plan)))
    run.seconds = time.perf_counter() - start
    # Each worker moves its calls into the shared metrics every second or so (ScorerMetrics'
    # flush_s): scrape until they add up, for a few seconds at most.
    served = run.statuses[200]
    for _ in range(40):
        status, text = await held[0][0].request("GET", "/metrics")
        if status != 200:
            break
        run.metrics_decisions = sum(
            float(line.rsplit(b" ", 1)[1])
            for line in text.splitlines()
            if line.startswith(b"fraudscore_decisions_total{")
        )
        if run.metrics_decisions >= served:
            break
        await asyncio.sleep(0.25)
    for conn, _ in held:
        conn.close()
    return run


def drive(port: int, plan: list[list[Request]], workers: int, max_seconds: float) -> HttpRun:
    """Send every lane's requests, each lane on its own connection, at once."""
    try:
        import uvloop

        runner: Any = uvloop.run
    except ImportError:  # pragma: no cover - uvloop comes with the service extra's uvicorn
        runner = asyncio.run
    return runner(_drive(port, plan, workers, max_seconds))  # type: ignore[no-any-return]


def ready(port: int, workers: int, server: Server, limit: float = 120.0) -> None:
    asyncio.run(wait_ready(port, workers, server, limit))


# The baseline, the check and the table --------------------------------------------------------------


def in_process(bundles: Sequence[Path], repo: Path, plan: list[list[Request]]) -> list[float]:
    """Seconds of ``score`` + ``record`` of each event, one after another, in this process."""
    scorers = {}
    for b in bundles:
        s = Scorer.open(b, repo, timeout=30.0)
        scorers[s.kind.name] = s
    events = sorted((r for lane in plan for r in lane), key=lambda r: r.event.timestamp)
    out = []
    clock = time.perf_counter
    for req in events:
        scorer = scorers[req.kind]
        t0 = clock()
        result = scorer.score(req.event)
        scorer.record(req.event, result)
        out.append(clock() - t0)
    return out


def with_decisions(world: World, decisions: dict[tuple[str, str], str]) -> World:
    """``world`` whose stream carries the decision the service served for each event (the
    offline fold then counts reviewed and declined events as the online path did)."""
    stream = world.stream.copy()
    ids = stream[world.kind.id_field]
    stream["decision"] = [decisions.get((world.kind.name, i)) for i in ids]
    return dataclasses.replace(world, stream=stream)


@dataclass
class Report:
    store: str
    workers: int
    concurrency: int
    http: HttpRun
    baseline: list[float]
    compared: dict[str, int]

    @property
    def requests(self) -> int:
        return len(self.http.latencies)

    def ms(self, values: Sequence[float], q: float) -> float:
        return float(np.percentile(np.asarray(values), q) * 1e3)

    def table(self) -> str:
        h, b = self.http.latencies, self.baseline
        lines = [
            f"store {self.store}: {self.workers} workers, {self.concurrency} connections, "
            f"{self.requests} requests in {self.http.seconds:.1f} s "
            f"({self.requests / self.http.seconds:,.0f}/s), failed {len(self.http.failures)}, "
            f"per worker {sorted(self.http.per_worker.values())}",
            f"{'':<28} {'p50 ms':>8} {'p99 ms':>8} {'max ms':>8}",
            f"{'HTTP POST /decide':<28} {self.ms(h, 50):>8.2f} {self.ms(h, 99):>8.2f} "
            f"{self.ms(h, 100):>8.2f}",
            f"{'in-process score+record':<28} {self.ms(b, 50):>8.2f} {self.ms(b, 99):>8.2f} "
            f"{self.ms(b, 100):>8.2f}",
            f"{'ratio':<28} {self.ms(h, 50) / self.ms(b, 50):>8.1f} "
            f"{self.ms(h, 99) / self.ms(b, 99):>8.1f}",
        ]
        lines += [
            f"{k}: {n} online states equal the offline fold" for k, n in self.compared.items()
        ]
        lines.append(f"/metrics: {self.http.metrics_decisions:.0f} decisions over the workers")
        return "\n".join(lines)


def run_service_load(
    worlds: Sequence[World],
    *,
    store: str,
    workers: int = 2,
    concurrency: int = 8,
    max_seconds: float = 120.0,
    log: Path | None = None,
    preload: bool = False,
) -> Report:
    """Serve the worlds' bundles on their (one) repo, send their streams, stop, check."""
    repos = {w.repo for w in worlds}
    if len(repos) != 1:
        raise ValueError(f"the worlds must share one repo, not {sorted(map(str, repos))}")
    repo = repos.pop()
    bundles = [w.bundle for w in worlds]
    plan = lanes(worlds, concurrency)
    port = free_port()
    with serving(bundles, repo, workers=workers, port=port, log=log, preload=preload) as server:
        ready(port, workers, server)
        http = drive(port, plan, workers, max_seconds)
    http.server_log = server.log
    compared = {}
    if not http.failures and not http.unsent:
        for w in worlds:
            compared[w.kind.name] = compare_with_offline(with_decisions(w, http.decisions))
    baseline = in_process(bundles, repo, plan)
    return Report(store, workers, concurrency, http, baseline, compared)


def build_worlds(root: Path, store: str, requests: int) -> list[World]:  # pragma: no cover
    """Both kinds' histories, bundles and streams, on one repo on ``store``: ``requests`` events
    in all, half of each kind, a quarter of each half on its hot key (the hot IP's burst is
    capped by the users the history has)."""
    from benchmarks.load import login_stream, transaction_stream
    from fraudscore import simulate_logins, simulate_transactions
    from fraudscore._kinds import TRANSACTION
    from fraudscore._training.pipeline import build_features, build_store, train_model
    from tests.conftest import CUTOFF, LOGIN_CUTOFF, LOGIN_SMALL, LOGIN_TRAIN, SMALL, TRAIN, built

    half = requests // 2
    hot = half // 4
    tx = build_features(simulate_transactions(SMALL), TRANSACTION)
    login = build_features(simulate_logins(LOGIN_SMALL), LOGIN)
    repo = built(root, tx, CUTOFF, store)
    build_store(repo, login, as_of=(LOGIN_CUTOFF - pd.Timedelta(microseconds=1)).to_pydatetime())
    worlds = []
    for kind, off, cutoff, (a, b), make in (
        (TRANSACTION, tx, CUTOFF, TRAIN, transaction_stream),
        (LOGIN, login, LOGIN_CUTOFF, LOGIN_TRAIN, login_stream),
    ):
        bundle = root / f"{kind.name}_bundle"
        train_model(off, a, b, bundle)
        stream = make(off.frame, cutoff, half - hot, hot)
        worlds.append(World(kind, bundle, repo, off.frame, cutoff, stream))
    return worlds


def main() -> None:  # pragma: no cover - a manual tool; tests/test_service.py drives the same code
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--store", default="sqlite", choices=["sqlite", "redis"])
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--requests", type=int, default=4000, help="events in all, both kinds")
    parser.add_argument("--concurrency", type=int, default=8, help="keep-alive connections")
    parser.add_argument("--max-seconds", type=float, default=300.0, help="the HTTP run's bound")
    parser.add_argument("--preload", action="store_true", help="fraudscore serve --preload")
    args = parser.parse_args()
    root = Path(tempfile.mkdtemp(prefix="fraudscore-service-load-"))
    worlds = build_worlds(root, args.store, args.requests)
    report = run_service_load(
        worlds,
        store=args.store,
        workers=args.workers,
        concurrency=args.concurrency,
        max_seconds=args.max_seconds,
        preload=args.preload,
    )
    print(report.table())
    print(f"server log: {report.http.server_log}")
    for line in report.http.failures[:20]:
        print("failed:", line)
    if (
        report.http.failures
        or report.http.unsent
        or len(report.compared) != len(worlds)
        or report.http.metrics_decisions != report.requests
    ):
        sys.exit(1)


if __name__ == "__main__":
    main()
