"""Batch scoring without results: the scores, decisions, top reason codes and deciding rules
of many events or of a frame of them, what a backfill writes (``Scorer.score_codes`` and
``Scorer.frame_codes``)."""

from __future__ import annotations

from collections import ChainMap
from collections.abc import Iterable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from fraudscore._model.bundle import Thresholds
from fraudscore._model.runtime import scores_of
from fraudscore._online import Key
from fraudscore._serving.assembly import READ_CHUNK, Assembly
from fraudscore._serving.rules import RuleSet, Verdict
from fraudscore._serving.snapshot import Snapshot
from fraudscore._state import ABSENT

if TYPE_CHECKING:
    import pandas as pd

__all__ = ["CACHE_ROWS", "BatchCodes"]

#: States a backfill keeps per view across chunks (``frame_codes(cache=...)``).
CACHE_ROWS = 1_000_000


class BatchCodes:
    """Scores and codes of many events of one kind, read and assembled by ``assembly``."""

    def __init__(self, assembly: Assembly) -> None:
        self.assembly = assembly

    def score_codes(
        self, m: Snapshot, events: Sequence[Any], thr: Thresholds, k: int
    ) -> tuple[np.ndarray, list[str], list[list[str]], list[str | None]]:
        """Scores, decisions, top reason codes and deciding rules of many events, without
        building results or reason texts: what a backfill writes. The same state reads,
        features, graph and rules as :meth:`score_many`; a store failure always raises (a batch
        job is never degraded)."""
        self.assembly.check_batch(events)
        if not events:
            return np.zeros(0), [], [], []
        x, _, _, contrib, prob = self.assembly.batch(m.model, events, degrade=False)
        rules = m.rules
        verdicts: Iterable[Verdict | None] = ()
        if rules is not None:
            lists = rules.lists
            rows = zip(events, x.tolist(), prob.tolist(), strict=True)
            verdicts = (rules.decide_event(e, row, p, lists) for e, row, p in rows)
        return (prob, *self.codes(m, rules, thr, k, contrib, prob, verdicts))

    def codes(
        self,
        m: Snapshot,
        rules: RuleSet | None,
        thr: Thresholds,
        k: int,
        contrib: np.ndarray,
        prob: np.ndarray,
        verdicts: Iterable[Verdict | None],
    ) -> tuple[list[str], list[list[str]], list[str | None]]:
        """Decisions, top reason codes and deciding rules of scored events (the rules' verdicts
        in event order; none without rules)."""
        decisions = thr.decisions(prob, self.assembly.kind.decisions).tolist()
        codes = m.catalogue.top_codes(contrib, k)
        fired: list[str | None] = [None] * len(decisions)
        for i, verdict in enumerate(verdicts):
            if rules is not None and verdict is not None and verdict.rule is not None:
                fired[i] = verdict.rule.name
                decisions[i] = rules.overrule(decisions[i], verdict.rule)
                codes[i] = [verdict.rule.reason, *codes[i]]
        return decisions, codes, fired

    def frame_codes(
        self,
        m: Snapshot,
        frame: pd.DataFrame,
        thr: Thresholds,
        k: int,
        cache: list[dict[Key, np.ndarray]] | None = None,
    ) -> tuple[pd.DataFrame, np.ndarray, list[str], list[list[str]], list[str | None]]:
        """``Scorer.frame_codes`` of ``frame`` by snapshot ``m`` at ``thr``, ``k`` codes each."""
        kind = self.assembly.kind
        source = self.assembly.source
        prepared = kind.prepare(frame, labelled=False)
        n = len(prepared)
        if not n:
            return prepared, np.zeros(0), [], [], []
        cols = kind.frame_columns(prepared)
        cols["t"] = prepared["timestamp"].array.asi8 / 1e9
        x = np.empty((n, len(kind.features)))
        keys = [frame_keys(prepared, v.keys) for v in self.assembly.views]
        for lo in range(0, n, READ_CHUNK):
            hi = min(lo + READ_CHUNK, n)
            part_keys = [ks[lo:hi] for ks in keys]
            arrays = self.read_cached(part_keys, cache) if cache else source.read(part_keys)
            part = {k: v[lo:hi] for k, v in cols.items()}
            x[lo:hi] = self.assembly.arrays(part, arrays)[0]
        contrib = m.model.contributions(x)
        prob = scores_of(contrib)
        rules = m.rules
        verdicts: Iterable[Verdict | None] = ()
        if rules is not None:
            lists = rules.lists
            columns = {c: prepared[c].tolist() for c in rules.variables if c in prepared.columns}
            features = [(f, j) for j, f in enumerate(kind.features) if f not in columns]
            rows, scores = x.tolist(), prob.tolist()
            verdicts = (
                rules.decide(
                    {c: v[i] for c, v in columns.items()}
                    | {f: rows[i][j] for f, j in features}
                    | {"score": scores[i]},
                    lists,
                )
                for i in range(n)
            )
        return (prepared, prob, *self.codes(m, rules, thr, k, contrib, prob, verdicts))

    def read_cached(
        self, keys: Sequence[Sequence[Key]], cache: list[dict[Key, np.ndarray]]
    ) -> list[np.ndarray]:
        """Bulk read of the keys not yet in ``cache`` (kept up to ``CACHE_ROWS`` per view)."""
        todo = [
            list(dict.fromkeys(k for k in ks if k not in c))
            for ks, c in zip(keys, cache, strict=True)
        ]
        views = self.assembly.views
        fresh = self.assembly.source.read(todo) if any(todo) else [v.empty(0) for v in views]
        out = []
        for view, ks, c, new, rows in zip(views, keys, cache, todo, fresh, strict=True):
            known: Mapping[Key, np.ndarray] = c
            if new:
                got = dict(zip(new, rows, strict=True))
                if len(c) + len(got) <= CACHE_ROWS:
                    c.update(got)
                else:  # the cache is full: these serve this read only
                    known = ChainMap(got, c)
            out.append(np.array([known[k] for k in ks]) if ks else view.empty(0))
        return out


def frame_keys(frame: pd.DataFrame, names: Sequence[str]) -> list[Key]:
    """Each row's key of a view keyed by ``names``: ``ABSENT`` for a part the row lacks (a
    missing value, or a column the frame does not have), as ``EventKind.keys`` gives it."""
    n = len(frame)
    parts = [
        [ABSENT if v is None or v != v else v for v in frame[k].tolist()]
        if k in frame.columns
        else [ABSENT] * n
        for k in names
    ]
    return list(zip(*parts, strict=True))
