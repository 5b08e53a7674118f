"""The red-team harness: attacks through the real scorer, measured in a fraud team's units."""

from __future__ import annotations

import hashlib
from dataclasses import replace
from datetime import timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner

from fraudscore import (
    ConfigError,
    EventValidationError,
    Thresholds,
    Transaction,
    load_bundle,
    load_rules,
)
from fraudscore._cli import main
from fraudscore._redteam import Strategy, red_team, run_red_team, theatre
from fraudscore._redteam.harness import pick_victims, victim_traffic

from .conftest import CUTOFF

THEATRE = theatre("transaction")
#: Rules that decide by amount alone, over a model that never alerts (thresholds of 1.0): the
#: outcome of every attempt is known before it is sent.
BY_AMOUNT = (
    'kind = "transaction"\n'
    '[[rules]]\nname = "big"\naction = "decline"\nwhen = "amount >= 100.0"\nreason = "BIG"\n'
    '[[rules]]\nname = "mid"\naction = "review"\nwhen = "amount >= 50.0"\nreason = "MID"\n'
)
NEVER = Thresholds(review=1.0, block=1.0)


@pytest.fixture(scope="module")
def history(sim: pd.DataFrame) -> pd.DataFrame:
    return sim[sim["timestamp"] < CUTOFF]


def digest(root: Path) -> str:
    h = hashlib.sha256()
    for p in sorted(root.rglob("*")):
        if p.is_file():
            h.update(p.name.encode() + p.read_bytes())
    return h.hexdigest()


def scripted(amounts: list[float], *, knowledge: str = "black") -> Strategy:
    """An attacker that buys ``amounts`` at the card's most used terminal, an hour apart."""

    def plan(victim: Any, attack: Any) -> Any:
        terminal = victim.history["terminal_id"].value_counts().index[0]
        for i, amount in enumerate(amounts):
            yield Transaction(
                attack.new_id(), attack.at(9 * 3600 + i * 3600), victim.entity, terminal, amount
            )

    return Strategy("scripted", knowledge, ("amount",), "a script", plan)  # type: ignore[arg-type]


def test_a_hand_built_attack_is_measured_exactly(
    bundle_dir: Path, built_repo: Path, history: pd.DataFrame, tmp_path: Path
) -> None:
    """Against rules that decide by amount: approved amounts are the gain, the first decline
    blocks the card (nothing after it is sent), reviews count as flagged, the gain is in units
    of the victim's normal spend, and the victims' own events are flagged by the same rules:
    those during the attack (from its first attempt to the block) beside the same events'
    flags in the clean run."""
    rules = tmp_path / "rules.toml"
    rules.write_text(BY_AMOUNT)
    theatre = THEATRE
    start = CUTOFF.to_pydatetime()
    report = red_team(  # a strategy of one's own, through the public entry point
        bundle_dir,
        built_repo,
        history,
        strategies=[scripted([10, 60, 20, 150, 30])],
        victims=6,
        days=2,
        start=start,
        rules=load_rules(rules),
        thresholds=NEVER,
    )
    model_alone, with_rules = report.result("scripted"), report.result("scripted", rules=True)
    assert model_alone.gain_median == 270.0 and model_alone.flagged == 0.0
    assert model_alone.queries == 5 and model_alone.victims_hit == 1.0
    r = with_rules
    assert r.victims == 6 and r.attempts == 6 * 4  # 30 is never sent: the card was blocked
    assert r.flagged == pytest.approx(2 / 4) and r.blocked == pytest.approx(1 / 4)
    assert r.gain_median == 30.0 and r.queries == 4
    victims = pick_victims(theatre, history, 6, start, 0)
    normal = [v.normal_per_day * 2 for v in victims]
    assert [p[1] for p in r.per_victim] == pytest.approx(normal)
    assert r.gain_vs_normal_median == pytest.approx(float(np.median([30 / n for n in normal])))
    own = victim_traffic(theatre, victims, start, 2, 0)
    assert own, "the victims spend during the attack"
    # Each attack begins at 09:00 on the first day (its first attempt) and its card is blocked
    # at 12:00 (the 150): its owner's earlier events are not during the attack and its later
    # ones are not on the card, so only those between count, here and in the clean run.
    began, blocked_at = start + timedelta(hours=9), start + timedelta(hours=12)
    during = [e.amount >= 50 for e in own if began <= e.timestamp < blocked_at]
    assert during and any(e.timestamp < began for e in own)
    assert r.victim_events == len(during)
    assert r.victim_false_flags == pytest.approx(np.mean(during))
    assert r.clean_false_flags == pytest.approx(np.mean(during))
    assert model_alone.victim_events == sum(e.timestamp >= began for e in own)
    assert model_alone.victim_false_flags == 0.0 and model_alone.clean_false_flags == 0.0


def test_attackers_cannot_change_the_past(
    bundle_dir: Path, built_repo: Path, history: pd.DataFrame
) -> None:
    """An event of another card, or one before the attacker's previous event, is refused by
    name; the attacker's clock (``Attack.at``) never goes back."""

    def other_card(victim: Any, attack: Any) -> Any:
        yield Transaction(attack.new_id(), attack.at(60), "someone-else", "T1", 5.0)

    def back_in_time(victim: Any, attack: Any) -> Any:
        first = attack.at(7200)
        yield Transaction(attack.new_id(), first, victim.entity, "T1", 5.0)
        assert attack.at(60) > first  # the clock moved forward instead
        yield Transaction(attack.new_id(), first - timedelta(hours=1), victim.entity, "T1", 5.0)

    for plan, field in ((other_card, "customer_id"), (back_in_time, "timestamp")):
        strategy = Strategy(plan.__name__, "black", ("amount",), "", plan)
        theatre = replace(THEATRE, strategies={strategy.name: strategy})
        with pytest.raises(EventValidationError, match=f"'{field}'"):
            run_red_team(
                theatre, load_bundle(bundle_dir), built_repo, history, victims=2, days=1,
                start=CUTOFF.to_pydatetime(),
            )  # fmt: skip


def test_white_box_evaluates_without_sending_and_black_box_cannot(
    bundle_dir: Path, built_repo: Path, history: pd.DataFrame
) -> None:
    """A white-box attacker's evaluations are neither recorded nor counted as queries (the same
    candidate evaluates the same twice); a black-box attacker asking to evaluate is refused."""
    seen: list[float] = []

    def probe(victim: Any, attack: Any) -> Any:
        tx = Transaction(attack.new_id(), attack.at(3600), victim.entity, "T000001", 900.0)
        seen.extend([attack.evaluate(tx).score, attack.evaluate(tx).score])
        yield tx

    white = Strategy("probe", "white", ("amount",), "", probe)
    report = run_red_team(
        replace(THEATRE, strategies={"probe": white}), load_bundle(bundle_dir), built_repo,
        history, victims=3, days=1, start=CUTOFF.to_pydatetime(),
    )  # fmt: skip
    assert report.result("probe").queries == 1 and seen[0::2] == seen[1::2]
    black = replace(white, knowledge="black")
    with pytest.raises(ConfigError, match="white-box"):
        run_red_team(
            replace(THEATRE, strategies={"probe": black}), load_bundle(bundle_dir), built_repo,
            history, victims=1, days=1, start=CUTOFF.to_pydatetime(),
        )  # fmt: skip


def test_every_builtin_strategy_runs_on_a_private_copy(
    bundle_dir: Path, built_repo: Path, history: pd.DataFrame
) -> None:
    """Every built-in transaction attacker runs against every victim through the real scorer,
    with and without the starter rules; the store it was given is never written."""
    from fraudscore import starter_rules

    before = digest(built_repo)
    report = red_team(
        bundle_dir, built_repo, history, victims=4, days=5, start=CUTOFF.to_pydatetime(),
        rules=starter_rules("transaction"),
    )  # fmt: skip
    assert digest(built_repo) == before
    names = {r.strategy for r in report.results}
    assert names == set(THEATRE.strategies)
    for r in report.results:
        assert r.victims == 4 and r.attempts >= 4, r
        for share in (r.flagged, r.blocked, r.victims_hit, r.victim_false_flags):
            assert 0.0 <= share <= 1.0
        assert r.blocked <= r.flagged
        assert all(gain >= 0 for gain, *_ in r.per_victim)
    spree = report.result("naive_spree")
    assert spree.flagged > report.result("mimicry").flagged  # the crudest attack shows most
    assert report.result("model_guided").notes  # the white box says what it changed
    assert "| naive_spree | black | yes |" in report.table()


def test_bad_options_are_refused_by_name(
    bundle_dir: Path, built_repo: Path, history: pd.DataFrame, tmp_path: Path
) -> None:
    """Unknown strategies, no days, no victims and a store the harness cannot copy are refused
    as option errors."""
    for options, name in (
        ({"strategies": ["nosuch"]}, "strategies"),
        ({"days": 0}, "days"),
        ({"victims": 0}, "victims"),
    ):
        with pytest.raises(ConfigError, match=f"'{name}'"):
            red_team(bundle_dir, built_repo, history, **options)  # type: ignore[arg-type]
    redis = tmp_path / "repo"
    redis.mkdir()
    (redis / "feature_store.yaml").write_text("online_store:\n  type: redis\n")
    with pytest.raises(ConfigError, match="'repo'"):
        red_team(bundle_dir, redis, history)


def test_the_command_prints_the_table(
    bundle_dir: Path, built_repo: Path, history: pd.DataFrame, tmp_path: Path
) -> None:
    """``fraudscore redteam`` prints one row per strategy and rules setting, and writes JSON."""
    data = tmp_path / "history.parquet"
    history.to_parquet(data)
    out = tmp_path / "redteam.json"
    result = CliRunner().invoke(
        main,
        ["redteam", "--bundle", str(bundle_dir), "--repo", str(built_repo), "--data", str(data),
         "--victims", "3", "--days", "1", "--strategies", "naive_spree,burst", "--starter-rules",
         "--out", str(out)],
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    rows = [line for line in result.output.splitlines() if line.startswith("| naive_spree")]
    assert len(rows) == 2 and '"strategy": "burst"' in out.read_text()


def test_attack_examples_are_labelled_attacks_of_the_trained_strategies(
    history: pd.DataFrame,
) -> None:
    """Attack examples fall in their window, come from the kind's trained strategies only (none
    white box), are labelled fraud after a delay, have ids of their own, and attack cards that
    were active before."""
    from fraudscore._redteam import attack_examples

    start, end = pd.Timestamp("2018-04-20", tz="UTC"), pd.Timestamp("2018-05-01", tz="UTC")
    frame = attack_examples(history, start=start.to_pydatetime(), end=end.to_pydatetime(), seed=3)
    assert len(frame) > 20 and frame["transaction_id"].is_unique
    assert frame["transaction_id"].str.startswith("redteam-").all()
    assert (frame["timestamp"] >= start).all() and (
        frame["timestamp"] < end + pd.Timedelta(days=5)
    ).all()
    assert (frame["is_fraud"] == 1).all() and (frame["label_time"] > frame["timestamp"]).all()
    used = {p.removeprefix("redteam:") for p in frame["fraud_pattern"]}
    assert used <= set(THEATRE.trained) and len(used) >= 3
    assert set(frame["customer_id"]) <= set(history["customer_id"])
    again = attack_examples(history, start=start.to_pydatetime(), end=end.to_pydatetime(), seed=3)
    pd.testing.assert_frame_equal(frame, again)  # seeded: the same examples
    with pytest.raises(ConfigError, match="open loop"):
        attack_examples(history, start=start, end=end, strategies=["model_guided"])
    first = history["timestamp"].min().normalize()  # nobody is active enough on the first days
    early = attack_examples(history, start=first, end=first + pd.Timedelta(days=12), seed=3)
    assert early["timestamp"].min() >= first + pd.Timedelta(days=1)


def test_synthetic_rows_train_but_never_set_the_thresholds(offline: Any, tmp_path: Path) -> None:
    """Rows named synthetic are trained on, but the thresholds are the alert-rate quantiles of
    the held-out model's scores on the real validation rows only."""
    import xgboost as xgb

    from fraudscore import TrainConfig, train_model
    from fraudscore._model.fit import threshold_for_rate
    from fraudscore._model.runtime import as_model_input

    from .conftest import TRAIN

    frame = offline.frame
    validation = frame[(frame["timestamp"] >= pd.Timestamp("2018-04-25", tz="UTC"))
                       & (frame["timestamp"] < pd.Timestamp("2018-05-02", tz="UTC"))]  # fmt: skip
    synthetic = validation[validation["is_fraud"] == 1]["transaction_id"].tolist()[::2]
    assert synthetic
    config = TrainConfig(refit=False)  # the exported model is the held-out one
    trained = train_model(offline, *TRAIN, tmp_path / "b", config, synthetic=synthetic)
    manifest = trained.bundle.manifest
    assert manifest["training_window"]["synthetic_rows"] == len(synthetic)
    start = pd.Timestamp(manifest["training_window"]["validation_start"], tz="UTC")
    real = validation[
        (validation["timestamp"] >= start) & ~validation["transaction_id"].isin(synthetic)
    ]
    scores = trained.booster.predict(
        xgb.DMatrix(as_model_input(real[list(trained.bundle.features)].to_numpy(float)))
    )
    assert trained.bundle.thresholds.review == threshold_for_rate(scores, 0.03)
    assert trained.bundle.thresholds.block == threshold_for_rate(scores, 0.01)
    plain = train_model(offline, *TRAIN, tmp_path / "c", config)
    assert plain.bundle.thresholds != trained.bundle.thresholds  # the frauds moved them


CNP_COLUMNS = ("device_id", "ip", "asn", "ip_country", "email_domain", "billing_country",
               "shipping_country", "card_country", "bin", "merchant_category")  # fmt: skip


def test_attackers_hold_a_card_number_and_send_a_buyer_side_of_their_own(
    history: pd.DataFrame,
) -> None:
    """Every attack is card-not-present (online), with the victim's card country, BIN and
    billing country and the terminal's merchant category. Careful attackers (mimicry) buy
    through a network of the card's country the victim never used, with their own device new
    for the card; the careless spree from another country's network; the replaying attacker
    from the victim's most used device."""
    from fraudscore._redteam import attack_examples
    from fraudscore._redteam.harness import genuine

    start, end = pd.Timestamp("2018-04-20", tz="UTC"), pd.Timestamp("2018-05-01", tz="UTC")
    frame = attack_examples(
        history, strategies=["mimicry", "mimicry_replayed_device", "naive_spree"],
        start=start.to_pydatetime(), end=end.to_pydatetime(), per_day=3.0, seed=5,
    )  # fmt: skip
    own = genuine(THEATRE, history)
    mcc = dict(zip(history["terminal_id"], history["merchant_category"], strict=True))
    net_country = dict(zip(history["asn"].dropna(), history["ip_country"].dropna(), strict=True))
    seen = set()
    # What each attacker knows: its victim's own events in the 30 days before the attack's day.
    day = frame.groupby("customer_id")["timestamp"].min().dt.normalize()
    for row in frame.itertuples(index=False):
        strategy = row.fraud_pattern.removeprefix("redteam:")
        seen.add(strategy)
        t = own["timestamp"]
        begin = day[row.customer_id]
        past = own[(own["customer_id"] == row.customer_id)
                   & (t >= begin - pd.Timedelta(days=30)) & (t < begin)]  # fmt: skip
        assert row.channel == "online"
        assert row.card_country == past["card_country"].mode().iloc[0]
        assert row.bin == past["bin"].mode().iloc[0]
        assert row.billing_country == past["billing_country"].mode().iloc[0]
        assert row.merchant_category == mcc[row.terminal_id]
        assert row.asn is not None and net_country[row.asn] == row.ip_country
        assert row.asn not in set(past["asn"].dropna())
        if strategy == "naive_spree":
            assert row.ip_country != row.card_country
            assert row.shipping_country != row.card_country
        else:
            assert row.ip_country == row.card_country
        if strategy == "mimicry_replayed_device":
            assert row.device_id == past["device_id"].mode().iloc[0]
        else:
            assert row.device_id not in set(history["device_id"].dropna())
    assert seen == {"mimicry", "mimicry_replayed_device", "naive_spree"}
    # One device per attacker: the spree's and the mimic's are each their card's only one.
    assert frame.groupby("customer_id")["device_id"].nunique().max() == 1


def test_attackers_send_no_field_the_world_does_not_collect(history: pd.DataFrame) -> None:
    """On payments without a channel and the card-not-present fields (the handbook's world),
    the attackers send none of them: a field only attacks carry would give them away."""
    from fraudscore._redteam import attack_examples

    bare = history.drop(columns=["channel", *CNP_COLUMNS])
    start, end = pd.Timestamp("2018-04-20", tz="UTC"), pd.Timestamp("2018-04-26", tz="UTC")
    frame = attack_examples(
        bare, strategies=[*THEATRE.trained, "mimicry", "mimicry_replayed_device", "reason_guided"],
        start=start.to_pydatetime(), end=end.to_pydatetime(), per_day=4.0, seed=5,
    )  # fmt: skip
    assert len(frame) > 20
    for column in ("channel", *CNP_COLUMNS):
        assert frame[column].isna().all(), column
