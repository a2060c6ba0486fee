"""The anomaly model itself: fixed multi-scale features + a Gaussian mixture, as ONNX and numpy.

Position-free (scans are not aligned), fitted on clean scans only. On the robust-normalised scan
``x`` (rows, cols), at stride 8 (one cell = 8 x 8 px, 1.6 cm on the handheld device):

- ``a`` = cell mean, ``fine`` = cell standard deviation (texture, noise),
- ``m_s``, ``sd_s`` = mean and standard deviation of ``a`` over s x s cells, s in :data:`SCALES`
  (context from 5 to 24 cm: "is this cell like what surrounds it"),
- ``g`` = Sobel gradient magnitude of ``a`` and its 7 x 7 mean (edges, ribs, seams),
- ``max_7 - m_7``, ``m_7 - min_7`` and ``max_15 - min_15`` (grey-level dilation/erosion: a bright
  or dark body inside its surround).

The score of a cell is ``min_k (f - mu_k)^T P_k (f - mu_k) + c_k`` over the mixture's components
(Mahalanobis distance to the nearest kind of clean material, with ``c_k = log det S_k - 2 log
pi_k``), smoothed over 3 x 3 cells and calibrated: ``(score - offset) / scale``, so 1.0 is the
fit's clean pixel threshold. The outermost ring of cells is set to 0 (the clean median): the
scan's edge (beam fall-off, the first and last lines) is no place to hide anything and would
otherwise be the most frequent false alarm. :func:`reference_map` is the same computation in
numpy (the ONNX export is checked against it). Averages at the image border count only cells
inside the image (``count_include_pad = 0``), maxima and minima likewise; the Sobel filter sees
a reflected border.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

#: context scales, in stride-4 cells (odd)
SCALES: tuple[int, ...] = (3, 7, 15)
STRIDE = 8
SMOOTH = 3
FEATURE_NAMES: tuple[str, ...] = (
    "mean",
    "fine_std",
    *(f"mean_{s}" for s in SCALES),
    *(f"std_{s}" for s in SCALES),
    "grad",
    "grad_mean_7",
    "dilation_7",
    "erosion_7",
    "range_15",
)
N_FEATURES = len(FEATURE_NAMES)
OPSET = 17
_EPS = 1e-6


@dataclass(frozen=True)
class Mixture:
    """A fitted mixture: ``means (K, C)``, ``chol (K, C, C)`` with ``P_k = chol_k chol_k^T``
    (the precision's Cholesky factor), ``const (K,)``, and the calibration ``offset``/``scale``."""

    means: np.ndarray
    chol: np.ndarray
    const: np.ndarray
    offset: float = 0.0
    scale: float = 1.0

    def __post_init__(self) -> None:
        k, c = self.means.shape
        if self.chol.shape != (k, c, c) or self.const.shape != (k,):
            raise ValueError(
                f"mixture: expected chol ({k}, {c}, {c}) and const ({k},), got "
                f"{self.chol.shape} and {self.const.shape}"
            )
        if c != N_FEATURES:
            raise ValueError(f"mixture: expected {N_FEATURES} features, got {c}")
        if not self.scale > 0:
            raise ValueError(f"mixture: expected scale > 0, got {self.scale}")


# -- numpy reference ---------------------------------------------------------------------------


def _box_mean(img: np.ndarray, k: int) -> np.ndarray:
    """k x k mean (k odd) over the cells inside the image only, (h, w) -> (h, w)."""
    r = k // 2
    pad = np.pad(img.astype(np.float64), r)
    ones = np.pad(np.ones(img.shape), r)

    def box(a: np.ndarray) -> np.ndarray:
        c = np.cumsum(np.cumsum(a, axis=0), axis=1)
        c = np.pad(c, ((1, 0), (1, 0)))
        h, w = img.shape
        return c[k : k + h, k : k + w] - c[:h, k : k + w] - c[k : k + h, :w] + c[:h, :w]

    return (box(pad) / box(ones)).astype(np.float32)


def _box_max(img: np.ndarray, k: int) -> np.ndarray:
    """k x k maximum (k odd) over the cells inside the image, (h, w) -> (h, w)."""
    r = k // 2
    pad = np.pad(img, r, constant_values=-np.inf)
    win = np.lib.stride_tricks.sliding_window_view(pad, (k, k))
    return np.asarray(win.max(axis=(2, 3)), np.float32)


def reference_features(x: np.ndarray) -> np.ndarray:
    """``(rows, cols)`` normalised scan (multiples of 8) -> ``(C, rows/8, cols/8)`` float32."""
    rows, cols = x.shape
    if rows % STRIDE or cols % STRIDE:
        raise ValueError(f"features: expected rows and cols multiples of {STRIDE}, got {x.shape}")
    cells = x.astype(np.float64).reshape(rows // STRIDE, STRIDE, cols // STRIDE, STRIDE)
    a = cells.mean(axis=(1, 3)).astype(np.float32)
    sq = (cells**2).mean(axis=(1, 3)).astype(np.float32)
    fine = np.sqrt(np.maximum(sq - a * a, 0.0) + _EPS)
    means = [_box_mean(a, s) for s in SCALES]
    stds = [np.sqrt(np.maximum(_box_mean(a * a, s) - m * m, 0.0) + _EPS) for s, m in
            zip(SCALES, means, strict=True)]  # fmt: skip
    p = np.pad(a, 1, mode="reflect")
    gx = (p[:-2, 2:] + 2 * p[1:-1, 2:] + p[2:, 2:]) - (p[:-2, :-2] + 2 * p[1:-1, :-2] + p[2:, :-2])
    gy = (p[2:, :-2] + 2 * p[2:, 1:-1] + p[2:, 2:]) - (p[:-2, :-2] + 2 * p[:-2, 1:-1] + p[:-2, 2:])
    g = np.sqrt(gx * gx + gy * gy + _EPS)
    m7, mx7, mn7 = means[1], _box_max(a, 7), -_box_max(-a, 7)
    rng15 = _box_max(a, 15) + _box_max(-a, 15)
    feats = [a, fine, *means, *stds, g, _box_mean(g, 7), mx7 - m7, m7 - mn7, rng15]
    return np.stack(feats).astype(np.float32)


def reference_scores(features: np.ndarray, mixture: Mixture) -> np.ndarray:
    """Raw cell scores ``min_k maha_k + c_k``: ``(C, h, w)`` -> ``(h, w)`` float32."""
    c, h, w = features.shape
    f = features.reshape(c, -1).T.astype(np.float64)  # (n, C)
    best = np.full(f.shape[0], np.inf)
    for mu, chol, const in zip(mixture.means, mixture.chol, mixture.const, strict=True):
        z = (f - mu) @ chol
        best = np.minimum(best, (z * z).sum(axis=1) + const)
    return best.reshape(h, w).astype(np.float32)


def reference_map(x: np.ndarray, mixture: Mixture) -> np.ndarray:
    """The calibrated stride-8 map ``(rows/8, cols/8)`` of what the ONNX export computes."""
    raw = reference_scores(reference_features(x), mixture)
    out = (_box_mean(raw, SMOOTH) - np.float32(mixture.offset)) / np.float32(mixture.scale)
    out[[0, -1], :] = 0.0
    out[:, [0, -1]] = 0.0
    return out


# -- ONNX graph --------------------------------------------------------------------------------


def build_onnx(mixture: Mixture | None, *, metadata: dict[str, str] | None = None) -> bytes:
    """Serialised ONNX model: input ``image`` float32 (1, 1, H, W), H and W multiples of 8.

    With a mixture: outputs ``anomaly_map`` (1, 1, H/8, W/8) calibrated and ``score`` (1,) its
    maximum. Without: output ``features`` (1, C, H/8, W/8) (what fitting samples).
    """
    from onnx import TensorProto, helper, numpy_helper

    nodes = []
    inits = []

    def const(name: str, value: Any) -> str:
        inits.append(numpy_helper.from_array(np.asarray(value), name))
        return name

    def node(op: str, inputs: list[str], out: str, **attrs: Any) -> str:
        nodes.append(helper.make_node(op, inputs, [out], **attrs))
        return out

    def pool(inp: str, k: int, out: str) -> str:
        # separable: a row mean then a column mean over the cells inside the image is exactly the
        # k x k mean over them (the inside part of a window is a rectangle), at 2k not k^2 adds
        r = k // 2
        rows = node("AveragePool", [inp], f"{out}_r", kernel_shape=[1, k], pads=[0, r, 0, r],
                    strides=[1, 1], count_include_pad=0)  # fmt: skip
        return node("AveragePool", [rows], out, kernel_shape=[k, 1], pads=[r, 0, r, 0],
                    strides=[1, 1], count_include_pad=0)  # fmt: skip

    def maxpool(inp: str, k: int, out: str) -> str:
        r = k // 2
        rows = node("MaxPool", [inp], f"{out}_r", kernel_shape=[1, k], pads=[0, r, 0, r])
        return node("MaxPool", [rows], out, kernel_shape=[k, 1], pads=[r, 0, r, 0])

    def sqrt_pos(inp: str, out: str) -> str:
        relu = node("Relu", [inp], f"{out}_relu")
        return node("Sqrt", [node("Add", [relu, const(f"{out}_eps", np.float32(_EPS))],
                                  f"{out}_plus")], out)  # fmt: skip

    a = node("AveragePool", ["image"], "a", kernel_shape=[STRIDE] * 2, strides=[STRIDE] * 2)
    x2 = node("Mul", ["image", "image"], "x2")
    q = node("AveragePool", [x2], "q", kernel_shape=[STRIDE] * 2, strides=[STRIDE] * 2)
    a2 = node("Mul", [a, a], "a2")
    fine = sqrt_pos(node("Sub", [q, a2], "fine_var"), "fine")
    means, stds = [], []
    for s in SCALES:
        m = pool(a, s, f"m{s}")
        v = node("Sub", [pool(a2, s, f"q{s}"), node("Mul", [m, m], f"mm{s}")], f"v{s}")
        means.append(m)
        stds.append(sqrt_pos(v, f"sd{s}"))
    padded = node("Pad", [a, const("pads1", np.array([0, 0, 1, 1, 0, 0, 1, 1], np.int64))],
                  "a_pad", mode="reflect")  # fmt: skip
    sobel_x = np.array([[-1, 0, 1], [-2, 0, 2], [-1, 0, 1]], np.float32)
    sobel = np.stack([sobel_x, sobel_x.T])[:, None]  # (2, 1, 3, 3)
    gxy = node("Conv", [padded, const("sobel", sobel)], "gxy")
    gsq = node("ReduceSum", [node("Mul", [gxy, gxy], "gxy2"), const("ax1", np.array([1]))],
               "gsq", keepdims=1)  # fmt: skip
    g = node("Sqrt", [node("Add", [gsq, const("geps", np.float32(_EPS))], "gsq_eps")], "g")
    gm = pool(g, 7, "gm7")
    neg = node("Neg", [a], "a_neg")
    dil = node("Sub", [maxpool(a, 7, "mx7"), means[1]], "dil7")
    ero = node("Add", [means[1], maxpool(neg, 7, "nmx7")], "ero7")
    rng15 = node("Add", [maxpool(a, 15, "mx15"), maxpool(neg, 15, "nmx15")], "rng15")
    feats = node("Concat", [a, fine, *means, *stds, g, gm, dil, ero, rng15], "features", axis=1)
    shape_f: list[int | str] = [1, N_FEATURES, "h", "w"]
    outputs = [helper.make_tensor_value_info("features", TensorProto.FLOAT, shape_f)]
    if mixture is not None:
        k, c = mixture.means.shape
        w = np.transpose(mixture.chol, (0, 2, 1)).reshape(k * c, c, 1, 1)  # rows: chol_k^T
        b = -np.einsum("kij,ki->kj", mixture.chol, mixture.means).reshape(-1)
        z = node("Conv", [feats, const("w_maha", w.astype(np.float32)),
                          const("b_maha", b.astype(np.float32))], "z")  # fmt: skip
        z2 = node("Mul", [z, z], "z2")
        group = np.zeros((k, k * c, 1, 1), np.float32)
        for j in range(k):
            group[j, j * c : (j + 1) * c] = 1.0
        c_k = const("c_k", mixture.const.astype(np.float32))
        d = node("Conv", [z2, const("w_sum", group), c_k], "d")
        raw = node("ReduceMin", [d], "raw", axes=[1], keepdims=1)
        smooth = pool(raw, SMOOTH, "raw_smooth")
        shifted = node("Sub", [smooth, const("offset", np.float32(mixture.offset))], "shifted")
        calibrated = node("Div", [shifted, const("scale", np.float32(mixture.scale))], "calib")
        cut = [const("s_start", np.array([1, 1])), const("s_end", np.array([-1, -1])),
               const("s_axes", np.array([2, 3]))]  # fmt: skip
        inner = node("Slice", [calibrated, *cut], "inner")
        node("Pad", [inner, const("pads_frame", np.array([0, 0, 1, 1, 0, 0, 1, 1]))], "anomaly_map")
        node("ReduceMax", ["anomaly_map"], "score", axes=[1, 2, 3], keepdims=0)
        outputs = [
            helper.make_tensor_value_info("anomaly_map", TensorProto.FLOAT, [1, 1, "h", "w"]),
            helper.make_tensor_value_info("score", TensorProto.FLOAT, [1]),
        ]
    graph = helper.make_graph(
        nodes,
        "backscatter-anomaly",
        [helper.make_tensor_value_info("image", TensorProto.FLOAT, [1, 1, "H", "W"])],
        outputs,
        inits,
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", OPSET)])
    model.ir_version = 8
    for key, value in (metadata or {}).items():
        model.metadata_props.add(key=key, value=value)
    from onnx import checker

    checker.check_model(model)
    return bytes(model.SerializeToString())
