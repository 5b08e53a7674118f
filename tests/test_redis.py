"""Redis online store: the same repo runs on Feast's Redis store (standalone and cluster), and
RedisSource reads and writes exactly what Feast's get_online_features sees."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from fraudscore import ConfigError, FeastSource, FeatureStoreError, RedisSource, Scorer, open_source
from fraudscore._feast import open_store
from fraudscore._kinds import LOGIN, TRANSACTION
from fraudscore._online.redis import _pack
from fraudscore._state import ABSENT
from fraudscore._training.offline import OfflineFeatures
from fraudscore._training.pipeline import replay

from .conftest import (
    CUTOFF,
    LOGIN_CUTOFF,
    REDIS,
    capture_features,
    copy_repo,
    private_copy,
    redis_or_skip,
    use_store,
)

pytestmark = pytest.mark.redis

REDIS_TYPES = ("redis", "redis_cluster")
KINDS = {
    "transaction": (TRANSACTION, "offline", CUTOFF),
    "login": (LOGIN, "login_offline", LOGIN_CUTOFF),
}
CASES = [
    (kind, store, vi)
    for kind, (spec, _, _) in KINDS.items()
    for store in REDIS_TYPES
    for vi in range(len(spec.views))
]


def known_keys(offline: OfflineFeatures, view_index: int, spec, cutoff, n: int = 5) -> list:  # type: ignore[no-untyped-def]
    view = spec.views[view_index]
    hist = offline.history[view.name]
    rows = hist[hist["event_timestamp"] < cutoff][list(view.keys)].drop_duplicates().head(n)
    return [tuple(r) for r in rows.itertuples(index=False)]


@pytest.mark.parametrize(("kind", "store", "view_index"), CASES)
def test_redis_source_equals_get_online_features(
    built_on: Callable[[str, str], Path],
    request: pytest.FixtureRequest,
    kind: str,
    store: str,
    view_index: int,
) -> None:
    """For every view of both kinds, on redis and redis_cluster, RedisSource returns exactly what
    get_online_features returns: known entities, an unknown one, and one stored only in part."""
    spec, offline_name, cutoff = KINDS[kind]
    offline = request.getfixturevalue(offline_name)
    repo = built_on(kind, store)
    fs = open_store(repo)
    fast, ref = RedisSource(fs, spec.views), FeastSource(fs, spec.views)
    view = spec.views[view_index]
    known = known_keys(offline, view_index, spec, cutoff)
    assert len(known) >= min(2, len(offline.history[view.name][list(view.keys)].drop_duplicates()))
    unknown = tuple("nobody" for _ in view.keys)
    keys: list[list[tuple[str, ...]]] = [[] for _ in spec.views]
    keys[view_index] = [*known, unknown]
    a, b = fast.read(keys)[view_index], ref.read(keys)[view_index]
    np.testing.assert_array_equal(a, b)
    np.testing.assert_array_equal(a[-1], view.empty(1)[0])
    assert not np.isnan(a[:-1, : len(view.clocks)]).all(axis=1).any()
    # One event's read (one pipelined round trip over every view) agrees too.
    one = [known_keys(offline, i, spec, cutoff, 1)[0] for i in range(len(spec.views))]
    for x, y in zip(fast.read_one(one), ref.read_one(one)):
        np.testing.assert_array_equal(x, y)


@pytest.mark.parametrize("store", REDIS_TYPES)
@pytest.mark.parametrize("kind", KINDS)
def test_partially_stored_entities_read_like_feast(
    fresh_on: Callable[[str, str], Path], request: pytest.FixtureRequest, kind: str, store: str
) -> None:
    """In every view, an entity hash missing one feature field reads as Feast reads it: that
    feature NaN, the others as stored."""
    spec, offline_name, cutoff = KINDS[kind]
    offline = request.getfixturevalue(offline_name)
    fs = open_store(fresh_on(kind, store))
    fast, ref = RedisSource(fs, spec.views), FeastSource(fs, spec.views)
    keys: list[list[tuple[str, ...]]] = [[] for _ in spec.views]
    for vi, view in enumerate(spec.views):
        key = known_keys(offline, vi, spec, cutoff, 1)[0]
        dropped = view.fields[-1]  # an accumulator or a latest value, never the only clock
        rkey = fast.redis_key(vi, key)
        fast._roundtrip(fast._node(rkey), [_pack(b"HDEL", rkey, fast._fields[vi][-1])])
        keys[vi] = [key]
    for view, a, b in zip(spec.views, fast.read(keys), ref.read(keys)):
        np.testing.assert_array_equal(a, b, err_msg=view.name)
        assert np.isnan(a[0, -1]) and not np.isnan(a[0, 0]), (view.name, dropped)
    one = [k[0] for k in keys]
    for x, y in zip(fast.read_one(one), ref.read_one(one)):
        np.testing.assert_array_equal(x, y)


#: Per kind: a feature the replay window must exercise (labels arrived; attacks happened).
EXERCISED = {"transaction": ("term_fraud_7d", 0.0), "login": ("ip_users_1d", 1.0)}


@pytest.mark.parametrize("store", REDIS_TYPES)
@pytest.mark.parametrize("kind", KINDS)
def test_redis_replay_equals_offline_frame_and_feast_sees_the_writes(
    fresh_on: Callable[[str, str], Path], request: pytest.FixtureRequest, kind: str, store: str
) -> None:
    """Replaying events (and fraud labels) through record on Redis gives the offline features at
    every event, the login's derived distinct-users-per-IP column included (in a cluster its two
    views commit separately, in order); get_online_features then reads what RedisSource wrote."""
    spec, offline_name, cutoff = KINDS[kind]
    offline = request.getfixturevalue(offline_name)
    bundle = request.getfixturevalue("bundle_dir" if kind == "transaction" else "login_bundle_dir")
    repo = fresh_on(kind, store)
    scorer = Scorer.open(bundle, repo)
    assert isinstance(scorer.source, RedisSource)
    captured = capture_features(scorer)
    end = cutoff + pd.Timedelta(days=3)
    results = replay(scorer, offline.frame, cutoff.to_pydatetime(), end.to_pydatetime())
    events = [e for e, _ in results]
    ids = [getattr(e, spec.id_field) for e in events]
    assert len(ids) > 200
    expected = offline.frame.set_index(spec.id_field).loc[ids, list(spec.features)].to_numpy()
    np.testing.assert_allclose(np.vstack(captured), expected, rtol=1e-9, atol=1e-9)
    feature, floor = EXERCISED[kind]
    assert (expected[:, spec.features.index(feature)] > floor).any()
    touched = [list(dict.fromkeys(spec.keys(e)[i] for e in events)) for i in range(len(spec.views))]
    ref = FeastSource(open_store(repo), spec.views)
    for a, b in zip(scorer.source.read(touched), ref.read(touched)):
        np.testing.assert_array_equal(a, b)


@pytest.mark.parametrize("store", REDIS_TYPES)
def test_redis_ttl_is_enforced_like_sqlite(
    built_on: Callable[[str, str], Path], bundle_dir: Path, offline: OfflineFeatures, store: str
) -> None:
    """State older than its view's ttl reads as no history on Redis too, and is flagged stale."""
    from dataclasses import replace
    from datetime import timedelta

    from fraudscore._training.pipeline import to_events

    scorer = Scorer.open(bundle_dir, built_on("transaction", store))
    tx = to_events(offline.frame[offline.frame["timestamp"] >= CUTOFF].head(1), TRANSACTION)[0]
    late = replace(tx, timestamp=tx.timestamp + timedelta(days=400))
    result = scorer.score(late)
    fresh = scorer.score(tx)
    assert "customer_state" not in fresh.stale_state + fresh.missing_state
    # Every view whose entity the event carries and the store holds goes stale.
    carried = {v.name for v, k in zip(TRANSACTION.views, TRANSACTION.keys(tx)) if ABSENT not in k}
    held = carried - set(fresh.missing_state)
    assert {"customer_state", "terminal_state"} <= held
    assert set(result.stale_state) == held


def test_unreachable_redis_fails_at_construction(
    built_on: Callable[[str, str], Path], tmp_path: Path
) -> None:
    """A Redis repo whose server is not there fails at open with FeatureStoreError, quickly."""
    import time

    repo = private_copy(built_on("transaction", "redis"), tmp_path)
    yaml = repo / "feature_store.yaml"
    yaml.write_text(yaml.read_text().replace(REDIS["redis"], "127.0.0.1:1"))
    start = time.monotonic()
    with pytest.raises(FeatureStoreError, match="Redis"):
        open_source(repo, TRANSACTION.views, timeout=0.5)
    assert time.monotonic() - start < 5


def test_sentinel_on_a_plain_server_is_refused_clearly(tmp_path: Path) -> None:
    """redis_sentinel pointed at a plain Redis server (no sentinel there) is refused at
    construction, naming redis_sentinel (docs/redis.md: Sentinel)."""
    redis_or_skip("redis")
    repo = use_store(copy_repo(tmp_path / "feature_repo"), "redis")
    yaml = repo / "feature_store.yaml"
    yaml.write_text(yaml.read_text().replace("redis_type: redis", "redis_type: redis_sentinel"))
    with pytest.raises(FeatureStoreError, match="redis_sentinel"):
        open_source(repo, TRANSACTION.views)


@pytest.mark.parametrize("store", REDIS_TYPES)
def test_writes_keep_feasts_key_expiry(
    fresh_on: Callable[[str, str], Path], bundle_dir: Path, offline: OfflineFeatures, store: str
) -> None:
    """With Feast's key_ttl_seconds set, an entity key that record creates expires as Feast's own
    writes would make it; without it, it does not."""
    from fraudscore import Transaction

    repo = fresh_on("transaction", store)
    for ttl, expect in ((None, -1), (3600, 3600)):
        if ttl:
            yaml = repo / "feature_store.yaml"
            yaml.write_text(
                yaml.read_text().replace(
                    "  redis_type:", f"  key_ttl_seconds: {ttl}\n  redis_type:"
                )
            )
        scorer = Scorer.open(bundle_dir, repo)
        card = f"new-card-{ttl}"
        scorer.record(Transaction(f"t{ttl}", CUTOFF.to_pydatetime(), card, "T1", 5.0))
        source = scorer.source
        assert isinstance(source, RedisSource)
        rkey = source.redis_key(0, (card,))
        [left] = source._roundtrip(source._node(rkey), [_pack(b"TTL", rkey)])
        assert left == expect if expect < 0 else 0 < left <= expect


@pytest.mark.parametrize(
    ("options", "option"),
    [
        ({"max_retries": -1}, "max_retries"),
        ({"max_retries": "3"}, "max_retries"),
        ({"failover_timeout": 1.0}, "failover_timeout"),
    ],
)
def test_bad_store_options_name_the_option(
    tmp_path: Path, options: dict[str, object], option: str
) -> None:
    """A Redis source's options are checked at open: a bad retry count, or a failover timeout
    on a store that has no failover (standalone), is a ConfigError naming it."""
    redis_or_skip("redis")
    repo = use_store(copy_repo(tmp_path / "feature_repo"), "redis")
    with pytest.raises(ConfigError) as info:
        open_source(repo, TRANSACTION.views, **options)
    assert info.value.option == option
