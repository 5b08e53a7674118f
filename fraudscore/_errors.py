"""The library's errors. Every error fraudscore raises is a :class:`FraudscoreError`.

Hierarchy::

    FraudscoreError
    ├── EventValidationError   a field of an event or a training frame is wrong
    ├── BundleError            a model bundle is missing, tampered, or of another schema
    ├── FeatureStoreError      the Feast repo or online store failed or is not supported
    ├── ModelError             onnxruntime failed to load or run the graph
    └── TrainingError          training or evaluation cannot run on the data given

Third-party errors (Feast, onnxruntime, redis, sqlite3) are mapped to these at the boundary with
``raise ... from exc`` so that callers catch one family.
"""

from __future__ import annotations

from typing import Any

__all__ = [
    "BundleError",
    "EventValidationError",
    "FeatureStoreError",
    "FraudscoreError",
    "ModelError",
    "TrainingError",
]


class FraudscoreError(Exception):
    """Root of every error raised by fraudscore."""


class EventValidationError(FraudscoreError, ValueError):
    """A field of an event (or a column of a training frame) is missing or invalid.

    The message names the field, what arrived and what was expected.
    """

    def __init__(self, field: str, value: Any, expected: str, *, where: str = "event") -> None:
        self.field = field
        self.value = value
        self.expected = expected
        shown = repr(value)
        if len(shown) > 80:
            shown = shown[:77] + "..."
        super().__init__(f"{where} field {field!r}: got {shown}, expected {expected}")


class BundleError(FraudscoreError):
    """A model bundle cannot be loaded: missing file, hash mismatch, or unknown schema."""

    def __init__(self, path: object, problem: str, fix: str = "") -> None:
        self.path = path
        self.problem = problem
        message = f"model bundle {str(path)!r}: {problem}"
        super().__init__(f"{message}. {fix}" if fix else message)


class FeatureStoreError(FraudscoreError):
    """The Feast repo or its online store failed, or has a type or layout we do not support."""


class ModelError(FraudscoreError):
    """onnxruntime could not load or run the model graph."""


class TrainingError(FraudscoreError):
    """Training or evaluation cannot run on the data and options given."""
