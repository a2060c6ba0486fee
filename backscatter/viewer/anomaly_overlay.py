"""Anomaly heat-map blend and region outlines: pure functions on display images.

The map is in calibrated anomaly units (:mod:`backscatter.inference.anomaly`: 0 = clean median,
1.0 = the clean pixel threshold). Below ``vmin`` nothing is tinted, so a clean scan stays as it
is; from ``vmin`` to ``vmax`` the tint goes up the colour map and its opacity up to ``alpha``.
"""

from __future__ import annotations

import cv2
import numpy as np

#: region outline colour (BGR): magenta, apart from the detector's class colours
REGION_BGR = (255, 0, 255)


def _as_bgr(image: np.ndarray) -> np.ndarray:
    if image.dtype != np.uint8:
        raise ValueError(f"image: expected uint8 display pixels, got {image.dtype}")
    if image.ndim == 2:
        return cv2.cvtColor(image, cv2.COLOR_GRAY2BGR)
    if image.ndim == 3 and image.shape[2] == 3:
        return image.copy()
    raise ValueError(f"image: expected (rows, cols) or (rows, cols, 3), got {image.shape}")


def blend_heatmap(
    image: np.ndarray,
    amap: np.ndarray,
    *,
    alpha: float = 0.55,
    vmin: float = 0.5,
    vmax: float = 3.0,  # HEAT_LOW, HEAT_HIGH of backscatter.inference.anomaly
) -> np.ndarray:
    """``image`` (rows, cols) or (rows, cols, 3) uint8 with ``amap`` blended on; a new BGR array.

    ``amap`` of another shape is resized to the image (a 1/4-resolution map, a zoomed view)."""
    if not 0.0 <= alpha <= 1.0:
        raise ValueError(f"alpha: expected 0..1, got {alpha}")
    if not vmax > vmin:
        raise ValueError(f"vmin/vmax: expected vmin < vmax, got {vmin}, {vmax}")
    out = _as_bgr(image)
    rows, cols = out.shape[:2]
    m: np.ndarray = np.asarray(amap, np.float32)
    if m.ndim != 2:
        raise ValueError(f"amap: expected (rows, cols), got {m.shape}")
    if m.shape != (rows, cols):
        m = cv2.resize(m, (cols, rows), interpolation=cv2.INTER_LINEAR)
    level = np.clip((m - vmin) / (vmax - vmin), 0.0, 1.0)
    colour = cv2.applyColorMap((level * 255).astype(np.uint8), cv2.COLORMAP_INFERNO)
    weight = (np.where(m > vmin, 0.25 + 0.75 * level, 0.0) * alpha)[..., None]
    blended = out.astype(np.float32) * (1.0 - weight) + colour.astype(np.float32) * weight
    return np.clip(np.rint(blended), 0, 255).astype(np.uint8)


def draw_regions(
    image: np.ndarray,
    boxes: np.ndarray,
    *,
    labels: list[str] | None = None,
    scale: float = 1.0,
    offset: tuple[float, float] = (0.0, 0.0),
    thickness: int = 2,
) -> np.ndarray:
    """``boxes`` (N, 4) x0, y0, x1, y1 scan px outlined (dashed magenta) on a copy of ``image``.

    ``scale``/``offset`` map scan pixels to the image: ``(x * scale + ox, y * scale + oy)``."""
    out = _as_bgr(image)
    b = np.asarray(boxes, np.float32).reshape(-1, 4)
    for k, (x0, y0, x1, y1) in enumerate(b):
        p0 = (int(round(x0 * scale + offset[0])), int(round(y0 * scale + offset[1])))
        p1 = (int(round(x1 * scale + offset[0])) - 1, int(round(y1 * scale + offset[1])) - 1)
        _dashed_rect(out, p0, p1, thickness)
        text = labels[k] if labels is not None and k < len(labels) else "anomaly"
        cv2.putText(out, text, (p0[0] + 2, max(p0[1] - 4, 10)), cv2.FONT_HERSHEY_SIMPLEX, 0.45,
                    REGION_BGR, 1, cv2.LINE_AA)  # fmt: skip
    return out


def _dashed_rect(img: np.ndarray, p0: tuple[int, int], p1: tuple[int, int], t: int) -> None:
    dash = 8
    (x0, y0), (x1, y1) = p0, p1
    for x in range(x0, x1, 2 * dash):
        cv2.line(img, (x, y0), (min(x + dash, x1), y0), REGION_BGR, t)
        cv2.line(img, (x, y1), (min(x + dash, x1), y1), REGION_BGR, t)
    for y in range(y0, y1, 2 * dash):
        cv2.line(img, (x0, y), (x0, min(y + dash, y1)), REGION_BGR, t)
        cv2.line(img, (x1, y), (x1, min(y + dash, y1)), REGION_BGR, t)
