"""Training rows from the decision log: the features as they were served, joined with labels.

The offline fold recomputes features from a history; this takes them from what the scorer fed
the model, event by event (the log's "score" entries). The two agree for every event the
store had the state of (a test checks it); they differ where the service did not:

- a **degraded** score (the store failed; the model read no-history state) is not a training
  row: its features are not the entity's. Dropped and counted (``dropped_rows["degraded"]``).
- an event **scored more than once** (a client's retry) is one row: the first score, which is
  the one the service acted on (``dropped_rows["rescored"]``).

The decision a row carries is the one recorded for it (its "record" entry), else the scored one.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from fraudscore._errors import EventValidationError
from fraudscore._kinds import EventKind, kind_spec
from fraudscore._training.offline import OfflineFeatures

if TYPE_CHECKING:
    import pandas as pd

__all__ = ["served_features"]


def served_features(
    log: str | Path, labels: pd.DataFrame, kind: str | None = None
) -> OfflineFeatures:
    """Training rows of every event the decision log under ``log`` scored, with the features as
    served, labelled by ``labels``: what :func:`fraudscore.train_model` trains on.

    ``labels`` has the kind's id column (``transaction_id``, ``login_id``) and label column
    (``is_fraud``, ``is_ato``: 0 or 1), and may have ``label_time``. An event no label names is
    genuine (no chargeback or report arrived), as in the offline fold; a label for an event the
    log lacks is ignored; an event labelled twice is positive if either label is. ``kind``
    chooses one kind of a log that holds several (see :func:`fraudscore.read_decision_log`).

    The result has no state history, so it trains and evaluates a model but builds no store
    (the store comes from the events: :func:`fraudscore.build_store`, ``rebuild_store``).
    """
    import pandas as pd

    from fraudscore._serving.log import read_decision_log

    entries = read_decision_log(log, kind)
    if not (entries["entry"] == "score").any():
        raise EventValidationError(
            "log", str(log), "a decision log with scored events", where="input"
        )
    spec = kind_spec(_kind_of(log, kind), where="log")
    id_field, label = spec.id_field, spec.label
    missing = [f"feature_{f}" for f in spec.features if f"feature_{f}" not in entries.columns]
    if missing:
        raise EventValidationError(
            "log",
            str(log),
            f"entries with every feature of the {spec.name} model (no {missing})",
            where="input",
        )
    positives = _label_table(labels, id_field, label)

    scored = entries[entries["entry"] == "score"]
    degraded = scored["degraded"].fillna(False).to_numpy(bool) if "degraded" in scored else None
    n_degraded = 0 if degraded is None else int(degraded.sum())
    if degraded is not None:
        scored = scored[~degraded]
    first = ~scored[id_field].duplicated(keep="first")
    rescored = int((~first).sum())
    rows = scored[first.to_numpy()]
    recorded = entries[entries["entry"] == "record"].drop_duplicates(id_field, keep="last")
    decided = rows[id_field].map(recorded.set_index(id_field)["decision"])
    fields = [c for c in entries.columns if c in _event_fields(spec)]
    frame = rows[fields].reset_index(drop=True)
    frame["decision"] = decided.fillna(rows["decision"]).to_numpy()
    frame["model_version"] = rows["model_version"].to_numpy()
    frame["score"] = rows["score"].to_numpy()
    joined = frame[[id_field]].merge(positives, on=id_field, how="left")
    frame[label] = joined[label].fillna(0).to_numpy(np.int8)
    if "label_time" in positives.columns:
        frame["label_time"] = pd.to_datetime(joined["label_time"].to_numpy(), utc=True)
    for f in spec.features:
        frame[f] = rows[f"feature_{f}"].to_numpy(np.float64)
    frame = frame.sort_values("timestamp", kind="stable").reset_index(drop=True)
    dropped = {k: v for k, v in (("degraded", n_degraded), ("rescored", rescored)) if v}
    return OfflineFeatures(spec.name, frame, {}, dropped)


def _kind_of(log: str | Path, kind: str | None) -> str:
    """The kind asked for, else the one the log holds: its folder's name (an extended kind
    shares its base's columns, so only the folder tells them apart)."""
    if kind is not None:
        return kind
    folders = sorted(p.name for p in Path(log).iterdir() if p.is_dir())
    if len(folders) != 1:
        raise EventValidationError(
            "kind", folders, "one kind in the log, or kind= to choose one", where="input"
        )
    return folders[0]


def _event_fields(spec: EventKind) -> set[str]:
    import dataclasses

    return {f.name for f in dataclasses.fields(spec.event_type)}


def _label_table(labels: object, id_field: str, label: str) -> pd.DataFrame:
    """One row per labelled id: the label (positive if any is) and the first ``label_time``."""
    import pandas as pd

    if not isinstance(labels, pd.DataFrame):
        raise EventValidationError(
            "labels",
            type(labels).__name__,
            f"a DataFrame with {id_field!r} and {label!r}",
            where="input",
        )
    for column in (id_field, label):
        if column not in labels.columns:
            raise EventValidationError(
                column, sorted(map(str, labels.columns)), f"a {column!r} column", where="labels"
            )
    if labels[id_field].isna().any():
        raise EventValidationError(id_field, None, "an id on every label row", where="labels")
    values = labels[label]
    bad = ~values.isin([0, 1]) | values.isna()
    if bad.any():
        raise EventValidationError(label, values[bad].iloc[0], "0 or 1", where="labels")
    table = pd.DataFrame({id_field: labels[id_field], label: values.astype(np.int8)})
    if "label_time" in labels.columns:
        table["label_time"] = pd.to_datetime(labels["label_time"], utc=True)
    table = table.sort_values(label, ascending=False, kind="stable")  # a positive label wins
    return table.drop_duplicates(id_field, keep="first")
