"""What the suite's gateway scripts share: a client session to the fake provider for the app's life, and
serving on loopback after the ready line the launcher waits for."""

from __future__ import annotations

import argparse
import contextlib
import json
import os

import aiohttp
from aiohttp import web


def gateway_parser(doc: str | None) -> argparse.ArgumentParser:
    """The arguments every gateway script takes: ``--port`` and ``--provider-url`` (from the launcher's env)."""
    parser = argparse.ArgumentParser(description=doc)
    parser.add_argument("--port", type=int, default=int(os.environ.get("REPLYRACE_GATEWAY_PORT", "0")))
    parser.add_argument("--provider-url", default=os.environ.get("REPLYRACE_PROVIDER_URL", ""))
    return parser


async def readyz(request: web.Request) -> web.Response:
    return web.json_response({"ready": True})


async def end_stream(response: web.StreamResponse) -> web.StreamResponse:
    """Close a streamed answer; a client already gone is fine."""
    with contextlib.suppress(ConnectionError):
        await response.write_eof()
    return response


class ProviderSession:
    """``self.http``: opened when the app starts, closed when it stops."""

    http: aiohttp.ClientSession | None = None

    async def on_startup(self, app: web.Application) -> None:
        self.http = aiohttp.ClientSession(trust_env=False)

    async def on_cleanup(self, app: web.Application) -> None:
        if self.http is not None:
            await self.http.close()


class ChatSession(ProviderSession):
    """A gateway that asks the fake provider's chat completions with ``self.args.provider_url``."""

    args: argparse.Namespace

    async def ask_provider(self, history: list[dict[str, str]]) -> str:
        """One non-streamed chat completion over ``history``; its answer text."""
        assert self.http is not None
        body = {"model": "fake-model", "stream": False, "messages": history}
        async with self.http.post(f"{self.args.provider_url}/chat/completions", json=body) as response:
            text = await response.text()
            if response.status != 200:
                raise RuntimeError(f"HTTP {response.status}: {text[:200]}")
        return str(json.loads(text)["choices"][0]["message"]["content"])


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
