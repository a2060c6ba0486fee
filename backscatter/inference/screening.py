"""Screening a batch of inputs into an output folder: what `backscatter detect` runs.

Inputs are files, folders (recursively, sorted), globs, or source URIs (``sim://...``).
The resume key of a file is its absolute path; of the k-th scan of a URI source, ``uri#k``.
:func:`screen_scan` is the one per-scan function; the local pipeline spreads its parts over
threads and the Ray engine runs it whole on each worker, so both give the same records.
"""

from __future__ import annotations

import glob
import itertools
import logging
import os
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from backscatter.acquisition.errors import NotAnImageError, ScanAccessError, ScanReadError
from backscatter.acquisition.sources import open_source, uri_scheme
from backscatter.detections import Detections
from backscatter.inference.detector import Detector
from backscatter.inference.flags import to_flags
from backscatter.inference.models import sha256_file
from backscatter.inference.pipeline import Item, Pipeline, PipelineStats
from backscatter.inference.sinks import (
    OutputWriter,
    ResultsLog,
    make_record,
    safe_name,
    write_coco,
)
from backscatter.scan import Scan

if TYPE_CHECKING:
    from backscatter.inference.anomaly import AnomalyModel

log = logging.getLogger(__name__)

#: files in a folder that are never scans (sidecars, our own outputs, notes)
NOT_SCANS = frozenset({".json", ".jsonl", ".yaml", ".yml", ".txt", ".md", ".csv", ".part", ".log"})
GLOB_CHARS = frozenset("*?[")


@dataclass(frozen=True)
class InputRef:
    """A file path (``uri`` False) or a source URI to iterate."""

    ref: str
    uri: bool = False


def expand_inputs(inputs: Sequence[str]) -> Iterator[InputRef | ScanAccessError]:
    """Files, folders and globs -> absolute file paths (sorted); URIs pass through.

    A missing path or a glob matching nothing yields a :class:`ScanAccessError` in its place.
    """
    for raw in inputs:
        if uri_scheme(raw) is not None:
            yield InputRef(raw, uri=True)
            continue
        if GLOB_CHARS & set(raw) and not Path(raw).exists():
            matches = sorted(glob.glob(raw, recursive=True))
            if not matches:
                yield ScanAccessError(raw, "no file matches this pattern")
            for m in matches:
                yield from _files_under(Path(m))
            continue
        p = Path(raw)
        if not p.exists():
            yield ScanAccessError(raw, "no such file or directory")
            continue
        yield from _files_under(p)


def _files_under(p: Path) -> Iterator[InputRef]:
    if p.is_dir():
        for f in sorted(p.rglob("*")):
            rel = f.relative_to(p).parts
            if any(part.startswith(".") for part in rel) or not f.is_file():
                continue
            if f.suffix.lower() in NOT_SCANS:
                continue
            yield InputRef(str(f.resolve()))
    else:
        yield InputRef(str(p.resolve()))


def check_inputs(inputs: Sequence[str]) -> None:
    """Raise :class:`ScanAccessError` naming the first input when none of ``inputs`` exists (a
    mistyped folder), so a run creates no empty output folder; with some existing, the missing
    ones are reported per item."""
    problems = [ref for ref in expand_inputs(inputs) if isinstance(ref, ScanAccessError)]
    if inputs and len(problems) == len(inputs):
        raise problems[0]


def read_file(path: str) -> Scan:
    """The acquisition package's reader (``open_scan``) for one file."""
    try:
        from backscatter.acquisition import open_scan
    except ImportError:
        raise ScanReadError(
            path, "file readers (backscatter.acquisition.open_scan) are not there yet"
        ) from None
    scan: Scan = open_scan(path)
    return scan


def iter_items(
    inputs: Sequence[str],
    *,
    is_done: Callable[[str], bool] = lambda _s: False,
    per_uri: int | None = None,
    reader: Callable[[str], Scan] = read_file,
    skipped: list[str] | None = None,
    not_images: Callable[[NotAnImageError], None] | None = None,
) -> Iterator[Item]:
    """Read every input into an :class:`Item` (scan or error), skipping sources already done.

    ``per_uri`` caps how many scans a URI source gives (a simulated device never ends). A file
    that is a readable object but no 2-D image (a TDR, a CT volume) yields no item: it goes to
    ``not_images`` (when given; else it is an error item like any other).
    """
    for ref in expand_inputs(inputs):
        if isinstance(ref, Exception):
            yield Item(source=ref.source, error=ref)
            continue
        if not ref.uri:
            if is_done(ref.ref):
                if skipped is not None:
                    skipped.append(ref.ref)
                continue
            t0 = time.perf_counter()
            try:
                scan = reader(ref.ref)
            except NotAnImageError as exc:
                if not_images is None:
                    yield Item(source=ref.ref, error=exc)
                else:
                    not_images(exc)
                continue
            except (ValueError, OSError) as exc:
                yield Item(source=ref.ref, error=exc)
                continue
            yield Item(ref.ref, scan=scan, timings={"read": (time.perf_counter() - t0) * 1000})
            continue
        yield from iter_uri(ref.ref, is_done, per_uri, skipped)


def iter_uri(
    uri: str, is_done: Callable[[str], bool], per_uri: int | None, skipped: list[str] | None
) -> Iterator[Item]:
    try:
        source = open_source(uri)
    except (ValueError, OSError) as exc:
        yield Item(source=uri, error=exc)
        return
    except ImportError as exc:  # the source's optional part is not installed
        yield Item(source=uri, error=ScanAccessError(uri, f"source not available: {exc}"))
        return
    try:
        it = iter(source)
        for k in itertools.count():
            if per_uri is not None and k >= per_uri:
                break
            key = f"{uri}#{k}"
            t0 = time.perf_counter()
            try:
                scan = next(it)
            except StopIteration:
                break
            except (ValueError, OSError) as exc:
                yield Item(source=key, error=exc)
                break
            if is_done(key):
                if skipped is not None:
                    skipped.append(key)
                continue
            yield Item(key, scan=scan, timings={"read": (time.perf_counter() - t0) * 1000})
    finally:
        source.close()


def output_name(scan_id: str, source: str, taken: dict[str, str]) -> str:
    """File stem for a scan's outputs, unique within OUT (``taken``: stem -> source)."""
    import hashlib

    name = safe_name(scan_id)
    owner = taken.get(name)
    if owner is not None and owner != source:
        name = f"{name}_{hashlib.sha1(source.encode()).hexdigest()[:8]}"
    taken[name] = source
    return name


def name_item(item: Item, writer: OutputWriter, taken: dict[str, str]) -> None:
    """Give a read scan its id and output file stem (call in input order: names are unique
    within OUT by order of arrival, so they must not depend on which worker is faster)."""
    if item.scan is None or item.name:
        return
    item.scan_id = record_scan_id(item.scan, item.source, writer)
    item.name = output_name(item.scan_id, item.source, taken)


def write_item(item: Item, writer: OutputWriter, threshold: float) -> None:
    """Write a detected scan's files (overlay, DX, TDR) into ``item.outputs``; the slow,
    parallel half of the sinks (it runs on the detect workers)."""
    assert item.scan is not None and item.detections is not None and item.name
    outputs, out_ms = writer.write(
        item.scan, item.detections, name=item.name, threshold=threshold, scan_id=item.scan_id
    )
    item.outputs = outputs
    item.timings.update(out_ms)


def item_record(
    item: Item, *, detector: Detector, writer: OutputWriter, threshold: float
) -> dict[str, Any]:
    """The JSONL record of a scan whose files :func:`write_item` wrote."""
    assert item.scan is not None and item.detections is not None
    source, digest = item.source, item.scan.source_sha256
    dx = item.outputs.get("dx")
    if uri_scheme(item.source) is not None and dx:  # a live scan: point at the DX we wrote
        source, digest = dx, sha256_file(writer.out_dir / dx)
    return make_record(
        input=item.source,
        source=source,
        source_sha256=digest,
        scan=item.scan,
        detections=item.detections,
        threshold=threshold,
        model_id=detector.model_id,
        provider=detector.provider,
        timings_ms=item.timings,
        outputs=item.outputs,
        scan_id=item.scan_id,
    )


def finish_scan(
    item: Item,
    *,
    detector: Detector,
    writer: OutputWriter,
    threshold: float,
    taken: dict[str, str],
) -> dict[str, Any]:
    """Write a detected scan's files and return its JSONL record (sink half of screen_scan)."""
    name_item(item, writer, taken)
    write_item(item, writer, threshold)
    return item_record(item, detector=detector, writer=writer, threshold=threshold)


def record_scan_id(scan: Scan, source: str, writer: OutputWriter) -> str:
    """The one id of a scan in every output: its own (a DICOS image's SOP Instance UID, a
    file's name); for a live scan (a URI source) that we store as a DICOS DX, that DX's SOP
    Instance UID, which is the id the viewer and the audit log see when they open it."""
    if uri_scheme(source) is not None and writer.enabled("dx") and scan.sop_class_uid is None:
        from backscatter.dicos.content import scan_uids

        return scan_uids(scan).dx_instance
    return scan.scan_id


def detect_item(item: Item, detector: Detector) -> None:
    """Detection half of screen_scan: fills ``item.detections`` with the scan's flags (one per
    object, :func:`~backscatter.inference.flags.to_flags`, every score) and its timings."""
    assert item.scan is not None
    dets: Detections = detector(item.scan)
    t0 = time.perf_counter()
    item.detections = to_flags(dets)
    item.timings.update(dets.extras.get("timings_ms", {}))
    item.timings["flags"] = (time.perf_counter() - t0) * 1000


def screen_scan(
    item: Item,
    *,
    detector: Detector,
    writer: OutputWriter,
    threshold: float,
    taken: dict[str, str],
) -> dict[str, Any]:
    """The whole per-scan function: detect, write files, return the JSONL record."""
    detect_item(item, detector)
    return finish_scan(item, detector=detector, writer=writer, threshold=threshold, taken=taken)


@dataclass
class ScreenSummary:
    done: int = 0
    failed: int = 0
    skipped: int = 0
    #: files that are no 2-D image (TDRs, CT volumes...), "PATH: reason" each
    not_images: list[str] = field(default_factory=list)
    dropped: int = 0
    wall_s: float = 0.0
    stage_ms: dict[str, float] = field(default_factory=dict)
    failures: list[str] = field(default_factory=list)
    unavailable: dict[str, str] = field(default_factory=dict)


def screen(
    inputs: Sequence[str],
    out_dir: str | os.PathLike[str],
    *,
    detector: Detector,
    threshold: float | None = None,
    outputs: Sequence[str] = ("coco", "overlay", "tdr", "dx"),
    workers: int = 1,
    per_uri: int | None = None,
    queue_size: int = 4,
    on_item: Callable[[Item], None] | None = None,
    reader: Callable[[str], Scan] = read_file,
    tdr_candidates: bool = False,
    on_skip: Callable[[NotAnImageError], None] | None = None,
    anomaly: AnomalyModel | None = None,
) -> ScreenSummary:
    """Screen ``inputs`` into ``out_dir`` with the threaded pipeline; resumes a previous run.

    Each detect worker also writes its scan's files (overlay, DX, TDR), so they are written in
    parallel; the sink appends the JSONL lines in input order, each after its scan's files.

    ``on_item(item)`` is called for every finished or failed item (progress, error lines).
    ``tdr_candidates`` also writes the flags below the threshold into each machine TDR.
    ``on_skip(error)`` is called for each file that is no 2-D image (skipped, not failed).
    When no input exists at all, :class:`~backscatter.acquisition.errors.ScanAccessError` is
    raised before anything is created.
    ``anomaly``: also run this anomaly map (:mod:`backscatter.inference.anomaly_flags`).
    """
    check_inputs(inputs)
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    thr = detector.threshold if threshold is None else float(threshold)
    if not 0.0 <= thr <= 1.0:
        raise ValueError(f"threshold: expected 0..1, got {thr}")
    results = ResultsLog(out)
    writer = OutputWriter(
        out, outputs, model_id=detector.model_id, card=detector.card, tdr_candidates=tdr_candidates
    )
    skipped: list[str] = []
    summary = ScreenSummary(unavailable=dict(writer.unavailable))

    taken = dict(results.names)

    def named(items: Iterator[Item]) -> Iterator[Item]:
        for item in items:  # on the source thread, in input order
            name_item(item, writer, taken)
            yield item

    def work(item: Item) -> None:
        detect_item(item, detector)
        if anomaly is not None and item.scan is not None and item.detections is not None:
            from backscatter.inference.anomaly_flags import score_anomaly

            item.timings.update(score_anomaly(item.scan, item.detections, anomaly))
        write_item(item, writer, thr)  # the files, in parallel on the workers

    def sink(item: Item) -> None:  # in input order: only the JSONL line, after its files
        record = item_record(item, detector=detector, writer=writer, threshold=thr)
        if anomaly is not None and item.scan is not None and item.detections is not None:
            from backscatter.inference.anomaly_flags import add_anomaly

            add_anomaly(item.scan, item.detections, record, model=anomaly, out_dir=out,
                        threshold=thr)  # fmt: skip
        results.append(record)
        item.record = record

    def done(item: Item) -> None:
        if item.error is not None:
            summary.failures.append(str(item.error))
        if on_item is not None:
            on_item(item)

    def not_image(exc: NotAnImageError) -> None:
        summary.not_images.append(str(exc))
        if on_skip is not None:
            on_skip(exc)

    items = iter_items(
        inputs,
        is_done=results.is_done,
        per_uri=per_uri,
        reader=reader,
        skipped=skipped,
        not_images=not_image,
    )

    pipe = Pipeline(
        named(items),
        work,
        sink,
        queue_size=queue_size,
        workers=workers,
        on_done=done,
    )
    stats: PipelineStats | None = None
    try:
        stats = pipe.run()
    finally:
        results.close()
        if "coco" in outputs:
            write_coco(out)
        st = stats or pipe.stats
        summary.done, summary.failed, summary.dropped = st.done, st.failed, st.dropped
        summary.wall_s, summary.stage_ms = st.wall_s, dict(st.stage_ms)
        summary.skipped = len(skipped)
    return summary
