"""The README and the docs pages, read by the tests that run their examples and check their links."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
README = ROOT / "README.md"
DOCS = ROOT / "docs"


def doc_page(name: str) -> Path:
    """``docs/<name>`` (``"03-transports.md"``), which must exist."""
    path = DOCS / name
    assert path.is_file(), f"no docs page {name}"
    return path


def marked_block(path: Path, name: str) -> str:
    """The text between ``<!-- name -->`` and ``<!-- /name -->`` in ``path``."""
    text = path.read_text(encoding="utf-8")
    assert f"<!-- {name} -->" in text, f"no <!-- {name} --> block in {path.relative_to(ROOT)}"
    return text.split(f"<!-- {name} -->", 1)[1].split(f"<!-- /{name} -->", 1)[0]


def doc_block(page: str, name: str) -> str:
    """The python code block between ``<!-- name -->`` and ``<!-- /name -->`` on docs page ``page``."""
    block = marked_block(doc_page(page), name)
    return block.split("```python\n", 1)[1].rsplit("```", 1)[0]


def fenced_blocks(text: str, lang: str) -> list[str]:
    """The bodies of the ```lang fenced blocks in ``text``, in order."""
    return re.findall(rf"^```{re.escape(lang)}\n(.*?)^```$", text, re.S | re.M)
