"""open_scan: content sniffing and URI dispatch to registered frame sources."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from backscatter.acquisition import ScanAccessError, open_scan, register_scheme, sniff
from backscatter.acquisition.sources import SCHEMES
from backscatter.scan import Scan


class CountingSource:
    """A real FrameSource yielding numbered frames; records whether it was closed."""

    instances: list[CountingSource] = []

    def __init__(self, uri: str, frames: int = 3) -> None:
        self.uri = uri
        self.frames = frames
        self.closed = False
        self.yielded = 0
        CountingSource.instances.append(self)

    def __iter__(self) -> Iterator[Scan]:
        for i in range(self.frames):
            self.yielded += 1
            px = np.full((4, 5), i, np.uint16)
            yield Scan(pixels=px, bits_stored=16, scan_id=f"count-{i}", source_uri=self.uri)

    def close(self) -> None:
        self.closed = True


@pytest.fixture
def counting_scheme() -> Iterator[None]:
    CountingSource.instances.clear()
    register_scheme("acqtest", CountingSource)
    register_scheme("acqempty", lambda uri: CountingSource(uri, frames=0))
    yield
    SCHEMES.pop("acqtest", None)
    SCHEMES.pop("acqempty", None)


def test_uri_returns_first_scan_and_closes_source(counting_scheme: None) -> None:
    scan = open_scan("acqtest://device?seed=7")
    assert scan.scan_id == "count-0"
    assert scan.source_uri == "acqtest://device?seed=7"
    (source,) = CountingSource.instances
    assert source.closed
    assert source.yielded == 1


def test_uri_source_without_frames(counting_scheme: None) -> None:
    with pytest.raises(ScanAccessError, match="acqempty://x: source closed before yielding"):
        open_scan("acqempty://x")
    assert CountingSource.instances[0].closed


def test_unknown_scheme() -> None:
    with pytest.raises(ScanAccessError, match="unknown source scheme 'nosuch'"):
        open_scan("nosuch://thing")


@pytest.mark.parametrize(
    ("head", "kind"),
    [
        (b"\0" * 128 + b"DICM", "DICOM"),
        (b"II*\x00\x08\x00\x00\x00", "TIFF"),
        (b"MM\x00*\x00\x00\x00\x08", "TIFF"),
        (b"\x89PNG\r\n\x1a\n", "PNG"),
        (b"\x08\x00\x05\x00CS", None),  # bare dataset: decided after looking for a sidecar
        (b"RAWDATA!", None),
    ],
)
def test_sniff(head: bytes, kind: str | None) -> None:
    assert sniff(head + b"\0" * 16) == kind


def test_raw_sidecar_wins_over_bare_dicom_guess(tmp_path: Path) -> None:
    """Raw pixels that happen to start like a DICOM tag are raw when a sidecar says so."""
    px = np.array([[8, 5], [1, 2]], np.uint16)  # bytes 08 00 05 00 ...
    path = tmp_path / "x.raw"
    path.write_bytes(px.tobytes())
    (tmp_path / "x.yaml").write_text("width: 2\nheight: 2\ndtype: uint16\n")
    scan = open_scan(path)
    assert scan.object_type == "RAW"
    np.testing.assert_array_equal(scan.pixels, px)


def test_path_object_with_scheme_like_name_is_a_file(tmp_path: Path) -> None:
    import cv2

    path = tmp_path / "img.png"
    cv2.imwrite(str(path), np.ones((2, 2), np.uint8))
    assert open_scan(path).object_type == "PNG"
