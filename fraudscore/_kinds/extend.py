"""A kind with features of one's own: :func:`extend_kind`, and :func:`register_kind` so that
every part of the library (bundles, scorers, the Feast repo) finds it by name.

An extension adds event fields of one's own (:data:`FieldType`: ids that new entities are keyed
on, numbers that features read), state views (accumulators and latest values over the base
kind's entities and the new ones, composite keys included, on the base kind's clocks) and
features that read them, with their reason codes. The base kind's features come first,
unchanged; the new ones follow, in the order given.

With new fields the extension's event type is a subclass of the base's (``kind.event_type``),
validated the same way, whose new fields are optional: an event without one has no such
entity (it reads that view as no history and moves no state in it), its number reads NaN,
and the event column ``has_<field>`` of an id field is 0.0 (1.0 where given), so that a
feature tells "none sent" from "a new one".
Frames carry the fields as columns of the same names, validated like the event. Everything
else (the decisions, the evaluation protocol, the simulator) is the base kind's. Offline and
online run the same feature functions, as for a built-in kind.
"""

from __future__ import annotations

import dataclasses
import math
import re
from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any, Literal

import numpy as np

import fraudscore._frames as frames
from fraudscore._errors import ConfigError, EventValidationError
from fraudscore._events import check_id, is_finite_number
from fraudscore._kinds.base import WARM_UP, EventKind
from fraudscore._state import ABSENT, StateView

if TYPE_CHECKING:
    import pandas as pd

__all__ = ["FeatureFn", "FieldType", "extend_kind"]

#: An event field of one's own: ``"id"`` (a non-empty string: an entity a view may key on, an
#: email or a billing postcode) or ``"number"`` (a finite number, an event column that
#: features read as ``columns[name]``; NaN where not given). Both are optional on the event.
FieldType = Literal["id", "number"]
_FIELD_TYPES = ("id", "number")

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
    fields: Mapping[str, FieldType] | None = None,
    views: Sequence[StateView] = (),
    features: Mapping[str, FeatureFn],
    reasons: Mapping[str, Mapping[str, Any]] | None = None,
    feature_service: str | None = None,
    entities: Mapping[str, tuple[str, str]] | None = None,
) -> EventKind:
    """``base`` with ``views`` of state and ``features`` that read them, named ``name``.

    ``fields`` add optional event fields (:data:`FieldType`), by name. ``views`` key on the
    base kind's entities (join keys of its views) and on the new id fields, alone or together
    (a card and a billing postcode), and move on its clocks (a view keyed on a new field not
    on the ``label`` clock: the base kind's labels do not carry it). ``entities`` name the Feast
    entity of each new key: ``{field: (entity name, description)}`` (default: the field's
    name). ``features`` map each new feature's name to its function
    (:data:`FeatureFn`). ``reasons`` are reason codes for them, as the base catalogue writes
    them: ``{"CODE": {"features": [...], "template": "...", "fallback": "..."}}``; each new
    feature in one code (a bundle's catalogue covers its features exactly).
    ``feature_service`` (default ``<name>_model``) names the Feast feature service.
    """
    if not isinstance(base, EventKind):
        raise ConfigError("base", base, "an EventKind (fraudscore.get_kind('transaction'), ...)")
    if not isinstance(name, str) or not _NAME.match(name) or name == base.name:
        raise ConfigError(
            "name", name, f"a new lowercase name for the extended kind (not {base.name!r})"
        )
    added = _check_fields(base, fields)
    ids = {f for f, kind in added.items() if kind == "id"}
    views = tuple(views)
    base_keys_known = {k for v in base.views for k in v.keys}
    known_keys = base_keys_known | ids
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
        if "label" in view.clocks and set(view.keys) & ids:
            raise ConfigError(
                f"views[{view.name!r}].clocks",
                list(view.clocks),
                f"clocks other than 'label' for a view keyed on new fields ({base.name} "
                "labels carry only the base kind's keys)",
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
    new_entities = _entities(ids, entities, base_keys_known)
    covered = [f for entry in codes.values() for f in entry["features"]]
    uncovered = [f for f in features if f not in covered]
    twice = sorted({f for f in covered if covered.count(f) > 1})
    if uncovered or twice:
        raise ConfigError(
            "reasons",
            uncovered or twice,
            "reason codes covering each new feature exactly once (a bundle's reason catalogue "
            "covers its features exactly)",
        )
    names = tuple(features)
    functions = tuple(features.values())
    base_compute, base_keys = base.compute, base.keys
    # Each new view's key part, from the base views' keys of the same event ((base view index,
    # position in its key)), or from a new id field of the event (its name).
    picks = [
        [key if key in ids else _position(base.views, key) for key in view.keys] for view in views
    ]

    def compute(cols: Any, reads: Any, xp: Any) -> list[Any]:
        return [*base_compute(cols, reads, xp), *(fn(cols, reads, xp) for fn in functions)]

    def keys(event: Any) -> list[tuple[str, ...]]:
        own = base_keys(event)
        return [
            *own,
            *(
                tuple(
                    (getattr(event, p) or ABSENT) if isinstance(p, str) else own[p[0]][p[1]]
                    for p in pick
                )
                for pick in picks
            ),
        ]

    catalogue = {
        **base.catalogue,
        "version": f"{base.catalogue['version']}+{name}",
        "codes": {**base.catalogue["codes"], **codes},
    }
    extended = dataclasses.replace(
        base,
        name=name,
        views=(*base.views, *views),
        features=(*base.features, *names),
        feature_service=feature_service or f"{name}_model",
        compute=compute,
        keys=keys,
        catalogue=catalogue,
        entities={**base.entities, **new_entities},
    )
    return _with_fields(extended, base, added) if added else extended


def _check_fields(base: EventKind, fields: Mapping[str, FieldType] | None) -> dict[str, str]:
    if fields is None:
        return {}
    if not isinstance(fields, Mapping):
        raise ConfigError("fields", fields, "a mapping of new field names to 'id' or 'number'")
    taken = {f.name for f in dataclasses.fields(base.event_type)}
    for field_name, kind in fields.items():
        if not isinstance(field_name, str) or not _NAME.match(field_name) or field_name in taken:
            raise ConfigError(
                "fields", field_name, f"a new lowercase field name (not one of {sorted(taken)})"
            )
        if kind not in _FIELD_TYPES:
            raise ConfigError(f"fields[{field_name!r}]", kind, f"one of {list(_FIELD_TYPES)}")
    return dict(fields)


def _entities(
    ids: set[str], given: Mapping[str, tuple[str, str]] | None, base_keys: set[str]
) -> dict[str, tuple[str, str]]:
    """The Feast entity of each new key field: given, or named after the field."""
    given = dict(given or {})
    unknown = sorted(set(given) - ids)
    if unknown:
        raise ConfigError("entities", unknown, f"new id fields {sorted(ids)}")
    out = {}
    for key in sorted(ids - base_keys):
        entry = given.get(key, (key, f"An event's {key}."))
        if not (
            isinstance(entry, tuple)
            and len(entry) == 2
            and all(isinstance(x, str) and x for x in entry)
        ):
            raise ConfigError(f"entities[{key!r}]", entry, "(entity name, description)")
        out[key] = entry
    return out


def _with_fields(kind: EventKind, base: EventKind, added: dict[str, str]) -> EventKind:
    """``kind`` on an event type with the ``added`` optional fields: its validation, the
    event columns and keys they give, and the frame columns that carry them."""
    base_type = base.event_type
    ids = tuple(f for f, t in added.items() if t == "id")
    numbers = tuple(f for f, t in added.items() if t == "number")
    base_post = getattr(base_type, "__post_init__", None)

    def __post_init__(self: Any) -> None:
        if base_post is not None:
            base_post(self)
        for f in ids:
            value = getattr(self, f)
            if value is not None:
                check_id(f, value)
        for f in numbers:
            value = getattr(self, f)
            if value is not None and not is_finite_number(value):
                raise EventValidationError(f, value, "a finite number, or None")

    event_type = dataclasses.make_dataclass(
        "".join(part.title() for part in kind.name.split("_")),
        [(f, Any, dataclasses.field(default=None)) for f in added],
        bases=(base_type,),
        namespace={"__post_init__": __post_init__, "__module__": __name__},
        frozen=True,
        slots=True,
    )
    # Importable by its name, so that events pickle (to another process that declares the
    # same kind at import, as a service's workers do).
    globals()[event_type.__name__] = event_type
    event_type.__doc__ = (
        f"A {base_type.__name__} with the optional fields {list(added)} of the {kind.name!r} kind."
    )
    base_values, base_prepare, base_columns = base.values, base.prepare, base.frame_columns
    base_event_of, base_sample = base.event_of, base.sample
    base_names = [f.name for f in dataclasses.fields(base_type)]
    nan = math.nan

    def values(event: Any) -> dict[str, float]:
        out = base_values(event)
        for f in numbers:
            value = getattr(event, f)
            out[f] = nan if value is None else float(value)
        for f in ids:  # whether the event carries it: "none sent" is not "a new one"
            out[f"has_{f}"] = 0.0 if getattr(event, f) is None else 1.0
        return out

    def lift(event: Any, extra: Mapping[str, Any]) -> Any:
        return event_type(**{n: getattr(event, n) for n in base_names}, **extra)

    def event_of(row: Any) -> Any:
        extra = {}
        for f in added:
            value = getattr(row, f, None)
            if value is not None and value == value:
                extra[f] = float(value) if f in numbers else value
        return lift(base_event_of(row), extra)

    def prepare(df: pd.DataFrame, **options: Any) -> pd.DataFrame:
        return _prepare_fields(df, base_prepare, kind.id_field, ids, numbers, **options)

    def frame_columns(frame: pd.DataFrame) -> dict[str, Any]:
        out = base_columns(frame)
        for f in numbers:
            out[f] = frame[f].to_numpy(np.float64)
        for f in ids:
            out[f"has_{f}"] = frame[f].notna().to_numpy(np.float64)
        return out

    return dataclasses.replace(
        kind,
        event_type=event_type,
        values=values,
        event_of=event_of,
        # The warm-up event keys every view, on entities no store holds.
        sample=lambda: lift(base_sample(), dict.fromkeys(ids, WARM_UP)),
        prepare=prepare,
        frame_columns=frame_columns,
    )


def _prepare_fields(
    df: pd.DataFrame,
    base_prepare: Any,
    id_field: str,
    ids: tuple[str, ...],
    numbers: tuple[str, ...],
    *,
    bad_rows: frames.BadRows = "fail",
    **options: Any,
) -> pd.DataFrame:
    """The base kind's prepared frame with the new fields' columns (absent: missing), each
    checked as the event checks it; a bad row is listed, or dropped and counted."""
    import pandas as pd

    rows = frames.Rows(df)
    extra: dict[str, pd.Series] = {}
    for f in ids:
        if f in df.columns:
            values = df[f].astype(object).where(df[f].notna(), None)
            ok = values.map(lambda v: v is None or frames.is_id(v)).to_numpy(dtype=bool)
            rows.check(f, ~ok, "a non-empty string id of valid Unicode, or missing")
            extra[f] = values
    for f in numbers:
        if f in df.columns:
            number = pd.to_numeric(df[f], errors="coerce").astype(np.float64)
            bad = (df[f].notna() & ~np.isfinite(number.fillna(0.0))).to_numpy() | (
                df[f].notna() & number.isna()
            ).to_numpy()
            rows.check(f, bad, "a finite number, or missing")
            extra[f] = number
    keep, dropped = rows.keep(bad_rows)
    out = base_prepare(df[keep] if dropped else df, bad_rows=bad_rows, **options)
    by_id = pd.Index(df[id_field].astype(str)[keep] if dropped else df[id_field].astype(str))
    at = by_id.get_indexer(out[id_field])
    for f in (*ids, *numbers):
        if f in extra:
            column = extra[f][keep] if dropped else extra[f]
            out[f] = column.to_numpy()[at]
        else:
            out[f] = None if f in ids else np.nan
        if f in ids:
            out[f] = out[f].astype(object).where(out[f].notna(), None)
    for reason, n in dropped.items():
        out.attrs["dropped_rows"][reason] = out.attrs["dropped_rows"].get(reason, 0) + n
    return out


def _position(views: Sequence[StateView], key: str) -> tuple[int, int]:
    for v, view in enumerate(views):
        if key in view.keys:
            return v, view.keys.index(key)
    raise AssertionError(key)  # checked by extend_kind
