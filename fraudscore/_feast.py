"""The Feast side: object definitions, offline parquet sources, apply and materialize.

``feature_repo/definitions.py`` builds its Feast objects with :func:`entity`, :func:`state_view`
and :func:`feature_service`, so the Feast schema is the state schema of ``_state.StateView``.
Feast errors are mapped to :class:`FeatureStoreError` here, at the boundary.
"""

from __future__ import annotations

import contextlib
import io
import logging
import shutil
from collections.abc import Iterator, Mapping, Sequence
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from fraudscore._errors import FeatureStoreError
from fraudscore._state import StateView

if TYPE_CHECKING:
    import pandas as pd
    from feast import Entity, FeatureService, FeatureStore, FeatureView

__all__ = [
    "apply_repo",
    "entity",
    "feature_service",
    "materialize_repo",
    "open_store",
    "state_view",
    "teardown_repo",
    "write_sources",
]

#: Every parquet source lives here, relative to the feature repo.
DATA_DIR = "data"


def source_path(view: StateView) -> str:
    return f"{DATA_DIR}/{view.name}.parquet"


def entity(name: str, join_key: str, description: str = "") -> Entity:
    from feast import Entity, ValueType

    return Entity(
        name=name, join_keys=[join_key], value_type=ValueType.STRING, description=description
    )


def state_view(view: StateView, entities: Sequence[Entity]) -> FeatureView:
    """The Feast feature view holding ``view``'s state, fed by its parquet ``FileSource``."""
    from feast import FeatureView, Field, FileSource
    from feast.types import Float64

    source = FileSource(
        name=f"{view.name}_source",
        path=source_path(view),
        timestamp_field="event_timestamp",
        created_timestamp_column="created",
    )
    return FeatureView(
        name=view.name,
        entities=list(entities),
        ttl=view.ttl,
        schema=[Field(name=f, dtype=Float64) for f in view.fields],
        source=source,
        online=True,
        description=view.description,
    )


def feature_service(name: str, views: Sequence[FeatureView]) -> FeatureService:
    from feast import FeatureService

    return FeatureService(name=name, features=list(views))


@contextlib.contextmanager
def feast_errors(what: str) -> Iterator[None]:
    """Map anything Feast (or its stores) raises into :class:`FeatureStoreError`."""
    try:
        yield
    except FeatureStoreError:
        raise
    except Exception as exc:
        raise FeatureStoreError(f"{what} failed: {type(exc).__name__}: {exc}") from exc


def open_store(repo: str | Path) -> FeatureStore:
    """A ``FeatureStore`` for the repo at ``repo``; a clear error if it is not one."""
    path = Path(repo)
    if not (path / "feature_store.yaml").is_file():
        raise FeatureStoreError(
            f"{str(path)!r} is not a Feast repo: no feature_store.yaml there. "
            "Pass the feature_repo/ directory."
        )
    from feast import FeatureStore

    with feast_errors(f"opening the Feast repo {str(path)!r}"):
        return FeatureStore(repo_path=str(path.resolve()))


def write_sources(repo: str | Path, history: Mapping[str, pd.DataFrame | Path]) -> dict[str, Path]:
    """Write each view's state history to its parquet source in the repo.

    A history is a frame (written as one file) or a directory of parquet parts (copied as a
    directory, which Feast's file source reads as one dataset).
    """
    out: dict[str, Path] = {}
    base = Path(repo) / DATA_DIR
    base.mkdir(parents=True, exist_ok=True)
    for name, frame in history.items():
        path = base / f"{name}.parquet"
        if path.is_dir():
            shutil.rmtree(path)
        elif path.exists():
            path.unlink()
        if isinstance(frame, Path):
            shutil.copytree(frame, path)
        else:
            frame.to_parquet(path, index=False)
        out[name] = path
    return out


@contextlib.contextmanager
def _quiet() -> Iterator[None]:
    """Feast prints progress to stdout and logs at INFO; keep library calls silent."""
    logger = logging.getLogger("feast")
    level = logger.level
    logger.setLevel(logging.WARNING)
    try:
        with contextlib.redirect_stdout(io.StringIO()):
            yield
    finally:
        logger.setLevel(level)


def repo_objects(repo: str | Path) -> list[Any]:
    """The Feast objects defined at module level in the repo's top-level ``.py`` files.

    Loaded by path (like ``feast apply`` does), without changing the working directory.
    """
    import importlib.util

    from feast import Entity, FeatureService, FeatureView

    found: dict[int, Any] = {}
    for i, file in enumerate(sorted(Path(repo).glob("*.py"))):
        spec = importlib.util.spec_from_file_location(f"_fraudscore_feature_repo_{i}", file)
        if spec is None or spec.loader is None:
            continue
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        for value in vars(module).values():
            if isinstance(value, Entity | FeatureView | FeatureService):
                found[id(value)] = value
    return list(found.values())


def apply_repo(repo: str | Path) -> list[str]:
    """``feast apply`` from Python: register every object defined in the repo. Returns the views."""
    from feast import FeatureView

    from fraudscore._online.layout import write_descriptor
    from fraudscore._online.sqlite import add_read_indexes

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
    from fraudscore._online.layout import write_descriptor

    write_descriptor(store)  # materialize rewrites the registry: keep the descriptor current


def state_as_of(repo: str | Path) -> datetime | None:
    """The end of the latest ``feast materialize`` of any view: the online store's state is as of
    then (plus whatever services recorded since). None when nothing was materialized."""
    store = open_store(repo)
    with feast_errors("reading the registry"):
        ends = [end for fv in store.list_feature_views() for _, end in fv.materialization_intervals]
    return max(ends) if ends else None
