"""The README and the docs pages link to what exists: pages, anchors and images."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PAGES = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
#: Pages being written in other changes: a link to one is checked once it exists.
PENDING: set[str] = set()
#: The README is a front door; the rest lives in docs/.
README_MAX_LINES = 150

FENCE = re.compile(r"^```.*?^```", flags=re.M | re.S)
CODE = re.compile(r"`[^`\n]*`")
LINK = re.compile(r"!?\[[^\]]*\]\(([^)\s]+)\)")
HEADING = re.compile(r"^#{1,6}\s+(.+?)\s*#*\s*$", flags=re.M)


def prose(path: Path) -> str:
    """The page without its code blocks and inline code (a link there is not a link)."""
    return CODE.sub("", FENCE.sub("", path.read_text()))


def anchors(path: Path) -> set[str]:
    """GitHub's anchors for a page's headings: lowercase, punctuation dropped, spaces to
    hyphens, repeats numbered."""
    seen: dict[str, int] = {}
    out = set()
    for title in HEADING.findall(FENCE.sub("", path.read_text())):
        slug = re.sub(r"[^\w\- ]", "", title.lower()).replace(" ", "-")
        n = seen.get(slug, 0)
        seen[slug] = n + 1
        out.add(slug if n == 0 else f"{slug}-{n}")
    return out


def links() -> list[tuple[str, str]]:
    out = []
    for page in PAGES:
        for target in LINK.findall(prose(page)):
            if not re.match(r"[a-z]+:", target):  # http:, https:, mailto: are not checked
                out.append((page.relative_to(ROOT).as_posix(), target))
    return out


LINKS = links()


def test_the_pages_have_links() -> None:
    """Links are found, in the README and across the docs pages (the check below is not
    vacuous)."""
    pages = {page for page, _ in LINKS}
    assert "README.md" in pages and len(pages) >= 4, sorted(pages)
    assert any("#" in target for _, target in LINKS)


@pytest.mark.parametrize(("page", "target"), LINKS, ids=[f"{p} -> {t}" for p, t in LINKS])
def test_every_link_resolves(page: str, target: str) -> None:
    """Every relative link names a file that exists, and every ``#anchor`` a heading of its
    page."""
    path, _, anchor = target.partition("#")
    source = ROOT / page
    dest = (source.parent / path).resolve() if path else source
    name = dest.relative_to(ROOT).as_posix() if dest.is_relative_to(ROOT) else str(dest)
    if not dest.exists() and name in PENDING:
        pytest.skip(f"{page} links {name}, which another change is writing")
    assert dest.exists(), f"{page}: {target} -> {name} does not exist"
    if anchor:
        assert dest.suffix == ".md", f"{page}: {target}: an anchor into a file that is not a page"
        assert anchor in anchors(dest), f"{page}: {target}: no heading #{anchor} in {name}"


def test_the_readme_links_every_docs_page() -> None:
    """Every page in docs/ can be reached from the README's links, and the pages being written
    elsewhere are linked already."""
    linked = {
        (ROOT / t.partition("#")[0]).resolve().relative_to(ROOT).as_posix()
        for p, t in LINKS
        if p == "README.md" and t.partition("#")[0]
    }
    pages = {p.relative_to(ROOT).as_posix() for p in PAGES[1:]} | PENDING
    assert pages <= linked, sorted(pages - linked)


def test_the_readme_is_short() -> None:
    """The README stays a front door (about 150 lines); the rest lives in docs/."""
    lines = (ROOT / "README.md").read_text().count("\n")
    assert lines <= README_MAX_LINES, lines


def test_anchors_follow_githubs_rule() -> None:
    """The anchor rule drops punctuation and backticks, keeps hyphens, numbers repeats."""
    page = ROOT / "docs" / "stores.md"
    assert "configuration-sqlite-default-or-redis" in anchors(page)
    assert "many-workers-many-machines-what-is-atomic" in anchors(page)
    assert "the-handbooks-benchmark" in anchors(ROOT / "docs" / "training.md")
