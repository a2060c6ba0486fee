"""The DICOM/DICOS network receiver: a C-STORE and C-ECHO SCP built on pynetdicom.

Each accepted object is written atomically as ``OUT/<KIND>_<SOP Instance UID>.dcm`` (KIND: DX,
AIT2D, CR, SC, CT, TDR, QR...): the bytes the peer sent behind a Part 10 header (a Deflate
data set is stored inflated, as Explicit VR Little Endian, under the same size cap), the UID
checked to be digits and dots first so a file name never comes from a raw peer string. Before
Success is answered the data set is walked element by element under the negotiated transfer
syntax: data in another syntax, or a length that overruns what was sent, is refused with a
failure status that says why. A worker thread then reads each 2-D image as a Scan, runs the
``detect`` hook when one is given and writes ``OUT/<KIND>_<uid>.tdr.dcm`` beside it; an image
that cannot be read as a scan gets a TDR whose AbortFlag is ABORT. Forwards go through a
durable queue on disk (:mod:`backscatter.dicos.forwarding`). Connections are guarded by
per-connection time-outs (:mod:`backscatter.dicos.guard`). Refusals answer a DIMSE status with
an ErrorComment and log one line; the server keeps serving.
"""

from __future__ import annotations

import contextlib
import logging
import mmap
import os
import queue
import ssl
import tempfile
import threading
import time
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, BinaryIO

from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.filebase import DicomFileLike
from pydicom.filewriter import write_file_meta_info

from backscatter.acquisition.errors import READ_ERRORS
from backscatter.dicos.associations import AssociationEvents, first_report, peer
from backscatter.dicos.content import (
    IMPLEMENTATION_CLASS_UID,
    IMPLEMENTATION_VERSION,
    ImageRef,
    identity_of,
    object_type,
    set_uid,
)
from backscatter.dicos.dataset_check import (
    DEFLATED,
    DatasetTooLarge,
    encoding_problem,
    inflate_to,
)
from backscatter.dicos.forwarding import ForwardQueue
from backscatter.dicos.guard import GuardedServer, Timeouts
from backscatter.dicos.received import (
    DetectFn,
    ForwardTarget,
    Received,
    read_received,
    remove_quietly,
    stored_name,
    tdr_path_for,
)
from backscatter.dicos.tdr import abort_reason_for, write_aborted_tdr, write_machine_tdr
from backscatter.dicos.uids import IMAGE_2D_CLASSES, STORAGE_CLASSES, InvalidUIDError, safe_uid

log = logging.getLogger("backscatter.dicos.server")

VERIFICATION = "1.2.840.10008.1.1"
EXPLICIT_LITTLE = "1.2.840.10008.1.2.1"
STATUS_SUCCESS = 0x0000
STATUS_REFUSED_OUT_OF_RESOURCES = 0xA700
STATUS_DATASET_MISMATCH = 0xA900
STATUS_CANNOT_UNDERSTAND = 0xC000
STATUS_SOP_CLASS_NOT_SUPPORTED = 0x0122
STATUS_PROCESSING_FAILURE = 0x0110

#: default cap on one received dataset (bytes on the wire, and decoded)
DEFAULT_MAX_DATASET_BYTES = 256 * 1024 * 1024
#: the largest PDU we announce and accept (A-ASSOCIATE-AC maximum length)
MAX_PDU_BYTES = 1 << 20


@dataclass
class ServerConfig:
    """How the receiver listens and what it does with what arrives."""

    out_dir: Path
    port: int = 11112
    host: str = "127.0.0.1"
    ae_title: str = "BACKSCATTER"
    #: calling AE titles allowed to associate; None = anyone
    allow: frozenset[str] | None = None
    #: accept associations whatever called AE title they name (default: ours only)
    accept_any_called_ae: bool = False
    forward: ForwardTarget | None = None
    #: longest wait between two tries of a forward that failed (seconds; doubles from 2 s)
    forward_max_backoff_s: float = 300.0
    detect: DetectFn | None = None
    alarm_threshold: float = 0.5
    model_id: str = "none"
    model_version: str = ""
    model_sha256: str = ""
    #: cap on one data set, as sent and as decoded (Deflate inflated, pixels decoded)
    max_dataset_bytes: int = DEFAULT_MAX_DATASET_BYTES
    #: a peer still sending past this many bytes of one message is disconnected, so memory stays
    #: bounded (default: twice ``max_dataset_bytes`` plus 1 MiB)
    drop_over_bytes: int | None = None
    ssl_context: ssl.SSLContext | None = None
    #: called from the worker thread for each processed image
    on_received: Callable[[Received], None] | None = None
    #: images waiting for the worker before the C-STORE handler blocks (back-pressure)
    queue_size: int = 64
    #: associations served at once; more are rejected (transient, "local limit exceeded").
    #: Connections that have not sent a complete association request do not count.
    max_associations: int = 32
    #: open connections at once, negotiating or not; more are closed at once
    max_connections: int = 256
    #: handshake, PDU, idle and DIMSE time-outs, enforced on each connection
    timeouts: Timeouts = field(default_factory=Timeouts)


def _register_storage_classes() -> None:
    """pynetdicom does not route the DICOS UIDs to its storage service: register them."""
    from pynetdicom.service_class import StorageServiceClass
    from pynetdicom.sop_class import register_uid, uid_to_service_class

    for uid in STORAGE_CLASSES:
        if uid_to_service_class(uid) is not StorageServiceClass:
            keyword = "Backscatter" + uid.replace("1.2.840.10008.5.1.4.1.1.", "").replace(".", "_")
            register_uid(uid, keyword, StorageServiceClass)


def _raw_text(ds: Dataset, tag: int) -> str | None:
    """A text element's value without pydicom's value check (peers zero-pad UIDs); None if
    absent or empty."""
    if tag not in ds:
        return None
    value = ds.get_item(tag).value
    if isinstance(value, bytes):
        value = value.decode("ascii", "replace")
    text = str(value or "").rstrip("\x00 ")
    return text or None


def _status(code: int, comment: str) -> Dataset:
    ds = Dataset()
    ds.Status = code
    ds.ErrorComment = comment[:64]
    return ds


def read_header(fp: BinaryIO, transfer_syntax: str) -> Dataset:
    """The data set's elements up to the study/series module (identity and UIDs), read from
    ``fp`` without touching the pixel data."""
    from pydicom.filereader import read_dataset

    from backscatter.dicos.dataset_check import syntax_flags

    implicit, little = syntax_flags(transfer_syntax)
    fp.seek(0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return read_dataset(fp, implicit, little, stop_when=lambda tag, vr, n: tag > 0x00200011)


class _Refused(Exception):
    """A C-STORE refused: the status to answer, and one log line."""

    def __init__(self, code: int, reason: str, detail: str = "") -> None:
        super().__init__(reason)
        self.code, self.reason, self.detail = code, reason, detail


@dataclass(frozen=True)
class _Job:
    path: Path
    image: ImageRef
    study: str | None
    series: str | None
    calling_ae: str
    #: read as a Scan (detect, TDR, on_received); else only forward
    read: bool
    #: the image's patient (OOI) and study identity, copied into its TDR
    identity: dict[str, str] = field(default_factory=dict)


class DicosServer(AssociationEvents):
    """A running receiver; use as a context manager or call :meth:`start` / :meth:`stop`."""

    def __init__(self, config: ServerConfig) -> None:
        self.config = config
        self.out_dir = Path(config.out_dir).resolve()
        self._server: Any = None
        self._ae: Any = None
        self._jobs: queue.Queue[_Job | None] = queue.Queue(maxsize=config.queue_size)
        self._worker: threading.Thread | None = None
        self._pending = 0
        self._lock = threading.Condition()
        self.forwarder: ForwardQueue | None = None
        self.stored = 0
        self.refused = 0

    # -- lifecycle -------------------------------------------------------------------------
    def start(self) -> DicosServer:
        from pynetdicom import AE, ALL_TRANSFER_SYNTAXES, evt

        cfg = self.config
        self.out_dir.mkdir(parents=True, exist_ok=True)
        stale = sorted(self.out_dir.glob(".*.part"))
        for part in stale:  # left by a killed run: never complete, never renamed
            remove_quietly(part)
        if stale:
            log.warning("removed %d unfinished temporary file(s) from %s", len(stale), self.out_dir)
        _register_storage_classes()
        t = cfg.timeouts
        ae = AE(ae_title=cfg.ae_title)
        ae.implementation_version_name = IMPLEMENTATION_VERSION
        ae.implementation_class_uid = IMPLEMENTATION_CLASS_UID
        ae.maximum_pdu_size = MAX_PDU_BYTES
        ae.maximum_associations = 1 << 20  # our own limit: see AssociationEvents._on_requested
        ae.acse_timeout = t.handshake_s  # also the ARTIM timer of a connection still silent
        ae.network_timeout = t.idle_s
        ae.dimse_timeout = t.dimse_s
        ae.add_supported_context(VERIFICATION)
        for uid in STORAGE_CLASSES:
            ae.add_supported_context(uid, ALL_TRANSFER_SYNTAXES)
        ae.require_called_aet = not cfg.accept_any_called_ae
        if cfg.allow is not None:
            ae.require_calling_aet = sorted(cfg.allow)
        handlers: list[Any] = [
            (evt.EVT_C_ECHO, self._on_echo),
            (evt.EVT_C_STORE, self._on_store),
            (evt.EVT_DATA_RECV, self._on_data),
            (evt.EVT_REQUESTED, self._on_requested),
            (evt.EVT_ESTABLISHED, self._on_established),
            (evt.EVT_REJECTED, self._on_rejected),
            (evt.EVT_ABORTED, self._on_aborted),
            (evt.EVT_CONN_CLOSE, self._on_close),
        ]
        self._worker = threading.Thread(target=self._work, name="dicos-worker", daemon=True)
        self._worker.start()
        if cfg.forward is not None:
            self.forwarder = ForwardQueue(
                self.out_dir,
                cfg.forward,
                ae_title=cfg.ae_title,
                max_backoff_s=cfg.forward_max_backoff_s,
            )
            self.forwarder.start()
        if cfg.detect is not None:
            self._resume_unprocessed()
        try:
            server = ae.make_server(
                (cfg.host, cfg.port),
                evt_handlers=handlers,
                ssl_context=cfg.ssl_context,
                server_class=GuardedServer,
                timeouts=t,
                max_pdu_bytes=MAX_PDU_BYTES + 4096,
                max_connections=cfg.max_connections,
            )
        except BaseException:
            self.stop()
            raise
        self._ae, self._server = ae, server
        ae._servers.append(server)
        threading.Thread(target=server.serve_forever, name="dicos-accept", daemon=True).start()
        tls = " (TLS)" if cfg.ssl_context else ""
        log.info(
            "listening on %s:%d as %s%s, storing into %s; time-outs: handshake %g s, PDU %g s, "
            "idle %g s, DIMSE %g s",
            cfg.host,
            self.port,
            cfg.ae_title,
            tls,
            self.out_dir,
            t.handshake_s,
            t.pdu_s,
            t.idle_s,
            t.dimse_s,
        )
        if cfg.host in ("0.0.0.0", "::", "") and cfg.allow is None:
            log.warning(
                "listening on all interfaces with no --allow list: any host that reaches port "
                "%d can store images here",
                self.port,
            )
        return self

    def _resume_unprocessed(self) -> None:
        """Queue stored 2-D images without a TDR (a killed run acknowledged them but never got
        to detect them), so every acknowledged image ends with its TDR."""
        import pydicom

        jobs = []
        for path in sorted(self.out_dir.glob("*.dcm")):
            if path.name.endswith(".tdr.dcm") or tdr_path_for(path).exists():
                continue
            try:
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore")
                    ds = pydicom.dcmread(path, stop_before_pixels=True)
                sop_class = _raw_text(ds, 0x00080016) or ""
                uid = safe_uid(_raw_text(ds, 0x00080018))
            except Exception as exc:  # our own file, but never stop the server over it
                log.warning("cannot resume %s: %s", path.name, exc)
                continue
            if sop_class not in IMAGE_2D_CLASSES:
                continue
            study, series = _raw_text(ds, 0x0020000D), _raw_text(ds, 0x0020000E)
            ref = ImageRef(sop_class, uid)
            jobs.append(_Job(path, ref, study, series, "(resumed)", True, identity_of(ds)))
        if not jobs:
            return
        log.warning("%d stored image(s) without a TDR from an earlier run: detecting", len(jobs))
        with self._lock:
            self._pending += len(jobs)

        def feed() -> None:  # the queue is bounded: feed it without blocking start()
            for job in jobs:
                self._jobs.put(job)

        threading.Thread(target=feed, name="dicos-resume", daemon=True).start()

    @property
    def port(self) -> int:
        """The bound port (useful with port 0)."""
        if self._server is None:
            return self.config.port
        return int(self._server.server_address[1])

    def wait_idle(self, timeout: float = 30.0) -> bool:
        """Block until every received image has been processed and its forward (if any) has
        left the queue; False on timeout."""
        deadline = time.monotonic() + timeout
        with self._lock:
            while self._pending:
                left = deadline - time.monotonic()
                if left <= 0:
                    return False
                self._lock.wait(left)
        while self.forwarder is not None and self.forwarder.pending():
            if time.monotonic() > deadline:
                return False
            time.sleep(0.05)
        return True

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()  # stops accepting, closes the listening socket
            self._server.close_all()  # and every connection still open
            self._server = None
        if self._worker is not None:
            self._jobs.put(None)
            self._worker.join(timeout=60)
            self._worker = None
        if self.forwarder is not None:
            self.forwarder.stop()
            self.forwarder = None

    def serve_forever(self) -> None:
        """Block until interrupted (Ctrl-C), then stop."""
        try:
            while self._server is not None:
                time.sleep(0.5)
        finally:
            self.stop()

    def __enter__(self) -> DicosServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # -- DIMSE -----------------------------------------------------------------------------
    @property
    def drop_over_bytes(self) -> int:
        cfg = self.config
        if cfg.drop_over_bytes is not None:
            return cfg.drop_over_bytes
        return 2 * cfg.max_dataset_bytes + (1 << 20)

    def _on_data(self, event: Any) -> None:
        """Count P-DATA bytes of the message in progress; drop a peer that overruns the cap."""
        data = event.data
        if not data or data[0] != 0x04:
            return
        assoc = event.assoc
        total = getattr(assoc, "_backscatter_bytes", 0) + len(data)
        assoc._backscatter_bytes = total
        if total > self.drop_over_bytes and first_report(assoc):
            assoc._backscatter_dropped = True
            log.warning(
                "dropped association from %s: message passed %d bytes (limit %d); "
                "nothing partial was written",
                peer(assoc),
                total,
                self.drop_over_bytes,
            )
            guard = getattr(assoc, "_backscatter_guard", None)
            if guard is not None:
                guard.closed_reason = "message too large"
                with contextlib.suppress(OSError):
                    guard.raw.shutdown(2)

    def _message_done(self, event: Any) -> None:
        assoc = event.assoc
        assoc._backscatter_bytes = 0
        guard = getattr(assoc, "_backscatter_guard", None)
        if guard is not None:
            guard.message_done()

    def _on_echo(self, event: Any) -> int:
        self._message_done(event)
        log.debug("C-ECHO from %s", peer(event.assoc))
        return STATUS_SUCCESS

    def _refuse(self, event: Any, code: int, reason: str, detail: str = "") -> Dataset:
        """One log line, and a status whose ErrorComment (64 chars at most) is ``reason``."""
        self.refused += 1
        more = f" ({detail})" if detail else ""
        log.warning(
            "refused C-STORE from %s: %s%s (status 0x%04X)", peer(event.assoc), reason, more, code
        )
        return _status(code, reason)

    def _on_store(self, event: Any) -> Dataset | int:
        self._message_done(event)
        try:
            return self._store(event)
        except _Refused as r:
            return self._refuse(event, r.code, r.reason, r.detail)
        except Exception as exc:  # a bug of ours must not take the association down
            log.error("C-STORE from %s failed: %s: %s", peer(event.assoc), type(exc).__name__, exc)
            return _status(STATUS_PROCESSING_FAILURE, f"internal error: {type(exc).__name__}")
        finally:  # time spent here (a full queue) is not the peer's idleness
            with contextlib.suppress(AttributeError):
                event.assoc.dul._idle_timer.restart()

    def _store(self, event: Any) -> Dataset | int:
        if getattr(event.assoc, "_backscatter_dropped", False):  # logged when dropped
            return _status(STATUS_REFUSED_OUT_OF_RESOURCES, "association dropped: too large")
        request = event.request
        raw = request.DataSet.getbuffer()
        limit = self.config.max_dataset_bytes
        if len(raw) > limit:
            raise _Refused(
                STATUS_REFUSED_OUT_OF_RESOURCES,
                f"dataset of {len(raw)} bytes exceeds limit {limit}",
            )
        context_class = str(event.context.abstract_syntax)
        if context_class not in STORAGE_CLASSES:
            raise _Refused(
                STATUS_SOP_CLASS_NOT_SUPPORTED, f"SOP class {context_class} not supported"
            )
        ts = str(event.context.transfer_syntax)
        with contextlib.ExitStack() as stack:
            data: Any = raw
            fp: BinaryIO = request.DataSet
            stored_ts = ts
            if ts == DEFLATED:
                data, fp = self._inflate(raw, stack)
                stored_ts = EXPLICIT_LITTLE
            problem = encoding_problem(data, stored_ts)
            if problem:
                raise _Refused(STATUS_CANNOT_UNDERSTAND, problem, f"negotiated syntax {ts}")
            try:
                header = read_header(fp, stored_ts)
                sop_class = _raw_text(header, 0x00080016) or ""
                raw_uid = _raw_text(header, 0x00080018)
            except Exception as exc:
                raise _Refused(STATUS_CANNOT_UNDERSTAND, "undecodable dataset", str(exc)) from None
            if raw_uid is None:
                raise _Refused(STATUS_CANNOT_UNDERSTAND, "missing SOP Instance UID")
            try:
                uid = safe_uid(raw_uid)
            except InvalidUIDError as exc:
                raise _Refused(
                    STATUS_CANNOT_UNDERSTAND, "invalid SOP Instance UID", str(exc)
                ) from None
            if sop_class != context_class:
                raise _Refused(
                    STATUS_DATASET_MISMATCH,
                    f"SOP class {sop_class or 'missing'} != context {context_class}",
                )
            path = self.out_dir / stored_name(sop_class, uid)
            if path.parent != self.out_dir:  # impossible for a checked UID; belt and braces
                raise _Refused(STATUS_CANNOT_UNDERSTAND, f"unsafe UID {uid!r}")
            try:
                self._write_file(path, sop_class, uid, stored_ts, data)
            except OSError as exc:
                raise _Refused(STATUS_REFUSED_OUT_OF_RESOURCES, "write failed", str(exc)) from None
            size = len(data)
        self.stored += 1
        who = peer(event.assoc)
        inflated = f", inflated {len(raw)} -> {size} bytes" if ts == DEFLATED else ""
        log.info("stored %s (%s%s) from %s", path.name, object_type(sop_class), inflated, who)
        self._queue_job(path, sop_class, uid, header, who)
        return STATUS_SUCCESS

    def _queue_job(self, path: Path, sop_class: str, uid: str, header: Dataset, who: str) -> None:
        cfg = self.config
        is_image = sop_class in IMAGE_2D_CLASSES
        read_it = is_image and (cfg.detect is not None or cfg.on_received is not None)
        if not (read_it or cfg.forward is not None):
            return
        job = _Job(
            path,
            ImageRef(sop_class, uid),
            _raw_text(header, 0x0020000D),
            _raw_text(header, 0x0020000E),
            who,
            read_it,
            identity_of(header),
        )
        with self._lock:
            self._pending += 1
        self._jobs.put(job)

    def _inflate(self, raw: memoryview, stack: contextlib.ExitStack) -> tuple[mmap.mmap, BinaryIO]:
        """Inflate a Deflate data set into a temporary file under the cap; map it."""
        limit = self.config.max_dataset_bytes
        fd, tmp = tempfile.mkstemp(prefix=".", suffix=".part", dir=self.out_dir)
        stack.callback(remove_quietly, tmp)
        fh = stack.enter_context(os.fdopen(fd, "w+b"))
        try:
            size = inflate_to(raw, fh, limit=limit)
        except DatasetTooLarge as exc:
            reason = f"decoded data set exceeds limit {limit}"
            raise _Refused(STATUS_REFUSED_OUT_OF_RESOURCES, reason, f"Deflate: {exc}") from None
        except ValueError as exc:
            raise _Refused(STATUS_CANNOT_UNDERSTAND, "corrupt Deflate data set", str(exc)) from None
        fh.flush()
        if size == 0:
            raise _Refused(STATUS_CANNOT_UNDERSTAND, "empty data set")
        mapped = stack.enter_context(mmap.mmap(fh.fileno(), 0, access=mmap.ACCESS_READ))
        return mapped, fh

    def _write_file(self, path: Path, sop_class: str, uid: str, ts: str, data: Any) -> None:
        """Part 10 file of ``data`` (a bare data set in ``ts``): temp file, then ``os.replace``."""
        meta = FileMetaDataset()
        set_uid(meta, "MediaStorageSOPClassUID", sop_class)
        set_uid(meta, "MediaStorageSOPInstanceUID", uid)
        set_uid(meta, "TransferSyntaxUID", ts)
        set_uid(meta, "ImplementationClassUID", IMPLEMENTATION_CLASS_UID)
        meta.ImplementationVersionName = IMPLEMENTATION_VERSION
        fd, tmp = tempfile.mkstemp(prefix=".", suffix=".part", dir=self.out_dir)
        try:
            with os.fdopen(fd, "wb") as fh:
                fh.write(b"\x00" * 128 + b"DICM")
                write_file_meta_info(DicomFileLike(fh), meta, enforce_standard=True)
                fh.write(data)
            os.replace(tmp, path)
        except BaseException:
            remove_quietly(tmp)
            raise

    # -- processing ------------------------------------------------------------------------
    def _work(self) -> None:
        while True:
            job = self._jobs.get()
            if job is None:
                return
            try:
                self._process(job)
            except Exception as exc:  # one bad image must not stop the worker
                log.error("processing %s failed: %s: %s", job.path.name, type(exc).__name__, exc)
            finally:
                with self._lock:
                    self._pending -= 1
                    self._lock.notify_all()

    def _read_policy(self) -> Any:
        from backscatter.acquisition.policy import ReadPolicy

        cap = self.config.max_dataset_bytes
        return ReadPolicy(max_pixel_bytes=cap, max_file_bytes=cap + (1 << 20))

    def _process(self, job: _Job) -> None:
        cfg = self.config
        if not job.read:
            self._forward([job.path])
            return
        try:
            scan = read_received(
                job.path,
                image=job.image,
                study=job.study,
                series=job.series,
                identity=job.identity,
                policy=self._read_policy(),
            )
        except READ_ERRORS as exc:
            self._unreadable(job, str(getattr(exc, "reason", exc)))
            return
        except Exception as exc:  # a header that breaks a reader's checks: unreadable too
            self._unreadable(job, f"{type(exc).__name__}: {exc}")
            return
        detections = None
        tdr_path = None
        if cfg.detect is not None:
            started = time.perf_counter()
            detections = cfg.detect(scan)
            elapsed_ms = (time.perf_counter() - started) * 1000.0
            tdr_path = tdr_path_for(job.path)
            write_machine_tdr(
                scan,
                detections,
                tdr_path,
                model_id=cfg.model_id,
                model_version=cfg.model_version,
                model_sha256=cfg.model_sha256,
                alarm_threshold=cfg.alarm_threshold,
                image=job.image,
                processing_time_ms=elapsed_ms,
            )
            n_alarm = int((detections.scores >= cfg.alarm_threshold).sum())
            log.info(
                "%s: %d PTOs, %d alarm -> %s",
                job.path.name,
                len(detections),
                n_alarm,
                tdr_path.name,
            )
        self._forward([job.path] + ([tdr_path] if tdr_path else []))
        if cfg.on_received is not None:
            cfg.on_received(
                Received(scan, job.path, job.image, job.calling_ae, detections, tdr_path)
            )

    def _unreadable(self, job: _Job, reason: str) -> None:
        """An acknowledged image we cannot read: a TDR that says the analysis was aborted."""
        cfg = self.config
        if cfg.detect is None:
            log.warning("stored %s but cannot read it as a scan: %s", job.path.name, reason)
            self._forward([job.path])
            return
        tdr_path = tdr_path_for(job.path)
        code = abort_reason_for(reason)
        write_aborted_tdr(
            tdr_path,
            image=job.image,
            abort_reason=code,
            study=job.study,
            identity=job.identity,
            model_id=cfg.model_id,
            model_version=cfg.model_version,
            model_sha256=cfg.model_sha256,
        )
        log.warning(
            "stored %s but cannot read it as a scan (%s): analysis aborted (AbortReason %s) -> %s",
            job.path.name,
            reason,
            code,
            tdr_path.name,
        )
        self._forward([job.path, tdr_path])

    def _forward(self, files: list[Path]) -> None:
        if self.forwarder is not None:
            self.forwarder.put(files)
