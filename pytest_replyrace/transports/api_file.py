"""The API file of the ``declared`` transport: a gateway's HTTP API described in TOML, read into plain records.

Four tables: ``[vars]`` (placeholder defaults), ``[session]`` (an optional call that creates the session),
``[send]`` (the call that sends one message, with a JSON or form body) and ``[reply]`` (how its answer reads:
one JSON body, or an SSE or NDJSON stream whose events are picked by selectors). Everything is checked here,
before any test runs: a mistake is an :class:`ApiFileError` naming the file, the key and what is accepted.
The transport that speaks such an API is :class:`~pytest_replyrace.transports.declared.DeclaredTransport`;
the format is described in docs/10-any-http-gateway.md.
"""

from __future__ import annotations

import json
import math
import re
import sys
from collections.abc import Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any
from urllib.parse import quote

from ..errors import ApiFileError, InvalidArgument
from .builtin_apis import BUILTIN_APIS, builtin_text

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - Python 3.10
    import tomli as tomllib

__all__ = [
    "BUILTIN_APIS",
    "FORMATS",
    "MISSING",
    "PLACEHOLDERS",
    "ApiFileError",
    "ApiSpec",
    "BusySpec",
    "Event",
    "HistorySpec",
    "Pointer",
    "ReplySpec",
    "RequestSpec",
    "Selector",
    "aborted_of",
    "builtin_text",
    "fill",
    "filled",
    "first_pick",
    "form_pairs",
    "parse_api",
    "value_text",
]

FORMATS = ("json", "sse", "ndjson")
PLACEHOLDERS = ("message", "session", "session_key", "session_uuid", "idempotency_key", "token", "model")
"""The placeholders every API file may use, besides its ``[vars]`` names (``[stop]`` also has ``{run_id}``, and
a file with ``[history]`` has ``{history}`` in ``[send]``)."""
METHODS = ("GET", "POST", "PUT", "PATCH", "DELETE")
DEFAULT_BUSY_STATUSES = (409, 429, 503)
DOCS = "see docs/10-any-http-gateway.md"

_TABLES = ("vars", "session", "send", "reply", "stop", "history")
_REQUEST_KEYS = ("method", "path", "headers", "json", "form")
_HISTORY_ROLES = ("user", "assistant")
_HISTORY_OWN = ("text", "message_id")
_REPLY_KEYS = ("format", "text", "complete", "error", "end", "run_id", "busy")
_SELECTOR_KEYS = ("event", "when", "unless", "pointer", "data")
_BUSY_KEYS = ("status", "text")
_NOT_IN_SESSION = ("message", "session")
_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_PLACEHOLDER = re.compile(r"\{\{|\}\}|\{([A-Za-z_][A-Za-z0-9_]*)\}")
_HEADER_NAME = re.compile(r"[!#$%&'*+.^_`|~0-9A-Za-z-]+")


class _Missing:
    def __repr__(self) -> str:
        return "MISSING"


MISSING: Any = _Missing()
"""What a pointer finds where there is nothing, and the JSON of a data line that is not JSON."""


def _same(a: Any, b: Any) -> bool:
    """JSON equality: ``true`` is not ``1``, ``1`` is ``1.0``."""
    if isinstance(a, bool) or isinstance(b, bool):
        return type(a) is type(b) and a == b
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(_same(a[k], b[k]) for k in a)
    if isinstance(a, list) and isinstance(b, list):
        return len(a) == len(b) and all(_same(x, y) for x, y in zip(a, b))
    if isinstance(a, (int, float)) and isinstance(b, (int, float)):
        return a == b
    return type(a) is type(b) and bool(a == b)


@dataclass(frozen=True)
class Pointer:
    """An RFC 6901 JSON pointer; a token ``-N`` on an array counts from its end (``/messages/-1/content``)."""

    text: str
    tokens: tuple[str, ...]

    @classmethod
    def parse(cls, text: object) -> Pointer:
        """The pointer, or a ValueError saying what is wrong with it."""
        if not isinstance(text, str):
            raise InvalidArgument(f"{text!r} is not a JSON pointer")
        if text == "":
            return cls(text, ())
        if not text.startswith("/"):
            raise InvalidArgument(f"{text!r} is not a JSON pointer: it must be empty or start with '/'")
        tokens = []
        for raw in text[1:].split("/"):
            if re.search(r"~(?![01])", raw):
                raise InvalidArgument(
                    f"{text!r} is not a JSON pointer: '~' must be followed by 0 or 1 (~0 is '~', ~1 is '/')"
                )
            tokens.append(raw.replace("~1", "/").replace("~0", "~"))
        return cls(text, tuple(tokens))

    def resolve(self, document: Any) -> Any:
        """The value it points at, or :data:`MISSING`."""
        value = document
        for token in self.tokens:
            if isinstance(value, dict):
                if token not in value:
                    return MISSING
                value = value[token]
            elif isinstance(value, list):
                index = _array_index(token, len(value))
                if index is None:
                    return MISSING
                value = value[index]
            else:
                return MISSING
        return value


def _array_index(token: str, length: int) -> int | None:
    if re.fullmatch(r"0|[1-9][0-9]*", token):
        index = int(token)
    elif re.fullmatch(r"-[1-9][0-9]*", token):
        index = length + int(token)
    else:
        return None  # '-' (past the end), a leading zero, a name: nothing there
    return index if 0 <= index < length else None


@dataclass(frozen=True)
class Event:
    """One event of an answer: its SSE name (``message`` when the stream names none, None for NDJSON and a
    JSON body), its raw data, and that data as JSON (:data:`MISSING` when it is not JSON)."""

    name: str | None
    data: str
    document: Any = MISSING


def present(value: Any) -> bool:
    """Not missing and not null."""
    return value is not MISSING and value is not None


def filled(value: Any) -> bool:
    """Present, and not ``""``, ``[]`` or ``{}`` (what a text-complete pointer must find)."""
    return present(value) and not (isinstance(value, (str, list, dict)) and len(value) == 0)


@dataclass(frozen=True)
class Selector:
    """Which events a ``[reply]`` key picks, and the value it picks from them."""

    where: str
    event: str | None = None
    when: tuple[tuple[Pointer, Any], ...] = ()
    unless: tuple[tuple[Pointer, Any], ...] = ()
    pointer: Pointer | None = None
    data: str | None = None
    mode: str = "append"
    """``text`` only: ``append`` (each value a delta) or ``replace`` (each value the whole text so far)."""
    text: Pointer | None = None
    """``complete`` only: where the whole reply is in the text-complete event."""
    means: bool | None = None
    """``[stop] aborted`` only: what a match means (None: the picked value, when it is a boolean)."""

    def pick(self, event: Event) -> Any:
        """The value this selector takes from ``event`` (the whole data without a pointer), or :data:`MISSING`
        when it does not match. A pointer that finds nothing or null is no match."""
        if self.event is not None and event.name != self.event:
            return MISSING
        if self.data is not None:
            if event.data != self.data:
                return MISSING
        elif event.document is MISSING:
            return MISSING  # a data line that is not JSON matches only a `data` selector
        document = event.document
        for pointer, expected in self.when:
            found = pointer.resolve(document)
            if found is MISSING or not _same(found, expected):
                return MISSING
        for pointer, expected in self.unless:
            found = pointer.resolve(document)
            if found is not MISSING and _same(found, expected):
                return MISSING
        if self.pointer is not None:
            value = self.pointer.resolve(document)
            return value if present(value) else MISSING
        return event.data if document is MISSING else document


def aborted_of(selectors: tuple[Selector, ...], document: Any) -> bool | None:
    """What a stop's JSON answer says (``[stop] aborted``): True (a run was stopped), False (nothing was), None
    (it says neither): the first selector that matches, its ``means`` or else its value when that is a boolean."""
    selector, value = first_pick(selectors, Event(None, "", document))
    if selector is None:
        return None
    if selector.means is not None:
        return selector.means
    return value if isinstance(value, bool) else None


def first_pick(selectors: tuple[Selector, ...], event: Event) -> tuple[Selector | None, Any]:
    """The first selector that matches ``event`` and its value."""
    for selector in selectors:
        value = selector.pick(event)
        if value is not MISSING:
            return selector, value
    return None, MISSING


@dataclass(frozen=True)
class BusySpec:
    """How a busy refusal looks: its statuses and/or a text it contains (case-insensitive); with both, both."""

    status: tuple[int, ...] = DEFAULT_BUSY_STATUSES
    text: str | None = None
    status_given: bool = False

    def refuses(self, status: int, body: str) -> bool:
        """Is a non-2xx answer a busy refusal?"""
        if (self.status_given or self.text is None) and status not in self.status:
            return False
        return self.text is None or self.text.lower() in body.lower()

    def refuses_in_error(self, error: str | None) -> bool:
        """Is a 2xx answer whose error is ``error`` a busy refusal (only by text, when no status is given)?"""
        return (
            error is not None and self.text is not None and not self.status_given and self.text.lower() in error.lower()
        )


@dataclass(frozen=True)
class RequestSpec:
    """``[session]`` or ``[send]``: one HTTP call, its values still holding placeholders."""

    method: str
    path: str
    headers: tuple[tuple[str, str], ...] = ()
    json: Any = MISSING
    form: Mapping[str, Any] | None = None
    session: Pointer | None = None
    """``[session]`` only: where the session's value is in its answer."""
    aborted: tuple[Selector, ...] = ()
    """``[stop]`` only: where its JSON answer says whether a run was stopped (see :func:`aborted_of`)."""


@dataclass(frozen=True)
class HistorySpec:
    """``[history]``: a message template per role, from which ``{history}`` is built (placeholders ``{text}``,
    ``{message_id}`` and the file's own)."""

    user: Any
    assistant: Any


@dataclass(frozen=True)
class ReplySpec:
    format: str
    text: tuple[Selector, ...] = ()
    complete: tuple[Selector, ...] = ()
    error: tuple[Selector, ...] = ()
    end: tuple[Selector, ...] = ()
    end_at_complete: bool = False
    """``end = "complete"``: the text-complete event ends the answer too."""
    run_id: tuple[Selector, ...] = ()
    busy: BusySpec = field(default_factory=BusySpec)

    @property
    def has_end(self) -> bool:
        return bool(self.end) or self.end_at_complete


@dataclass(frozen=True)
class ApiSpec:
    """A whole API file, checked."""

    label: str
    """The file as the setting named it, or ``built-in API NAME``."""
    send: RequestSpec
    reply: ReplySpec
    session: RequestSpec | None = None
    vars: Mapping[str, Any] = field(default_factory=dict)
    uses: frozenset[str] = frozenset()
    """Every placeholder name the file's calls use."""
    stop: RequestSpec | None = None
    """``[stop]``: the call that stops a run (``stop_by="cancel"``); None when the gateway has none."""
    history: HistorySpec | None = None


# -- reading ----------------------------------------------------------------------------------------------------


class _Values:
    """The values of an API file, checked: tables, strings, pointers, JSON values and their placeholders."""

    def __init__(self, label: str) -> None:
        self.label = label
        self.uses: set[str] = set()
        self.names: tuple[str, ...] = PLACEHOLDERS
        self.has_history = False

    def fail(self, key: str, problem: str, expected: str) -> ApiFileError:
        return ApiFileError(f"{self.label}: {key}: {problem}; expected {expected} ({DOCS})")

    def table(self, value: Any, key: str, allowed: tuple[str, ...]) -> dict[str, Any]:
        if not isinstance(value, dict):
            raise self.fail(key, f"{_shown(value)} is not a table", "a table with the keys " + _either(allowed))
        for name in value:
            if name not in allowed:
                raise self.fail(key, f"unknown key {name!r}", "one of " + _either(allowed))
        return value

    def string(self, value: Any, key: str, expected: str) -> str:
        if not isinstance(value, str):
            raise self.fail(key, f"{_shown(value)} is not a string", expected)
        return value

    def pointer(self, value: Any, key: str) -> Pointer:
        try:
            return Pointer.parse(value)
        except ValueError as exc:
            raise self.fail(
                key,
                str(exc),
                'an RFC 6901 JSON pointer such as "/choices/0/text" or '
                '"/messages/-1/content" (-N counts from an array\'s end)',
            ) from None

    def json_value(self, value: Any, key: str, placeholders: bool, allowed: tuple[str, ...] = ()) -> Any:
        """A TOML value that can be JSON (no dates, no inf or nan); its placeholders checked."""
        if isinstance(value, dict):
            return {k: self.json_value(v, f"{key}.{_key(k)}", placeholders, allowed) for k, v in value.items()}
        if isinstance(value, list):
            return [self.json_value(v, f"{key}[{i}]", placeholders, allowed) for i, v in enumerate(value, 1)]
        if isinstance(value, str):
            if placeholders:
                self.placeholders(value, key, allowed)
            return value
        if isinstance(value, float) and not math.isfinite(value):
            raise self.fail(key, f"{value!r} has no JSON form", "a finite number")
        if isinstance(value, (bool, int, float)):
            return value
        raise self.fail(
            key,
            f"{_shown(value)} (a TOML {type(value).__name__}) has no JSON form",
            "a string, number, boolean, array or table",
        )

    def placeholders(self, text: str, key: str, allowed: tuple[str, ...]) -> None:
        for match in _PLACEHOLDER.finditer(text):
            name = match.group(1)
            if name is None:
                continue
            if name not in allowed:
                if name in self.names:
                    raise self.fail(
                        key,
                        f"{{{name}}} is not known before the session exists",
                        "one of " + _either(tuple(f"{{{n}}}" for n in allowed)),
                    )
                raise self.fail(
                    key,
                    f"unknown placeholder {{{name}}}",
                    "one of " + _either(tuple(f"{{{n}}}" for n in allowed)) + " ({{ and }} stand for literal braces)",
                )
            self.uses.add(name)


class _Reader(_Values):
    """The tables of an API file, checked, into its records."""

    def vars(self, raw: Any) -> dict[str, Any]:
        if not isinstance(raw, dict):
            raise self.fail("[vars]", f"{_shown(raw)} is not a table", "a table of name = value")
        out = {}
        for name, value in raw.items():
            key = f"[vars] {name}"
            if not _NAME.fullmatch(name):
                raise self.fail(key, f"{name!r} is not a placeholder name", "a name of letters, digits and _")
            if name in PLACEHOLDERS and name != "model":
                raise self.fail(
                    key,
                    f"{{{name}}} is set by the transport, not by [vars]",
                    "another name ([vars] may set model, the default of {model})",
                )
            if name == "model" and not isinstance(value, str):
                raise self.fail(key, f"{_shown(value)} is not a string", 'a model or agent name, such as "agent"')
            out[name] = self.json_value(value, key, placeholders=False)
        self.names = (*PLACEHOLDERS, *(n for n in out if n not in PLACEHOLDERS))
        return out

    def allowed(self, section: str) -> tuple[str, ...]:
        """The placeholders a section's values may use."""
        if section == "session":
            return tuple(n for n in self.names if n not in _NOT_IN_SESSION)
        if section == "stop":
            return (*(n for n in self.names if n != "message"), "run_id")
        if section == "history":
            return (*(n for n in self.names if n != "message"), *_HISTORY_OWN)
        return (*self.names, "history") if self.has_history else self.names

    def request(self, raw: Any, section: str) -> RequestSpec:
        extra = {"session": ("session",), "stop": ("aborted",)}.get(section, ())
        table = self.table(raw, f"[{section}]", (*_REQUEST_KEYS, *extra))
        allowed = self.allowed(section)
        method = self.string(table.get("method", "POST"), f"[{section}] method", _either(METHODS)).upper()
        if method not in METHODS:
            raise self.fail(f"[{section}] method", f"{table['method']!r} is not accepted", _either(METHODS))
        if "path" not in table:
            raise self.fail(f"[{section}]", "no path", 'a path such as path = "/threads" (it starts with /)')
        path = self.string(table["path"], f"[{section}] path", "a path that starts with /")
        if not path.startswith("/"):
            raise self.fail(f"[{section}] path", f"{path!r} does not start with /", 'a path such as "/threads"')
        self.placeholders(path, f"[{section}] path", allowed)
        headers = self.headers(table.get("headers", {}), section, allowed)
        if "json" in table and "form" in table:
            raise self.fail(f"[{section}]", "both json and form", "one body: json = { ... }, form = { ... } or neither")
        body: Any = MISSING
        if "json" in table:
            body = self.json_value(table["json"], f"[{section}] json", True, allowed)
        form = None
        if "form" in table:
            form = self.form(table["form"], f"[{section}] form", allowed)
        session = None
        if section == "session":
            if "session" not in table:
                raise self.fail(
                    "[session]",
                    "no session pointer",
                    'session = "/thread_id": where the session\'s value is in the answer',
                )
            session = self.pointer(table["session"], "[session] session")
        aborted: tuple[Selector, ...] = ()
        if "aborted" in table:
            aborted = self.selectors(table["aborted"], "[stop] aborted", ("means",), "json")
        return RequestSpec(method, path, tuple(headers), body, form, session, aborted)

    def headers(self, raw_headers: Any, section: str, allowed: tuple[str, ...]) -> list[tuple[str, str]]:
        headers = []
        if not isinstance(raw_headers, dict):
            raise self.fail(
                f"[{section}] headers",
                f"{_shown(raw_headers)} is not a table",
                'a table of "Name" = "value", such as { "X-Tenant" = "test" }',
            )
        for name, value in raw_headers.items():
            key = f"[{section}] headers.{_key(name)}"
            if not _HEADER_NAME.fullmatch(name):
                raise self.fail(key, f"{name!r} is not a header name", "letters, digits and '-', such as X-Tenant")
            value = self.string(value, key, "a string value")
            self.placeholders(value, key, allowed)
            headers.append((name, value))
        return headers

    def history(self, raw: Any) -> HistorySpec:
        table = self.table(raw, "[history]", _HISTORY_ROLES)
        allowed = self.allowed("history")
        for role in _HISTORY_ROLES:
            if role not in table:
                raise self.fail(
                    "[history]",
                    f"no {role} template",
                    'a message template per role, such as user = { role = "user", content = "{text}" } and '
                    'assistant = { role = "assistant", content = "{text}" }',
                )
        return HistorySpec(*(self.json_value(table[r], f"[history] {r}", True, allowed) for r in _HISTORY_ROLES))

    def form(self, raw: Any, key: str, allowed: tuple[str, ...]) -> dict[str, Any]:
        if not isinstance(raw, dict):
            raise self.fail(key, f"{_shown(raw)} is not a table", "a table of field = value")
        out: dict[str, Any] = {}
        for name, value in raw.items():
            where = f"{key}.{_key(name)}"
            items = value if isinstance(value, list) else [value]
            for i, item in enumerate(items, 1):
                at = f"{where}[{i}]" if isinstance(value, list) else where
                if isinstance(item, (dict, list)):
                    raise self.fail(
                        at,
                        "a table or nested array cannot be a form value",
                        "a string, number or boolean, or an array of them (it repeats the field)",
                    )
                self.json_value(item, at, True, allowed)
            out[name] = value
        return out

    def selectors(self, raw: Any, key: str, extra: tuple[str, ...], fmt: str) -> tuple[Selector, ...]:
        tables = raw if isinstance(raw, list) else [raw]
        if not tables:
            raise self.fail(key, "an empty list", "a table, or a list of tables of which the first that matches wins")
        return tuple(
            self.selector(t, f"{key}[{i}]" if isinstance(raw, list) else key, extra, fmt)
            for i, t in enumerate(tables, 1)
        )

    def selector(self, raw: Any, key: str, extra: tuple[str, ...], fmt: str) -> Selector:
        table = self.table(raw, key, (*_SELECTOR_KEYS, *extra))
        event = None
        if "event" in table:
            if fmt != "sse":
                raise self.fail(
                    f"{key}.event",
                    f"an event name with format = {fmt!r}",
                    'event only with format = "sse" (NDJSON lines and a JSON body have no names)',
                )
            event = self.string(table["event"], f"{key}.event", 'an SSE event name such as "messages"')
        data = None
        if "data" in table:
            data = self.string(table["data"], f"{key}.data", 'the exact raw data of a line, such as "[DONE]"')
        pointer = self.pointer(table["pointer"], f"{key}.pointer") if "pointer" in table else None
        mode = "append"
        if "mode" in table:
            mode = self.string(table["mode"], f"{key}.mode", '"append" or "replace"')
            if mode not in ("append", "replace"):
                raise self.fail(
                    f"{key}.mode",
                    f"{mode!r} is not accepted",
                    '"append" (each value a delta) or "replace" (each value the whole text so far)',
                )
        text = self.pointer(table["text"], f"{key}.text") if "text" in table else None
        means = None
        if "means" in table:
            if not isinstance(table["means"], bool):
                raise self.fail(
                    f"{key}.means",
                    f"{_shown(table['means'])} is not a boolean",
                    "true (the gateway stopped a run) or false (it says nothing was stopped)",
                )
            means = table["means"]
        return Selector(
            key,
            event,
            self.equalities(table, "when", key),
            self.equalities(table, "unless", key),
            pointer,
            data,
            mode,
            text,
            means,
        )

    def equalities(self, table: dict[str, Any], name: str, key: str) -> tuple[tuple[Pointer, Any], ...]:
        if name not in table:
            return ()
        raw = table[name]
        if not isinstance(raw, dict):
            raise self.fail(
                f"{key}.{name}",
                f"{_shown(raw)} is not a table",
                'a table of "/pointer" = value, such as { "/type" = "text-delta" }',
            )
        return tuple(
            (
                self.pointer(p, f"{key}.{name} key {p!r}"),
                self.json_value(v, f"{key}.{name}.{_key(p)}", placeholders=False),
            )
            for p, v in raw.items()
        )

    def busy(self, raw: Any) -> BusySpec:
        table = self.table(raw, "[reply] busy", _BUSY_KEYS)
        if not table:
            raise self.fail("[reply] busy", "an empty table", 'status = [409, ...] and/or text = "..."')
        statuses: tuple[int, ...] = DEFAULT_BUSY_STATUSES
        if "status" in table:
            value = table["status"]
            items = value if isinstance(value, list) else [value]
            if not items or not all(isinstance(s, int) and not isinstance(s, bool) and 400 <= s <= 599 for s in items):
                raise self.fail(
                    "[reply] busy.status",
                    f"{_shown(value)} is not accepted",
                    "an HTTP status from 400 to 599, or a list of them, such as [409, 422]",
                )
            statuses = tuple(items)
        text = None
        if "text" in table:
            text = self.string(table["text"], "[reply] busy.text", "a text the refusal contains")
            if not text.strip():
                raise self.fail("[reply] busy.text", "an empty text", "a text the refusal contains")
        return BusySpec(statuses, text, "status" in table)

    def reply(self, raw: Any) -> ReplySpec:
        table = self.table(raw, "[reply]", _REPLY_KEYS)
        fmt = self.string(table.get("format", "json"), "[reply] format", _either(FORMATS))
        if fmt not in FORMATS:
            raise self.fail("[reply] format", f"{fmt!r} is not accepted", _either(tuple(f'"{f}"' for f in FORMATS)))
        if fmt == "json":
            for name in ("complete", "end"):
                if name in table:
                    raise self.fail(
                        f"[reply] {name}",
                        'has no meaning with format = "json" (one body, no events: '
                        "the text is complete when the body is read)",
                        'it only with format = "sse" or "ndjson"',
                    )
        text = self.selectors(table["text"], "[reply] text", ("mode",), fmt) if "text" in table else ()
        complete = self.selectors(table["complete"], "[reply] complete", ("text",), fmt) if "complete" in table else ()
        if not text and not any(s.text is not None for s in complete):
            raise self.fail(
                "[reply]",
                "no text",
                'text = { pointer = "/..." } (or complete = { text = "/..." }) saying where the reply text is',
            )
        end: tuple[Selector, ...] = ()
        end_at_complete = False
        if table.get("end") == "complete":
            if not complete:
                raise self.fail(
                    "[reply] end",
                    '"complete" without a complete selector',
                    "complete = { ... } too, or an end selector",
                )
            end_at_complete = True
        elif "end" in table:
            if isinstance(table["end"], str):
                raise self.fail(
                    "[reply] end",
                    f"{table['end']!r} is not accepted",
                    '"complete", a selector table, or a list of them',
                )
            end = self.selectors(table["end"], "[reply] end", (), fmt)
        return ReplySpec(
            format=fmt,
            text=text,
            complete=complete,
            error=self.selectors(table["error"], "[reply] error", (), fmt) if "error" in table else (),
            end=end,
            end_at_complete=end_at_complete,
            run_id=self.selectors(table["run_id"], "[reply] run_id", (), fmt) if "run_id" in table else (),
            busy=self.busy(table["busy"]) if "busy" in table else BusySpec(),
        )


def _key(name: str) -> str:
    return name if _NAME.fullmatch(name) else repr(name)


def _shown(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:60] + "…"


def _either(names: tuple[str, ...]) -> str:
    if not names:
        return "nothing"
    return names[0] if len(names) == 1 else ", ".join(names[:-1]) + " or " + names[-1]


def parse_api(text: str, label: str) -> ApiSpec:
    """The API file ``text`` (``label`` names it in errors), checked whole."""
    reader = _Reader(label)
    try:
        document = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ApiFileError(
            f"{label}: does not parse as TOML ({exc}); expected the tables [vars], [session], "
            f"[send], [reply], [stop] and [history] ({DOCS})"
        ) from None
    for name in document:
        if name not in _TABLES:
            raise reader.fail(
                f"[{name}]" if isinstance(document[name], dict) else name,
                "unknown table" if isinstance(document[name], dict) else "a key outside any table",
                "the tables [vars], [session], [send], [reply], [stop] and [history]",
            )
    for name in ("send", "reply"):
        if name not in document:
            raise reader.fail(
                f"[{name}]",
                "missing",
                "a [send] table (the call that sends one message) and a [reply] table (how its answer reads)",
            )
    variables = reader.vars(document["vars"]) if "vars" in document else {}
    history = reader.history(document["history"]) if "history" in document else None
    reader.has_history = history is not None
    session = reader.request(document["session"], "session") if "session" in document else None
    send = reader.request(document["send"], "send")
    reply = reader.reply(document["reply"])
    stop = reader.request(document["stop"], "stop") if "stop" in document else None
    if "run_id" in reader.uses and not reply.run_id:
        raise reader.fail(
            "[stop]", "{run_id} without a run id", "[reply] run_id = { ... } saying where the answer names its run"
        )
    if history is not None and "history" not in reader.uses:
        raise reader.fail(
            "[history]", "no call uses {history}", 'messages = "{history}" (or the like) in [send] json or form'
        )
    return ApiSpec(label, send, reply, session, variables, frozenset(reader.uses), stop, history)


# -- filling in ---------------------------------------------------------------------------------------------------


def value_text(value: Any) -> str:
    """A value as text: a string itself, a list of text parts joined, anything else as JSON."""
    if isinstance(value, str):
        return value
    if isinstance(value, list) and all(
        isinstance(p, str) or (isinstance(p, dict) and isinstance(p.get("text"), str)) for p in value
    ):
        return "".join(p if isinstance(p, str) else p["text"] for p in value)
    return json.dumps(value, ensure_ascii=False)


def _as_text(value: Any) -> str:
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return _decimal(value)
    return json.dumps(value, ensure_ascii=False)


def _decimal(value: int | float) -> str:
    if isinstance(value, int):
        return str(value)
    text = format(Decimal(repr(value)), "f")
    return text[:-2] if text.endswith(".0") else text


def fill(template: Any, values: Mapping[str, Any], *, path: bool = False, keep: frozenset[str] = frozenset()) -> Any:
    """``template`` with its placeholders filled in: a string that is only one placeholder becomes the value
    itself; inside a longer string a placeholder becomes text (percent-encoded when ``path``, but for the names
    in ``keep``, the file's own ``[vars]``, whose slashes stay path separators)."""
    if isinstance(template, dict):
        return {k: fill(v, values) for k, v in template.items()}
    if isinstance(template, list):
        return [fill(v, values) for v in template]
    if not isinstance(template, str):
        return template
    whole = _PLACEHOLDER.fullmatch(template)
    if whole is not None and whole.group(1) is not None and not path:
        return values[whole.group(1)]

    def one(match: re.Match[str]) -> str:
        if match.group(1) is None:
            return match.group(0)[0]
        text = _as_text(values[match.group(1)])
        return quote(text, safe="/" if match.group(1) in keep else "") if path else text

    return _PLACEHOLDER.sub(one, template)


def form_pairs(form: Mapping[str, Any], values: Mapping[str, Any]) -> list[tuple[str, str]]:
    """A form table filled in, as (field, value) pairs: booleans ``true``/``false``, numbers decimal, an array
    repeating the field. A placeholder whose value is a table cannot be a form value (a ValueError)."""
    pairs = []
    for name, raw in form.items():
        value = fill(raw, values)
        for item in value if isinstance(value, list) else [value]:
            if isinstance(item, (dict, list)):
                raise InvalidArgument(f"form field {name!r}: {_shown(item)} is not a form value")
            pairs.append((name, _as_text(item)))
    return pairs
