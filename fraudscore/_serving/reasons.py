"""Reason codes: group per-feature contributions by code, pick the top ones, fill templates.

A code's contribution is the sum of its features' contributions (so features that pull in
opposite directions cancel). Only codes with a positive sum are reasons. Ties break by code
name, so the order is deterministic. There is no catch-all "other" code.

The sums are float64, each code's features added in feature order, one addition at a time: a
Python loop for one row, the same additions on whole columns for many. A row's sums are then
the same bits alone or in any batch, on any CPU (a matrix product would hand one row to BLAS's
gemv and a batch to its gemm, whose summation order depends on the kernel).
"""

from __future__ import annotations

import math
import string
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from fraudscore._errors import BundleError

__all__ = ["MAX_REASONS", "Reason", "ReasonCatalogue", "TemplateValues"]

MAX_REASONS = 4


@dataclass(frozen=True, slots=True)
class Reason:
    """Why a score is high: a stable ``code``, a sentence for an analyst, and the log-odds added."""

    code: str
    text: str
    contribution: float


class TemplateValues(dict[str, Any]):
    """Feature values for templates; display values are computed on first use."""

    __slots__ = ("_display", "_event")

    def __init__(
        self,
        values: Mapping[str, Any],
        event: Any,
        display: Mapping[str, Callable[[Any, Mapping[str, Any]], Any]],
    ) -> None:
        super().__init__(values)
        self._event = event
        self._display = display

    def __missing__(self, key: str) -> Any:
        make = self._display.get(key)
        if make is None:
            raise KeyError(key)
        value = self[key] = make(self._event, self)
        return value


def _fields(template: str) -> tuple[str, ...]:
    return tuple(name for _, name, _, _ in string.Formatter().parse(template) if name)


class ReasonCatalogue:
    """A bundle's versioned catalogue, compiled once for the bundle's feature order."""

    def __init__(
        self, catalogue: Mapping[str, Any], features: Sequence[str], where: object
    ) -> None:
        codes = catalogue.get("codes", {})
        self.version = str(catalogue.get("version", ""))
        self.codes = tuple(sorted(codes))
        owner: dict[str, str] = {}
        for code in self.codes:
            for f in codes[code]["features"]:
                if f in owner:
                    raise BundleError(
                        where, f"feature {f!r} is in reason codes {owner[f]} and {code}"
                    )
                owner[f] = code
        missing = [f for f in features if f not in owner]
        unknown = [f for f in owner if f not in features]
        if missing or unknown:
            raise BundleError(
                where,
                f"reason catalogue does not cover the features exactly (uncovered: {missing}, "
                f"unknown: {unknown})",
            )
        #: The code of each feature, by index (the bias, last in a contributions row, has none).
        self.owners = tuple(self.codes.index(owner[f]) for f in features)
        self._templates = [
            (codes[c]["template"], _fields(codes[c]["template"]), codes[c].get("fallback", ""))
            for c in self.codes
        ]
        self.features = tuple(features)

    def code_sums(self, contributions: Sequence[float]) -> list[float]:
        """Per-code sums of one row of contributions ``(F+1,)``, in float64."""
        sums = [0.0] * len(self.codes)
        for code, c in zip(self.owners, contributions, strict=False):
            sums[code] += c
        return sums

    def code_sums_many(self, contributions: np.ndarray) -> np.ndarray:
        """Per-code sums ``(N, C)`` of contributions ``(N, F+1)``: ``code_sums`` of each row,
        bit for bit."""
        columns = contributions.astype(np.float64).T
        sums = np.zeros((len(self.codes), len(contributions)))
        for code, column in zip(self.owners, columns, strict=False):
            sums[code] += column
        return sums.T

    def top(self, code_sums: Sequence[float], k: int) -> list[tuple[int, float]]:
        """Indices and sums of the ``k`` codes with the largest positive sums."""
        # Codes are sorted by name, so ordering by index breaks ties by code.
        ranked = sorted([(-s, i) for i, s in enumerate(code_sums) if s > 0.0])
        return [(i, -s) for s, i in ranked[:k]]

    def top_codes(self, contributions: np.ndarray, k: int) -> list[list[str]]:
        """The top ``k`` codes of each row of ``contributions (N, F+1)``, as ``score`` picks."""
        sums = self.code_sums_many(contributions)
        # A stable sort of the negated sums: largest first, ties by code, as ``top`` orders.
        order = np.argsort(-sums, axis=1, kind="stable")[:, :k]
        positive = np.take_along_axis(sums, order, axis=1) > 0.0
        names = np.array(self.codes, dtype=object)[order].tolist()
        return [
            [c for c, ok in zip(row, keep, strict=True) if ok]
            for row, keep in zip(names, positive.tolist(), strict=True)
        ]

    def text(self, index: int, values: Mapping[str, Any]) -> str:
        """The code's sentence, or its fallback when a value it needs is missing (NaN)."""
        template, names, fallback = self._templates[index]
        for name in names:
            try:
                v = values[name]
            except KeyError:
                v = None
            if v is None or (isinstance(v, float) and math.isnan(v)):
                template = fallback
                break
        try:
            return template.format_map(values)
        except (KeyError, ValueError, IndexError) as exc:
            return f"{self.codes[index]} ({type(exc).__name__} in template)"
