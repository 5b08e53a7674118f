"""fraudscore: real-time fraud and account-takeover scoring.

Pipeline per event: validate -> read Feast online state -> features -> one ONNX graph (score and
per-feature contributions) -> reason codes and decision -> :class:`ScoreResult`.
"""

from fraudscore._bundle import Bundle, Thresholds, load_bundle
from fraudscore._errors import (
    BundleError,
    EventValidationError,
    FeatureStoreError,
    FraudscoreError,
    ModelError,
    TrainingError,
)
from fraudscore._events import Label, Login, Transaction
from fraudscore._online import FeastSource, FeatureSource, RedisSource, SqliteSource, open_source
from fraudscore._reasons import Reason
from fraudscore._scorer import Scorer, ScoreResult

__all__ = [
    "Bundle",
    "BundleError",
    "EventValidationError",
    "FeastSource",
    "FeatureSource",
    "FeatureStoreError",
    "FraudscoreError",
    "Label",
    "Login",
    "ModelError",
    "Reason",
    "RedisSource",
    "ScoreResult",
    "Scorer",
    "SqliteSource",
    "Thresholds",
    "TrainingError",
    "Transaction",
    "load_bundle",
    "open_source",
]
