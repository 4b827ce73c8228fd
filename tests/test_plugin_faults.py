"""The fault × letter table in docs/04-provider.md, checked cell by cell against real gateway processes.

The toy gateway (example project) runs in `fixed` mode twice: reporting a failed model run as an error
(honest) and hiding it behind canned 200 text. Every row of that table is one test in the inner
run, with the fault injected by the `provider_faults` marker on each run's 2nd call.
"""

from __future__ import annotations

import re

import pytest
from support.docs import doc_page, marked_block
from support.selftest import toy_gateway_option


def fault_table() -> list[tuple[str, str, str]]:
    block = marked_block(doc_page("04-provider.md"), "fault-table")
    rows = []
    for line in block.strip().splitlines()[2:]:
        cells = [cell.strip().strip("`") for cell in line.strip("|").split("|")]
        rows.append((cells[0], cells[1], cells[2]))
    return rows


def test_the_table_covers_every_fault_kind() -> None:
    from pytest_replyrace.provider.faults import FAULT_KINDS

    kinds = [row[0] for row in fault_table()]
    assert kinds == ["none", *FAULT_KINDS]
    assert all(re.fullmatch(r"p[pefwl]p", cell) for row in fault_table() for cell in row[1:])


def inner_tests() -> str:
    lines = ["import pytest", ""]
    for kind, _, _ in fault_table():
        if kind != "none":
            lines.append(f"@pytest.mark.provider_faults({kind!r}, calls=[2], ttft=0.5)")
        name = re.sub(r"\W", "_", kind)
        lines += [
            f"def test_fault_{name}(sequential_sender, fake_provider):",
            "    result = sequential_sender.run(calls=3)",
            "    faulted = [e.fault for e in fake_provider.journal if e.fault]",
            f"    print('FAULT {kind}', result.pattern, faulted)",
            "",
        ]
    return "\n".join(lines)


@pytest.mark.parametrize(("behaviour", "column"), [("report", 1), ("canned", 2)])
def test_fault_letters_match_the_readme(toy_pytester: pytest.Pytester, behaviour: str, column: int) -> None:
    toy_pytester.makepyfile(test_faults=inner_tests())
    result = toy_pytester.runpytest_subprocess(
        "-p", "pytest_replyrace", toy_gateway_option("fixed", "--on-provider-error", behaviour), "-s", timeout=240
    )
    rows = fault_table()
    result.assert_outcomes(passed=len(rows))
    seen = dict(re.findall(r"FAULT (\S+) (\S+) ", result.stdout.str()))
    expected = {row[0]: row[column] for row in rows}
    assert seen == expected
    # Each faulted row injected exactly one fault, on call 2, and it is in the journal.
    for kind in expected:
        if kind != "none":
            result.stdout.fnmatch_lines([f"*FAULT {kind} * [[]'{kind}'[]]"])
