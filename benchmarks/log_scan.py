"""Peak memory and time of the gateway log scan on a big log, before and after the bounded stream.

    python benchmarks/log_scan.py [--mb 600] [--dir /tmp]

Writes a log of ``--mb`` MB into a temp dir (short ``Traceback`` lines, whole
Python tracebacks and ordinary gateway lines), then in a fresh child process
per variant scans it and prints the peak RSS (VmHWM), its growth over the
child's RSS before the scan, and the time; then deletes the file.

``before`` is the algorithm of commit a3f2ac8 (``LogReader._read``/``matches``/
``tail``/``contains``), copied below: it reads the whole file, decodes it,
splits it and keeps every match. ``after`` is :class:`LogReader` of this
checkout. Each child's address space is capped (``--cap-gb``) so the old
algorithm cannot take the machine down: a MemoryError is printed as such.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from pytest_replyrace.gateway.log import DEFAULT_LOG_PATTERNS, LogReader
from pytest_replyrace.records import LogMatch

BLOCK = (
    "12:00:01 chat.send #41 session=agent:test:race-x run=5d0f reply in 412ms\n"
    "Traceback\n"
    "12:00:01 provider answered 200 in 398ms\n"
    "Traceback\n"
    "Traceback (most recent call last):\n"
    '  File "gw.py", line 7, in turn\n'
    "ValueError: boom\n"
    "Traceback\n"
)


# --- before: commit a3f2ac8's algorithm, verbatim but for the class ---------------------------------


def _before_read(path: Path, since: int = 0) -> tuple[int, str]:
    with open(path, "rb") as handle:
        head = handle.read(since) if since else b""
        body = handle.read()
    return head.count(b"\n"), body.decode("utf-8", "replace")


def before_matches(path: Path) -> list[LogMatch]:
    patterns = [(p, re.compile(p)) for p in DEFAULT_LOG_PATTERNS]
    lines_before, text = _before_read(path)
    found = []
    for i, line in enumerate(text.splitlines(), start=lines_before + 1):
        pattern = next((p for p, regex in patterns if regex.search(line)), None)
        if pattern is not None:
            found.append(LogMatch(pattern=pattern, line=line, lineno=i))
    return found


def before_tail(path: Path) -> list[str]:
    return _before_read(path)[1].splitlines()[-30:]


def before_contains(path: Path, regex: re.Pattern[str]) -> bool:
    return any(regex.search(line) for line in _before_read(path)[1].splitlines())


# --- measuring, in a child process per variant --------------------------------------------------------


def _status_kb(field: str) -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss


def child(variant: str, operation: str, path: Path, cap_gb: float) -> dict[str, object]:
    cap = int(cap_gb * (1 << 30))
    resource.setrlimit(resource.RLIMIT_AS, (cap, cap))
    ready = re.compile("never printed: ready on")
    reader = LogReader(path, DEFAULT_LOG_PATTERNS)
    runs = {
        ("before", "matches"): lambda: f"{len(before_matches(path)):,} kept",
        ("before", "tail"): lambda: f"{len(before_tail(path))} lines",
        ("before", "contains x2"): lambda: str([before_contains(path, ready) for _ in range(2)]),
        ("after", "matches"): lambda: (lambda s: f"{len(s.matches)} kept + {s.more:,} counted")(reader.matches(0)),
        ("after", "tail"): lambda: f"{len(reader.tail(30))} lines",
        ("after", "contains x2"): lambda: str([reader.contains(ready) for _ in range(2)]),
    }
    rss_before = _status_kb("VmRSS")
    start = time.perf_counter()
    try:
        outcome = runs[(variant, operation)]()
    except MemoryError:
        outcome = f"MemoryError at the {cap_gb:g} GB address-space cap"
    seconds = time.perf_counter() - start
    peak = _status_kb("VmHWM")
    return {
        "variant": variant,
        "operation": operation,
        "seconds": seconds,
        "peak_mb": peak / 1024,
        "growth_mb": (peak - rss_before) / 1024,
        "outcome": outcome,
    }


def write_log(path: Path, megabytes: int) -> int:
    block = (BLOCK * ((1 << 20) // len(BLOCK))).encode()
    with open(path, "wb") as handle:
        while handle.tell() < megabytes << 20:
            handle.write(block)
        return handle.tell()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mb", type=int, default=600)
    parser.add_argument("--dir", default=None, help="where the temp dir goes (default: the system's)")
    parser.add_argument("--cap-gb", type=float, default=8.0, help="address-space cap of each child")
    parser.add_argument("--child", nargs=3, metavar=("VARIANT", "OPERATION", "PATH"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        variant, operation, path = args.child
        print(json.dumps(child(variant, operation, Path(path), args.cap_gb)))
        return 0
    folder = Path(tempfile.mkdtemp(prefix="replyrace-logscan-", dir=args.dir))
    try:
        log = folder / "gateway.log"
        size = write_log(log, args.mb)
        lines = size // len(BLOCK.encode()) * BLOCK.count("\n")
        print(
            f"log: {size / (1 << 20):,.0f} MB, {lines:,} lines, "
            f"{size // len(BLOCK.encode()) * BLOCK.count('Traceback'):,} Traceback lines"
        )
        print(f"{'variant':<7} {'operation':<12} {'time':>8} {'peak RSS':>10} {'growth':>10}  result")
        for variant in ("before", "after"):
            for operation in ("matches", "tail", "contains x2"):
                done = subprocess.run(
                    [sys.executable, __file__, "--cap-gb", str(args.cap_gb), "--child", variant, operation, str(log)],
                    capture_output=True,
                    text=True,
                    timeout=1800,
                    env={**os.environ},
                )
                if done.returncode != 0:
                    print(f"{variant:<7} {operation:<12} failed: {done.stderr.strip().splitlines()[-1:]}")
                    continue
                r = json.loads(done.stdout)
                print(
                    f"{variant:<7} {operation:<12} {r['seconds']:>7.2f}s {r['peak_mb']:>8,.0f}MB "
                    f"{r['growth_mb']:>8,.0f}MB  {r['outcome']}"
                )
    finally:
        shutil.rmtree(folder, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
