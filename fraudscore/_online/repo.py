"""The online store's life from a Feast repo: apply, materialize, teardown.

Feast does the work (``feast apply``, ``feast materialize``, ``feast teardown``); each step then
keeps what the scorer's sources read current: SQLite's read indexes and the store descriptor
that lets a scorer open the repo without importing Feast (``layout``).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from pathlib import Path

from fraudscore._errors import FeatureStoreError
from fraudscore._feast import DATA_DIR, _quiet, feast_errors, open_store, repo_objects
from fraudscore._online.layout import write_descriptor
from fraudscore._online.sqlite import add_read_indexes

__all__ = ["apply_repo", "materialize_repo", "teardown_repo"]


def apply_repo(repo: str | Path) -> list[str]:
    """``feast apply`` from Python: register every object defined in the repo. Returns the views."""
    from feast import FeatureView

    store = open_store(repo)
    with feast_errors("feast apply"), _quiet():
        objects = repo_objects(repo)
        store.apply(objects)
    add_read_indexes(store)
    write_descriptor(store)  # lets scorers open this repo without importing Feast
    return sorted(o.name for o in objects if isinstance(o, FeatureView))


def teardown_repo(repo: str | Path) -> None:
    """``feast teardown``: delete the repo's online store (its tables or keys) and its registry,
    so that a following apply and materialize start from nothing. Feast skips a write whose
    state is not newer than the stored one: a store that lost some state and then recorded more
    must be emptied before it is rebuilt."""
    store = open_store(repo)
    with feast_errors("feast teardown"), _quiet():
        store.teardown()


def materialize_repo(
    repo: str | Path, start: datetime, end: datetime, views: Sequence[str] | None = None
) -> None:
    """``feast materialize start end``: load the latest state per entity into the online store.

    ``views`` limits it to those feature views (default: every view whose source exists).
    """
    store = open_store(repo)
    if views is None:
        views = [
            fv.name
            for fv in store.list_feature_views()
            if (Path(repo) / DATA_DIR / f"{fv.name}.parquet").exists()
        ]
    if not views:
        raise FeatureStoreError(
            f"no parquet sources in {str(Path(repo) / DATA_DIR)!r}; build features first "
            "(`fraudscore apply --data ...`)"
        )
    with feast_errors("feast materialize"), _quiet():
        store.materialize(start_date=start, end_date=end, feature_views=list(views))
    write_descriptor(store)  # materialize rewrites the registry: keep the descriptor current
