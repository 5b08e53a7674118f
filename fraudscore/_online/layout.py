"""What a fast source needs to know about a Feast repo, with Feast or without it.

A :class:`StoreLayout` holds the project, the entity-key serialization version, the online
store's settings and, per feature view, its SQLite table, the name Feast stores it under in
Redis, its fields in Feast's order with their Redis hash-field names, its join keys and its ttl.

There are two ways to get one:

``from_store(store)``
    From Feast's own objects (this imports Feast, about 6 s): the reference.
``from_descriptor(repo)``
    From the serving descriptor that ``fraudscore apply`` and ``fraudscore materialize`` write
    beside the registry (``fraudscore_serving.json``), and from ``feature_store.yaml`` for the
    store's settings, with no Feast import. Only while the descriptor's fingerprint, the sha256
    of the registry file, matches the registry: after a plain ``feast apply`` or ``feast
    materialize`` it does not, and ``open_source`` falls back to ``from_store``, correct but
    slow to open, until ``fraudscore apply`` or ``materialize`` writes the descriptor again.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from fraudscore._errors import FeatureStoreError
from fraudscore._state import StateView

if TYPE_CHECKING:
    from feast import FeatureStore

__all__ = ["DESCRIPTOR", "StoreLayout", "ViewLayout", "from_descriptor", "from_store"]

DESCRIPTOR = "fraudscore_serving.json"
_SCHEMA = 1
#: The online-store settings a source uses (the rest of Feast's config is not needed to serve).
_SETTINGS = (
    "type",
    "path",
    "redis_type",
    "connection_string",
    "sentinel_master",
    "key_ttl_seconds",
)


@dataclass(frozen=True)
class ViewLayout:
    name: str
    #: The view's SQLite table (Feast's ``compute_table_id``).
    table: str
    #: The name Feast stores the view under in Redis (versioned when versioning is on).
    stored_name: str
    fields: tuple[str, ...]
    join_keys: tuple[str, ...]
    ttl_s: float
    #: Per field, the hex of Feast's Redis hash-field name (murmur3 of ``stored_name:field``).
    redis_fields: tuple[str, ...]


@dataclass(frozen=True)
class StoreLayout:
    repo_path: Path
    project: str
    key_version: int
    online: dict[str, Any]
    views: dict[str, ViewLayout]

    @property
    def store_type(self) -> str:
        return str(self.online.get("type", ""))

    def sqlite_path(self) -> Path:
        path = Path(str(self.online.get("path", "")))
        return path if path.is_absolute() else self.repo_path / path

    def check(self, views: Sequence[StateView]) -> list[ViewLayout]:
        """The layout of each of ``views``; a clear error for a view missing or different."""
        if self.key_version != 3:
            raise FeatureStoreError(
                f"entity_key_serialization_version must be 3, not {self.key_version}"
            )
        out = []
        for view in views:
            got = self.views.get(view.name)
            if got is None:
                raise FeatureStoreError(
                    f"feature view {view.name!r} is not registered in the Feast repo "
                    f"{str(self.repo_path)!r}; run `fraudscore apply` first"
                )
            if set(got.fields) != set(view.fields) or sorted(got.join_keys) != sorted(view.keys):
                raise FeatureStoreError(
                    f"feature view {view.name!r} has fields {sorted(got.fields)} keyed by "
                    f"{sorted(got.join_keys)}; this library expects {sorted(view.fields)} keyed "
                    f"by {sorted(view.keys)}. Re-apply the repo with this version of fraudscore."
                )
            out.append(got)
        return out


def from_store(store: FeatureStore) -> StoreLayout:
    """The layout of every feature view of ``store``, from Feast's objects."""
    from feast.infra.online_stores.helpers import _mmh3, compute_table_id, compute_versioned_name

    from fraudscore._feast import feast_errors

    config = store.config
    versioning = bool(getattr(config.registry, "enable_online_feature_view_versioning", False))
    views = {}
    with feast_errors("reading the Feast registry"):
        for fv in store.list_feature_views():
            stored = compute_versioned_name(fv, versioning)
            fields = tuple(f.name for f in fv.features)
            views[fv.name] = ViewLayout(
                name=fv.name,
                table=compute_table_id(config.project, fv, versioning),
                stored_name=stored,
                fields=fields,
                join_keys=tuple(fv.join_keys),
                ttl_s=fv.ttl.total_seconds() if fv.ttl else 0.0,
                redis_fields=tuple(_mmh3(f"{stored}:{f}").hex() for f in fields),
            )
    online = {}
    for name in _SETTINGS:
        value = getattr(config.online_store, name, None)
        if value is not None:
            online[name] = (
                str(getattr(value, "value", value)) if name != "key_ttl_seconds" else value
            )
    return StoreLayout(
        repo_path=Path(str(config.repo_path)),
        project=config.project,
        key_version=int(config.entity_key_serialization_version),
        online=online,
        views=views,
    )


def _registry_file(repo: Path, registry: Any) -> Path | None:
    """The local registry file named by ``feature_store.yaml``; None for any other registry."""
    if isinstance(registry, dict):
        if registry.get("registry_type", "file") != "file":
            return None
        registry = registry.get("path")
    if not isinstance(registry, str) or "://" in registry:
        return None
    path = Path(registry)
    return path if path.is_absolute() else repo / path


def _fingerprint(registry: Path) -> str:
    return hashlib.sha256(registry.read_bytes()).hexdigest()


def write_descriptor(store: FeatureStore) -> Path | None:
    """Write the serving descriptor beside the store's local registry file (None: the registry
    is not a local file, and scorers will open through Feast)."""
    repo = Path(str(store.config.repo_path))
    registry_config = store.config.registry
    registry = _registry_file(
        repo,
        {
            "registry_type": getattr(registry_config, "registry_type", "file"),
            "path": getattr(registry_config, "path", None),
        },
    )
    if registry is None or not registry.is_file():
        return None
    layout = from_store(store)
    out = registry.parent / DESCRIPTOR
    body = {
        "schema": _SCHEMA,
        "registry_sha256": _fingerprint(registry),
        "project": layout.project,
        "entity_key_serialization_version": layout.key_version,
        "views": {name: asdict(v) for name, v in layout.views.items()},
    }
    tmp = out.with_suffix(".tmp")
    tmp.write_text(json.dumps(body, indent=1, sort_keys=True))
    tmp.replace(out)  # a scorer opening now reads the old file or the new one, never half
    return out


def from_descriptor(repo: str | Path) -> StoreLayout | None:
    """The layout from the serving descriptor and ``feature_store.yaml``, without Feast; None
    when there is no descriptor, it is stale, or the repo is configured in a way it does not
    cover (then open through Feast)."""
    import yaml

    root = Path(repo).resolve()
    try:
        config = yaml.safe_load(os.path.expandvars((root / "feature_store.yaml").read_text()))
    except (OSError, yaml.YAMLError):
        return None
    if not isinstance(config, dict) or not isinstance(config.get("online_store"), dict):
        return None
    registry = _registry_file(root, config.get("registry"))
    if registry is None:
        return None
    try:
        descriptor = json.loads((registry.parent / DESCRIPTOR).read_text())
        if (
            descriptor.get("schema") != _SCHEMA
            or descriptor.get("project") != config.get("project")
            or descriptor.get("registry_sha256") != _fingerprint(registry)
        ):
            return None
        views = {
            name: ViewLayout(
                name=str(v["name"]),
                table=str(v["table"]),
                stored_name=str(v["stored_name"]),
                fields=tuple(v["fields"]),
                join_keys=tuple(v["join_keys"]),
                ttl_s=float(v["ttl_s"]),
                redis_fields=tuple(v["redis_fields"]),
            )
            for name, v in descriptor["views"].items()
        }
    except (OSError, ValueError, KeyError, TypeError):
        return None
    version = config.get(
        "entity_key_serialization_version", descriptor["entity_key_serialization_version"]
    )
    online = {k: v for k, v in config["online_store"].items() if k in _SETTINGS}
    online.setdefault("type", "sqlite")  # Feast's defaults, so both ways give one layout
    if online["type"] == "sqlite":
        online.setdefault("path", "data/online.db")
    elif online["type"] == "redis":
        online.setdefault("redis_type", "redis")
        online.setdefault("connection_string", "localhost:6379")
        online.setdefault("sentinel_master", "mymaster")
    return StoreLayout(
        repo_path=root,
        project=str(config["project"]),
        key_version=int(version),
        online=online,
        views=views,
    )
