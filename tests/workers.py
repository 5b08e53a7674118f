"""Worker functions run in spawned processes by the concurrency, fault and load tests.

They live in a module of their own so that a spawned child imports little more than fraudscore.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from fraudscore import Scorer


def record_all(bundle: Path, repo: Path, events: list[Any], barrier: Any) -> None:
    """Open a scorer, wait until every worker is ready, then record ``events`` one by one."""
    scorer = Scorer.open(bundle, repo, timeout=30.0)
    barrier.wait(timeout=120)
    for event in events:
        scorer.record(event)
