"""Make docs/report.png from a real run: the example project's demo in its `alternating` mode, its HTML report
rendered by headless Chromium (Debian: apt-get install chromium).

    python docs/make_report_png.py

docs/06-reports.md quotes RUN, the run the picture shows; tests/test_docs_drift.py checks that it does.
"""

from __future__ import annotations

import shlex
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PICTURE = ROOT / "docs" / "report.png"
RUN = [
    "python",
    "-m",
    "pytest",
    "-p",
    "pytest_replyrace",
    "example_project",
    "-k",
    "test_race_demo and alternating",
    "--replyrace-seed",
    "1830466409",
]
"""The run, from the repository's root; the script adds the HTML report's path."""
WINDOW = "1100,1500"


def main() -> int:
    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    if chromium is None:
        print("chromium is not installed (Debian: apt-get install chromium)", file=sys.stderr)
        return 2
    with tempfile.TemporaryDirectory(prefix="replyrace-png-") as tmp:
        html = Path(tmp) / "report.html"
        command = [sys.executable, *RUN[1:], "-p", "no:cacheprovider", f"--replyrace-html={html}", "-q"]
        subprocess.run(command, cwd=ROOT, timeout=300, check=False)  # the alternating mode's runs are xfail
        if not html.is_file():
            print(f"the run wrote no HTML report: {' '.join(command)}", file=sys.stderr)
            return 1
        subprocess.run(
            [
                chromium,
                "--headless",
                "--no-sandbox",
                "--disable-gpu",
                "--hide-scrollbars",
                "--no-first-run",
                "--disable-background-networking",
                f"--user-data-dir={Path(tmp) / 'profile'}",
                f"--window-size={WINDOW}",
                f"--screenshot={PICTURE}",
                html.as_uri(),
            ],
            capture_output=True,
            timeout=120,
            check=True,
        )
    print(f"{PICTURE.relative_to(ROOT)} made from: {shlex.join(RUN)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
