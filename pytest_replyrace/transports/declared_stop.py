"""The ``declared`` transport's stop call (``[stop]`` in its API file): one HTTP call, and what its answer said.

The answer is read as :class:`~.base.StopAnswer` says: a 2xx is an answer (its ``aborted`` selector, read on
its JSON, says whether a run was stopped; without the selector it says neither); a failed exchange or another
status is the stop's error, quoted."""

from __future__ import annotations

import json
import time
from typing import Any

import aiohttp

from .api_file import Selector, aborted_of
from .base import StopAnswer, describe_exception, excerpt, read_capped

__all__ = ["stop_request"]


async def stop_request(
    http: aiohttp.ClientSession,
    request: tuple[str, str, dict[str, str], dict[str, Any]],
    aborted: tuple[Selector, ...],
    label: str,
    limit: int,
) -> StopAnswer:
    """Send the stop call ``request`` (method, url, headers, body keywords) and read its answer."""
    method, url, headers, body = request
    what = f"the stop call {method} {url}"
    into = bytearray()
    try:
        async with http.request(method, url, headers=headers, allow_redirects=False, **body) as response:
            status = response.status
            raw = await read_capped(response, limit + 1, into)
    except (aiohttp.ClientError, ConnectionError, OSError) as exc:
        return StopAnswer(
            time.monotonic(), error=f"{what} failed: {describe_exception(exc)}", detail=excerpt(bytes(into))
        )
    at = time.monotonic()
    detail = f"HTTP {status}: {excerpt(raw[:limit], 120)}"
    if not 200 <= status < 300:
        return StopAnswer(at, error=f"{what} answered HTTP {status}: {excerpt(raw[:limit])}", detail=detail)
    if not aborted:
        return StopAnswer(at, detail=detail)
    try:
        document = json.loads(raw)
    except ValueError:
        return StopAnswer(
            at,
            error=f"{what}: the answer is not JSON ([stop] aborted in {label} reads JSON): {excerpt(raw[:limit])}",
            detail=detail,
        )
    return StopAnswer(at, aborted=aborted_of(aborted, document), detail=detail)
