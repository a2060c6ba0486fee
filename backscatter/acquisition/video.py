"""OpenCV ``VideoCapture`` source for devices that expose a video output.

``VideoSource(0)`` opens capture device 0, ``VideoSource("scan.avi")`` a file and
``VideoSource("rtsp://host/stream")`` a stream. URIs: ``video://0``, ``video:///abs/file.mp4``,
``video://rtsp://host/stream``. Each frame becomes one Scan: greyscale shown as identical
B, G, R channels is reduced to one channel exactly; real colour is converted to luma (BT.601,
as OpenCV's ``COLOR_BGR2GRAY``) and flagged in ``extras["converted_from_colour"]``.
"""

from __future__ import annotations

import hashlib
import os
import time
from collections.abc import Iterator
from datetime import datetime
from typing import Any

import numpy as np

from backscatter.acquisition.errors import ScanAccessError
from backscatter.acquisition.sources import register_scheme
from backscatter.scan import AcquisitionMetadata, Scan


class VideoSource:
    """Frames of a capture device, video file or stream URL as Scans.

    ``max_frames`` stops after that many frames; ``every`` keeps one frame in ``every``.
    A file ends at its last frame; a device or stream ends after ``close()`` or when it stops
    delivering frames for ``read_timeout_s``.
    """

    def __init__(
        self,
        source: int | str | os.PathLike[str],
        *,
        max_frames: int | None = None,
        every: int = 1,
        read_timeout_s: float = 5.0,
        metadata: AcquisitionMetadata | None = None,
    ) -> None:
        import cv2

        if every < 1:
            raise ValueError(f"every: expected >= 1, got {every}")
        self.source: int | str = source if isinstance(source, int) else os.fspath(source)
        self.label = f"video://{self.source}"
        self.max_frames = max_frames
        self.every = every
        self.read_timeout_s = read_timeout_s
        self.metadata = metadata or AcquisitionMetadata()
        self.is_file = isinstance(self.source, str) and os.path.isfile(self.source)
        if isinstance(self.source, str) and "://" not in self.source and not self.is_file:
            raise ScanAccessError(self.source, "no such video file")
        self._cap: Any = cv2.VideoCapture(self.source)
        if not self._cap.isOpened():
            self._cap.release()
            raise ScanAccessError(self.label, "OpenCV VideoCapture could not open it")
        # ids: stable per file content position; per session for live devices
        session = "" if self.is_file else datetime.now().strftime("%Y%m%dT%H%M%S%f")
        digest = hashlib.sha256(f"{self.source}|{session}".encode()).hexdigest()[:12]
        self._id_prefix = f"video-{digest}"
        self.backend = str(self._cap.getBackendName())
        self.fps = float(self._cap.get(cv2.CAP_PROP_FPS) or 0.0)

    def close(self) -> None:
        if self._cap is not None:
            self._cap.release()
            self._cap = None

    def __enter__(self) -> VideoSource:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __iter__(self) -> Iterator[Scan]:
        index = -1
        produced = 0
        last_ok = time.monotonic()
        while self._cap is not None:
            if self.max_frames is not None and produced >= self.max_frames:
                return
            ok, frame = self._cap.read()
            if not ok or frame is None:
                if self.is_file or time.monotonic() - last_ok > self.read_timeout_s:
                    return
                time.sleep(0.01)
                continue
            last_ok = time.monotonic()
            index += 1
            if index % self.every:
                continue
            produced += 1
            yield self._to_scan(frame, index)

    def _to_scan(self, frame: np.ndarray, index: int) -> Scan:
        import cv2

        extras: dict[str, Any] = {"frame_index": index, "backend": self.backend}
        if self.fps > 0:
            extras["fps"] = self.fps
        if frame.ndim == 3:
            channels = frame.shape[2]
            b = frame[:, :, 0]
            if all(np.array_equal(b, frame[:, :, c]) for c in range(1, min(channels, 3))):
                frame = np.ascontiguousarray(b)
            else:
                code = cv2.COLOR_BGRA2GRAY if channels == 4 else cv2.COLOR_BGR2GRAY
                frame = cv2.cvtColor(frame, code)
                extras["converted_from_colour"] = True
        return Scan(
            pixels=frame,
            bits_stored=frame.dtype.itemsize * 8,
            scan_id=f"{self._id_prefix}-{index:06d}",
            source_uri=self.label,
            metadata=self.metadata,
            object_type="VIDEO",
            extras=extras,
        )


def parse_video_uri(uri: str) -> int | str:
    """``video://0`` -> 0; ``video:///a/b.mp4`` -> "/a/b.mp4"; ``video://rtsp://h/s`` -> URL."""
    rest = uri.split("://", 1)[1] if "://" in uri else uri
    if rest.isdigit():
        return int(rest)
    return rest


def _from_uri(uri: str) -> VideoSource:
    return VideoSource(parse_video_uri(uri))


register_scheme("video", _from_uri)
