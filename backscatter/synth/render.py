"""One simulated scan: scene -> layer transport -> beam spot -> scan geometry -> detector.

:func:`render_scene` is deterministic in its ``seed``. Each threat gets a *visible* mask: the
pixels where its own contrast (the signal with it minus the signal without it, in counts,
averaged over about 8 mm, the scale of shape features) is at least 2.5 noise sigmas. A threat
whose visible part is too small, too faint or too little of its outline to be recognised is
flagged ``hidden`` (written as COCO ``iscrowd=1``).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import cv2
import numpy as np

from backscatter.classes import THREAT_CLASSES
from backscatter.synth.domain import (
    Domain,
    DomainRanges,
    add_fog,
    digitiser_gain,
    draw_domain,
    drop_lines,
    line_column_gain,
    raster_shift,
)
from backscatter.synth.novel import NovelAnnotation, NovelObject, place_novel
from backscatter.synth.physics import (
    Layer,
    Profile,
    blur_spot,
    clip_layer,
    count_and_digitise,
    detector_state,
    edge_falloff,
    expected_counts,
    get_profile,
    scatter_signal,
)
from backscatter.synth.scenes import BUILDERS, FAMILIES, Layout, add_clutter, crop
from backscatter.synth.shapes import smooth_noise
from backscatter.synth.threats import GENERATORS, Threat

#: contrast is judged at the scale of shape features (k x k pixel mean, k ~ this many cm), the
#: way an eye or a CNN integrates noise: SNR_k = k * mean(own contrast) / sigma_pixel
FEATURE_CM = 0.8
#: a threat pixel is visible where its own contrast is >= this many noise sigmas at that scale
VISIBLE_SNR = 2.5
#: a recognisable threat shows at least this fraction of its outline ...
MIN_VISIBLE_FRACTION = 0.5
#: ... with at least this mean contrast-to-noise (feature scale) over the visible part
MIN_MEAN_SNR = 4.0
#: a threat in a closed cavity (tyre, bag) must have this share of its outline inside it
MIN_INSIDE = 0.85
#: class draw weights: steel threats are hidden more often, so they are drawn more often
CLASS_WEIGHTS = (0.17, 0.17, 0.24, 0.25, 0.17)


@dataclass
class Annotation:
    """Ground truth of one threat. Boxes are ``x0, y0, x1, y1`` px, x1/y1 exclusive."""

    class_id: int
    box: tuple[float, float, float, float]
    #: visible part (hidden threats: the full outline), (rows, cols) bool
    mask: np.ndarray
    hidden: bool
    visible_fraction: float
    mean_snr: float
    depth_cm: float
    params: dict[str, Any] = field(default_factory=dict)

    @property
    def class_name(self) -> str:
        return THREAT_CLASSES[self.class_id]


@dataclass
class SceneResult:
    pixels: np.ndarray  # (rows, cols) uint16
    bits_stored: int
    family: str
    profile: str
    seed: int
    annotations: list[Annotation]
    pixel_spacing_mm: tuple[float, float]
    params: dict[str, Any] = field(default_factory=dict)
    #: novel concealments (``render_scene(novel=N)``), outside the threat classes
    novel_annotations: list[NovelAnnotation] = field(default_factory=list)


def _place_threats(
    layout: Layout,
    rng: np.random.Generator,
    classes: list[int],
    ppc: float,
    shape: tuple[int, int],
    subtypes: Mapping[str, Sequence[str]] | None = None,
) -> list[tuple[Threat, float]]:
    rows, cols = np.nonzero(layout.region)
    placed: list[tuple[Threat, float]] = []
    occupied = np.zeros(shape, bool)
    if rows.size == 0:
        return placed
    for cid in classes:
        for _attempt in range(12):
            k = int(rng.integers(rows.size))
            depth = float(rng.uniform(*layout.depth_range))
            extra: dict[str, Any] = {}
            if subtypes is not None and THREAT_CLASSES[cid] in subtypes:
                extra["subtypes"] = tuple(subtypes[THREAT_CLASSES[cid]])
            t = GENERATORS[cid](
                rng, center=(float(cols[k]), float(rows[k])), ppc=ppc, depth_cm=depth, **extra
            )
            whole = t.patch.area
            if layout.clip is not None:
                inside = crop(layout.clip, t.patch.row0, t.patch.col0, t.patch.cov.shape)
                if np.count_nonzero(t.patch.mask & (inside > 0.5)) < MIN_INSIDE * whole:
                    continue  # does not fit in the cavity
                _clip_threat(t, layout.clip)
            full = _full_mask(t, shape)
            area = int(full.sum())
            if area < 30 or area < 0.6 * whole:
                continue
            if (full & occupied).sum() > 0.1 * area:
                continue
            occupied |= full
            placed.append((t, depth))
            break
    return placed


def _clip_threat(t: Threat, clip: np.ndarray) -> None:
    for lay in t.layers:
        sub = crop(clip, lay.row0, lay.col0, lay.thickness.shape)
        lay.thickness = lay.thickness * sub
    t.patch.cov = t.patch.cov * crop(clip, t.patch.row0, t.patch.col0, t.patch.cov.shape)


def _full_mask(t: Threat | NovelObject, shape: tuple[int, int]) -> np.ndarray:
    out = np.zeros(shape, bool)
    p = t.patch
    R, C = shape
    r0, c0 = max(p.row0, 0), max(p.col0, 0)
    r1, c1 = min(p.row0 + p.cov.shape[0], R), min(p.col0 + p.cov.shape[1], C)
    if r1 > r0 and c1 > c0:
        out[r0:r1, c0:c1] = p.mask[r0 - p.row0 : r1 - p.row0, c0 - p.col0 : c1 - p.col0]
    return out


def _scan_geometry(
    shape: tuple[int, int], profile: Profile, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray] | None:
    """remap maps for uneven sweep speed and line-to-line shifts; None for a steady scan."""
    rows, cols = shape
    amp = 0.25 if profile.handheld else 0.05
    speed = 1.0 + amp * smooth_noise((rows, 1), rng, cells=6)[:, 0]
    pos = np.cumsum(np.clip(speed, 0.3, None))
    pos = (pos - pos[0]) / (pos[-1] - pos[0]) * (rows - 1)
    if profile.handheld:
        shift = np.cumsum(rng.normal(0.0, 0.35, rows))
        shift -= np.linspace(shift[0], shift[-1], rows)
        shift = np.clip(shift, -4.0, 4.0)
    else:
        shift = np.zeros(rows)
    map_y = np.repeat(pos[:, None].astype(np.float32), cols, axis=1)
    map_x = np.arange(cols, dtype=np.float32)[None, :] + shift[:, None].astype(np.float32)
    return map_x.astype(np.float32), map_y


def _warp(
    img: np.ndarray, maps: tuple[np.ndarray, np.ndarray] | None, *, nearest: bool
) -> np.ndarray:
    if maps is None:
        return img
    interp = cv2.INTER_NEAREST if nearest else cv2.INTER_LINEAR
    return cv2.remap(img, maps[0], maps[1], interp, borderMode=cv2.BORDER_REFLECT)


def _box(mask: np.ndarray) -> tuple[float, float, float, float]:
    rows = np.flatnonzero(mask.any(axis=1))
    cols = np.flatnonzero(mask.any(axis=0))
    if rows.size == 0:
        return (0.0, 0.0, 0.0, 0.0)
    return (float(cols[0]), float(rows[0]), float(cols[-1] + 1), float(rows[-1] + 1))


def render_scene(
    seed: int,
    *,
    profile: str | Profile = "handheld",
    size: tuple[int, int] = (512, 512),
    family: str | None = None,
    clean: bool = False,
    classes: list[int] | None = None,
    domain: DomainRanges | None = None,
    subtypes: Mapping[str, Sequence[str]] | None = None,
    novel: int = 0,
) -> SceneResult:
    """Simulate one scan of ``size`` (rows, cols). ``classes`` forces the threat classes.

    ``domain``: draw the device and its artefacts per scene from these ranges (domain
    randomisation, from a generator of its own: the scene's content stays that of ``seed``).
    ``subtypes``: per class name, the threat sub-types that may be drawn (others: all).
    ``novel``: also place this many novel concealments (:mod:`backscatter.synth.novel`), from a
    generator of their own (the rest of the scene stays that of ``seed``), in
    ``SceneResult.novel_annotations``.
    """
    prof = get_profile(profile) if isinstance(profile, str) else profile
    rng = np.random.default_rng(seed)
    dom: Domain | None = None
    rng_d = np.random.default_rng([int(seed), 0xD0])
    if domain is not None:
        dom = draw_domain(prof, rng_d, domain)
        prof = dom.profile
    shape = (int(size[0]), int(size[1]))
    ppc = min(shape[0] / prof.fov_cm[0], shape[1] / prof.fov_cm[1])
    fam = family if family is not None else str(rng.choice(FAMILIES))
    if fam not in BUILDERS:
        raise ValueError(f"family: expected one of {list(FAMILIES)}, got {fam!r}")
    layout = BUILDERS[fam](rng, shape, ppc)
    clutter = add_clutter(layout, rng, ppc)
    if classes is None:
        n = 0 if clean else int(rng.choice([1, 2, 3], p=[0.55, 0.3, 0.15]))
        classes = [int(c) for c in rng.choice(len(GENERATORS), n, p=CLASS_WEIGHTS)]
    threats = _place_threats(layout, rng, classes, ppc, shape, subtypes)
    extra: list[tuple[NovelObject, float]] = []
    if novel > 0:
        taken = np.zeros(shape, bool)
        for placed, _ in threats:
            taken |= _full_mask(placed, shape)
        extra = place_novel(
            np.random.default_rng([int(seed), 0x40E1]),
            count=novel,
            region=layout.region,
            clip=layout.clip,
            depth_range=layout.depth_range,
            ppc=ppc,
            occupied=taken,
        )
    objects: list[tuple[Threat | NovelObject, float]] = [*threats, *extra]

    layers: list[Layer] = []
    for lay in layout.layers + clutter:
        c = clip_layer(lay, shape)
        if c is not None:
            layers.append(c)
    owned: list[frozenset[int]] = []
    for t, _ in objects:
        idx = []
        for lay in t.layers:
            c = clip_layer(lay, shape)
            if c is not None:
                idx.append(len(layers))
                layers.append(c)
        owned.append(frozenset(idx))

    standoff = np.full(shape[0], prof.standoff_cm, np.float32)
    if prof.handheld:
        standoff *= 1.0 + 0.08 * smooth_noise((shape[0], 1), rng, cells=5)[:, 0]
    signal = scatter_signal(layers, shape, prof, standoff_rows=standoff)
    seen = signal if dom is None else add_fog(signal, domain=dom, rng=rng_d)
    if dom is not None:  # the device's gain and offset settings for this scene
        gain_dn, dark_dn = digitiser_gain(
            (seen + prof.ambient) * prof.counts_per_signal, domain=dom
        )
        prof = dataclasses.replace(prof, gain_dn=gain_dn, dark_dn=dark_dn)

    # per-threat own contrast in counts, against the Poisson + read noise at that pixel
    # (read noise and the ADC's rounding, 1/12 DN^2, in photons^2)
    read_counts2 = (prof.read_noise_dn**2 + 1.0 / 12.0) / prof.gain_dn**2
    vis_masks, full_masks, stats = [], [], []
    for (t, _depth), own in zip(objects, owned, strict=True):
        full = _full_mask(t, shape)
        r0, c0, r1, c1 = _bbox_rc(full)
        region = (slice(r0, r1), slice(c0, c1))
        without = scatter_signal(
            layers, shape, prof, standoff_rows=standoff, region=region, exclude=own
        )
        delta = blur_spot(signal[region] - without, sigma_px=prof.spot_sigma_px)
        lam = (seen[region] + prof.ambient) * prof.counts_per_signal
        k = max(3, round(FEATURE_CM * ppc))
        mean_delta = cv2.blur(delta, (k, k), borderType=cv2.BORDER_REFLECT)
        mean_var = cv2.blur(lam + np.float32(read_counts2), (k, k), borderType=cv2.BORDER_REFLECT)
        snr = np.abs(mean_delta) * (prof.counts_per_signal * k) / np.sqrt(mean_var)
        vis = np.zeros(shape, bool)
        vis[region] = full[region] & (snr >= VISIBLE_SNR)
        n_full, n_vis = int(full.sum()), int(vis.sum())
        mean_snr = float(snr[vis[region]].mean()) if n_vis else 0.0
        vis_masks.append(vis)
        full_masks.append(full)
        stats.append((n_vis / max(n_full, 1), mean_snr, n_vis))

    blurred = blur_spot(seen, sigma_px=prof.spot_sigma_px)
    maps = _scan_geometry(shape, prof, rng)
    if dom is not None:
        maps = _with_raster_shift(maps, shape, raster_shift(shape[0], domain=dom, rng=rng_d))
    blurred = _warp(blurred, maps, nearest=False)
    state = detector_state(shape[0], prof, rng)
    counts = expected_counts(blurred, profile=prof, state=state, falloff=edge_falloff(shape))
    if dom is not None:
        counts *= line_column_gain(shape, domain=dom, rng=rng_d)
    pixels = count_and_digitise(counts, profile=prof, rng=rng)
    if dom is not None:
        pixels = drop_lines(pixels, domain=dom, rng=rng_d)

    min_px = max(20, int(0.0003 * shape[0] * shape[1]))
    annotations = []
    novel_annotations = []
    for (t, depth), vis, full, (frac, msnr, n_vis) in zip(
        objects, vis_masks, full_masks, stats, strict=True
    ):
        hidden = frac < MIN_VISIBLE_FRACTION or msnr < MIN_MEAN_SNR or n_vis < min_px
        m = _warp((full if hidden else vis).astype(np.uint8), maps, nearest=True).astype(bool)
        if not m.any():
            continue
        if isinstance(t, NovelObject):
            novel_annotations.append(
                NovelAnnotation(t.kind, _box(m), m, hidden, frac, msnr, depth, t.params)
            )
            continue
        annotations.append(Annotation(t.class_id, _box(m), m, hidden, frac, msnr, depth, t.params))
    return SceneResult(
        pixels=pixels,
        bits_stored=prof.bits_stored,
        family=fam,
        profile=prof.name,
        seed=int(seed),
        annotations=annotations,
        pixel_spacing_mm=(10.0 / ppc, 10.0 / ppc),
        params={
            "layout": layout.params,
            "clutter_items": len(clutter),
            "clean": clean,
            **({"domain": dom.as_dict()} if dom is not None else {}),
        },
        novel_annotations=novel_annotations,
    )


def _with_raster_shift(
    maps: tuple[np.ndarray, np.ndarray] | None, shape: tuple[int, int], shift: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """``maps`` (or the identity) with each line moved sideways by ``shift`` (rows,) pixels."""
    rows, cols = shape
    if maps is None:
        map_x = np.repeat(np.arange(cols, dtype=np.float32)[None, :], rows, axis=0)
        map_y = np.repeat(np.arange(rows, dtype=np.float32)[:, None], cols, axis=1)
    else:
        map_x, map_y = maps[0].copy(), maps[1]
    map_x += shift[:, None]
    return map_x, map_y


def _bbox_rc(mask: np.ndarray) -> tuple[int, int, int, int]:
    x0, y0, x1, y1 = _box(mask)
    return int(y0), int(x0), max(int(y1), int(y0) + 1), max(int(x1), int(x0) + 1)
