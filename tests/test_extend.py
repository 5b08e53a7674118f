"""A feature of one's own, added from outside the package through the public API
(``extend_kind``, ``register_kind``): offline and online agree on it, it trains, applies to a
real Feast store and serves with its reason. Fields of one's own (an email, an account age):
views keyed on them, alone or with the base's keys, pass the generic checks of
tests/test_kinds.py; an event without one has no such entity; bad values are refused."""

from __future__ import annotations

import contextlib
import dataclasses
import math
import sqlite3
from collections.abc import Callable, Iterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from hypothesis import given
from hypothesis import strategies as st

import fraudscore as fs
from fraudscore._kinds import KINDS
from fraudscore._state import ABSENT

from . import test_kinds as kinds_tests
from .conftest import CUTOFF, TRAIN, capture_features, copy_repo, private_copy
from .oracle import decayed
from .test_feature_oracles import SETTINGS, both_paths, transaction_frames
from .test_partitioned import assert_same, write_parts

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
    """The base kind's features, views and reason codes come first, unchanged; new ones follow."""
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
    """A bad name, feature, view or reason code is a ConfigError naming the argument."""
    args: dict[str, Any] = {"views": [SPEND], "features": {"cust_amt_1h": spend_1h}} | change
    name = args.pop("name", "card_spend")
    with pytest.raises(fs.ConfigError) as info:
        fs.extend_kind(fs.get_kind("transaction"), name, **args)
    assert info.value.option == option


def test_a_built_in_name_cannot_be_registered_over() -> None:
    """Registering under a built-in kind's name is refused; an unknown kind is a ConfigError."""
    with pytest.raises(fs.ConfigError, match="built-in"):
        fs.register_kind(dataclasses.replace(extended(), name="login"))
    with pytest.raises(fs.ConfigError, match="'kind'"):
        fs.get_kind("payouts")
    assert fs.get_kind("login").name == "login"


# Fields of one's own: an email, an account age ---------------------------------------------------

DAY = 86400.0
#: What a team adds to transactions without re-declaring the kind: per email, and per card and
#: email (the pair, moved by payments let through: "is this email new for this card?").
EMAIL = fs.StateView(
    name="email_state",
    keys=("email",),
    clocks=("tx",),
    accumulators=(fs.Accumulator("n_1d", "tx", DAY), fs.Accumulator("n_30d", "tx", 30 * DAY)),
    ttl=timedelta(days=90),
    description="Per email: payments in about 1 and 30 days.",
)
CARD_EMAIL = fs.StateView(
    name="card_email_state",
    keys=("customer_id", "email"),
    clocks=("ok",),
    accumulators=(fs.Accumulator("n_30d", "ok", 30 * DAY),),
    ttl=timedelta(days=90),
    description="Per card and email: payments let through in about 30 days.",
)
_E, _CE = EMAIL.index, CARD_EMAIL.index
EMAIL_FEATURES = {
    "email_n_1d": lambda c, r, xp: r["email_state"][_E["n_1d"]],
    "email_n_30d": lambda c, r, xp: r["email_state"][_E["n_30d"]],
    "email_secs_since": lambda c, r, xp: xp.at_least(c["t"] - r["email_state"][_E["tx_ts"]], 0.0),
    "card_email_n_30d": lambda c, r, xp: r["card_email_state"][_CE["n_30d"]],
    "account_age": lambda c, r, xp: c["account_age_days"],
}
EMAIL_REASONS = {
    "EMAIL_VELOCITY": {
        "features": ["email_n_1d", "email_n_30d", "email_secs_since"],
        "template": "about {email_n_1d:.0f} payments with this email in a day, "
        "{email_n_30d:.0f} in 30 days",
        "fallback": "no earlier payment with this email",
    },
    "EMAIL_NEW_FOR_CARD": {
        "features": ["card_email_n_30d"],
        "template": "about {card_email_n_30d:.0f} payments of this card with this email in 30 days",
        "fallback": "no email to compare",
    },
    "ACCOUNT_AGE": {
        "features": ["account_age"],
        "template": "account {account_age:.0f} days old",
        "fallback": "account age not given",
    },
}
EMAIL_KIND = "email_ext"


def with_own_fields(data: pd.DataFrame) -> pd.DataFrame:
    """``data`` with an account age on about 60% of the events (missing on the others) and the
    email left out of about one online payment in four (card-present ones carry none)."""
    rng = np.random.default_rng(5)
    n = len(data)
    age = np.where(rng.random(n) < 0.6, rng.uniform(0.0, 2000.0, n), np.nan)
    return data.assign(account_age_days=age, email=data["email"].where(rng.random(n) >= 0.25))


def email_extension(name: str = EMAIL_KIND, **change: Any) -> fs.EventKind:
    """Transactions with an ``email`` (an id) and an ``account_age_days`` (a number) of their
    own, the per-email and per-(card, email) views, and a simulator whose frames carry both."""
    base = fs.get_kind("transaction")
    args: dict[str, Any] = {
        "fields": {"email": "id", "account_age_days": "number"},
        "views": [EMAIL, CARD_EMAIL],
        "features": EMAIL_FEATURES,
        "reasons": EMAIL_REASONS,
        "entities": {"email": ("email_address", "A customer's email, hashed.")},
    } | change
    kind = fs.extend_kind(base, name, **args)
    first, sim = next(iter(base.simulators.items()))
    simulate = sim.simulate
    own = dataclasses.replace(sim, simulate=lambda config: with_own_fields(simulate(config)))
    return dataclasses.replace(kind, simulators={first: own})


@pytest.fixture(scope="module")
def email_kind() -> Iterator[fs.EventKind]:
    kind = fs.register_kind(email_extension())
    yield kind
    KINDS.pop(kind.name, None)


@pytest.fixture(scope="module")
def email_offline(email_kind: fs.EventKind, sim: pd.DataFrame) -> fs.OfflineFeatures:
    return fs.build_features(with_own_fields(sim), email_kind)


@pytest.fixture(scope="module")
def email_bundle(
    tmp_path_factory: pytest.TempPathFactory, email_offline: fs.OfflineFeatures
) -> Path:
    out = tmp_path_factory.mktemp("email") / "bundle"
    fs.train_model(email_offline, *TRAIN, out, kinds_tests.CHEAP)
    return out


@pytest.fixture(scope="module")
def email_repo(tmp_path_factory: pytest.TempPathFactory, email_offline: fs.OfflineFeatures) -> Path:
    repo = copy_repo(tmp_path_factory.mktemp("email_repo") / "feature_repo")
    fs.build_store(
        repo, email_offline, as_of=(CUTOFF - pd.Timedelta(microseconds=1)).to_pydatetime()
    )
    return repo


def store_rows(repo: Path) -> dict[str, list[tuple[Any, ...]]]:
    """Every row of every table of the repo's SQLite online store, by table."""
    with contextlib.closing(sqlite3.connect(repo / "data" / "online_store.db")) as db:
        tables = [r[0] for r in db.execute("SELECT name FROM sqlite_master WHERE type='table'")]
        return {t: sorted(db.execute(f'SELECT * FROM "{t}"')) for t in tables}


def table_of(rows: dict[str, list[tuple[Any, ...]]], view: str) -> str:
    """The online table of ``view`` (the repo's project is ``fraudscore``)."""
    table = f"fraudscore_{view}"
    assert table in rows, sorted(rows)
    return table


def test_an_extension_with_fields_has_an_event_type_of_its_own() -> None:
    """The event type is a generated subclass of Transaction, named after the kind, whose new
    fields are optional (None); the new views, features and entity follow the base's."""
    base, kind = fs.get_kind("transaction"), email_extension()
    assert issubclass(kind.event_type, fs.Transaction) and kind.event_type is not fs.Transaction
    assert kind.event_type.__name__ == "EmailExt"
    event = kind.event_type("t1", datetime(2018, 5, 8, tzinfo=UTC), "c1", "k1", 10.0)
    assert (event.email, event.account_age_days) == (None, None)
    assert kind.values(event)["account_age_days"] != kind.values(event)["account_age_days"]
    assert kind.values(replace(event, account_age_days=3))["account_age_days"] == 3.0
    assert kind.views == (*base.views, EMAIL, CARD_EMAIL)
    assert kind.features == (*base.features, *EMAIL_FEATURES)
    assert kind.entities["email"] == ("email_address", "A customer's email, hashed.")
    keys = kind.keys(replace(event, email="e1"))
    assert keys[-2:] == [("e1",), ("c1", "e1")]
    assert kind.keys(event)[-2:] == [(ABSENT,), ("c1", ABSENT)]


def test_an_id_field_has_a_presence_column_offline_and_online(sim: pd.DataFrame) -> None:
    """``has_email`` is 1.0 where the email was given and 0.0 where not, the same in the event
    columns and the frame columns: a feature tells "none sent" from "a new one"."""
    kind = email_extension()
    event = kind.event_type("t1", datetime(2018, 5, 8, tzinfo=UTC), "c1", "k1", 10.0)
    assert kind.values(event)["has_email"] == 0.0
    assert kind.values(replace(event, email="e1"))["has_email"] == 1.0
    frame = kind.prepare(with_own_fields(sim.head(500)))
    cols = kind.frame_columns(frame)
    np.testing.assert_array_equal(cols["has_email"], frame["email"].notna().to_numpy(float))
    assert 0 < cols["has_email"].sum() < len(frame)


def test_an_event_of_an_extension_pickles() -> None:
    """An event of the generated type pickles and comes back equal (to another process)."""
    import pickle

    kind = email_extension()
    event = kind.event_type("t1", datetime(2018, 5, 8, tzinfo=UTC), "c1", "k1", 10.0, email="e1")
    assert pickle.loads(pickle.dumps(event)) == event


def test_a_new_feature_no_reason_covers_is_refused() -> None:
    """Every new feature is in exactly one reason code (a bundle's catalogue covers its
    features exactly): one left out, or in two codes, is a ConfigError naming reasons."""
    one = next(iter(EMAIL_REASONS))
    left_out = {c: e for c, e in EMAIL_REASONS.items() if c != one}
    with pytest.raises(fs.ConfigError) as info:
        email_extension(reasons=left_out)
    assert info.value.option == "reasons" and set(info.value.value) == set(
        EMAIL_REASONS[one]["features"]
    )
    twice = {**EMAIL_REASONS, "AGAIN": {**EMAIL_REASONS[one], "template": "x"}}
    with pytest.raises(fs.ConfigError, match="reasons"):
        email_extension(reasons=twice)


@pytest.mark.parametrize(
    "check",
    [
        kinds_tests.test_features_views_reasons_and_decisions_are_consistent,
        kinds_tests.test_the_label_type_carries_what_label_views_need,
    ],
    ids=lambda f: f.__name__,
)
def test_the_generic_declaration_checks_hold_for_an_extension_with_fields(
    check: Callable[[fs.EventKind], None], email_kind: fs.EventKind
) -> None:
    """tests/test_kinds.py's declaration checks, on the email extension (registered after
    collection, so not among the kinds it parametrizes over)."""
    check(email_kind)


@pytest.mark.parametrize("value", [math.nan, 0.0, 1.0, 1e6], ids=["nan", "zero", "one", "big"])
def test_every_reason_of_an_extension_with_fields_renders(value: float) -> None:
    """tests/test_kinds.py's reason check, on the email extension: every code gives a sentence
    whatever the features hold."""
    kinds_tests.test_every_reason_renders_for_any_feature_values(email_extension(), value)


def test_the_sample_event_of_an_extension_with_fields_keys_every_view() -> None:
    """tests/test_kinds.py's sample check, on the email extension: the warm-up event keys every
    view, the new ones included."""
    kinds_tests.test_the_sample_event_is_valid_and_keys_every_view(email_extension())


@pytest.mark.slow
def test_the_generic_skew_check_covers_an_extension_with_fields(
    email_kind: fs.EventKind, tmp_path: Path
) -> None:
    """tests/test_kinds.py's skew check (the offline fold equals score-then-record through a
    real Scorer on a real Feast SQLite store, every feature, NaN where NaN), on the email
    extension and its simulator: on the day replayed, some payments carry an email and an
    account age and some do not."""
    kinds_tests.test_served_features_equal_the_offline_fold(email_kind, tmp_path)
    data = kinds_tests.history(email_kind.name)
    live = data[data["timestamp"] >= data["timestamp"].max().normalize()]
    online = live[live["channel"] == "online"]
    assert online["email"].notna().any() and online["email"].isna().any()
    assert live["account_age_days"].notna().any() and live["account_age_days"].isna().any()
    assert online["email"].dropna().duplicated().any(), "some emails pay more than once"


@st.composite
def email_frames(draw: Any) -> pd.DataFrame:
    """Random transaction streams with few emails (often missing) and account ages."""
    frame = draw(transaction_frames())
    n = len(frame)
    emails = draw(st.lists(st.sampled_from([None, "e1", "e2", "e3"]), min_size=n, max_size=n))
    ages = draw(st.lists(st.sampled_from([None, 0.0, 3.5, 1800.0]), min_size=n, max_size=n))
    return frame.assign(email=emails, account_age_days=[np.nan if a is None else a for a in ages])


@SETTINGS
@given(frame=email_frames())
def test_the_email_features_equal_their_definitions_offline_and_online(
    email_kind: fs.EventKind, email_bundle: Path, frame: pd.DataFrame
) -> None:
    """On random streams, offline and online (score then record through a real Scorer), every
    feature agrees to 1e-9, NaN where NaN; and the email ones equal their brute-force
    definitions over the payments before each one (earlier, or at the same instant and earlier
    in the stream): of the same email, and of the same card and email let through. A payment
    without an email counts nowhere and reads 0 (no time since: NaN)."""
    offline, online = both_paths(email_kind, email_bundle, frame)
    names = email_kind.features
    kinds_tests.assert_features_equal(
        online, offline[list(names)].to_numpy(float), names, offline["transaction_id"].tolist()
    )
    times = offline["timestamp"].map(pd.Timestamp.timestamp).to_numpy()
    emails, cards = offline["email"].tolist(), offline["customer_id"].tolist()
    allowed = [d is None or d == "approve" for d in offline["decision"].tolist()]
    for i in range(len(offline)):
        same = [j for j in range(i) if emails[i] is not None and emails[j] == emails[i]]
        pair = [j for j in same if cards[j] == cards[i] and allowed[j]]
        want = {
            "email_n_1d": decayed(times[i], [times[j] for j in same], DAY),
            "email_n_30d": decayed(times[i], [times[j] for j in same], 30 * DAY),
            "email_secs_since": times[i] - max(times[j] for j in same) if same else math.nan,
            "card_email_n_30d": decayed(times[i], [times[j] for j in pair], 30 * DAY),
            "account_age": offline["account_age_days"].iat[i],
        }
        for name, value in want.items():
            got = online[i, names.index(name)]
            np.testing.assert_allclose(got, value, rtol=1e-9, atol=1e-9, err_msg=name)


@pytest.mark.slow
def test_an_event_without_the_email_reads_no_history_and_writes_none(
    email_kind: fs.EventKind,
    email_offline: fs.OfflineFeatures,
    email_bundle: Path,
    email_repo: Path,
    tmp_path: Path,
) -> None:
    """On a real Feast SQLite store, a payment without an email reads the email views as no
    history (as a never-seen email does) without listing them in missing_state (nothing to
    miss), and recording it writes no row in them; a never-seen email is listed as missing,
    and recording it writes its state."""
    repo = private_copy(email_repo, tmp_path)
    scorer = fs.Scorer.open(email_bundle, repo)
    served = capture_features(scorer)
    frame = email_offline.frame
    known = frame[(frame["timestamp"] < CUTOFF) & frame["email"].notna()].iloc[-1]
    at = CUTOFF.to_pydatetime() + timedelta(hours=1)
    without = email_kind.event_type(
        "no-email", at, known["customer_id"], known["terminal_id"], 50.0, channel="online"
    )
    with_known = replace(without, transaction_id="known-email", email=known["email"])
    with_new = replace(without, transaction_id="new-email", email="e-never-seen")
    views = {"email_state", "card_email_state"}
    results = [scorer.score(e) for e in (without, with_known, with_new)]
    assert not views & set(results[0].missing_state)
    assert not views & set(results[1].missing_state)
    assert views <= set(results[2].missing_state)
    got = [dict(zip(email_kind.features, row, strict=True)) for row in served]
    email_names = ["email_n_1d", "email_n_30d", "email_secs_since", "card_email_n_30d"]
    np.testing.assert_array_equal(
        [got[0][n] for n in email_names], [got[2][n] for n in email_names]
    )
    assert got[0]["email_n_30d"] == 0.0 and math.isnan(got[0]["email_secs_since"])
    assert got[1]["email_n_30d"] > 0.0 and got[1]["email_secs_since"] >= 0.0

    before = store_rows(repo)
    scorer.record(without, results[0])
    after = store_rows(repo)
    for view in views:
        assert after[table_of(after, view)] == before[table_of(before, view)], view
    assert after[table_of(after, "customer_state")] != before[table_of(before, "customer_state")]
    absent = scorer.source.read([[k] for k in email_kind.keys(without)])[-2:]
    for view, state in zip((EMAIL, CARD_EMAIL), absent, strict=True):
        np.testing.assert_array_equal(state, view.empty(1))
    scorer.record(with_new, results[2])
    written = store_rows(repo)
    assert len(written[table_of(written, "email_state")]) > len(
        after[table_of(after, "email_state")]
    )
    state = scorer.source.read_one(email_kind.keys(with_new))[-2]
    assert state[_E["tx_ts"]] == at.timestamp() and state[_E["n_30d"]] == 1.0


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("email", ""),
        ("email", " "),
        ("email", 12),
        ("email", b"e1"),
        ("account_age_days", math.inf),
        ("account_age_days", math.nan),
        ("account_age_days", "x"),
        ("account_age_days", True),
    ],
)
def test_a_bad_new_field_is_refused_naming_it(field: str, value: Any) -> None:
    """An event with a bad email (not a non-empty string) or account age (not a finite number)
    is an EventValidationError naming the field, when made and when replaced."""
    kind = email_extension()
    with pytest.raises(fs.EventValidationError) as info:
        kind.event_type("t1", datetime(2018, 5, 8, tzinfo=UTC), "c1", "k1", 1.0, **{field: value})
    assert info.value.field == field and repr(field) in str(info.value)
    good = kind.event_type("t1", datetime(2018, 5, 8, tzinfo=UTC), "c1", "k1", 1.0, email="e1")
    with pytest.raises(fs.EventValidationError) as info:
        replace(good, **{field: value})
    assert info.value.field == field


@pytest.mark.slow
def test_a_request_with_a_bad_new_field_is_422_and_writes_nothing(
    email_kind: fs.EventKind, email_bundle: Path, email_repo: Path, tmp_path: Path
) -> None:
    """The service refuses a body with a bad email or account age on every route, naming the
    field, and the store is unchanged; the same body with a good email is recorded."""
    from fraudscore._service import create_app

    from .test_service import Client

    repo = private_copy(email_repo, tmp_path)
    body = {
        "transaction_id": "s-1",
        "timestamp": (CUTOFF + pd.Timedelta(hours=1)).isoformat(),
        "customer_id": "C-1",
        "terminal_id": "T-1",
        "amount": 42.0,
        "channel": "online",
    }
    before = store_rows(repo)
    name = email_kind.name
    with Client(create_app(email_bundle, repo, timeout=0.3)) as client:
        for field, value in [("email", ""), ("email", 7), ("account_age_days", "x")]:
            bad = {**body, field: value}
            for path in (f"/decide/{name}", f"/score/{name}"):
                status, answer = client.post(path, bad)
                assert status == 422 and answer["field"] == field, answer
            status, answer = client.post(f"/record/{name}", {"event": bad, "decided": None})
            assert status == 422 and answer["field"] == field, answer
        assert store_rows(repo) == before
        status, answer = client.post(f"/record/{name}", {"event": {**body, "email": "e1"}})
        assert status == 200, answer
    after = store_rows(repo)
    assert len(after[table_of(after, "email_state")]) > len(before[table_of(before, "email_state")])


def test_bad_rows_of_the_new_fields_are_listed_or_dropped(
    email_kind: fs.EventKind, sim: pd.DataFrame
) -> None:
    """A frame with bad emails or account ages is a BadRowsError naming each column and its
    rows; with bad_rows="drop" those rows are dropped and counted, and the others keep their
    email and age."""
    frame = with_own_fields(sim.head(400)).astype({"email": object, "account_age_days": object})
    bad_email, bad_age = frame.index[[3, 40]], frame.index[[7, 80, 90]]
    frame.loc[bad_email, "email"] = ["", 12]
    frame.loc[bad_age, "account_age_days"] = ["x", math.inf, "nan"]
    with pytest.raises(fs.BadRowsError) as info:
        fs.build_features(frame, email_kind)
    counts = {reason.split(":")[0]: n for reason, (n, _) in info.value.problems.items()}
    assert counts == {"email": 2, "account_age_days": 3}
    dropped = fs.build_features(frame, email_kind, bad_rows="drop")
    assert sum(dropped.dropped_rows.values()) == 5
    gone = set(frame.loc[bad_email.union(bad_age), "transaction_id"])
    kept = dropped.frame.set_index("transaction_id")
    assert not gone & set(kept.index) and len(kept) == len(frame) - 5
    want = frame.set_index("transaction_id").loc[kept.index]
    assert kept["email"].tolist() == [e if isinstance(e, str) else None for e in want["email"]]
    np.testing.assert_array_equal(kept["account_age_days"], want["account_age_days"].astype(float))


@pytest.mark.parametrize(
    ("change", "option"),
    [
        ({"fields": {"amount": "number"}}, "fields"),  # a base field
        ({"fields": {"Email": "id"}}, "fields"),
        ({"fields": {"email": "text"}}, "fields['email']"),
        ({"fields": ["email"]}, "fields"),
        (
            {"views": [fs.StateView("v", ("phone",), ("tx",), (), timedelta(days=1))]},
            "views['v'].keys",
        ),
        (
            {"views": [fs.StateView("v", ("email",), ("label",), (), timedelta(days=1))]},
            "views['v'].clocks",
        ),
        (
            {"views": [fs.StateView("v", ("customer_id", "email"), ("label",), (), timedelta(1))]},
            "views['v'].clocks",
        ),
        ({"entities": {"phone": ("phone", "A phone.")}}, "entities"),
        ({"entities": {"customer_id": ("card", "A card.")}}, "entities"),
        ({"entities": {"email": ("email",)}}, "entities['email']"),
    ],
)
def test_a_bad_extension_with_fields_names_what_is_wrong(
    change: dict[str, Any], option: str
) -> None:
    """A clashing or badly named field, an unknown field type, a view keyed on a field that is
    not there, a label-clock view keyed on a new field, and entities of anything but a new id
    field are ConfigErrors naming the argument."""
    args: dict[str, Any] = {
        "fields": {"email": "id"},
        "views": [EMAIL],
        "features": {"email_n_1d": EMAIL_FEATURES["email_n_1d"]},
    } | change
    with pytest.raises(fs.ConfigError) as info:
        fs.extend_kind(fs.get_kind("transaction"), "email_ext", **args)
    assert info.value.option == option


def test_the_feast_objects_have_an_entity_for_the_new_field() -> None:
    """feast_objects() of the extension has the email entity, under the given name and
    description (the field's name by default), and the new views keyed on it."""
    objects = fs.feast_objects([email_extension()])
    entity = objects["email_address"]
    assert (entity.join_key, entity.description) == ("email", "A customer's email, hashed.")
    assert "email" not in objects
    assert sorted(objects["email_state"].entities) == ["email_address"]
    assert sorted(objects["card_email_state"].entities) == ["customer", "email_address"]
    service = objects["email_ext_model"]
    assert {"email_state", "card_email_state"} <= {p.name for p in service.feature_view_projections}
    default = fs.feast_objects([email_extension(entities=None)])
    assert default["email"].join_key == "email"


def test_the_partitioned_fold_of_an_extension_equals_the_in_memory_fold(
    email_kind: fs.EventKind, email_offline: fs.OfflineFeatures, sim: pd.DataFrame, tmp_path: Path
) -> None:
    """fold_partitioned over shuffled parquet parts gives the in-memory fold of the email
    extension: every feature and every state row, the email views' included."""
    src = write_parts(with_own_fields(sim), tmp_path / "src", parts=3, row_group=500)
    folded = fs.fold_partitioned(
        src, tmp_path / "out", email_kind.name, partition_rows=len(sim) // 7
    )
    assert folded.partitions >= 7
    assert len(email_offline.history["email_state"]) > 0
    assert_same(folded.load(), email_offline)
