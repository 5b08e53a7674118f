"""The notebook and the README's examples use the public API only."""

from __future__ import annotations

import ast
import json
import re
from pathlib import Path

import pytest

import fraudscore

ROOT = Path(__file__).resolve().parents[1]


def notebook_sources() -> list[tuple[str, str]]:
    out = []
    for path in sorted((ROOT / "notebooks").glob("*.ipynb")):
        cells = json.loads(path.read_text())["cells"]
        code = "\n".join("".join(c["source"]) for c in cells if c["cell_type"] == "code")
        out.append((path.name, code))
    return out


def readme_blocks() -> list[tuple[str, str]]:
    text = (ROOT / "README.md").read_text()
    blocks = re.findall(r"```(\w*)\n(.*?)```", text, flags=re.S)
    return [(f"README block {i} ({lang or 'text'})", body) for i, (lang, body) in enumerate(blocks)]


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


EXAMPLES = notebook_sources() + readme_blocks()


@pytest.mark.parametrize(("where", "source"), EXAMPLES, ids=[w for w, _ in EXAMPLES])
def test_examples_import_no_private_module(where: str, source: str) -> None:
    """No example reaches into a private ``fraudscore._`` module."""
    assert not re.search(r"fraudscore\._", source), f"{where} imports a private module"


@pytest.mark.parametrize(
    ("where", "source"),
    [e for e in EXAMPLES if e[0].endswith(".ipynb") or "(python)" in e[0]],
    ids=[w for w, _ in EXAMPLES if w.endswith(".ipynb") or "(python)" in w],
)
def test_examples_use_only_exported_names(where: str, source: str) -> None:
    """Every name the Python examples take from fraudscore is in ``fraudscore.__all__``."""
    used = public_names_used(source)
    assert used, f"{where} uses nothing from fraudscore"
    assert used <= set(fraudscore.__all__), sorted(used - set(fraudscore.__all__))
