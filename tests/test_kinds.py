"""Every registered kind, generically: its declaration holds together, and the features it
serves online (a real Scorer on a real Feast SQLite store, score then record) are the offline
fold's, event for event.

The cases are parametrized over ``fraudscore._kinds.KINDS`` at collection, so a kind that
registers itself there is checked with no edit here: the declaration checks run for every
kind, the skew check for every kind that declares a simulator (it simulates with the first).
"""

from __future__ import annotations

import dataclasses
import functools
import math
from collections.abc import Sequence
from datetime import timedelta
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import fraudscore as fs
from fraudscore._kinds import KINDS, EventKind, served_values
from fraudscore._serving.reasons import ReasonCatalogue, TemplateValues
from fraudscore._state import PY
from fraudscore._training.pipeline import replay

from .conftest import capture_features, copy_repo

ALL_KINDS = list(KINDS.values())
SIMULATED = [k for k in ALL_KINDS if k.simulators]

#: A small history per kind: at least this many entities (the simulator's ``size``) over these
#: days, doubled (at most 16 times as many) until its last day, the day replayed live, holds
#: ``MIN_LIVE`` events: a kind with few events per entity gets more entities.
N_ENTITIES = 120
N_DAYS = 25
SEED = 11
MIN_LIVE = 150
#: The model is trained on the first days; the last day is replayed live.
TRAIN_DAYS = 17
#: A cheap model: the skew check compares what the model receives, not how good it is.
CHEAP = fs.TrainConfig(n_estimators=20, early_stopping_rounds=5, max_depth=3, refit=False)
#: The tolerance of the existing skew tests (tests/test_scorer.py, test_login.py,
#: test_extend.py): the float64 features the model is handed (before its float32 cast).
RTOL = ATOL = 1e-9


def by_name(kinds: list[EventKind]) -> list[object]:
    return [pytest.param(k, id=k.name) for k in kinds]


@functools.cache
def history(name: str, simulator: str | None = None) -> pd.DataFrame:
    """A small labelled canonical history of kind ``name`` from its simulator ``simulator``
    (the first by default), with ``MIN_LIVE`` events on its last day; one per session: the
    frame is shared, never modified."""
    sims = KINDS[name].simulators
    sim = sims[simulator or next(iter(sims))]
    for size in (N_ENTITIES * 2**k for k in range(5)):
        config = dataclasses.replace(sim.config, n_days=N_DAYS, seed=SEED, **{sim.size: size})
        data = sim.simulate(config)
        if (data["timestamp"] >= data["timestamp"].max().normalize()).sum() >= MIN_LIVE:
            break
    return data


def with_decisions(data: pd.DataFrame, kind: EventKind) -> pd.DataFrame:
    """``data`` with a ``decision`` column (what the defence served, as a decision log has it):
    each of the kind's decisions or unknown, mixed, so that the fold and the replay both record
    events let through and events held or blocked (clocks such as ``ok`` move only on some)."""
    if "decision" in data.columns:
        return data
    rng = np.random.default_rng(SEED)
    choices = np.array([None, *kind.decisions], dtype=object)
    served = choices[rng.choice(len(choices), size=len(data), p=[0.25, 0.45, 0.15, 0.15])]
    return data.assign(decision=served)


def assert_features_equal(
    served: np.ndarray, offline: np.ndarray, names: tuple[str, ...], ids: Sequence[object]
) -> None:
    """``served[i, j] == offline[i, j]`` for every event ``i`` and feature ``j``, to the skew
    tests' tolerance, NaN exactly where NaN (and an infinity only where the same infinity).
    A mismatch names the features, the events and both values."""
    served, offline = np.asarray(served, dtype=float), np.asarray(offline, dtype=float)
    assert served.ndim == 2 and served.shape == offline.shape == (len(ids), len(names)), (
        f"shapes: served {served.shape}, offline {offline.shape}, "
        f"{len(ids)} events x {len(names)} features"
    )
    close = np.isclose(served, offline, rtol=RTOL, atol=ATOL, equal_nan=True)
    if close.all():
        return
    bad: list[tuple[int, int]] = [(int(i), int(j)) for i, j in np.argwhere(~close)]
    per_feature = pd.Series([names[j] for _, j in bad]).value_counts().to_dict()
    shown = "\n".join(
        f"  event {ids[i]!r}, {names[j]}: "
        f"served {float(served[i, j])!r}, offline {float(offline[i, j])!r}"
        for i, j in bad[:12]
    )
    raise AssertionError(
        f"{len(bad)} served feature values differ from the offline fold "
        f"(by feature: {per_feature}):\n{shown}"
    )


# The helper itself -------------------------------------------------------------------------


def test_the_feature_comparison_is_not_vacuous() -> None:
    """Equal (NaN where NaN) passes, rounding passes; any real difference fails, and names it."""
    names = ("a", "b", "c")
    base = np.array([[1.0, np.nan, 0.0], [2.5e6, 3.0, -1.0], [np.inf, 0.25, 7.0]])
    ids = ["e0", "e1", "e2"]
    assert_features_equal(base.copy(), base, names, ids)
    assert_features_equal(base * (1 + 1e-12), base, names, ids)  # float rounding
    changes = [
        ((1, 0), 2.5e6 * (1 + 1e-6)),  # a relative difference far above rounding
        ((0, 2), 1e-6),  # an absolute one next to zero
        ((0, 1), 0.0),  # a value where offline has NaN
        ((1, 1), np.nan),  # NaN where offline has a value
        ((2, 0), -np.inf),  # the other infinity
    ]
    for (i, j), value in changes:
        bad = base.copy()
        bad[i, j] = value
        with pytest.raises(AssertionError, match=rf"event 'e{i}', {names[j]}: served"):
            assert_features_equal(bad, base, names, ids)
    with pytest.raises(AssertionError, match="shapes"):
        assert_features_equal(base[:, :2], base[:, :2], names, ids)  # a feature left out


# Declarations, for every registered kind -------------------------------------------------


@pytest.mark.parametrize("kind", by_name(ALL_KINDS))
def test_the_sample_event_is_valid_and_keys_every_view(kind: EventKind) -> None:
    """``sample()`` is the kind's event type; ``values`` gives it float columns (``t`` its
    time), ``keys`` one key per view as wide as the view's keys, ``clocks`` known clocks whatever
    was served, and
    ``compute`` on empty state gives one value per feature."""
    event = kind.sample()
    assert type(event) is kind.event_type
    assert isinstance(getattr(event, kind.id_field), str)
    values = kind.values(event)
    assert values and all(isinstance(k, str) for k in values)
    assert all(isinstance(v, float) for v in values.values()), values
    assert values["t"] == pytest.approx(event.timestamp.timestamp(), abs=1e-6)
    keys = kind.keys(event)
    assert len(keys) == len(kind.views)
    for view, key in zip(kind.views, keys, strict=True):
        assert isinstance(key, tuple) and len(key) == len(view.keys), (view.name, key)
        assert all(isinstance(part, str) and part for part in key), (view.name, key)
    every_clock = {c for v in kind.views for c in v.clocks}
    for decision in (None, *kind.decisions):  # recorded as served: let through or flagged
        moved = kind.clocks(values | served_values(decision, kind.decisions))
        assert set(moved) <= every_clock, (decision, moved)
    reads = {v.name: v.read(v.empty_row(), values["t"], PY)[0] for v in kind.views}
    x = kind.compute(values, reads, PY)
    assert len(x) == len(kind.features)
    assert all(isinstance(v, float) for v in x), x


@pytest.mark.parametrize("kind", by_name(ALL_KINDS))
def test_features_views_reasons_and_decisions_are_consistent(kind: EventKind) -> None:
    """Feature and view names are unique, each reason code reads only the kind's features,
    the decisions are three distinct names and the alert rates are ordered."""
    assert len(set(kind.features)) == len(kind.features) > 0
    assert len({v.name for v in kind.views}) == len(kind.views) > 0
    assert {key for v in kind.views for key in v.keys} <= set(kind.entities)
    for column, view in kind.derived:
        assert view in {v.name for v in kind.views}, (column, view)
    codes = kind.catalogue["codes"]
    assert codes
    for code, reason in codes.items():
        assert reason["features"], code
        unknown = set(reason["features"]) - set(kind.features)
        assert not unknown, f"reason {code} reads {sorted(unknown)}, not among the features"
    assert len(kind.decisions) == 3 and len(set(kind.decisions)) == 3
    assert all(isinstance(d, str) and d for d in kind.decisions)
    review, block = kind.alert_rates
    assert 0.0 < block <= review < 1.0


@pytest.mark.parametrize("kind", by_name(ALL_KINDS))
def test_the_label_type_carries_what_label_views_need(kind: EventKind) -> None:
    """A kind with views on the ``label`` clock has a label type with each such view's keys,
    ``label_time`` and the kind's label flag; a kind with none has no label type."""
    label_views = [v for v in kind.views if "label" in v.clocks]
    if kind.label_type is None:
        assert not label_views, [v.name for v in label_views]
        return
    assert label_views, "a label type, but no view reads labels"
    fields = {f.name for f in dataclasses.fields(kind.label_type)}
    assert {"label_time", kind.label} <= fields, fields
    for view in label_views:
        assert set(view.keys) <= fields, (view.name, view.keys, fields)


@pytest.mark.parametrize("kind", by_name(ALL_KINDS))
def test_starter_rules_load(kind: EventKind) -> None:
    """The kind's starter rules file (when it ships one) loads as that kind's rules."""
    if kind.starter_rules is None:
        with pytest.raises(fs.ConfigError):
            fs.starter_rules(kind.name)
        return
    path = fs.starter_rules(kind.name)
    assert Path(path) == kind.starter_rules and Path(path).is_file()
    fs.load_rules(path, kind.name)


@pytest.mark.parametrize("kind", by_name(ALL_KINDS))
def test_the_simulated_frames_have_the_declared_columns(kind: EventKind) -> None:
    """Each simulator's frame, prepared, holds the kind's canonical columns, the label, the
    pattern column and unique event ids; its size field counts what it says."""
    if not kind.simulators:
        pytest.skip(f"{kind.name} declares no simulator")
    for name, sim in kind.simulators.items():
        fields = {f.name for f in dataclasses.fields(sim.config)}
        assert {sim.size, "n_days", "seed", "start"} <= fields, (name, fields)
        assert sim.size_of and sim.train_days > 0, name
        data = history(kind.name, name)
        prepared = kind.prepare(data)
        assert len(prepared) == len(data) > 0, name
        assert {kind.label, kind.id_field, "timestamp", sim.pattern} <= set(data.columns), name
        assert prepared[kind.id_field].is_unique, name
        assert prepared[kind.label].isin([0, 1]).all(), name


# Offline = online, for every kind with a simulator ------------------------------------------


@pytest.mark.slow
@pytest.mark.parametrize("kind", by_name(SIMULATED))
def test_served_features_equal_the_offline_fold(kind: EventKind, tmp_path: Path) -> None:
    """Simulate a small history, fold it offline, build a real Feast SQLite store as of the
    start of its last day, train a cheap model on its first days, then replay the last day
    through a Scorer (score then record each event as it was served, decisions mixed, and
    each label as it becomes known): the features the model received for every scored event
    are the fold's, every feature column, NaN where NaN."""
    offline = fs.build_features(with_decisions(history(kind.name), kind), kind.name)
    frame = offline.frame
    assert set(frame["decision"].dropna()) == set(kind.decisions)
    assert not set(kind.features) - set(frame.columns)
    assert frame[kind.id_field].is_unique
    live = pd.Timestamp(frame["timestamp"].max().normalize())
    first = frame["timestamp"].min().date()
    assert live.date() - first >= timedelta(days=TRAIN_DAYS + 1)
    repo = copy_repo(tmp_path / "feature_repo")
    fs.build_store(repo, offline, as_of=(live - pd.Timedelta(microseconds=1)).to_pydatetime())
    bundle = tmp_path / "bundle"
    fs.train_model(offline, first, first + timedelta(days=TRAIN_DAYS - 1), bundle, CHEAP)

    scorer = fs.Scorer.open(bundle, repo)
    served = capture_features(scorer)
    end = live + pd.Timedelta(days=1)
    results = replay(scorer, frame, live.to_pydatetime(), end.to_pydatetime())

    window = frame[(frame["timestamp"] >= live) & (frame["timestamp"] < end)]
    ids = [getattr(event, kind.id_field) for event, _ in results]
    assert len(ids) >= MIN_LIVE, f"only {len(ids)} events scored live"
    assert sorted(ids) == sorted(window[kind.id_field]), "every event of the day is scored"
    assert len(served) == len(ids), "one feature row per scored event"
    online = np.vstack(served)
    expected = frame.set_index(kind.id_field).loc[ids, list(kind.features)].to_numpy(float)
    assert online.shape == expected.shape == (len(ids), len(kind.features))
    assert np.isfinite(expected).any()
    if kind.label_type is not None:  # label-derived state moved during the replay
        known = frame["label_time"]
        arrived = (frame[kind.label] == 1) & (known >= live) & (known < end)
        assert arrived.any(), "no label became known during the replay"
    assert_features_equal(online, expected, kind.features, ids)

    # The comparison is live on these very rows: one perturbed offline value is caught.
    finite = np.argwhere(np.isfinite(expected))
    i, j = finite[len(finite) // 2]
    wrong = expected.copy()
    wrong[i, j] += max(1e-6, 1e-6 * abs(wrong[i, j]))
    with pytest.raises(AssertionError, match=kind.features[j]):
        assert_features_equal(online, wrong, kind.features, ids)
    wrong = expected.copy()
    wrong[i, j] = math.nan
    with pytest.raises(AssertionError, match=kind.features[j]):
        assert_features_equal(online, wrong, kind.features, ids)


# Reasons render for any feature values ----------------------------------------------------


@pytest.mark.parametrize("kind", by_name(ALL_KINDS))
@pytest.mark.parametrize("value", [math.nan, 0.0, 1.0, 1e6], ids=["nan", "zero", "one", "big"])
def test_every_reason_renders_for_any_feature_values(kind: EventKind, value: float) -> None:
    """Every code of the kind's catalogue gives a sentence, its template's or its fallback's,
    whatever the features hold (no history: NaN; nothing counted: 0): never a template error,
    never a placeholder left over."""
    catalogue = ReasonCatalogue(kind.catalogue, kind.features, kind.name)
    event = kind.sample()
    values = TemplateValues(dict.fromkeys(kind.features, value), event, kind.display)
    for i, code in enumerate(catalogue.codes):
        text = catalogue.text(i, values)
        assert text and "in template)" not in text, (code, text)
        assert "{" not in text and "}" not in text, (code, text)


# A declaration that does not hold together is refused --------------------------------------


def test_a_label_type_must_come_with_a_label_view_and_carry_its_keys() -> None:
    """``label_type`` exactly when a view moves on the label clock, a dataclass with the label
    views' keys, ``label_time`` and the label flag; anything else is a ConfigError."""
    kind = KINDS["transaction"]
    with pytest.raises(fs.ConfigError, match="label_type"):
        dataclasses.replace(kind, label_type=None)  # its views read labels
    with pytest.raises(fs.ConfigError, match="a dataclass type"):
        dataclasses.replace(kind, label_type=int)

    @dataclasses.dataclass(frozen=True)
    class NoTerminal:
        transaction_id: str
        customer_id: str
        label_time: object
        is_fraud: bool = True

    with pytest.raises(fs.ConfigError, match="terminal_id"):
        dataclasses.replace(kind, label_type=NoTerminal)
    login = KINDS["login"]
    with pytest.raises(fs.ConfigError, match="label_type"):
        dataclasses.replace(login, label_type=kind.label_type)  # no login view reads labels


@pytest.mark.parametrize("kind", by_name(SIMULATED))
def test_a_test_window_of_one_class_is_refused(kind: EventKind) -> None:
    """A kind's protocol refuses a test window without positives (nothing to measure) with a
    TrainingError naming the window, and accepts the same window with them."""
    frame = kind.prepare(history(kind.name))
    days = frame["timestamp"].dt.date
    start, end, train_start = days.max() - timedelta(days=6), days.max(), days.min()
    train_end = start - timedelta(days=2)
    kind.protocol.test_rows(frame, start, end, train_start, train_end)  # both classes: fine
    genuine = frame.assign(**{kind.label: 0})
    with pytest.raises(fs.TrainingError, match=f"{start}..{end} needs both"):
        kind.protocol.test_rows(genuine, start, end, train_start, train_end)
