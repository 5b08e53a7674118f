"""The layout shows the architecture: imports point down (no circles), and a kind lives in its
own folder (generic code reads ``KINDS`` and never names a kind)."""

from __future__ import annotations

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[1] / "fraudscore"
#: Every kind's folder: a package under ``_kinds`` that declares a ``KIND``.
KIND_FOLDERS = tuple(
    f"_kinds/{p.parent.name}/"
    for p in sorted((PACKAGE / "_kinds").glob("*/__init__.py"))
    if "\nKIND = " in p.read_text()
)
KIND_NAMES = tuple(folder.split("/")[1] for folder in KIND_FOLDERS)

#: Modules outside the kind folders that still name a kind, and why (issue 21 moves them):
#: each entry must still be true, so that the list only shrinks.
NAMES_A_KIND = {
    "_kinds/__init__.py": "the registry: one line per kind",
    "__init__.py": "the public API exports the built-in kinds' event types and simulators",
}


def modules() -> dict[str, Path]:
    out = {}
    for path in PACKAGE.rglob("*.py"):
        parts = list(path.relative_to(PACKAGE.parent).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts.pop()
        out[".".join(parts)] = path
    return out


def imports(path: Path, known: dict[str, Path]) -> set[str]:
    """Every fraudscore module ``path`` imports, anywhere in it (functions and TYPE_CHECKING
    blocks too: a circle of type hints is a circle of the design)."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        names: list[str] = []
        if isinstance(node, ast.Import):
            names = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names = [node.module, *(f"{node.module}.{a.name}" for a in node.names)]
        found |= {n for n in names if n in known}
    return found


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components of more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    out: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        for w in graph[v]:
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                out.append(sorted(component))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return out


def test_no_import_circles() -> None:
    known = modules()
    graph = {m: imports(p, known) - {m} for m, p in known.items()}
    assert cycles(graph) == []


def test_cycles_finds_a_circle() -> None:
    """The check itself: a circle of three and a self-contained pair are found, a chain not."""
    graph = {"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"e"}, "e": set()}
    assert cycles(graph) == [["a", "b", "c"]]


def names_a_kind(path: Path) -> bool:
    kind_modules = tuple(f"fraudscore._kinds.{k}" for k in KIND_NAMES)
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import) and any(
            a.name.startswith(kind_modules) for a in node.names
        ):
            return True
        if isinstance(node, ast.ImportFrom) and node.level:
            raise AssertionError(f"{path}: a relative import; the checks read absolute ones")
        if isinstance(node, ast.ImportFrom) and node.module:
            if node.module.startswith(kind_modules):
                return True
            if node.module == "fraudscore._kinds" and any(
                a.name.lower() in KIND_NAMES for a in node.names
            ):
                return True
        elif isinstance(node, ast.Constant) and node.value in KIND_NAMES:
            return True
    return False


def test_generic_code_never_names_a_kind() -> None:
    """Outside a kind's folder, no module imports a kind or compares with its name, except the
    modules listed (each with its reason); a listed module that no longer does leaves the list."""
    naming = {
        p.relative_to(PACKAGE).as_posix()
        for p in PACKAGE.rglob("*.py")
        if not p.relative_to(PACKAGE).as_posix().startswith(KIND_FOLDERS) and names_a_kind(p)
    }
    assert naming - set(NAMES_A_KIND) == set(), "generic code names a kind"
    assert set(NAMES_A_KIND) - naming == set(), "no longer names a kind: drop it from the list"


def test_a_kind_folder_imports_no_other_kind() -> None:
    """A kind is a self-contained slice: its folder reads generic modules only, never another
    kind's folder, so adding one touches its folder and the registry's line alone."""
    known = modules()
    folders = {name: f"fraudscore._kinds.{name}" for name in KIND_NAMES}
    assert len(folders) >= 3  # transactions, logins, payouts
    crossing = {}
    for module, path in known.items():
        own = next((k for k, prefix in folders.items() if module.startswith(prefix)), None)
        if own is None:
            continue
        others = {
            m
            for m in imports(path, known)
            for k, prefix in folders.items()
            if k != own and (m == prefix or m.startswith(prefix + "."))
        }
        if others:
            crossing[module] = sorted(others)
    assert crossing == {}
