"""Entity state as time-decayed accumulators: one pure ``update`` and one pure ``read``.

A view's state is a flat float64 vector: one timestamp per *clock* (``tx_ts``, ``label_ts``), then
accumulators. An accumulator belongs to a clock and holds ``sum_j w_j * exp(-(ref - t_j) / tau)``
decayed to that clock's time ``ref``. Updating is O(1) per event, reading decays the value to the
event time, so the state is exact at any moment and never goes stale as time passes.

The functions work on arrays of shape ``(n, width)``: the offline pipeline folds whole streams
through them, the online path calls them with ``n == 1``. One definition, two executions.

Freshness: a state whose newest clock is older than the view's ``ttl`` at the event time is
treated as empty, both when read and before it is updated, offline and online alike.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import timedelta

import numpy as np
import numpy.typing as npt

__all__ = ["Accumulator", "StateLayout", "StateView"]

Array = npt.NDArray[np.float64]


@dataclass(frozen=True, slots=True)
class Accumulator:
    """``name`` sums ``weight`` (an event column, or ``"one"``), decayed with constant ``tau_s``."""

    name: str
    clock: str
    tau_s: float
    weight: str = "one"


@dataclass(frozen=True)
class StateView:
    """One Feast feature view of decayed state, keyed by event columns ``keys``."""

    name: str
    keys: tuple[str, ...]
    clocks: tuple[str, ...]
    accumulators: tuple[Accumulator, ...]
    ttl: timedelta
    description: str = ""
    fields: tuple[str, ...] = field(init=False)
    _ttl_s: float = field(init=False, repr=False)
    _inv_tau: Array = field(init=False, repr=False, compare=False)
    _acc_clock: npt.NDArray[np.intp] = field(init=False, repr=False, compare=False)
    _clock_cols: tuple[npt.NDArray[np.intp], ...] = field(init=False, repr=False, compare=False)
    _weights: tuple[tuple[str, ...], ...] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        clock_fields = tuple(f"{c}_ts" for c in self.clocks)
        setf = object.__setattr__
        setf(self, "fields", clock_fields + tuple(a.name for a in self.accumulators))
        setf(self, "_ttl_s", self.ttl.total_seconds())
        setf(self, "_inv_tau", np.array([1.0 / a.tau_s for a in self.accumulators]))
        setf(
            self,
            "_acc_clock",
            np.array([self.clocks.index(a.clock) for a in self.accumulators], dtype=np.intp),
        )
        nclk = len(self.clocks)
        per_clock = [
            [(nclk + j, a.weight) for j, a in enumerate(self.accumulators) if a.clock == c]
            for c in self.clocks
        ]
        setf(
            self,
            "_clock_cols",
            tuple(np.array([i for i, _ in p], dtype=np.intp) for p in per_clock),
        )
        setf(self, "_weights", tuple(tuple(w for _, w in p) for p in per_clock))

    @property
    def width(self) -> int:
        return len(self.fields)

    def empty(self, n: int = 1) -> Array:
        """``n`` states with no history: clocks NaN, accumulators 0."""
        state = np.zeros((n, self.width))
        state[:, : len(self.clocks)] = np.nan
        return state

    def is_stale(self, state: Array, t: Array) -> npt.NDArray[np.bool_]:
        """True where the newest clock is older than ``ttl`` at time ``t``."""
        newest = np.fmax.reduce(state[:, : len(self.clocks)], axis=1)
        with np.errstate(invalid="ignore"):
            return np.asarray((t - newest) > self._ttl_s)

    def _fresh(self, state: Array, t: Array) -> Array:
        stale = self.is_stale(state, t)
        if stale.any():
            state = state.copy()
            state[stale] = self.empty(1)[0]
        return state

    def update(self, state: Array, clock: str, t: Array, columns: Mapping[str, Array]) -> Array:
        """The state after one event of ``clock`` at ``t`` per row (pure: returns a new array).

        Each accumulator of that clock adds its weight column; the clock moves to ``max(ref, t)``
        so that an out-of-order event is folded in exactly.
        """
        state = self._fresh(state, t).copy()
        ci = self.clocks.index(clock)
        cols = self._clock_cols[ci]
        inv = self._inv_tau[cols - len(self.clocks)]
        ref = state[:, ci]
        new_ref = np.fmax(ref, t)
        decay = np.exp(np.nan_to_num(ref - new_ref)[:, None] * inv)
        gain = np.exp((t - new_ref)[:, None] * inv)
        weights = np.stack(
            [
                np.broadcast_to(columns[w] if w != "one" else 1.0, t.shape)
                for w in self._weights[ci]
            ],
            axis=1,
        )
        state[:, cols] = state[:, cols] * decay + weights * gain
        state[:, ci] = new_ref
        return state


class StateLayout:
    """Several views' states side by side in one row, read with one set of array operations.

    ``read`` is the only read of state, offline (``n`` = every transaction) and online (``n`` = 1
    event): the per-call cost online is a dozen numpy operations whatever the number of views.
    """

    def __init__(self, views: tuple[StateView, ...]) -> None:
        self.views = views
        widths = [v.width for v in views]
        self.offsets = np.r_[0, np.cumsum(widths)].astype(np.intp)
        self.width = int(self.offsets[-1])
        self._col_view = np.repeat(np.arange(len(views)), widths)
        clock_cols: list[int] = []
        acc_cols: list[int] = []
        acc_clock: list[int] = []
        inv_tau: list[float] = []
        starts: list[int] = []
        self.clock_slices, self.acc_slices = [], []
        for v, off in zip(views, self.offsets[:-1].tolist(), strict=True):
            nclk = len(v.clocks)
            starts.append(len(clock_cols))
            self.clock_slices.append(slice(len(clock_cols), len(clock_cols) + nclk))
            self.acc_slices.append(slice(len(acc_cols), len(acc_cols) + len(v.accumulators)))
            clock_cols += range(off, off + nclk)
            acc_cols += range(off + nclk, off + v.width)
            acc_clock += [off + int(c) for c in v._acc_clock]
            inv_tau += v._inv_tau.tolist()
        self._clock_cols = np.array(clock_cols, dtype=np.intp)
        self._acc_cols = np.array(acc_cols, dtype=np.intp)
        self._acc_clock = np.array(acc_clock, dtype=np.intp)
        self._neg_inv_tau = -np.array(inv_tau)
        self._starts = np.array(starts, dtype=np.intp)
        self._ttl = np.array([v._ttl_s for v in views])
        self._empty = np.concatenate([v.empty(1) for v in views], axis=1)

    def read(
        self, states: Array, t: Array
    ) -> tuple[Array, Array, npt.NDArray[np.bool_], npt.NDArray[np.bool_]]:
        """Decayed accumulators, clocks, and per-view missing / stale flags, at times ``t``.

        A view whose state is older than its ttl reads as empty. A clock later than ``t`` (an
        out-of-order read) is not extrapolated: the value is the one at the clock.
        """
        clocks = states[:, self._clock_cols]
        newest = np.fmax.reduceat(clocks, self._starts, axis=1)
        missing = np.isnan(newest)
        stale = (t[:, None] - newest) > self._ttl  # NaN (missing) compares False
        if stale.any():
            states = np.where(stale[:, self._col_view], self._empty, states)
            clocks = states[:, self._clock_cols]
        age = np.fmax(t[:, None] - states[:, self._acc_clock], 0.0)  # NaN clock -> 0
        acc = states[:, self._acc_cols] * np.exp(age * self._neg_inv_tau)
        return acc, clocks, missing, stale

    def split(self, acc: Array, clocks: Array) -> dict[str, tuple[Array, Array]]:
        """Per view name: its (accumulators, clocks) columns of a ``read``."""
        return {
            v.name: (acc[:, a], clocks[:, c])
            for v, a, c in zip(self.views, self.acc_slices, self.clock_slices, strict=True)
        }
