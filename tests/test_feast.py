"""Feast integration: apply + materialize a real repo; the fast reader equals get_online_features."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from feast.infra.key_encoding_utils import serialize_entity_key
from feast.protos.feast.types.EntityKey_pb2 import EntityKey
from feast.protos.feast.types.Value_pb2 import Value

from fraudscore import FeastSource, FeatureStoreError, SqliteSource, open_source
from fraudscore._feast import open_store
from fraudscore._kinds.transaction import VIEWS
from fraudscore._online.base import decode_value, encode_key, encode_value
from fraudscore._online.repo import apply_repo
from fraudscore._training.offline import OfflineFeatures

from .conftest import CUTOFF, copy_repo


def latest_before(
    history: pd.DataFrame, keys: tuple[str, ...], cutoff: pd.Timestamp
) -> pd.DataFrame:
    h = history[history["event_timestamp"] < cutoff]
    return h.sort_values(["event_timestamp", "created"]).groupby(list(keys)).tail(1)


def some_keys(offline: OfflineFeatures, view_index: int, n: int = 5) -> list[tuple[str, ...]]:
    view = VIEWS[view_index]
    hist = latest_before(offline.history[view.name], view.keys, CUTOFF)
    return [tuple(r) for r in hist[list(view.keys)].head(n).itertuples(index=False)]


def test_get_online_features_returns_the_materialized_state(
    built_repo: Path, offline: OfflineFeatures
) -> None:
    """After apply + materialize, Feast serves each entity's latest state before the cutoff."""
    store = open_store(built_repo)
    for view in VIEWS:
        expected = latest_before(offline.history[view.name], view.keys, CUTOFF).head(20)
        rows = [dict(zip(view.keys, k)) for k in expected[list(view.keys)].itertuples(index=False)]
        got = store.get_online_features(
            features=[f"{view.name}:{f}" for f in view.fields], entity_rows=rows
        ).to_dict()
        for f in view.fields:
            want = expected[f].to_numpy()
            have = np.array([np.nan if v is None else v for v in got[f]], dtype=float)
            np.testing.assert_array_equal(have, want, err_msg=f"{view.name}.{f}")


def test_feature_service_names_every_view(built_repo: Path) -> None:
    """transaction_model_v4 is registered and covers every transaction state view."""
    store = open_store(built_repo)
    service = store.get_feature_service("transaction_model_v4")
    assert sorted(p.name for p in service.feature_view_projections) == sorted(v.name for v in VIEWS)


@pytest.mark.parametrize("view_index", range(len(VIEWS)))
def test_fast_reader_equals_get_online_features(
    built_repo: Path, offline: OfflineFeatures, view_index: int
) -> None:
    """SqliteSource returns exactly what FeatureStore.get_online_features does, unknown keys too."""
    store = open_store(built_repo)
    fast, ref = SqliteSource(store, VIEWS), FeastSource(store, VIEWS)
    view = VIEWS[view_index]
    known = some_keys(offline, view_index)
    unknown = [tuple(f"nobody-{i}" for i in range(len(view.keys)))]
    keys: list[list[tuple[str, ...]]] = [[] for _ in VIEWS]
    keys[view_index] = known + unknown
    a = fast.read(keys)[view_index]
    b = ref.read(keys)[view_index]
    np.testing.assert_array_equal(a, b)
    np.testing.assert_array_equal(a[-1], view.empty(1)[0])
    assert not np.isnan(a[:-1, : len(view.clocks)]).all(axis=1).any()
    # Single-event path (one statement across views) agrees too.
    one = [some_keys(offline, i, 1)[0] for i in range(len(VIEWS))]
    for x, y in zip(fast.read_one(one), ref.read_one(one)):
        np.testing.assert_array_equal(x, y)
    unknown_one = [tuple(f"nobody-{i}" for i in range(len(v.keys))) for v in VIEWS]
    for got, v in zip(fast.read_one(unknown_one), VIEWS):
        np.testing.assert_array_equal(got, v.empty_row())
    # And the raw Feast answer for the unknown key is all None.
    raw = store.get_online_features(
        features=[f"{view.name}:{f}" for f in view.fields],
        entity_rows=[dict(zip(view.keys, unknown[0]))],
    ).to_dict()
    assert all(raw[f] == [None] for f in view.fields)


@pytest.mark.parametrize("key", [("C1",), ("ünïcødé-ключ",), ("",)])
def test_key_encoding_is_feasts(key: tuple[str, ...]) -> None:
    """Our entity-key bytes equal feast.serialize_entity_key (v3), for one and two join keys."""
    for join_keys, values in ((["customer_id"], key), (["terminal_id", "customer_id"], key * 2)):
        proto = EntityKey(join_keys=join_keys, entity_values=[Value(string_val=v) for v in values])
        assert encode_key(join_keys, values) == serialize_entity_key(proto, 3)


@pytest.mark.parametrize("x", [0.0, -1.5, 1e300, 1525018649.0, float("nan")])
def test_value_encoding_round_trips_like_feast(x: float) -> None:
    """Values are stored as Feast's ValueProto(double_val) bytes; NaN as the null value."""
    raw = encode_value(x)
    expected = b"" if np.isnan(x) else Value(double_val=x).SerializeToString()
    assert raw == expected
    assert np.array_equal(decode_value(raw), x, equal_nan=True)
    assert decode_value(Value(float_val=2.5).SerializeToString()) == 2.5


def test_unknown_online_store_type_is_refused(tmp_path: Path) -> None:
    """open_source fails at construction, with a clear error, on a store type it does not know."""
    repo = copy_repo(tmp_path / "feature_repo")
    yaml = (repo / "feature_store.yaml").read_text()
    (repo / "feature_store.yaml").write_text(
        yaml.replace(
            "type: sqlite\n  path: data/online_store.db",
            "type: remote\n  path: http://127.0.0.1:6566",
        )
    )
    with pytest.raises(FeatureStoreError, match="not supported"):
        open_source(repo, VIEWS)


def test_unapplied_repo_gives_a_clear_error(tmp_path: Path) -> None:
    """Reading a repo that was never applied says to run apply, not a Feast traceback."""
    repo = copy_repo(tmp_path / "feature_repo")
    with pytest.raises(FeatureStoreError, match="apply"):
        open_source(repo, VIEWS)


def test_not_a_repo_is_refused(tmp_path: Path) -> None:
    """A directory without feature_store.yaml is not a Feast repo."""
    with pytest.raises(FeatureStoreError, match="feature_store.yaml"):
        open_store(tmp_path)


def test_feast_errors_are_mapped(tmp_path: Path) -> None:
    """A Feast failure inside apply surfaces as FeatureStoreError chained to the original."""
    repo = copy_repo(tmp_path / "feature_repo")
    (repo / "broken.py").write_text(
        "from feast import FeatureView\nbad = FeatureView(name='x', source=None, schema=[])\n"
    )
    with pytest.raises(FeatureStoreError) as info:
        apply_repo(repo)
    assert info.value.__cause__ is not None


def test_layout_mismatch_is_refused(built_repo: Path) -> None:
    """A registered view whose fields differ from this library's state is refused at construction."""
    from dataclasses import replace

    store = open_store(built_repo)
    other = replace(VIEWS[0], accumulators=VIEWS[0].accumulators[:-1])
    with pytest.raises(FeatureStoreError, match="expects"):
        SqliteSource(store, (other,))


def test_bulk_decoding_equals_one_by_one() -> None:
    """decode_values gives decode_value's answers, for doubles, nulls and other value types."""
    from fraudscore._online.base import decode_values

    doubles = [encode_value(x) for x in (1.5, float("nan"), -2.0, 1e300)]
    mixed = [
        *doubles,
        Value(float_val=2.5).SerializeToString(),
        Value(int64_val=7).SerializeToString(),
    ]
    for raws in (doubles, mixed, []):
        np.testing.assert_array_equal(decode_values(raws), [decode_value(r) for r in raws])


def test_apply_adds_a_covering_read_index(built_repo: Path) -> None:
    """apply leaves each online table with the scorer's covering index, and the read uses it."""
    import sqlite3

    store = open_store(built_repo)
    source = SqliteSource(store, VIEWS)
    with sqlite3.connect(source.path) as conn:
        for table in source.tables:
            names = [r[1] for r in conn.execute(f'PRAGMA index_list("{table}")')]
            assert f"{table}_fraudscore_read" in names
        # The statement read_one runs (values in index order), and the by-name fallback.
        for sql in (source._one_ordered, source._one):
            plan = " ".join(
                r[3] for r in conn.execute("EXPLAIN QUERY PLAN " + sql, [b"k"] * len(VIEWS))
            )
            assert plan.count("COVERING INDEX") == len(VIEWS), plan


def test_partial_entity_rows_are_placed_by_name(repo: Path, offline: OfflineFeatures) -> None:
    """An entity with only some feature rows reads like Feast: present values by name, NaN for
    the missing feature (single and bulk reads)."""
    import sqlite3

    store = open_store(repo)
    fast, ref = SqliteSource(store, VIEWS), FeastSource(store, VIEWS)
    keys = [some_keys(offline, i, 1)[0] for i in range(len(VIEWS))]
    complete = fast.read_one(keys)
    with sqlite3.connect(fast.path) as conn:
        conn.execute(
            f'DELETE FROM "{fast.tables[0]}" WHERE entity_key = ? AND feature_name = ?',
            (encode_key(VIEWS[0].keys, keys[0]), "n_1h"),
        )
    partial = fast.read_one(keys)
    assert np.isnan(partial[0][VIEWS[0].index["n_1h"]])
    others = [i for i in range(VIEWS[0].width) if i != VIEWS[0].index["n_1h"]]
    np.testing.assert_array_equal([partial[0][i] for i in others], [complete[0][i] for i in others])
    for got, want in zip(partial, ref.read_one(keys)):
        np.testing.assert_array_equal(got, want)
    bulk = [[k, ("nobody",) * len(v.keys)] for k, v in zip(keys, VIEWS)]
    for got, want in zip(fast.read(bulk), ref.read(bulk)):
        np.testing.assert_array_equal(got, want)
