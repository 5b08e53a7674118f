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
from fraudscore._events import Label, Transaction
from fraudscore._feast import apply_repo, materialize_repo, write_sources
from fraudscore._frames import prepare_transactions
from fraudscore._kinds import TRANSACTION
from fraudscore._offline import OfflineFeatures, build_transaction_features
from fraudscore._train import TrainConfig, TrainedModel, train

if TYPE_CHECKING:
    import pandas as pd

    from fraudscore._scorer import Scorer, ScoreResult

__all__ = [
    "build_store",
    "evaluate_file",
    "fingerprint",
    "read_events",
    "replay",
    "to_transactions",
    "train_transactions",
    "transaction_features",
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
    """A sha256 over the canonical columns of a prepared frame."""
    import pandas as pd

    cols = [
        c
        for c in (
            "transaction_id",
            "timestamp",
            "customer_id",
            "terminal_id",
            "amount",
            "is_fraud",
            "label_time",
        )
        if c in df.columns
    ]
    hashed = pd.util.hash_pandas_object(df[cols], index=False).to_numpy()
    return "sha256:" + hashlib.sha256(hashed.tobytes()).hexdigest()


def transaction_features(data: pd.DataFrame) -> OfflineFeatures:
    """Validate a canonical transaction frame and fold its whole history into features."""
    return build_transaction_features(prepare_transactions(data))


def build_store(repo: str | Path, offline: OfflineFeatures, as_of: datetime | None = None) -> None:
    """Write the parquet sources, ``feast apply``, and materialize state as of ``as_of``.

    ``as_of`` defaults to the newest state row; state changes after it stay offline only.
    """
    write_sources(repo, offline.history)
    apply_repo(repo)
    times = [h["event_timestamp"] for h in offline.history.values()]
    start = min(t.min() for t in times).to_pydatetime() - timedelta(seconds=1)
    end = as_of or max(t.max() for t in times).to_pydatetime()
    materialize_repo(repo, start, end)


def train_transactions(
    data: pd.DataFrame,
    start: date,
    end: date,
    out: str | Path,
    cfg: TrainConfig | None = None,
    offline: OfflineFeatures | None = None,
) -> TrainedModel:
    """Features from the whole history of ``data``, a model trained on ``[start, end]``."""
    offline = offline or transaction_features(data)
    return train(
        TRANSACTION,
        offline.frame,
        "is_fraud",
        start,
        end,
        out,
        cfg,
        data_fingerprint=fingerprint(offline.frame),
    )


def evaluate_file(
    bundle: str | Path,
    data: pd.DataFrame,
    start: date,
    end: date,
    offline: OfflineFeatures | None = None,
) -> dict[str, Any]:
    """The handbook-protocol metrics of a bundle and its baselines on ``[start, end]``."""
    from fraudscore._evaluate import evaluate_transactions

    loaded = load_bundle(bundle)
    offline = offline or transaction_features(data)
    return evaluate_transactions(loaded, offline.frame, start, end)


def to_transactions(frame: pd.DataFrame) -> list[Transaction]:
    """``Transaction`` events from the rows of a canonical frame."""
    optional = [c for c in ("currency", "channel", "device_id", "ip", "country") if c in frame]
    out = []
    for row in frame.itertuples(index=False):
        extra = {c: getattr(row, c) for c in optional if getattr(row, c) is not None}
        out.append(
            Transaction(
                transaction_id=row.transaction_id,
                timestamp=row.timestamp.to_pydatetime(),
                customer_id=row.customer_id,
                terminal_id=row.terminal_id,
                amount=float(row.amount),
                **{k: v for k, v in extra.items() if isinstance(v, str)},
            )
        )
    return out


def replay(
    scorer: Scorer, frame: pd.DataFrame, start: datetime, end: datetime
) -> list[tuple[Transaction, ScoreResult]]:
    """Run the real-time loop over ``[start, end)``: score then record each transaction, and
    record each fraud label when it becomes known, in the offline pipeline's order.
    """
    import pandas as pd

    lo, hi = pd.Timestamp(start), pd.Timestamp(end)
    txs = frame[(frame["timestamp"] >= lo) & (frame["timestamp"] < hi)]
    frauds = frame[
        (frame["is_fraud"] == 1) & (frame["label_time"] >= lo) & (frame["label_time"] < hi)
    ]
    stream: list[tuple[float, int, int, Any]] = []
    for i, tx in enumerate(to_transactions(txs)):
        stream.append((tx.timestamp.timestamp() * 1e6, 1, i, tx))
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
    for _, is_tx, _, event in stream:
        if is_tx:
            results.append((event, scorer.score(event)))
            scorer.record(event)
        else:
            scorer.record_label(event)
    return results
