"""The data scientist's workflow, step by step: data -> features -> Feast store -> model.

Each function is one public step that the CLI, the notebooks and the tests share. Heavy
libraries (pandas, xgboost, feast) are imported here, never on the scoring path.
"""

from __future__ import annotations

import dataclasses
import hashlib
from collections.abc import Iterable
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from fraudscore._columns import Columns
from fraudscore._errors import BundleError, EventValidationError
from fraudscore._feast import write_sources
from fraudscore._frames import BadRows
from fraudscore._kinds import DEFAULT_KIND, KINDS, EventKind, kind_spec
from fraudscore._model.bundle import Bundle, load_bundle
from fraudscore._model.runtime import OnnxModel
from fraudscore._online.repo import apply_repo, materialize_repo, teardown_repo
from fraudscore._training.offline import OfflineFeatures, fold_history
from fraudscore._training.partitioned import FoldedHistory
from fraudscore._training.train import TrainConfig, TrainedModel, train

if TYPE_CHECKING:
    import pandas as pd

    from fraudscore._serving.drift import DriftReport
    from fraudscore._serving.scorer import Scorer, ScoreResult

__all__ = [
    "build_features",
    "build_store",
    "fingerprint",
    "monitor",
    "read_events",
    "rebuild_store",
    "replay",
    "score_frame",
    "to_events",
    "train_model",
    "with_decisions",
]


def read_events(path: str | Path, columns: Columns | None = None) -> pd.DataFrame:
    """Events from a parquet or CSV file (or a directory of parquet parts).

    Without ``columns`` the file must have the canonical columns and UTC times; with it, its
    own names and types are mapped first (:class:`fraudscore.Columns`).
    """
    import pandas as pd
    import pyarrow as pa

    p = Path(path)
    expected = "a parquet file, a directory of parquet parts or a CSV file"
    if not p.exists():
        raise EventValidationError("data", str(p), f"an existing {expected}", where="input")
    try:
        if p.suffix.lower() == ".csv":
            df = pd.read_csv(p)
            if columns is None:
                for col in ("timestamp", "label_time"):
                    if col in df.columns:
                        df[col] = pd.to_datetime(df[col], utc=True, format="ISO8601")
        else:
            df = pd.read_parquet(p)
    except (pa.ArrowException, OSError, UnicodeDecodeError, pd.errors.ParserError,
            pd.errors.EmptyDataError) as exc:  # fmt: skip
        problem = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise EventValidationError(
            "data", str(p), f"{expected} that reads (it does not: {problem})", where="input"
        ) from exc
    return columns.apply(df) if columns is not None else df


def fingerprint(df: pd.DataFrame, kind: EventKind) -> str:
    """A sha256 over the data of a folded frame: every column but the features the fold
    computed (an event field the model reads as a feature, such as ``amount``, is data). So it
    covers the events, their optional fields, labels and served decisions, and does not change
    with the feature code."""
    import pandas as pd

    fields = {f.name for f in dataclasses.fields(kind.event_type)}
    computed = set(kind.features) - fields
    data = df[sorted(c for c in df.columns if c not in computed)]
    try:
        hashed = pd.util.hash_pandas_object(data, index=False).to_numpy()
    except TypeError:  # a column of lists or dicts (a log's reasons): hashed as text
        hashed = pd.util.hash_pandas_object(data.astype(str), index=False).to_numpy()
    return "sha256:" + hashlib.sha256(hashed.tobytes()).hexdigest()


def build_features(
    data: pd.DataFrame,
    kind: str | EventKind = DEFAULT_KIND,
    *,
    columns: Columns | None = None,
    bad_rows: BadRows = "fail",
) -> OfflineFeatures:
    """Validate a frame of ``kind`` events and fold its whole history into features.

    ``data`` has the canonical columns (README, "Bring your own data"), or any columns that
    ``columns`` maps onto them. Invalid rows stop the run with a :class:`BadRowsError` that lists
    them by reason, or, with ``bad_rows="drop"``, are dropped and counted in ``dropped_rows``
    (and later in the bundle's manifest). Each training row uses only state from strictly
    before its event, and only labels known by then.
    """
    spec = kind if isinstance(kind, EventKind) else kind_spec(kind, where="kind")
    if columns is not None:
        data = columns.apply(data)
    return fold_history(spec, spec.prepare(data, bad_rows=bad_rows))


def build_store(
    repo: str | Path, offline: OfflineFeatures | FoldedHistory, as_of: datetime | None = None
) -> None:
    """Write the parquet sources, ``feast apply``, and materialize state as of ``as_of``.

    ``offline`` is an in-memory fold or a partitioned one (its history directories are copied
    as they are). ``as_of`` defaults to the newest state row; state changes after it stay
    offline only.
    """
    import pyarrow.dataset as ds

    write_sources(repo, offline.history)
    apply_repo(repo)
    if isinstance(offline, FoldedHistory):
        times = [
            ds.dataset(p).to_table(columns=["event_timestamp"]).column(0).to_pandas()
            for p in offline.history.values()
        ]
    else:
        times = [h["event_timestamp"] for h in offline.history.values()]
    times = [t for t in times if len(t)]  # a view nobody's events carry has no history
    start = min(t.min() for t in times).to_pydatetime() - timedelta(seconds=1)
    end = as_of or max(t.max() for t in times).to_pydatetime()
    materialize_repo(repo, start, end, views=list(offline.history))


def rebuild_store(
    repo: str | Path,
    history: pd.DataFrame,
    log: str | Path,
    kind: str | EventKind = DEFAULT_KIND,
    *,
    as_of: datetime | None = None,
) -> int:
    """Rebuild the online store after a loss (a Redis restarted without persistence, flushed,
    a lost SQLite file): ``history`` (the offline events, as for :func:`build_features`) plus
    every event the decision log under ``log`` recorded that ``history`` lacks (its "record"
    entries, with the decision served), folded and materialized as of ``as_of`` (default: the
    newest event of either). The store is emptied first (``feast
    teardown``), then applied and materialized. Returns how many logged events were added.

    The logged events carry no label (none had arrived; a label that has, is in ``history``).
    What it cannot recover: recorded events the log dropped (a full queue: ``log.dropped``) or
    lost (a crash: the last flush interval), and labels recorded online (``record_label``)
    that ``history`` does not hold.
    """
    import pandas as pd

    from fraudscore._serving.log import read_decision_log

    spec = kind if isinstance(kind, EventKind) else kind_spec(kind, where="kind")
    root = Path(log)
    strays = sorted(p.name for p in root.iterdir() if p.name not in KINDS) if root.is_dir() else []
    if strays:  # a wrong folder would rebuild the store from the history alone
        raise EventValidationError(
            "log",
            str(log),
            f"a decision log directory (kind folders only, not {strays[:3]})",
            where="input",
        )
    served = read_decision_log(log, kind=spec.name)
    recorded = served[served["entry"] == "record"] if len(served) else served
    fields = [f.name for f in dataclasses.fields(spec.event_type)]
    known = set(history[spec.id_field].astype(str)) if spec.id_field in history else set()
    if len(recorded):
        recorded = recorded[~recorded[spec.id_field].astype(str).isin(known)]
        recorded = recorded.drop_duplicates(spec.id_field, keep="last")
        added = recorded[[*fields, "decision"]].assign(**{spec.label: 0})
    else:
        added = pd.DataFrame(columns=[*fields, "decision", spec.label])
    full = pd.concat([history, added], ignore_index=True) if len(added) else history
    features = build_features(full, spec)  # before anything is deleted: bad rows stop here
    newest = features.frame["timestamp"].max() if len(features.frame) else None
    teardown_repo(repo)  # what survived the loss, or was recorded after it, goes too
    build_store(repo, features, as_of=as_of or _instant(newest))
    return len(added)


def _instant(ts: Any) -> datetime | None:
    """Just after ``ts`` (a materialization's end takes in the state written at ``ts``)."""
    import pandas as pd

    if ts is None or ts != ts:
        return None
    return (pd.Timestamp(ts) + pd.Timedelta(microseconds=1)).to_pydatetime()


def train_model(
    features: OfflineFeatures,
    start: date,
    end: date,
    out: str | Path,
    config: TrainConfig | None = None,
    *,
    synthetic: Iterable[str] = (),
) -> TrainedModel:
    """Train XGBoost on the days ``[start, end]`` (inclusive) and write an ONNX bundle to ``out``.

    ``synthetic`` are the ids of rows that are attack examples (``attack_examples``): trained on
    as fraud, but left out of the thresholds, the validation metrics and the drift reference,
    which describe the real traffic.

    The last quarter of the window is held out for early stopping and the thresholds, then the
    model is refitted on the whole window (``config.refit``). With ``config.select`` the XGBoost
    settings are first chosen by prequential validation on the history before the window's end.
    The manifest records the window, how the model was fitted and chosen, the thresholds, the
    validation metrics, the fingerprint of the rows up to the window's end and any rows dropped
    as invalid.
    """
    import pandas as pd

    kind = kind_spec(features.kind, where="features")
    extra = {"dropped_rows": dict(features.dropped_rows)}
    frame = features.frame
    # What training can see: the rows up to the window's end (later rows change nothing).
    seen = frame[frame["timestamp"] < pd.Timestamp(end + timedelta(days=1), tz="UTC")]
    return train(kind, frame, start, end, out, config, fingerprint(seen, kind), extra, synthetic)


def monitor(
    bundle: Bundle | str | Path,
    features: OfflineFeatures,
    start: date | None = None,
    end: date | None = None,
) -> DriftReport:
    """Drift of ``features`` (the scored rows of the days ``[start, end]``, default all)
    against the bundle's training reference: PSI per feature and for the score, flags over
    0.1 and 0.25, and the alert rates against those the thresholds were chosen for."""
    from fraudscore._model.fit import day_mask
    from fraudscore._serving.drift import drift_report

    loaded = bundle if isinstance(bundle, Bundle) else load_bundle(bundle)
    kind = kind_spec(loaded.kind, where=loaded.path)
    if features.kind != kind.name:
        raise EventValidationError("features", features.kind, f"{kind.name} features")
    ref = loaded.manifest.get("drift_reference")
    if ref is None:
        raise BundleError(loaded.path, "it has no drift reference (trained before drift support)")
    frame = features.frame[kind.scored(features.frame)]
    if start is not None or end is not None:
        lo = start or frame["timestamp"].min().date()
        hi = end or frame["timestamp"].max().date()
        frame = frame[day_mask(frame["timestamp"], lo, hi)]
    x = frame[list(loaded.features)].to_numpy(np.float64)
    scores, _ = OnnxModel(loaded.model_bytes, len(loaded.features)).run(x)
    return drift_report(ref, loaded.features, x, scores, loaded.thresholds)


def score_frame(
    bundle: Bundle | str | Path, features: OfflineFeatures | pd.DataFrame
) -> pd.DataFrame:
    """The bundle's score and per-feature contributions for every row of a feature frame.

    One row per input row, same index: ``score``, then ``contribution_<feature>`` for each model
    feature and ``contribution_bias`` (log-odds; they sum to the score's logit). Offline and
    batch: the same graph that ``Scorer`` runs, fed from the offline features.
    """
    import pandas as pd

    loaded = bundle if isinstance(bundle, Bundle) else load_bundle(bundle)
    frame = features.frame if isinstance(features, OfflineFeatures) else features
    missing = [f for f in loaded.features if f not in frame.columns]
    if missing:
        raise EventValidationError(
            missing[0], "<missing column>", "a feature column (from build_features)", where="frame"
        )
    model = OnnxModel(loaded.model_bytes, len(loaded.features))
    scores, contributions = model.run(frame[list(loaded.features)].to_numpy(np.float64))
    names = [f"contribution_{f}" for f in loaded.features] + ["contribution_bias"]
    out = pd.DataFrame(contributions.astype(np.float64), columns=names, index=frame.index)
    out.insert(0, "score", scores)
    return out


def with_decisions(
    history: pd.DataFrame,
    bundle: Bundle | str | Path,
    *,
    since: datetime | None = None,
    columns: Columns | None = None,
) -> pd.DataFrame:
    """``history`` with a ``decision`` column: what ``bundle``, in service from ``since`` on,
    decided for each event it scores (the model at the bundle's thresholds, without rules).

    A history from a service holds its served decisions already (the decision log); a
    simulated one has none, and the defence's own suspicion (what it flagged, and that a
    refused purchase builds no familiarity) is state that training must see. This gives it
    without leaking the future: ``bundle`` is a model trained before ``since``, each event is
    decided from its features alone (state from strictly before it), and the events before
    ``since``, or not scored (a failed login), keep their decision, or none (let through).
    One pass: each decision is the bundle's on features folded without the decisions before
    it (the bundle's own suspicion does not feed back), which is exact for a bundle whose model
    does not read the suspicion features.
    """
    import pandas as pd

    loaded = bundle if isinstance(bundle, Bundle) else load_bundle(bundle)
    kind = kind_spec(loaded.kind, where=loaded.path)
    data = columns.apply(history) if columns is not None else history
    frame = fold_history(kind, kind.prepare(data)).frame
    decide = kind.scored(frame)
    if since is not None:
        decide &= (frame["timestamp"] >= pd.Timestamp(since)).to_numpy()
    model = OnnxModel(loaded.model_bytes, len(loaded.features))
    scores, _ = model.run(frame.loc[decide, list(loaded.features)].to_numpy(np.float64))
    t = loaded.thresholds
    served = dict(
        zip(frame.loc[decide, kind.id_field], t.decisions(scores, kind.decisions), strict=True)
    )
    out = data.copy()
    before = out["decision"] if "decision" in out.columns else pd.Series(None, index=out.index)
    ids = out[kind.id_field].astype(str)
    out["decision"] = ids.map(served).astype(object).where(ids.isin(served.keys()), before)
    return out


def to_events(frame: pd.DataFrame, kind: EventKind | None = None) -> list[Any]:
    """Events of ``kind`` (default: the first registered, transactions) from the rows of a
    canonical frame."""
    spec = KINDS[DEFAULT_KIND] if kind is None else kind
    return [spec.event_of(row) for row in frame.itertuples(index=False)]


def to_labels(frame: pd.DataFrame, kind: EventKind) -> list[Any]:
    """The ``label_type`` records of ``kind`` (positive) from the rows of a canonical frame."""
    label_type = kind.label_type
    assert label_type is not None
    names = [f.name for f in dataclasses.fields(label_type)]
    out = []
    # A label field the frame lacks, or holds no value of, keeps its default (an optional key).
    shown = [n for n in names if n != kind.label and n in frame.columns]
    for row in frame[shown].itertuples(index=False):
        given = {
            n: v.to_pydatetime() if hasattr(v, "to_pydatetime") else v
            for n, v in zip(row._fields, row, strict=True)
            if v is not None and v == v
        }
        out.append(label_type(**given, **{kind.label: True}))
    return out


def replay(
    scorer: Scorer, frame: pd.DataFrame, start: datetime, end: datetime
) -> list[tuple[Any, ScoreResult]]:
    """Run the real-time loop over ``[start, end)``: score then record each event, and record
    each fraud label when it becomes known, in the offline pipeline's order.

    An event is recorded with what was served for it: the frame's ``decision`` where it has
    one (as the offline fold reads it), else as let through.
    """
    import pandas as pd

    kind = scorer.kind
    lo, hi = pd.Timestamp(start), pd.Timestamp(end)
    events = frame[(frame["timestamp"] >= lo) & (frame["timestamp"] < hi)]
    stream: list[tuple[float, int, int, Any]] = []
    served = events["decision"].tolist() if "decision" in events.columns else None
    for i, event in enumerate(to_events(events, kind)):
        stream.append((event.timestamp.timestamp() * 1e6, 1, i, event))
    if kind.label_type is not None:  # confirmed outcomes feed label-derived state
        positives = frame[
            (frame[kind.label] == 1) & (frame["label_time"] >= lo) & (frame["label_time"] < hi)
        ]
        for j, label in enumerate(to_labels(positives, kind)):
            stream.append((label.label_time.timestamp() * 1e6, 0, j, label))
    stream.sort(key=lambda s: (s[0], s[1], s[2]))
    results = []
    for _, is_event, i, event in stream:
        if is_event:
            results.append((event, scorer.score(event)))
            scorer.record(event, None if served is None else served[i])
        else:
            scorer.record_label(event)
    return results
