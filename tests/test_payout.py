"""Payouts end to end: validation, the simulator, skew (offline fold = online replay on a real
Feast store), reasons, evaluation against the baselines, the CLI and the starter rules."""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner

import fraudscore as fs
from fraudscore import EventValidationError, Scorer
from fraudscore._cli import main
from fraudscore._errors import BadRowsError
from fraudscore._kinds.payout import CATALOGUE, FEATURES, VIEWS
from fraudscore._kinds.payout import KIND as PAYOUT
from fraudscore._kinds.payout.evaluation import rule_scores
from fraudscore._kinds.payout.events import Payout, PayoutLabel
from fraudscore._kinds.payout.frames import prepare_payouts
from fraudscore._kinds.payout.simulate import PATTERNS, PayoutSimConfig, simulate_payouts
from fraudscore._model.fit import TrainConfig
from fraudscore._training.offline import OfflineFeatures
from fraudscore._training.pipeline import replay

from .conftest import built, capture_features, copy_repo, private_copy

SMALL = PayoutSimConfig(n_accounts=600, n_days=40, seed=19)
CUTOFF = pd.Timestamp("2018-05-09", tz="UTC")
TRAIN = (date(2018, 4, 5), date(2018, 4, 30))
CHEAP = TrainConfig(n_estimators=60, early_stopping_rounds=10, refit=False)
T0 = datetime(2018, 5, 1, 12, tzinfo=UTC)
GOOD: dict[str, Any] = dict(
    payout_id="p1",
    timestamp=T0,
    account_id="A1",
    beneficiary_id="B1",
    amount=250.0,
    method="instant",
    balance=1200.0,
    device_id="dev-1",
    ip="198.51.100.7",
    country="DE",
)


@pytest.fixture(scope="module")
def sim() -> pd.DataFrame:
    return simulate_payouts(SMALL)


@pytest.fixture(scope="module")
def plain(sim: pd.DataFrame) -> OfflineFeatures:
    """The simulated history folded as if every payout had been released."""
    return fs.build_features(sim, "payout")


@pytest.fixture(scope="module")
def bundle_dir(tmp_path_factory: pytest.TempPathFactory, plain: OfflineFeatures) -> Path:
    out = tmp_path_factory.mktemp("payout_bundle") / "bundle"
    return Path(fs.train_model(plain, *TRAIN, out, config=CHEAP).bundle.path)


@pytest.fixture(scope="module")
def offline(sim: pd.DataFrame, bundle_dir: Path) -> OfflineFeatures:
    """The history with what the bundle, in service after its training window, decided for
    each payout: holds and blocks move the flagged accumulators and not the ``ok`` clock."""
    since = datetime.combine(TRAIN[1] + timedelta(days=1), datetime.min.time(), UTC)
    return fs.build_features(fs.with_decisions(sim, bundle_dir, since=since), "payout")


@pytest.fixture(scope="module")
def built_repo(tmp_path_factory: pytest.TempPathFactory, offline: OfflineFeatures) -> Path:
    return built(tmp_path_factory.mktemp("feast_payout"), offline, CUTOFF)


# Events and frames ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("field", "value", "expected"),
    [
        ("payout_id", "", "non-empty string"),
        ("timestamp", datetime(2018, 5, 1), "timezone-aware"),
        ("account_id", 7, "non-empty string"),
        ("beneficiary_id", " ", "non-empty string"),
        ("amount", -1.0, "finite number"),
        ("amount", float("nan"), "finite number"),
        ("amount", True, "finite number"),
        ("method", "cheque", "one of"),
        ("balance", -5.0, "finite number"),
        ("balance", float("inf"), "finite number"),
        ("device_id", "", "non-empty string"),
        ("ip", "999.1.1.1", "IPv4 or IPv6"),
        ("country", "de", "ISO-3166"),
    ],
)
def test_bad_payout_field_is_named(field: str, value: Any, expected: str) -> None:
    """Each bad payout field raises EventValidationError naming the field and the expectation."""
    with pytest.raises(EventValidationError) as info:
        Payout(**{**GOOD, field: value})
    assert info.value.field == field and expected in str(info.value)


def test_optional_fields_and_labels() -> None:
    """Optional fields may be left out; a label needs a UTC time and a bool outcome."""
    bare = Payout("p2", T0, "A1", "B1", 0.0, "bank_transfer")
    assert bare.balance is None and bare.country is None
    PayoutLabel("p2", "A1", "B1", T0)
    with pytest.raises(EventValidationError, match="label_time"):
        PayoutLabel("p2", "A1", "B1", datetime(2018, 5, 1))
    with pytest.raises(EventValidationError, match="is_fraud"):
        PayoutLabel("p2", "A1", "B1", T0, is_fraud=1)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("column", "value"),
    [
        ("amount", -3.0),
        ("amount", True),
        ("amount", "12"),
        ("method", "cheque"),
        ("balance", -1.0),
        ("balance", False),
        ("balance", "12.5"),
        ("ip", "not-an-ip"),
        ("country", "Germany"),
        ("account_id", ""),
        ("decision", "approve"),
    ],
)
def test_frame_validation_names_column_and_row(sim: pd.DataFrame, column: str, value: Any) -> None:
    """A bad cell is refused naming its column and row (a bool or a numeric string is no
    amount, as for a Payout); with bad_rows='drop' only it goes."""
    df = sim.head(50).copy()
    if column == "decision":
        df["decision"] = "release"
    df[column] = df[column].astype(object)
    df.loc[7, column] = value
    with pytest.raises(BadRowsError) as info:
        prepare_payouts(df)
    problems = info.value.problems
    assert info.value.field == column and info.value.total == 1, problems
    ((reason, (count, examples)),) = problems.items()
    assert reason.startswith(f"{column}: ") and count == 1
    assert examples == [(7, value)] and type(examples[0][1]) is type(value)
    assert f"row 7: {value!r}" in str(info.value)
    kept = prepare_payouts(df, bad_rows="drop")
    assert len(kept) == 49 and df.loc[7, "payout_id"] not in set(kept["payout_id"])


def test_frame_without_optional_columns_and_missing_label_time(sim: pd.DataFrame) -> None:
    """Only the canonical columns are required; a missing label_time is timestamp + delay."""
    df = sim.head(20)[["payout_id", "timestamp", "account_id", "beneficiary_id", "amount",
                       "method", "is_fraud"]]  # fmt: skip
    out = prepare_payouts(df, label_delay=timedelta(days=3))
    assert out["balance"].isna().all() and out["device_id"].isna().all()
    assert (out["label_time"] - out["timestamp"] == pd.Timedelta(days=3)).all()


# The simulator ----------------------------------------------------------------------------------


def test_simulator_is_deterministic_with_every_pattern(sim: pd.DataFrame) -> None:
    """Same seed, same frame; every fraud pattern is present and labelled, genuine is 'none'."""
    assert sim.equals(simulate_payouts(SMALL))
    assert not sim.equals(simulate_payouts(replace(SMALL, seed=6)))
    assert set(sim["fraud_pattern"]) == {"none", *PATTERNS}
    assert ((sim["fraud_pattern"] != "none") == (sim["is_fraud"] == 1)).all()
    assert (sim["label_time"] >= sim["timestamp"]).all()
    prepare_payouts(sim)  # canonical and valid


def test_default_simulation_is_realistic() -> None:
    """2,000 accounts x 60 days simulate with 0.5-2% fraud; no payout exceeds the
    balance (the bank refuses it); people pay at night now and then, so night alone is no
    fraud signal; takeovers drain the balance by fast methods, mule collections gather many
    senders."""
    df = simulate_payouts()
    assert 0.005 <= df["is_fraud"].mean() <= 0.02
    ato = df[df["fraud_pattern"] == "account_takeover"]
    genuine = df[df["fraud_pattern"] == "none"]
    assert not (df["amount"] > df["balance"]).any() and (df["balance"] > 0).all()
    night = df["timestamp"].dt.hour < 6
    assert 0.01 <= night[df["is_fraud"] == 0].mean() <= 0.03
    assert df.loc[night, "is_fraud"].mean() < 0.2, "most night payouts are genuine"
    share = lambda f: (f["amount"] / f["balance"].clip(lower=1)).median()  # noqa: E731
    assert share(ato) > 5 * share(genuine)
    assert ato["method"].isin(["instant", "card", "wallet"]).all()
    mules = df[df["fraud_pattern"] == "mule_collection"].groupby("beneficiary_id")
    assert mules["account_id"].nunique().max() >= 5


# Online = offline -------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def replayed(
    bundle_dir: Path, built_repo: Path, offline: OfflineFeatures, tmp_path_factory: Any
) -> tuple[Scorer, list[np.ndarray], list[tuple[Any, Any]]]:
    """Two days after the cutoff replayed through score/record (and labels through
    record_label) on a private copy of the built store, the served features captured."""
    scorer = Scorer.open(bundle_dir, private_copy(built_repo, tmp_path_factory.mktemp("replay")))
    captured = capture_features(scorer)
    end = CUTOFF + pd.Timedelta(days=2)
    results = replay(scorer, offline.frame, CUTOFF.to_pydatetime(), end.to_pydatetime())
    return scorer, captured, results


def test_skew_payout_replay_equals_offline_frame(
    replayed: tuple[Scorer, list[np.ndarray], list[tuple[Any, Any]]], offline: OfflineFeatures
) -> None:
    """Replaying payouts and labels through score/record, each payout recorded with the
    decision served for it (holds and blocks included), on a real Feast store gives the
    offline fold's features at every payout."""
    _, captured, results = replayed
    ids = [e.payout_id for e, _ in results]
    assert len(ids) > 150
    expected = offline.frame.set_index("payout_id").loc[ids, list(FEATURES)].to_numpy()
    np.testing.assert_allclose(np.vstack(captured), expected, rtol=1e-9, atol=1e-9)
    # Labels, fan-in and new beneficiaries were exercised in the window.
    col = {f: expected[:, i] for i, f in enumerate(FEATURES)}
    assert (col["ben_fraud_90d"] > 0).any() and (col["new_beneficiary"] == 1).any()
    assert (col["pair_n_90d"] > 0).any() and (col["ben_senders_7d"] > 1).any()
    # Held and blocked payouts were recorded as such, and the defence's suspicion moved.
    served = offline.frame.set_index("payout_id").loc[ids, "decision"]
    assert {"hold", "block"} <= set(served.dropna())
    assert (col["acct_flagged_1d"] > 0).any() and (col["ben_flagged_1d"] > 0).any()
    assert {r.decision for _, r in results} <= {"release", "hold", "block"}


def test_fraud_payout_carries_catalogue_reasons(
    replayed: tuple[Scorer, list[np.ndarray], list[tuple[Any, Any]]], sim: pd.DataFrame
) -> None:
    """A scored fraudulent payout gets reason codes from the payout catalogue, rendered, and a
    score far above the usual payout's; a rejected event writes nothing."""
    scorer, _, results = replayed
    pattern = dict(zip(sim["payout_id"], sim["fraud_pattern"], strict=True))
    fraud = [(e, r) for e, r in results if pattern[e.payout_id] != "none"]
    genuine = [r.score for e, r in results if pattern[e.payout_id] == "none"]
    assert fraud and genuine
    event, best = max(fraud, key=lambda x: x[1].score)
    assert best.decision in ("hold", "block") and best.score > 5 * float(np.median(genuine))
    codes = set(CATALOGUE["codes"])
    assert best.reasons and all(r.code in codes for r in best.reasons)
    assert all(r.text and "{" not in r.text and "Error" not in r.text for r in best.reasons)
    keys = PAYOUT.keys(event)
    before = scorer.source.read_one(keys)
    later = replace(event, payout_id="p-later", timestamp=event.timestamp + timedelta(hours=1))
    with pytest.raises(EventValidationError, match="event"):  # a batch is written whole or not
        scorer.record_many([later, fs.Label("t", "C", "T", T0)])  # another kind's event
    with pytest.raises(EventValidationError, match="event"):
        scorer.record(fs.Label("t", "C", "T", T0))
    after = scorer.source.read_one(keys)
    for a, b in zip(after, before, strict=True):
        np.testing.assert_array_equal(np.asarray(a), np.asarray(b))


@pytest.mark.parametrize(
    ("code", "change", "event", "expected"),
    [
        ("BENEFICIARY_COUNTRY", {"country_changed": 1.0}, {"country": "LT"},
         "beneficiary bank in LT, the account's previous payout went to another country"),
        ("BENEFICIARY_COUNTRY", {"country_changed": 0.0}, {"country": "LT"},
         "beneficiary bank in LT, as for the account's previous payout"),
        ("BENEFICIARY_COUNTRY", {}, {"country": "LT"},
         "beneficiary bank in LT; no earlier payout's country to compare with"),
        ("BENEFICIARY_COUNTRY", {}, {"country": None}, "beneficiary bank country not given"),
        ("INSTANT_METHOD", {"fast_method": 1.0}, {"method": "instant"},
         "instant payout: the money lands in seconds and can hardly be recalled"),
        ("INSTANT_METHOD", {"fast_method": 0.0}, {"method": "bank_transfer"},
         "payout by bank transfer, not an instant method"),
        ("NEW_DEVICE_OR_IP", {"device_changed": 1.0, "ip_changed": 1.0}, {},
         "compared with the account's previous payout: a different device, a different IP "
         "address"),
        ("NEW_DEVICE_OR_IP", {"device_changed": 0.0, "ip_changed": 1.0}, {},
         "compared with the account's previous payout: the same device, a different IP address"),
        ("NEW_DEVICE_OR_IP", {"ip_changed": 1.0}, {"device_id": None},
         "compared with the account's previous payout: device not given, a different IP "
         "address"),
        ("NEW_DEVICE_OR_IP", {"device_changed": 1.0}, {},
         "compared with the account's previous payout: a different device, no earlier IP "
         "address to compare with"),
    ],
)  # fmt: skip
def test_reason_text_says_only_what_the_features_say(
    code: str, change: dict[str, float], event: dict[str, Any], expected: str
) -> None:
    """A change reason states a change only when the feature it explains is 1.0; else (the
    same, or unknown: NaN) its text says what is known, one clause per unknown side."""
    from fraudscore._kinds.payout import DISPLAY
    from fraudscore._serving.reasons import ReasonCatalogue, TemplateValues

    catalogue = ReasonCatalogue(CATALOGUE, FEATURES, "payout")
    values = {f: float("nan") for f in FEATURES} | {"fast_method": 0.0} | change
    payout = Payout(**{**GOOD, **event})
    text = catalogue.text(catalogue.codes.index(code), TemplateValues(values, payout, DISPLAY))
    assert text == expected


#: A typical payout's features (consistent with ``GOOD``: 250.00 from a balance of 1200.00).
TYPICAL: dict[str, float] = dict(
    amount=250.0, hour_of_day=3.2, fast_method=1.0, balance_share=250.0 / 1200.0,
    drain_1h=(300.0 + 250.0) / (1200.0 + 300.0), acct_secs_since_last=2400.0, acct_n_1h=1.5,
    acct_n_1d=3.2, acct_n_7d=5.0, acct_n_30d=12.0, amt_ratio_30d=2.5, amt_ratio_90d=2.2,
    outflow_spike_1d_30d=4.0, acct_fraud_30d=0.4, acct_flagged_1d=1.0, device_changed=1.0,
    ip_changed=0.0, country_changed=1.0, new_beneficiary=0.0, pair_n_90d=2.4,
    pair_secs_since_last=3 * 86400.0, pair_amt_ratio_90d=1.8, ben_n_1d=6.0, ben_n_7d=8.0,
    ben_n_30d=9.0, ben_senders_1d=5.5, ben_senders_7d=7.0, ben_new_sender_share_7d=7.0 / 8.0,
    ben_fraud_30d=1.0, ben_fraud_90d=1.5, ben_flagged_1d=2.0,
)  # fmt: skip
_NEVER_RELEASED = (
    "no earlier payout from this account to this beneficiary was released in the last 400 days "
    "(held or blocked ones are not counted)"
)
_NO_BENEFICIARY = "beneficiary not seen in the last 180 days (no payout asked for into it)"
_NO_ACCOUNT = "account asked for no payout in the last 180 days"
#: (features, event fields, the exact text of some codes) of each crafted case.
RENDER_CASES: dict[str, tuple[dict[str, float], dict[str, Any], dict[str, str]]] = {
    "all NaN": ({f: float("nan") for f in FEATURES}, {}, {
        "NEW_BENEFICIARY": _NEVER_RELEASED,
        "BALANCE_DRAIN": "balance not given",
        "ACCOUNT_HISTORY": _NO_ACCOUNT,
        "BENEFICIARY_FAN_IN": _NO_BENEFICIARY,
        "OUTFLOW_SPIKE": "account has no payout history to compare the last day's payouts "
        "asked for with",
        "AMOUNT_UNUSUAL": "amount 250.00 from an account with no payout asked for in the last "
        "180 days",
        "PAYOUT_VELOCITY": "no earlier payout asked for from this account in the last 180 days",
        "AMOUNT_UNUSUAL_FOR_BENEFICIARY": "no earlier released payout from this account to this "
        "beneficiary to compare the amount with",
    }),
    "all 0": ({f: 0.0 for f in FEATURES}, {"amount": 0.0, "balance": 0.0}, {
        "NEW_BENEFICIARY": _NEVER_RELEASED,
        "BALANCE_DRAIN": "payout of 0.00 against a balance of 0.00",
        "ACCOUNT_HISTORY": _NO_ACCOUNT,
        "BENEFICIARY_FAN_IN": _NO_BENEFICIARY,
        "PAYOUT_VELOCITY": "no earlier payout asked for from this account in the last 180 days",
        "ACCOUNT_CONFIRMED_FRAUD": "account has no confirmed fraud on record",
        "ACCOUNT_RECENTLY_FLAGGED": "no payout of this account was held or blocked recently",
        "BENEFICIARY_CONFIRMED_FRAUD": "beneficiary has no confirmed fraud on record",
        "BENEFICIARY_RECENTLY_FLAGGED": "no payout into this beneficiary was held or blocked "
        "recently",
    }),
    "typical": (TYPICAL, {}, {
        "NEW_BENEFICIARY": "the account's last released payout to this beneficiary was 3.0 days "
        "ago (about 2.4 released payouts to it, time-weighted over 90 days)",
        "BALANCE_DRAIN": "payout takes 21% of the balance of 1200.00; with the last hour's "
        "other payouts asked for, 37% of the balance an hour ago",
        "ACCOUNT_HISTORY": "account activity: about 5.0 payouts asked for in 7 days, 12.0 in 30 "
        "days (time-weighted)",
        "BENEFICIARY_FAN_IN": "about 6.0 payouts asked for into this beneficiary in the last "
        "day, 5.5 of them from accounts with no earlier released payout to it (time-weighted)",
        "OUTFLOW_SPIKE": "payouts asked for in the last day, this one included, come to 4.0x "
        "this account's daily average (time-weighted over 30 days)",
        "AMOUNT_UNUSUAL": "amount 250.00 is 2.5x this account's average payout asked for "
        "(time-weighted over 30 days)",
        "PAYOUT_VELOCITY": "about 1.5 payouts asked for from this account in the last hour and "
        "3.2 in the last day (time-weighted); the previous one 40 min ago",
        "ACCOUNT_CONFIRMED_FRAUD": "account has about 0.4 confirmed fraudulent payout(s) "
        "(time-weighted over 30 days from confirmation)",
        "AMOUNT_UNUSUAL_FOR_BENEFICIARY": "amount is 1.8x this account's average released "
        "payout to this beneficiary (time-weighted over 90 days)",
        "BENEFICIARY_CONFIRMED_FRAUD": "payouts to this beneficiary confirmed fraudulent: about "
        "1.0 in 30 days, 1.5 in 90 days (time-weighted from confirmation; a sign of a mule "
        "account)",
    }),
    "held retry": (TYPICAL | {
        "new_beneficiary": 1.0, "pair_n_90d": 0.0, "pair_secs_since_last": float("nan"),
        "pair_amt_ratio_90d": float("nan"),
    }, {}, {"NEW_BENEFICIARY": _NEVER_RELEASED}),
    "balance missing": (TYPICAL | {"balance_share": float("nan"), "drain_1h": float("nan")},
                        {"balance": None}, {"BALANCE_DRAIN": "balance not given"}),
    "balance 0.00": (TYPICAL | {"balance_share": 250.0, "drain_1h": 550.0 / 300.0},
                     {"balance": 0.0},
                     {"BALANCE_DRAIN": "payout of 250.00 against a balance of 0.00"}),
    "balance 0.50": (TYPICAL | {"balance_share": 250.0, "drain_1h": 550.0 / 300.5},
                     {"balance": 0.5},
                     {"BALANCE_DRAIN": "payout of 250.00 against a balance of 0.50"}),
    "means under one unit": (TYPICAL | {"amt_ratio_30d": 250.0, "pair_amt_ratio_90d": 250.0,
                                        "outflow_spike_1d_30d": 400.0}, {}, {
        "AMOUNT_UNUSUAL": "amount 250.00 is at least 250.0x this account's average payout "
        "asked for (time-weighted over 30 days)",
        "AMOUNT_UNUSUAL_FOR_BENEFICIARY": "amount is at least 250.0x this account's average "
        "released payout to this beneficiary (time-weighted over 90 days)",
        "OUTFLOW_SPIKE": "payouts asked for in the last day, this one included, come to at "
        "least 400.0x this account's daily average (time-weighted over 30 days)",
    }),
}  # fmt: skip


@pytest.mark.parametrize("case", sorted(RENDER_CASES))
def test_every_reason_renders_true_text(case: str) -> None:
    """Every code's text through the serving path (``ReasonCatalogue.text`` on
    ``TemplateValues``, as ``decide`` calls them) for crafted features: no history (NaN), all 0,
    a typical payout, a balance missing or under one unit. No rendering raises or leaves a
    placeholder, and the texts that used to be false read what the features mean."""
    from fraudscore._kinds.payout import DISPLAY
    from fraudscore._serving.reasons import ReasonCatalogue, TemplateValues

    features, event, expected = RENDER_CASES[case]
    catalogue = ReasonCatalogue(CATALOGUE, FEATURES, "payout")
    assert catalogue.version == "payout-reasons/3"
    values = TemplateValues(features, Payout(**{**GOOD, **event}), DISPLAY)
    texts = {code: catalogue.text(i, values) for i, code in enumerate(catalogue.codes)}
    assert set(texts) == set(CATALOGUE["codes"])
    for code, text in texts.items():
        assert text and not {"{", "}"} & set(text), (code, text)
        assert "nan" not in text.split() and "in template" not in text, (code, text)
    assert {code: texts[code] for code in expected} == expected


# Evaluation -------------------------------------------------------------------------------------


#: How far under the logistic regression's average precision the model may fall: the model is
#: on par with it, not robustly better (docs/payouts.md: seed 7 here, 0.893 against 0.907).
LR_TOLERANCE = 0.03


@pytest.mark.parametrize("seed", [7, 1])
def test_model_beats_the_new_beneficiary_rule(tmp_path: Path, seed: int) -> None:
    """On the default simulated payouts the model's average precision clears the rule a fraud
    team writes first by a wide margin and is about the logistic regression's (within
    LR_TOLERANCE), holding its riskiest 1% catches at least 80% of what 1% can hold, and
    evaluation reports both baselines."""
    features = fs.build_features(simulate_payouts(replace(PayoutSimConfig(), seed=seed)), "payout")
    a, b, c, d = fs.default_windows(features.frame, train_days=35)
    fs.train_model(features, a, b, tmp_path / "b", config=replace(CHEAP, n_estimators=200))
    result = fs.evaluate(tmp_path / "b", features, c, d)
    models = result.metrics["models"]
    assert set(models) == {
        "model",
        "baseline_logistic_regression",
        "baseline_new_beneficiary_rule",
    }
    assert result.metrics["test_frauds"] > 20
    ap = {name: m["average_precision"] for name, m in models.items()}
    assert ap["model"] > ap["baseline_new_beneficiary_rule"] + 0.5, ap
    assert ap["model"] >= ap["baseline_logistic_regression"] - LR_TOLERANCE, ap
    assert ap["model"] > 0.8 and models["model"]["roc_auc"] > 0.97, ap
    n, frauds = result.metrics["test_payouts"], result.metrics["test_frauds"]
    ceiling = min(1.0, max(1, round(0.01 * n)) / frauds)
    assert models["model"]["recall_at_1pct_hold"] >= 0.8 * ceiling, (models["model"], ceiling)


def test_rule_scores_only_new_beneficiaries() -> None:
    """The rule baseline scores 0 for a known beneficiary and doubles for instant money."""
    frame = pd.DataFrame(
        {
            "new_beneficiary": [0.0, 1.0, 1.0, 1.0],
            "amt_ratio_30d": [9.0, 3.0, 3.0, np.nan],
            "amount": [900.0, 300.0, 300.0, 50.0],
            "fast_method": [1.0, 0.0, 1.0, 0.0],
        }
    )
    np.testing.assert_array_equal(rule_scores(frame), [0.0, 3.0, 6.0, 50.0])


# The CLI and the starter rules ------------------------------------------------------------------


def invoke(*args: str) -> Any:
    result = CliRunner().invoke(main, list(args), catch_exceptions=False)
    assert result.exit_code == 0, result.output
    return result


def test_cli_payout_pipeline(tmp_path: Path) -> None:
    """simulate, apply, materialize, train, evaluate and score --event with --kind payout; a
    bad --event field fails in one line with exit code 2."""
    data = str(tmp_path / "payouts.parquet")
    repo = str(copy_repo(tmp_path / "feature_repo"))
    out = invoke("simulate", "--kind", "payout", "--out", data, "--size", "500", "--days", "40")
    assert "payouts" in out.output
    applied = invoke("apply", "--kind", "payout", "--repo", repo, "--data", data).output
    assert "beneficiary_state" in applied
    invoke("materialize", "--repo", repo, "--end", "2018-05-05T00:00:00+00:00")
    bundle = str(tmp_path / "bundle")
    # The default path: a kind without red-team attackers trains on its history alone.
    invoke("train", "--kind", "payout", "--data", data, "--train-start", "2018-04-05",
           "--train-end", "2018-04-25", "--out", bundle)  # fmt: skip
    evaluated = invoke("evaluate", "--bundle", bundle, "--data", data, "--test-start",
                       "2018-05-01", "--test-end", "2018-05-09", "--json")  # fmt: skip
    report = json.loads(evaluated.stdout)
    assert set(report["models"]) == {
        "model",
        "baseline_logistic_regression",
        "baseline_new_beneficiary_rule",
    }
    assert report["test_payouts"] > 0 and report["test_frauds"] > 0
    event = {**GOOD, "timestamp": "2018-05-06T10:00:00+00:00", "account_id": "A000001"}
    scored = invoke("score", "--bundle", bundle, "--repo", repo, "--event", json.dumps(event),
                    "--json")  # fmt: skip
    line = json.loads(scored.stdout.splitlines()[-1])
    assert line["decision"] in ("release", "hold", "block") and 0.0 <= line["score"] <= 1.0
    bad = json.dumps({**event, "method": "cheque"})
    result = CliRunner().invoke(main, ["score", "--bundle", bundle, "--repo", repo, "--event", bad])
    assert result.exit_code == 2 and "'method'" in result.output
    assert len(result.output.strip().splitlines()) == 1, result.output


def test_starter_rules_decide_payouts() -> None:
    """The payout starter rules, on crafted payouts: a known mule is blocked, a trusted
    beneficiary with a middling score released, an instant drain to a new beneficiary held,
    and the shadow rule only measured; nothing matches an ordinary payout."""
    assert PAYOUT.starter_rules is not None
    rules = fs.load_rules(PAYOUT.starter_rules, kind="payout")
    assert {r.action for r in rules.rules} <= set(PAYOUT.decisions)
    usual = {f: 0.0 for f in FEATURES} | {
        "amount": 120.0,
        "method": "bank_transfer",
        "balance": 2400.0,
        "balance_share": 0.05,
        "country": "DE",
        "ip": "192.0.2.10",
        "device_id": "dv1",
        "account_id": "A000777",
        "beneficiary_id": "B0000777",
        "score": 0.4,
    }

    def decide(**change: Any) -> Any:
        return rules.decide(usual | change)

    assert decide() is None
    mule = decide(beneficiary_id="B9999999")
    assert mule.rule.name == "known_mule" and mule.rule.action == "block"
    assert "B9999999" in mule.text
    trusted = decide(account_id="A000001", beneficiary_id="B0000001", new_beneficiary=1.0,
                     fast_method=1.0, balance_share=0.9)  # fmt: skip
    assert trusted.rule.name == "trusted_beneficiary" and trusted.rule.action == "release"
    sure = decide(account_id="A000001", beneficiary_id="B0000001", score=0.95, new_beneficiary=1.0,
                  fast_method=1.0, balance_share=0.9)  # fmt: skip
    assert sure.rule.name == "drain_to_new_beneficiary" and sure.rule.action == "hold"
    drain = decide(new_beneficiary=1.0, fast_method=1.0, balance_share=0.85, method="instant")
    assert drain.rule.name == "drain_to_new_beneficiary" and drain.rule.action == "hold"
    assert drain.text == "instant payout of 85% of the balance to a new beneficiary"
    assert decide(new_beneficiary=1.0, fast_method=0.0, balance_share=0.85) is None
    assert decide(ben_fraud_30d=0.8).rule.name == "confirmed_mule"
    assert decide(ip="198.51.100.9").rule.name == "blocked_ip_range"
    assert decide(country="ZZ").rule.name == "blocked_country"
    assert decide(new_beneficiary=1.0, ben_senders_1d=5.0).rule.name == "beneficiary_fan_in"
    assert decide(acct_flagged_1d=2.0).rule.name == "repeatedly_flagged"
    burst = decide(acct_n_1h=4.0, device_changed=1.0)
    assert burst.rule is None and burst.matched == () and burst.shadow == ("burst_of_payouts",)
    both = decide(acct_n_1h=4.0, device_changed=1.0, beneficiary_id="B9999999")
    assert both.rule.name == "known_mule" and both.shadow == ("burst_of_payouts",)
    assert all(v.name != "customer_state" for v in VIEWS)
