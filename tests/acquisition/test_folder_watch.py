"""FolderWatch yields each file once, only after it is completely written."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import cv2
import numpy as np
import pytest

from backscatter.acquisition import FolderWatch, ScanAccessError, open_source


def _png_bytes(value: int, shape: tuple[int, int] = (32, 48)) -> bytes:
    ok, enc = cv2.imencode(".png", np.full(shape, value, np.uint16))
    assert ok
    return enc.tobytes()


def test_slowly_written_file_is_yielded_once_complete(tmp_path: Path) -> None:
    data = _png_bytes(1234)
    target = tmp_path / "slow.png"
    errors: list[tuple[Path, Exception]] = []
    watch = FolderWatch(
        tmp_path, poll_s=0.02, settle_s=0.3, idle_timeout_s=1.5,
        on_error=lambda p, e: errors.append((p, e)),
    )  # fmt: skip
    finished = threading.Event()

    def writer() -> None:
        with target.open("wb") as f:
            for i in range(0, len(data), 40):
                f.write(data[i : i + 40])
                f.flush()
                time.sleep(0.1 if i < 120 else 0.0)  # stalls shorter than settle_s
        finished.set()

    thread = threading.Thread(target=writer)
    thread.start()
    scans = list(watch)
    thread.join()
    assert finished.is_set()
    assert errors == []
    assert len(scans) == 1
    assert scans[0].source_uri == str(target)
    np.testing.assert_array_equal(scans[0].pixels, np.full((32, 48), 1234, np.uint16))


def test_each_file_once_and_bad_files_reported(tmp_path: Path) -> None:
    (tmp_path / "a.png").write_bytes(_png_bytes(1))
    (tmp_path / "bad.dcm").write_bytes(b"")  # zero bytes: not complete yet, never read
    (tmp_path / "junk.bin").write_bytes(b"\x01" * 100)
    (tmp_path / "a.yaml").write_text("ignored: true\n")
    (tmp_path / ".hidden.png").write_bytes(_png_bytes(3))
    (tmp_path / "b.png.part").write_bytes(_png_bytes(4))
    errors: list[Path] = []
    watch = FolderWatch(
        tmp_path, poll_s=0.02, settle_s=0.05, idle_timeout_s=0.4,
        on_error=lambda p, e: errors.append(p),
    )  # fmt: skip
    first = [s.source_uri for s in watch]
    assert first == [str(tmp_path / "a.png")]
    assert errors == [tmp_path / "junk.bin"]
    # a second pass of the same watch finds nothing new
    assert list(watch) == []


def test_existing_files_skipped_when_asked(tmp_path: Path) -> None:
    (tmp_path / "old.png").write_bytes(_png_bytes(1))
    watch = FolderWatch(
        tmp_path, include_existing=False, poll_s=0.02, settle_s=0.05, idle_timeout_s=0.6
    )

    def later() -> None:
        time.sleep(0.1)
        (tmp_path / "new.png").write_bytes(_png_bytes(2))

    threading.Thread(target=later).start()
    assert [s.source_uri for s in watch] == [str(tmp_path / "new.png")]


def test_close_stops_iteration_from_another_thread(tmp_path: Path) -> None:
    watch = FolderWatch(tmp_path, poll_s=0.02)
    threading.Timer(0.2, watch.close).start()
    t0 = time.monotonic()
    assert list(watch) == []
    assert time.monotonic() - t0 < 5


def test_watch_uri_and_missing_folder(tmp_path: Path) -> None:
    (tmp_path / "a.png").write_bytes(_png_bytes(5))
    source = open_source(f"watch://{tmp_path}?settle=0.05&poll=0.02&idle=0.3")
    try:
        assert [s.pixels[0, 0] for s in source] == [5]
    finally:
        source.close()
    with pytest.raises(ScanAccessError, match="watch folder does not exist"):
        FolderWatch(tmp_path / "missing")
