"""Real processes under test: ``backscatter serve`` / ``detect`` started as the CLI, probed
through ``/proc`` (resident memory, open files), and well-formed DICOM peers (pynetdicom)."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[3]
VERIFICATION = "1.2.840.10008.1.1"
EXPLICIT = "1.2.840.10008.1.2.1"


def rss_kb(pid: int) -> int:
    """Resident set size (VmRSS) of ``pid`` in KiB."""
    with open(f"/proc/{pid}/status") as fh:
        for line in fh:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    raise OSError(f"/proc/{pid}/status: no VmRSS")


def fd_count(pid: int) -> int:
    """Open file descriptors (sockets included) of ``pid``."""
    return len(os.listdir(f"/proc/{pid}/fd"))


def cli_env() -> dict[str, str]:
    return {**os.environ, "PYTHONUNBUFFERED": "1", "OMP_NUM_THREADS": "1"}


class Serve:
    """``backscatter serve --host 127.0.0.1 --port 0 --out OUT ...`` as a child process."""

    def __init__(self, out: Path, *extra: str, timeout: float = 90.0) -> None:
        self.out = out
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "backscatter", "serve", "--host", "127.0.0.1", "--port", "0"]
            + ["--out", str(out), *extra],
            stderr=subprocess.PIPE,
            stdout=subprocess.DEVNULL,
            text=True,
            env=cli_env(),
            cwd=REPO,
        )
        self.lines: list[str] = []
        self.port = 0
        found = threading.Event()
        assert self.proc.stderr is not None
        stream = self.proc.stderr

        def drain() -> None:  # keep reading so the child never blocks on a full pipe
            for line in stream:
                self.lines.append(line)
                m = re.search(r"listening on 127\.0\.0\.1:(\d+)", line)
                if m and not self.port:
                    self.port = int(m.group(1))
                    found.set()
            found.set()

        self._reader = threading.Thread(target=drain, daemon=True)
        self._reader.start()
        if not found.wait(timeout) or not self.port:
            self.kill()
            raise AssertionError("serve did not start:\n" + "".join(self.lines))

    @property
    def pid(self) -> int:
        return self.proc.pid

    def alive(self) -> bool:
        return self.proc.poll() is None

    def kill(self) -> None:
        if self.proc.poll() is None:
            os.kill(self.proc.pid, signal.SIGKILL)
        self.proc.wait(timeout=30)
        self._reader.join(timeout=10)

    def stop(self) -> int:
        """SIGTERM (clean stop), returns the exit status."""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        try:
            code = self.proc.wait(timeout=60)
        except subprocess.TimeoutExpired:
            self.kill()
            code = -9
        self._reader.join(timeout=10)
        return code

    def log(self) -> str:
        return "".join(self.lines)


def _ae() -> Any:
    from pynetdicom import AE

    ae = AE(ae_title="RELIABLE")
    ae.acse_timeout = ae.dimse_timeout = ae.network_timeout = 15
    return ae


def echo(port: int) -> int | None:
    """C-ECHO status from the server, or None when no association was made."""
    ae = _ae()
    ae.add_requested_context(VERIFICATION)
    assoc = ae.associate("127.0.0.1", port, ae_title="BACKSCATTER")
    if not assoc.is_established:
        return None
    try:
        status = assoc.send_c_echo()
        return int(status.Status) if "Status" in status else None
    finally:
        assoc.release()


def store(port: int, datasets: list[Any], *, on_ack: Any = None) -> list[int | None]:
    """C-STORE each dataset over one association; statuses in order (None: no answer).

    ``on_ack(ds)`` is called right after a success status arrives (the peer's acknowledgement).
    """
    ae = _ae()
    for uid in sorted({str(ds.SOPClassUID) for ds in datasets}):
        ae.add_requested_context(uid, EXPLICIT)
    assoc = ae.associate("127.0.0.1", port, ae_title="BACKSCATTER")
    if not assoc.is_established:
        return [None] * len(datasets)
    out: list[int | None] = []
    try:
        for ds in datasets:
            if not assoc.is_established:
                out.append(None)
                continue
            status = assoc.send_c_store(ds)
            code = int(status.Status) if "Status" in status else None
            out.append(code)
            if code == 0 and on_ack is not None:
                on_ack(ds)
    finally:
        if assoc.is_established:
            assoc.release()
    return out


def files_under(root: Path) -> set[str]:
    return {str(p.relative_to(root)) for p in root.rglob("*") if p.is_file()}


def wait_for(predicate: Any, timeout: float, step: float = 0.1) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(step)
    return bool(predicate())


def start_detect(inputs: list[str], out: Path, *extra: str) -> subprocess.Popen[bytes]:
    """``backscatter detect INPUTS --out OUT --provider cpu ...`` as a child process."""
    return subprocess.Popen(
        [sys.executable, "-m", "backscatter", "detect", *inputs, "--out", str(out)]
        + ["--provider", "cpu", "--threads", "1", *extra],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        env=cli_env(),
        cwd=REPO,
    )


def count_lines(path: Path) -> int:
    try:
        return path.read_bytes().count(b"\n")
    except FileNotFoundError:
        return 0
