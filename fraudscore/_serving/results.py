"""What scoring returns: :class:`ScoreResult`, with the challenger's :class:`ShadowResult`, and
the shadow log's :class:`ShadowRecord`. Plain frozen records, read by the scorer, the decision
log and the metrics alike."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from fraudscore._serving.reasons import Reason

__all__ = ["ScoreResult", "ShadowRecord", "ShadowResult"]


@dataclass(frozen=True, slots=True)
class ShadowResult:
    """A challenger's verdict on an event it did not decide: its version, score and decision."""

    model_version: str
    score: float
    decision: str


@dataclass(frozen=True, slots=True)
class ShadowRecord:
    """One line of the shadow log: the champion's and the challenger's verdicts on one event."""

    event_id: str
    timestamp: datetime
    champion_version: str
    champion_score: float
    champion_decision: str
    challenger_version: str
    challenger_score: float
    challenger_decision: str


@dataclass(frozen=True, slots=True)
class ScoreResult:
    """The outcome of scoring one event."""

    event_id: str
    score: float
    decision: str
    reasons: tuple[Reason, ...]
    model_version: str
    #: Feature views with no state for this event's entity (never seen).
    missing_state: tuple[str, ...] = ()
    #: Feature views whose state was older than the view's ttl, and so read as no history.
    stale_state: tuple[str, ...] = ()
    #: The online store failed and the scorer degrades (``on_store_error="degrade"``): the event
    #: was scored as if its entities had no history, and the first reason says so.
    degraded: bool = False
    #: The event is older than some of its entities' stored state (an offline terminal, a
    #: batch acquirer): it was scored on that state, with times since the last activity read as
    #: zero (never negative), as the offline fold reads an event at the same instant.
    late_event: bool = False
    #: The challenger's verdict when the scorer carries one (``Scorer.set_challenger``).
    shadow: ShadowResult | None = None
    #: The rule that set the decision (its reason comes first), when the scorer has rules.
    rule: str | None = None
    #: Every live rule that matched (in ``all`` mode, more than the deciding one).
    matched_rules: tuple[str, ...] = ()
    #: Shadow rules that matched: recorded, never deciding.
    shadow_rules: tuple[str, ...] = ()

    @property
    def has_full_history(self) -> bool:
        return not (self.missing_state or self.stale_state or self.degraded)

    def to_dict(self) -> dict[str, Any]:
        """The result as JSON-ready values (the CLI's ``--json`` and the service's responses):
        every field, reasons and the challenger's verdict as objects."""
        shadow = self.shadow
        return {
            "event_id": self.event_id,
            "score": self.score,
            "decision": self.decision,
            "reasons": [
                {"code": r.code, "text": r.text, "contribution": r.contribution}
                for r in self.reasons
            ],
            "model_version": self.model_version,
            "missing_state": list(self.missing_state),
            "stale_state": list(self.stale_state),
            "degraded": self.degraded,
            "late_event": self.late_event,
            "rule": self.rule,
            "matched_rules": list(self.matched_rules),
            "shadow_rules": list(self.shadow_rules),
            "shadow": None
            if shadow is None
            else {
                "model_version": shadow.model_version,
                "score": shadow.score,
                "decision": shadow.decision,
            },
        }
