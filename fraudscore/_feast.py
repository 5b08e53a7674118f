"""The Feast side: object definitions, offline parquet sources, the repo and its errors.

``feature_repo/definitions.py`` builds its Feast objects with :func:`entity`, :func:`state_view`
and :func:`feature_service`, so the Feast schema is the state schema of ``_state.StateView``.
Feast errors are mapped to :class:`FeatureStoreError` here, at the boundary.
"""

from __future__ import annotations

import contextlib
import io
import logging
import shutil
from collections.abc import Iterable, Iterator, Mapping, Sequence
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from fraudscore._errors import ConfigError, FeatureStoreError
from fraudscore._state import StateView

if TYPE_CHECKING:
    import pandas as pd
    from feast import Entity, FeatureService, FeatureStore, FeatureView

    from fraudscore._kinds.base import EventKind

__all__ = [
    "entity",
    "feast_objects",
    "feature_service",
    "open_store",
    "state_view",
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


def feast_objects(kinds: Iterable[EventKind] | None = None) -> dict[str, Any]:
    """Every Feast object of ``kinds`` (default: every registered kind), by name: an entity per
    join key, a feature view per state view, a feature service per kind. A feature repo's
    definitions file puts them in its module namespace, where ``feast apply`` finds them::

        globals().update(fraudscore.feast_objects())
    """
    if kinds is None:
        from fraudscore._kinds import KINDS

        kinds = KINDS.values()
    out: dict[str, Any] = {}
    entities: dict[str, Entity] = {}
    made: dict[str, StateView] = {}
    for kind in kinds:
        views = []
        for view in kind.views:  # a view two kinds share (an extension's base) is made once
            for key in view.keys:
                if key not in entities:
                    name, description = kind.entities[key]
                    if name in out:  # Feast knows an entity by its name: one join key each
                        raise ConfigError(
                            f"entities[{key!r}]", name, "an entity name no other join key has"
                        )
                    entities[key] = out[name] = entity(name, key, description)
            if view.name not in out:
                out[view.name] = state_view(view, [entities[k] for k in view.keys])
                made[view.name] = view
            elif made.get(view.name) != view:
                raise ConfigError(
                    "views", view.name, "one definition per view name across the kinds"
                )
            views.append(out[view.name])
        out[kind.feature_service] = feature_service(kind.feature_service, views)
    return out


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


def state_as_of(repo: str | Path) -> datetime | None:
    """The end of the latest ``feast materialize`` of any view: the online store's state is as of
    then (plus whatever services recorded since). None when nothing was materialized."""
    store = open_store(repo)
    with feast_errors("reading the registry"):
        ends = [end for fv in store.list_feature_views() for _, end in fv.materialization_intervals]
    return max(ends) if ends else None
