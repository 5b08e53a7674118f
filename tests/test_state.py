"""Decayed-state update/read: exact against a brute-force sum, freshness by ttl, and the array
(offline) and float (online) executions of the same code agree."""

from __future__ import annotations

from datetime import timedelta

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from fraudscore._state import NP, PY, Accumulator, StateView

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

events = st.lists(
    st.tuples(
        st.floats(0, 20 * 86400, allow_nan=False),
        st.floats(0.01, 1e4, allow_nan=False),
        st.booleans(),
    ),
    min_size=1,
    max_size=30,
)


def fold(evs: list[tuple[float, float, bool]]) -> list[float]:
    state = VIEW.empty_row()
    for t, amount, is_label in evs:
        state = VIEW.update(state, "label" if is_label else "tx", t, {"amount": amount}, PY)
    return state


@settings(max_examples=60, deadline=None)
@given(events, st.floats(0, 86400))
def test_fold_equals_brute_force_decayed_sums(
    evs: list[tuple[float, float, bool]], after: float
) -> None:
    """Folding events one by one and reading later equals sum(w * exp(-(t - t_j) / tau))."""
    evs = sorted(evs)
    t_read = evs[-1][0] + after
    values, missing, stale = VIEW.read(fold(evs), t_read, PY)
    txs = [(t, a) for t, a, lab in evs if not lab]
    labels = [t for t, _, lab in evs if lab]
    expect_n = sum(np.exp(-(t_read - t) / 3600.0) for t, _ in txs)
    expect_amt = sum(a * np.exp(-(t_read - t) / 86400.0) for t, a in txs)
    expect_fraud = sum(np.exp(-(t_read - t) / (7 * 86400.0)) for t in labels)
    np.testing.assert_allclose(
        values[2:], [expect_n, expect_amt, expect_fraud], rtol=1e-9, atol=1e-12
    )
    if txs:
        assert values[0] == max(t for t, _ in txs)
    else:
        assert np.isnan(values[0])
    assert not missing and not stale


@settings(max_examples=40, deadline=None)
@given(st.lists(events, min_size=1, max_size=6), st.floats(0, 40 * 86400))
def test_array_execution_equals_float_execution(
    streams: list[list[tuple[float, float, bool]]], t_read: float
) -> None:
    """Updating and reading many entities as arrays (NP) equals doing each alone on floats (PY)."""
    streams = [sorted(s) for s in streams]
    longest = max(len(s) for s in streams)
    state = list(VIEW.empty(len(streams)).T)
    for r in range(longest):
        for clock in ("tx", "label"):
            rows = [
                i for i, s in enumerate(streams) if r < len(s) and s[r][2] == (clock == "label")
            ]
            if not rows:
                continue
            idx = np.array(rows)
            sub = [col[idx] for col in state]
            t = np.array([streams[i][r][0] for i in rows])
            amount = np.array([streams[i][r][1] for i in rows])
            new = VIEW.update(sub, clock, t, {"amount": amount}, NP)
            for col, upd in zip(state, new):
                col[idx] = upd
    t_all = np.full(len(streams), t_read)
    arrays, missing, stale = VIEW.read(state, t_all, NP)
    for i, s in enumerate(streams):
        floats, m, st_ = VIEW.read(fold(s), t_read, PY)
        np.testing.assert_allclose([a[i] for a in arrays], floats, rtol=1e-12, atol=1e-300)
        assert bool(missing[i]) == m and bool(stale[i]) == st_


def test_out_of_order_event_is_folded_exactly() -> None:
    """An event older than the state's clock adds its decayed weight without moving the clock."""
    s = VIEW.update(VIEW.empty_row(), "tx", 7200.0, {"amount": 1.0}, PY)
    s = VIEW.update(s, "tx", 3600.0, {"amount": 1.0}, PY)
    assert s[0] == 7200.0
    values, _, _ = VIEW.read(s, 7200.0, PY)
    np.testing.assert_allclose(values[2], 1.0 + np.exp(-1.0))


def test_state_older_than_ttl_reads_empty_and_restarts() -> None:
    """Past the ttl, state reads as no history, is flagged stale, and an update starts afresh."""
    s = VIEW.update(VIEW.empty_row(), "tx", 0.0, {"amount": 50.0}, PY)
    later = 31 * 86400.0
    values, missing, stale = VIEW.read(s, later, PY)
    assert stale and not missing
    assert np.isnan(values[:2]).all() and values[2:] == [0.0, 0.0, 0.0]
    assert not VIEW.read(s, 29 * 86400.0, PY)[2]
    s2 = VIEW.update(s, "tx", later, {"amount": 5.0}, PY)
    np.testing.assert_allclose(VIEW.read(s2, later, PY)[0][2:], [1.0, 5.0, 0.0])


def test_empty_state_is_missing() -> None:
    """A never-seen entity is flagged missing; one with an event (even a label) is not."""
    assert VIEW.read(VIEW.empty_row(), 5.0, PY)[1]
    s = VIEW.update(VIEW.empty_row(), "label", 1.0, {}, PY)
    assert not VIEW.read(s, 5.0, PY)[1]


def _same(a: list[float], b: list[float]) -> bool:
    """Equal floats, bit for bit (NaN equal to NaN)."""
    return [np.float64(x).tobytes() for x in a] == [np.float64(x).tobytes() for x in b]


@settings(max_examples=150, deadline=None)
@given(events, st.floats(-5 * 86400, 40 * 86400), st.booleans())
def test_read_floats_is_read_on_floats_bit_for_bit(
    evs: list[tuple[float, float, bool]], offset: float, only_labels: bool
) -> None:
    """The scoring path's ``read_floats`` gives exactly ``read(..., PY)``: values to the bit,
    missing and stale, for reads after, before (a late event) and long after the state (stale),
    and on an empty state or one with a label clock only."""
    evs = sorted(evs)
    state = fold([(t, a, True) for t, a, _ in evs] if only_labels else evs)
    for s in (state, VIEW.empty_row()):
        t = evs[-1][0] + offset
        got, want = VIEW.read_floats(s, t), VIEW.read(s, t, PY)
        assert _same(got[0], want[0]) and got[1:] == want[1:]
