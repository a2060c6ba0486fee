"""VideoSource over a real (FFV1, lossless) video file written by OpenCV."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest

from backscatter.acquisition import FrameSource, ScanAccessError, open_scan, open_source
from backscatter.acquisition.video import VideoSource, parse_video_uri


def _write_video(path: Path, frames: list[np.ndarray], colour: bool = False) -> Path:
    h, w = frames[0].shape[:2]
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"FFV1"), 10, (w, h), colour)
    if not writer.isOpened():
        pytest.skip("OpenCV build cannot write FFV1 video")
    for frame in frames:
        writer.write(frame)
    writer.release()
    return path


@pytest.fixture
def grey_video(tmp_path: Path, rng: np.random.Generator) -> tuple[Path, list[np.ndarray]]:
    frames = [rng.integers(0, 256, (24, 40)).astype(np.uint8) for _ in range(6)]
    return _write_video(tmp_path / "scan.avi", frames), frames


def test_frames_are_grey_scans_with_exact_pixels(grey_video: tuple[Path, list[np.ndarray]]) -> None:
    path, frames = grey_video
    with VideoSource(path) as source:
        assert isinstance(source, FrameSource)
        scans = list(source)
    assert len(scans) == len(frames)
    for scan, frame in zip(scans, frames, strict=True):
        assert scan.pixels.shape == (24, 40)
        assert scan.pixels.dtype == np.uint8
        np.testing.assert_array_equal(scan.pixels, frame)
        assert "converted_from_colour" not in scan.extras
    assert len({s.scan_id for s in scans}) == len(scans)
    assert [s.extras["frame_index"] for s in scans] == list(range(6))


def test_every_and_max_frames(grey_video: tuple[Path, list[np.ndarray]]) -> None:
    path, frames = grey_video
    with VideoSource(path, every=2, max_frames=2) as source:
        scans = list(source)
    assert [s.extras["frame_index"] for s in scans] == [0, 2]
    np.testing.assert_array_equal(scans[1].pixels, frames[2])


def test_colour_frames_are_converted_and_flagged(tmp_path: Path) -> None:
    frame = np.zeros((8, 8, 3), np.uint8)
    frame[..., 2] = 200  # red in BGR
    path = _write_video(tmp_path / "c.avi", [frame], colour=True)
    (scan,) = list(VideoSource(path))
    assert scan.extras["converted_from_colour"] is True
    assert int(scan.pixels[0, 0]) == int(cv2.cvtColor(frame, cv2.COLOR_BGR2GRAY)[0, 0])


def test_video_uri(grey_video: tuple[Path, list[np.ndarray]]) -> None:
    path, frames = grey_video
    assert parse_video_uri("video://0") == 0
    assert parse_video_uri("video://rtsp://cam/stream") == "rtsp://cam/stream"
    assert parse_video_uri(f"video://{path}") == str(path)
    source = open_source(f"video://{path}")
    try:
        assert sum(1 for _ in source) == len(frames)
    finally:
        source.close()
    np.testing.assert_array_equal(open_scan(f"video://{path}").pixels, frames[0])


def test_missing_file_and_device(tmp_path: Path) -> None:
    with pytest.raises(ScanAccessError, match="no such video file"):
        VideoSource(tmp_path / "none.avi")
    with pytest.raises(ScanAccessError, match="could not open"):
        VideoSource(97)
