"""Soak figures: many sequential calls on one gateway, checked call by call, with memory.

    python benchmarks/soak.py [--calls 1000] [--runs 10] [--rtt 50ms]

Run the way a user runs the plugin: the script writes a test file and a
pytest.ini into a temp directory and runs `python -m pytest -p pytest_replyrace`
in a subprocess against the example project's toy gateway in `fixed` mode, at
the given provider RTT and gap 0. The calls are split into `--runs` sequential
runs (one test each, in file order) on one session key and one gateway process.
After every run the test appends to a JSON-lines file: each call's token,
reply, times and letter, the provider's raw journal, and the resident memory
(VmRSS) of the pytest process and of the gateway's process group. The first run
is the warm-up: memory "start" is measured after it, "end" after the last run.

Ground truth is checked here, not taken from the plugin: a call is a real reply
when its reply carries its own token and the provider journal shows that token
served (2xx, no fault, ended_at) before the reply arrived. A call whose letter
disagrees with that is misclassified; calls that are not `p` are counted too
(in `fixed` mode there should be none). PASS: zero misclassified calls and both
RSS figures within 10 % from start to end; anything else odd is a note.
Loopback only; every loop and the subprocess are bounded in count and time.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import re
import signal
import subprocess
import sys
import tempfile
import textwrap
import time
from collections import Counter
from pathlib import Path
from typing import Any

from pytest_replyrace.units import format_duration, parse_duration

EXAMPLE = Path(__file__).resolve().parent.parent / "example_project"
RSS_LIMIT = 0.10  # flat within 10 %
MIN_RTT, MAX_RTT = 0.001, 10.0
MAX_RUN_CALLS = 10_000  # the driver's bound for one run
CALL_TIMEOUT = 20.0
SESSION_KEY = "agent:test:soak"

INI = """\
[pytest]
asyncio_default_fixture_loop_scope = function
filterwarnings = error
timeout = {test_timeout}
replyrace_gateway_cmd = {{python}} -m toy_gateway --port {{port}} --provider-url {{provider_url}} --mode fixed
replyrace_ready = http:/readyz
replyrace_ready_timeout = 30
replyrace_call_timeout = {call_timeout}
"""

TEST = '''\
"""Soak: {calls} sequential calls in {runs} runs on one session of one toy gateway (fixed mode)."""

import json
import os
import time

import pytest

SIZES = {sizes!r}
OUT = {out!r}


def rss_kib(pid):
    with open(f"/proc/{{pid}}/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


def group_rss_kib(pgid):
    """VmRSS summed over every process in the group (the gateway and any children it started)."""
    total, pids = 0, []
    for name in os.listdir("/proc"):
        if not name.isdigit():
            continue
        try:
            with open(f"/proc/{{name}}/stat") as stat:
                fields = stat.read().rsplit(")", 1)[1].split()
            if int(fields[2]) != pgid:  # state, ppid, pgrp
                continue
            total += rss_kib(int(name))
            pids.append(int(name))
        except (OSError, IndexError, ValueError):
            continue  # gone meanwhile, or a kernel thread
    return total, sorted(pids)


@pytest.mark.replyrace(gap=0, session_key={session_key!r})
@pytest.mark.parametrize("run", range(len(SIZES)), ids=[f"run{{i + 1:03d}}" for i in range(len(SIZES))])
def test_soak(run, sequential_sender, fake_provider, gateway, replyrace_seed):
    start = time.monotonic()
    result = sequential_sender.run(calls=SIZES[run])
    seconds = time.monotonic() - start
    gateway_kib, gateway_pids = group_rss_kib(gateway.pid)
    record = {{
        "run": run, "seconds": seconds, "seed": replyrace_seed, "rtt": result.rtt, "gap": result.gap,
        "session_key": result.session_key, "gateway_pid": gateway.pid, "gateway_pids": gateway_pids,
        "pytest_rss_kib": rss_kib(os.getpid()), "gateway_rss_kib": gateway_kib,
        "calls": [{{"index": c.index, "token": c.token, "sent_at": c.sent_at, "replied_at": c.replied_at,
                   "reply": c.reply, "error": c.error, "timed_out": c.timed_out,
                   "transport_error": c.transport_error, "letter": c.letter}} for c in result.calls],
        "journal": [{{"tokens": e.tokens, "arrived_at": e.arrived_at, "ended_at": e.ended_at,
                     "status": e.status, "fault": e.fault, "error": e.error}} for e in fake_provider.journal],
    }}
    with open(OUT, "a") as out:
        out.write(json.dumps(record) + "\\n")
    result.assert_clean()
'''


def own_token_in(token: str, text: str | None) -> bool:
    """The exact token, not a longer one (rr-x-1 is a prefix of rr-x-10)."""
    return bool(text) and re.search(rf"(?<![0-9A-Za-z-]){re.escape(token)}(?![0-9A-Za-z])", text) is not None


def really_replied(call: dict[str, Any], journal: list[dict[str, Any]]) -> bool:
    """Ground truth for one call, from its reply and the provider's raw journal."""
    replied = call["replied_at"]
    if call["timed_out"] or call["transport_error"] or replied is None:
        return False
    if not own_token_in(call["token"], call["reply"]):
        return False
    return any(
        call["token"] in e["tokens"]
        and e["ended_at"] is not None
        and e["ended_at"] <= replied
        and 200 <= e["status"] < 300
        and e["fault"] is None
        and e["error"] is None
        for e in journal
    )


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q / 100 * (len(ordered) - 1)))]


def change(start: int, end: int) -> float:
    return (end - start) / start if start else math.inf


def run_size_list(calls: int, runs: int) -> list[int]:
    return [calls // runs + (1 if i < calls % runs else 0) for i in range(runs)]


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--calls", default="1000", help="sequential calls in all (default 1000)")
    parser.add_argument(
        "--runs",
        default="10",
        help="runs (one test each) the calls are split into; the first is the warm-up (default 10)",
    )
    parser.add_argument("--rtt", default="50ms", help="provider RTT, e.g. 50ms or 0.05 (default 50ms)")
    args = parser.parse_args(argv)
    for name in ("calls", "runs"):
        text = getattr(args, name)
        try:
            setattr(args, name, int(text))
        except ValueError:
            parser.error(f"--{name}: {text!r} is not an integer")
    if not 2 <= args.calls <= 100_000:
        parser.error(f"--calls: {args.calls!r} is out of range; expected an integer from 2 to 100000")
    if not 2 <= args.runs <= min(1000, args.calls):
        parser.error(
            f"--runs: {args.runs!r} is out of range; expected an integer from 2 to "
            f"{min(1000, args.calls)} (at most --calls, since every run sends at least one call)"
        )
    if math.ceil(args.calls / args.runs) > MAX_RUN_CALLS:
        parser.error(
            f"--calls {args.calls} in --runs {args.runs} gives runs of more than {MAX_RUN_CALLS} calls; raise --runs"
        )
    try:
        args.rtt = parse_duration(args.rtt, what="--rtt", allow_zero=False)
    except ValueError as exc:
        parser.error(str(exc))
    if not MIN_RTT <= args.rtt <= MAX_RTT:
        parser.error(
            f"--rtt: {format_duration(args.rtt)} is out of range; expected {format_duration(MIN_RTT)} "
            f"to {format_duration(MAX_RTT)}"
        )
    return args


def run_pytest(work: Path, args: argparse.Namespace, sizes: list[int], out: Path) -> tuple[int, str, float]:
    per_call = args.rtt + 2.0  # generous: a `fixed` call at 50 ms takes about a quarter of a second
    test_timeout = int(60 + max(sizes) * per_call)
    (work / "pytest.ini").write_text(INI.format(test_timeout=test_timeout, call_timeout=CALL_TIMEOUT))
    (work / "test_soak.py").write_text(
        TEST.format(calls=args.calls, runs=args.runs, sizes=sizes, out=str(out), session_key=SESSION_KEY)
    )
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(EXAMPLE), env.get("PYTHONPATH", "")) if p)
    command = [
        sys.executable,
        "-m",
        "pytest",
        "-p",
        "no:cacheprovider",
        "-p",
        "pytest_replyrace",
        f"--rootdir={work}",
        "-c",
        str(work / "pytest.ini"),
        str(work / "test_soak.py"),
        "-q",
        f"--replyrace-rtt={args.rtt * 1000:.3f}ms",
        "--replyrace-gap=0",
        "--replyrace-shrink=0",
    ]
    limit = 120 + args.calls * per_call
    start = time.monotonic()
    process = subprocess.Popen(
        command,
        cwd=work,
        env=env,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        output, _ = process.communicate(timeout=limit)
    except subprocess.TimeoutExpired:
        # Ctrl-C first, so pytest tears down and stops its gateway; then the pytest process we started, by pid.
        process.send_signal(signal.SIGINT)
        try:
            output, _ = process.communicate(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
            output, _ = process.communicate(timeout=30)
        output = (output or "") + f"\nsoak: pytest did not finish within {limit:.0f} s and was interrupted\n"
    return process.returncode, output or "", time.monotonic() - start


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    sizes = run_size_list(args.calls, args.runs)
    with tempfile.TemporaryDirectory(prefix="replyrace-soak-") as tmp:
        work = Path(tmp)
        out = work / "soak.jsonl"
        returncode, output, wall = run_pytest(work, args, sizes, out)
        records = [json.loads(line) for line in out.read_text().splitlines()] if out.exists() else []

    print(
        f"soak: {args.calls} sequential calls in {args.runs} runs ({sizes[0]} calls each"
        f"{'' if len(set(sizes)) == 1 else ' or fewer'}), toy gateway mode fixed, rtt "
        f"{format_duration(args.rtt)}, gap 0, one session ({SESSION_KEY})"
    )
    last_line = next((line for line in reversed(output.splitlines()) if line.strip()), "(no output)")
    print(f"  pytest: exit {returncode}: {last_line.strip('= ')}")
    if len(records) != args.runs:
        print(f"  only {len(records)} of {args.runs} runs recorded; pytest output tail:")
        print(textwrap.indent("\n".join(output.splitlines()[-40:]), "    "))
        print("FAIL: the soak did not complete")
        return 1

    calls = [(call, record["journal"]) for record in records for call in record["calls"]]
    letters = Counter(call["letter"] for call, _ in calls)
    truth = [really_replied(call, journal) for call, journal in calls]
    misclassified = sum((call["letter"] == "p") != real for (call, _), real in zip(calls, truth))
    not_p = sum(count for letter, count in letters.items() if letter != "p")
    requests = sum(len(record["journal"]) for record in records)
    sending = sum(record["seconds"] for record in records)
    latencies = [c["replied_at"] - c["sent_at"] for c, _ in calls if c["replied_at"] is not None]
    served = [e["ended_at"] - e["arrived_at"] for r in records for e in r["journal"] if e["ended_at"] is not None]
    gateway_pids = {record["gateway_pid"] for record in records}
    group_sizes = {len(record["gateway_pids"]) for record in records}

    print(f"  calls: {len(calls)}; provider requests: {requests}; seed {records[0]['seed']}")
    print(
        f"  wall time: {wall:.1f} s for the pytest subprocess, {sending:.1f} s sending; "
        f"{len(calls) / sending:.2f} calls/s"
    )
    if latencies:
        print(
            f"  latency p50 {pct(latencies, 50) * 1000:.0f} ms, p99 {pct(latencies, 99) * 1000:.0f} ms, "
            f"max {max(latencies) * 1000:.0f} ms; provider served p50 "
            f"{(pct(served, 50) * 1000 if served else float('nan')):.1f} ms"
        )
    print(
        "  letters: "
        + ", ".join(f"{letter}={letters.get(letter, 0)}" for letter in "pfwle")
        + "".join(f", {letter}={n}" for letter, n in letters.items() if letter not in "pfwle")
    )
    print(f"  ground truth (own token in the reply and served before it): {sum(truth)} real replies")
    print(f"  misclassified: {misclassified}; non-p calls: {not_p}")
    rss = {}
    for who, key in (("pytest", "pytest_rss_kib"), ("gateway", "gateway_rss_kib")):
        start, end, peak = records[0][key], records[-1][key], max(r[key] for r in records)
        rss[who] = change(start, end)
        print(
            f"  RSS {who:<7}: start {start / 1024:.1f} MiB (after run 1), end {end / 1024:.1f} MiB, "
            f"change {rss[who] * 100:+.1f} %, peak {peak / 1024:.1f} MiB"
        )
    print(
        f"  gateway: pid {', '.join(map(str, sorted(gateway_pids)))}, "
        f"{'/'.join(map(str, sorted(group_sizes)))} process(es) in its group"
    )

    notes = []
    if not_p:
        notes.append(f"{not_p} calls were not real replies in `fixed` mode")
    if len(gateway_pids) != 1:
        notes.append(f"{len(gateway_pids)} gateway processes (restarted?)")
    if returncode != 0:
        notes.append(f"pytest exited {returncode}")
    for note in notes:
        print(f"  note: {note}")
    problems = [f"{misclassified} misclassified"] if misclassified else []
    problems += [f"{who} RSS changed {delta * 100:+.1f} %" for who, delta in rss.items() if abs(delta) > RSS_LIMIT]
    verdict = "PASS" if not problems else "FAIL"
    print(
        f"{verdict}: zero misclassified and both RSS within {RSS_LIMIT * 100:.0f} %"
        + (f" ({'; '.join(problems)})" if problems else "")
    )
    print(f"python {sys.version.split()[0]}; single-run figures")
    return 0 if not problems else 1


if __name__ == "__main__":
    sys.exit(main())
