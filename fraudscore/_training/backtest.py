"""Backtest a rule set on history: what each rule would have hit, and what the rules change.

Every event the kind scores (transactions; successful logins) in the test window is scored by
the bundle from its offline features, exactly as the online scorer would, and run through the
rules. Every scored event counts, known-compromised cards included: this is what the rules
would have seen in production, not the handbook's model assessment.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from fraudscore._errors import RulesError, TrainingError
from fraudscore._kinds import kind_spec
from fraudscore._model.bundle import Bundle, load_bundle
from fraudscore._serving.rules import RuleSet, load_rules, variables
from fraudscore._training.offline import OfflineFeatures

if TYPE_CHECKING:
    import pandas as pd

__all__ = ["Backtest", "backtest_rules"]

#: A table as text: (header, rows of cells, whether each row is a shadow rule's).
Cells = tuple[list[str], list[list[str]], list[bool]]


@dataclass(frozen=True)
class Backtest:
    """A rule set's backtest: one row per rule, and the combined effect against the model.

    ``rules`` columns: ``rule``, ``action``, ``shadow``, ``hits``, ``hit_rate``,
    ``precision`` (share of hits that were fraud or takeover), ``caught`` (frauds or takeovers
    hit), ``genuine`` (genuine events hit) and ``beyond_model`` (frauds hit that the model alone
    left at the lowest decision). Each rule is counted on its own, as if it were the only one.

    ``combined`` has a row for the model alone and one for the model with the rules (in the
    file's mode): events ``flagged`` (above the lowest decision) and ``blocked`` (the highest),
    frauds caught by each, ``recall``, ``precision`` and genuine events blocked.
    """

    kind: str
    start: date
    end: date
    events: int
    positives: int
    rules: pd.DataFrame
    combined: pd.DataFrame

    def tables(self) -> tuple[Cells, Cells]:
        """The per-rule and the combined tables as text cells (the CLI, the report and the
        README show these): each a (header, rows, shadow flag per row)."""
        caught = kind_spec(self.kind).protocol.positives
        header = ["rule", "action", "hits", "hit rate", "precision", f"{caught} hit",
                  "genuine hit", f"{caught} the model missed"]  # fmt: skip
        records = self.rules.to_dict(orient="records")
        rows = [
            [
                r["rule"] + (" (shadow)" if r["shadow"] else ""),
                r["action"],
                f"{r['hits']:,}",
                f"{r['hit_rate']:.2%}",
                "-" if not r["hits"] else f"{r['precision']:.3f}",
                f"{r['caught']:,}",
                f"{r['genuine']:,}",
                f"{r['beyond_model']:,}",
            ]
            for r in records
        ]
        effect_header = ["policy", "flagged", "blocked", f"{caught} flagged",
                         f"{caught} blocked", "recall", "precision", "genuine blocked"]  # fmt: skip
        effect = [
            [
                e["policy"],
                f"{e['flagged']:,}",
                f"{e['blocked']:,}",
                f"{e['caught']:,}",
                f"{e['caught_blocked']:,}",
                f"{e['recall']:.3f}",
                f"{e['precision']:.3f}",
                f"{e['genuine_blocked']:,}",
            ]
            for e in self.combined.to_dict(orient="records")
        ]
        return (header, rows, [bool(r["shadow"]) for r in records]), (
            effect_header, effect, [False] * len(effect),
        )  # fmt: skip

    def to_dict(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "test_window": {"start": self.start.isoformat(), "end": self.end.isoformat()},
            "events": self.events,
            "positives": self.positives,
            "rules": self.rules.to_dict(orient="records"),
            "combined": self.combined.to_dict(orient="records"),
        }


def backtest_rules(
    rules: RuleSet | str | Path,
    bundle: Bundle | str | Path,
    features: OfflineFeatures,
    start: date,
    end: date,
) -> Backtest:
    """Backtest ``rules`` with ``bundle`` on the events of ``features`` in ``[start, end]``."""
    import pandas as pd

    from fraudscore._training.pipeline import score_frame

    loaded = bundle if isinstance(bundle, Bundle) else load_bundle(bundle)
    ruleset = rules if isinstance(rules, RuleSet) else load_rules(rules)
    kind = kind_spec(features.kind, where="features")
    if ruleset.kind.name != kind.name or loaded.kind != kind.name:
        raise RulesError(
            f"rules ({ruleset.kind.name}), bundle ({loaded.kind}) and features ({kind.name}) "
            "must be of one kind"
        )
    frame = features.frame
    ts = frame["timestamp"]
    lo = pd.Timestamp(start, tz="UTC")
    hi = pd.Timestamp(end + timedelta(days=1), tz="UTC")
    rows = frame[(ts >= lo) & (ts < hi) & kind.scored(frame)]
    if rows.empty:
        raise TrainingError(f"no {kind.name}s to backtest from {start} to {end}")
    score = score_frame(loaded, rows)["score"].to_numpy(np.float64)
    label = rows[kind.label].to_numpy().astype(bool)
    thr = loaded.thresholds
    model = thr.levels(score)

    names = [n for n in variables(kind) if n in rows.columns]
    columns = {n: rows[n].tolist() for n in names}
    columns["score"] = score.tolist()
    order = [r.name for r in ruleset.rules]
    hits = {name: np.zeros(len(rows), bool) for name in order}
    combined = model.copy()
    severity = {a: i for i, a in enumerate(kind.decisions)}
    for i in range(len(rows)):
        verdict = ruleset.decide({n: v[i] for n, v in columns.items()}, every=True)
        if verdict is None:
            continue
        for name in (*verdict.matched, *verdict.shadow):
            hits[name][i] = True
        if verdict.rule is not None:
            combined[i] = severity[ruleset.overrule(kind.decisions[combined[i]], verdict.rule)]

    per_rule = []
    for rule in ruleset.rules:
        hit = hits[rule.name]
        n_hit = int(hit.sum())
        per_rule.append(
            {
                "rule": rule.name,
                "action": rule.action,
                "shadow": rule.shadow,
                "hits": n_hit,
                "hit_rate": n_hit / len(rows),
                "precision": float(label[hit].mean()) if n_hit else float("nan"),
                "caught": int((hit & label).sum()),
                "genuine": int((hit & ~label).sum()),
                "beyond_model": int((hit & label & (model == 0)).sum()),
            }
        )
    effect = [_effect("model alone", model, label), _effect("model + rules", combined, label)]
    return Backtest(
        kind=kind.name,
        start=start,
        end=end,
        events=len(rows),
        positives=int(label.sum()),
        rules=pd.DataFrame(per_rule),
        combined=pd.DataFrame(effect),
    )


def _effect(name: str, decision: np.ndarray, label: np.ndarray) -> dict[str, Any]:
    flagged, blocked = decision >= 1, decision == 2
    caught = int((flagged & label).sum())
    return {
        "policy": name,
        "flagged": int(flagged.sum()),
        "blocked": int(blocked.sum()),
        "caught": caught,
        "caught_blocked": int((blocked & label).sum()),
        "recall": caught / label.sum() if label.any() else float("nan"),
        "precision": caught / flagged.sum() if flagged.any() else float("nan"),
        "genuine_blocked": int((blocked & ~label).sum()),
    }
