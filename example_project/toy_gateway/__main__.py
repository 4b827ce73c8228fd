"""``python -m toy_gateway --port P --provider-url URL --mode MODE [knobs]``."""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import os
import signal
import sys

from aiohttp import web

from .gateway import ToyGateway
from .http_api import add_http_routes
from .modes import MODES, mode_named
from .provider_client import PROVIDER_APIS
from .turns import BUSY_POLICIES
from .ws_api import add_ws_route


def _ms(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number of milliseconds") from None
    if value < 0:
        raise argparse.ArgumentTypeError(f"{text!r} must be >= 0 ms")
    return value


def parse_args(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="toy_gateway", description=__doc__)
    parser.add_argument(
        "--port",
        type=int,
        default=os.environ.get("REPLYRACE_GATEWAY_PORT"),
        help="port on 127.0.0.1 (env REPLYRACE_GATEWAY_PORT)",
    )
    parser.add_argument(
        "--provider-url",
        default=os.environ.get("REPLYRACE_PROVIDER_URL"),
        help="OpenAI base URL ending in /v1 (env REPLYRACE_PROVIDER_URL)",
    )
    parser.add_argument("--mode", default="alternating", choices=list(MODES), help="which release family to mimic")
    for knob in ("cleanup", "debounce", "background", "overhead", "queue-ack"):
        parser.add_argument(f"--{knob}-ms", type=_ms, default=None, help=f"override the mode's {knob} (ms)")
    parser.add_argument(
        "--tool-ms",
        type=_ms,
        default=0.0,
        help="how long the clock tool takes (ms; the tool is offered in the OpenAI chat API)",
    )
    parser.add_argument(
        "--admission-wait",
        choices=["on", "off"],
        default=None,
        help="override the mode's wait-for-idle admission (off in `fixed` re-opens the race)",
    )
    parser.add_argument(
        "--on-provider-error",
        choices=["report", "canned"],
        default="report",
        help="report a failed model run as an error (honest), or answer canned text (papers over it)",
    )
    parser.add_argument("--token", default="replyrace-token", help="WebSocket auth token")
    parser.add_argument("--model", default="fake-model")
    parser.add_argument(
        "--provider-api",
        choices=PROVIDER_APIS,
        default="openai-completions",
        help="the provider API to call the model in (default openai-completions)",
    )
    parser.add_argument(
        "--busy",
        choices=BUSY_POLICIES,
        default=None,
        help="run each message as a turn with this policy for a message that arrives while a turn "
        "runs: queue (wait), reject (refuse as busy), steer (fold it into the running turn) or "
        "interrupt (abort the running turn); default: the mode's own machinery",
    )
    args = parser.parse_args(argv)
    if args.port is None or args.provider_url is None:
        parser.error("--port and --provider-url are required (or REPLYRACE_GATEWAY_PORT / REPLYRACE_PROVIDER_URL)")
    return args


async def serve(args: argparse.Namespace) -> None:
    mode = mode_named(args.mode).with_knobs(
        cleanup=args.cleanup_ms,
        debounce=args.debounce_ms,
        background=args.background_ms,
        overhead=args.overhead_ms,
        queue_ack=args.queue_ack_ms,
    )
    if args.admission_wait is not None:
        mode = dataclasses.replace(mode, admission_waits=args.admission_wait == "on")
    if args.busy is not None:
        mode = dataclasses.replace(mode, busy=args.busy)
    gateway = ToyGateway(
        mode,
        args.provider_url,
        model=args.model,
        log=lambda line: print(line, flush=True),
        on_provider_error=args.on_provider_error,
        provider_api=args.provider_api,
        tool_ms=args.tool_ms,
    )
    await gateway.start()
    ready = {"ready": False}
    app = web.Application()
    add_http_routes(app, gateway, ready)
    add_ws_route(app, gateway, args.token)
    runner = web.AppRunner(app, handle_signals=False, access_log=None, shutdown_timeout=1.0)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", int(args.port)).start()
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    ready["ready"] = True
    engine = f", busy policy {mode.busy}" if mode.busy is not None else ""
    print(
        f"[gateway] ready (toy, mode {mode.name}: cleanup {mode.cleanup:g} ms, debounce {mode.debounce:g} ms, "
        f"background {mode.background:g} ms{engine}) on 127.0.0.1:{args.port}",
        flush=True,
    )
    await stop.wait()
    print("[shutdown] stopping", flush=True)
    await gateway.stop()
    await runner.cleanup()
    print("[shutdown] completed cleanly", flush=True)


def main(argv: list[str] | None = None) -> int:
    asyncio.run(serve(parse_args(sys.argv[1:] if argv is None else argv)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
