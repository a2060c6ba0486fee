"""What the officer is looking at: display settings and the status line, as plain dataclasses.

Windows are ``(center, width)`` in stored-value units (the scan's native pixel scale), like the
DICOM Window Center / Window Width pair. Zoom is output pixels per scan pixel; ``None`` fits the
whole scan into the output. Pan is the scan point ``(x, y)`` shown at the output centre.
"""

from __future__ import annotations

from dataclasses import dataclass, field

#: pseudo-colour maps the viewer cycles through (``"gray"`` is plain grey levels)
COLORMAPS: tuple[str, ...] = ("gray", "bone", "hot", "jet", "viridis", "inferno")

#: gamma values the gamma keys step through (1.0 is linear)
GAMMAS: tuple[float, ...] = (0.4, 0.5, 0.6, 0.7, 0.85, 1.0, 1.2, 1.5, 1.8, 2.2, 2.8)


@dataclass
class ViewState:
    """Mutable display state of one view; :func:`render` reads it and never changes it."""

    #: ``(center, width)`` in stored-value units; ``None`` = automatic (robust percentiles)
    window: tuple[float, float] | None = None
    gamma: float = 1.0
    negative: bool = False
    #: local contrast (CLAHE)
    clahe: bool = False
    #: edge enhancement (unsharp mask)
    edge: bool = False
    colormap: str = "gray"
    #: output pixels per scan pixel; ``None`` = fit to the output
    zoom: float | None = None
    #: scan point ``(x, y)`` at the output centre; ``None`` = the scan centre
    pan: tuple[float, float] | None = None
    #: machine flags scoring below this are not drawn
    threshold: float = 0.5
    #: on a scan with no flag at the threshold, flags within this margin below it are drawn
    #: dashed as near misses (0 draws none)
    near_miss: float = 0.1
    #: draw boxes, labels, marks and heat map
    overlays: bool = True
    #: blend the anomaly heat map in, when one is given
    heatmap: bool = True
    #: index of the selected object (machine flags first, then the officer's marks)
    selected: int | None = None
    show_help: bool = False
    #: a box being dragged, in scan coordinates ``(x0, y0, x1, y1)``
    rubber_band: tuple[float, float, float, float] | None = None

    def __post_init__(self) -> None:
        if self.window is not None and not self.window[1] > 0:
            raise ValueError(f"window: expected (center, width) with width > 0, got {self.window}")
        if not self.gamma > 0:
            raise ValueError(f"gamma: expected > 0, got {self.gamma}")
        if self.colormap not in COLORMAPS:
            raise ValueError(f"colormap: expected one of {COLORMAPS}, got {self.colormap!r}")
        if self.zoom is not None and not self.zoom > 0:
            raise ValueError(f"zoom: expected > 0 or None, got {self.zoom}")
        if not 0.0 <= self.threshold <= 1.0:
            raise ValueError(f"threshold: expected 0..1, got {self.threshold}")
        if not 0.0 <= self.near_miss <= 1.0:
            raise ValueError(f"near_miss: expected a margin in 0..1, got {self.near_miss}")

    def reset_image(self) -> None:
        """Back to automatic window and no enhancement (zoom and overlays unchanged)."""
        self.window = None
        self.gamma = 1.0
        self.negative = False
        self.clahe = False
        self.edge = False
        self.colormap = "gray"


@dataclass(frozen=True)
class Mark:
    """A box the officer drew, ``(x0, y0, x1, y1)`` in scan pixels, with its class name."""

    box: tuple[float, float, float, float]
    class_name: str

    def __post_init__(self) -> None:
        x0, y0, x1, y1 = (float(v) for v in self.box)
        object.__setattr__(self, "box", (min(x0, x1), min(y0, y1), max(x0, x1), max(y0, y1)))


@dataclass(frozen=True)
class StatusInfo:
    """Fields of the status bar; empty fields are left out."""

    scan_id: str = ""
    device: str = ""
    time: str = ""
    model: str = ""
    provider: str = ""
    #: machine alarm state, e.g. "ALARM" / "CLEAR" / "NO MODEL"
    alarm: str = ""
    operator: str = ""
    #: e.g. "3/50"
    position: str = ""
    #: the officer's decision on this scan, if any
    decision: str = ""
    #: free text (mode, messages)
    note: str = ""
    extra: tuple[str, ...] = field(default_factory=tuple)

    def parts(self) -> list[str]:
        model = self.model + (f" ({self.provider})" if self.provider else "")
        items = [
            f"scan {short_id(self.scan_id)}" if self.scan_id else "",
            self.device,
            self.time,
            f"model {model}" if model else "",
            f"op {self.operator}" if self.operator else "",
            self.position,
            f"decided {self.decision}" if self.decision else "",
            self.note,
            *self.extra,
        ]
        return [p for p in items if p]


def short_id(text: str, limit: int = 28) -> str:
    """Long ids (DICOM UIDs, hashes) keep their distinctive tail: ``~...last chars``."""
    return text if len(text) <= limit else "~" + text[-(limit - 1) :]
