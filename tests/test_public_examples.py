"""The examples of the notebook, the README and ``docs/`` use the public API only, and run.

The convention for the Markdown pages (``README.md`` and ``docs/*.md``):

- Every ```` ```python ```` block is executed, in page order, in one namespace per page, in a
  working directory laid out like the repository's root after ``fraudscore demo`` (see
  :func:`workdir`), on small data. A later block may use what an earlier block of its page
  defined; nothing else is predefined.
- A block that cannot run in a test is preceded by a visible ``<!-- not run: REASON -->``
  comment; each one is reported as a skip with its reason, and there must be few.
- Every ``fraudscore COMMAND`` in a ```` ```bash ```` block or an inline code span names a
  real command, with options that command has.
"""

from __future__ import annotations

import ast
import json
import re
import shutil
import sys
import types
from dataclasses import dataclass
from datetime import date
from pathlib import Path

import click
import pandas as pd
import pytest
from click.testing import CliRunner

import fraudscore
from fraudscore import (
    Login,
    LoginSimConfig,
    Scorer,
    TrainConfig,
    Transaction,
    TransactionSimConfig,
    build_features,
    build_store,
    simulate_logins,
    simulate_transactions,
    train_model,
)
from fraudscore._kinds import KINDS

ROOT = Path(__file__).resolve().parents[1]
PAGES = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
#: At most this many Python blocks may be marked ``<!-- not run: ... -->``, over all pages.
MAX_NOT_RUN = 4


@dataclass(frozen=True)
class Block:
    page: str  # relative to the repository root
    line: int  # of the block's first line of code, 1-based
    lang: str
    body: str
    not_run: str | None  # the reason given in a ``<!-- not run: ... -->`` comment before it

    @property
    def name(self) -> str:
        return f"{self.page}:{self.line} ({self.lang or 'text'})"


FENCE = re.compile(r"^```(\w*)\n(.*?)^```", flags=re.M | re.S)
NOT_RUN = re.compile(r"<!--\s*not run:\s*(.*?)\s*-->\s*\Z", flags=re.S)


def page_blocks(path: Path) -> list[Block]:
    text = path.read_text()
    out = []
    for m in FENCE.finditer(text):
        marker = NOT_RUN.search(text[: m.start()])
        out.append(
            Block(
                page=path.relative_to(ROOT).as_posix(),
                line=text.count("\n", 0, m.start(2)) + 1,
                lang=m.group(1),
                body=m.group(2),
                not_run=marker.group(1) if marker else None,
            )
        )
    return out


BLOCKS = [b for page in PAGES for b in page_blocks(page)]
PYTHON = [b for b in BLOCKS if b.lang == "python"]


def notebook_sources() -> list[tuple[str, str]]:
    out = []
    for path in sorted((ROOT / "notebooks").glob("*.ipynb")):
        cells = json.loads(path.read_text())["cells"]
        code = "\n".join("".join(c["source"]) for c in cells if c["cell_type"] == "code")
        out.append((path.name, code))
    return out


def public_names_used(source: str) -> set[str]:
    """Names taken from ``fraudscore``: ``from fraudscore import X`` and ``fs.X`` / ``fraudscore.X``."""
    tree = ast.parse(source)
    aliases = {"fraudscore"}
    used: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            aliases |= {a.asname or a.name for a in node.names if a.name == "fraudscore"}
        elif isinstance(node, ast.ImportFrom) and node.module == "fraudscore":
            used |= {a.name for a in node.names}
    for node in ast.walk(tree):
        if (
            isinstance(node, ast.Attribute)
            and isinstance(node.value, ast.Name)
            and node.value.id in aliases
        ):
            used.add(node.attr)
    return used


EXAMPLES = notebook_sources() + [(b.name, b.body) for b in BLOCKS]
PYTHON_EXAMPLES = notebook_sources() + [(b.name, b.body) for b in PYTHON]


def test_the_pages_have_python_examples() -> None:
    """The README and the docs pages are found and hold Python examples (the checks below are
    not vacuous)."""
    pages = {b.page for b in PYTHON}
    assert "README.md" in pages
    assert {"docs/serving.md", "docs/training.md", "docs/rules.md"} <= pages, sorted(pages)


@pytest.mark.parametrize(("where", "source"), EXAMPLES, ids=[w for w, _ in EXAMPLES])
def test_examples_import_no_private_module(where: str, source: str) -> None:
    """No example reaches into a private ``fraudscore._`` module."""
    assert not re.search(r"fraudscore\._", source), f"{where} imports a private module"


@pytest.mark.parametrize(("where", "source"), PYTHON_EXAMPLES, ids=[w for w, _ in PYTHON_EXAMPLES])
def test_examples_use_only_exported_names(where: str, source: str) -> None:
    """Every name the Python examples take from fraudscore is in ``fraudscore.__all__``."""
    used = public_names_used(source)
    assert used, f"{where} uses nothing from fraudscore"
    assert used <= set(fraudscore.__all__), sorted(used - set(fraudscore.__all__))


# Running the Python examples ------------------------------------------------------------------

#: The small world the examples run in: ``fraudscore demo``'s layout, on less data.
DEMO_TX = TransactionSimConfig(n_customers=150, n_terminals=300, n_days=60, seed=3)
DEMO_LOGIN = LoginSimConfig(n_users=200, n_days=45, seed=4)
CHEAP = TrainConfig(n_estimators=40, early_stopping_rounds=10)


def _live_events(kind: str, rows: pd.DataFrame) -> list[Transaction | Login]:
    fields = (
        Transaction.__dataclass_fields__ if kind == "transaction" else Login.__dataclass_fields__
    )
    cls = Transaction if kind == "transaction" else Login
    cols = [c for c in fields if c in rows.columns]
    events = []
    for rec in rows[cols].to_dict("records"):
        rec = {k: v for k, v in rec.items() if not (isinstance(v, float) and v != v)}
        rec["timestamp"] = rec["timestamp"].to_pydatetime()
        events.append(cls(**rec))
    return events


@pytest.fixture(scope="session")
def workdir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """What the examples find on disk: the repository root after ``fraudscore demo``, smaller.

    - ``feature_repo/``: the repository's Feast repo, not applied;
    - ``data/demo/``: what ``fraudscore demo`` writes, for 150 cards over 60 days and 200 users
      over 45 days: ``transactions.parquet``, ``logins.parquet``, ``feature_repo/`` (both kinds
      applied and materialized as of the last day, whose events are then scored and recorded
      live, as the demo does) and ``transaction_bundle/``, ``login_bundle/`` (small models);
    - ``data/handbook/transactions.parquet``: the same transactions in the layout of the
      handbook's public files (``Columns.parse("handbook")``);
    - ``data/history/``: the same transactions as a directory of parquet parts;
    - ``rules/``: what ``fraudscore rules init --kind transaction --out rules/`` writes, plus a
      copy of its file as ``rules/transaction-v2.toml``.
    """
    from fraudscore._cli import main

    root = tmp_path_factory.mktemp("docs_work")
    template = ROOT / "feature_repo"
    ignore = shutil.ignore_patterns("data", "__pycache__")
    shutil.copytree(template, root / "feature_repo", ignore=ignore)
    demo = root / "data" / "demo"
    shutil.copytree(template, demo / "feature_repo", ignore=ignore)
    sims = {"transaction": simulate_transactions(DEMO_TX), "login": simulate_logins(DEMO_LOGIN)}
    for kind, data in sims.items():
        data.to_parquet(demo / f"{kind}s.parquet", index=False)
        features = build_features(data, kind)
        live = pd.Timestamp(features.frame["timestamp"].max().normalize())
        as_of = (live - pd.Timedelta(microseconds=1)).to_pydatetime()
        build_store(demo / "feature_repo", features, as_of=as_of)
        train_days = 35 if kind == "transaction" else 28
        start, end = _windows(features.frame, train_days)
        train_model(features, start, end, demo / f"{kind}_bundle", CHEAP)
        scorer = Scorer.open(demo / f"{kind}_bundle", demo / "feature_repo")
        for event in _live_events(kind, data[data["timestamp"] >= live]):
            scorer.record(event, scorer.score(event))
    tx = sims["transaction"]
    handbook = pd.DataFrame(
        {
            "TRANSACTION_ID": range(len(tx)),
            "TX_DATETIME": tx["timestamp"].dt.tz_localize(None),
            "CUSTOMER_ID": tx["customer_id"].str[1:].astype(int),
            "TERMINAL_ID": tx["terminal_id"].str[1:].astype(int),
            "TX_AMOUNT": tx["amount"],
            "TX_FRAUD": tx["is_fraud"],
        }
    )
    (root / "data" / "handbook").mkdir()
    handbook.to_parquet(root / "data" / "handbook" / "transactions.parquet", index=False)
    (root / "data" / "history").mkdir()
    half = len(tx) // 2
    tx.iloc[:half].to_parquet(root / "data" / "history" / "part-0.parquet", index=False)
    tx.iloc[half:].to_parquet(root / "data" / "history" / "part-1.parquet", index=False)
    rules = root / "rules"
    made = CliRunner().invoke(main, ["rules", "init", "--kind", "transaction", "--out", str(rules)])
    assert made.exit_code == 0, made.output
    shutil.copy(rules / "transaction.toml", rules / "transaction-v2.toml")
    return root


def _windows(frame: pd.DataFrame, train_days: int) -> tuple[date, date]:
    start, end, _, _ = fraudscore.default_windows(frame, train_days=train_days)
    return start, end


RUN_PAGES = sorted({b.page for b in PYTHON if b.not_run is None})


@pytest.mark.slow
@pytest.mark.parametrize("page", RUN_PAGES)
def test_the_python_examples_of_a_page_run(
    page: str, workdir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Each page's Python blocks run, in order, in one namespace, in a fresh copy of the demo's
    working directory; an exception names the page and its line."""
    work = tmp_path / "work"
    shutil.copytree(workdir, work)
    monkeypatch.chdir(work)
    monkeypatch.delenv("FRAUDSCORE_BUNDLE_KEY", raising=False)
    # The page runs as a module of its own, as a notebook's cells do (a dataclass it defines
    # looks its module up), and without this file's ``from __future__`` imports.
    module = types.ModuleType("__docs__")
    monkeypatch.setitem(sys.modules, "__docs__", module)
    namespace = module.__dict__
    ran = 0
    registered = dict(KINDS)  # a page may register kinds (docs/extending.md): they end with it
    try:
        for block in (b for b in PYTHON if b.page == page and b.not_run is None):
            # Padded so that a traceback's line numbers are the page's.
            padded = "\n" * (block.line - 1) + block.body
            code = compile(padded, str(ROOT / page), "exec", dont_inherit=True)
            exec(code, namespace)
            ran += 1
    finally:
        KINDS.clear()
        KINDS.update(registered)
    assert ran


NOT_RUN_BLOCKS = [b for b in PYTHON if b.not_run is not None]


def test_few_python_examples_are_not_run() -> None:
    """Almost every Python example runs: at most ``MAX_NOT_RUN`` are marked not run, each with a
    reason, and they are reported (as this test's skip reason)."""
    assert len(NOT_RUN_BLOCKS) <= MAX_NOT_RUN, [b.name for b in NOT_RUN_BLOCKS]
    assert all(b.not_run for b in NOT_RUN_BLOCKS), "a `<!-- not run: REASON -->` needs a reason"
    if NOT_RUN_BLOCKS:
        listed = "; ".join(f"{b.name}: {b.not_run}" for b in NOT_RUN_BLOCKS)
        pytest.skip(f"{len(NOT_RUN_BLOCKS)} Python example(s) not run: {listed}")


# The command lines --------------------------------------------------------------------------

INLINE = re.compile(r"(?<!`)`([^`]+)`(?!`)")
COMMAND = re.compile(r"(^|[\s/])fraudscore\s")


def command_lines() -> list[tuple[str, str]]:
    """``(where, line)`` for every ``fraudscore ...`` command in a bash block or inline code."""
    out = []
    for block in BLOCKS:
        if block.lang != "bash":
            continue
        joined = re.sub(r"\\\n\s*", " ", block.body)
        for offset, line in enumerate(joined.splitlines()):
            for part in re.split(r"&&|\|", line.split("  #")[0]):
                if COMMAND.search(part):
                    out.append((f"{block.page}:{block.line + offset}", part.strip()))
    for page in PAGES:
        text = FENCE.sub("", page.read_text())
        for m in INLINE.finditer(re.sub(r"\n\s*", " ", text)):
            if COMMAND.search(m.group(1)) and not m.group(1).startswith("error:"):
                out.append((page.relative_to(ROOT).as_posix(), m.group(1)))
    return out


COMMANDS = command_lines()


def test_the_pages_name_commands() -> None:
    """Commands are found in the pages' bash blocks and inline code (the check below is not
    vacuous)."""
    assert len(COMMANDS) >= 30, COMMANDS


def _resolve(line: str) -> tuple[click.Command, list[str], list[str]]:
    """The command a line names, the words that named it, and the words after it."""
    from fraudscore._cli import main

    words = line.split()
    words = words[
        next(i for i, w in enumerate(words) if re.fullmatch(r"(.*/)?fraudscore", w)) + 1 :
    ]
    command: click.Command = main
    path: list[str] = []
    while isinstance(command, click.Group) and words:
        if words[0].startswith("-"):
            assert words[0] in _options(command), f"{words[0]} is not an option of {path}"
            words = words[1:]
            continue
        if words[0] in ("COMMAND", "..."):  # a placeholder for any command
            return command, [*path, words[0]], []
        name = words.pop(0)
        sub = command.commands.get(name)
        assert sub is not None, f"`fraudscore {' '.join([*path, name])}` is not a command"
        command, path = sub, [*path, name]
    return command, path, words


def _options(command: click.Command) -> set[str]:
    names = {"--help"}
    for param in command.params:
        names |= set(param.opts) | set(param.secondary_opts)
    return names


@pytest.mark.parametrize(("where", "line"), COMMANDS, ids=[f"{w} {c}" for w, c in COMMANDS])
def test_every_command_the_pages_name_exists_with_its_options(where: str, line: str) -> None:
    """Every ``fraudscore`` command in the README and docs is a real command, and every option
    it is given is one of that command's options."""
    command, path, rest = _resolve(line)
    assert path, f"{where}: `{line}` names no command"
    options = _options(command)
    for word in rest:
        option = word.strip("[]").split("=")[0]
        if option.startswith("--"):
            assert option in options, f"{where}: `fraudscore {' '.join(path)}` has no {option}"
