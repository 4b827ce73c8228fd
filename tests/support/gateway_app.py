"""What the suite's gateway scripts share: a client session to the fake provider for the app's life, and
serving on loopback after the ready line the launcher waits for."""

from __future__ import annotations

import aiohttp
from aiohttp import web


class ProviderSession:
    """``self.http``: opened when the app starts, closed when it stops."""

    http: aiohttp.ClientSession | None = None

    async def on_startup(self, app: web.Application) -> None:
        self.http = aiohttp.ClientSession(trust_env=False)

    async def on_cleanup(self, app: web.Application) -> None:
        if self.http is not None:
            await self.http.close()


def serve(
    app: web.Application, gateway: ProviderSession, port: int, ready_line: str, handle_signals: bool = True
) -> None:
    """Run ``app`` on 127.0.0.1:``port`` with ``gateway``'s session, printing ``ready_line`` first."""
    app.on_startup.append(gateway.on_startup)
    app.on_cleanup.append(gateway.on_cleanup)
    print(ready_line, flush=True)
    web.run_app(
        app,
        host="127.0.0.1",
        port=port,
        print=None,
        access_log=None,
        handle_signals=handle_signals,
        shutdown_timeout=1.0,
    )
