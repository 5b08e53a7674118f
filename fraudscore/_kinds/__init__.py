"""Event kinds: everything the generic scorer, trainer and bundle need to know about one kind.

A kind declares itself in its own folder as an :class:`EventKind` (``KIND``): its event type,
state views, features, reasons, decisions and evaluation protocol. This package registers
them; generic code reads :data:`KINDS` and never names a kind.
"""

from __future__ import annotations

from fraudscore._errors import BundleError, ConfigError
from fraudscore._kinds import login as _login
from fraudscore._kinds import payout as _payout
from fraudscore._kinds import transaction as _transaction
from fraudscore._kinds.base import EventKind, Protocol, Simulator, served_columns, served_values

__all__ = [
    "DEFAULT_KIND",
    "KINDS",
    "LOGIN",
    "TRANSACTION",
    "EventKind",
    "Protocol",
    "Simulator",
    "get_kind",
    "kind_spec",
    "register_kind",
    "served_columns",
    "served_values",
]

TRANSACTION = _transaction.KIND
LOGIN = _login.KIND
KINDS: dict[str, EventKind] = {k.name: k for k in (TRANSACTION, LOGIN, _payout.KIND)}
_BUILT_IN = frozenset(KINDS)
#: The kind a public function takes when none is given (the first registered).
DEFAULT_KIND = TRANSACTION.name


def register_kind(kind: EventKind) -> EventKind:
    """Make ``kind`` known by its name to every part of the library in this process: bundles
    trained on it load, scorers open them, and ``feast_objects()`` (the feature repo's
    definitions) includes its views. A service registers its kinds at import, before it opens
    a scorer. Registering a name again replaces that kind (a notebook cell run twice); a
    built-in kind's name is refused."""
    if not isinstance(kind, EventKind):
        raise ConfigError("kind", kind, "an EventKind (fraudscore.extend_kind(...))")
    if kind.name in _BUILT_IN:
        raise ConfigError(
            "kind", kind.name, f"a name that is not a built-in kind's {sorted(_BUILT_IN)}"
        )
    KINDS[kind.name] = kind
    return kind


def get_kind(name: str) -> EventKind:
    """The kind registered as ``name`` ("transaction", "login", or one of
    :func:`register_kind`)."""
    spec = KINDS.get(name) if isinstance(name, str) else None
    if spec is None:
        raise ConfigError("kind", name, f"one of {sorted(KINDS)}")
    return spec


def kind_spec(kind: object, *, where: object = "bundle") -> EventKind:
    spec = KINDS.get(kind) if isinstance(kind, str) else None
    if spec is None:
        raise BundleError(where, f"kind {kind!r} is not one of {sorted(KINDS)}")
    return spec
