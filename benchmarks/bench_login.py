"""Login scoring benchmarks: all nine views, fraudscore and its peers on one SQLite store."""

from __future__ import annotations

from typing import Any

import pytest

from fraudscore import Scorer

from .conftest import LeanPath, UserPath, bench_peer, bench_read, cycle

OURS = "test_score_login_fraudscore"


@pytest.mark.benchmark(group="score-login")
def test_score_login_fraudscore(
    benchmark: Any, login_scorer: Scorer, login_world: dict[str, Any]
) -> None:
    """score() for a login: one statement over nine views, one ONNX pass, reasons."""
    nxt = cycle(login_world["live"])
    result = benchmark(lambda: login_scorer.score(nxt()))
    assert result.decision in ("allow", "challenge", "deny")


@pytest.mark.benchmark(group="score-login")
def test_score_login_user_path(
    benchmark: Any, login_user_path: UserPath, login_world: dict[str, Any], login_scorer: Scorer
) -> None:
    """The common user path for logins: get_online_features + onnxmltools + pred_contribs."""
    bench_peer(benchmark, login_user_path, login_world["live"], login_scorer, OURS)


@pytest.mark.benchmark(group="score-login")
def test_score_login_lean_path(
    benchmark: Any, login_lean_path: LeanPath, login_world: dict[str, Any], login_scorer: Scorer
) -> None:
    """The strongest peer for logins: same read and features, Saabas contributions, sigmoid."""
    bench_peer(benchmark, login_lean_path, login_world["live"], login_scorer, OURS)


@pytest.mark.benchmark(group="score-login")
def test_read_login_get_online_features(
    benchmark: Any, login_lean_path: LeanPath, login_world: dict[str, Any], login_scorer: Scorer
) -> None:
    """get_online_features(...).to_dict() alone for a login's nine views."""
    bench_read(benchmark, login_lean_path, login_world["live"], login_scorer, OURS)
