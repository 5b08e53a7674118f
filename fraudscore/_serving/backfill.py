"""Backfill: score a whole file of events against the online store, in bounded memory.

The events are read in chunks (``pyarrow.dataset``: a parquet file or a directory of parts),
validated as frames and scored with :meth:`Scorer.frame_codes` (no event objects; bulk state
reads, array features, one ONNX batch per chunk, reason codes without texts) and appended to
a parquet file. Memory depends on the chunk size, not on the file. Nothing is written to the
store.
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from fraudscore._columns import Columns
from fraudscore._errors import ConfigError, EventValidationError
from fraudscore._serving.scorer import Scorer

if TYPE_CHECKING:
    from collections.abc import Callable

__all__ = ["BackfillReport", "backfill"]


@dataclass(frozen=True, slots=True)
class BackfillReport:
    """What a backfill did: events scored, wall time, throughput, the output file."""

    events: int
    seconds: float
    out: Path

    @property
    def events_per_s(self) -> float:
        return self.events / self.seconds if self.seconds else float("nan")


def backfill(
    scorer: Scorer,
    data: str | Path,
    out: str | Path,
    *,
    columns: Columns | None = None,
    chunk_size: int = 20_000,
    on_chunk: Callable[[int], Any] | None = None,
) -> BackfillReport:
    """Score every event of ``data`` and write ``out`` (parquet): the event id, ``score``,
    ``decision`` and ``reason_1..k`` (and ``rule``, the deciding rule, when the scorer has
    rules; its reason code is then ``reason_1``). ``on_chunk(n)`` is called after each chunk
    of ``n``.

    ``out`` is written to a temporary file beside it and renamed onto it at the end: a backfill
    that fails leaves no half-written file (and an earlier ``out`` as it was)."""
    import pyarrow as pa
    import pyarrow.dataset as ds
    import pyarrow.parquet as pq

    if isinstance(chunk_size, bool) or not isinstance(chunk_size, int) or chunk_size < 1:
        raise ConfigError("chunk_size", chunk_size, "a positive number of events per chunk")
    source = Path(data)
    expected = "a parquet file or a directory of parquet parts"
    if not source.exists():
        raise EventValidationError("data", str(source), expected, where="input")
    try:
        dataset = ds.dataset(source, format="parquet")
        dataset.schema  # noqa: B018 (reads the first footer: a file that is not parquet fails here)
    except (pa.ArrowException, OSError) as exc:
        problem = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise EventValidationError(
            "data", str(source), f"{expected} (it does not read: {problem})", where="input"
        ) from exc
    kind = scorer.kind
    k = scorer.max_reasons
    with_rules = scorer.rules is not None
    names = [kind.id_field, "score", "decision", *(f"reason_{i + 1}" for i in range(k))]
    fields = [(kind.id_field, pa.string()), ("score", pa.float64()), ("decision", pa.string())]
    fields += [(f"reason_{i + 1}", pa.string()) for i in range(k)]
    if with_rules:
        names.append("rule")
        fields.append(("rule", pa.string()))
    schema = pa.schema(fields)
    target = Path(out)
    if target.is_dir():
        raise ConfigError("out", str(target), "a file to write, not a directory")
    target.parent.mkdir(parents=True, exist_ok=True)
    start = time.perf_counter()
    total = 0
    cache: list[dict[Any, Any]] = [{} for _ in kind.views]  # the store is only read
    with _replacing(target) as partial, pq.ParquetWriter(partial, schema) as writer:
        for batch in dataset.to_batches(batch_size=chunk_size):
            frame = batch.to_pandas()
            if columns is not None:
                frame = columns.apply(frame)
            events, scores, decisions, codes, fired = scorer.frame_codes(frame, cache=cache)
            table = {
                kind.id_field: events[kind.id_field].tolist(),
                "score": scores,
                "decision": decisions,
            }
            for i in range(k):
                table[f"reason_{i + 1}"] = [c[i] if len(c) > i else None for c in codes]
            table["rule"] = fired
            writer.write_table(pa.table([table[n] for n in names], schema=schema))
            total += len(events)
            if on_chunk is not None:
                on_chunk(len(events))
    return BackfillReport(total, time.perf_counter() - start, target)


@contextmanager
def _replacing(target: Path) -> Iterator[Path]:
    """A temporary file beside ``target``, renamed onto it if the block succeeds, else removed."""
    partial = target.with_name(f".{target.name}.partial-{os.getpid()}")
    try:
        yield partial
        os.replace(partial, target)
    finally:
        partial.unlink(missing_ok=True)
