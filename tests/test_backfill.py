"""Backfill: a whole file scored in chunks, equal to score_many, and the store untouched."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest
from click.testing import CliRunner

from fraudscore import OfflineFeatures, Scorer, backfill
from fraudscore._cli import main

from .conftest import CUTOFF
from .test_scorer import dump, events_after_cutoff


def canonical(offline: OfflineFeatures, n: int) -> pd.DataFrame:
    frame = offline.frame
    cols = ["transaction_id", "timestamp", "customer_id", "terminal_id", "amount", "channel"]
    return frame.loc[frame["timestamp"] >= CUTOFF, cols].head(n).reset_index(drop=True)


def test_backfill_equals_score_many_and_writes_nothing(
    scorer: Scorer, offline: OfflineFeatures, repo: Path, tmp_path: Path
) -> None:
    """Chunk by chunk, every event's score, decision and reason codes equal score_many's; the
    online store is byte for byte unchanged."""
    data = tmp_path / "events.parquet"
    frame = canonical(offline, 400)
    frame.to_parquet(data)
    before = dump(repo)
    seen: list[int] = []
    report = backfill(scorer, data, tmp_path / "out.parquet", chunk_size=64, on_chunk=seen.append)
    assert dump(repo) == before
    assert report.events == len(frame) == sum(seen) and len(seen) == 7
    out = pd.read_parquet(report.out)
    expected = scorer.score_many(events_after_cutoff(offline, 400))
    assert out["transaction_id"].tolist() == [r.event_id for r in expected]
    assert out["score"].tolist() == pytest.approx([r.score for r in expected], abs=1e-9)
    assert out["decision"].tolist() == [r.decision for r in expected]
    codes = [[c for c in row if c] for row in out[["reason_1", "reason_2", "reason_3"]].values]
    assert codes == [[r.code for r in res.reasons] for res in expected]


def test_backfill_from_the_cli(
    bundle_dir: Path, repo: Path, offline: OfflineFeatures, tmp_path: Path
) -> None:
    """fraudscore score --data --out writes every event and reports events/s."""
    data = tmp_path / "events.parquet"
    canonical(offline, 300).to_parquet(data)
    out = tmp_path / "scores.parquet"
    result = CliRunner().invoke(
        main,
        ["score", "--bundle", str(bundle_dir), "--repo", str(repo), "--data", str(data),
         "--out", str(out), "--chunk-size", "100"],
        catch_exceptions=False,
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    assert "events/s" in result.output and "300 events scored" in result.output
    assert len(pd.read_parquet(out)) == 300
