"""An in-memory FeatureSource: the test double that fits the scorer's store slot.

It lets property tests run the real online path (``Scorer.score`` and ``record``) on hundreds of
random streams without building a Feast store for each.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from fraudscore._online import Key, Step
from fraudscore._state import Array, StateView


class MemorySource:
    def __init__(self, views: Sequence[StateView]) -> None:
        self.views = tuple(views)
        self.data: list[dict[Key, list[float]]] = [{} for _ in self.views]

    def read_one(self, keys: Sequence[Key]) -> list[list[float]]:
        return [
            list(self.data[i].get(k) or v.empty_row())
            for i, (v, k) in enumerate(zip(self.views, keys))
        ]

    def read(self, keys: Sequence[Sequence[Key]]) -> list[Array]:
        return [
            np.array([self.data[i].get(k) or v.empty_row() for k in ks], dtype=float).reshape(
                len(ks), v.width
            )
            for i, (v, ks) in enumerate(zip(self.views, keys))
        ]

    def modify(self, keys: Sequence[Sequence[Key]], step: Step) -> None:
        for i, ks in enumerate(keys):
            if ks:
                states = {k: list(self.data[i].get(k) or self.views[i].empty_row()) for k in ks}
                self.data[i].update(step(i, states))
