"""Where screening results go: results JSONL, COCO results, DICOS TDR + DX, overlay PNGs.

Every file is written atomically (temporary file in the same folder, then ``os.replace``); the
results JSONL gets one whole line per scan, flushed and fsynced, written *after* that scan's
other outputs, so a line in it means every output it names is complete. Layout of ``OUT``::

    results.jsonl          one JSON object per scan (the contract the viewer reads)
    coco_results.json      COCO detection results (flags at or above the threshold)
    overlays/ID.png        annotated overlay with its verdict banner (backscatter.viewer.overlay)
    dicos/ID_dx.dcm        DICOS DX of a non-DICOM source
    dicos/ID_tdr.dcm       machine TDR referencing the image: one PTO per flag

The detections handed to the sinks are *flags* (:mod:`backscatter.inference.flags`: one per
object, with the other classes' scores); the ones at or above the threshold are what the alarm,
the overlay, the TDR and the COCO results show; the ones below it are kept in results.jsonl as
``candidates`` (and drawn dashed as near misses on a CLEAR overlay when close to the threshold).
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import re
import tempfile
import time
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from backscatter.detections import Detections
from backscatter.inference.models import ModelCard
from backscatter.scan import Scan

log = logging.getLogger(__name__)

RESULTS = "results.jsonl"
COCO = "coco_results.json"
#: overlay PNG encoding: no row filter, stored without deflate. On a noisy 512 x 580 BGR
#: overlay deflate costs ~9 ms of CPU at any level or strategy (zlib level 1: 8.7 ms, 330 KB;
#: OpenCV's default: 9 ms, 600 KB) against 1.2 ms stored (870 KB): more than the detector's own
#: 8.7 ms, so on a 2-core station it halved the all-outputs rate (bench/output_speed.py).
#: Any PNG reader opens these files; recompress them offline (``optipng``) to archive them.
PNG_PARAMS = [
    cv2.IMWRITE_PNG_FILTER,
    cv2.IMWRITE_PNG_FILTER_NONE,
    cv2.IMWRITE_PNG_COMPRESSION,
    0,
]
#: output kinds besides the JSONL line (which is always written)
OUTPUT_KINDS: tuple[str, ...] = ("coco", "overlay", "tdr", "dx")


class SinkUnavailable(RuntimeError):
    """An optional output's implementation is not installed/landed yet."""


def atomic_write_bytes(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` via a fsynced temporary file and ``os.replace``."""
    fd, tmp = tempfile.mkstemp(prefix=".", suffix=".part", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def safe_name(scan_id: str) -> str:
    """A file-name stem from a scan id: ``[A-Za-z0-9._-]`` only, never a path."""
    name = re.sub(r"[^A-Za-z0-9._-]+", "_", scan_id).strip("._") or "scan"
    return name[:120]


def alarm_for(detections: Detections, threshold: float) -> str:
    return "ALARM" if bool(np.any(detections.scores >= threshold)) else "CLEAR"


def make_record(
    *,
    input: str,
    source: str,
    source_sha256: str | None,
    scan: Scan,
    detections: Detections,
    threshold: float,
    model_id: str,
    provider: str,
    timings_ms: dict[str, float],
    outputs: dict[str, str | None],
    scan_id: str | None = None,
) -> dict[str, Any]:
    """One results-JSONL object (the contract in the common brief).

    ``input`` is what was screened (absolute path, or ``uri#k``: the resume key); ``source`` is
    a file the scan can be read from again (the input file, or for a URI scan the DICOS DX we
    wrote, relative to OUT) and ``source_sha256`` that file's sha256. ``detections`` are the
    scan's flags: ``flags`` holds those at or above ``threshold``, ``candidates`` the rest, each
    ``{"label", "class_name", "score", "box", "alternatives": {class_name: score}}``.
    """
    above = detections.scores >= threshold
    return {
        "scan_id": scan_id or scan.scan_id,
        "input": input,
        "source": source,
        "source_sha256": source_sha256,
        "rows": scan.rows,
        "columns": scan.cols,
        "flags": detections[above].to_records(),
        "candidates": detections[~above].to_records(),
        "alarm": alarm_for(detections, threshold),
        "threshold": threshold,
        "model_id": model_id,
        "provider": provider,
        "timings_ms": {k: round(float(v), 3) for k, v in timings_ms.items()},
        "outputs": outputs,
    }


class ResultsLog:
    """Append-only ``results.jsonl`` that survives Ctrl-C and kill -9.

    On open, a torn last line (no newline or not JSON) is cut off, so every remaining line is a
    whole record; :attr:`done_sources` and :attr:`done_ids` say what a resumed run can skip.
    """

    def __init__(self, out_dir: Path) -> None:
        self.path = out_dir / RESULTS
        self._lock = _lock_folder(out_dir)
        _remove_stale_temporaries(out_dir)
        self.done_sources: set[str] = set()
        self.done_ids: set[str] = set()
        self.names: dict[str, str] = {}  # output name stem -> source that owns it
        self._repair_and_load()
        self._fh = open(self.path, "ab")  # noqa: SIM115 - kept open for the run

    def _repair_and_load(self) -> None:
        if not self.path.exists():
            return
        data = self.path.read_bytes()
        good = 0
        for line in data.splitlines(keepends=True):
            if not line.endswith(b"\n"):
                break
            try:
                rec = json.loads(line)
            except ValueError:
                break
            good += len(line)
            self._remember(rec)
        if good != len(data):
            log.warning("%s: dropping a torn last line left by an interrupted run", self.path)
            with open(self.path, "r+b") as fh:
                fh.truncate(good)
                fh.flush()
                os.fsync(fh.fileno())

    def _remember(self, rec: dict[str, Any]) -> None:
        self.done_sources.add(str(rec.get("input", rec.get("source"))))
        self.done_ids.add(str(rec.get("scan_id")))
        for path in (rec.get("outputs") or {}).values():
            if path:
                self.names.setdefault(_stem(path), str(rec.get("source")))

    def is_done(self, source: str) -> bool:
        return source in self.done_sources

    def append(self, record: dict[str, Any]) -> None:
        line = (json.dumps(record, separators=(",", ":")) + "\n").encode()
        self._fh.write(line)
        self._fh.flush()
        os.fsync(self._fh.fileno())
        self._remember(record)

    def close(self) -> None:
        self._fh.close()
        self._lock.close()  # releases the flock


def _remove_stale_temporaries(out_dir: Path) -> None:
    """Delete ``.*.part`` files a killed run left behind (never complete, never renamed).

    Safe only while holding the folder lock: no other writer can own them.
    """
    for part in out_dir.rglob(".*.part"):
        with contextlib.suppress(FileNotFoundError):
            part.unlink()


def _lock_folder(out_dir: Path) -> Any:
    """Hold an exclusive advisory lock on ``OUT/.lock``: one writer per output folder."""
    import fcntl

    fh = open(out_dir / ".lock", "a")  # noqa: SIM115 - held until ResultsLog.close()
    try:
        fcntl.flock(fh.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        fh.close()
        raise OutputBusyError(out_dir, "another run is writing results here") from None
    return fh


class OutputBusyError(OSError):
    """The output folder is being written by another run."""

    def __init__(self, out_dir: Path, reason: str) -> None:
        super().__init__(f"{out_dir}: {reason}")


def _stem(rel_path: str) -> str:
    name = Path(rel_path).name
    return name.rsplit(".", 1)[0].removesuffix("_dx").removesuffix("_tdr")


def read_results(path: Path) -> list[dict[str, Any]]:
    """Whole records of a results JSONL (a torn last line is ignored)."""
    out: list[dict[str, Any]] = []
    if not path.exists():
        return out
    for line in path.read_bytes().splitlines(keepends=True):
        if not line.endswith(b"\n"):
            break
        try:
            out.append(json.loads(line))
        except ValueError:
            break
    return out


def coco_results(records: Iterable[dict[str, Any]]) -> list[dict[str, Any]]:
    """COCO detection results: ``image_id`` = 1-based line number in results.jsonl,
    ``category_id`` = class id + 1 (categories in THREAT_CLASSES order), ``bbox`` = x, y, w, h.
    ``scan_id`` is kept beside each entry so results can be matched to a ground truth by id.
    One entry per flag at or above the threshold (a record's ``flags``; ``detections`` in
    records written before the flag stage)."""
    out: list[dict[str, Any]] = []
    for image_id, rec in enumerate(records, start=1):
        flags = rec["flags"] if "flags" in rec else rec.get("detections") or []
        for d in flags:
            x0, y0, x1, y1 = d["box"]
            out.append(
                {
                    "image_id": image_id,
                    "scan_id": rec["scan_id"],
                    "category_id": int(d["label"]) + 1,
                    "bbox": [x0, y0, x1 - x0, y1 - y0],
                    "score": d["score"],
                }
            )
    return out


def write_coco(out_dir: Path) -> Path:
    path = out_dir / COCO
    data = coco_results(read_results(out_dir / RESULTS))
    atomic_write_bytes(path, json.dumps(data).encode())
    return path


class OutputWriter:
    """Writes the per-scan files (overlay PNG, DICOS DX + TDR) for the kinds asked for.

    A kind whose implementation has not landed is reported once and skipped (its output is
    ``null`` in the JSONL), so the rest still runs.
    """

    def __init__(
        self,
        out_dir: Path,
        kinds: Iterable[str],
        *,
        model_id: str,
        card: ModelCard | None = None,
        tdr_candidates: bool = False,
    ) -> None:
        """``tdr_candidates``: also write the flags below the threshold into the TDR (as
        NO_THREAT PTOs after the alarm ones); by default the TDR holds only the alarm flags."""
        self.out_dir = out_dir
        self.tdr_candidates = tdr_candidates
        self.kinds = set(kinds)
        unknown = self.kinds - set(OUTPUT_KINDS)
        if unknown:
            raise ValueError(f"outputs: expected some of {OUTPUT_KINDS}, got {sorted(unknown)}")
        self.model_id = model_id
        self.model_version = card.version if card is not None else ""
        self.model_sha256 = (card.sha256 or "") if card is not None else ""
        self.unavailable: dict[str, str] = {}
        self._probe()
        for sub, kinds_needing in (("overlays", {"overlay"}), ("dicos", {"tdr", "dx"})):
            if self.kinds & kinds_needing:
                (out_dir / sub).mkdir(parents=True, exist_ok=True)

    def _probe(self) -> None:
        import importlib

        needs = {
            "overlay": ("backscatter.viewer.overlay", "overlay_image"),
            "tdr": ("backscatter.dicos.tdr", "write_machine_tdr"),
            "dx": ("backscatter.dicos.dx", "write_dx"),
        }
        for kind, (module, attr) in needs.items():
            if kind not in self.kinds:
                continue
            try:
                ok = hasattr(importlib.import_module(module), attr)
            except ImportError:
                ok = False
            if not ok:
                self.unavailable[kind] = f"{module}.{attr} is not there yet"
                log.warning("%s output skipped: %s", kind, self.unavailable[kind])

    def enabled(self, kind: str) -> bool:
        return kind in self.kinds and kind not in self.unavailable

    def write(
        self,
        scan: Scan,
        detections: Detections,
        *,
        name: str,
        threshold: float,
        scan_id: str | None = None,
    ) -> tuple[dict[str, str | None], dict[str, float]]:
        """Write this scan's files; returns (outputs as paths relative to OUT, timings in ms).

        ``detections`` are the scan's flags at every score; ``scan_id`` is the id the overlay
        shows (default: the scan's)."""
        outputs: dict[str, str | None] = {"overlay": None, "tdr": None, "dx": None}
        timings: dict[str, float] = {}
        if self.enabled("overlay"):
            t = time.perf_counter()
            outputs["overlay"] = self._overlay(
                scan, detections, name, threshold, scan_id or scan.scan_id
            )
            timings["overlay"] = (time.perf_counter() - t) * 1000
        if self.enabled("dx") and scan.sop_class_uid is None:
            t = time.perf_counter()
            outputs["dx"] = self._dx(scan, name)
            timings["dx"] = (time.perf_counter() - t) * 1000
        if self.enabled("tdr"):
            t = time.perf_counter()
            outputs["tdr"] = self._tdr(scan, detections, name, threshold)
            timings["tdr"] = (time.perf_counter() - t) * 1000
        return outputs, timings

    def _overlay(
        self, scan: Scan, dets: Detections, name: str, threshold: float, scan_id: str
    ) -> str:
        from backscatter.viewer.overlay import overlay_image

        image = overlay_image(
            scan, dets, threshold=threshold, scan_id=scan_id, model_id=self.model_id
        )
        ok, buf = cv2.imencode(".png", image, PNG_PARAMS)
        if not ok:
            raise OSError(f"{scan.scan_id}: PNG encoding of the overlay failed")
        rel = f"overlays/{name}.png"
        atomic_write_bytes(self.out_dir / rel, buf.tobytes())
        return rel

    def _dx(self, scan: Scan, name: str) -> str | None:
        from backscatter.dicos.dx import write_dx

        rel = f"dicos/{name}_dx.dcm"
        try:
            write_dx(scan, self.out_dir / rel)
        except ValueError as exc:  # e.g. float pixels have no DX form
            log.warning("%s: no DICOS DX written: %s", scan.scan_id, exc)
            return None
        return rel

    def _tdr(self, scan: Scan, dets: Detections, name: str, threshold: float) -> str:
        from backscatter.dicos.tdr import write_machine_tdr

        rel = f"dicos/{name}_tdr.dcm"
        timings = dets.extras.get("timings_ms") or {}
        if not self.tdr_candidates:
            dets = dets[dets.scores >= threshold]
        write_machine_tdr(
            scan,
            dets,
            self.out_dir / rel,
            model_id=self.model_id,
            alarm_threshold=threshold,
            model_version=self.model_version,
            model_sha256=self.model_sha256,
            processing_time_ms=float(sum(timings.values())) if timings else None,
        )
        return rel
