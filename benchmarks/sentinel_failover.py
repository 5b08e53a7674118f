"""Redis Sentinel failover: how long scoring stalls, what an acknowledged write can lose, and
what ``WAIT`` costs.

A real primary, replicas and a sentinel run on loopback (``SentinelGroup``, which the tests use
too; ``down-after-milliseconds`` 500). Each trial (a primary and two replicas, so that the new
primary still has one) records a stream of transactions, each of a card of its own, from a
writer thread, SIGKILLs the primary 0.3-0.8 s in, and keeps going until a write succeeds on the
promoted replica. Then every write that ``record`` acknowledged before the kill is looked up on
the new primary: a missing card is an acknowledged write that the failover lost. The same runs
with ``wait_replicas=1`` (``WAIT 1`` after each ``EXEC``). Before that, on a healthy group, the
p50 of ``record`` with and without ``WAIT`` is measured call by call in alternation.

    python -m benchmarks.sentinel_failover [--trials 10] [--calls 4000] [--data DIR]

(``DIR`` caches the trained bundle and the repo between runs.)

prints, per mode, the lost acknowledged writes per trial, the writes whose outcome was unknown
(the connection died after their ``EXEC`` was sent: reported, never re-sent), the stall (time
from the kill to the first write acknowledged by the new primary) and the record p50 ratio.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import random
import signal
import socket
import statistics
import subprocess
import tempfile
import threading
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _ask(port: int, *command: str, timeout: float = 0.5) -> Any:
    """One command to the server on ``port`` (redis-py, outside the code under test)."""
    import redis

    client = redis.Redis(port=port, socket_timeout=timeout, socket_connect_timeout=timeout)
    try:
        return client.execute_command(*command)
    finally:
        client.close()


@dataclass
class SentinelGroup:
    """A primary, ``replicas`` replicas and one sentinel on free loopback ports under ``root``.

    Started by :meth:`start`, stopped (every process killed, by its own pid) by :meth:`stop`.
    No persistence: like the tests' other servers, the data lives in memory only.
    """

    root: Path
    master: str = "fsmaster"
    replicas: int = 1
    down_after_ms: int = 500
    failover_timeout_ms: int = 2000
    ports: list[int] = field(default_factory=list)  # primary first, then replicas
    sentinel_port: int = 0
    procs: dict[int, subprocess.Popen[bytes]] = field(default_factory=dict)

    @property
    def connection_string(self) -> str:
        """Feast's ``connection_string`` for ``redis_sentinel``: the sentinels' host:port."""
        return f"127.0.0.1:{self.sentinel_port}"

    def _server(self, port: int, *extra: str) -> None:
        self.procs[port] = subprocess.Popen(
            [
                *("redis-server", "--port", str(port), "--bind", "127.0.0.1", "--save", ""),
                *("--appendonly", "no", "--repl-diskless-sync-delay", "0", "--dir", str(self.root)),
                *("--logfile", str(self.root / f"redis-{port}.log"), *extra),
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )

    def start(self, timeout: float = 10.0) -> SentinelGroup:
        """Start the group and wait until it is ready; on any failure, stop what started."""
        try:
            return self._start(timeout)
        except BaseException:
            self.stop()
            raise

    def _start(self, timeout: float) -> SentinelGroup:
        self.root.mkdir(parents=True, exist_ok=True)
        self.ports = [free_port() for _ in range(1 + self.replicas)]
        primary = self.ports[0]
        self._server(primary)
        for port in self.ports[1:]:
            self._server(port, "--replicaof", "127.0.0.1", str(primary))
        deadline = time.monotonic() + timeout
        for port in self.ports[1:]:  # linked replicas first: the sentinel then sees them at once
            self._until(deadline, lambda p=port: _ask(p, "INFO")["master_link_status"] == "up")
        # A replica fresh from a diskless sync is sent nothing until its first REPLCONF ACK (up
        # to a second later): wait until every replica acknowledges a write.
        self._until(deadline, lambda: self._streaming(primary))
        self.sentinel_port = free_port()
        conf = self.root / "sentinel.conf"
        lines = [
            f"port {self.sentinel_port}",
            "bind 127.0.0.1",
            f"dir {self.root}",
            f"logfile {self.root / 'sentinel.log'}",
            f"sentinel monitor {self.master} 127.0.0.1 {primary} 1",
            f"sentinel down-after-milliseconds {self.master} {self.down_after_ms}",
            f"sentinel failover-timeout {self.master} {self.failover_timeout_ms}",
        ]
        lines += [f"sentinel known-replica {self.master} 127.0.0.1 {p}" for p in self.ports[1:]]
        conf.write_text("\n".join(lines) + "\n")
        self.procs[self.sentinel_port] = subprocess.Popen(
            ["redis-server", str(conf), "--sentinel"],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        self._until(deadline, lambda: self.sentinel_replicas() >= self.replicas)
        return self

    def _streaming(self, primary: int) -> bool:
        import redis

        client = redis.Redis(port=primary, socket_timeout=2)
        try:
            client.set("fraudscore:sentinel-probe", 1)
            client.delete("fraudscore:sentinel-probe")
            return int(client.execute_command("WAIT", self.replicas, 1000)) >= self.replicas
        finally:
            client.close()

    def sentinel_replicas(self) -> int:
        """How many replicas the sentinel knows of the master."""
        info = _ask(self.sentinel_port, "SENTINEL", "MASTER", self.master)  # redis-py: a dict
        return int(info[b"num-slaves"])

    def primary(self) -> int:
        """The port of the primary, as the sentinel answers now."""
        _, port = _ask(self.sentinel_port, "SENTINEL", "get-master-addr-by-name", self.master)
        return int(port)

    def kill_primary(self) -> int:
        """SIGKILL the current primary (no shutdown, no last words); its port."""
        port = self.primary()
        proc = self.procs.pop(port)
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        return port

    def pause(self, port: int) -> None:
        """Freeze the server on ``port`` (SIGSTOP): it neither answers nor reconnects."""
        self.procs[port].send_signal(signal.SIGSTOP)

    def resume(self, port: int) -> None:
        self.procs[port].send_signal(signal.SIGCONT)

    def wait_switched(self, old: int, timeout: float = 15.0) -> int:
        """Wait until the sentinel names a primary other than ``old``; its port."""
        deadline = time.monotonic() + timeout
        self._until(deadline, lambda: self.primary() != old)
        return self.primary()

    def stop(self) -> None:
        for proc in self.procs.values():
            with contextlib.suppress(OSError):
                proc.send_signal(signal.SIGCONT)
                proc.kill()
        for proc in self.procs.values():
            with contextlib.suppress(OSError, subprocess.TimeoutExpired):
                proc.wait(timeout=5)
        self.procs.clear()

    @staticmethod
    def _until(deadline: float, ready: Any) -> None:
        while True:
            try:
                if ready():
                    return
            except Exception:  # not up yet
                pass
            if time.monotonic() > deadline:
                raise TimeoutError("the sentinel group did not come up in time")
            time.sleep(0.02)


@contextlib.contextmanager
def running(root: Path, **options: Any) -> Any:
    group = SentinelGroup(root, **options)
    try:
        yield group.start()
    finally:
        group.stop()


def sentinel_repo(template: Path, dst: Path, group: SentinelGroup) -> Path:
    """A copy of the applied repo ``template`` pointed at ``group`` (same registry)."""
    import shutil

    import yaml

    shutil.rmtree(dst, ignore_errors=True)
    shutil.copytree(template, dst)
    path = dst / "feature_store.yaml"
    config = yaml.safe_load(path.read_text())
    config["online_store"] = {
        "type": "redis",
        "redis_type": "redis_sentinel",
        "sentinel_master": group.master,
        "connection_string": group.connection_string,
    }
    path.write_text(yaml.safe_dump(config, sort_keys=False))
    return dst


# -- the measurements -----------------------------------------------------------------------------

AT = datetime(2018, 6, 1, tzinfo=UTC)


def card_event(i: int, tag: str) -> Any:
    """A transaction of a card of its own (so a lost write is a card missing afterwards)."""
    from fraudscore import Transaction

    return Transaction(f"{tag}-{i}", AT + timedelta(seconds=i), f"{tag}-card-{i}", f"{tag}-T", 9.0)


def world(root: Path) -> tuple[Path, Path]:
    """A trained bundle and an applied (not materialized) transaction repo, built once."""
    from fraudscore import build_features, simulate_transactions, train_model
    from tests.conftest import SMALL, TRAIN, copy_repo

    bundle, repo = root / "bundle", root / "feature_repo"
    if not bundle.exists():
        train_model(build_features(simulate_transactions(SMALL)), *TRAIN, bundle)
    if not repo.exists():
        copy_repo(repo)
    return bundle, repo


def open_on(bundle: Path, template: Path, dst: Path, group: SentinelGroup, **options: Any) -> Any:
    """A scorer on ``group`` through ``RedisSource(**options)``; the repo applied on first use."""
    from fraudscore import RedisSource, Scorer, load_bundle
    from fraudscore._kinds import TRANSACTION
    from fraudscore._online.layout import from_descriptor
    from fraudscore._online.repo import apply_repo

    repo = sentinel_repo(template, dst, group)
    layout = from_descriptor(repo)
    if layout is None:
        apply_repo(repo)
        layout = from_descriptor(repo)
    return Scorer(load_bundle(bundle), RedisSource(layout, TRANSACTION.views, **options))


def trial(bundle: Path, template: Path, root: Path, wait: int, seed: int) -> dict[str, Any]:
    """One SIGKILL of the primary under a writer thread (two replicas, so that the new primary
    still has one): acknowledged writes lost, refused and unknown ones, the stall."""
    from fraudscore import FeatureStoreError

    rng = random.Random(seed)
    tag = f"w{wait}s{seed}"
    with running(root / tag, replicas=2) as group:
        scorer = open_on(bundle, template, root / f"{tag}-repo", group, wait_replicas=wait)
        acked: list[tuple[int, float, float]] = []  # (event, call start, call end)
        failed: list[tuple[int, str]] = []
        stop = threading.Event()

        def write() -> None:
            i = 0
            while not stop.is_set():
                t0 = time.monotonic()
                try:
                    scorer.record(card_event(i, tag))
                    acked.append((i, t0, time.monotonic()))
                except FeatureStoreError as exc:
                    failed.append((i, str(exc)))
                i += 1

        writer = threading.Thread(target=write)
        writer.start()
        time.sleep(rng.uniform(0.3, 0.8))
        group.kill_primary()
        killed = time.monotonic()  # the primary is dead (reaped): later acks are the new one's
        deadline = killed + 20
        while not any(t0 > killed for _, t0, _ in acked) and time.monotonic() < deadline:
            time.sleep(0.01)
        time.sleep(0.1)
        stop.set()
        writer.join()
        resumed = [end for _, t0, end in acked if t0 > killed]
        cards = [(f"{tag}-card-{i}",) for i, _, _ in acked]
        keys: list[list[tuple[str, ...]]] = [[] for _ in scorer.source.views]
        keys[0] = cards
        present = ~np.isnan(scorer.source.read(keys)[0][:, 0])  # a NaN clock: no state
        before = [i for i, _, end in acked if end <= killed]
        lost = [i for (i, _, end), ok in zip(acked, present, strict=True) if not ok]
        return {
            "acked": len(acked),
            "acked_before_kill": len(before),
            "lost": len(lost),
            "refused": sum("wait_replicas" in m for _, m in failed),
            "unknown": sum("may or may not" in m for _, m in failed),
            "other_errors": [
                m for _, m in failed if "wait_replicas" not in m and "may or" not in m
            ],
            "stall_s": (min(resumed) - killed) if resumed else float("nan"),
        }


def wait_cost(bundle: Path, template: Path, root: Path, calls: int) -> dict[str, float]:
    """p50 of record without and with WAIT 1 on one healthy group, call by call in alternation;
    and of score, which WAIT does not touch."""
    with running(root / "cost", replicas=1) as group:
        plain = open_on(bundle, template, root / "cost-repo", group)
        waited = open_on(bundle, template, root / "cost-repo", group, wait_replicas=1)
        times: dict[str, list[int]] = {"record": [], "record_wait": [], "score": []}
        for i in range(calls):
            for name, scorer in (("record", plain), ("record_wait", waited)):
                e = card_event(i, name)
                t0 = time.perf_counter_ns()
                scorer.record(e)
                times[name].append(time.perf_counter_ns() - t0)
            t0 = time.perf_counter_ns()
            plain.score(card_event(i, "record"))
            times["score"].append(time.perf_counter_ns() - t0)
    out = {k: statistics.median(v[calls // 10 :]) / 1000 for k, v in times.items()}
    out["ratio"] = out["record_wait"] / out["record"]
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--trials", type=int, default=10)
    parser.add_argument("--calls", type=int, default=4000)
    parser.add_argument("--data", type=Path, default=Path(tempfile.gettempdir()) / "fs-sentinel")
    args = parser.parse_args()
    args.data.mkdir(parents=True, exist_ok=True)
    bundle, template = world(args.data)
    runs = args.data / f"runs-{os.getpid()}"
    try:
        cost = wait_cost(bundle, template, runs, args.calls)
        print(
            f"record p50 {cost['record']:.0f} us, with WAIT 1 {cost['record_wait']:.0f} us: "
            f"ratio {cost['ratio']:.2f}; score p50 {cost['score']:.0f} us ({args.calls} calls each)"
        )
        for wait in (0, 1):
            results = [trial(bundle, template, runs, wait, seed) for seed in range(args.trials)]
            for r in results:
                print(f"wait_replicas={wait}: {r}")
            lost = sum(r["lost"] for r in results)
            acked = sum(r["acked_before_kill"] for r in results)
            stalls = [r["stall_s"] for r in results]
            print(
                f"wait_replicas={wait}: {args.trials} failovers, {lost} of {acked} writes "
                f"acknowledged before the kill lost; refused {sum(r['refused'] for r in results)}, "
                f"outcome unknown {sum(r['unknown'] for r in results)}; stall median "
                f"{statistics.median(stalls):.2f} s, max {max(stalls):.2f} s"
            )
    finally:
        import shutil

        shutil.rmtree(runs, ignore_errors=True)


if __name__ == "__main__":
    main()
