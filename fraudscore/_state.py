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

__all__ = ["Accumulator", "StateView"]

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

    def is_missing(self, state: Array) -> npt.NDArray[np.bool_]:
        """True where the state has never seen an event."""
        return np.asarray(np.isnan(state[:, : len(self.clocks)]).all(axis=1))

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

    def read(self, state: Array, t: Array) -> tuple[Array, Array]:
        """Accumulators decayed to ``t`` and the clocks, for states read at time ``t``.

        Stale states read as empty. A clock later than ``t`` (an out-of-order read) is not
        extrapolated: the value is the one at the clock.
        """
        state = self._fresh(state, t)
        nclk = len(self.clocks)
        clocks = state[:, :nclk]
        age = np.fmax(t[:, None] - clocks[:, self._acc_clock], 0.0)  # NaN clock -> 0
        return state[:, nclk:] * np.exp(-age * self._inv_tau), clocks

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
