"""The main job, step by step: data -> features -> Feast store -> model -> scored events.

Each function is one step that the CLI, the notebooks and the tests share. Heavy libraries
(pandas, xgboost, feast) are imported here, never on the scoring path.
"""

from __future__ import annotations

import hashlib
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

from fraudscore._bundle import load_bundle
from fraudscore._errors import EventValidationError
from fraudscore._events import Label, Login, Transaction
from fraudscore._feast import apply_repo, materialize_repo, write_sources
from fraudscore._kinds import LOGIN, TRANSACTION, EventKind, kind_spec
from fraudscore._offline import OfflineFeatures, build_features
from fraudscore._train import TrainConfig, TrainedModel, train

if TYPE_CHECKING:
    import pandas as pd

    from fraudscore._scorer import Scorer, ScoreResult

__all__ = [
    "build_store",
    "evaluate_file",
    "fingerprint",
    "offline_features",
    "read_events",
    "replay",
    "to_events",
    "train_model",
]


def read_events(path: str | Path) -> pd.DataFrame:
    """A parquet (or CSV) file of canonical events."""
    import pandas as pd

    p = Path(path)
    if not p.is_file():
        raise EventValidationError("data", str(p), "an existing parquet or CSV file", where="input")
    if p.suffix == ".csv":
        df = pd.read_csv(p)
        for col in ("timestamp", "label_time"):
            if col in df.columns:
                df[col] = pd.to_datetime(df[col], utc=True, format="ISO8601")
        return df
    return pd.read_parquet(p)


def fingerprint(df: pd.DataFrame) -> str:
    """A sha256 over the canonical (non-feature) columns of a prepared frame."""
    import pandas as pd

    from fraudscore._frames import LOGIN_COLUMNS, TRANSACTION_COLUMNS

    canonical = (*TRANSACTION_COLUMNS, *LOGIN_COLUMNS, "is_fraud", "label_time", "is_ato")
    cols = [c for c in dict.fromkeys(canonical) if c in df.columns]
    hashed = pd.util.hash_pandas_object(df[cols], index=False).to_numpy()
    return "sha256:" + hashlib.sha256(hashed.tobytes()).hexdigest()


def offline_features(data: pd.DataFrame, kind: EventKind = TRANSACTION) -> OfflineFeatures:
    """Validate a canonical frame of ``kind`` events and fold its whole history into features."""
    return build_features(kind, kind.prepare(data))


def build_store(repo: str | Path, offline: OfflineFeatures, as_of: datetime | None = None) -> None:
    """Write the parquet sources, ``feast apply``, and materialize state as of ``as_of``.

    ``as_of`` defaults to the newest state row; state changes after it stay offline only.
    """
    write_sources(repo, offline.history)
    apply_repo(repo)
    times = [h["event_timestamp"] for h in offline.history.values()]
    start = min(t.min() for t in times).to_pydatetime() - timedelta(seconds=1)
    end = as_of or max(t.max() for t in times).to_pydatetime()
    materialize_repo(repo, start, end, views=list(offline.history))


def train_model(
    data: pd.DataFrame,
    start: date,
    end: date,
    out: str | Path,
    kind: EventKind = TRANSACTION,
    cfg: TrainConfig | None = None,
    offline: OfflineFeatures | None = None,
) -> TrainedModel:
    """Features from the whole history of ``data``, a model trained on ``[start, end]``."""
    offline = offline or offline_features(data, kind)
    return train(kind, offline.frame, start, end, out, cfg, fingerprint(offline.frame))


def evaluate_file(
    bundle: str | Path,
    data: pd.DataFrame,
    start: date,
    end: date,
    offline: OfflineFeatures | None = None,
) -> dict[str, Any]:
    """The metrics of a bundle and its baselines on ``[start, end]`` (inclusive days)."""
    from fraudscore._evaluate import evaluate_logins, evaluate_transactions

    loaded = load_bundle(bundle)
    kind = kind_spec(loaded.kind)
    offline = offline or offline_features(data, kind)
    evaluate = evaluate_logins if kind.name == LOGIN.name else evaluate_transactions
    return evaluate(loaded, offline.frame, start, end)


def _optional(row: Any, names: tuple[str, ...]) -> dict[str, Any]:
    out = {}
    for name in names:
        value = getattr(row, name, None)
        if value is not None and value == value:  # not missing, not NaN
            out[name] = value
    return out


def to_events(frame: pd.DataFrame, kind: EventKind = TRANSACTION) -> list[Any]:
    """Events of ``kind`` from the rows of a canonical frame."""
    out: list[Any] = []
    for row in frame.itertuples(index=False):
        ts = row.timestamp.to_pydatetime()
        if kind.name == LOGIN.name:
            extra = _optional(row, ("latitude", "longitude", "rtt_ms"))
            out.append(
                Login(
                    login_id=row.login_id,
                    timestamp=ts,
                    user_id=row.user_id,
                    ip=row.ip,
                    country=row.country,
                    asn=int(row.asn),
                    user_agent=row.user_agent,
                    success=bool(row.success),
                    device_id=row.device_id if isinstance(row.device_id, str) else None,
                    latitude=extra.get("latitude"),
                    longitude=extra.get("longitude"),
                    rtt_ms=extra.get("rtt_ms"),
                )
            )
        else:
            extra = _optional(row, ("currency", "channel", "device_id", "ip", "country"))
            out.append(
                Transaction(
                    transaction_id=row.transaction_id,
                    timestamp=ts,
                    customer_id=row.customer_id,
                    terminal_id=row.terminal_id,
                    amount=float(row.amount),
                    **extra,
                )
            )
    return out


def replay(
    scorer: Scorer, frame: pd.DataFrame, start: datetime, end: datetime
) -> list[tuple[Any, ScoreResult]]:
    """Run the real-time loop over ``[start, end)``: score then record each event, and record
    each fraud label when it becomes known, in the offline pipeline's order.
    """
    import pandas as pd

    kind = scorer.kind
    lo, hi = pd.Timestamp(start), pd.Timestamp(end)
    events = frame[(frame["timestamp"] >= lo) & (frame["timestamp"] < hi)]
    stream: list[tuple[float, int, int, Any]] = []
    for i, event in enumerate(to_events(events, kind)):
        stream.append((event.timestamp.timestamp() * 1e6, 1, i, event))
    if any("label" in v.clocks for v in kind.views):  # fraud labels feed state
        frauds = frame[
            (frame["is_fraud"] == 1) & (frame["label_time"] >= lo) & (frame["label_time"] < hi)
        ]
        for j, row in enumerate(frauds.itertuples(index=False)):
            label = Label(
                row.transaction_id,
                row.customer_id,
                row.terminal_id,
                row.label_time.to_pydatetime(),
                True,
            )
            stream.append((label.label_time.timestamp() * 1e6, 0, j, label))
    stream.sort(key=lambda s: (s[0], s[1], s[2]))
    results = []
    for _, is_event, _, event in stream:
        if is_event:
            results.append((event, scorer.score(event)))
            scorer.record(event)
        else:
            scorer.record_label(event)
    return results
