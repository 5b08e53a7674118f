"""JSON in and out of the service: request bodies to validated events, results to bodies.

A body is checked as the library checks an event: one :class:`EventValidationError` naming the
field, what arrived and what was expected, for the first thing wrong. JSON has no time type, so
a time is an ISO 8601 string with a UTC offset (``2018-05-08T10:00:00Z``, or ``+02:00``: the
same instant, stored in UTC); a time without one is refused, as the library refuses a naive
datetime. Everything else arrives as JSON gives it and the event's own checks apply.

Per kind, what can be decided once (field names, required fields, time fields) is, in
:class:`EventCodec`'s constructor.
"""

from __future__ import annotations

import dataclasses
import json
import typing
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from fraudscore._errors import EventValidationError

__all__ = ["EventCodec", "body_of", "dumps"]


class _Missing:
    """The value of a required field a body left out (shown as such in the error)."""

    def __repr__(self) -> str:
        return "nothing (the field is missing)"


MISSING = _Missing()
_TIME = "an ISO 8601 time with a UTC offset, like 2018-05-08T10:00:00Z"
#: Compact JSON, as bytes (the separators save a tenth of a result's size).
_encode = json.JSONEncoder(separators=(",", ":"), ensure_ascii=False, allow_nan=False).encode


def dumps(value: Any) -> bytes:
    return _encode(value).encode()


def body_of(raw: bytes, what: str) -> Any:
    """The JSON value of a request body, or an :class:`EventValidationError` on field
    ``body`` for one that does not parse (``what`` says what was expected)."""
    try:
        return json.loads(raw)
    except (ValueError, RecursionError) as exc:
        shown = raw[:60].decode("utf-8", "replace")
        raise EventValidationError(
            "body", shown, f"{what} as JSON ({exc})", where="request"
        ) from None


class EventCodec:
    """Builds the events of one dataclass (a kind's ``event_type`` or ``label_type``) from JSON
    objects."""

    def __init__(self, event_type: type, name: str) -> None:
        self.event_type = event_type
        self.name = name
        hints = typing.get_type_hints(event_type)
        fields = dataclasses.fields(event_type)
        self.fields = tuple(f.name for f in fields)
        self._known = frozenset(self.fields)
        self.required = tuple(
            f.name
            for f in fields
            if f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING
        )
        self.times = tuple(n for n in self.fields if hints[n] is datetime)
        self._make: Callable[..., Any] = event_type

    def __call__(self, body: Any) -> Any:
        """The validated event of a JSON object, or :class:`EventValidationError`."""
        if type(body) is not dict:
            raise EventValidationError(
                "body", body, f"a JSON object of a {self.name}'s fields", where="request"
            )
        if not self._known.issuperset(body):
            name = next(k for k in body if k not in self._known)
            raise EventValidationError(
                name, body[name], f"no such field; a {self.name} has {', '.join(self.fields)}"
            )
        for name in self.required:
            if name not in body:
                raise EventValidationError(name, MISSING, f"a value: every {self.name} has one")
        for name in self.times:
            value = body.get(name)
            if value is not None:
                body[name] = _instant(name, value)
        return self._make(**body)


def _instant(name: str, value: Any) -> datetime:
    if type(value) is not str:
        raise EventValidationError(name, value, _TIME)
    try:
        stamp = datetime.fromisoformat(value)
    except ValueError:
        raise EventValidationError(name, value, _TIME) from None
    if stamp.tzinfo is None:
        raise EventValidationError(name, value, f"{_TIME} (a time without one is ambiguous)")
    return stamp if stamp.tzinfo is UTC else stamp.astimezone(UTC)
