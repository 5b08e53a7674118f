"""The reference service: one small ASGI app that scores and records events over HTTP.

Routes, for each kind served (one bundle each: ``transaction``, ``login``, ``payout``, ...)::

    POST /decide/{kind}   the event          -> 200 the result, once it is recorded with the
                                                decision it served (score, then record)
    POST /score/{kind}    the event          -> 200 the result; writes nothing
    POST /record/{kind}   {"event": {...}, "decided": "approve" | null}
                                             -> 200 {"recorded": id}: fold it into the state
    POST /label/{kind}    its label type     -> 200 {"labelled": id} (a chargeback, say), for a
                                                kind whose state reads labels
    GET  /healthz                            -> 200 {"status": "ok", "pid", "models"}
    GET  /metrics                            -> the Prometheus text, summed over workers

``/decide`` is the call of a service that acts on the decision as served: one round trip.
``/score`` then ``/record`` is for one that acts on something else too (a step-up challenge,
its own rules) and records what it finally served. Errors are JSON, never a traceback page:
422 ``invalid_event`` (a body that is no event: the library's message, naming the field, what
arrived and what was expected; nothing is written), 503 ``store_unavailable`` (the online store
failed or stayed locked past its timeout; on ``/decide`` the body carries the result when the
scoring went through and the recording did not), 404, 405, 413 and 500 ``internal`` (logged).

The scorers, the decision log and the metrics are made in the ASGI lifespan's startup, in each
worker process after the fork, never at import or in :func:`create_app`: so ``gunicorn
--preload`` (which makes the app in the master, then forks) is safe. The handlers are
``async def`` and call the scorer directly: a call is CPU work of a fraction of a millisecond,
which a thread pool hop would only make slower (and its p99 much worse).
"""

from __future__ import annotations

import contextlib
import logging
import os
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from fraudscore._errors import (
    ConfigError,
    EventValidationError,
    FeatureStoreError,
    FraudscoreError,
)
from fraudscore._service.codec import EventCodec, body_of, dumps

if TYPE_CHECKING:
    from fraudscore._serving.log import DecisionLog
    from fraudscore._serving.metrics import ScorerMetrics
    from fraudscore._serving.scorer import Scorer

__all__ = ["MAX_BODY", "Service", "ServiceConfig", "create_app"]

_log = logging.getLogger("fraudscore.service")
#: The largest request body accepted, in bytes: an event is a few hundred.
MAX_BODY = 64 * 1024
_JSON = "application/json"
_Handler = Callable[[Request], Awaitable[Response]]
_RECORD_KEYS = frozenset({"event", "decided"})


@dataclass(frozen=True, slots=True)
class ServiceConfig:
    """What a service serves: bundles (one per kind), the Feast repo, and its options.

    ``timeout`` bounds each wait on the online store (``Scorer.open``); ``on_store_error`` is
    the scorer's (``"fail"``: a store failure answers 503; ``"degrade"``: ``/score`` answers a
    result marked ``degraded``). ``log`` is a directory for a :class:`DecisionLog` (one per
    worker, its files named by pid); ``metrics`` serves ``/metrics``. ``key`` and
    ``require_signature`` verify the bundles, as ``Scorer.open`` does.
    """

    bundles: tuple[Path, ...]
    repo: Path
    log: Path | None = None
    metrics: bool = True
    timeout: float = 1.0
    on_store_error: str = "fail"
    key: bytes | str | None = field(default=None, repr=False)
    require_signature: bool = False
    #: Where a worker that cannot start writes why, in one line (``fraudscore serve`` reads it).
    failure_file: Path | None = None


class Service:
    """The ASGI app: the lifespan (opening and closing what serves) around a Starlette app of
    the routes. Made by :func:`create_app`; nothing is opened until the lifespan starts."""

    def __init__(self, config: ServiceConfig) -> None:
        if not config.bundles:
            raise ConfigError("bundles", [], "at least one bundle directory")
        self.config = config
        self.scorers: dict[str, Scorer] = {}
        self.log: DecisionLog | None = None
        self.metrics: ScorerMetrics | None = None
        self._responses: Any = None  # the metrics' response counter, once started
        self.app = Starlette(
            routes=[Route("/healthz", self._healthz, methods=["GET"])],
            exception_handlers={HTTPException: _http_error, Exception: _internal_error},
        )

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] == "lifespan":
            await self._lifespan(receive, send)
        else:
            await self.app(scope, receive, send)

    # -- the lifespan ------------------------------------------------------------------------

    async def _lifespan(self, receive: Any, send: Any) -> None:
        """Start on ``lifespan.startup``, stop on ``lifespan.shutdown``. A failure to start
        is one line in the server's log (the reason), not a traceback."""
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                try:
                    self.start()
                except Exception as exc:
                    reason = str(exc) if isinstance(exc, FraudscoreError) else repr(exc)
                    if not isinstance(exc, FraudscoreError):
                        _log.exception("fraudscore service: startup failed")
                    self.stop()
                    if self.config.failure_file is not None:
                        with contextlib.suppress(OSError):
                            self.config.failure_file.write_text(reason)
                    await send({"type": "lifespan.startup.failed", "message": reason})
                    return
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                self.stop()
                await send({"type": "lifespan.shutdown.complete"})
                return

    def start(self) -> None:
        """Open the log, the metrics and one scorer per bundle, in this process, and add their
        routes. Called once per worker, after the fork."""
        from fraudscore._serving.scorer import Scorer

        config = self.config
        if config.log is not None:
            from fraudscore._serving.log import DecisionLog

            self.log = DecisionLog(config.log)
        if config.metrics:
            from fraudscore._serving.metrics import ScorerMetrics

            self.metrics = ScorerMetrics()
            self._responses = _response_counter(self.metrics)
        scorers: dict[str, Scorer] = {}
        for bundle in config.bundles:
            scorer = Scorer.open(
                bundle,
                config.repo,
                timeout=config.timeout,
                key=config.key,
                require_signature=config.require_signature,
                on_store_error=config.on_store_error,
                log=self.log,
                metrics=self.metrics,
            )
            kind = scorer.kind.name
            if kind in scorers:
                raise ConfigError(
                    "bundles",
                    [str(b) for b in config.bundles],
                    f"one bundle per kind (two score {kind}s)",
                )
            scorers[kind] = scorer
        self.scorers = scorers
        routes = self.app.router.routes
        for kind, scorer in scorers.items():
            codec = EventCodec(scorer.kind.event_type, kind)
            handlers = {
                f"/decide/{kind}": _decide(scorer, codec),
                f"/score/{kind}": _score(scorer, codec),
                f"/record/{kind}": _record(scorer, codec),
            }
            label_type = scorer.kind.label_type
            if label_type is not None and any("label" in v.clocks for v in scorer.kind.views):
                handlers[f"/label/{kind}"] = _label(scorer, EventCodec(label_type, "label"))
            routes += [
                Route(path, self._counting(path, handler), methods=["POST"])
                for path, handler in handlers.items()
            ]
        if self.metrics is not None:
            routes.append(Route("/metrics", self._metrics_endpoint, methods=["GET"]))

    def stop(self) -> None:
        """Close the decision log (writing what it holds). The scorers hold nothing to close."""
        log, self.log = self.log, None
        if log is not None:
            log.close()

    # -- endpoints ----------------------------------------------------------------------------

    async def _healthz(self, request: Request) -> Response:
        """Liveness: this worker has started and serves these models (no store call)."""
        if not self.scorers:
            return _error(503, "starting", "the service has not started")
        models = {kind: s.version for kind, s in self.scorers.items()}
        return _ok({"status": "ok", "pid": os.getpid(), "models": models})

    async def _metrics_endpoint(self, request: Request) -> Response:
        from prometheus_client import CONTENT_TYPE_LATEST

        from fraudscore._serving.metrics import metrics_text

        return Response(metrics_text(self.metrics), media_type=CONTENT_TYPE_LATEST)

    def _counting(self, path: str, handler: _Handler) -> _Handler:
        """``handler``, its responses counted by route and status when metrics are on."""
        counter = self._responses
        if counter is None:
            return handler
        counted: dict[int, Any] = {}

        async def endpoint(request: Request) -> Response:
            response = await handler(request)
            status = response.status_code
            child = counted.get(status)
            if child is None:
                child = counted[status] = counter.labels(path, status)
            child.inc()
            return response

        return endpoint


def create_app(
    bundles: str | Path | Sequence[str | Path],
    repo: str | Path,
    *,
    log: str | Path | None = None,
    metrics: bool = True,
    timeout: float = 1.0,
    on_store_error: str = "fail",
    key: bytes | str | None = None,
    require_signature: bool = False,
) -> Service:
    """The ASGI app serving ``bundles`` (a directory, or several: one per kind) on the Feast
    repo ``repo`` (see the module docstring for its routes). Nothing is opened here: the
    scorers open in each worker's lifespan startup."""
    paths = (bundles,) if isinstance(bundles, str | Path) else tuple(bundles)
    return Service(
        ServiceConfig(
            bundles=tuple(Path(b) for b in paths),
            repo=Path(repo),
            log=None if log is None else Path(log),
            metrics=metrics,
            timeout=timeout,
            on_store_error=on_store_error,
            key=key,
            require_signature=require_signature,
        )
    )


# The handlers: one per route and kind, made once at startup ------------------------------------


async def _body(request: Request) -> bytes:
    size = request.headers.get("content-length")
    if size is not None and size.isdigit() and int(size) > MAX_BODY:
        raise HTTPException(413, f"a body of at most {MAX_BODY} bytes")
    body = await request.body()
    if len(body) > MAX_BODY:
        raise HTTPException(413, f"a body of at most {MAX_BODY} bytes")
    return body


def _decide(scorer: Scorer, codec: EventCodec) -> _Handler:
    what = f"a {codec.name}"

    async def decide(request: Request) -> Response:
        result = None
        try:
            event = codec(body_of(await _body(request), what))
            result = scorer.score(event)
            scorer.record(event, result)
        except EventValidationError as exc:
            return _invalid(exc)
        except FeatureStoreError as exc:
            return _unavailable(exc, result)
        return _ok(result.to_dict())

    return decide


def _score(scorer: Scorer, codec: EventCodec) -> _Handler:
    what = f"a {codec.name}"

    async def score(request: Request) -> Response:
        try:
            result = scorer.score(codec(body_of(await _body(request), what)))
        except EventValidationError as exc:
            return _invalid(exc)
        except FeatureStoreError as exc:
            return _unavailable(exc)
        return _ok(result.to_dict())

    return score


def _record(scorer: Scorer, codec: EventCodec) -> _Handler:
    what = '{"event": {...}, "decided": ...}'
    expected = f'{{"event": {{a {codec.name}}}, "decided": a decision or null}}'

    async def record(request: Request) -> Response:
        try:
            body = body_of(await _body(request), what)
            if type(body) is not dict or "event" not in body or not _RECORD_KEYS.issuperset(body):
                raise EventValidationError("body", body, expected, where="request")
            event = codec(body["event"])
            scorer.record(event, body.get("decided"))
        except EventValidationError as exc:
            return _invalid(exc)
        except FeatureStoreError as exc:
            return _unavailable(exc)
        return _ok({"recorded": getattr(event, scorer.kind.id_field)})

    return record


def _label(scorer: Scorer, codec: EventCodec) -> _Handler:
    id_field = scorer.kind.id_field

    async def label(request: Request) -> Response:
        try:
            given = codec(body_of(await _body(request), "a label"))
            scorer.record_label(given)
        except EventValidationError as exc:
            return _invalid(exc)
        except FeatureStoreError as exc:
            return _unavailable(exc)
        return _ok({"labelled": getattr(given, id_field)})

    return label


# Responses ------------------------------------------------------------------------------------


def _ok(body: dict[str, Any]) -> Response:
    return Response(dumps(body), media_type=_JSON)


def _error(status: int, error: str, message: str, **extra: Any) -> Response:
    return Response(dumps({"error": error, "message": message, **extra}), status, media_type=_JSON)


def _invalid(exc: EventValidationError) -> Response:
    return _error(422, "invalid_event", str(exc), field=exc.field)


def _unavailable(exc: FeatureStoreError, result: Any = None) -> Response:
    _log.warning("fraudscore service: %s", exc)
    extra = {} if result is None else {"result": result.to_dict()}
    return _error(503, "store_unavailable", str(exc), **extra)


async def _http_error(request: Request, exc: Exception) -> Response:
    """404, 405, 413: as JSON."""
    status = exc.status_code if isinstance(exc, HTTPException) else 500
    detail = exc.detail if isinstance(exc, HTTPException) else ""
    if status == 404:
        detail = f"no route {request.method} {request.url.path}"
    response = _error(status, "http_error", detail)
    if isinstance(exc, HTTPException) and exc.headers:  # 405's Allow
        response.headers.update(exc.headers)
    return response


async def _internal_error(request: Request, exc: Exception) -> Response:
    """Anything else: answered without its traceback (Starlette then re-raises it, and the
    server logs it with the traceback)."""
    return _error(500, "internal", "internal error (logged by the service)")


def _response_counter(metrics: ScorerMetrics) -> Any:
    from prometheus_client import Counter

    return Counter(
        "http_responses",
        "Responses of the service's scoring routes, by route and HTTP status",
        ["route", "status"],
        namespace=metrics.namespace,
        registry=metrics.registry,
    )
