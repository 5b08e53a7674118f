"""The seam between the scorer and a Feast online store: the ``FeatureSource`` protocol and
Feast's storage encodings (entity keys, ``ValueProto`` doubles), shared by every source.
"""

from __future__ import annotations

import math
import struct
from collections.abc import Callable, Sequence
from typing import Protocol

from fraudscore._errors import ConfigError
from fraudscore._state import Array, StateView

__all__ = [
    "FeatureSource",
    "Key",
    "KeyEncoder",
    "Step",
    "check_timeout",
    "decode_value",
    "decode_values",
    "encode_key",
    "encode_value",
    "read_states",
]

Key = tuple[str, ...]
#: ``step(view_index, {key: stored state}) -> {key: new state}`` (only the states that moved).
Step = Callable[[int, dict[Key, list[float]]], dict[Key, list[float]]]

_STRING = struct.pack("<I", 2)  # feast ValueType.STRING
_DOUBLE_TAG = 0x29  # ValueProto field 5 (double_val), wire type 1 (64-bit)
_unpack_double = struct.Struct("<d").unpack_from
_pack_len = struct.Struct("<I").pack
NAN = math.nan


class FeatureSource(Protocol):
    """Reads and writes the state of ``views``; index ``i`` of each argument is ``views[i]``."""

    views: tuple[StateView, ...]

    def read(self, keys: Sequence[Sequence[Key]]) -> list[Array]:
        """For each view, an ``(len(keys[i]), width)`` array of stored states.

        An unknown key reads as ``view.empty()``; a view may be given no keys.
        """
        ...

    def read_one(self, keys: Sequence[Key]) -> list[list[float]]:
        """For each view, the stored state of its one key as a list of floats (one event)."""
        ...

    def modify(self, keys: Sequence[Sequence[Key]], step: Step) -> None:
        """Read-modify-write the state of ``keys`` (per view) atomically, losing no update.

        For each view ``i`` that has keys, in view order, the source calls ``step(i, states)``
        with the stored state of some of its distinct keys (``{key: state}``) and writes the
        states that ``step`` returns. It calls ``step`` for every key exactly once per
        successful write; after a conflict with another writer it calls it again for the keys
        it retries, with their fresh state. How many keys commit together is the store's unit
        of atomicity: SQLite and standalone Redis commit every view at once; Redis Cluster
        commits each entity key on its own.
        """
        ...


class KeyEncoder:
    """Feast's entity-key serialization (version 3) for string join keys, prebuilt per view."""

    def __init__(self, join_keys: Sequence[str]) -> None:
        self.order = sorted(range(len(join_keys)), key=lambda i: join_keys[i])
        parts = [struct.pack("<I", len(join_keys))]
        for i in self.order:
            k = join_keys[i].encode()
            parts += [_STRING, struct.pack("<I", len(k)), k]
        self.prefix = b"".join(parts)

    def __call__(self, key: Key) -> bytes:
        out = [self.prefix]
        for i in self.order:
            v = key[i].encode()
            out += [_STRING, _pack_len(len(v)), v]
        return b"".join(out)


def encode_key(join_keys: Sequence[str], key: Key) -> bytes:
    """Feast's serialized entity key for string values ``key`` of ``join_keys``."""
    return KeyEncoder(join_keys)(key)


def decode_value(raw: bytes) -> float:
    """A stored ``ValueProto`` as a float; an empty (null) value is NaN."""
    if len(raw) == 9 and raw[0] == _DOUBLE_TAG:
        return float(_unpack_double(raw, 1)[0])
    if not raw:
        return NAN
    from feast.protos.feast.types.Value_pb2 import Value

    v = Value.FromString(raw)
    which = v.WhichOneof("val")
    return NAN if which is None else float(getattr(v, which))


_NULL_AS_DOUBLE = b")" + struct.pack("<d", NAN)


def decode_values(raws: Sequence[bytes]) -> list[float]:
    """Many stored values at once: one unpack when all are doubles or null (the usual case)."""
    blob = b"".join([r or _NULL_AS_DOUBLE for r in raws])
    n = len(raws)
    if len(blob) == 9 * n and blob[::9] == b")" * n:
        return list(struct.unpack("<" + "xd" * n, blob))
    return [decode_value(r) for r in raws]


def encode_value(x: float) -> bytes:
    """A float as Feast stores it: a serialized ``ValueProto(double_val=x)``, null for NaN."""
    return b"" if x != x else b")" + struct.pack("<d", x)


def read_states(
    source: FeatureSource, keys: Sequence[Sequence[Key]]
) -> list[dict[Key, list[float]]]:
    """Stored state of each distinct key, per view, as lists of floats (one statement or round
    trip for one event)."""
    unique = [list(dict.fromkeys(ks)) for ks in keys]
    if all(len(u) == 1 for u in unique):
        one = source.read_one([u[0] for u in unique])
        return [{u[0]: s} for u, s in zip(unique, one, strict=True)]
    states = [a.tolist() for a in source.read(unique)]
    return [dict(zip(u, s, strict=True)) for u, s in zip(unique, states, strict=True)]


def check_timeout(timeout: float) -> float:
    """A store timeout in seconds: a finite number > 0."""
    if isinstance(timeout, bool) or not isinstance(timeout, int | float) or not 0 < timeout < 1e6:
        raise ConfigError("timeout", timeout, "a number of seconds > 0 and < 1e6")
    return float(timeout)
