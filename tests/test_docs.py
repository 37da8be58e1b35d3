"""The README and docs/: links that resolve, a short front door, the method in the repository, no machine paths."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
MARKDOWN = [REPO / "README.md", *sorted((REPO / "docs").rglob("*.md"))]
# where code, scripts and docs may cite the method
SOURCE_DIRS = ("dfviewer", "scripts", "tests", "docs", "packaging", ".ci")
TEXT_SUFFIXES = {".py", ".md", ".sh", ".toml", ".json", ".txt", ".cfg", ".spec", ".yml", ".yaml", ""}
LINK = re.compile(r"!?\[[^\]]*\]\(([^)\s]+)\)")
FENCE = re.compile(r"^```.*?^```", re.S | re.M)


def _prose(path: Path) -> str:
    """The Markdown of ``path`` without its fenced code blocks."""
    return FENCE.sub("", path.read_text(encoding="utf-8"))


def _slug(heading: str) -> str:
    """GitHub's anchor for a heading: lower case, punctuation dropped, spaces to hyphens."""
    return re.sub(r"[^\w\- ]", "", heading.strip().lower()).replace(" ", "-")


def _anchors(path: Path) -> set[str]:
    return {_slug(m.group(1)) for m in re.finditer(r"^#+ (.+)$", _prose(path), re.M)}


def _text_files() -> list[Path]:
    files = [REPO / "README.md", REPO / "pyproject.toml"]
    for top in SOURCE_DIRS:
        for path in (REPO / top).rglob("*"):
            if path.is_file() and path.suffix in TEXT_SUFFIXES and "tests/data" not in path.as_posix():
                files.append(path)
    return files


@pytest.mark.parametrize("page", MARKDOWN, ids=lambda p: p.relative_to(REPO).as_posix())
def test_every_local_link_and_image_resolves(page):
    broken = []
    for target in LINK.findall(_prose(page)):
        if re.match(r"[a-z]+:", target):
            continue  # https:, mailto:
        file_part, _, anchor = target.partition("#")
        dest = (page.parent / file_part).resolve() if file_part else page
        if not dest.exists():
            broken.append(f"{target} (no such file)")
        elif anchor and dest.suffix == ".md" and anchor not in _anchors(dest):
            broken.append(f"{target} (no such heading)")
    assert not broken, f"{page.name}: {broken}"


def test_readme_is_a_short_front_door_linking_every_docs_page():
    readme = (REPO / "README.md").read_text(encoding="utf-8")
    assert len(readme.splitlines()) <= 250
    linked = {(REPO / t.partition("#")[0]).resolve() for t in LINK.findall(_prose(REPO / "README.md"))}
    pages = set(p.resolve() for p in (REPO / "docs").glob("*.md"))
    assert pages - linked == set()


def test_nothing_cites_a_method_outside_the_repository():
    # the strings are assembled so that this file does not match itself
    outside = ("METHOD" + ".md", "../" + "shared")
    hits = [f"{p.relative_to(REPO)}: {s}" for p in _text_files() for s in outside
            if s in p.read_text(encoding="utf-8", errors="replace")]
    assert hits == []


def test_every_method_section_cited_in_the_code_exists():
    sections = {int(n) for n in re.findall(r"^## (\d+)\. ", (REPO / "docs" / "method.md").read_text(), re.M)}
    assert sections == set(range(1, max(sections) + 1))
    cited: set[int] = set()
    for path in _text_files():
        for first, last in re.findall(r"docs/method\.md §(\d+)(?:-(\d+))?", path.read_text(errors="replace")):
            cited.update(range(int(first), int(last or first) + 1))
    assert cited, "the code cites no section of docs/method.md"
    assert cited <= sections


@pytest.mark.parametrize("report", [*sorted((REPO / "docs" / "evaluation").glob("*.json")),
                                    *sorted((REPO / "docs" / "evaluation").glob("*.md")),
                                    *sorted((REPO / "docs" / "evaluation").glob("*.txt")),
                                    REPO / "packaging" / "BUILD_REPORT.md"],
                         ids=lambda p: p.relative_to(REPO).as_posix())
def test_committed_reports_name_no_machine_folder(report):
    machine = re.findall(r"(?<![\w.])(?:/work|/tmp|/home|/root|/Users|[A-Z]:\\)[/\\][^\s\"'`)]*", report.read_text())
    assert machine == []


def test_license_is_the_mit_license_pyproject_declares():
    declared = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["license"]["text"]
    text = (REPO / "LICENSE").read_text()
    assert declared == "MIT" and text.startswith("MIT License")
    assert "Copyright (c) 2026 the dfviewer team" in text
