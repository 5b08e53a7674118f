"""Event kinds: everything the generic scorer, trainer and bundle need to know about one kind.

A kind declares itself in its own folder as an :class:`EventKind` (``KIND``): its event type,
state views, features, reasons, decisions and evaluation protocol. This package registers
them; generic code reads :data:`KINDS` and never names a kind.
"""

from __future__ import annotations

from fraudscore._errors import BundleError
from fraudscore._kinds import login as _login
from fraudscore._kinds import transaction as _transaction
from fraudscore._kinds.base import EventKind, Protocol, served_columns, served_values

__all__ = [
    "KINDS",
    "LOGIN",
    "TRANSACTION",
    "EventKind",
    "Protocol",
    "kind_spec",
    "served_columns",
    "served_values",
]

TRANSACTION = _transaction.KIND
LOGIN = _login.KIND
KINDS: dict[str, EventKind] = {k.name: k for k in (TRANSACTION, LOGIN)}


def kind_spec(kind: object, *, where: object = "bundle") -> EventKind:
    spec = KINDS.get(kind) if isinstance(kind, str) else None
    if spec is None:
        raise BundleError(where, f"kind {kind!r} is not one of {sorted(KINDS)}")
    return spec
