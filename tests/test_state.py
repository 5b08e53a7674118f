"""Decayed-state update/read: exact against a brute-force sum, freshness by ttl."""

from __future__ import annotations

from datetime import timedelta

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from fraudscore._state import Accumulator, StateLayout, StateView

VIEW = StateView(
    name="v",
    keys=("k",),
    clocks=("tx", "label"),
    accumulators=(
        Accumulator("n_1h", "tx", 3600.0),
        Accumulator("amt_1d", "tx", 86400.0, "amount"),
        Accumulator("fraud_7d", "label", 7 * 86400.0),
    ),
    ttl=timedelta(days=30),
)
LAYOUT = StateLayout((VIEW,))


def read(state: np.ndarray, t: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    acc, clocks, _, _ = LAYOUT.read(state, t)
    return acc, clocks


events = st.lists(
    st.tuples(
        st.floats(0, 20 * 86400, allow_nan=False),
        st.floats(0.01, 1e4, allow_nan=False),
        st.booleans(),
    ),
    min_size=1,
    max_size=30,
)


@settings(max_examples=60, deadline=None)
@given(events, st.floats(0, 86400))
def test_fold_equals_brute_force_decayed_sums(
    evs: list[tuple[float, float, bool]], after: float
) -> None:
    """Folding events one by one and reading later equals sum(w * exp(-(t - t_j) / tau))."""
    evs = sorted(evs)
    state = VIEW.empty(1)
    for t, amount, is_label in evs:
        clock = "label" if is_label else "tx"
        state = VIEW.update(state, clock, np.array([t]), {"amount": np.array([amount])})
    t_read = evs[-1][0] + after
    acc, clocks = read(state, np.array([t_read]))
    txs = [(t, a) for t, a, lab in evs if not lab]
    labels = [t for t, _, lab in evs if lab]
    expect_n = sum(np.exp(-(t_read - t) / 3600.0) for t, _ in txs)
    expect_amt = sum(a * np.exp(-(t_read - t) / 86400.0) for t, a in txs)
    expect_fraud = sum(np.exp(-(t_read - t) / (7 * 86400.0)) for t in labels)
    np.testing.assert_allclose(acc[0], [expect_n, expect_amt, expect_fraud], rtol=1e-9, atol=1e-12)
    if txs:
        assert clocks[0, 0] == max(t for t, _ in txs)
    else:
        assert np.isnan(clocks[0, 0])


@settings(max_examples=30, deadline=None)
@given(events)
def test_vectorised_update_equals_row_by_row(evs: list[tuple[float, float, bool]]) -> None:
    """Updating many rows at once gives the same states as updating each row alone."""
    ts = np.array([e[0] for e in evs])
    amounts = np.array([e[1] for e in evs])
    base = VIEW.empty(len(evs))
    together = VIEW.update(base, "tx", ts, {"amount": amounts})
    for i in range(len(evs)):
        alone = VIEW.update(VIEW.empty(1), "tx", ts[i : i + 1], {"amount": amounts[i : i + 1]})
        np.testing.assert_array_equal(alone[0], together[i])


def test_out_of_order_event_is_folded_exactly() -> None:
    """An event older than the state's clock adds its decayed weight without moving the clock."""
    s = VIEW.update(VIEW.empty(1), "tx", np.array([7200.0]), {"amount": np.array([1.0])})
    s = VIEW.update(s, "tx", np.array([3600.0]), {"amount": np.array([1.0])})
    assert s[0, 0] == 7200.0
    acc, _ = read(s, np.array([7200.0]))
    np.testing.assert_allclose(acc[0, 0], 1.0 + np.exp(-1.0))


def test_state_older_than_ttl_reads_empty_and_restarts() -> None:
    """Past the ttl, state reads as no history, is flagged stale, and an update starts afresh."""
    s = VIEW.update(VIEW.empty(1), "tx", np.array([0.0]), {"amount": np.array([50.0])})
    later = np.array([31 * 86400.0])
    assert VIEW.is_stale(s, later)[0]
    assert not VIEW.is_stale(s, np.array([29 * 86400.0]))[0]
    acc, clocks = read(s, later)
    assert np.isnan(clocks[0]).all() and (acc == 0).all()
    s2 = VIEW.update(s, "tx", later, {"amount": np.array([5.0])})
    acc2, _ = read(s2, later)
    np.testing.assert_allclose(acc2[0], [1.0, 5.0, 0.0])


def test_empty_state_is_missing() -> None:
    """A never-seen entity is flagged missing; one with an event (even a label) is not."""
    assert LAYOUT.read(VIEW.empty(1), np.array([5.0]))[2][0, 0]
    s = VIEW.update(VIEW.empty(1), "label", np.array([1.0]), {})
    assert not LAYOUT.read(s, np.array([5.0]))[2][0, 0]
