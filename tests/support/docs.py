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


# -- the docs tables and blocks the drift tests compare with the code --------------------------------------------


def table_rows(section: str) -> list[list[str]]:
    """The cells of each body row of the first Markdown table in ``section``."""
    lines = [line for line in section.splitlines() if line.startswith("|")]
    return [[cell.strip() for cell in line.strip("|").split(" | ")] for line in lines[2:]]


def section_of(text: str, heading: str) -> str:
    """The text under ``heading`` (a whole heading line, ``## Every setting``) up to the next heading of its level."""
    level = heading.split(" ", 1)[0]
    assert f"\n{heading}\n" in f"\n{text}", f"no heading {heading!r}"
    return f"\n{text}".split(f"\n{heading}\n", 1)[1].split(f"\n{level} ", 1)[0]


def code_names(cells: list[str]) -> list[str]:
    """The names in backticks of a table's first column."""
    return [match for cell in cells for match in re.findall(r"`([^`]+)`", cell)]


# The JSON schema block: a key tree read from its pseudo-JSON. A quoted word before ``:`` or in ``{"a", "b"}`` is a
# key; a bare word in key place (``{name: …}``) stands for any key (``*``); a list ``[…]`` holds its element.
_TOKEN = re.compile(r'\s*("[^"]*"|[{}\[\]:,]|[^\s{}\[\]:,"]+)')
Tree = dict[str, "Tree | None"]


def schema_tree(text: str) -> Tree:
    """The key tree of a schema block (``{`` … ``}``)."""
    tokens = [t for t in _TOKEN.findall(text) if t]
    tree, end = _value(tokens, 0)
    assert isinstance(tree, dict) and end == len(tokens), f"schema not read to its end: {tokens[end : end + 5]}"
    return tree


def _value(tokens: list[str], i: int) -> tuple[Tree | None, int]:
    if tokens[i] == "{":
        return _object(tokens, i + 1)
    if tokens[i] == "[":
        inner, i = _value(tokens, i + 1)
        while tokens[i] == ",":  # a fixed list of plain values: [failing_rtt, clean_rtt]
            _, i = _value(tokens, i + 1)
        assert tokens[i] == "]", f"expected ] at {tokens[i : i + 5]}"
        return ({"[]": inner} if inner is not None else None), i + 1
    while tokens[i] not in (",", "}", "]"):  # a type expression (str, float|null, "a"|"b"): no brackets
        i += 1
    return None, i


def _object(tokens: list[str], i: int) -> tuple[Tree, int]:
    tree: Tree = {}
    while tokens[i] != "}":
        key = tokens[i].strip('"') if tokens[i].startswith('"') else "*"
        i += 1
        value: Tree | None = None
        if tokens[i] == ":":
            value, i = _value(tokens, i + 1)
        tree[key] = value
        if tokens[i] == ",":
            i += 1
    return tree, i + 1


def tree_paths(tree: Tree | None, prefix: str = "") -> set[str]:
    """Every key path of a tree: ``tests[].calls[].token``, ``settings.*``."""
    if tree is None:
        return set()
    paths = set()
    for key, sub in tree.items():
        path = f"{prefix}{key}" if key == "[]" else f"{prefix}.{key}" if prefix else key
        if key != "[]":
            paths.add(path)
        paths |= tree_paths(sub, path)
    return paths


def json_paths(value: object, tree: Tree | None, prefix: str = "") -> set[str]:
    """Every key path of a JSON value, keys read as ``*`` where the schema tree has only ``*`` there."""
    paths: set[str] = set()
    if isinstance(value, list):
        inner = tree.get("[]") if tree else None
        for item in value:
            paths |= json_paths(item, inner, prefix + "[]")
    elif isinstance(value, dict):
        wild = tree is not None and set(tree) == {"*"}
        if wild:  # its keys are data (a gap, a setting's name): the map itself is what the schema says
            paths.add(f"{prefix}.*" if prefix else "*")
        for key, item in value.items():
            name = "*" if wild else key
            path = f"{prefix}.{name}" if prefix else name
            paths.add(path)
            paths |= json_paths(item, tree.get(name) if tree else None, path)
    return paths


def schema_drift(schema: str, document: object) -> list[str]:
    """What the schema block and a real JSON report disagree on, both ways."""
    tree = schema_tree(schema)
    documented, written = tree_paths(tree), json_paths(document, tree)
    return [f"documented, not written: {p}" for p in sorted(documented - written)] + [
        f"written, not documented: {p}" for p in sorted(written - documented)
    ]


def regex_phrases(pattern: str) -> list[str]:
    """Every phrase an alternation of words matches (``\\b(busy|already (running|active))\\b`` -> busy, already
    running, already active): groups and ``|`` only, as the busy-text pattern is written."""

    def alternatives(text: str, i: int) -> tuple[list[str], int]:
        options, current = [], [""]
        while i < len(text) and text[i] != ")":
            if text[i] == "(":
                inner, i = alternatives(text, i + 1)
                current = [c + x for c in current for x in inner]
            elif text[i] == "|":
                options += current
                current = [""]
            else:
                current = [c + text[i] for c in current]
            i += 1
        return options + current, i

    phrases, _ = alternatives(pattern.replace("\\b", ""), 0)
    return phrases
