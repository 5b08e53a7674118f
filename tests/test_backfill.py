"""Backfill: a whole file scored in chunks, equal to score_many, and the store untouched."""

from __future__ import annotations

from dataclasses import fields
from pathlib import Path

import pandas as pd
import pytest
from click.testing import CliRunner

from fraudscore import OfflineFeatures, Scorer, Transaction, backfill
from fraudscore._cli import main

from .conftest import CUTOFF
from .test_scorer import dump, events_after_cutoff


def canonical(offline: OfflineFeatures, n: int) -> pd.DataFrame:
    """The first ``n`` events after the cutoff, with every event field the history has."""
    frame = offline.frame
    cols = [f.name for f in fields(Transaction) if f.name in frame.columns]
    return frame.loc[frame["timestamp"] >= CUTOFF, cols].head(n).reset_index(drop=True)


@pytest.mark.kernel
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


@pytest.mark.kernel
def test_backfill_of_logins_equals_score_many(
    login_bundle_dir: Path, login_repo: Path, login_offline: OfflineFeatures, tmp_path: Path
) -> None:
    """The frame path on the kind with derived keys (device, ASN, the totals' scope)."""
    from fraudscore._kinds import LOGIN
    from fraudscore._kinds.login.frames import COLUMNS as LOGIN_COLUMNS
    from fraudscore._training.pipeline import to_events

    from .conftest import LOGIN_CUTOFF

    frame = login_offline.frame
    cols = [*LOGIN_COLUMNS, "device_id", "latitude", "longitude", "rtt_ms"]
    rows = frame.loc[frame["timestamp"] >= LOGIN_CUTOFF, cols].head(500).reset_index(drop=True)
    assert rows["device_id"].isna().any() and rows["device_id"].notna().any()
    data = tmp_path / "logins.parquet"
    rows.to_parquet(data)
    scorer = Scorer.open(login_bundle_dir, login_repo)
    report = backfill(scorer, data, tmp_path / "out.parquet", chunk_size=128)
    out = pd.read_parquet(report.out)
    expected = scorer.score_many(to_events(rows, LOGIN))
    assert out["login_id"].tolist() == [r.event_id for r in expected]
    assert out["score"].tolist() == pytest.approx([r.score for r in expected], abs=1e-9)
    assert out["decision"].tolist() == [r.decision for r in expected]


@pytest.mark.kernel
def test_backfill_applies_the_rules_and_names_them(
    scorer: Scorer, offline: OfflineFeatures, tmp_path: Path
) -> None:
    rules = tmp_path / "rules.toml"
    rules.write_text(
        'kind = "transaction"\n[[rules]]\nname = "big"\naction = "decline"\n'
        'when = "amount > 60.0 && channel == \'pos\'"\nreason = "BIG"\n'
    )
    scorer.set_rules(rules)
    frame = canonical(offline, 300)
    data = tmp_path / "events.parquet"
    frame.to_parquet(data)
    out = pd.read_parquet(backfill(scorer, data, tmp_path / "out.parquet", chunk_size=100).out)
    expected = scorer.score_many(events_after_cutoff(offline, 300))
    assert any(r.rule == "big" for r in expected) and any(r.rule is None for r in expected)
    assert out["rule"].tolist() == [r.rule for r in expected]
    assert out["decision"].tolist() == [r.decision for r in expected]
    assert (out.loc[out["rule"] == "big", "reason_1"] == "BIG").all()


def test_backfill_refuses_a_bad_row_naming_it(
    scorer: Scorer, offline: OfflineFeatures, tmp_path: Path
) -> None:
    from fraudscore import BadRowsError

    frame = canonical(offline, 50)
    frame.loc[7, "amount"] = -3.0
    data = tmp_path / "events.parquet"
    frame.to_parquet(data)
    with pytest.raises(BadRowsError, match=r"amount.*-3\.0"):
        backfill(scorer, data, tmp_path / "out.parquet")


@pytest.mark.kernel
def test_backfill_past_the_state_cache_cap_gives_the_same_scores(
    scorer: Scorer, offline: OfflineFeatures, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """States read once per backfill are cached per view up to a cap; past it, reads still
    serve their chunk. A cap of 5 entries must change no result."""
    import fraudscore._serving.codes as codes_module

    frame = canonical(offline, 300)
    data = tmp_path / "events.parquet"
    frame.to_parquet(data)
    full = pd.read_parquet(backfill(scorer, data, tmp_path / "a.parquet", chunk_size=50).out)
    monkeypatch.setattr(codes_module, "CACHE_ROWS", 5)
    capped = pd.read_parquet(backfill(scorer, data, tmp_path / "b.parquet", chunk_size=50).out)
    pd.testing.assert_frame_equal(full, capped)
    expected = scorer.score_many(events_after_cutoff(offline, 300))
    assert capped["score"].tolist() == pytest.approx([r.score for r in expected], abs=1e-9)
