"""``FeastSource``: state read through ``FeatureStore.get_online_features``.

The reference every fast source is tested against, and the slow path a user would write.
Read-only.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from fraudscore._errors import FeatureStoreError
from fraudscore._feast import feast_errors
from fraudscore._online.base import NAN, Key, Step
from fraudscore._online.layout import from_store
from fraudscore._state import Array, StateView

if TYPE_CHECKING:
    from feast import FeatureStore

__all__ = ["FeastSource"]


class FeastSource:
    """Reads state through ``FeatureStore.get_online_features`` (reference; read-only)."""

    def __init__(self, store: FeatureStore, views: Sequence[StateView]) -> None:
        self.store = store
        self.views = tuple(views)
        from_store(store).check(self.views)  # the same check as the fast sources

    def read(self, keys: Sequence[Sequence[Key]]) -> list[Array]:
        out = []
        for view, ks in zip(self.views, keys, strict=True):
            if not ks:
                out.append(view.empty(0))
                continue
            refs = [f"{view.name}:{f}" for f in view.fields]
            rows = [dict(zip(view.keys, k, strict=True)) for k in ks]
            with feast_errors("get_online_features"):
                got = self.store.get_online_features(features=refs, entity_rows=rows).to_dict()
            values = [got[f] for f in view.fields]
            state = view.empty(len(ks))
            for row in range(len(ks)):
                if any(col[row] is not None for col in values):  # else: unknown entity, empty
                    state[row] = [NAN if col[row] is None else float(col[row]) for col in values]
            out.append(state)
        return out

    def read_one(self, keys: Sequence[Key]) -> list[list[float]]:
        return [s[0].tolist() for s in self.read([[k] for k in keys])]

    def modify(self, keys: Sequence[Sequence[Key]], step: Step) -> None:
        raise FeatureStoreError("FeastSource is read-only; use open_source() to record events")
