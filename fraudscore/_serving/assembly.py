"""Feature assembly: an event's columns and its entities' state, read before it, into the
model's features, with what was missing, stale or late; one event on floats, many on arrays
(the offline fold's execution of the same feature code)."""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import Any

import numpy as np

from fraudscore._errors import EventValidationError, FeatureStoreError
from fraudscore._kinds import EventKind
from fraudscore._model.runtime import OnnxModel, scores_of
from fraudscore._online import FeatureSource
from fraudscore._state import ABSENT, NP, PY

__all__ = ["READ_CHUNK", "Assembly", "Flags"]

#: Events whose states one bulk read fetches.
READ_CHUNK = 8192
#: (missing views, stale views, late) of one scored event.
Flags = tuple[tuple[str, ...], tuple[str, ...], bool]


class Assembly:
    """The features of a kind's events from a source's state: what is decided once (views,
    names, clock positions) is, here."""

    def __init__(self, kind: EventKind, source: FeatureSource) -> None:
        self.kind = kind
        self.source = source
        self.views = kind.views
        self.names = [v.name for v in self.views]
        #: Positions of each view's clocks in its state.
        self.clocks = [tuple(range(len(v.clocks))) for v in self.views]
        self.keys = kind.keys

    def check_batch(self, events: object) -> None:
        if not isinstance(events, list | tuple):
            raise EventValidationError(
                "events", type(events).__name__, f"a list of {self.kind.event_type.__name__}"
            )
        for event in events:
            self.check(event)

    def check(self, event: object) -> None:
        if type(event) is not self.kind.event_type:
            raise EventValidationError(
                "event", type(event).__name__, f"a {self.kind.event_type.__name__}"
            )

    def row(
        self, event: Any, states: Sequence[Sequence[float]], keys: Sequence[tuple[str, ...]]
    ) -> tuple[list[float], tuple[str, ...], tuple[str, ...], bool]:
        """(features, missing views, stale views, late) of one event, on floats (``PY``). A
        view whose entity the event lacks (``ABSENT`` in its key) reads empty and is not
        listed as missing: there is no history to miss."""
        cols = self.kind.values(event)
        t = cols["t"]
        reads = {}
        missing: tuple[str, ...] = ()
        stale: tuple[str, ...] = ()
        late = False
        for view, state, clocks, key in zip(self.views, states, self.clocks, keys, strict=True):
            values, is_missing, is_stale = view.read_floats(state, t)
            reads[view.name] = values
            if is_missing:
                if ABSENT not in key:
                    missing += (view.name,)
            elif is_stale:
                stale += (view.name,)
            elif not late:
                for c in clocks:
                    if state[c] > t:
                        late = True
        return self.kind.compute(cols, reads, PY), missing, stale, late

    def batch(
        self,
        model: OnnxModel,
        events: Sequence[Any],
        degrade: bool,
        timing: list[int] | None = None,
    ) -> tuple[np.ndarray, list[Flags], np.ndarray, np.ndarray, np.ndarray]:
        """(features, (missing, stale) per event, degraded, contributions, scores) of many
        checked events: states read in bulk, features on arrays, one ONNX batch. ``timing``,
        when given, gets the ns spent in the store and in the model added to its two items."""
        n = len(events)
        x = np.empty((n, len(self.kind.features)))
        flags: list[Flags] = []
        degraded = np.zeros(n, dtype=bool)
        for lo in range(0, n, READ_CHUNK):
            chunk = events[lo : lo + READ_CHUNK]
            keys = [self.keys(e) for e in chunk]
            t0 = time.perf_counter_ns() if timing is not None else 0
            try:
                arrays = self.source.read([list(k) for k in zip(*keys, strict=True)])
            except FeatureStoreError:
                if not degrade:
                    raise
                arrays = [v.empty(len(chunk)) for v in self.views]
                degraded[lo : lo + len(chunk)] = True
            if timing is not None:
                timing[0] += time.perf_counter_ns() - t0
            x[lo : lo + len(chunk)] = self.rows(chunk, arrays, flags, keys)
        t0 = time.perf_counter_ns() if timing is not None else 0
        contrib = model.contributions(x)
        if timing is not None:
            timing[1] += time.perf_counter_ns() - t0
        return x, flags, degraded, contrib, scores_of(contrib)

    def rows(
        self,
        events: Sequence[Any],
        arrays: Sequence[np.ndarray],
        flags: list[Flags],
        keys: Sequence[Sequence[tuple[str, ...]]],
    ) -> np.ndarray:
        """Features of many events on arrays (``NP``); appends each event's (missing, stale),
        absent entities left out of missing as in :meth:`row`."""
        values = [self.kind.values(e) for e in events]
        cols = {name: np.array([v[name] for v in values]) for name in values[0]}
        x, missing, stale, late = self.arrays(cols, arrays)
        missing &= ~np.array([[ABSENT in k for k in ks] for ks in keys], dtype=bool)
        names = self.names
        cache: dict[bytes, Flags] = {}
        for m_row, s_row, is_late in zip(missing, stale, late, strict=True):
            key = m_row.tobytes() + s_row.tobytes() + is_late.tobytes()
            triple = cache.get(key)
            if triple is None:
                triple = cache[key] = (
                    tuple(n for n, f in zip(names, m_row, strict=True) if f),
                    tuple(n for n, f in zip(names, s_row, strict=True) if f),
                    bool(is_late),
                )
            flags.append(triple)
        return x

    def arrays(
        self, cols: dict[str, np.ndarray], arrays: Sequence[np.ndarray]
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """(features, missing, stale, late) of many events from their columns and states."""
        t = cols["t"]
        reads = {}
        missing = np.zeros((len(t), len(self.views)), dtype=bool)
        stale = np.zeros_like(missing)
        late = np.zeros(len(t), dtype=bool)
        for vi, (view, state) in enumerate(zip(self.views, arrays, strict=True)):
            reads[view.name], m, s = view.read(list(state.T), t, NP)
            missing[:, vi], stale[:, vi] = m, s & ~m
            fresh = ~(m | s)
            late |= fresh & (state[:, list(self.clocks[vi])] > t[:, None]).any(axis=1)
        x = np.column_stack(
            [np.broadcast_to(f, t.shape) for f in self.kind.compute(cols, reads, NP)]
        )
        return x, missing, stale, late
