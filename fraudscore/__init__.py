"""fraudscore: real-time fraud and account-takeover scoring.

Serving, per event: validate -> read Feast online state -> features -> one ONNX graph (score and
per-feature contributions) -> reason codes and decision -> :class:`ScoreResult`.

The data scientist's workflow, on a frame of events: :func:`build_features` (optionally through
a :class:`Columns` mapping) -> :func:`train_model` -> :func:`evaluate` -> :func:`write_report`;
:func:`build_store` loads the Feast store that :meth:`Scorer.open` serves from. In service, a
:class:`DecisionLog` keeps what was served and :func:`read_decision_log` reads it back;
:func:`served_features` joins the features as served with the labels, to retrain on.
:class:`ScorerMetrics` counts and times every call in Prometheus metrics (imported on first
use: prometheus_client is not loaded by a service that does not use it), and
:func:`create_app` is the reference ASGI service (``fraudscore serve``; Starlette, on first use).
A kind (transactions, logins) is an :class:`EventKind`; :func:`extend_kind` adds state views
(:class:`StateView`, :class:`Accumulator`, :class:`Latest`) and features of one's own to one,
and :func:`register_kind` makes it known by name (:func:`get_kind`); :func:`feast_objects` are
the Feast objects of every registered kind. The red team: :func:`red_team` replays adaptive
attackers through the real scorer; :func:`attack_examples` makes attacks to train against.
"""

from typing import TYPE_CHECKING as _TYPE_CHECKING
from typing import Any as _Any

from fraudscore._columns import Columns
from fraudscore._errors import (
    BadRowsError,
    BundleError,
    ConfigError,
    EventValidationError,
    FeatureStoreError,
    FraudscoreError,
    ModelError,
    RulesError,
    TrainingError,
)
from fraudscore._feast import feast_objects
from fraudscore._kinds import EventKind, Protocol, Simulator, get_kind, register_kind
from fraudscore._kinds.extend import extend_kind
from fraudscore._kinds.login.events import Login
from fraudscore._kinds.login.simulate import LoginSimConfig, simulate_logins
from fraudscore._kinds.protocols import basic_protocol
from fraudscore._kinds.transaction.events import Label, Transaction
from fraudscore._kinds.transaction.handbook import (
    HANDBOOK_WINDOWS,
    HandbookSimConfig,
    simulate_handbook,
)
from fraudscore._kinds.transaction.simulate import TransactionSimConfig, simulate_transactions
from fraudscore._model.bundle import Bundle, Thresholds, load_bundle, sign_bundle
from fraudscore._online import FeastSource, FeatureSource, RedisSource, SqliteSource, open_source
from fraudscore._redteam import (
    Attack,
    RedTeamReport,
    Response,
    Strategy,
    StrategyResult,
    Victim,
    attack_examples,
    red_team,
    with_attack_examples,
)
from fraudscore._serving.backfill import BackfillReport, backfill
from fraudscore._serving.drift import DriftReport
from fraudscore._serving.log import DecisionLog, read_decision_log
from fraudscore._serving.reasons import Reason
from fraudscore._serving.results import ScoreResult, ShadowRecord, ShadowResult
from fraudscore._serving.rules import Rule, RuleSet, Verdict, load_rules, starter_rules
from fraudscore._serving.scorer import Scorer
from fraudscore._state import Accumulator, Latest, StateView
from fraudscore._training.backtest import Backtest, backtest_rules
from fraudscore._training.evaluate import Evaluation, default_windows, evaluate
from fraudscore._training.offline import OfflineFeatures
from fraudscore._training.partitioned import FoldedHistory, fold_partitioned
from fraudscore._training.pipeline import (
    build_features,
    build_store,
    monitor,
    read_events,
    rebuild_store,
    score_frame,
    train_model,
    with_decisions,
)
from fraudscore._training.report import write_report, write_shadow_report
from fraudscore._training.served import served_features
from fraudscore._training.train import TrainConfig, TrainedModel

__all__ = [
    "HANDBOOK_WINDOWS",
    "Accumulator",
    "Attack",
    "BackfillReport",
    "Backtest",
    "BadRowsError",
    "Bundle",
    "BundleError",
    "Columns",
    "ConfigError",
    "DecisionLog",
    "DriftReport",
    "Evaluation",
    "EventKind",
    "EventValidationError",
    "FeastSource",
    "FeatureSource",
    "FeatureStoreError",
    "FoldedHistory",
    "FraudscoreError",
    "HandbookSimConfig",
    "Label",
    "Latest",
    "Login",
    "LoginSimConfig",
    "ModelError",
    "OfflineFeatures",
    "Protocol",
    "Reason",
    "RedTeamReport",
    "RedisSource",
    "Response",
    "Rule",
    "RuleSet",
    "RulesError",
    "ScoreResult",
    "Scorer",
    "ScorerMetrics",
    "ShadowRecord",
    "ShadowResult",
    "Simulator",
    "SqliteSource",
    "StateView",
    "Strategy",
    "StrategyResult",
    "Thresholds",
    "TrainConfig",
    "TrainedModel",
    "TrainingError",
    "Transaction",
    "TransactionSimConfig",
    "Verdict",
    "Victim",
    "attack_examples",
    "backfill",
    "backtest_rules",
    "basic_protocol",
    "build_features",
    "build_store",
    "create_app",
    "default_windows",
    "evaluate",
    "extend_kind",
    "feast_objects",
    "fold_partitioned",
    "get_kind",
    "load_bundle",
    "load_rules",
    "metrics_app",
    "metrics_text",
    "monitor",
    "open_source",
    "read_decision_log",
    "read_events",
    "rebuild_store",
    "red_team",
    "register_kind",
    "score_frame",
    "served_features",
    "sign_bundle",
    "simulate_handbook",
    "simulate_logins",
    "simulate_transactions",
    "starter_rules",
    "train_model",
    "with_attack_examples",
    "with_decisions",
    "write_report",
    "write_shadow_report",
]

if _TYPE_CHECKING:
    from fraudscore._service.app import create_app
    from fraudscore._serving.metrics import ScorerMetrics, metrics_app, metrics_text

#: Public names imported on first use (their dependencies are heavy for a service without them).
_LAZY = {
    "create_app": "fraudscore._service.app",
    "ScorerMetrics": "fraudscore._serving.metrics",
    "metrics_app": "fraudscore._serving.metrics",
    "metrics_text": "fraudscore._serving.metrics",
}


def __getattr__(name: str) -> _Any:
    if name in _LAZY:
        import importlib

        value = getattr(importlib.import_module(_LAZY[name]), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'fraudscore' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted({*globals(), *_LAZY})
