"""Reason selection and text: top positive codes, deterministic ties, fallbacks, full coverage."""

from __future__ import annotations

import numpy as np
import pytest

from fraudscore import BundleError
from fraudscore._serving.reasons import ReasonCatalogue

CAT = {
    "version": "t/1",
    "codes": {
        "B_CODE": {"features": ["a", "b"], "template": "a is {a:.1f}", "fallback": "no a"},
        "A_CODE": {"features": ["c"], "template": "c is {c:.0f}", "fallback": "no c"},
        "C_CODE": {"features": ["d"], "template": "d {d}", "fallback": "none"},
    },
}


@pytest.fixture
def cat() -> ReasonCatalogue:
    return ReasonCatalogue(CAT, ["a", "b", "c", "d"], "test")


def test_codes_sum_their_features_and_only_positive_sums_count(cat: ReasonCatalogue) -> None:
    """B_CODE sums a and b; a code whose features cancel out, or are negative, is no reason."""
    contrib = [1.0, -1.0, 0.5, -0.2, 9.0]  # last = bias, never a reason
    sums = cat.code_sums(contrib)
    assert sums == cat.code_sums_many(np.array([contrib])).tolist()[0]
    top = cat.top(sums, 3)
    assert [cat.codes[i] for i, _ in top] == ["A_CODE"]


def test_ties_break_by_code_name(cat: ReasonCatalogue) -> None:
    """Equal contributions are ordered by code, so the output is deterministic."""
    sums = cat.code_sums([0.3, 0.0, 0.3, 0.3, 0.0])
    assert [cat.codes[i] for i, _ in cat.top(sums, 3)] == ["A_CODE", "B_CODE", "C_CODE"]
    assert [cat.codes[i] for i, _ in cat.top(sums, 2)] == ["A_CODE", "B_CODE"]


def test_template_is_filled_and_falls_back_on_missing_values(cat: ReasonCatalogue) -> None:
    """Templates fill event values; a NaN value switches to the code's fallback sentence."""
    i = cat.codes.index("B_CODE")
    assert cat.text(i, {"a": 6.12}) == "a is 6.1"
    assert cat.text(i, {"a": float("nan")}) == "no a"


def test_catalogue_must_cover_every_feature_exactly_once() -> None:
    """A feature with no code, or in two codes, is refused when the bundle is loaded."""
    with pytest.raises(BundleError, match="uncovered"):
        ReasonCatalogue(CAT, ["a", "b", "c", "d", "e"], "test")
    twice = {
        "codes": {**CAT["codes"], "D_CODE": {"features": ["a"], "template": "", "fallback": ""}}
    }
    with pytest.raises(BundleError, match="in reason codes"):
        ReasonCatalogue(twice, ["a", "b", "c", "d"], "test")
