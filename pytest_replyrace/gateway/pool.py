"""A pool of gateways for one test session: launch once per command, stop LIFO.

Session-scoped fixtures share one pool, so tests that point at the same
command reuse one process, and a conftest can launch several variants (one per
mode, say) that all stop in reverse order at the end.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from .attached import AttachedGateway
from .launcher import Gateway, GatewayStartError, LaunchedGateway, check_waits
from .log import DEFAULT_LOG_PATTERNS
from .openclaw import OpenClawProfile, json_log_line, warm_up
from .readiness import ReadyCheck

__all__ = ["GatewayPool"]


class GatewayPool:
    def __init__(
        self,
        provider_url: str,
        *,
        ready: ReadyCheck | str = "http:/readyz",
        ready_timeout: float = 60.0,
        stop_grace: float = 5.0,
        cwd: str | Path | None = None,
        log_patterns: Sequence[str] = DEFAULT_LOG_PATTERNS,
        state_root: str | Path | None = None,
        progress: Callable[[str], None] | None = None,
    ) -> None:
        """``progress`` gets a line while a slow gateway start is waited for."""
        self.provider_url = provider_url
        self.progress = progress
        self.ready = ready
        self.ready_timeout, self.stop_grace = check_waits(ready_timeout, stop_grace)  # before any launch
        self.cwd = cwd
        self.log_patterns = tuple(log_patterns)
        self.state_root = Path(state_root) if state_root is not None else None
        self._by_key: dict[tuple[Any, ...], Gateway] = {}
        self._failed: dict[tuple[Any, ...], GatewayStartError] = {}
        self._failed_restarts: dict[int, GatewayStartError] = {}
        self._order: list[Gateway] = []

    @property
    def gateways(self) -> list[Gateway]:
        return list(self._order)

    def launch(
        self,
        command: str | Sequence[str],
        *,
        ready: ReadyCheck | str | None = None,
        env: dict[str, str] | None = None,
        cwd: str | Path | None = None,
        files: Sequence[tuple[str, Path]] = (),
    ) -> Gateway:
        """The running gateway for ``command``, started on first use; ``files`` are (dest, template) config
        files written into its state dir before every start."""
        key = (
            "launch",
            command if isinstance(command, str) else tuple(command),
            str(ready),
            tuple(sorted((env or {}).items())),
            str(cwd),
            tuple((d, str(t)) for d, t in files),
        )
        existing = self._known(key)
        if existing is not None:
            return existing
        state_dir = self._new_state_dir()
        gateway = LaunchedGateway(
            command,
            provider_url=self.provider_url,
            ready=ready if ready is not None else self.ready,
            ready_timeout=self.ready_timeout,
            state_dir=state_dir,
            env=env,
            log_patterns=self.log_patterns,
            stop_grace=self.stop_grace,
            cwd=cwd if cwd is not None else self.cwd,
            progress=self.progress,
            files=files,
        )
        return self._start(key, gateway)

    def launch_openclaw(self, profile: OpenClawProfile, *, warm_up_timeout: float = 120.0) -> Gateway:
        """A real OpenClaw gateway wired to the fake provider, warmed up with one turn."""
        key = (
            "openclaw",
            str(profile.openclaw),
            profile.node,
            profile.token,
            profile.api,
            profile.http,
            repr(sorted(profile.extra_config.items())),
        )
        existing = self._known(key)
        if existing is not None:
            return existing
        gateway = LaunchedGateway(
            profile.command(),
            provider_url=self.provider_url,
            ready=ReadyCheck("http", "/readyz"),
            ready_timeout=self.ready_timeout,
            state_dir=self._new_state_dir(),  # None: the gateway makes (and removes) a temp dir of its own
            log_patterns=self.log_patterns,
            stop_grace=self.stop_grace,
            progress=self.progress,
        )
        state_dir = gateway.prepare().state_dir  # the config names the port and the state dir: known before start
        gateway.extra_env.update(profile.env(state_dir))
        gateway.extra_logs = [(path, json_log_line) for path in profile.log_files(state_dir)]
        profile.write_config(state_dir, gateway.port, self.provider_url)

        def warm(started: LaunchedGateway) -> None:
            # After every start, restarts included: the first turn of a fresh OpenClaw is slow.
            try:
                asyncio.run(warm_up(started.url, profile.token, warm_up_timeout))
            except Exception as exc:
                raise GatewayStartError(
                    f"OpenClaw gateway {started.url} failed its warm-up turn: {exc}\n{started.describe_log()}"
                ) from exc

        gateway.on_ready = warm
        return self._start(key, gateway)

    def _new_state_dir(self) -> Path | None:
        if self.state_root is None:
            return None
        state_dir = self.state_root / f"gateway-{len(self._order) + 1}"
        state_dir.mkdir(parents=True, exist_ok=True)
        return state_dir

    def attach(self, url: str, *, ready: ReadyCheck | str | None = None, log_path: str | Path | None = None) -> Gateway:
        key = ("attach", url, str(ready), str(log_path))
        existing = self._known(key)
        if existing is not None:
            return existing
        gateway = AttachedGateway(
            url,
            ready=ready if ready is not None else self.ready,
            ready_timeout=self.ready_timeout,
            log_path=log_path,
            log_patterns=self.log_patterns,
            progress=self.progress,
        )
        return self._start(key, gateway)

    def _known(self, key: tuple[Any, ...]) -> Gateway | None:
        """The running gateway for ``key``; raises at once when the same gateway failed to start before: a
        command that fails the same way for every test is run once, and said once."""
        failed = self._failed.get(key)
        if failed is not None:
            raise _not_again("started", failed)
        return self._by_key.get(key)

    def restart(self, gateway: LaunchedGateway) -> LaunchedGateway:
        """Restart ``gateway`` (it died or hung); one whose restart failed is not restarted again: the same
        error would come after the same wait, test after test."""
        failed = self._failed_restarts.get(id(gateway))
        if failed is not None:
            raise _not_again("restarted", failed)
        try:
            return gateway.restart()
        except GatewayStartError as exc:
            self._failed_restarts[id(gateway)] = exc
            raise

    def _start(self, key: tuple[Any, ...], gateway: Gateway) -> Gateway:
        try:
            gateway.start()
        except GatewayStartError as exc:
            self._failed[key] = exc
            raise
        self._by_key[key] = gateway
        self._order.append(gateway)
        return gateway

    def stop_all(self) -> None:
        """Stop every gateway, last started first; keep going past failures."""
        errors: list[BaseException] = []
        while self._order:
            gateway = self._order.pop()
            try:
                gateway.stop()
            except Exception as exc:
                errors.append(exc)
        self._by_key.clear()
        if errors:
            raise errors[0]


def _not_again(what: str, failed: GatewayStartError) -> GatewayStartError:
    """The error for a gateway not started (or restarted) again because it failed before: one line, the first
    failure kept as ``earlier`` so a report can point at it."""
    first = str(failed).splitlines()[0]
    error = GatewayStartError(f"gateway not {what} again: it failed to start before ({first})")
    error.earlier = failed
    return error
