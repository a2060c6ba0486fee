"""A real archive for the tests: Debian's Orthanc started on loopback with its own config,
ports and storage in a temporary folder, and a small client for its REST API."""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any


def orthanc_binary() -> str | None:
    """Debian installs the server as /usr/sbin/Orthanc (not on every user's PATH)."""
    found = shutil.which("Orthanc")
    if found:
        return found
    return "/usr/sbin/Orthanc" if os.access("/usr/sbin/Orthanc", os.X_OK) else None


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Orthanc:
    """``Orthanc CONFIG`` as a child process; stop it with :meth:`stop`."""

    def __init__(self, binary: str, root: Path, ae_title: str = "ARCHIVE") -> None:
        self.ae_title = ae_title
        self.http_port, self.dicom_port = _free_port(), _free_port()
        self.root = root
        config = {
            "Name": "backscatter-test",
            "StorageDirectory": str(root / "storage"),
            "IndexDirectory": str(root / "index"),
            "HttpPort": self.http_port,
            "DicomPort": self.dicom_port,
            "DicomAet": ae_title,
            "RemoteAccessAllowed": False,
            "AuthenticationEnabled": False,
            "DicomCheckCalledAet": True,
            "DicomAlwaysAllowStore": True,
            "DicomAlwaysAllowEcho": True,
            "UnknownSopClassAccepted": True,  # the DICOS classes are not in its dictionary
            "Plugins": [],
            "StableAge": 1,
            "HttpTimeout": 10,
        }
        root.mkdir(parents=True, exist_ok=True)
        (root / "orthanc.json").write_text(json.dumps(config, indent=1))
        self.log = open(root / "orthanc.log", "wb")  # noqa: SIM115 (closed in stop)
        self.proc = subprocess.Popen(
            [binary, str(root / "orthanc.json")],
            stdout=self.log,
            stderr=subprocess.STDOUT,
            cwd=root,
        )
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"Orthanc exited: {self.log_text()[-2000:]}")
            try:
                self.get("/system")
                return
            except (OSError, urllib.error.URLError):
                time.sleep(0.2)
        self.stop()
        raise RuntimeError(f"Orthanc did not answer on {self.http_port}: {self.log_text()[-2000:]}")

    def log_text(self) -> str:
        return (self.root / "orthanc.log").read_text(errors="replace")

    def _url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.http_port}{path}"

    def get(self, path: str) -> Any:
        with urllib.request.urlopen(self._url(path), timeout=10) as rsp:
            return json.loads(rsp.read())

    def post(self, path: str, body: str) -> Any:
        req = urllib.request.Request(self._url(path), data=body.encode(), method="POST")
        with urllib.request.urlopen(req, timeout=10) as rsp:
            return json.loads(rsp.read())

    def instance(self, sop_instance_uid: str) -> str | None:
        """Orthanc's id of the instance with this SOP Instance UID, or None."""
        found = self.post("/tools/lookup", sop_instance_uid)
        ids = [f["ID"] for f in found if f.get("Type") == "Instance"]
        return ids[0] if ids else None

    def place(self, instance_id: str) -> tuple[str, str, str]:
        """``(patient, study, series)`` Orthanc ids an instance is filed under."""
        series = self.get(f"/instances/{instance_id}")["ParentSeries"]
        study = self.get(f"/series/{series}")["ParentStudy"]
        patient = self.get(f"/studies/{study}")["ParentPatient"]
        return patient, study, series

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=10)
        self.log.close()
