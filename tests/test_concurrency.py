"""Many writers, one online store: processes, threads and several Scorer objects recording one
card at one instant lose no update, on SQLite, Redis and Redis Cluster."""

from __future__ import annotations

import multiprocessing
import threading
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path

import pytest

from fraudscore import FeastSource, Scorer, Transaction
from fraudscore._feast import open_store
from fraudscore._kinds import TRANSACTION

from .conftest import CUTOFF, store_params
from .workers import record_all

AT = CUTOFF.to_pydatetime() + timedelta(hours=1)


def burst(tag: str, n: int) -> list[Transaction]:
    """``n`` online transactions of one new card at one new terminal from one new device,
    network and shipping country, all at the same instant: every view is written."""
    return [
        Transaction(
            f"{tag}-{i}", AT, "hot-card", "hot-terminal", 10.0, channel="online",
            device_id="hot-device", asn=64500, shipping_country="FR", merchant_category="9999",
        )
        for i in range(n)
    ]  # fmt: skip


def assert_counts(repo: Path, n: int) -> None:
    """The stored state, read through Feast itself, counts exactly ``n`` events at ``AT``, and
    the device saw exactly one new card (the one event that found no device x card state)."""
    ref = FeastSource(open_store(repo), TRANSACTION.views)
    states = ref.read_one(TRANSACTION.keys(burst("x", 1)[0]))
    card, terminal, pair, device_card, device, network, shipping = states
    index = {v.name: v.index for v in TRANSACTION.views}
    assert device_card[index["device_card_state"]["n_30d"]] == n
    assert device[index["device_state"]["n_1d"]] == n
    assert device[index["device_state"]["cards_1d"]] == 1.0
    assert network[index["customer_network_state"]["n_30d"]] == n
    assert shipping[index["customer_shipping_state"]["n_30d"]] == n
    index = [v.index for v in TRANSACTION.views]
    assert card[index[0]["tx_ts"]] == AT.timestamp()
    assert card[index[0]["n_1h"]] == n, f"{n - card[index[0]['n_1h']]:.0f} updates lost"
    assert card[index[0]["n_30d"]] == n
    assert card[index[0]["amt_1d"]] == 10.0 * n
    assert terminal[index[1]["n_1d"]] == n
    assert pair[index[2]["n_30d"]] == n


@pytest.mark.parametrize("store", store_params())
def test_processes_recording_one_card_lose_no_update(
    fresh_on: Callable[[str, str], Path], bundle_dir: Path, store: str
) -> None:
    """Four spawned processes each record 40 transactions of one card at one instant: the
    stored counts are exactly 160."""
    repo = fresh_on("transaction", store)
    ctx = multiprocessing.get_context("spawn")
    barrier = ctx.Barrier(4)
    procs = [
        ctx.Process(target=record_all, args=(bundle_dir, repo, burst(f"p{p}", 40), barrier))
        for p in range(4)
    ]
    for p in procs:
        p.start()
    for p in procs:
        p.join(timeout=300)
    assert [p.exitcode for p in procs] == [0] * 4
    assert_counts(repo, 160)


@pytest.mark.parametrize("store", store_params())
def test_threads_and_scorers_in_one_process_lose_no_update(
    fresh_on: Callable[[str, str], Path], bundle_dir: Path, store: str
) -> None:
    """Threads sharing one Scorer, and threads each with a Scorer of their own, record one card
    at one instant: the stored counts equal the number of events."""
    repo = fresh_on("transaction", store)
    shared = Scorer.open(bundle_dir, repo, timeout=30.0)
    scorers = [shared, shared, shared] + [
        Scorer.open(bundle_dir, repo, timeout=30.0) for _ in range(3)
    ]
    barrier = threading.Barrier(len(scorers))
    errors: list[BaseException] = []

    def work(i: int, scorer: Scorer) -> None:
        try:
            barrier.wait()
            for event in burst(f"t{i}", 30):
                scorer.record(event)
        except BaseException as exc:  # surfaced below
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(i, s)) for i, s in enumerate(scorers)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    assert_counts(repo, 30 * len(scorers))


@pytest.mark.parametrize("store", store_params())
def test_record_many_batches_from_processes_lose_no_update(
    fresh_on: Callable[[str, str], Path], bundle_dir: Path, store: str
) -> None:
    """record_many batches racing from two scorers commit whole: no event is lost or doubled."""
    repo = fresh_on("transaction", store)
    a, b = (Scorer.open(bundle_dir, repo, timeout=30.0) for _ in range(2))
    batches = [burst(f"b{i}", 25) for i in range(8)]
    threads = [
        threading.Thread(target=lambda s=s, bs=batches[i::2]: [s.record_many(x) for x in bs])
        for i, s in enumerate((a, b))
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert_counts(repo, 200)
