"""Login scoring benchmarks: all six views, against the user's get_online_features path."""

from __future__ import annotations

from typing import Any

import pytest

from fraudscore import Scorer

from .conftest import UserPath, cycle


@pytest.mark.benchmark(group="score-login")
def test_score_login_fraudscore(
    benchmark: Any, login_scorer: Scorer, login_world: dict[str, Any]
) -> None:
    """score() for a login: one statement over six views, one ONNX pass, reasons."""
    nxt = cycle(login_world["live"])
    result = benchmark(lambda: login_scorer.score(nxt()))
    assert result.decision in ("allow", "challenge", "deny")


@pytest.mark.benchmark(group="score-login")
def test_score_login_user_path(
    benchmark: Any, login_user_path: UserPath, login_world: dict[str, Any], login_scorer: Scorer
) -> None:
    """The user's path for logins: get_online_features + onnxmltools + pred_contribs."""
    nxt = cycle(login_world["live"])
    score, _ = benchmark(lambda: login_user_path.score(nxt()))
    assert 0.0 <= score <= 1.0
    event = login_world["live"][0]
    assert login_user_path.score(event)[0] == pytest.approx(
        login_scorer.score(event).score, abs=1e-5
    )
