"""The review queue and the officer's decisions, independent of any window (so it is testable).

A :class:`ReviewSession` walks a list of :class:`ReviewItem` (files, a ``detect`` results
directory, or scans from a live source). For each scan the officer confirms or rejects machine
flags, adds boxes the machine missed, and decides CLEAR / ALARM / INSPECT. :meth:`decide`
writes the OPERATOR TDR (carrying the audit chain's head as it stands, see
:mod:`backscatter.audit.head`) and then the audit row, durably, before it returns; the caller
shows the next scan only after that.
"""

from __future__ import annotations

import json
import logging
import os
import re
import threading
from collections.abc import Callable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path
from typing import Any

import numpy as np

from backscatter.audit import AuditLog, stamp_tdr, utc_now
from backscatter.detections import Detections
from backscatter.scan import Scan
from backscatter.viewer.state import Mark

log = logging.getLogger(__name__)

#: file suffixes a folder source lists (others, e.g. sidecars and JSON, are skipped)
SCAN_SUFFIXES = frozenset({".png", ".tif", ".tiff", ".dcm", ".dcs", ".dicos", ".raw", ".bin"})
RESULTS_NAME = "results.jsonl"


class Decision(StrEnum):
    """The officer's decision on one scan."""

    CLEAR = "CLEAR"
    ALARM = "ALARM"  # suspect
    INSPECT = "INSPECT"  # send for physical search


#: Decision -> DICOS AlarmDecision of the operator TDR
TDR_DECISION = {Decision.CLEAR: "CLEAR", Decision.ALARM: "ALARM", Decision.INSPECT: "ALARM"}

#: ``detector(scan) -> Detections``; with attributes model_id and provider when it is a Detector
DetectFn = Callable[[Scan], Detections]


@dataclass
class ReviewItem:
    """One scan in the queue and everything the officer did to it."""

    source: str
    scan: Scan | None = None
    #: the machine's flags (one per object, best first, every score; the threshold picks
    #: which are shown), see :mod:`backscatter.inference.flags`
    detections: Detections | None = None
    #: the scan id results.jsonl gave it (the image's SOP Instance UID when it has one)
    scan_id: str = ""
    model_id: str = ""
    provider: str = ""
    threshold: float = 0.5
    #: machine alarm state: "ALARM", "CLEAR", or "NO MODEL"
    machine_alarm: str = ""
    machine_tdr: Path | None = None
    #: sha256 the results file recorded for the source (checked when the scan loads)
    expected_sha256: str | None = None
    heatmap: np.ndarray | None = None
    error: str = ""
    note: str = ""
    verdicts: dict[int, bool] = field(default_factory=dict)
    marks: list[Mark] = field(default_factory=list)
    decision: Decision | None = None
    shown_at: str | None = None
    #: last audit row written for this item
    audit_seq: int | None = None

    @property
    def label(self) -> str:
        """The scan id shown, audited and used in TDR names: results.jsonl's id when the item
        came from there, else the scan's own (its SOP Instance UID for a DICOS image)."""
        if self.scan_id:
            return self.scan_id
        return self.scan.scan_id if self.scan is not None else Path(self.source).name


def items_from_results(results_dir: Path) -> list[ReviewItem]:
    """Items of a ``backscatter detect`` output directory (its ``results.jsonl``)."""
    from backscatter.inference.flags import record_flags

    path = results_dir / RESULTS_NAME
    items = []
    for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        if not line.strip():
            continue
        try:
            rec = json.loads(line)
            dets = record_flags(rec)
        except ValueError as exc:
            log.warning("%s:%d: skipped, not a results record (%s)", path, n, exc)
            continue
        src = str(rec.get("source") or rec.get("scan_id"))
        if not Path(src).exists() and (results_dir / src).exists():
            src = str(results_dir / src)
        outputs = rec.get("outputs") or {}
        tdr = outputs.get("tdr")
        items.append(
            ReviewItem(
                source=src,
                scan_id=str(rec.get("scan_id") or ""),
                detections=dets,
                model_id=str(rec.get("model_id") or ""),
                provider=str(rec.get("provider") or ""),
                threshold=float(rec.get("threshold", 0.5)),
                machine_alarm=str(rec.get("alarm") or ""),
                machine_tdr=(results_dir / tdr) if tdr else None,
                expected_sha256=rec.get("source_sha256"),
            )
        )
    return items


def expand_sources(sources: Sequence[str]) -> tuple[list[ReviewItem], list[str]]:
    """``(file items, live URIs)`` from the command line's SOURCE arguments.

    A folder holding ``results.jsonl`` is a results directory; another folder gives its scan
    files (by suffix, sorted by name). A path that does not exist raises FileNotFoundError.
    """
    from backscatter.acquisition.sources import uri_scheme

    items: list[ReviewItem] = []
    live: list[str] = []
    for src in sources:
        p = Path(src)
        if uri_scheme(src) is not None and not p.exists():
            live.append(src)
        elif p.is_dir() and (p / RESULTS_NAME).is_file():
            items.extend(items_from_results(p))
        elif p.is_dir():
            files = sorted(f for f in p.iterdir() if f.suffix.lower() in SCAN_SUFFIXES)
            items.extend(ReviewItem(source=str(f)) for f in files if f.is_file())
        elif p.is_file():
            items.append(ReviewItem(source=str(p)))
        else:
            raise FileNotFoundError(f"{src}: no such file, folder or source URI")
    return items, live


class ReviewSession:
    """The queue, the current position, and writing decisions for one signed-in officer."""

    def __init__(
        self,
        items: Sequence[ReviewItem],
        *,
        operator: str,
        audit: AuditLog,
        tdr_dir: str | os.PathLike[str] | None = None,
        detector: DetectFn | None = None,
        detector_note: str = "",
    ) -> None:
        if not operator or not operator.strip():
            raise ValueError(f"operator: expected a non-empty operator id, got {operator!r}")
        self.items: list[ReviewItem] = list(items)
        self.operator = operator.strip()
        self.audit = audit
        self.tdr_dir = Path(tdr_dir) if tdr_dir is not None else None
        self.detector = detector
        self.detector_note = detector_note
        self.index = 0
        self._lock = threading.Lock()
        self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="review-prefetch")
        self._futures: dict[int, Future[ReviewItem]] = {}

    # -- the queue -------------------------------------------------------------------------
    @property
    def current(self) -> ReviewItem | None:
        return self.items[self.index] if 0 <= self.index < len(self.items) else None

    @property
    def decided(self) -> int:
        return sum(1 for it in self.items if it.decision is not None)

    def position(self) -> str:
        return f"{self.index + 1}/{len(self.items)} ({self.decided} decided)"

    def add(self, item: ReviewItem) -> None:
        """Append a scan (from a live source) to the end of the queue."""
        with self._lock:
            self.items.append(item)

    def go(self, index: int) -> ReviewItem | None:
        """Move to ``index`` (clamped), load and detect it, prefetch the next one."""
        if not self.items:
            return None
        self.index = min(max(index, 0), len(self.items) - 1)
        item = self.prepare(self.index)
        if item.shown_at is None:
            item.shown_at = utc_now()
        if self.index + 1 < len(self.items):
            self._prefetch(self.index + 1)
        return item

    def next(self) -> ReviewItem | None:
        return self.go(self.index + 1)

    def previous(self) -> ReviewItem | None:
        return self.go(self.index - 1)

    def next_undecided(self) -> ReviewItem | None:
        """The next undecided scan after the current one (wrapping), else stay."""
        n = len(self.items)
        for k in range(1, n + 1):
            i = (self.index + k) % n
            if self.items[i].decision is None:
                return self.go(i)
        return self.go(self.index)

    def _prefetch(self, index: int) -> None:
        if index not in self._futures:
            self._futures[index] = self._pool.submit(self._prepare_item, self.items[index])

    def prepare(self, index: int) -> ReviewItem:
        """Load the scan and run detection if needed (waits for a prefetch in flight)."""
        fut = self._futures.pop(index, None)
        if fut is not None:
            return fut.result()
        return self._prepare_item(self.items[index])

    def _prepare_item(self, item: ReviewItem) -> ReviewItem:
        if item.scan is None and not item.error:
            from backscatter.acquisition.sources import uri_scheme

            if uri_scheme(item.source) is not None and not Path(item.source).exists():
                # a live scan in a results file: reopening the URI would give another scan
                item.error = f"{item.source}: live scan not stored (run detect with the dx output)"
                return item
            try:
                from backscatter.acquisition.open import open_scan

                item.scan = open_scan(item.source)
            except (ValueError, OSError) as exc:
                item.error = str(exc)
                return item
            sha = item.scan.source_sha256
            if item.expected_sha256 and sha and sha != item.expected_sha256:
                item.note = "WARNING: file changed since detection"
        if item.scan is not None and item.detections is None:
            self._detect(item, item.scan)
        return item

    def _detect(self, item: ReviewItem, scan: Scan) -> None:
        if self.detector is None:
            item.detections = Detections.empty()
            item.machine_alarm = "NO MODEL"
            return
        from backscatter.inference.flags import to_flags

        try:
            dets = to_flags(self.detector(scan))
        except (ValueError, OSError, RuntimeError) as exc:
            item.detections = Detections.empty()
            item.machine_alarm = "NO MODEL"
            item.error = f"detection failed: {exc}"
            return
        item.detections = dets
        heat = dets.extras.get("anomaly_map")  # (rows', cols') in [0, 1], when a model has one
        if isinstance(heat, np.ndarray) and heat.ndim == 2:
            item.heatmap = heat
        item.model_id = str(getattr(self.detector, "model_id", ""))
        item.provider = str(getattr(self.detector, "provider", ""))
        item.threshold = float(getattr(self.detector, "threshold", item.threshold))
        alarm = bool(np.any(dets.scores >= item.threshold))
        item.machine_alarm = "ALARM" if alarm else "CLEAR"

    # -- the officer's work on the current scan ----------------------------------------------
    def set_verdict(self, det_index: int, confirmed: bool) -> None:
        """Confirm (True) or reject (False) machine flag ``det_index`` of the current scan."""
        item = self._current_or_raise()
        n = len(item.detections) if item.detections is not None else 0
        if not 0 <= det_index < n:
            raise IndexError(f"flag {det_index}: expected 0..{n - 1}")
        item.verdicts[det_index] = confirmed

    def add_mark(self, box: Sequence[float], class_name: str) -> Mark:
        item = self._current_or_raise()
        x0, y0, x1, y1 = (float(v) for v in box)
        mark = Mark((x0, y0, x1, y1), class_name)
        item.marks.append(mark)
        return mark

    def set_mark_class(self, k: int, class_name: str) -> None:
        item = self._current_or_raise()
        item.marks[k] = Mark(item.marks[k].box, class_name)

    def delete_mark(self, k: int) -> None:
        del self._current_or_raise().marks[k]

    def _current_or_raise(self) -> ReviewItem:
        item = self.current
        if item is None:
            raise IndexError("the review queue is empty")
        return item

    def decide(self, decision: Decision | str) -> dict[str, Any]:
        """Record the officer's decision on the current scan: operator TDR, then audit row.

        Both are on disk when this returns. A TDR that cannot be written does not stop the
        audit row; the row's note says why.
        """
        verdict = Decision(str(decision))
        item = self._current_or_raise()
        decided_at = utc_now()
        tdr_path, note = None, item.note
        if self.tdr_dir is not None and item.scan is not None:
            try:
                tdr_path = self._write_tdr(item, verdict)
            except (ValueError, OSError, ImportError) as exc:
                note = "; ".join(s for s in (note, f"operator TDR not written: {exc}") if s)
        elif item.error:
            note = "; ".join(s for s in (note, item.error) if s)
        dets = item.detections if item.detections is not None else Detections.empty()
        scan = item.scan
        row = self.audit.append(
            ts_shown=item.shown_at,
            ts_decided=decided_at,
            operator=self.operator,
            scan_id=item.label,
            source=item.source,
            source_sha256=(scan.source_sha256 if scan is not None else None)
            or item.expected_sha256,
            model_id=item.model_id or None,
            provider=item.provider or None,
            threshold=item.threshold,
            machine_alarm=item.machine_alarm or None,
            machine_flags=dets.to_records(),
            decision=verdict.value,
            verdicts={str(k): ("CONFIRMED" if v else "REJECTED") for k, v in item.verdicts.items()},
            marks=[{"class_name": m.class_name, "box": list(m.box)} for m in item.marks],
            tdr_path=str(tdr_path) if tdr_path is not None else None,
            note=note or None,
        )
        item.decision = verdict
        item.audit_seq = int(row["seq"])
        return row

    def _write_tdr(self, item: ReviewItem, verdict: Decision) -> Path:
        from backscatter.dicos.content import image_ref
        from backscatter.dicos.tdr import read_tdr, write_machine_tdr, write_operator_tdr

        assert self.tdr_dir is not None and item.scan is not None
        self.tdr_dir.mkdir(parents=True, exist_ok=True)
        name = re.sub(r"[^A-Za-z0-9._-]+", "_", item.label).strip("._")[:120] or "scan"
        dets = item.detections if item.detections is not None else Detections.empty()
        if item.machine_tdr is None or not item.machine_tdr.is_file():
            machine = self.tdr_dir / f"{name}_machine_tdr.dcm"
            write_machine_tdr(  # one PTO per flag at or above the threshold
                item.scan,
                dets[dets.scores >= item.threshold],
                machine,
                model_id=item.model_id or "none",
                alarm_threshold=item.threshold,
            )
            item.machine_tdr = machine
        # flags are best first, so the machine TDR's PTO ids are the first flag indices; a
        # verdict on a flag below the threshold (shown after lowering it) has no machine PTO:
        # a confirmed one is written as the officer's own box
        machine_tdr = read_tdr(item.machine_tdr)
        known = set(machine_tdr.pto_ids)
        boxes: list[tuple[float, ...]] = [m.box for m in item.marks]
        names = [m.class_name for m in item.marks]
        for k, v in sorted(item.verdicts.items()):
            if v and k not in known:
                boxes.append(tuple(float(c) for c in dets.boxes[k]))
                names.append(dets.class_names[int(dets.labels[k])])
        added = None
        if boxes:
            added = Detections(
                boxes=np.array(boxes, np.float32),
                scores=np.ones(len(boxes), np.float32),
                labels=np.array([dets.class_names.index(n) for n in names]),
                class_names=dets.class_names,
            )
        stamp = utc_now().replace(":", "").replace("-", "").replace(".", "")
        path = self.tdr_dir / f"{name}_operator_{stamp}.dcm"
        head = self.audit.head()  # the chain as it stands, copied outside the database
        write_operator_tdr(
            machine_tdr,
            path,
            operator_id=self.operator,
            decision=TDR_DECISION[verdict],
            confirmed=sorted(k for k, v in item.verdicts.items() if v and k in known),
            rejected=sorted(k for k, v in item.verdicts.items() if not v and k in known),
            added=added,
            image=image_ref(item.scan),
        )
        if head is not None:
            stamp_tdr(path, head)
        return path

    def close(self) -> None:
        self._pool.shutdown(wait=False, cancel_futures=True)
