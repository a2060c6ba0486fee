"""How tolerant readers are: one explicit policy object instead of global settings."""

from __future__ import annotations

from dataclasses import dataclass

#: pydicom decoding plugins a policy may name explicitly
DECODER_PLUGINS: tuple[str, ...] = ("pylibjpeg", "gdcm", "pydicom", "pyjpegls", "pillow")

#: plugins used when the policy names none, in order. pylibjpeg was chosen by
#: bench/read_speed.py: gdcm decodes JPEG Lossless about as fast, but on corrupt JPEG streams it
#: prints to stderr and can abort the whole process (``--fuzz``), so it runs only when asked for.
AUTO_PLUGINS: tuple[str, ...] = ("pylibjpeg", "pydicom", "pyjpegls", "pillow")


@dataclass(frozen=True)
class ReadPolicy:
    """Limits and tolerances for reading one scan.

    ``max_pixel_bytes`` caps the decoded pixel buffer (rows x cols x bytes per pixel) and is
    checked from the header *before* anything is allocated; ``max_file_bytes`` caps the file
    read into memory. ``recover_quirks`` lets readers repair known vendor quirks (e.g. the
    DICOS V02A OD length without reserved bytes) instead of refusing the file.
    ``decoding_plugin`` names the pydicom plugin for compressed DICOM
    ("" = the first available of :data:`AUTO_PLUGINS`).
    """

    max_pixel_bytes: int = 2 * 1024**3
    max_file_bytes: int = 4 * 1024**3
    recover_quirks: bool = True
    decoding_plugin: str = ""

    def __post_init__(self) -> None:
        for name in ("max_pixel_bytes", "max_file_bytes"):
            value = getattr(self, name)
            if not isinstance(value, int) or value <= 0:
                raise ValueError(f"{name}: expected a positive int, got {value!r}")
        if self.decoding_plugin not in ("", *DECODER_PLUGINS):
            known = ", ".join(DECODER_PLUGINS)
            raise ValueError(
                f"decoding_plugin: expected '' or one of {known}, got {self.decoding_plugin!r}"
            )


DEFAULT_POLICY = ReadPolicy()
