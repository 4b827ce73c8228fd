"""The scripted model in a pytest run: the provider_model marker per test (reset after it), the settings,
and a bad marker as a collection error."""

from __future__ import annotations

import pytest
from support.selftest import run_inprocess

INNER = """
import pytest

@pytest.mark.provider_model(tool_calls=2, tool="clock", ttft="20ms", reply_words=3)
def test_marked(fake_provider):
    spec = fake_provider.model_spec
    assert (spec.tool_calls, spec.tool, spec.ttft, spec.reply_words, spec.arguments) == (2, "clock", 0.02, 3, '{"zone": "UTC"}')

def test_unmarked_gets_the_settings(fake_provider):
    spec = fake_provider.model_spec
    assert (spec.tool_calls, spec.tool, spec.ttft, spec.reply_words) == (1, None, None, 0)

@pytest.mark.provider_model()
def test_bare_marker_calls_one_tool(fake_provider):
    assert fake_provider.model_spec.tool_calls == 1

def test_a_test_may_change_it(fake_provider):
    fake_provider.model(tool_calls=4)
    assert fake_provider.model_spec.tool_calls == 4

def test_and_the_next_test_has_the_settings_again(fake_provider):
    assert fake_provider.model_spec.tool_calls == 1
"""


def test_the_marker_applies_per_test_over_the_settings(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(test_inner=INNER)
    result = pytester.runpytest_subprocess(
        "-p",
        "pytest_replyrace",
        "-p",
        "no:randomly",
        "--replyrace-tool-calls",
        "1",
        "--replyrace-tool-arguments",
        '{"zone": "UTC"}',
        timeout=120,
    )
    result.assert_outcomes(passed=5)


def test_a_bad_marker_is_a_collection_error_naming_it(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        test_bad="""
import pytest

@pytest.mark.provider_model(tool_calls=-1)
def test_bad(fake_provider):
    pass
""",
        test_unused="""
import pytest

@pytest.mark.provider_model(tool_calls=1)
def test_without_the_provider():
    pass
""",
    )
    result = run_inprocess(pytester)
    result.stdout.fnmatch_lines(
        [
            "*test_bad: @pytest.mark.provider_model(tool_calls=-1): tool_calls=-1; expected an integer from 0 to 100*",
            "*test_without_the_provider: @pytest.mark.provider_model needs the test to use sequential_sender or "
            "fake_provider*",
        ]
    )
