"""The decision of one scored event: its score at the thresholds, its reasons, then the
rules over the model, as a :class:`~fraudscore.ScoreResult`."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from fraudscore._kinds import EventKind
from fraudscore._model.bundle import Thresholds
from fraudscore._serving.lists import Matcher
from fraudscore._serving.reasons import Reason, TemplateValues
from fraudscore._serving.results import ScoreResult
from fraudscore._serving.snapshot import Snapshot

__all__ = ["STORE_UNAVAILABLE", "UNAVAILABLE", "result_of"]

#: The reason code of a result scored without history because the online store failed.
STORE_UNAVAILABLE = "STORE_UNAVAILABLE"
UNAVAILABLE = Reason(
    STORE_UNAVAILABLE,
    "online history unavailable (feature store down or too slow); scored as if nothing were "
    "known of this event's entities",
    0.0,
)


def result_of(
    kind: EventKind,
    m: Snapshot,
    lists: Mapping[str, Matcher] | None,
    event: Any,
    x: list[float],
    score: float,
    code_sums: list[float],
    missing: tuple[str, ...],
    stale: tuple[str, ...],
    late: bool,
    thr: Thresholds,
    k: int,
    degraded: bool,
) -> ScoreResult:
    """The result of ``event``, scored ``score`` on features ``x`` by snapshot ``m``: the
    decision at ``thr``, the top ``k`` reasons of ``code_sums``, then the rules' verdict
    (against ``lists``); a ``degraded`` result leads with ``STORE_UNAVAILABLE``."""
    decision = kind.decisions[thr.level(score)]
    catalogue = m.catalogue
    top = catalogue.top(code_sums, k)
    reasons: tuple[Reason, ...] = ()
    if top:
        named = dict(zip(kind.features, x, strict=True))
        values = TemplateValues(named, event, kind.display)
        reasons = tuple(Reason(catalogue.codes[i], catalogue.text(i, values), s) for i, s in top)
    rule: str | None = None
    matched: tuple[str, ...] = ()
    shadow: tuple[str, ...] = ()
    rules = m.rules
    if rules is not None:
        verdict = rules.decide_event(event, x, score, lists)
        if verdict is not None:
            matched, shadow = verdict.matched, verdict.shadow
            if verdict.rule is not None:
                rule = verdict.rule.name
                decision = rules.overrule(decision, verdict.rule)
                reasons = (Reason(verdict.rule.reason, verdict.text, 0.0), *reasons)
    if degraded:
        reasons = (UNAVAILABLE, *reasons)
    return ScoreResult(
        event_id=getattr(event, kind.id_field),
        score=score,
        decision=decision,
        reasons=reasons,
        model_version=m.version,
        missing_state=missing,
        stale_state=stale,
        degraded=degraded,
        late_event=late,
        rule=rule,
        matched_rules=matched,
        shadow_rules=shadow,
    )
