"""The DICOM/DICOS network receiver: a C-STORE and C-ECHO SCP built on pynetdicom.

Each accepted object is written atomically as ``OUT/<KIND>_<SOP Instance UID>.dcm`` (KIND: DX,
AIT2D, CR, SC, CT, TDR, QR...): exactly the bytes the peer sent behind a Part 10 header, the UID
checked to be digits and dots first so a file name never comes from a raw peer string. A worker
thread then reads each 2-D image as a Scan, runs the ``detect`` hook when one is given, writes
``OUT/<KIND>_<uid>.tdr.dcm`` beside it and forwards both when asked. Refusals answer a DIMSE
status with an ErrorComment and log one line; the server keeps serving.
"""

from __future__ import annotations

import contextlib
import logging
import os
import queue
import socket
import ssl
import tempfile
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.filebase import DicomFileLike
from pydicom.filewriter import write_file_meta_info

from backscatter.acquisition.errors import READ_ERRORS
from backscatter.dicos.content import (
    IMPLEMENTATION_CLASS_UID,
    IMPLEMENTATION_VERSION,
    ImageRef,
    object_type,
    set_uid,
)
from backscatter.dicos.received import (
    DetectFn,
    ForwardTarget,
    Received,
    forward,
    read_received,
    remove_quietly,
    stored_name,
    tdr_path_for,
)
from backscatter.dicos.tdr import write_machine_tdr
from backscatter.dicos.uids import IMAGE_2D_CLASSES, STORAGE_CLASSES, InvalidUIDError, safe_uid

log = logging.getLogger("backscatter.dicos.server")

VERIFICATION = "1.2.840.10008.1.1"
STATUS_SUCCESS = 0x0000
STATUS_REFUSED_OUT_OF_RESOURCES = 0xA700
STATUS_DATASET_MISMATCH = 0xA900
STATUS_CANNOT_UNDERSTAND = 0xC000
STATUS_SOP_CLASS_NOT_SUPPORTED = 0x0122
STATUS_PROCESSING_FAILURE = 0x0110

#: default cap on one received dataset (bytes as encoded on the wire)
DEFAULT_MAX_DATASET_BYTES = 256 * 1024 * 1024


@dataclass
class ServerConfig:
    """How the receiver listens and what it does with what arrives."""

    out_dir: Path
    port: int = 11112
    host: str = "127.0.0.1"
    ae_title: str = "BACKSCATTER"
    #: calling AE titles allowed to associate; None = anyone
    allow: frozenset[str] | None = None
    forward: ForwardTarget | None = None
    detect: DetectFn | None = None
    alarm_threshold: float = 0.5
    model_id: str = "none"
    model_version: str = ""
    model_sha256: str = ""
    max_dataset_bytes: int = DEFAULT_MAX_DATASET_BYTES
    #: a peer still sending past this many bytes of one message is disconnected, so memory stays
    #: bounded (default: twice ``max_dataset_bytes`` plus 1 MiB)
    drop_over_bytes: int | None = None
    ssl_context: ssl.SSLContext | None = None
    #: called from the worker thread for each processed image
    on_received: Callable[[Received], None] | None = None
    #: images waiting for the worker before the C-STORE handler blocks (back-pressure)
    queue_size: int = 64
    #: associations served at once; more are rejected (transient, "local limit exceeded")
    max_associations: int = 32
    #: seconds a connection may take to complete association negotiation, and to close after an
    #: abort (the DICOM ARTIM timer): a peer stalled mid-request or sending garbage holds one of
    #: the ``max_associations`` slots this long at most
    negotiation_timeout_s: float = 5.0


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


def _peer(event: Any) -> str:
    assoc = event.assoc
    addr = getattr(assoc.requestor, "address", "?")
    ae = getattr(assoc.requestor, "ae_title", "?")
    return f"{str(ae).strip()}@{addr}"


@dataclass(frozen=True)
class _Job:
    path: Path
    image: ImageRef
    study: str | None
    series: str | None
    calling_ae: str
    #: read as a Scan (detect, TDR, on_received); else only forward
    read: bool


class DicosServer:
    """A running receiver; use as a context manager or call :meth:`start` / :meth:`stop`."""

    def __init__(self, config: ServerConfig) -> None:
        self.config = config
        self.out_dir = Path(config.out_dir).resolve()
        self._server: Any = None
        self._jobs: queue.Queue[_Job | None] = queue.Queue(maxsize=config.queue_size)
        self._worker: threading.Thread | None = None
        self._pending = 0
        self._lock = threading.Condition()
        self.stored = 0
        self.refused = 0

    # -- lifecycle -------------------------------------------------------------------------
    def start(self) -> DicosServer:
        from pynetdicom import AE, ALL_TRANSFER_SYNTAXES, evt

        self.out_dir.mkdir(parents=True, exist_ok=True)
        stale = sorted(self.out_dir.glob(".*.part"))
        for part in stale:  # left by a killed run: never complete, never renamed
            remove_quietly(part)
        if stale:
            log.warning("removed %d unfinished temporary file(s) from %s", len(stale), self.out_dir)
        _register_storage_classes()
        ae = AE(ae_title=self.config.ae_title)
        ae.maximum_pdu_size = 1 << 20
        ae.maximum_associations = self.config.max_associations
        ae.acse_timeout = self.config.negotiation_timeout_s
        ae.network_timeout = 30
        ae.dimse_timeout = 30
        ae.add_supported_context(VERIFICATION)
        for uid in STORAGE_CLASSES:
            ae.add_supported_context(uid, ALL_TRANSFER_SYNTAXES)
        if self.config.allow is not None:
            ae.require_called_aet = False
            ae.require_calling_aet = sorted(self.config.allow)
        handlers: list[Any] = [
            (evt.EVT_C_ECHO, self._on_echo),
            (evt.EVT_C_STORE, self._on_store),
            (evt.EVT_DATA_RECV, self._on_data),
            (evt.EVT_ESTABLISHED, self._on_established),
            (evt.EVT_REJECTED, self._on_rejected),
            (evt.EVT_ABORTED, self._on_aborted),
            (evt.EVT_CONN_CLOSE, self._on_close),
        ]
        self._worker = threading.Thread(target=self._work, name="dicos-worker", daemon=True)
        self._worker.start()
        if self.config.detect is not None:
            self._resume_unprocessed()
        try:
            self._server = ae.start_server(
                (self.config.host, self.config.port),
                block=False,
                evt_handlers=handlers,
                ssl_context=self.config.ssl_context,
            )
        except BaseException:
            self.stop()
            raise
        tls = " (TLS)" if self.config.ssl_context else ""
        log.info(
            "listening on %s:%d as %s%s, storing into %s",
            self.config.host,
            self.port,
            self.config.ae_title,
            tls,
            self.out_dir,
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
                ds = pydicom.dcmread(path, stop_before_pixels=True)
                sop_class = _raw_text(ds, 0x00080016) or ""
                uid = safe_uid(_raw_text(ds, 0x00080018))
            except Exception as exc:  # our own file, but never stop the server over it
                log.warning("cannot resume %s: %s", path.name, exc)
                continue
            if sop_class not in IMAGE_2D_CLASSES:
                continue
            study, series = _raw_text(ds, 0x0020000D), _raw_text(ds, 0x0020000E)
            jobs.append(_Job(path, ImageRef(sop_class, uid), study, series, "(resumed)", True))
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
        """Block until every received image has been processed; False on timeout."""
        deadline = time.monotonic() + timeout
        with self._lock:
            while self._pending:
                left = deadline - time.monotonic()
                if left <= 0:
                    return False
                self._lock.wait(left)
        return True

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server = None
        if self._worker is not None:
            self._jobs.put(None)
            self._worker.join(timeout=60)
            self._worker = None

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

    # -- association events ----------------------------------------------------------------
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
        if total > self.drop_over_bytes and self._first_report(event):
            assoc._backscatter_dropped = True
            log.warning(
                "dropped association from %s: message passed %d bytes (limit %d); "
                "nothing partial was written",
                _peer(event),
                total,
                self.drop_over_bytes,
            )
            with contextlib.suppress(OSError):
                assoc.dul.socket.socket.shutdown(socket.SHUT_RDWR)

    def _on_echo(self, event: Any) -> int:
        event.assoc._backscatter_bytes = 0
        log.debug("C-ECHO from %s", _peer(event))
        return STATUS_SUCCESS

    def _on_established(self, event: Any) -> None:
        refused = sorted({str(c.abstract_syntax) for c in event.assoc.rejected_contexts})
        if refused:
            log.warning(
                "association from %s: SOP classes %s not supported (contexts refused)",
                _peer(event),
                ", ".join(refused),
            )

    def _on_rejected(self, event: Any) -> None:
        self._first_report(event)
        allow = self.config.allow
        calling = str(getattr(event.assoc.requestor, "ae_title", "")).strip()
        if allow is not None and calling not in allow:
            why = "calling AE title not allowed"
        else:  # the only other rejection we configure: the association limit
            why = f"{self.config.max_associations} associations already open"
        log.warning("association from %s rejected (%s)", _peer(event), why)

    @staticmethod
    def _first_report(event: Any) -> bool:
        """True once per association: an abort and the closed socket are one incident."""
        if getattr(event.assoc, "_backscatter_reported", False):
            return False
        event.assoc._backscatter_reported = True
        return True

    def _on_aborted(self, event: Any) -> None:
        if self._first_report(event):
            log.warning("association from %s aborted; nothing partial was written", _peer(event))

    def _on_close(self, event: Any) -> None:
        assoc = event.assoc
        if not assoc.is_established:
            # pynetdicom's acceptor thread keeps waiting negotiation_timeout_s for an
            # A-ASSOCIATE-RQ after the connection is gone, holding an association slot: a peer
            # sending garbage in a loop would lock everyone out. Wake it now (None = no request).
            with contextlib.suppress(AttributeError):
                assoc.dul.to_user_queue.put(None)
        if assoc.is_released or assoc.is_rejected or not self._first_report(event):
            return
        if not assoc.is_established:
            addr = getattr(assoc.requestor, "address", "?")
            log.warning("connection from %s closed before an association was made", addr)
        else:
            log.warning(
                "connection from %s closed without release (peer disconnected); "
                "nothing partial was written",
                _peer(event),
            )

    def _refuse(self, event: Any, code: int, reason: str, detail: str = "") -> Dataset:
        """One log line, and a status whose ErrorComment (64 chars at most) is ``reason``."""
        self.refused += 1
        more = f" ({detail})" if detail else ""
        log.warning(
            "refused C-STORE from %s: %s%s (status 0x%04X)", _peer(event), reason, more, code
        )
        return _status(code, reason)

    def _on_store(self, event: Any) -> Dataset | int:
        try:
            return self._store(event)
        except Exception as exc:  # a bug of ours must not take the association down
            log.error("C-STORE from %s failed: %s: %s", _peer(event), type(exc).__name__, exc)
            return _status(STATUS_PROCESSING_FAILURE, f"internal error: {type(exc).__name__}")

    def _store(self, event: Any) -> Dataset | int:
        event.assoc._backscatter_bytes = 0
        if getattr(event.assoc, "_backscatter_dropped", False):  # logged when dropped
            return _status(STATUS_REFUSED_OUT_OF_RESOURCES, "association dropped: too large")
        request = event.request
        size = len(request.DataSet.getbuffer())
        limit = self.config.max_dataset_bytes
        if size > limit:
            return self._refuse(
                event,
                STATUS_REFUSED_OUT_OF_RESOURCES,
                f"dataset of {size} bytes exceeds limit {limit}",
            )
        context_class = str(event.context.abstract_syntax)
        if context_class not in STORAGE_CLASSES:
            return self._refuse(
                event, STATUS_SOP_CLASS_NOT_SUPPORTED, f"SOP class {context_class} not supported"
            )
        try:
            ds = event.dataset
            sop_class = _raw_text(ds, 0x00080016) or ""
            raw_uid = _raw_text(ds, 0x00080018)
            study = _raw_text(ds, 0x0020000D)
            series = _raw_text(ds, 0x0020000E)
        except Exception as exc:
            return self._refuse(event, STATUS_CANNOT_UNDERSTAND, "undecodable dataset", str(exc))
        if raw_uid is None:
            return self._refuse(event, STATUS_CANNOT_UNDERSTAND, "missing SOP Instance UID")
        try:
            uid = safe_uid(raw_uid)
        except InvalidUIDError as exc:
            return self._refuse(
                event, STATUS_CANNOT_UNDERSTAND, "invalid SOP Instance UID", str(exc)
            )
        if sop_class != context_class:
            return self._refuse(
                event,
                STATUS_DATASET_MISMATCH,
                f"SOP class {sop_class or 'missing'} != context {context_class}",
            )
        path = self.out_dir / stored_name(sop_class, uid)
        if path.parent != self.out_dir:  # impossible for a checked UID; belt and braces
            return self._refuse(event, STATUS_CANNOT_UNDERSTAND, f"unsafe UID {uid!r}")
        try:
            self._write_raw(event, path, sop_class, uid)
        except OSError as exc:
            return self._refuse(event, STATUS_REFUSED_OUT_OF_RESOURCES, "write failed", str(exc))
        self.stored += 1
        peer = _peer(event)
        log.info("stored %s (%s) from %s", path.name, object_type(sop_class), peer)
        cfg = self.config
        is_image = sop_class in IMAGE_2D_CLASSES
        read_it = is_image and (cfg.detect is not None or cfg.on_received is not None)
        if read_it or cfg.forward is not None:
            job = _Job(
                path,
                ImageRef(sop_class, uid),
                study,
                series,
                peer,
                read_it,
            )
            with self._lock:
                self._pending += 1
            self._jobs.put(job)
        return STATUS_SUCCESS

    def _write_raw(self, event: Any, path: Path, sop_class: str, uid: str) -> None:
        """Part 10 file of the bytes as received: temp file in OUT, then ``os.replace``."""
        meta = FileMetaDataset()
        set_uid(meta, "MediaStorageSOPClassUID", sop_class)
        set_uid(meta, "MediaStorageSOPInstanceUID", uid)
        meta.TransferSyntaxUID = event.context.transfer_syntax
        set_uid(meta, "ImplementationClassUID", IMPLEMENTATION_CLASS_UID)
        meta.ImplementationVersionName = IMPLEMENTATION_VERSION
        fd, tmp = tempfile.mkstemp(prefix=".", suffix=".part", dir=self.out_dir)
        try:
            with os.fdopen(fd, "wb") as fh:
                fh.write(b"\x00" * 128 + b"DICM")
                write_file_meta_info(DicomFileLike(fh), meta, enforce_standard=True)
                fh.write(event.request.DataSet.getbuffer())
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

    def _process(self, job: _Job) -> None:
        cfg = self.config
        if not job.read:
            self._forward([job.path])
            return
        try:
            scan = read_received(job.path, image=job.image, study=job.study, series=job.series)
        except READ_ERRORS as exc:
            log.warning("stored %s but cannot read it as a scan: %s", job.path.name, exc)
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
        if cfg.forward is not None:
            self._forward([job.path] + ([tdr_path] if tdr_path else []))
        if cfg.on_received is not None:
            cfg.on_received(
                Received(scan, job.path, job.image, job.calling_ae, detections, tdr_path)
            )

    def _forward(self, files: Iterable[Path]) -> None:
        target = self.config.forward
        if target is None:
            return
        try:
            forward(target, list(files), ae_title=self.config.ae_title)
        except (OSError, ValueError, RuntimeError) as exc:
            log.error("forward to %s:%d failed: %s", target.host, target.port, exc)
