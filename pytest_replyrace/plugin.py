"""pytest hooks and fixtures; everything else lives in the library modules."""

from __future__ import annotations

import contextlib
import os
import random
import re
import shlex
import sys
import warnings
import zlib
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from .driver import DriverSettings, SequentialSender, reports_events
from .errors import InvalidArgument
from .gateway.command import placeholders
from .gateway.launcher import Gateway, LaunchedGateway
from .gateway.log import DEFAULT_LOG_PATTERNS
from .gateway.openclaw import OpenClawProfile
from .gateway.pool import GatewayPool
from .gateway.processes import ended_processes
from .ini_keys import ini_keys, misspelt_keys
from .markers import (
    MARKERS,
    MarkerError,
    parse_gap_range,
    parse_provider_faults,
    parse_provider_model,
    parse_replyrace,
    parse_rtt_range,
    parse_search_marker,
    range_ids,
)
from .provider.faults import FaultPlan
from .provider.server import FakeProvider
from .reports.html import write_html_report
from .reports.summary import NOT_A_RACE_ASSERTION, summary_lines, write_json_report
from .settings import OPTIONS, TRANSPORTS, Settings, SettingsError, api_model, load_api, resolve, transport_token
from .setup_failures import SetupFailures
from .transports.api_file import ApiSpec
from .transports.base import Transport
from .transports.declared import DeclaredTransport
from .transports.http import HttpTransport
from .transports.openai import OpenAIChatTransport, OpenAIResponsesTransport
from .transports.openclaw import OpenClawTransport
from .units import format_duration
from .verdict import RaceFailure, RaceResult
from .version import __version__
from .window import RaceWindow
from .xfail_record import XfailRecord

SEED_CACHE_KEY = "replyrace/seed"


@dataclass(eq=False)
class _RunState:
    settings: Settings
    seed: int
    seed_note: str
    log_patterns: tuple[str, ...]
    api: ApiSpec | None = None
    """The declared transport's API file, read and checked at configure time."""
    results: list[dict[str, Any]] = field(default_factory=list)
    """Every race run's ``RaceResult.to_dict()``, gathered from test reports (also from xdist workers)."""

    windows: list[dict[str, Any]] = field(default_factory=list)
    """Every window a grid or a search stated, with its test's node id."""

    restarts: list[dict[str, Any]] = field(default_factory=list)
    """Every gateway restart: the test whose setup restarted it, and why."""

    ended: list[dict[str, Any]] = field(default_factory=list)
    """Every process that left a gateway's group and had to be ended by its run marker."""

    owned: list[GatewayPool | FakeProvider] = field(default_factory=list)
    """What the session fixtures started, stopped again at session finish if their teardown was cut short."""

    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        # Attributes of a report travel with it from xdist workers to the controller.
        for attribute, into in (
            ("replyrace", self.results),
            ("replyrace_windows", self.windows),
            ("replyrace_restarts", self.restarts),
            ("replyrace_ended", self.ended),
        ):
            value = getattr(report, attribute, None)
            if isinstance(value, list):
                into.extend(value)


_STATE = pytest.StashKey[_RunState]()
_PENDING = pytest.StashKey[list[dict[str, Any]]]()
_PENDING_WINDOWS = pytest.StashKey[list[dict[str, Any]]]()
_PENDING_RESTARTS = pytest.StashKey[list[dict[str, Any]]]()


class _XdistHooks:
    """Registered only when pytest-xdist is present: workers share the controller's seed."""

    def __init__(self, seed: int) -> None:
        self.seed = seed

    def pytest_configure_node(self, node: Any) -> None:
        node.workerinput["replyrace_seed"] = self.seed


def pytest_addoption(parser: pytest.Parser, pluginmanager: pytest.PytestPluginManager) -> None:
    if not pluginmanager.has_plugin("replyrace-quiet-asyncio"):
        pluginmanager.register(_QuietAsyncioDefault(), "replyrace-quiet-asyncio")
    group = parser.getgroup("replyrace", "pytest-replyrace: reply races in chat/LLM gateways")
    for option in OPTIONS:
        bare = {"nargs": "?", "const": "on"} if option.switch else {}
        group.addoption(
            option.flag,
            dest=option.dest,
            default=None,
            metavar=option.metavar,
            help=option.help,
            action="append" if option.repeat else "store",
            **bare,
        )
        ini_help = f"{option.help} (ini twin of {option.flag}, env {option.env})"
        if option.repeat:
            parser.addini(option.ini, ini_help, type="linelist", default=[])
        else:
            parser.addini(option.ini, ini_help, default="")
    group.addoption(
        "--replyrace-log-pattern",
        dest="replyrace_log_pattern",
        action="append",
        default=[],
        metavar="REGEX",
        help="extra regex to scan the gateway log for (repeatable; adds to the defaults)",
    )
    parser.addini("replyrace_log_patterns", "extra regexes to scan the gateway log for, one per line", type="linelist")


def _resolve_seed(config: pytest.Config, raw: int | str | None) -> tuple[int, str]:
    workerinput = getattr(config, "workerinput", None)
    if workerinput is not None and "replyrace_seed" in workerinput:
        return int(workerinput["replyrace_seed"]), "from the xdist controller"
    cache = getattr(config, "cache", None)
    if raw == "last":
        previous = cache.get(SEED_CACHE_KEY, None) if cache is not None else None
        if isinstance(previous, int):
            return previous, "the previous run's (--replyrace-seed last)"
        return random.SystemRandom().randrange(2**32), "fresh: no previous seed was recorded"
    if isinstance(raw, int):
        return raw, "given"
    return random.SystemRandom().randrange(2**32), "fresh"


def _check_patterns(patterns: list[str]) -> tuple[str, ...]:
    for pattern in patterns:
        try:
            re.compile(pattern)
        except re.error as exc:
            raise pytest.UsageError(f"replyrace log pattern {pattern!r} is not a valid regex: {exc}") from None
    return tuple(patterns)


_ASYNCIO_SCOPE_UNSET = 'The configuration option "asyncio_default_fixture_loop_scope" is unset'


class _QuietAsyncioDefault:
    """pytest-asyncio, which we install, warns at configure time while its fixture loop scope is unset. A project
    that never chose pytest-asyncio should not get that warning from us (with ``filterwarnings = error``, an
    INTERNALERROR). No hook wraps ``pytest_configure`` (it is historic) and no public API sets another plugin's
    ini value, so this runs before every other ``pytest_configure`` and ignores exactly that message, only while
    the option is unset. A separate object, so our own ``pytest_configure`` keeps its normal place (after the
    cache provider's)."""

    @pytest.hookimpl(tryfirst=True)
    def pytest_configure(self, config: pytest.Config) -> None:
        if not config.pluginmanager.hasplugin("asyncio") or config.getini("asyncio_default_fixture_loop_scope"):
            return
        warnings.filterwarnings(
            "ignore", message=re.escape(_ASYNCIO_SCOPE_UNSET), category=pytest.PytestDeprecationWarning
        )


@pytest.hookimpl(tryfirst=True)
def pytest_load_initial_conftests(early_config: pytest.Config) -> None:
    # Before pytest warns about unknown keys (an INTERNALERROR under filterwarnings = error) or skips every test.
    known = {option.ini for option in OPTIONS} | {"replyrace_log_patterns"}
    problem = misspelt_keys(ini_keys(early_config.inipath), known, str(early_config.inipath))
    if problem is not None:
        raise pytest.UsageError(problem)


def pytest_configure(config: pytest.Config) -> None:
    config.pluginmanager.register(SetupFailures(), "replyrace-setup-failures")
    config.pluginmanager.register(XfailRecord(), "replyrace-xfail-record")
    for text in MARKERS.values():
        config.addinivalue_line("markers", text)
    try:
        settings = resolve(ini=config.getini, cli=config.getoption, environ=os.environ)
        api = load_api(settings, config.rootpath)  # a bad API file is a usage error before any test runs
    except SettingsError as exc:
        raise pytest.UsageError(str(exc)) from None
    gateway_templates(settings, config.rootpath)  # a missing template is a usage error before any test runs
    seed, note = _resolve_seed(config, settings.seed)
    extra = list(config.getini("replyrace_log_patterns")) + list(config.getoption("replyrace_log_pattern") or [])
    patterns = _check_patterns(list(DEFAULT_LOG_PATTERNS) + extra)
    state = _RunState(settings=settings, seed=seed, seed_note=note, log_patterns=patterns, api=api)
    config.stash[_STATE] = state
    config.pluginmanager.register(state, "replyrace-state")
    cache = getattr(config, "cache", None)
    if cache is not None and getattr(config, "workerinput", None) is None:
        cache.set(SEED_CACHE_KEY, seed)
    if config.pluginmanager.hasplugin("xdist"):
        config.pluginmanager.register(_XdistHooks(seed), "replyrace-xdist")


def gateway_templates(settings: Settings, rootpath: Path) -> list[tuple[str, Path]]:
    """``replyrace_gateway_files`` as (dest, template path) pairs, each template readable (absolute, or relative
    to the rootdir); a usage error names the one that is not and where the setting came from."""
    files = []
    for dest, template in settings.gateway_files:
        path = Path(template) if Path(template).is_absolute() else rootpath / template
        try:
            path.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            raise pytest.UsageError(
                f"{settings.source('gateway_files')}: the template {template!r} of gateway file {dest!r} cannot be "
                f"read ({path}: {type(exc).__name__}: {exc}); expected a readable text file, absolute or relative "
                f"to the rootdir {rootpath}"
            ) from None
        files.append((dest, path))
    return files


def _state(config: pytest.Config) -> _RunState:
    return config.stash[_STATE]


def pytest_report_header(config: pytest.Config) -> list[str]:
    state = _state(config)
    s = state.settings
    if s.gateway_url:
        gateway = f"attach {s.gateway_url}"
    elif s.gateway == "openclaw":
        gateway = f"openclaw {s.openclaw or '(set --replyrace-openclaw)'} with {s.node}, api {s.openclaw_api}"
        if s.openclaw_tools is not None:
            gateway += f", tools {s.openclaw_tools}"
    elif s.gateway_cmd:
        gateway = f"launch {s.gateway_cmd!r}"
    else:
        gateway = "none configured (race tests skip)"
    return [
        f"replyrace {__version__}: gateway={gateway} transport={s.transport}"
        + (f" api={s.api}" if s.transport == "declared" else "")
        + f" ready={s.describe('ready')} "
        f"ready-timeout={s.describe('ready_timeout')}",
        f"replyrace: calls={s.calls} gap={s.describe('gap')} call-timeout={s.describe('call_timeout')} "
        f"rtt={s.describe('rtt')} jitter={s.jitter:g} seed={state.seed} ({state.seed_note}; "
        f"replay with --replyrace-seed {state.seed})",
        f"replyrace: send-at={s.send_at} busy-policy={s.busy_policy}"
        + (f" preamble={s.describe('preamble')}" if s.preamble else ""),
        "replyrace: markers may override per test (replyrace, rtt_range, gap_range set calls, gap, rtt, "
        "call-timeout, send-at, busy-policy, preamble); the summary shows each run's own rtt, gap and pattern, "
        "one letter per call",
    ] + ([f"replyrace: search={s.describe('search')} (on every failing race assertion)"] if s.search else [])


def _fail_collection(message: str) -> None:
    __tracebackhide__ = True
    try:
        pytest.fail(message, pytrace=False)
    except pytest.fail.Exception as exc:
        exc.__suppress_context__ = True  # raised while a MarkerError is handled: still the one error to show, once
        raise


@pytest.hookimpl(trylast=True)
def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    where = metafunc.definition.nodeid
    mark = metafunc.definition.get_closest_marker("replyrace")
    send_at = _state(metafunc.config).settings.send_at
    if mark is not None:
        try:
            send_at = parse_replyrace(mark.args, mark.kwargs, where, send_at).get("send_at", send_at)
        except MarkerError as exc:
            _fail_collection(str(exc))
    search_mark = metafunc.definition.get_closest_marker("replyrace_search")
    try:
        if search_mark is not None:
            parse_search_marker(search_mark.args, search_mark.kwargs, where)
        if (
            parse_provider_faults(list(metafunc.definition.iter_markers("provider_faults")), where)
            and "fake_provider" not in metafunc.fixturenames
        ):
            _fail_collection(
                f"{where}: @pytest.mark.provider_faults needs the test to use sequential_sender or fake_provider"
            )
        model_mark = metafunc.definition.get_closest_marker("provider_model")
        if model_mark is not None:
            parse_provider_model(model_mark, where)
            if "fake_provider" not in metafunc.fixturenames:
                _fail_collection(
                    f"{where}: @pytest.mark.provider_model needs the test to use sequential_sender or fake_provider"
                )
    except MarkerError as exc:
        _fail_collection(str(exc))
    if mark is not None and "gap" in mark.kwargs and metafunc.definition.get_closest_marker("gap_range"):
        _fail_collection(
            f"{where}: both @pytest.mark.gap_range and @pytest.mark.replyrace(gap=...) set the gap; "
            "expected one of them"
        )
    for marker, fixture, parse, name in _RANGE_MARKERS:
        range_mark = metafunc.definition.get_closest_marker(marker)
        if range_mark is None:
            continue
        try:
            values = (
                parse_gap_range(range_mark.args, range_mark.kwargs, where, signed=send_at == "served")
                if marker == "gap_range"
                else parse(range_mark.args, range_mark.kwargs, where)
            )
        except MarkerError as exc:
            _fail_collection(str(exc))
            return
        if fixture not in metafunc.fixturenames:
            users = _RANGE_USERS[fixture]
            _fail_collection(f"{where}: @pytest.mark.{marker} needs the test to use one of the fixtures {users}")
        # Parametrized in this order, the ids read rtt=50ms-gap=0ms.
        metafunc.parametrize(fixture, list(values), ids=range_ids(name, values), indirect=True)


_RANGE_MARKERS: tuple[tuple[str, str, Callable[..., Sequence[float]], str], ...] = (
    ("rtt_range", "replyrace_rtt", lambda *a: parse_rtt_range(*a).values, "rtt"),
    ("gap_range", "replyrace_gap", parse_gap_range, "gap"),
)
_RANGE_USERS = {
    "replyrace_rtt": "sequential_sender, fake_provider or replyrace_rtt",
    "replyrace_gap": "sequential_sender or replyrace_gap",
}


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Any:
    report = yield
    if call.excinfo is not None and call.excinfo.errisinstance(RaceFailure):
        report.replyrace_race_failure = True  # the summary tells these from failures on anything else
    pending = item.stash.get(_PENDING, None)
    if pending:
        # An attribute of the report travels to the xdist controller with it.
        report.replyrace = list(pending)
        pending.clear()
    for key, attribute in ((_PENDING_WINDOWS, "replyrace_windows"), (_PENDING_RESTARTS, "replyrace_restarts")):
        pending_list = item.stash.get(key, None)
        if pending_list:
            setattr(report, attribute, list(pending_list))
            pending_list.clear()
    ended = ended_processes()  # a gateway stopped in this phase (session teardown, say) had to end these
    if ended:
        report.replyrace_ended = [{"pid": p.pid, "name": p.name, "gateway": p.gateway} for p in ended]
    return report


def pytest_terminal_summary(terminalreporter: Any, exitstatus: int, config: pytest.Config) -> None:
    state = config.stash.get(_STATE, None)
    if state is None:
        return
    if state.results or state.windows or state.restarts or state.ended:
        _write_summary(terminalreporter, config, state)
    # Written at session finish, which pytest runs before this summary.
    for what, path in (("JSON report", state.settings.report), ("HTML report", state.settings.html)):
        if path and Path(path).exists():
            terminalreporter.write_line(f"replyrace: {what} written to {Path(path).resolve()}")


def _write_summary(terminalreporter: Any, config: pytest.Config, state: _RunState) -> None:
    terminalreporter.section("replyrace summary")
    verbose = config.get_verbosity() > 0
    for line, markup in summary_lines(state.results, _outcomes(terminalreporter), verbose=verbose):
        terminalreporter.write_line(line, **markup)
    for window in sorted(state.windows, key=lambda w: str(w["node_id"])):
        terminalreporter.write_line(f"{window['node_id']}: window {window['statement']}", bold=True)
    if state.restarts:
        count = len(state.restarts)
        terminalreporter.write_line(
            f"replyrace: the gateway was restarted {count} time{'s' * (count != 1)}:", yellow=True, bold=True
        )
        for restart in state.restarts:
            terminalreporter.write_line(f"  before {restart['node_id']}: {restart['reason']}")
    if state.ended:
        count = len(state.ended)
        names = ", ".join(f"{p['name']} (pid {p['pid']})" for p in state.ended)
        terminalreporter.write_line(
            f"replyrace: ended {count} process{'es' * (count != 1)} that left the gateway's group: {names}",
            yellow=True,
            bold=True,
        )


def _outcomes(terminalreporter: Any) -> dict[str, str]:
    """Each test's outcome word (passed, failed, xfailed, ...) from the reporter's stats."""
    outcomes: dict[str, str] = {}
    for word in ("passed", "failed", "xfailed", "xpassed", "error"):
        for report in terminalreporter.stats.get(word, []):
            node_id = getattr(report, "nodeid", None)
            if node_id and (getattr(report, "when", None) == "call" or word == "error"):
                if word == "failed" and not getattr(report, "replyrace_race_failure", False):
                    word = f"failed: {NOT_A_RACE_ASSERTION}"
                outcomes.setdefault(node_id, word)
    return outcomes


@pytest.hookimpl(trylast=True)
def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    state = session.config.stash.get(_STATE, None)
    if state is None:
        return
    # pytest drops a scope's remaining finalizers when one raises KeyboardInterrupt (Ctrl-C while a
    # gateway stops): whatever is still running is stopped here, gateways before the provider.
    while state.owned:
        owned = state.owned.pop()
        with contextlib.suppress(Exception):
            if isinstance(owned, GatewayPool):
                owned.stop_all()
            else:
                owned.stop()
    if hasattr(session.config, "workerinput"):
        return  # xdist workers hand their results to the controller, which writes the files
    settings = {k: state.settings.describe(k) for k in state.settings.values}
    if state.settings.report:
        write_json_report(
            state.settings.report,
            state.results,
            seed=state.seed,
            settings=settings,
            windows=state.windows,
            restarts=state.restarts,
        )
    if state.settings.html:
        defaults = {k: Settings().describe(k) for k in settings}
        write_html_report(
            state.settings.html,
            state.results,
            seed=state.seed,
            settings=settings,
            windows=state.windows,
            defaults=defaults,
        )


def terminal_writer(config: pytest.Config, quiet: bool = False) -> Callable[[str], None]:
    """Writes a progress line on the terminal while pytest captures output (default capture included): the
    terminal reporter, or stderr in an xdist worker. ``quiet``: nothing with ``-q``."""

    def write(line: str) -> None:
        if quiet and config.get_verbosity() < 0:
            return
        capman = config.pluginmanager.get_plugin("capturemanager")
        reporter = config.pluginmanager.get_plugin("terminalreporter")
        with capman.global_and_fixture_disabled() if capman is not None else contextlib.nullcontext():
            if reporter is not None and not hasattr(config, "workerinput"):
                reporter.ensure_newline()
                reporter.write_line(line, yellow=True)
            else:
                # An xdist worker shares the terminal with the controller's progress dots: a line of its own.
                sys.stderr.write("\n" + line + "\n")
                sys.stderr.flush()

    return write


# -- fixtures ---------------------------------------------------------------


@pytest.fixture(scope="session")
def replyrace_settings(pytestconfig: pytest.Config) -> Settings:
    """The resolved settings (ini < env < command line)."""
    return _state(pytestconfig).settings


@pytest.fixture(scope="session")
def replyrace_seed(pytestconfig: pytest.Config) -> int:
    """The run's seed; every token, session key and jitter draw derives from it."""
    return _state(pytestconfig).seed


@pytest.fixture(scope="session")
def replyrace_provider_server(pytestconfig: pytest.Config) -> Iterator[FakeProvider]:
    """The session's fake provider; prefer ``fake_provider``, which resets it per test."""
    state = _state(pytestconfig)
    provider = FakeProvider(rtt=state.settings.rtt, seed=state.seed, model_spec=state.settings.model_spec).start()
    state.owned.append(provider)
    try:
        yield provider
    finally:
        provider.stop()


@pytest.fixture
def replyrace_gap(request: pytest.FixtureRequest) -> float | None:
    """This test's client gap from ``gap_range``, or None (then the marker or the settings decide)."""
    param = getattr(request, "param", None)
    return None if param is None else float(param)


@pytest.fixture
def replyrace_rtt(request: pytest.FixtureRequest, replyrace_settings: Settings) -> float:
    """This test's provider RTT in seconds (from ``rtt_range`` or ``--replyrace-rtt``)."""
    param = getattr(request, "param", None)
    return float(param) if param is not None else float(replyrace_settings.rtt)


def _test_seed(seed: int, node_id: str) -> int:
    # Per-test offset, as pytest-randomly does, so one test replays alone.
    return zlib.crc32(f"{seed}:{node_id}".encode())


@pytest.fixture
def fake_provider(
    request: pytest.FixtureRequest, replyrace_provider_server: FakeProvider, replyrace_rtt: float
) -> Iterator[FakeProvider]:
    """The fake provider, reset for this test and serving at this test's RTT; a failure of its own
    handlers during the test errors the test (pytest-httpserver's ``check_handler_errors``)."""
    state = _state(request.config)
    jitter = state.settings.jitter
    mark = request.node.get_closest_marker("rtt_range")
    if mark is not None:
        jitter = parse_rtt_range(mark.args, mark.kwargs, request.node.nodeid).jitter
    spec = state.settings.model_spec
    model_mark = request.node.get_closest_marker("provider_model")
    if model_mark is not None:
        spec = parse_provider_model(model_mark, request.node.nodeid, spec)
    replyrace_provider_server.reset(
        rtt=replyrace_rtt, jitter=jitter, seed=_test_seed(state.seed, request.node.nodeid), model_spec=spec
    )
    rules = parse_provider_faults(list(request.node.iter_markers("provider_faults")), request.node.nodeid)
    if rules:
        replyrace_provider_server.faults(FaultPlan(rules))
    yield replyrace_provider_server
    replyrace_provider_server.check_handler_errors()


@pytest.fixture(scope="session")
def replyrace_gateway_factory(
    pytestconfig: pytest.Config, replyrace_provider_server: FakeProvider, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[GatewayPool]:
    """Launch (``.launch(cmd)``) or attach (``.attach(url)``) gateways; all stop at session end, LIFO."""
    state = _state(pytestconfig)
    s = state.settings
    pool = GatewayPool(
        replyrace_provider_server.base_url,
        ready=s.ready,
        ready_timeout=s.ready_timeout,
        stop_grace=s.stop_grace,
        cwd=pytestconfig.rootpath,
        log_patterns=state.log_patterns,
        state_root=tmp_path_factory.mktemp("replyrace"),
        progress=terminal_writer(pytestconfig),
    )
    state.owned.append(pool)
    try:
        yield pool
    finally:
        pool.stop_all()


@pytest.fixture(scope="session")
def gateway(
    replyrace_gateway_factory: GatewayPool, replyrace_settings: Settings, pytestconfig: pytest.Config
) -> Gateway:
    """The gateway under test: launched from the configured command or attached by URL."""
    if replyrace_settings.gateway_url:
        return replyrace_gateway_factory.attach(replyrace_settings.gateway_url)
    if replyrace_settings.gateway == "openclaw":
        if not replyrace_settings.openclaw:
            pytest.fail(
                "replyrace: --replyrace-gateway openclaw needs --replyrace-openclaw PATH (env REPLYRACE_OPENCLAW, "
                "ini replyrace_openclaw): the installed openclaw package or its openclaw.mjs",
                pytrace=False,
            )
        try:
            profile = OpenClawProfile(
                Path(replyrace_settings.openclaw),
                node=replyrace_settings.node,
                token=replyrace_settings.token,
                http=replyrace_settings.openclaw_http,
                api=replyrace_settings.openclaw_api,
                tools=replyrace_settings.openclaw_tools,
                extra_config=dict(replyrace_settings.openclaw_config or {}),
            )
        except ValueError as exc:
            pytest.fail(f"replyrace: {exc}", pytrace=False)
        return replyrace_gateway_factory.launch_openclaw(profile)
    if replyrace_settings.gateway_cmd:
        files = gateway_templates(replyrace_settings, pytestconfig.rootpath)
        _warn_without_port(replyrace_settings, files)
        return replyrace_gateway_factory.launch(replyrace_settings.gateway_cmd, files=files)
    how = (
        "set replyrace_gateway_cmd (ini), REPLYRACE_GATEWAY_CMD or --replyrace-gateway-cmd, or "
        "--replyrace-gateway-url to attach to a running one"
    )
    if replyrace_settings.require_gateway:
        pytest.fail(
            f"replyrace: no gateway configured, and a gateway is required "
            f"({replyrace_settings.source('require_gateway')}); {how} (a misspelt ini key is not read)",
            pytrace=False,
        )
    pytest.skip(f"replyrace: no gateway configured; {how}")


class GatewayPortWarning(pytest.PytestWarning):
    """The gateway command has no ``{port}``: the gateway must read ``REPLYRACE_GATEWAY_PORT``."""


PORT_WARNING_FILTER = "ignore:the gateway command has no"


def _warn_without_port(settings: Settings, files: Sequence[tuple[str, Path]]) -> None:
    command = settings.gateway_cmd
    if command is None or "port" in placeholders(command):
        return
    if any("{port}" in template.read_text(encoding="utf-8") for _, template in files):
        return  # the port reaches the gateway through its config file
    # Silenced by its message, not its class: a filter naming our class would import this package before
    # pytest can mark it for assertion rewriting (PytestAssertRewriteWarning, an error under -W error).
    warnings.warn(
        GatewayPortWarning(
            f"the gateway command has no {{port}} (replyrace: {command!r}, {settings.source('gateway_cmd')}); the "
            "gateway must then listen on the port in the environment variable REPLYRACE_GATEWAY_PORT, or readiness "
            "waits on a port nothing listens on. Add --port {port} (or your gateway's flag, or {port} in a gateway "
            "file template), or, if it does read "
            f"REPLYRACE_GATEWAY_PORT, silence this with the ini line: filterwarnings = {PORT_WARNING_FILTER}"
        ),
        stacklevel=2,
    )


def _build_transport(s: Settings, url: str, api: ApiSpec | None = None) -> Transport:
    """The transport ``s.transport`` names for the gateway at ``url`` (``api``: the declared transport's file)."""
    if s.transport == "http":
        return HttpTransport(url, path=s.http_path)
    if s.transport == "openclaw":
        return OpenClawTransport(url, token=s.token, agent_wait=s.agent_wait, agent_wait_timeout=s.call_timeout)
    # The default token belongs to the openclaw profile: sent only when chosen, or when that profile runs.
    token = transport_token(s)
    if s.transport == "declared":
        if api is None:
            raise InvalidArgument("transport declared: no API file was read (--replyrace-api)")
        return DeclaredTransport(url, api=api, token=token, model=api_model(s, api))
    common: dict[str, Any] = dict(
        path=s.http_path,
        headers=dict(s.headers),
        model=s.model,
        stream=s.stream,
        session_header=s.session_header,
        session_field=s.session_field,
        token=token,
    )
    if s.transport == "openai-chat":
        return OpenAIChatTransport(url, **common)
    if s.transport == "openai-responses":
        return OpenAIResponsesTransport(url, chain=s.responses_chain, **common)
    raise InvalidArgument(f"transport {s.transport!r} is not known; expected one of {', '.join(TRANSPORTS)}")


@pytest.fixture
def replyrace_transport_factory(
    gateway: Gateway, replyrace_settings: Settings, pytestconfig: pytest.Config
) -> Callable[[], Transport]:
    """Makes one transport per run; override it to speak your gateway's own API."""
    api = _state(pytestconfig).api
    return lambda: _build_transport(replyrace_settings, gateway.url, api)


@pytest.fixture
def replyrace_gateway_watch(
    request: pytest.FixtureRequest,
    gateway: Gateway,
    replyrace_settings: Settings,
    replyrace_gateway_factory: GatewayPool,
) -> Iterator[Gateway]:
    """The gateway, checked before the test (restarted if it died or hung, per ``--replyrace-restart``)
    and after it (a gateway that died during the test errors that test, with its exit and log tail)."""
    launched = gateway if isinstance(gateway, LaunchedGateway) else None
    node = request.node
    if launched is not None:
        problem = launched.health()
        if problem is not None:
            if replyrace_settings.restart == "never":
                pytest.fail(
                    f"replyrace: the gateway is unusable: {problem}; not restarted, since --replyrace-restart "
                    f"is never ({replyrace_settings.source('restart')})\n{launched.describe_log()}",
                    pytrace=False,
                )
            replyrace_gateway_factory.restart(launched)  # once: a restart that failed is not tried again
            node.stash.setdefault(_PENDING_RESTARTS, []).append(
                {"node_id": node.nodeid, "reason": problem, "restarts": launched.restarts}
            )
    yield gateway
    if launched is not None and not launched.is_running():
        pytest.fail(
            f"replyrace: the gateway died during this test: {launched.health()}; the next test gets a "
            f"fresh one (--replyrace-restart {replyrace_settings.restart})\n{launched.describe_log()}",
            pytrace=False,
        )


_NOT_REPLAYED = ("seed", "force_calls", "report", "html")
"""Set by the replay line itself, or outputs a replay does not need."""


def _replay_command(config: pytest.Config, node_id: str, seed: int, force_calls: int | None = None) -> str:
    """A command that reruns ``node_id`` as this run did: the seed and every option given on the command line
    (ini and environment stay where they are), and the forced call count if any."""
    settings = _state(config).settings
    args = ["pytest", node_id, "--replyrace-seed", str(seed)]
    for option in OPTIONS:
        if option.name not in _NOT_REPLAYED and settings.source(option.name) == option.flag:
            args.append(f"{option.flag}={config.getoption(option.dest)}")
    args += [f"--replyrace-log-pattern={p}" for p in config.getoption("replyrace_log_pattern") or []]
    calls = force_calls if force_calls is not None else settings.force_calls
    if calls is not None:
        args += ["--replyrace-force-calls", str(calls)]
    return shlex.join(args)


@pytest.fixture
def sequential_sender(
    request: pytest.FixtureRequest,
    replyrace_gateway_watch: Gateway,
    fake_provider: FakeProvider,
    replyrace_rtt: float,
    replyrace_gap: float | None,
    replyrace_transport_factory: Callable[[], Transport],
) -> SequentialSender:
    """``.run(calls=None, gap=None, session_key=None) -> RaceResult``; ``await .arun(...)`` in async tests."""
    gateway = replyrace_gateway_watch
    state = _state(request.config)
    s = state.settings
    overrides: dict[str, Any] = {}
    mark = request.node.get_closest_marker("replyrace")
    if mark is not None:
        overrides = parse_replyrace(mark.args, mark.kwargs, request.node.nodeid, s.send_at)
    send_at = overrides.get("send_at", s.send_at)
    gap = replyrace_gap if replyrace_gap is not None else overrides.get("gap", s.gap)
    where = f"replyrace: {request.node.nodeid}: send_at={send_at!r}"
    problem = None
    if gap < 0 and send_at != "served":
        problem = f"{where}: a negative gap ({format_duration(gap)}) needs send_at 'served'"
    elif gap < 0 and -gap > replyrace_rtt:
        rtt = format_duration(replyrace_rtt)
        problem = (
            f"{where}: gap {format_duration(gap)} is more than the provider RTT ({rtt}) before the previous "
            f"call is served; expected a gap from -{rtt}"
        )
    elif send_at in ("text", "first"):
        probe = replyrace_transport_factory()  # made, not opened: only its kind is looked at
        if not reports_events(probe):
            problem = (
                f"{where} waits for an event of the previous answer, and the transport "
                f"{getattr(probe, 'name', type(probe).__name__)!r} ({type(probe).__name__}) reports none; use "
                "send_at end, request or served with it, or see docs/09-when-clients-send.md for a transport "
                "that reports events"
            )
    if problem is not None:
        pytest.fail(problem, pytrace=False)  # a configuration error of this test, said without a traceback
    settings = DriverSettings(
        calls=s.force_calls or overrides.get("calls", s.calls),
        gap=gap,
        timeout=overrides.get("call_timeout", s.call_timeout),
        settle=s.settle,
        pause=overrides.get("pause", s.pause),
        history=overrides.get("history", s.history),
        send_at=send_at,
        busy_policy=overrides.get("busy_policy", s.busy_policy),
        preamble=overrides.get("preamble", s.preamble),
    )
    search_mark = request.node.get_closest_marker("replyrace_search")
    search_spec = (
        parse_search_marker(search_mark.args, search_mark.kwargs, request.node.nodeid)
        if search_mark is not None
        else s.search
    )
    pause_pgid = getattr(gateway, "pid", None)
    if settings.pause is not None and pause_pgid is None:
        pytest.fail(
            "replyrace: the pause nemesis needs a launched gateway; an attached one has no process group "
            "this run started",
            pytrace=False,
        )
    node = request.node

    def record(result: RaceResult) -> None:
        node.stash.setdefault(_PENDING, []).append(result.to_dict())
        node.user_properties.extend(
            [
                ("replyrace_rtt", result.rtt),
                ("replyrace_gap", result.gap),
                ("replyrace_pattern", result.pattern),
                ("replyrace_verdict", result.verdict),
            ]
        )

    def record_window(window: RaceWindow) -> None:
        node.stash.setdefault(_PENDING_WINDOWS, []).append({"node_id": node.nodeid, **window.to_dict()})
        node.user_properties.append(("replyrace_window", window.statement()))

    return SequentialSender(
        replyrace_transport_factory,
        provider=fake_provider,
        gateway=gateway,
        settings=settings,
        seed=state.seed,
        rtt=replyrace_rtt,
        node_id=node.nodeid,
        replay=_replay_command(request.config, node.nodeid, state.seed),
        extra={
            "transport": s.transport,
            "stream": s.stream,
            "jitter": fake_provider.rtt.jitter,
            **({"api": s.api} if s.transport == "declared" else {}),
        },
        on_result=record,
        on_window=record_window,
        session_key=overrides.get("session_key"),
        pause_pgid=pause_pgid,
        shrink_budget=s.shrink,
        parallel=s.parallel,
        search_spec=search_spec,
        # One line per probe of a grid, search or shrink on the terminal; -q keeps it quiet.
        progress=terminal_writer(request.config, quiet=True),
        replay_calls=lambda calls: _replay_command(request.config, node.nodeid, state.seed, force_calls=calls),
    )
