"""A feature of one's own, added from outside the package through the public API
(``extend_kind``, ``register_kind``): offline and online agree on it, it trains, applies to a
real Feast store and serves with its reason."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from hypothesis import given

import fraudscore as fs
from fraudscore._kinds import KINDS

from .conftest import CUTOFF, TRAIN, capture_features, copy_repo
from .oracle import decayed
from .test_feature_oracles import SETTINGS, both_paths, transaction_frames

HOUR = 3600.0

#: The data scientist's view and features, as docs/extending.md writes them.
SPEND = fs.StateView(
    name="card_hour_spend_state",
    keys=("customer_id",),
    clocks=("tx",),
    accumulators=(fs.Accumulator("amt_1h", "tx", HOUR, "amount"),),
    ttl=timedelta(days=2),
    description="Per card: the amount spent in about the last hour (decayed).",
)
AMT_1H = SPEND.index["amt_1h"]


def spend_1h(cols: Any, reads: Any, xp: Any) -> Any:
    return reads["card_hour_spend_state"][AMT_1H]


def share_1h(cols: Any, reads: Any, xp: Any) -> Any:
    """This amount's share of the last hour's spend, this amount included."""
    return xp.div(
        cols["amount"], xp.at_least(reads["card_hour_spend_state"][AMT_1H] + cols["amount"], 1.0)
    )


def extended() -> fs.EventKind:
    return fs.extend_kind(
        fs.get_kind("transaction"),
        "card_spend",
        views=[SPEND],
        features={"cust_amt_1h": spend_1h, "amt_share_1h": share_1h},
        reasons={
            "CARD_SPEND_LAST_HOUR": {
                "features": ["cust_amt_1h", "amt_share_1h"],
                "template": "card spent about {cust_amt_1h:.2f} in the last hour",
                "fallback": "card spent nothing in the last hour",
            }
        },
    )


@pytest.fixture
def registered() -> Iterator[fs.EventKind]:
    kind = fs.register_kind(extended())
    yield kind
    KINDS.pop(kind.name, None)


@pytest.fixture(scope="module")
def spend_bundle(tmp_path_factory: pytest.TempPathFactory, sim: pd.DataFrame) -> Path:
    """A bundle of the extended kind, trained on the small simulation."""
    kind = fs.register_kind(extended())
    try:
        out = tmp_path_factory.mktemp("spend") / "bundle"
        fs.train_model(fs.build_features(sim, kind), *TRAIN, out)
    finally:
        KINDS.pop(kind.name, None)
    return out


def test_the_extension_keeps_the_base_and_appends_its_own() -> None:
    base, kind = fs.get_kind("transaction"), extended()
    assert kind.features == (*base.features, "cust_amt_1h", "amt_share_1h")
    assert kind.views == (*base.views, SPEND)
    assert kind.feature_service == "card_spend_model"
    assert "CARD_SPEND_LAST_HOUR" in kind.catalogue["codes"]
    assert base.catalogue["codes"].keys() <= kind.catalogue["codes"].keys()


@SETTINGS
@given(frame=transaction_frames())
def test_an_added_feature_is_the_same_offline_and_online(
    registered: fs.EventKind, spend_bundle: Path, frame: pd.DataFrame
) -> None:
    """The generic skew check, on random streams: the offline fold and the online path (score
    then record through a real Scorer) give every feature, the added ones too, to 1e-9; and
    the added spend equals its brute-force definition over the transactions before it in the
    stream (earlier, or at the same instant and earlier in the stream's order)."""
    offline, online = both_paths(registered, spend_bundle, frame)
    np.testing.assert_allclose(
        online, offline[list(registered.features)].to_numpy(float), rtol=1e-9, atol=1e-9
    )
    times = offline["timestamp"].map(pd.Timestamp.timestamp).to_numpy()
    for i, row in enumerate(offline.itertuples(index=False)):
        before = [
            j
            for j in range(i)
            if offline["customer_id"].iat[j] == row.customer_id and times[j] <= times[i]
        ]
        amounts = [float(offline["amount"].iat[j]) for j in before]
        want = decayed(times[i], [times[j] for j in before], HOUR, amounts)  # none: 0.0
        got = online[i, registered.features.index("cust_amt_1h")]
        np.testing.assert_allclose(got, want, rtol=1e-9, atol=1e-9)


def test_an_added_feature_trains_applies_and_serves_with_its_reason(
    registered: fs.EventKind, spend_bundle: Path, sim: pd.DataFrame, tmp_path: Path
) -> None:
    """Train, export, apply to a real Feast repo (its definitions generate the new view and
    service), materialize, serve: the new features are served as the fold has them, and the
    reason is the declared one."""
    features = fs.build_features(sim, registered)
    repo = copy_repo(tmp_path / "feature_repo")
    fs.build_store(repo, features, as_of=(CUTOFF - pd.Timedelta(microseconds=1)).to_pydatetime())
    scorer = fs.Scorer.open(spend_bundle, repo)
    assert scorer.kind.name == "card_spend" and fs.load_bundle(spend_bundle).kind == "card_spend"
    served = capture_features(scorer)
    frame = features.frame
    end = (CUTOFF + pd.Timedelta(days=1)).to_pydatetime()
    from fraudscore._training.pipeline import replay

    results = replay(scorer, frame, CUTOFF.to_pydatetime(), end)
    ids = [e.transaction_id for e, _ in results]
    assert len(ids) > 100
    expected = frame.set_index("transaction_id").loc[ids, list(registered.features)]
    np.testing.assert_allclose(np.vstack(served), expected.to_numpy(float), rtol=1e-9, atol=1e-9)
    texts = [r.text for _, result in results for r in result.reasons]
    spent = [
        f"card spent about {x:.2f} in the last hour"
        for x in expected["cust_amt_1h"]
        if x == x and x > 0
    ]
    assert set(spent) & set(texts), "the declared template, with the served value, is a reason"


def test_served_features_of_an_extended_kind_keep_its_features(
    registered: fs.EventKind, spend_bundle: Path, sim: pd.DataFrame, tmp_path: Path
) -> None:
    """A decision log of the extended kind trains as that kind: its folder names the kind (its
    columns are its base's), and the added features come back as served."""
    features = fs.build_features(sim, registered)
    repo = copy_repo(tmp_path / "feature_repo")
    fs.build_store(repo, features, as_of=(CUTOFF - pd.Timedelta(microseconds=1)).to_pydatetime())
    log = fs.DecisionLog(tmp_path / "log")
    scorer = fs.Scorer.open(spend_bundle, repo, log=log)
    served = capture_features(scorer)
    live = features.frame[features.frame["timestamp"] >= CUTOFF].head(30)
    from fraudscore._training.pipeline import to_events

    for e in to_events(live, registered):
        scorer.score(e)
    log.close()
    got = fs.served_features(tmp_path / "log", pd.DataFrame(columns=["transaction_id", "is_fraud"]))
    assert got.kind == "card_spend"
    np.testing.assert_array_equal(
        got.frame[list(registered.features)].to_numpy(), np.vstack(served)
    )


@pytest.mark.parametrize(
    ("change", "option"),
    [
        ({"name": "transaction"}, "name"),
        ({"name": "Card Spend"}, "name"),
        ({"features": {"amount": spend_1h}}, "features"),
        ({"features": {}}, "features"),
        ({"features": {"x": 1.0}}, "features['x']"),
        (
            {"views": [fs.StateView("v", ("merchant_id",), ("tx",), (), timedelta(days=1))]},
            "views['v'].keys",
        ),
        (
            {"views": [fs.StateView("v", ("customer_id",), ("refund",), (), timedelta(days=1))]},
            "views['v'].clocks",
        ),
        ({"reasons": {"AMOUNT_UNUSUAL": {}}}, "reasons"),
        (
            {"reasons": {"SPEND": {"features": ["cust_amt_24h"], "template": "x"}}},
            "reasons['SPEND'].features",
        ),
    ],
)
def test_a_bad_extension_names_what_is_wrong(change: dict[str, Any], option: str) -> None:
    args: dict[str, Any] = {"views": [SPEND], "features": {"cust_amt_1h": spend_1h}} | change
    name = args.pop("name", "card_spend")
    with pytest.raises(fs.ConfigError) as info:
        fs.extend_kind(fs.get_kind("transaction"), name, **args)
    assert info.value.option == option


def test_a_built_in_name_cannot_be_registered_over() -> None:
    import dataclasses

    with pytest.raises(fs.ConfigError, match="built-in"):
        fs.register_kind(dataclasses.replace(extended(), name="login"))
    with pytest.raises(fs.ConfigError, match="'kind'"):
        fs.get_kind("payouts")
    assert fs.get_kind("login").name == "login"
