"""One self-contained HTML page per run: inline CSS and SVG, no script, no network.

Per test: a pattern heatmap over RTT (× gap when swept), then per RTT a
swimlane timeline: each call a bar from send to reply, the provider request
for its token a thinner bar beneath it, fast-fails in red, the gaps as white
space, every row labelled with the run's pattern string so it can be searched
and copied; then the gateway log lines that matched.
"""

from __future__ import annotations

import html
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

from .. import lanes
from ..gateway.log import MATCH_LIMIT, quote_line
from ..lanes import lane_marks, run_instants
from ..letters import LETTERS
from ..units import format_duration
from ..version import __version__
from .summary import group_name, summary_rows

__all__ = ["render_html", "write_html_report"]

COLOURS = {
    "p": "#2e9e4f",
    "f": "#d7263d",
    "w": "#9b2fae",
    "l": "#8a8a8a",
    "e": "#f08c00",
    "h": "#b8860b",
    "b": "#5f9ea0",
    "m": "#6b8e23",
    "i": "#c71585",
    "s": "#1f6f8b",
    "o": "#8b0000",
}
PROVIDER = "#3b7dd8"
STOP_MARK = "#b00020"
VERDICT_BG = {
    "clean": "#d9f2e0",
    "fast-fail": "#fadadd",
    "overran-stop": "#f6d5d5",
    "busy-policy": "#fadadd",
    "unreliable": "#fff0d1",
    "empty": "#eeeeee",
}

CSS = """
body { font: 14px/1.45 system-ui, -apple-system, 'Segoe UI', sans-serif; margin: 24px; color: #1d1d1f; }
h1 { font-size: 22px; margin: 0 0 4px; } h2 { font-size: 17px; margin: 28px 0 8px; border-bottom: 1px solid #ddd; }
h3 { font-size: 14px; margin: 16px 0 4px; font-weight: 600; }
.meta { color: #555; margin-bottom: 12px; } code, pre { font-family: ui-monospace, 'DejaVu Sans Mono', monospace; }
.pattern { font-family: ui-monospace, 'DejaVu Sans Mono', monospace; font-size: 15px; letter-spacing: 2px; }
table.heat { border-collapse: collapse; margin: 6px 0 12px; } table.heat td, table.heat th { border: 1px solid #ccc;
  padding: 4px 10px; text-align: center; } table.heat th { background: #f4f4f4; font-weight: 600; }
.legend span { display: inline-block; margin-right: 14px; } .legend i { display: inline-block; width: 12px;
  height: 12px; margin-right: 4px; vertical-align: -1px; border-radius: 2px; }
pre.log { background: #f7f7f7; border: 1px solid #e3e3e3; padding: 8px; overflow-x: auto; font-size: 12px; }
svg text { font-family: ui-monospace, 'DejaVu Sans Mono', monospace; font-size: 11px; }
"""


def _e(text: object) -> str:
    return html.escape(str(text), quote=True)


def _legend() -> str:
    items = [f'<span><i style="background:{COLOURS[k]}"></i>{k} {v}</span>' for k, v in LETTERS.items()]
    items.append(
        f'<span><i style="background:{PROVIDER}"></i>provider serving the call\'s token (one bar per request)</span>'
    )
    items.append(f'<span><i style="background:{STOP_MARK}"></i>× the client\'s stop of the call</span>')
    items.append('<span><i style="background:#000;width:2px"></i>send instant (and what it waited for)</span>')
    items.extend(_mark_legend())
    return f'<div class="legend">{"".join(items)}</div>'


def _tick(seconds: float) -> str:
    return f"{seconds * 1000:.0f}ms" if seconds < 1 else f"{seconds:.2f}s"


def _call_row(call: Mapping[str, Any], y: float, x: Callable[[float], float], span: float) -> list[str]:
    """One call's row: its label, its bar from send to reply, the send instant and what it waited for, its
    first-event and text-complete marks, and the provider's requests under it."""
    parts: list[str] = []
    letter = call.get("letter", "?")
    colour = COLOURS.get(letter, "#444")
    latency = call.get("latency")
    lat = "lost" if latency is None else f"{latency * 1000:.0f}ms"
    problem = call.get("history_problem")
    parts.append(
        f'<text x="4" y="{y + 12}" fill="{colour}">#{call["index"]} {letter} {lat}'
        + (f"<title>history {_e(problem)}</title>" if problem else "")
        + "</text>"
    )
    sent = call["sent_at"]
    replied = call.get("replied_at")
    end = replied if replied is not None else sent + span * 0.02
    said = call.get("reply") or call.get("error") or call.get("transport_error") or ""
    tip = f"call {call['index']} ({letter}): {said}"
    if problem:
        tip += f" — history {problem}"
    if call.get("note"):
        tip += f" — {call['note']}"
    if call.get("after_text"):
        tip += " — late text, same turn: " + " ".join(call["after_text"])
    parts.append(
        f'<rect x="{x(sent):.1f}" y="{y}" width="{max(2.0, x(end) - x(sent)):.1f}" height="11" '
        f'fill="{colour}" rx="2"><title>{_e(tip[:300])}</title></rect>'
    )
    # The send instant, and what it waited for: the previous call's end, text, first event, ...
    anchor = call.get("anchor_at")
    waited = (
        "first call"
        if anchor is None
        else f"sent {(sent - anchor) * 1000:+.0f}ms after the previous call's {call.get('send_at', 'end')}"
        + (" (its end stood in)" if call.get("anchor_fallback") else "")
        + (", while an earlier turn ran" if call.get("sent_while_busy") else "")
    )
    parts.append(
        f'<line x1="{x(sent):.1f}" y1="{y - 2}" x2="{x(sent):.1f}" y2="{y + 20}" stroke="#000" '
        f'stroke-width="1.5"><title>{_e(waited)}</title></line>'
    )
    parts.extend(_instant_marks(call, y, x, end))
    parts.extend(_stop_mark(call, y, x))
    parts.extend(_provider_bars(call, y, x, span))
    return parts


def _stop_settings(settings: Mapping[str, Any]) -> str:
    """`` stop_at=request stop_gap=0.1 …`` for a run that stopped calls, else nothing."""
    if settings.get("stop_at", "none") == "none":
        return ""

    def text(value: Any) -> str:
        return ",".join(map(str, value)) if isinstance(value, list) else str(value)

    names = ["stop_at", "stop_gap", "stop_calls", "stop_by"]
    if settings.get("stop_by") == "disconnect":
        names.append("disconnect_policy")
    return "".join(f" {name}={text(settings.get(name))}" for name in [*names, "close_within"])


def _stop_mark(call: Mapping[str, Any], y: float, x: Callable[[float], float]) -> list[str]:
    """A stopped call's stop on its lane: a cross at the instant it went out (the stop's answer in its tip), or
    a hollow one at its instant when the call ended first and no stop was sent."""
    stop = call.get("stop")
    if not stop:
        return []
    at = stop.get("sent_at") if stop.get("sent_at") is not None else stop.get("due_at")
    if at is None:
        return []
    head = f"{stop.get('by', 'cancel')} at {stop.get('at')}{stop.get('gap', 0) * 1000:+.0f}ms"
    if stop.get("sent_at") is None:
        tip = f"{head}: {stop.get('skipped') or 'not stopped'}"
    else:
        answered = stop.get("answered_at")
        tip = head + (f"; answered +{(answered - at) * 1000:.0f}ms" if answered is not None else "")
        tip += {True: " (aborted)", False: " (not aborted)"}.get(stop.get("aborted"), "")
    if stop.get("reason"):
        tip += f"; {stop['reason']}"
    cx, width = x(at), "2.5" if stop.get("sent_at") is not None else "1"
    return [
        f'<g class="stop" stroke="{STOP_MARK}" stroke-width="{width}"><title>{_e(tip[:300])}</title>'
        f'<line x1="{cx - 5:.1f}" y1="{y - 3}" x2="{cx + 5:.1f}" y2="{y + 14}"/>'
        f'<line x1="{cx - 5:.1f}" y1="{y + 14}" x2="{cx + 5:.1f}" y2="{y - 3}"/></g>'
    ]


def _mark_legend() -> list[str]:
    """The legend of the instants on a call's row (every kind in :data:`~pytest_replyrace.lanes.MARK_KINDS`)."""
    items = [
        '<span><i style="background:#999;height:2px;vertical-align:4px"></i>answer still open after its reply</span>'
    ]
    items.extend(
        f'<span><i style="background:{kind.colour};width:3px;border:1px solid #1d1d1f"></i>{_e(kind.name)}</span>'
        for kind in lanes.MARK_KINDS
    )
    return items


def _instant_marks(call: Mapping[str, Any], y: float, x: Callable[[float], float], replied: float) -> list[str]:
    """The answer still open after its reply (a thin line to its end), and a tick at each of the call's
    instants (first event, text complete, answer end, and any other mark source's), titled with its time."""
    parts: list[str] = []
    ended = call.get("ended_at")
    if ended is not None and ended > replied:
        parts.append(
            f'<line x1="{x(replied):.1f}" y1="{y + 5.5}" x2="{x(ended):.1f}" y2="{y + 5.5}" stroke="#999" '
            f'stroke-width="2"><title>answer open until {_e(_tick(ended - call["sent_at"]))} after its send'
            "</title></line>"
        )
    for mark in lane_marks(call):
        at = mark.at - call["sent_at"]
        parts.append(
            f'<rect x="{x(mark.at) - 1.5:.1f}" y="{y - 1}" width="3" height="13" fill="{mark.kind.colour}" '
            'stroke="#1d1d1f" stroke-width="0.6">'
            f"<title>call {_e(call['index'])} {_e(mark.kind.name)} at {_e(_tick(max(at, 0.0)))} after its send"
            "</title></rect>"
        )
    return parts


def _provider_bars(call: Mapping[str, Any], y: float, x: Callable[[float], float], span: float) -> list[str]:
    parts: list[str] = []
    for entry in call.get("journal", []):
        arrived, ended = entry["arrived_at"], entry.get("ended_at")
        stop = ended if ended is not None else arrived + span * 0.01
        tool = entry.get("kind") == "tool"
        faint = ' fill-opacity="0.45"' if tool else ""  # a tool step: lighter than the text step
        step = f" step {entry.get('step', 1)} {entry.get('kind', 'text')}" if tool or entry.get("step", 1) > 1 else ""
        closed = entry.get("closed_at")
        if closed is not None:
            stop = closed
        parts.append(
            f'<rect x="{x(arrived):.1f}" y="{y + 13}" width="{max(2.0, x(stop) - x(arrived)):.1f}" '
            f'height="6" fill="{PROVIDER}"{faint} rx="1">'
            f"<title>provider{step} {entry.get('status')} "
            f"rtt {entry.get('rtt', 0) * 1000:.0f}ms"
            + (f", closed by the gateway at +{(closed - arrived) * 1000:.0f}ms" if closed is not None else "")
            + "</title></rect>"
        )
        if closed is not None:  # the model call's close: where the gateway hung up on the provider
            parts.append(
                f'<line class="closed" x1="{x(closed):.1f}" y1="{y + 11}" x2="{x(closed):.1f}" y2="{y + 21}" '
                f'stroke="{PROVIDER}" stroke-width="2"><title>model call closed by the gateway</title></line>'
            )
    return parts


def _timeline_svg(result: Mapping[str, Any], width: int = 1000) -> str:
    calls = result.get("calls", [])
    if not calls:
        return "<p>(no calls)</p>"
    t0 = calls[0]["sent_at"]
    span = max(max(run_instants(calls)) - t0, 0.001)  # the axis spans every instant of the run
    label_w, row_h, top = 150, 26, 22
    plot_w = width - label_w - 20
    height = top + row_h * len(calls) + 10

    def x(t: float) -> float:
        return float(label_w + (t - t0) / span * plot_w)

    parts = [
        f'<svg viewBox="0 0 {width} {height}" width="100%" style="max-width:{width}px" role="img" '
        f'aria-label="timeline {_e(result.get("pattern", ""))}">'
    ]
    for i in range(5):  # time axis
        t = span * i / 4
        parts.append(
            f'<line x1="{x(t0 + t):.1f}" y1="{top - 6}" x2="{x(t0 + t):.1f}" y2="{height - 6}" stroke="#e5e5e5"/>'
        )
        parts.append(f'<text x="{x(t0 + t):.1f}" y="{top - 9}" text-anchor="middle" fill="#777">{_e(_tick(t))}</text>')
    for row, call in enumerate(calls):
        parts.extend(_call_row(call, top + row * row_h, x, span))
    parts.append("</svg>")
    return "".join(parts)


def _heatmap(members: Sequence[Mapping[str, Any]]) -> str:
    rows = summary_rows(members)
    gaps = [g for _, g in sorted({(r["gap_s"], r["gap"]) for r in rows})]
    rtts = list(dict.fromkeys(r["rtt"] for r in sorted(rows, key=lambda r: (r["rtt_s"] is None, r["rtt_s"] or 0.0))))
    cells = {(r["rtt"], r["gap"]): r for r in rows}
    out = ['<table class="heat"><tr><th>rtt \\ gap</th>' + "".join(f"<th>{_e(g)}</th>" for g in gaps) + "</tr>"]
    for rtt in rtts:
        out.append(f"<tr><th>{_e(rtt)}</th>")
        for gap in gaps:
            row = cells.get((rtt, gap))
            if row is None:
                out.append("<td></td>")
                continue
            bg = VERDICT_BG.get(row["verdict"], "#fff")
            out.append(
                f'<td style="background:{bg}" title="{_e(row["verdict"])} {_e(row["detail"])}">'
                f'<span class="pattern">{_e(row["pattern"])}</span></td>'
            )
        out.append("</tr>")
    out.append("</table>")
    return "".join(out)


def render_html(
    results: Sequence[Mapping[str, Any]],
    *,
    seed: int,
    settings: Mapping[str, Any],
    windows: Sequence[Mapping[str, Any]] = (),
    defaults: Mapping[str, Any] | None = None,
) -> str:
    groups: dict[str, list[Mapping[str, Any]]] = {}
    for result in results:
        groups.setdefault(group_name(result.get("node_id")), []).append(result)
    body = [
        '<!DOCTYPE html><html lang="en"><head><meta charset="utf-8">',
        f"<title>replyrace report (seed {seed})</title><style>{CSS}</style></head><body>",
        "<h1>pytest-replyrace report</h1>",
        f'<div class="meta">pytest-replyrace {_e(__version__)} · seed <code>{seed}</code> · '
        + _settings_meta(settings, defaults or {})
        + "</div>",
        _legend(),
    ]
    if not results:
        body.append("<p>No race test ran.</p>")
    for group, members in groups.items():
        body.append(f"<h2>{_e(group)}</h2>")
        for window in windows:
            if group_name(window.get("node_id")) == group:
                body.append(f"<p><strong>window:</strong> {_e(window.get('statement', ''))}</p>")
        body.append(_heatmap(members))
        ordered = sorted(members, key=lambda m: (m.get("rtt") is None, m.get("rtt") or 0.0, m.get("gap") or 0.0))
        for result in ordered:
            rtt = "-" if result.get("rtt") is None else format_duration(result["rtt"])
            body.append(
                f"<h3>rtt={_e(rtt)} gap={_e(format_duration(result.get('gap') or 0.0))} "
                f"send_at={_e(result.get('send_at', 'end'))} busy_policy={_e(result.get('busy_policy', 'queue'))}"
                f"{_e(_stop_settings(result.get('settings') or {}))} · "
                f'<span class="pattern">{_e(result.get("pattern", ""))}</span> · {_e(result.get("verdict", ""))}'
                f"{(' (' + _e(result.get('shape')) + ')') if result.get('verdict') != 'clean' else ''}"
                f"{_xfail_note(result)}</h3>"
            )
            body.append(_timeline_svg(result))
            body.extend(_log_block(result))
            if result.get("replay"):
                body.append(f'<div class="meta">replay: <code>{_e(result["replay"])}</code></div>')
    body.append("</body></html>")
    return "\n".join(body)


def _settings_meta(settings: Mapping[str, Any], defaults: Mapping[str, Any]) -> str:
    """The settings that differ from their defaults, then the rest folded in a ``<details>``."""

    def pairs(items: Sequence[tuple[str, Any]]) -> str:
        return " · ".join(f"{_e(k)}=<code>{_e(v)}</code>" for k, v in items) or "all at their defaults"

    shown = [(k, v) for k, v in settings.items() if v not in (None, "", "None")]
    changed = [(k, v) for k, v in shown if k not in defaults or defaults[k] != v]
    rest = [(k, v) for k, v in shown if (k, v) not in changed]
    folded = (
        f"<details><summary>{len(rest)} settings at their defaults</summary>{pairs(rest)}</details>" if rest else ""
    )
    return pairs(changed) + folded


def _xfail_note(result: Mapping[str, Any]) -> str:
    reason = result.get("xfail")
    if reason is None:
        return ""
    return f' · <span class="xfail">xfail{": " + _e(reason) if reason else ""}</span>'


def _log_block(result: Mapping[str, Any]) -> list[str]:
    """The matched log lines, bounded and quoted as in the failure message, with the count of the rest."""
    logs = result.get("log_matches", [])[:MATCH_LIMIT]
    more = int(result.get("log_matches_more") or 0) + max(0, len(result.get("log_matches", [])) - MATCH_LIMIT)
    if not logs:
        return []
    lines = [
        f"L{m['lineno']}{' (after the last reply)' if m.get('late') else ''}: {quote_line(str(m['line']))}"
        for m in logs
    ]
    if more:
        lines.append(f"… and {more:,} more")
    text = "\n".join(lines)
    return [f'<pre class="log">{_e(text)}</pre>']


def write_html_report(
    path: str | Path,
    results: Sequence[Mapping[str, Any]],
    *,
    seed: int,
    settings: Mapping[str, Any],
    windows: Sequence[Mapping[str, Any]] = (),
    defaults: Mapping[str, Any] | None = None,
) -> Path:
    """``defaults``: each setting's default value as text; the header shows the others first, these folded."""
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.with_name(target.name + ".tmp")
    page = render_html(results, seed=seed, settings=settings, windows=windows, defaults=defaults)
    tmp.write_text(page, encoding="utf-8")
    tmp.replace(target)
    return target
