"""``--replyrace-transport declared``: any HTTP gateway, spoken as its API file declares.

Per run an optional session call (``[session]``: its answer gives ``{session}``), then per message one call
(``[send]``, a JSON or form body) whose answer is one JSON body or an SSE or NDJSON stream, read by the
``[reply]`` selectors (see :mod:`.api_file` and :mod:`.declared_stream`). With ``[history]``, ``{history}`` is
the conversation as the client has it (its messages, and the replies it has received). With ``[stop]`` the
transport can stop a call (:mod:`.declared_stop`); ``supports_stop`` says whether it can.

The first event, the text-complete event and errors inside a 200 stream are reported while the answer still
arrives, so the driver can send at ``first`` or ``text``. The reply text is fixed at the text-complete event:
text after it is late text of the same answer (a later step's), never its reply. A busy refusal (``[reply] busy``)
is the call's answer; a status that refuses the request itself (401, 404, ...) is a transport error saying what to
check; any other error status is the call's error text.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import re
import secrets
import time
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

import aiohttp

from ..errors import InvalidArgument
from .api_file import MISSING, ApiSpec, Event, RequestSpec, fill, first_pick, form_pairs, value_text
from .base import (
    CallEvents,
    HttpClient,
    StopAnswer,
    TransportError,
    TransportReply,
    describe_exception,
    excerpt,
    read_capped,
)
from .cuts import SendCutter
from .declared_stop import stop_request
from .declared_stream import Answer, body_lines, error_text, ndjson_events, read_answer, sse_events

__all__ = ["REFUSED", "DeclaredTransport", "StoppableDeclaredTransport", "no_text"]

REFUSED = frozenset({400, 401, 403, 404, 405, 413, 415, 422})
"""Statuses that refuse the request itself (auth, path, body) unless ``[reply] busy`` claims them."""
ACCEPT = {"json": "application/json", "sse": "text/event-stream", "ndjson": "application/x-ndjson"}


@dataclass
class _Call:
    """One call in flight: its ``{session}``, and its run id once its answer named it (a stop waits for it)."""

    session: Any
    run_id: str | None = None
    known: asyncio.Event = field(default_factory=asyncio.Event)

    def named(self, run_id: str) -> None:
        if self.run_id is None:
            self.run_id = run_id
            self.known.set()


@dataclass
class DeclaredTransport(HttpClient):
    """Speaks the HTTP API an :class:`~.api_file.ApiSpec` declares."""

    api: ApiSpec | None = None
    token: str | None = None
    model: str = "replyrace"
    """The value of ``{model}`` (the file's ``[vars] model`` unless --replyrace-model was given)."""
    name: str = "declared"

    reports_events = True
    reports_text = True
    supports_stop = False
    """Whether this transport has ``stop`` (its API file has ``[stop]``)."""

    def __new__(cls, *args: Any, **kwargs: Any) -> DeclaredTransport:
        api = kwargs.get("api")
        if cls is DeclaredTransport and isinstance(api, ApiSpec) and api.stop is not None:
            cls = StoppableDeclaredTransport  # a file with [stop]: the class that has stop()
        return super().__new__(cls)

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
        self._uuid = str(uuid.uuid4())
        self._calls: dict[str, _Call] = {}
        self._cutter = SendCutter()
        self._sent: dict[str, list[asyncio.Event]] = {}
        self._history: dict[str, list[tuple[str, str, str]]] = {}
        """Per session key, the conversation as the client has it: (role, text, message id)."""

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
            "session_uuid": self._uuid,
        }
        values.update(more)
        return values

    def request_of(self, spec: RequestSpec, values: dict[str, Any]) -> tuple[str, str, dict[str, str], dict[str, Any]]:
        """(method, url, headers, the body as aiohttp keywords) of one call."""
        url = self.base_url.rstrip("/") + fill(spec.path, values, path=True, keep=frozenset(self.spec.vars))
        headers = {"Accept": ACCEPT[self.spec.reply.format] if spec is self.spec.send else "application/json"}
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
            raise _broken(method, url, exc, bytes(into), "the session call ") from exc
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
        return await self._cutter.run(idempotency_key, self._send(session_key, message, idempotency_key, events))

    async def disconnect(self, idempotency_key: str) -> float:
        """Close the connection carrying that call's answer, with no stop call (a client going away)."""
        return await self._cutter.cut(idempotency_key)

    async def _send(
        self, session_key: str, message: str, idempotency_key: str, events: CallEvents | None
    ) -> TransportReply:
        events = CallEvents() if events is None else events
        session = await self.session_of(session_key)
        call = self._calls[idempotency_key] = _Call(session)
        for waiter in self._sent.pop(idempotency_key, []):  # a stop asked before the send got this far
            waiter.set()
        values = self.values(session_key, message=message, idempotency_key=idempotency_key, session=session)
        if self.spec.history is not None:
            values["history"] = self.history_value(session_key, values, message, idempotency_key)
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
                    return await self._read_body(method, url, response, into, events, call, session_key)
                answer = await read_answer(
                    self.spec.reply,
                    self._stream(method, url, response, into),
                    events,
                    call.named,
                    lambda text: self.received(session_key, text),
                )
        except (aiohttp.ClientError, ConnectionError, OSError) as exc:
            raise _broken(method, url, exc, bytes(into)) from exc
        if answer.reply is None and answer.events:
            self.received(session_key, answer.text)  # no text-complete event: the end completes the text
        return self._finished(method, url, answer, message, bytes(into), events)

    async def _read_body(
        self,
        method: str,
        url: str,
        response: aiohttp.ClientResponse,
        into: bytearray,
        events: CallEvents,
        call: _Call,
        session_key: str,
    ) -> TransportReply:
        events.first()
        raw = await read_capped(response, self.max_body_bytes + 1, into)
        if len(raw) > self.max_body_bytes:
            raise self._too_large(method, url, raw)
        events.text_complete()
        reply = self._from_body(method, url, raw, events)
        if reply.run_id is not None:
            call.named(reply.run_id)
        if reply.reply:
            self.received(session_key, reply.reply)
        return reply

    # -- the conversation as the client has it ([history]) ----------------------------------------------------

    def history_value(self, session_key: str, values: dict[str, Any], message: str, message_id: str) -> list[Any]:
        """``{history}``: the client's earlier messages and the replies it has received, then this message."""
        spec = self.spec.history
        assert spec is not None
        entries = self._history.setdefault(session_key, [])
        entries.append(("user", message, message_id))
        return [
            fill(spec.user if role == "user" else spec.assistant, {**values, "text": text, "message_id": mid})
            for role, text, mid in entries
        ]

    def received(self, session_key: str, text: str) -> None:
        """The client has a reply: it joins the conversation the next ``{history}`` carries."""
        if self.spec.history is not None and text:
            self._history.setdefault(session_key, []).append(("assistant", text, str(uuid.uuid4())))

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

    def _stream(self, method: str, url: str, response: aiohttp.ClientResponse, into: bytearray) -> AsyncIterator[Event]:
        lines = body_lines(response, into, self.max_body_bytes, lambda raw: self._too_large(method, url, raw))
        return ndjson_events(lines) if self.spec.reply.format == "ndjson" else sse_events(lines)

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
        error_said = None if error is MISSING else error_text(error)
        return TransportReply(
            run_id=None if run_id is MISSING else value_text(run_id),
            reply="" if text is MISSING else value_text(text),
            error=error_said,
            replied_at=events.text_at,
            busy=reply.busy.refuses_in_error(error_said),
            no_text=no_text(self.spec.label, None) if text is MISSING else None,
        )

    def _finished(
        self, method: str, url: str, answer: Answer, message: str, into: bytes, events: CallEvents
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
        events.late_text("".join(answer.late))  # a later step of the same turn: shown, never its reply
        return TransportReply(
            run_id=answer.run_id,
            reply=answer.reply,
            error=answer.error,
            replied_at=events.text_at,
            busy=reply.busy.refuses_in_error(answer.error),
            no_text=no_text(self.spec.label, answer.events) if not answer.reply and not answer.text_events else None,
        )


@dataclass
class StoppableDeclaredTransport(DeclaredTransport):
    """A declared transport whose API file has ``[stop]``: it has ``stop``. ``DeclaredTransport(...)`` makes one
    of these when ``api`` has ``[stop]``, so the driver finds ``stop`` exactly when the file declares it."""

    supports_stop = True

    async def _sent_call(self, key: str, wait: float) -> _Call | None:
        """The call sent with ``key``, waiting up to ``wait`` seconds for its send to get as far as its session
        (a stop at ``sent`` + 0 can come before that)."""
        if key not in self._calls:
            sent = asyncio.Event()
            self._sent.setdefault(key, []).append(sent)
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(sent.wait(), max(0.0, wait))
        return self._calls.get(key)

    async def stop(self, session_key: str, idempotency_key: str, *, wait_for_run: float) -> StopAnswer:
        """The ``[stop]`` call for the call sent with ``idempotency_key``; with ``{run_id}``, once its answer
        named its run (waiting up to ``wait_for_run`` seconds)."""
        spec = self.spec.stop
        assert spec is not None
        call = await self._sent_call(idempotency_key, wait_for_run)
        if call is None:
            return StopAnswer(time.monotonic(), error=f"no call was sent with the key {idempotency_key!r}")
        if "run_id" in self.spec.uses and call.run_id is None:
            try:
                await asyncio.wait_for(call.known.wait(), max(0.0, wait_for_run))
            except asyncio.TimeoutError:
                return StopAnswer(
                    time.monotonic(),
                    error=f"the call's answer named no run id within {wait_for_run:g} s ([reply] run_id in "
                    f"{self.spec.label}): [stop] needs {{run_id}}, so no stop was sent",
                )
        values = self.values(session_key, session=call.session, idempotency_key=idempotency_key, run_id=call.run_id)
        await self.open()
        assert self._session is not None
        request = self.request_of(spec, values)
        return await stop_request(self._session, request, spec.aborted, self.spec.label, self.max_body_bytes)


def _header_text(value: Any) -> Any:
    return value if isinstance(value, str) else json.dumps(value)


def _broken(method: str, url: str, exc: BaseException, into: bytes, what: str = "") -> TransportError:
    """The exchange failed: refused, reset, or an answer that broke off (a cut stream), with what arrived."""
    if not into:
        return TransportError(f"{what}{method} {url} failed: {describe_exception(exc)}")
    return TransportError(
        f"{what}{method} {url}: the answer broke off after {len(into)} bytes "
        f"({describe_exception(exc, 120)}); what arrived: {excerpt(into)}"
    )


def no_text(label: str, events: int | None) -> str:
    """Why an answer gave no reply text: the ``text`` selector of the API file ``label`` matched none of its
    ``events`` (None: a JSON body, where the pointer found nothing)."""
    where = f"[reply] text in {label}"
    if events is None:
        return f"the text pointer ({where}) found nothing in the JSON answer: check it against the answer below"
    return (
        f"the text selector ({where}) matched none of the answer's {events} event{'s' * (events != 1)}: check "
        "its event, when and pointer against the answer below"
    )
