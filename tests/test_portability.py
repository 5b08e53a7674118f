"""Results that depend on neither the CPU, the BLAS kernel, the batch size nor float32's range.

CI runs the tests marked ``kernel`` once more under each OpenBLAS kernel the machine can run
(``OPENBLAS_CORETYPE``), and ``test_openblas_runs_the_kernel_ci_asked_for`` proves which ran.
"""

from __future__ import annotations

import math
import os
import warnings
from datetime import timedelta

import numpy as np
import pytest

from fraudscore import EventValidationError, Login, OfflineFeatures, Scorer, Transaction
from fraudscore._model.runtime import F32_MAX, as_model_input, score_of, scores_of

from .conftest import capture_features
from .test_fuzz import GOOD_LOGIN, GOOD_TX, NOW
from .test_scorer import assert_same_results, events_after_cutoff

pytestmark = pytest.mark.kernel


def wide_contributions(n: int, width: int, seed: int) -> np.ndarray:
    """Float32 contributions whose magnitudes span 1e-8 to 1e2 with both signs: sums of such
    values round differently in every order, so only one fixed order gives one answer."""
    rng = np.random.default_rng(seed)
    mags = 10.0 ** rng.uniform(-8, 2, (n, width))
    return (mags * rng.choice([-1.0, 1.0], (n, width))).astype(np.float32)


def test_code_sums_are_the_same_bits_alone_and_in_any_batch(scorer: Scorer) -> None:
    """A row's per-code sums are the float64 sum of its codes' features in feature order, bit
    for bit the same for the row alone and inside batches of any size."""
    catalogue = scorer._active.catalogue
    contrib = wide_contributions(2000, len(catalogue.features) + 1, seed=7)
    alone = [catalogue.code_sums(row) for row in contrib.tolist()]
    for size in (1, 2, 7, 64, 2000):
        for lo in range(0, len(contrib), size):
            batch = catalogue.code_sums_many(contrib[lo : lo + size]).tolist()
            assert batch == alone[lo : lo + size]
    # The order is the documented one: left to right over the code's features, in float64.
    for row, sums in zip(contrib.tolist()[:50], alone[:50], strict=True):
        want = [0.0] * len(catalogue.codes)
        for code, value in zip(catalogue.owners, row, strict=False):
            want[code] = want[code] + value
        assert sums == want


def test_scores_are_the_same_bits_alone_and_in_any_batch() -> None:
    """``scores_of`` of a batch equals ``score_of`` of each row bit for bit: the margin summed
    left to right in float64 (not Python's compensated ``sum``, not a pairwise reduction)."""
    contrib = wide_contributions(3000, 24, seed=11)
    alone = [score_of(row) for row in contrib.tolist()]
    for size in (1, 5, 3000):
        got = np.concatenate([scores_of(contrib[lo : lo + size]) for lo in range(0, 3000, size)])
        assert got.tolist() == alone
    margin = 0.0
    for value in contrib[0].tolist():
        margin += value
    assert alone[0] == 1.0 / (1.0 + math.exp(-margin)) or alone[0] == math.exp(margin) / (
        1.0 + math.exp(margin)
    )


#: Kernels OpenBLAS reports under another name: builds without a Prescott kernel of their own
#: run (and report) Katmai, the SSE kernel without AVX, for OPENBLAS_CORETYPE=Prescott.
ALIASES = {"prescott": {"prescott", "katmai"}}


def test_openblas_runs_the_kernel_ci_asked_for() -> None:
    """Under ``OPENBLAS_CORETYPE`` (CI's rerun of these tests), every OpenBLAS loaded runs that
    kernel, not the one it would pick for this CPU, so the rerun really exercised it."""
    wanted = os.environ.get("OPENBLAS_CORETYPE", "").lower()
    if not wanted:
        pytest.skip("OPENBLAS_CORETYPE is not set: the machine picks its own kernel")
    from threadpoolctl import threadpool_info

    infos = threadpool_info()
    ran = {i.get("architecture", "").lower() for i in infos if i["internal_api"] == "openblas"}
    assert ran and ran <= ALIASES.get(wanted, {wanted})


def test_batches_equal_single_scores_with_rules_and_challenger(
    scorer: Scorer, offline: OfflineFeatures
) -> None:
    """With every stage on (rules, lists, a challenger), a batch of any size scores each event
    as ``score`` does: the whole result, reasons and shadow verdicts included."""
    from fraudscore import starter_rules

    scorer.set_rules(starter_rules("transaction"))
    scorer.set_challenger(scorer.bundle)
    events = events_after_cutoff(offline, 150)
    single = [scorer.score(e) for e in events]
    for size in (1, 33, 150):
        batch = [r for lo in range(0, 150, size) for r in scorer.score_many(events[lo : lo + size])]
        assert_same_results(batch, single)
        assert [r.shadow for r in batch] == [r.shadow for r in single]


EDGES = [
    F32_MAX,
    3.4028235677973366e38,  # rounds to infinity in float32 (drawn by the fuzz test once)
    np.finfo(np.float64).max,
    1e15,
    math.nextafter(1e15, math.inf),
    1e38,
    5e-324,
    -0.0,
    -1e-300,
]


@pytest.mark.parametrize("value", EDGES)
def test_amounts_at_floats_edges_are_refused_or_scored_in_range(
    scorer: Scorer, value: float
) -> None:
    """An amount is refused by name unless it is at most 1e15; one accepted, recorded again and
    again and scored, gives features inside float32's range (no overflow, no infinity)."""
    tx_fields = {**GOOD_TX, "customer_id": "C-edge", "amount": value}
    if not 0 <= value <= 1e15:
        with pytest.raises(EventValidationError, match="'amount'.*from 0 to 1e\\+15"):
            Transaction(**tx_fields)
        return
    seen = capture_features(scorer)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        for i in range(30):
            tx = Transaction(**{**tx_fields, "timestamp": NOW + timedelta(minutes=i)})
            r = scorer.score(tx)
            scorer.record(tx)
            assert 0.0 <= r.score <= 1.0
    assert len(seen) == 30
    for row in seen:
        assert (np.isnan(row) | (np.abs(row) <= F32_MAX)).all()


@pytest.mark.parametrize("field", ["latitude", "longitude", "rtt_ms", "asn"])
@pytest.mark.parametrize("value", [F32_MAX, 1e300, 2**64, -1e10])
def test_login_numbers_at_floats_edges_are_refused_by_name(field: str, value: float) -> None:
    """A login's numbers far outside their range are refused, naming the field."""
    fields = {**GOOD_LOGIN, field: value}
    if field in ("latitude", "longitude"):
        fields |= {"latitude": value, "longitude": value}
    with pytest.raises(EventValidationError, match=field if field != "longitude" else "latitude"):
        Login(**fields)


def test_features_beyond_float32_are_clipped_alike_in_a_row_and_a_batch(scorer: Scorer) -> None:
    """A feature past float32's range reaches the graph as float32's largest finite value of its
    sign, whether it comes alone (``run_one``) or in a batch; NaN stays missing; no warning."""
    model = scorer._active.model
    n = model.n_features
    rows = []
    for big in (1e39, -1e39, math.inf, -math.inf, 1e308):
        row = [0.5] * n
        row[0], row[-1] = big, math.nan
        rows.append(row)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        batch = model.contributions(np.array(rows))
        for row, contrib in zip(rows, batch, strict=True):
            score, alone = model.run_one(row)
            assert alone == contrib.tolist()
            clipped = [math.copysign(F32_MAX, row[0]), *row[1:]]
            assert model.run_one(clipped) == (score, alone)
    seen: list[np.ndarray] = []
    real = model._contributions
    model._contributions = lambda x: (seen.append(x.copy()), real(x))[1]  # type: ignore[method-assign]
    try:
        model.run_one(rows[2])  # +inf: the graph gets float32's largest finite value
    finally:
        model._contributions = real  # type: ignore[method-assign]
    assert seen[0][0, 0] == np.float32(F32_MAX) and np.isnan(seen[0][0, -1])
    x = as_model_input(np.array(rows))
    assert x.dtype == np.float32 and np.isfinite(x[:, 0]).all() and np.isnan(x[:, -1]).all()
    assert np.abs(x[:, 0]).max() == np.float32(F32_MAX)
