"""The reference service (issue 22, part 4): the ASGI app in process (routes equal the scorer,
bad bodies answer 422 and write nothing, store failures 503, metrics, health, no traceback), the
``fraudscore serve`` command's refusals, and the HTTP load proof under gunicorn on each store."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner

from benchmarks.load import World, login_stream, transaction_stream
from benchmarks.service_load import run_service_load
from fraudscore import EventValidationError, Label, Login, Scorer, Transaction, read_decision_log
from fraudscore._cli import main
from fraudscore._kinds import LOGIN, TRANSACTION
from fraudscore._online.sqlite import SqliteSource
from fraudscore._service import create_app
from fraudscore._training.offline import OfflineFeatures
from fraudscore._training.pipeline import build_store

from .conftest import CUTOFF, LOGIN_CUTOFF, built, private_copy, store_params

AT = CUTOFF.to_pydatetime() + timedelta(hours=1)
EVENT = {
    "transaction_id": "s-1",
    "timestamp": AT.isoformat(),
    "customer_id": "hot-card",
    "terminal_id": "T-1",
    "amount": 42.0,
    "channel": "online",
}
LOGIN_AT = LOGIN_CUTOFF.to_pydatetime() + timedelta(hours=1)
LOGIN_EVENT = {
    "login_id": "l-1",
    "timestamp": LOGIN_AT.isoformat().replace("+00:00", "Z"),
    "user_id": "u-1",
    "ip": "198.51.100.7",
    "country": "NO",
    "asn": 64500,
    "user_agent": "Mozilla/5.0",
    "success": True,
}


def transaction(**fields: Any) -> Transaction:
    given = {**EVENT, **fields}
    given["timestamp"] = datetime.fromisoformat(given["timestamp"])
    return Transaction(**given)


# An ASGI client in process: the app's lifespan, then requests, without a server ------------------


class Client:
    """Drives the ASGI app as a server would: lifespan startup on enter, shutdown on exit."""

    def __init__(self, app: Any) -> None:
        self.app = app
        self.loop = asyncio.new_event_loop()
        self.startup: dict[str, Any] = {}

    def __enter__(self) -> Client:
        self.inbox: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
        self.outbox: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
        scope = {"type": "lifespan", "asgi": {"version": "3.0"}, "state": {}}
        self.lifespan = self.loop.create_task(self.app(scope, self.inbox.get, self.outbox.put))
        self.inbox.put_nowait({"type": "lifespan.startup"})
        self.startup = self.loop.run_until_complete(self.outbox.get())
        return self

    def __exit__(self, *exc: object) -> None:
        if not self.lifespan.done():
            self.inbox.put_nowait({"type": "lifespan.shutdown"})
            self.loop.run_until_complete(self.lifespan)
        self.loop.close()

    def request(self, method: str, path: str, body: bytes = b"") -> tuple[int, dict[str, str], Any]:
        return self.loop.run_until_complete(self._request(method, path, body))

    def post(self, path: str, body: Any) -> tuple[int, Any]:
        raw = body if isinstance(body, bytes) else json.dumps(body).encode()
        status, _, parsed = self.request("POST", path, raw)
        return status, parsed

    async def _request(
        self, method: str, path: str, body: bytes
    ) -> tuple[int, dict[str, str], Any]:
        scope = {
            "type": "http",
            "asgi": {"version": "3.0"},
            "http_version": "1.1",
            "method": method,
            "scheme": "http",
            "path": path,
            "raw_path": path.encode(),
            "query_string": b"",
            "root_path": "",
            "headers": [
                (b"host", b"testserver"),
                (b"content-type", b"application/json"),
                (b"content-length", str(len(body)).encode()),
            ],
            "client": ("127.0.0.1", 50000),
            "server": ("testserver", 80),
        }
        given = False

        async def receive() -> dict[str, Any]:
            nonlocal given
            if given:
                return {"type": "http.disconnect"}
            given = True
            return {"type": "http.request", "body": body, "more_body": False}

        sent: list[dict[str, Any]] = []

        async def send(message: dict[str, Any]) -> None:
            sent.append(message)

        try:
            await self.app(scope, receive, send)
        except Exception:  # Starlette re-raises a 500's error for the server's log, after answering
            if not sent:
                raise
        start = sent[0]
        headers = {k.decode(): v.decode() for k, v in start["headers"]}
        content = b"".join(m.get("body", b"") for m in sent[1:])
        parsed = json.loads(content) if headers["content-type"] == "application/json" else content
        return start["status"], headers, parsed


@pytest.fixture
def service(bundle_dir: Path, repo: Path) -> Iterator[Client]:
    with Client(create_app(bundle_dir, repo, timeout=0.3)) as client:
        assert client.startup["type"] == "lifespan.startup.complete", client.startup
        yield client


def _read(repo: Path, keys: list[tuple[str, ...]]) -> list[list[float]]:
    """The stored state of a transaction's keys, read by a source of its own."""
    from fraudscore._online import open_source

    return open_source(repo, TRANSACTION.views).read_one(keys)


def equal(a: list[list[float]], b: list[list[float]]) -> bool:
    """Equal states (NaN equal to NaN: a clock never moved)."""
    return len(a) == len(b) and all(
        np.array_equal(np.asarray(x), np.asarray(y), equal_nan=True) for x, y in zip(a, b)
    )


def same(a: Any, b: Any) -> bool:
    """Equal as JSON (tuples and lists alike)."""
    return json.loads(json.dumps(a)) == json.loads(json.dumps(b))


# Routes equal the scorer -------------------------------------------------------------------------


def test_score_and_decide_equal_the_scorer(
    service: Client, bundle_dir: Path, repo: Path, tmp_path: Path
) -> None:
    """/score answers what ``Scorer.score`` returns and writes nothing; /decide answers the same
    and records it with its decision: two events of one card leave the state that scoring and
    recording them in process leaves on a copy of the store."""
    mirror = Scorer.open(bundle_dir, private_copy(repo, tmp_path / "mirror"))
    first, second = transaction(), transaction(transaction_id="s-2", amount=900.0)
    keys = TRANSACTION.keys(first)
    before = _read(repo, keys)
    status, body = service.post("/score/transaction", EVENT)
    assert status == 200
    assert same(body, mirror.score(first).to_dict())
    assert equal(_read(repo, keys), before)
    for event in (first, second):
        fields = {**EVENT, "transaction_id": event.transaction_id, "amount": event.amount}
        status, body = service.post("/decide/transaction", fields)
        want = mirror.score(event)
        mirror.record(event, want)
        assert status == 200 and same(body, want.to_dict())
    assert equal(_read(repo, keys), mirror.source.read_one(keys))
    assert not equal(_read(repo, keys), before)


def test_record_folds_the_decision_given(
    service: Client, bundle_dir: Path, repo: Path, tmp_path: Path
) -> None:
    """/record folds the event with the decision the caller served: a declined event counts as
    flagged, as ``Scorer.record(event, "decline")`` does (and unlike one let through)."""
    declined = Scorer.open(bundle_dir, private_copy(repo, tmp_path / "declined"))
    allowed = Scorer.open(bundle_dir, private_copy(repo, tmp_path / "allowed"))
    event = transaction()
    status, body = service.post("/record/transaction", {"event": EVENT, "decided": "decline"})
    assert (status, body) == (200, {"recorded": "s-1"})
    declined.record(event, "decline")
    allowed.record(event, None)
    keys = TRANSACTION.keys(event)
    assert equal(_read(repo, keys), declined.source.read_one(keys))
    assert not equal(_read(repo, keys), allowed.source.read_one(keys))


def test_a_label_folds_as_record_label_does(
    service: Client, bundle_dir: Path, repo: Path, tmp_path: Path
) -> None:
    """/label/transaction folds a chargeback into the card's and terminal's state exactly as
    ``Scorer.record_label`` does on a copy of the store; a bad label is a 422 naming the field
    and changes nothing."""
    mirror = Scorer.open(bundle_dir, private_copy(repo, tmp_path / "mirror"))
    event = transaction()
    keys = TRANSACTION.keys(event)
    status, _ = service.post("/decide/transaction", EVENT)
    mirror.record(event, mirror.score(event))
    assert status == 200
    label = {
        "transaction_id": event.transaction_id,
        "customer_id": event.customer_id,
        "terminal_id": event.terminal_id,
        "label_time": EVENT["timestamp"],
    }
    before = _read(repo, keys)
    status, body = service.post("/label/transaction", {**label, "customer_id": 7})
    assert status == 422 and body["field"] == "customer_id"
    assert equal(_read(repo, keys), before)
    status, body = service.post("/label/transaction", label)
    assert status == 200 and body == {"labelled": event.transaction_id}
    mirror.record_label(
        Label(event.transaction_id, event.customer_id, event.terminal_id, event.timestamp)
    )
    after = _read(repo, keys)
    assert equal(after, mirror.source.read_one(keys)) and not equal(after, before)


def test_login_route_equals_the_scorer(login_bundle_dir: Path, login_repo: Path) -> None:
    """A login service: /decide/login answers ``Scorer.score`` of the login; /score/transaction
    is not served (404, as JSON)."""
    mirror = Scorer.open(login_bundle_dir, login_repo)
    want = mirror.score(Login(**{**LOGIN_EVENT, "timestamp": LOGIN_AT})).to_dict()
    with Client(create_app([login_bundle_dir], login_repo)) as client:
        status, body = client.post("/decide/login", LOGIN_EVENT)
        assert status == 200 and same(body, want)
        status, body = client.post("/score/transaction", EVENT)
        assert status == 404 and body["error"] == "http_error"


# Bad requests -------------------------------------------------------------------------------------


def library_message(**fields: Any) -> str:
    """What the library says of a Transaction built from these fields."""
    try:
        Transaction(**fields)
    except EventValidationError as exc:
        return str(exc)
    raise AssertionError("the library took it")


BAD = {
    "negative amount": ({**EVENT, "amount": -1.0}, "amount"),
    "text amount": ({**EVENT, "amount": "12"}, "amount"),
    "bad channel": ({**EVENT, "channel": "fax"}, "channel"),
    "missing card": ({k: v for k, v in EVENT.items() if k != "customer_id"}, "customer_id"),
    "unknown field": ({**EVENT, "cvv": "123"}, "cvv"),
    "naive time": ({**EVENT, "timestamp": "2018-05-08T01:00:00"}, "timestamp"),
    "time not a time": ({**EVENT, "timestamp": "yesterday"}, "timestamp"),
    "time a number": ({**EVENT, "timestamp": 1525741200}, "timestamp"),
    "not an object": ([EVENT], "body"),
    "not JSON": (b'{"transaction_id": "s-1",', "body"),
}


@pytest.mark.parametrize("body, field", BAD.values(), ids=list(BAD))
def test_bad_event_is_422_naming_the_field_and_writes_nothing(
    service: Client, repo: Path, body: Any, field: str
) -> None:
    """A body that is no valid transaction answers 422 with the field named, on every route,
    and the store is unchanged (the hot card and terminal read as before)."""
    keys = TRANSACTION.keys(transaction())
    before = _read(repo, keys)
    for path in ("/decide/transaction", "/score/transaction"):
        status, answer = service.post(path, body)
        assert status == 422, answer
        assert answer["error"] == "invalid_event" and answer["field"] == field
        assert repr(field) in answer["message"]
    if not isinstance(body, bytes):  # (a body that is not JSON cannot be wrapped in one)
        status, answer = service.post("/record/transaction", {"event": body, "decided": None})
        assert status == 422 and answer["field"] == field
    assert equal(_read(repo, keys), before)


def test_422_carries_the_librarys_message(service: Client) -> None:
    """The 422's message is the library's own EventValidationError message (field, what arrived,
    what was expected)."""
    status, answer = service.post("/decide/transaction", {**EVENT, "amount": -1.0})
    fields = {**EVENT, "amount": -1.0, "timestamp": AT}
    assert status == 422 and answer["message"] == library_message(**fields)


def test_bad_record_bodies_are_422(service: Client, repo: Path) -> None:
    """/record refuses a decision the kind does not have and a body without its event, writing
    nothing."""
    keys = TRANSACTION.keys(transaction())
    before = _read(repo, keys)
    status, answer = service.post("/record/transaction", {"event": EVENT, "decided": "allow"})
    assert status == 422 and answer["field"] == "decided" and "'allow'" in answer["message"]
    status, answer = service.post("/record/transaction", EVENT)
    assert status == 422 and answer["field"] == "body"
    assert equal(_read(repo, keys), before)


def test_wrong_method_and_big_body(service: Client) -> None:
    """GET on a POST route is a JSON 405 with Allow; a body over the limit a JSON 413."""
    status, headers, body = service.request("GET", "/decide/transaction")
    assert status == 405 and headers["allow"] == "POST" and body["error"] == "http_error"
    status, body = service.post("/score/transaction", b" " * (64 * 1024 + 1))
    assert status == 413


def test_unexpected_error_is_a_json_500_without_traceback(
    service: Client, monkeypatch: pytest.MonkeyPatch
) -> None:
    """An error no route expects answers 500 with a JSON body that shows no traceback."""
    scorer = service.app.scorers["transaction"]

    def broken(*args: Any, **kwargs: Any) -> Any:
        raise RuntimeError("secret internals")

    monkeypatch.setattr(scorer, "score", broken)
    status, _headers, body = service.request(
        "POST", "/score/transaction", json.dumps(EVENT).encode()
    )
    assert status == 500 and body["error"] == "internal"
    assert "secret" not in json.dumps(body) and "Traceback" not in json.dumps(body)


# The store failing --------------------------------------------------------------------------------

HOLD_FILE_LOCK = """
import fcntl, os, sys
fd = os.open(sys.argv[1], os.O_RDONLY | os.O_CREAT)
fcntl.flock(fd, fcntl.LOCK_EX)
print("held", flush=True)
sys.stdin.readline()
"""


@pytest.mark.skipif(sys.platform == "win32", reason="the lock file is POSIX flock")
def test_store_locked_is_503_and_scoring_goes_on(service: Client, repo: Path) -> None:
    """While another process holds the store's write lock past the timeout, /record answers 503
    naming the store, /decide answers 503 carrying the score it made, and /score still
    answers 200 (readers take no lock)."""
    source = service.app.scorers["transaction"].source
    assert isinstance(source, SqliteSource)
    lock = source.path.with_name(source.path.name + ".fraudscore-lock")
    holder = subprocess.Popen(
        [sys.executable, "-c", HOLD_FILE_LOCK, str(lock)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert holder.stdin is not None and holder.stdout is not None
    try:
        assert holder.stdout.readline().strip() == "held"
        status, body = service.post("/record/transaction", {"event": EVENT})
        assert status == 503 and body["error"] == "store_unavailable"
        assert str(source.path) in body["message"]
        status, body = service.post("/decide/transaction", EVENT)
        assert status == 503 and body["result"]["event_id"] == "s-1"
        status, body = service.post("/score/transaction", EVENT)
        assert status == 200 and body["event_id"] == "s-1"
    finally:
        holder.stdin.write("\n")
        holder.stdin.close()
        holder.wait(timeout=30)
    assert service.post("/record/transaction", {"event": EVENT})[0] == 200


def test_startup_failure_is_one_line(bundle_dir: Path, tmp_path: Path) -> None:
    """A worker that cannot open its store fails its lifespan startup with one line naming the
    problem (the server then logs it and stops), not a traceback."""
    empty = tmp_path / "repo"
    empty.mkdir()
    (empty / "feature_store.yaml").write_text(
        "project: fraudscore\nregistry: data/registry.db\nprovider: local\n"
        "online_store:\n  type: sqlite\n  path: data/online_store.db\n"
        "entity_key_serialization_version: 3\n"
    )
    with Client(create_app(bundle_dir, empty)) as client:
        message = client.startup
    assert message["type"] == "lifespan.startup.failed"
    assert "\n" not in message["message"] and "Traceback" not in message["message"]


# Metrics and health -------------------------------------------------------------------------------


def test_metrics_count_what_was_served(service: Client) -> None:
    """/metrics scrapes: the decisions counter holds the events scored and the responses
    counter the 422 answered."""
    for i in range(3):
        assert service.post("/decide/transaction", {**EVENT, "transaction_id": f"m-{i}"})[0] == 200
    assert service.post("/decide/transaction", {**EVENT, "amount": -1})[0] == 422
    status, headers, text = service.request("GET", "/metrics")
    assert status == 200 and headers["content-type"].startswith("text/plain")
    lines = text.decode().splitlines()
    decided = [
        float(line.rsplit(" ", 1)[1])
        for line in lines
        if line.startswith("fraudscore_decisions_total{") and 'kind="transaction"' in line
    ]
    assert sum(decided) == 3
    assert 'fraudscore_http_responses_total{route="/decide/transaction",status="422"} 1.0' in lines
    assert 'fraudscore_http_responses_total{route="/decide/transaction",status="200"} 3.0' in lines


def test_healthz_names_the_models(service: Client, bundle_dir: Path) -> None:
    """/healthz answers 200 with this worker's pid and the version of each model served."""
    from fraudscore import load_bundle

    version = load_bundle(bundle_dir).version
    status, _, body = service.request("GET", "/healthz")
    assert status == 200 and body["status"] == "ok"
    assert body["models"] == {"transaction": version} and isinstance(body["pid"], int)


def test_nothing_opens_before_the_lifespan(bundle_dir: Path, repo: Path) -> None:
    """create_app opens nothing (so ``gunicorn --preload`` forks no scorer): before the
    lifespan starts, /healthz answers 503 and no route scores."""
    app = create_app(bundle_dir, repo)
    assert app.scorers == {} and app.metrics is None
    client = Client(app)
    try:
        status, _, body = client.request("GET", "/healthz")
        assert status == 503 and body["error"] == "starting"
        assert client.request("POST", "/score/transaction", b"{}")[0] == 404
    finally:
        client.loop.close()


# The command ---------------------------------------------------------------------------------------


def serve(*args: str) -> Any:
    return CliRunner(env={"FRAUDSCORE_BUNDLE_KEY": None}).invoke(main, ["serve", *args])


def test_serve_refuses_bad_options_in_one_line(bundle_dir: Path, repo: Path) -> None:
    """Bad values end in one line with exit code 2 (a usage error) or 1 (an address in use),
    before gunicorn starts."""
    base = ["--bundle", str(bundle_dir), "--repo", str(repo)]
    cases = {
        "'--bind'": ([*base, "--bind", "localhost"], 2),
        "'--workers'": ([*base, "--workers", "0"], 2),
        "'--store-timeout'": ([*base, "--store-timeout", "0"], 2),
        "one per kind": ([*base, "--bundle", str(bundle_dir)], 2),
        "'--repo'": (["--bundle", str(bundle_dir), "--repo", str(repo / "nope")], 2),
    }
    for needle, (args, code) in cases.items():
        result = serve(*args)
        assert result.exit_code == code, (needle, result.output)
        assert needle in result.output and "Traceback" not in result.output, result.output
    import socket

    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = serve(*base, "--bind", f"127.0.0.1:{port}")
    assert result.exit_code == 1 and "is in use" in result.output


# The HTTP load proof -------------------------------------------------------------------------------


@pytest.mark.slow
@pytest.mark.parametrize("store", [p for p in store_params() if p.id != "redis_cluster"])
def test_http_load_loses_no_update_and_fails_no_request(
    tmp_path: Path,
    bundle_dir: Path,
    login_bundle_dir: Path,
    offline: OfflineFeatures,
    login_offline: OfflineFeatures,
    store: str,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """``fraudscore serve`` with two workers (made after the fork on SQLite, before it with
    ``--preload`` on Redis) takes transactions and logins with a hot card and a hot IP from 8
    keep-alive connections spread over both workers: no request fails (none on a store
    timeout), every touched state equals the offline fold with the decisions served, /metrics
    sums every decision over both workers, and the workers' decision logs hold every event."""
    repo = built(tmp_path, offline, CUTOFF, store)
    as_of = (LOGIN_CUTOFF - pd.Timedelta(microseconds=1)).to_pydatetime()
    build_store(repo, login_offline, as_of=as_of)
    worlds = [
        World(
            TRANSACTION,
            bundle_dir,
            repo,
            offline.frame,
            CUTOFF,
            transaction_stream(offline.frame, CUTOFF, 300, 150),
        ),
        World(
            LOGIN,
            login_bundle_dir,
            repo,
            login_offline.frame,
            LOGIN_CUTOFF,
            login_stream(login_offline.frame, LOGIN_CUTOFF, 300, 150),
        ),
    ]
    log = tmp_path / "decisions"
    report = run_service_load(
        worlds,
        store=store,
        workers=2,
        concurrency=8,
        max_seconds=60,
        log=log,
        preload=store == "redis",
    )
    with capsys.disabled():
        print("\n" + report.table())
    http = report.http
    assert http.failures == [] and http.unsent == 0
    assert report.requests == sum(len(w.stream) for w in worlds)
    assert len(http.per_worker) == 2 and min(http.per_worker.values()) > report.requests // 4
    assert report.compared["transaction"] > 300 and report.compared["login"] > 300
    assert http.metrics_decisions == report.requests
    for w in worlds:  # every worker's log, one file per pid, holds what it served
        served = read_decision_log(log, kind=w.kind.name)
        recorded = served[served["entry"] == "record"]
        assert sorted(recorded[w.kind.id_field]) == sorted(w.stream[w.kind.id_field])
        decided = dict(zip(recorded[w.kind.id_field], recorded["decision"]))
        assert decided == {i: d for (k, i), d in http.decisions.items() if k == w.kind.name}
