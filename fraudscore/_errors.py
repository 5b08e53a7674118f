"""The library's errors. Every error fraudscore raises is a :class:`FraudscoreError`.

Hierarchy::

    FraudscoreError
    ├── EventValidationError   a field of an event or a training frame is wrong
    │   └── BadRowsError       rows of a training frame are wrong, listed by reason
    ├── ConfigError            an option or setting is wrong (named option, value, expected)
    ├── BundleError            a model bundle is missing, tampered, or of another schema
    ├── FeatureStoreError      the Feast repo or online store failed or is not supported
    ├── ModelError             onnxruntime failed to load or run the graph
    ├── RulesError             a rules file or list is invalid (named rule, position, names)
    └── TrainingError          training or evaluation cannot run on the data given

Third-party errors (Feast, onnxruntime, redis, sqlite3) are mapped to these at the boundary with
``raise ... from exc`` so that callers catch one family.
"""

from __future__ import annotations

from typing import Any

__all__ = [
    "BadRowsError",
    "BundleError",
    "ConfigError",
    "EventValidationError",
    "FeatureStoreError",
    "FraudscoreError",
    "ModelError",
    "RulesError",
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
        super().__init__(f"{where} field {field!r}: got {_short(value)}, expected {expected}")


class ConfigError(FraudscoreError, ValueError):
    """An option or setting (of a scorer, a source, a command) is invalid; not an event's fault.

    The message names the option, what arrived and what was expected.
    """

    def __init__(self, option: str, value: Any, expected: str) -> None:
        self.option = option
        self.value = value
        self.expected = expected
        super().__init__(f"option {option!r}: got {_short(value)}, expected {expected}")


class BadRowsError(EventValidationError):
    """Rows of a training frame are invalid: every reason, its count and the first examples.

    ``problems`` maps ``"column: expected"`` to ``(count, [(row label, value), ...])``. ``field``,
    ``value`` and ``expected`` describe the first problem, like any :class:`EventValidationError`.
    """

    def __init__(self, problems: dict[str, tuple[int, list[tuple[Any, Any]]]], total: int) -> None:
        self.problems = problems
        self.total = total
        first = next(iter(problems))
        column, expected = first.split(": ", 1)
        lines = []
        for reason, (count, examples) in problems.items():
            shown = ", ".join(f"row {row!r}: {_short(value)}" for row, value in examples)
            lines.append(f"  {reason}: {count:,} row(s), e.g. {shown}")
        FraudscoreError.__init__(
            self,
            f"{total:,} bad row(s) in the frame:\n" + "\n".join(lines) + "\nFix them, or drop "
            "them with bad_rows='drop' (CLI: --drop-bad-rows); the count goes in the manifest.",
        )
        self.field, self.value, self.expected = column, problems[first][1][0][1], expected


def _short(value: Any) -> str:
    shown = repr(value)
    return shown if len(shown) <= 80 else shown[:77] + "..."


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


class RulesError(FraudscoreError, ValueError):
    """A rules file or one of its lists is invalid: the message names the rule (or list), where
    in it, and what would have been valid."""
