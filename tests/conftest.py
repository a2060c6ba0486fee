"""Session-wide: one line at the end of the run saying what was skipped and why.

Skips are grouped by what was missing (the Debian packages `make deps` installs, a GPU, the
shared DICOS samples...), so a run that passes without them does not pass silently.
"""

from __future__ import annotations

import collections
import re
from collections.abc import Iterator

import pytest

#: (pattern in a skip reason, what to call it), first match wins
GROUPS: tuple[tuple[str, str], ...] = (
    (
        r"Xvfb|xdotool|xwd|convert|DISPLAY|x11",
        "no X display tools (xvfb, xdotool, x11-apps, imagemagick)",
    ),
    (
        r"dcmtk|storescu|echoscu|findscu|dcmcjpeg|dcmdump|dciodvfy|dicom3tools",
        "no dcmtk / dicom3tools",
    ),
    (r"chromium", "no chromium"),
    (r"openssl", "no openssl"),
    (r"GPU|gpu|CUDA|TensorRT", "no GPU"),
    (r"shared DICOS samples", "no shared DICOS samples"),
    (r"ray|cluster", "no Ray (extra 'cluster')"),
)
DEPS_HINT = "`make deps` installs the Debian packages"


def _group(reason: str) -> str:
    for pattern, name in GROUPS:
        if re.search(pattern, reason):
            return name
    return reason.removeprefix("Skipped: ").strip()


@pytest.hookimpl(hookwrapper=True, tryfirst=True)
def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> Iterator[None]:
    yield  # after pytest's own summaries: this is the line just before the totals
    skipped = terminalreporter.stats.get("skipped", [])
    if not skipped:
        return
    counts: collections.Counter[str] = collections.Counter()
    for report in skipped:
        longrepr = report.longrepr
        reason = longrepr[2] if isinstance(longrepr, tuple) else str(longrepr)
        counts[_group(str(reason))] += 1
    parts = ", ".join(f"{n} {name}" for name, n in counts.most_common())
    hint = (
        f" ({DEPS_HINT})"
        if any(
            name.startswith(("no X", "no dcmtk", "no chromium", "no openssl")) for name in counts
        )
        else ""
    )
    terminalreporter.write_line(f"SKIP SUMMARY: {len(skipped)} skipped: {parts}{hint}")
