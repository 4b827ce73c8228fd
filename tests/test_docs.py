"""The README and the docs pages: short front page, no dead links, every page on both maps, the README's
two commands the ones CI and the demo run, and the public API table complete."""

from __future__ import annotations

import re
import shlex
from pathlib import Path

import pytest
from support.docs import DOCS, README, ROOT, doc_page, fenced_blocks

PAGES = sorted(DOCS.glob("*.md"))
LINK = re.compile(r"!?\[[^\]]*\]\(([^)\s]+)\)")


def prose(text: str) -> str:
    """``text`` without fenced code blocks and inline code, where brackets are not links."""
    text = re.sub(r"^```.*?^```$", "", text, flags=re.S | re.M)
    return re.sub(r"`[^`\n]*`", "", text)


def anchors(path: Path) -> set[str]:
    """The ``#anchors`` GitHub gives the headings of ``path``: lower case, punctuation dropped, spaces to hyphens."""
    seen: dict[str, int] = {}
    found = set()
    for line in prose(path.read_text(encoding="utf-8")).splitlines():
        match = re.match(r"#{1,6} (.+)", line)
        if not match:
            continue
        slug = re.sub(r"[^\w\- ]", "", match.group(1).strip().lower()).replace(" ", "-")
        count = seen.get(slug, 0)
        seen[slug] = count + 1
        found.add(slug if count == 0 else f"{slug}-{count}")
    return found


def test_the_readme_is_at_most_15000_characters() -> None:
    size = len(README.read_bytes())
    assert size <= 15_000, f"README.md is {size:,} bytes; move detail to a docs page"


@pytest.mark.parametrize("path", [README, *PAGES], ids=lambda p: str(p.relative_to(ROOT)))
def test_every_relative_link_points_to_an_existing_file(path: Path) -> None:
    dead = []
    for target in LINK.findall(prose(path.read_text(encoding="utf-8"))):
        if re.match(r"[a-z][a-z0-9+.-]*:", target):  # https:, mailto:
            continue
        file, _, anchor = target.partition("#")
        dest = (path.parent / file).resolve() if file else path
        if not dest.exists():
            dead.append(f"{target}: no such file")
        elif anchor and dest.suffix == ".md" and anchor not in anchors(dest):
            dead.append(f"{target}: no heading #{anchor} in {dest.relative_to(ROOT)}")
    assert not dead, dead


@pytest.mark.parametrize("index", [README, DOCS / "README.md"], ids=["README.md", "docs/README.md"])
def test_every_docs_page_is_on_the_map(index: Path) -> None:
    linked = {(index.parent / target.partition("#")[0]).resolve() for target in LINK.findall(index.read_text("utf-8"))}
    missing = [page.name for page in PAGES if page.name != "README.md" and page.resolve() not in linked]
    assert not missing, f"{index.relative_to(ROOT)} does not link {missing}"


def words(command: str) -> list[str]:
    """A command's words, with ``python3`` as ``python`` and pip's ``--quiet`` dropped (CI is quieter)."""
    return ["python" if word == "python3" else word for word in shlex.split(command) if word != "--quiet"]


def test_the_readme_commands_are_the_ones_ci_and_the_demo_run() -> None:
    text = README.read_text(encoding="utf-8")
    section = text.split("## The two commands\n", 1)[1].split("\n## ", 1)[0]
    demo, suite = (block.strip() for block in fenced_blocks(section, "bash"))
    # The demo: exactly the command the example project's README gives.
    example = fenced_blocks((ROOT / "example_project" / "README.md").read_text(encoding="utf-8"), "bash")[0]
    assert demo == example.strip()
    # The project's tests: the install and the test command .ci/run runs.
    ci = [
        words(line)
        for line in (ROOT / ".ci" / "run").read_text(encoding="utf-8").splitlines()
        if line.startswith("python")
    ]
    install, run = suite.split(" && ")
    assert words(install) in ci, install
    assert words(run) in ci, run
    assert demo.split(" && ")[0] == install  # one install for both


def test_the_public_api_table_names_every_export() -> None:
    import pytest_replyrace

    page = doc_page("07-without-pytest.md").read_text(encoding="utf-8")
    table = page.split("| names | module |", 1)[1].split("\n\n", 1)[0]
    named = set(re.findall(r"`(\w+)`", "\n".join(line.split("|")[1] for line in table.splitlines()[2:])))
    assert named == set(pytest_replyrace.__all__)
    for line in table.splitlines()[2:]:
        module = line.split("|")[2].strip().strip("`")
        assert (ROOT / module).is_file(), module
