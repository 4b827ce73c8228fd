"""pytest hooks and fixtures; everything else lives in the library modules."""

from __future__ import annotations

import contextlib
import os
import re
import sys
import warnings
import zlib
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from .errors import RaceFailure
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
from .per_test import run_spec_of, search_spec
from .replay import SEED_CACHE_KEY, replay_command, resolve_seed
from .settings import (
    OPTIONS,
    Settings,
    SettingsError,
    api_model,
    load_api,
    resolve,
    stop_header,
    transport_token,
)
from .setup_failures import SetupFailures
from .templates import gateway_templates, warn_without_port
from .transports.select import TransportChoice, acp_command
from .version import __version__
from .xfail_record import XfailRecord

if TYPE_CHECKING:  # the heavy parts (aiohttp, websockets, the driver) load when a fixture first needs them
    from .driver import SequentialSender
    from .gateway.launcher import Gateway
    from .gateway.pool import GatewayPool
    from .provider.server import FakeProvider
    from .transports.api_file import ApiSpec
    from .transports.base import Transport
    from .verdict import RaceResult
    from .window import RaceWindow


@dataclass(eq=False)
class _RunState:
    settings: Settings
    seed: int
    seed_note: str
    log_patterns: tuple[str, ...]
    """The extra log patterns given (ini and command line), checked; the defaults are added where a gateway starts."""
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
    seed, note = resolve_seed(config, settings.seed)
    extra = list(config.getini("replyrace_log_patterns")) + list(config.getoption("replyrace_log_pattern") or [])
    patterns = _check_patterns(extra)  # the defaults (gateway.log) join them when a gateway starts
    state = _RunState(settings=settings, seed=seed, seed_note=note, log_patterns=patterns, api=api)
    config.stash[_STATE] = state
    config.pluginmanager.register(state, "replyrace-state")
    cache = getattr(config, "cache", None)
    if cache is not None and getattr(config, "workerinput", None) is None:
        cache.set(SEED_CACHE_KEY, seed)
    if config.pluginmanager.hasplugin("xdist"):
        config.pluginmanager.register(_XdistHooks(seed), "replyrace-xdist")


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
        f"replyrace: send-at={s.describe('send_at')} busy-policy={s.busy_policy}"
        + (f" preamble={s.describe('preamble')}" if s.preamble else "")
        + (f" {stop_header(s)}" if s.stop_at != "none" else ""),
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
    settings = _state(metafunc.config).settings
    send_at = settings.send_at
    if mark is not None:
        try:
            send_at = parse_replyrace(mark.args, mark.kwargs, where, send_at, settings.stop_at).get("send_at", send_at)
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
def pytest_runtest_call(item: pytest.Item) -> Any:
    """Exploring after a failed race assertion is a step of its own, after the test (sync or async) returned:
    the sender shrinks the failure and searches its window, and the failure's message gains what they found."""
    try:
        return (yield)
    except RaceFailure as failure:
        sender = getattr(item, "funcargs", {}).get("sequential_sender")
        if sender is not None:
            from .driver import SequentialSender

            if isinstance(sender, SequentialSender):
                sender.explain(failure)
        raise


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
    # A gateway stopped in this phase (session teardown, say) had to end these; none if none was ever started.
    processes = sys.modules.get("pytest_replyrace.gateway.processes")
    ended = processes.ended_processes() if processes is not None else []
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
    from .reports.summary import summary_lines

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
    from .reports.summary import NOT_A_RACE_ASSERTION

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
            if hasattr(owned, "stop_all"):  # a GatewayPool
                owned.stop_all()
            else:
                owned.stop()
    if hasattr(session.config, "workerinput"):
        return  # xdist workers hand their results to the controller, which writes the files
    settings = {k: state.settings.describe(k) for k in state.settings.values}
    if state.settings.report:
        from .reports.summary import write_json_report

        write_json_report(
            state.settings.report,
            state.results,
            seed=state.seed,
            settings=settings,
            windows=state.windows,
            restarts=state.restarts,
        )
    if state.settings.html:
        from .reports.html import write_html_report

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
    from .provider.server import FakeProvider

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
    from .provider.faults import FaultPlan

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
    from .gateway.log import DEFAULT_LOG_PATTERNS
    from .gateway.pool import GatewayPool

    state = _state(pytestconfig)
    s = state.settings
    pool = GatewayPool(
        replyrace_provider_server.base_url,
        ready=s.ready,
        ready_timeout=s.ready_timeout,
        stop_grace=s.stop_grace,
        cwd=pytestconfig.rootpath,
        log_patterns=(*DEFAULT_LOG_PATTERNS, *state.log_patterns),
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
    from .gateway.openclaw import OpenClawProfile

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
        if replyrace_settings.transport != "acp":  # an ACP agent has no port: the bridge in front of it has
            warn_without_port(replyrace_settings, files)
        command = replyrace_settings.gateway_cmd
        command = acp_command(command) if replyrace_settings.transport == "acp" else command  # the agent's pipes
        return replyrace_gateway_factory.launch(command, files=files)
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


def transport_choice(s: Settings, api: ApiSpec | None = None) -> TransportChoice:
    """The transport ``s.transport`` names, with what the settings give it (``api``: the declared transport's
    file). The default token belongs to the openclaw profile: the HTTP transports send it only when chosen, or
    when that profile runs."""
    return TransportChoice(
        s.transport,
        path=s.http_path,
        token=s.token if s.transport == "openclaw" else transport_token(s),
        agent_wait=s.agent_wait,
        agent_wait_timeout=s.call_timeout,
        headers=dict(s.headers),
        model=s.model,
        stream=s.stream,
        session_header=s.session_header,
        session_field=s.session_field,
        responses_chain=s.responses_chain,
        acp_permissions=s.acp_permissions,
        api=api,
        api_model=api_model(s, api) if api is not None else None,
        queue_mode=s.openclaw_queue_mode,
    )


@pytest.fixture
def replyrace_transport_factory(
    gateway: Gateway, replyrace_settings: Settings, pytestconfig: pytest.Config
) -> Callable[[], Transport]:
    """Makes one transport per run; override it to speak your gateway's own API."""
    api = _state(pytestconfig).api
    choice = transport_choice(replyrace_settings, api)
    return lambda: choice.make(gateway.url)


@pytest.fixture
def replyrace_gateway_watch(
    request: pytest.FixtureRequest,
    gateway: Gateway,
    replyrace_settings: Settings,
    replyrace_gateway_factory: GatewayPool,
) -> Iterator[Gateway]:
    """The gateway, checked before the test (restarted if it died or hung, per ``--replyrace-restart``)
    and after it (a gateway that died during the test errors that test, with its exit and log tail)."""
    from .gateway.launcher import LaunchedGateway

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


def _recorders(node: pytest.Item) -> tuple[Callable[[RaceResult], None], Callable[[RaceWindow], None]]:
    """What the sender hands each run's result and each window to: the test's stash, read into its report."""

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

    return record, record_window


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
    from .driver import SequentialSender

    gateway = replyrace_gateway_watch
    state = _state(request.config)
    s = state.settings
    node = request.node
    settings, session_key = run_spec_of(node, s, replyrace_gap, replyrace_rtt, replyrace_transport_factory)
    pause_pgid = getattr(gateway, "pid", None)
    if settings.pause is not None and pause_pgid is None:
        pytest.fail(
            "replyrace: the pause nemesis needs a launched gateway; an attached one has no process group "
            "this run started",
            pytrace=False,
        )

    record, record_window = _recorders(node)
    return SequentialSender(
        replyrace_transport_factory,
        provider=fake_provider,
        gateway=gateway,
        settings=settings,
        seed=state.seed,
        rtt=replyrace_rtt,
        node_id=node.nodeid,
        replay=replay_command(request.config, s, node.nodeid, state.seed),
        extra={
            "transport": s.transport,
            "stream": s.stream,
            "jitter": fake_provider.rtt.jitter,
            **({"api": s.api} if s.transport == "declared" else {}),
        },
        on_result=record,
        on_window=record_window,
        session_key=session_key,
        pause_pgid=pause_pgid,
        shrink_budget=s.shrink,
        parallel=s.parallel,
        search_spec=search_spec(node, s),
        # One line per probe of a grid, search or shrink on the terminal; -q keeps it quiet.
        progress=terminal_writer(request.config, quiet=True),
        replay_calls=lambda calls: replay_command(request.config, s, node.nodeid, state.seed, force_calls=calls),
    )
