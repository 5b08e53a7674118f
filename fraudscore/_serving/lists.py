"""Allow and deny lists: plain files of entries, matched against event fields.

A list matches one event field, or several joined by ``,`` (a customer's trusted device:
``C000123,dev-9f2``). Three ways to match, chosen per list:

- ``exact`` (default): a hash set; cards, terminals, devices, countries, ASNs, emails, ids.
  O(1).
- ``cidr``: IP addresses and CIDR ranges (``203.0.113.0/24``, ``2001:db8::/32``), parsed by the
  standard library's :mod:`ipaddress`, collapsed, and kept as sorted integer intervals per IP
  version: a lookup is one bisection, O(log n).
- ``prefix``: prefixes of the field (BIN ranges of a card number or token): one set lookup per
  distinct prefix length, O(number of lengths).

A file holds one entry per line; blank lines and ``#`` comments are skipped. Every entry is
validated when the file is read (a bad CIDR names its file and line).
"""

from __future__ import annotations

import bisect
import ipaddress
import socket
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from fraudscore._errors import RulesError

__all__ = ["LIST_TYPES", "ListSpec", "Matcher", "read_list"]

LIST_TYPES = ("exact", "cidr", "prefix")


@dataclass(frozen=True)
class ListSpec:
    """A list as the rules file declares it: its name, file, matched fields and type."""

    name: str
    path: Path
    fields: tuple[str, ...]
    type: str = "exact"


@dataclass(frozen=True, slots=True)
class Matcher:
    """One loaded list: ``contains(value)`` for the (joined) field value; ``size`` entries."""

    contains: Callable[[str], bool]
    size: int


def read_list(spec: ListSpec) -> Matcher:
    """Read and index a list file (see the module's docstring)."""
    try:
        lines = spec.path.read_text(encoding="utf-8").splitlines()
    except OSError as exc:
        raise RulesError(f"list {spec.name!r}: cannot read {str(spec.path)!r}: {exc}") from exc
    entries = [
        (n, line.strip())
        for n, line in enumerate(lines, 1)
        if line.strip() and not line.lstrip().startswith("#")
    ]
    width = len(spec.fields)
    for n, entry in entries:
        if width > 1 and len(entry.split(",")) != width:
            raise RulesError(
                f"list {spec.name!r} ({spec.path}:{n}): {entry!r} is not {width} values "
                f"separated by ',' ({', '.join(spec.fields)})"
            )
    values = [e for _, e in entries]
    if spec.type == "exact":
        exact = frozenset(values)
        return Matcher(exact.__contains__, len(exact))
    if spec.type == "prefix":
        return _prefixes(values)
    return _networks(spec, entries)


def _prefixes(values: Sequence[str]) -> Matcher:
    prefixes = frozenset(values)
    lengths = sorted({len(p) for p in prefixes})

    def contains(value: str) -> bool:
        return any(value[:n] in prefixes for n in lengths if len(value) >= n)

    return Matcher(contains, len(prefixes))


def _networks(spec: ListSpec, entries: Sequence[tuple[int, str]]) -> Matcher:
    nets: dict[int, list[Any]] = {4: [], 6: []}
    for n, entry in entries:
        try:
            net = ipaddress.ip_network(entry, strict=False)
        except ValueError as exc:
            raise RulesError(
                f"list {spec.name!r} ({spec.path}:{n}): {entry!r} is not an IP address or "
                f"CIDR range ({exc})"
            ) from exc
        nets[net.version].append(net)
    # Sorted, non-overlapping [first, last] intervals per version: one bisection per lookup.
    bounds: dict[int, tuple[list[int], list[int]]] = {}
    for version, found in nets.items():
        merged = list(ipaddress.collapse_addresses(found))
        bounds[version] = (
            [int(net.network_address) for net in merged],
            [int(net.broadcast_address) for net in merged],
        )

    v4, v6 = bounds[4], bounds[6]

    def contains(value: str) -> bool:
        # inet_pton parses an address several times faster than ipaddress.ip_address.
        try:
            packed = socket.inet_pton(socket.AF_INET, value)
            firsts, lasts = v4
        except OSError:
            try:
                packed = socket.inet_pton(socket.AF_INET6, value)
                firsts, lasts = v6
            except OSError:
                return False
        x = int.from_bytes(packed, "big")
        i = bisect.bisect_right(firsts, x) - 1
        return i >= 0 and x <= lasts[i]

    return Matcher(contains, sum(len(v) for v in nets.values()))
