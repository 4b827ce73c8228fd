"""``--replyrace-transport declared``: any HTTP gateway, spoken as its API file declares.

Per run an optional session call (``[session]``: its answer gives ``{session}``), then per message one call
(``[send]``, a JSON or form body) whose answer is one JSON body or an SSE or NDJSON stream, read by the
``[reply]`` selectors (see :mod:`.api_file`). The first event, the text-complete event and errors inside a 200
stream are reported while the answer still arrives, so the driver can send at ``first`` or ``text``. The reply
text is fixed at the text-complete event: text after it is kept as late text, by the tokens it carries. A busy
refusal (``[reply] busy``) is the call's answer; a status that refuses the request itself (401, 404, ...) is a
transport error saying what to check; any other error status is the call's error text.
"""

from __future__ import annotations

import asyncio
import json
import re
import secrets
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

import aiohttp

from ..errors import InvalidArgument
from ..tokens import find_tokens
from .api_file import (
    MISSING,
    ApiSpec,
    Event,
    RequestSpec,
    Selector,
    fill,
    filled,
    first_pick,
    form_pairs,
    value_text,
)
from .base import CallEvents, HttpClient, TransportError, TransportReply, describe_exception, excerpt, read_capped

__all__ = ["REFUSED", "DeclaredTransport"]

REFUSED = frozenset({400, 401, 403, 404, 405, 413, 415, 422})
"""Statuses that refuse the request itself (auth, path, body) unless ``[reply] busy`` claims them."""
ACCEPT = {"json": "application/json", "sse": "text/event-stream", "ndjson": "application/x-ndjson"}


@dataclass
class _Answer:
    """What one call's stream has said so far."""

    text: str = ""
    reply: str | None = None
    """The reply text, fixed at the text-complete event (None until then)."""
    late: list[str] = field(default_factory=list)
    error: str | None = None
    run_id: str | None = None
    events: int = 0
    text_events: int = 0
    """Events a ``text`` selector matched (none: the selector never matched, see :meth:`DeclaredTransport.no_text`)."""
    ended: bool = False


@dataclass
class DeclaredTransport(HttpClient):
    """Speaks the HTTP API an :class:`~.api_file.ApiSpec` declares."""

    api: ApiSpec | None = None
    token: str | None = None
    model: str = "replyrace"
    """The value of ``{model}`` (the file's ``[vars] model`` unless --replyrace-model was given)."""
    name: str = "declared"

    reports_events = True

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.api is None:
            raise InvalidArgument(
                "DeclaredTransport needs api=ApiSpec (read with pytest_replyrace.transports.api_file)"
            )
        self.spec: ApiSpec = self.api
        self._late: dict[str, list[str]] = {}
        self._session_lock = asyncio.Lock()
        self._session_value: Any = MISSING
        self._session_error: TransportError | None = None
        self._fresh = secrets.token_hex(4)

    def late_replies(self) -> dict[str, list[str]]:
        return {token: list(texts) for token, texts in self._late.items()}

    # -- values ----------------------------------------------------------------------------------------------

    def session_key_value(self, session_key: str) -> str:
        """``{session_key}``: the run's session key made URL-safe, fresh for every run (a suffix not from the
        seed: a replay against a long-running gateway must not find the session of an earlier run)."""
        safe = re.sub(r"[^A-Za-z0-9._~-]+", "-", session_key).strip("-") or "session"
        return f"{safe}-{self._fresh}"

    def values(self, session_key: str, **more: Any) -> dict[str, Any]:
        values: dict[str, Any] = {
            **self.spec.vars,
            "model": self.model,
            "token": self.token or "",
            "session_key": self.session_key_value(session_key),
        }
        values.update(more)
        return values

    def request_of(self, spec: RequestSpec, values: dict[str, Any]) -> tuple[str, str, dict[str, str], dict[str, Any]]:
        """(method, url, headers, the body as aiohttp keywords) of one call."""
        url = self.base_url.rstrip("/") + fill(spec.path, values, path=True)
        headers = {"Accept": ACCEPT[self.spec.reply.format] if spec.session is None else "application/json"}
        if self.token:
            headers["Authorization"] = f"Bearer {self.token}"
        for name, template in spec.headers:  # the file's own headers win, whatever their case
            for known in [k for k in headers if k.lower() == name.lower()]:
                del headers[known]
            headers[name] = str(fill(template, {k: _header_text(v) for k, v in values.items()}))
        body: dict[str, Any] = {}
        if spec.json is not MISSING:
            body["json"] = fill(spec.json, values)
        elif spec.form is not None:
            try:
                body["data"] = form_pairs(spec.form, values)
            except ValueError as exc:
                raise TransportError(f"{spec.method} {url}: {exc} ({self.spec.label})") from None
        return spec.method, url, headers, body

    # -- the session call ------------------------------------------------------------------------------------

    async def session_of(self, session_key: str) -> Any:
        """``{session}``: the session call's value (made once per run), or the run's session key."""
        session = self.spec.session
        if session is None:
            return session_key
        async with self._session_lock:
            if self._session_value is MISSING and self._session_error is None:
                try:
                    self._session_value = await self._create_session(session, session_key)
                except TransportError as exc:
                    self._session_error = exc  # the run's calls all fail with it: one session per run
        if self._session_error is not None:
            raise TransportError(str(self._session_error))
        return self._session_value

    async def _create_session(self, spec: RequestSpec, session_key: str) -> Any:
        method, url, headers, body = self.request_of(
            spec, self.values(session_key, idempotency_key=secrets.token_hex(16))
        )
        what = f"the session call {method} {url}"
        await self.open()
        assert self._session is not None
        into = bytearray()
        try:
            async with self._session.request(method, url, headers=headers, allow_redirects=False, **body) as response:
                status = response.status
                raw = await read_capped(response, self.max_body_bytes + 1, into)
        except (aiohttp.ClientError, ConnectionError, OSError) as exc:
            raise self._broken(method, url, exc, bytes(into), "the session call ") from exc
        if len(raw) > self.max_body_bytes:
            raise TransportError(f"{what}: answer larger than {self.max_body_bytes} bytes: {excerpt(raw)}")
        if not 200 <= status < 300:
            raise TransportError(f"{what} answered HTTP {status}: {excerpt(raw)}")
        try:
            document = json.loads(raw)
        except ValueError:
            raise TransportError(f"{what}: the answer is not JSON: {excerpt(raw)}") from None
        assert spec.session is not None
        value = spec.session.resolve(document)
        if value is MISSING or value is None or value == "":
            raise TransportError(
                f"{what}: the answer has no session at {spec.session.text!r} ([session] session "
                f"in {self.spec.label}): {excerpt(raw)}"
            )
        return value

    # -- one message -----------------------------------------------------------------------------------------

    async def send(
        self, session_key: str, message: str, idempotency_key: str, events: CallEvents | None = None
    ) -> TransportReply:
        events = CallEvents() if events is None else events
        session = await self.session_of(session_key)
        values = self.values(session_key, message=message, idempotency_key=idempotency_key, session=session)
        method, url, headers, body = self.request_of(self.spec.send, values)
        await self.open()
        assert self._session is not None
        into = bytearray()
        try:
            async with self._session.request(method, url, headers=headers, allow_redirects=False, **body) as response:
                status = response.status
                events.partial = self._partial = (status, into)
                if not 200 <= status < 300:
                    raw = await read_capped(response, self.max_body_bytes + 1, into)
                    return self._refusal(method, url, status, raw[: self.max_body_bytes], events)
                if self.spec.reply.format == "json":
                    events.first()
                    raw = await read_capped(response, self.max_body_bytes + 1, into)
                    if len(raw) > self.max_body_bytes:
                        raise self._too_large(method, url, raw)
                    events.text_complete()
                    return self._from_body(method, url, raw, events)
                answer = await self._read_stream(method, url, response, into, events)
        except (aiohttp.ClientError, ConnectionError, OSError) as exc:
            raise self._broken(method, url, exc, bytes(into)) from exc
        return self._finished(method, url, answer, message, bytes(into), events)

    @staticmethod
    def _broken(method: str, url: str, exc: BaseException, into: bytes, what: str = "") -> TransportError:
        """The exchange failed: refused, reset, or an answer that broke off (a cut stream), with what arrived."""
        if not into:
            return TransportError(f"{what}{method} {url} failed: {describe_exception(exc)}")
        return TransportError(
            f"{what}{method} {url}: the answer broke off after {len(into)} bytes "
            f"({describe_exception(exc, 120)}); what arrived: {excerpt(into)}"
        )

    def _too_large(self, method: str, url: str, raw: bytes) -> TransportError:
        return TransportError(f"{method} {url}: answer larger than {self.max_body_bytes} bytes: {excerpt(raw)}")

    def _refusal(self, method: str, url: str, status: int, raw: bytes, events: CallEvents) -> TransportReply:
        """A non-2xx answer: a busy refusal, a refused request (a transport error), or the call's error text;
        its first event, text-complete and end are the instant its body was read."""
        at = time.monotonic()
        events.first(at)
        events.text_complete(at)
        body = raw.decode("utf-8", "replace")
        if self.spec.reply.busy.refuses(status, body):
            return TransportReply(
                run_id=None, reply=None, error=f"HTTP {status}: {excerpt(raw)}", replied_at=at, busy=True
            )
        if status in REFUSED:
            raise TransportError(
                f"{method} {url} answered HTTP {status}: {excerpt(raw)}; the gateway refused the "
                f"request itself, not a turn: check [send] in {self.spec.label} (path, body, "
                "headers), --replyrace-token and --replyrace-model"
            )
        return TransportReply(run_id=None, reply=None, error=f"HTTP {status}: {excerpt(raw)}", replied_at=at)

    def _from_body(self, method: str, url: str, raw: bytes, events: CallEvents) -> TransportReply:
        """A 2xx JSON body: the pointers point into it."""
        try:
            document = json.loads(raw)
        except ValueError:
            raise TransportError(
                f'{method} {url}: the answer is not JSON ([reply] format = "json" in {self.spec.label}): {excerpt(raw)}'
            ) from None
        event = Event(None, raw.decode("utf-8", "replace"), document)
        reply = self.spec.reply
        _, text = first_pick(reply.text, event)
        _, error = first_pick(reply.error, event)
        _, run_id = first_pick(reply.run_id, event)
        error_text = None if error is MISSING else _error_text(error)
        return TransportReply(
            run_id=None if run_id is MISSING else value_text(run_id),
            reply="" if text is MISSING else value_text(text),
            error=error_text,
            replied_at=events.text_at,
            busy=reply.busy.refuses_in_error(error_text),
            no_text=self.no_text(None) if text is MISSING else None,
        )

    # -- a stream --------------------------------------------------------------------------------------------

    async def _lines(
        self, method: str, url: str, response: aiohttp.ClientResponse, into: bytearray
    ) -> AsyncIterator[bytes]:
        pending = b""
        async for chunk in response.content.iter_any():
            into += chunk[: self.max_body_bytes + 1 - len(into)]
            if len(into) > self.max_body_bytes:
                raise self._too_large(method, url, bytes(into))
            *lines, pending = (pending + chunk).split(b"\n")
            for line in lines:
                yield line.removesuffix(b"\r")
        if pending:
            yield pending.removesuffix(b"\r")

    async def _events(
        self, method: str, url: str, response: aiohttp.ClientResponse, into: bytearray
    ) -> AsyncIterator[Event]:
        if self.spec.reply.format == "ndjson":
            async for line in self._lines(method, url, response, into):
                if line.strip():
                    yield _event(None, line.strip())
            return
        name: str | None = None
        data: list[bytes] = []  # SSE: a blank line dispatches the event gathered so far
        async for line in self._lines(method, url, response, into):
            if not line:
                if data:
                    yield _event(name or "message", b"\n".join(data))
                name, data = None, []
                continue
            if line.startswith(b":"):
                continue
            key, _, value = line.partition(b":")
            value = value.removeprefix(b" ")
            if key == b"event":
                name = value.decode("utf-8", "replace")
            elif key == b"data":
                data.append(value)
        if data:  # a last event without its blank line
            yield _event(name or "message", b"\n".join(data))

    async def _read_stream(
        self, method: str, url: str, response: aiohttp.ClientResponse, into: bytearray, events: CallEvents
    ) -> _Answer:
        reply = self.spec.reply
        answer = _Answer()
        async for event in self._events(method, url, response, into):
            answer.events += 1
            at = time.monotonic()
            events.first(at)
            _, error = first_pick(reply.error, event)
            if error is not MISSING:
                text = _error_text(error)
                events.error(text, at)
                answer.error = answer.error if answer.error is not None else text
            selector, value = first_pick(reply.text, event)
            if selector is not None:
                answer.text_events += 1
                self._text(answer, selector, value_text(value))
            if answer.reply is None and self._complete(answer, event):
                events.text_complete(at)
                if reply.end_at_complete:
                    answer.ended = True
            if answer.run_id is None:
                _, run_id = first_pick(reply.run_id, event)
                answer.run_id = None if run_id is MISSING else value_text(run_id)
            if not answer.ended and first_pick(reply.end, event)[0] is not None:
                answer.ended = True
            if answer.ended:
                break
        return answer

    @staticmethod
    def _text(answer: _Answer, selector: Selector, value: str) -> None:
        if answer.reply is not None:  # the text was complete: later text is late text
            if selector.mode == "append":
                answer.late.append(value)
            elif value != answer.reply:
                answer.late[:] = [value]
            return
        answer.text = answer.text + value if selector.mode == "append" else value

    def _complete(self, answer: _Answer, event: Event) -> bool:
        """Is ``event`` the text-complete event? Then the reply is fixed (its ``text`` pointer's value, if any)."""
        for selector in self.spec.reply.complete:
            value = selector.pick(event)
            if value is MISSING or (selector.pointer is not None and not filled(value)):
                continue
            whole = selector.text.resolve(event.document) if selector.text is not None else MISSING
            answer.reply = value_text(whole) if whole is not MISSING and whole is not None else answer.text
            return True
        return False

    def _finished(
        self, method: str, url: str, answer: _Answer, message: str, into: bytes, events: CallEvents
    ) -> TransportReply:
        """The stream ended (its end event, or it closed): the reply, fixed at its text-complete event or here."""
        reply = self.spec.reply
        if answer.events == 0:
            raise TransportError(
                f"{method} {url}: the answer holds no {reply.format.upper()} event "
                f"([reply] format in {self.spec.label}): {excerpt(into)}"
            )
        if answer.reply is None:
            events.text_complete()  # no text-complete event: the end completes the text
            answer.reply = answer.text
        late = "".join(answer.late)
        if late:
            for token in find_tokens(late) or find_tokens(message)[:1] or ["(no token)"]:
                self._late.setdefault(token, []).append(f"[after the text-complete event] {late}")
        return TransportReply(
            run_id=answer.run_id,
            reply=answer.reply,
            error=answer.error,
            replied_at=events.text_at,
            busy=reply.busy.refuses_in_error(answer.error),
            no_text=self.no_text(answer.events) if not answer.reply and not answer.text_events else None,
        )

    def no_text(self, events: int | None) -> str:
        """Why an answer gave no reply text: the ``text`` selector matched none of its ``events`` (None: the JSON
        body, where the pointer found nothing)."""
        where = f"[reply] text in {self.spec.label}"
        if events is None:
            return f"the text pointer ({where}) found nothing in the JSON answer: check it against the answer below"
        return (
            f"the text selector ({where}) matched none of the answer's {events} event{'s' * (events != 1)}: check "
            "its event, when and pointer against the answer below"
        )


def _event(name: str | None, raw: bytes) -> Event:
    data = raw.decode("utf-8", "replace")
    try:
        document: Any = json.loads(data)
    except ValueError:
        document = MISSING
    return Event(name, data, document)


def _error_text(value: Any) -> str:
    return value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)


def _header_text(value: Any) -> Any:
    return value if isinstance(value, str) else json.dumps(value)
