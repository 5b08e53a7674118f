"""A kind with features of one's own: :func:`extend_kind`, and :func:`register_kind` so that
every part of the library (bundles, scorers, the Feast repo) finds it by name.

An extension adds state views (accumulators and latest values over the base kind's entities,
clocks and event columns) and features that read them, with their reason codes. The base kind's
features come first, unchanged; the new ones follow, in the order given. Everything else (the
event type and its validation, the decisions, the evaluation protocol, the simulator) is the
base kind's. Offline and online run the same feature functions, as for a built-in kind.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from fraudscore._errors import ConfigError
from fraudscore._kinds.base import EventKind
from fraudscore._state import StateView

__all__ = ["FeatureFn", "extend_kind"]

#: A feature: ``fn(columns, reads, xp)`` -> one value per event. ``columns`` are the event's
#: columns (``t``, ``amount``, ...), ``reads[view_name][view.index[field]]`` the state read
#: before the event, ``xp`` the operations (arrays offline, floats online: ``xp.div``,
#: ``xp.at_least``, ``xp.where``, ...). Only state from before the event reaches it.
FeatureFn = Callable[[Mapping[str, Any], Mapping[str, Sequence[Any]], Any], Any]

_NAME = re.compile(r"[a-z][a-z0-9_]*\Z")


def extend_kind(
    base: EventKind,
    name: str,
    *,
    views: Sequence[StateView] = (),
    features: Mapping[str, FeatureFn],
    reasons: Mapping[str, Mapping[str, Any]] | None = None,
    feature_service: str | None = None,
) -> EventKind:
    """``base`` with ``views`` of state and ``features`` that read them, named ``name``.

    ``views`` key on the base kind's entities (their ``keys`` are join keys of its views) and
    move on its clocks. ``features`` map each new feature's name to its function
    (:data:`FeatureFn`). ``reasons`` are reason codes for them, as the base catalogue writes
    them: ``{"CODE": {"features": [...], "template": "...", "fallback": "..."}}``; a feature
    no code covers still counts in the score, and its contribution goes to no reason.
    ``feature_service`` (default ``<name>_model``) names the Feast feature service.
    """
    if not isinstance(base, EventKind):
        raise ConfigError("base", base, "an EventKind (fraudscore.get_kind('transaction'), ...)")
    if not isinstance(name, str) or not _NAME.match(name) or name == base.name:
        raise ConfigError(
            "name", name, f"a new lowercase name for the extended kind (not {base.name!r})"
        )
    views = tuple(views)
    known_keys = {k for v in base.views for k in v.keys}
    view_names = {v.name for v in base.views}
    for view in views:
        if not isinstance(view, StateView):
            raise ConfigError("views", view, "StateView objects")
        if view.name in view_names:
            raise ConfigError("views", view.name, f"a view name not in {sorted(view_names)}")
        view_names.add(view.name)
        unknown = [k for k in view.keys if k not in known_keys]
        if unknown:
            raise ConfigError(
                f"views[{view.name!r}].keys", unknown, f"join keys of {sorted(known_keys)}"
            )
        clocks = sorted({c for v in base.views for c in v.clocks})
        if not set(view.clocks) <= set(clocks):
            raise ConfigError(
                f"views[{view.name!r}].clocks",
                list(view.clocks),
                f"clocks of {base.name}s {clocks}",
            )
    if not isinstance(features, Mapping) or not features:
        raise ConfigError("features", features, "a mapping of new feature names to functions")
    for feature, fn in features.items():
        if not isinstance(feature, str) or not _NAME.match(feature) or feature in base.features:
            raise ConfigError("features", feature, "a new lowercase feature name")
        if not callable(fn):
            raise ConfigError(f"features[{feature!r}]", fn, "a function (columns, reads, xp)")
    codes = dict(reasons or {})
    clash = sorted(set(codes) & set(base.catalogue["codes"]))
    if clash:
        raise ConfigError("reasons", clash, "reason codes the base kind does not have")
    for code, entry in codes.items():
        covered = entry.get("features") if isinstance(entry, Mapping) else None
        if not isinstance(covered, list) or not set(covered) <= set(features):
            raise ConfigError(
                f"reasons[{code!r}].features",
                covered,
                f"a list of the new features {list(features)}",
            )
    names = tuple(features)
    functions = tuple(features.values())
    base_compute, base_keys = base.compute, base.keys
    # Each new view's key, from the base views' keys of the same event.
    picks = [
        [_position(base.views, key) for key in view.keys] for view in views
    ]  # (base view index, position in its key) per key

    def compute(cols: Any, reads: Any, xp: Any) -> list[Any]:
        return [*base_compute(cols, reads, xp), *(fn(cols, reads, xp) for fn in functions)]

    def keys(event: Any) -> list[tuple[str, ...]]:
        own = base_keys(event)
        return [*own, *(tuple(own[v][i] for v, i in pick) for pick in picks)]

    catalogue = {
        **base.catalogue,
        "version": f"{base.catalogue['version']}+{name}",
        "codes": {**base.catalogue["codes"], **codes},
    }
    return dataclasses.replace(
        base,
        name=name,
        views=(*base.views, *views),
        features=(*base.features, *names),
        feature_service=feature_service or f"{name}_model",
        compute=compute,
        keys=keys,
        catalogue=catalogue,
    )


def _position(views: Sequence[StateView], key: str) -> tuple[int, int]:
    for v, view in enumerate(views):
        if key in view.keys:
            return v, view.keys.index(key)
    raise AssertionError(key)  # checked by extend_kind
