"""Training data rendered while training: a pool of simulated scenes that is always refreshed.

Each scene serves ``crops_per_scene`` crops, then is replaced; scene ``j`` of epoch ``e`` is
rendered from ``scene_seed(seed, e * scenes_per_epoch + j)``, so no scene repeats in a run and
the stream depends only on the config (resuming gives the same data). Validation and test stay
fixed COCO splits.

:class:`StreamSampler` gives rank ``r`` the scenes ``r, r + world, ...`` in groups of
``group`` scenes, emitted round-robin (crop 0 of every scene of the group, then crop 1...), so
a batch of ``group`` crops holds ``group`` different scenes and each rendered scene is used up
within ``crops_per_scene`` consecutive batches (a small cache holds the group).
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Iterator

import numpy as np
from torch.utils.data import Dataset, Sampler

from backscatter.classes import THREAT_CLASSES
from backscatter.inference.preprocess import PreprocessSpec, normalise, robust_range
from backscatter.synth.dataset import scene_seed
from backscatter.synth.domain import DomainRanges
from backscatter.synth.render import render_scene
from backscatter.synth.scenes import FAMILIES
from backscatter.training.augment import augment_crop
from backscatter.training.config import StreamConfig, TrainConfig
from backscatter.training.data import to_unit

Item = tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]
Labels = tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]
Scene = tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, tuple[float, float]]


def render_training_scene(seed: int, stream: StreamConfig) -> Labels:
    """One scene of the stream: ``(unit image, boxes, labels, ignore)``; the image in units of
    full scale (:func:`~backscatter.training.data.to_unit`).

    Profile, family and the clean/threat draw come from ``seed``; held-out sub-types are left
    out (``stream.holdout_subtypes``) and the held-out profile is never in ``stream.profiles``.
    """
    rng = np.random.default_rng([int(seed), 0x5E])
    profile = str(rng.choice(stream.profiles))
    family = str(rng.choice(FAMILIES))
    clean = bool(rng.random() < stream.clean_fraction)
    result = render_scene(
        seed,
        profile=profile,
        size=(stream.size, stream.size),
        family=family,
        clean=clean,
        domain=DomainRanges() if stream.domain else None,
        subtypes=allowed_subtypes(stream) or None,
    )
    unit = to_unit(result.pixels, bits_stored=result.bits_stored)
    boxes: list[tuple[float, float, float, float]] = []
    ignore: list[tuple[float, float, float, float]] = []
    labels: list[int] = []
    for a in result.annotations:
        (ignore if a.hidden else boxes).append(a.box)
        if not a.hidden:
            labels.append(a.class_id)
    return (
        unit,
        np.asarray(boxes, np.float32).reshape(-1, 4),
        np.asarray(labels, np.int64),
        np.asarray(ignore, np.float32).reshape(-1, 4),
    )


def allowed_subtypes(stream: StreamConfig) -> dict[str, tuple[str, ...]]:
    """Per class, the sub-types training may draw: all but ``stream.holdout_subtypes``."""
    if not stream.holdout_subtypes:
        return {}
    from backscatter.synth.threats import SUBTYPES

    out: dict[str, tuple[str, ...]] = {}
    for name in THREAT_CLASSES:
        held = set(stream.holdout_subtypes.get(name, ()))
        if held:
            out[name] = tuple(s for s in SUBTYPES[name] if s not in held)
    return out


class StreamDataset(Dataset[Item]):
    """``ds[i] -> (image normalised, boxes, labels, ignore)``: crop ``i % k`` of scene ``i // k``
    of the current epoch (``k = crops_per_scene``)."""

    def __init__(self, cfg: TrainConfig, spec: PreprocessSpec, *, cache_scenes: int = 32) -> None:
        self.cfg = cfg
        self.stream = cfg.data.stream
        self.spec = spec
        self.epoch = 0
        self._cache: OrderedDict[int, Scene] = OrderedDict()
        self._cache_size = cache_scenes

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def __len__(self) -> int:
        return self.stream.scenes_per_epoch * self.stream.crops_per_scene

    def scene(self, index: int) -> Scene:
        """Scene ``index`` of the current epoch, rendered once and cached while in use."""
        key = self.epoch * self.stream.scenes_per_epoch + index
        hit = self._cache.get(key)
        if hit is not None:
            self._cache.move_to_end(key)
            return hit
        unit, boxes, labels, ignore = render_training_scene(
            scene_seed(self.cfg.seed, key), self.stream
        )
        scene = (unit, boxes, labels, ignore, robust_range(unit, spec=self.spec))
        self._cache[key] = scene
        while len(self._cache) > self._cache_size:
            self._cache.popitem(last=False)
        return scene

    def __getitem__(self, index: int) -> Item:
        k = self.stream.crops_per_scene
        unit, boxes, labels, ignore, (lo, hi) = self.scene(index // k)
        rng = np.random.default_rng([self.cfg.seed, self.epoch, index, 0x57])
        image, boxes, labels, ignore = augment_crop(
            unit,
            boxes,
            labels,
            ignore,
            rng=rng,
            cfg=self.cfg.augment,
            size=self.cfg.data.crop,
            focus=self.cfg.data.crop_focus,
        )
        j = self.cfg.augment.range_jitter
        if j > 0:  # a tile of a larger scan, or another scene around it: another range
            span = hi - lo
            lo, hi = lo + span * rng.uniform(-j, j), hi + span * rng.uniform(-j, j)
            hi = max(hi, lo + 1e-4)
        image = normalise(image, bits_stored=16, spec=self.spec, value_range=(lo, hi))
        return image, boxes, labels, ignore


class StreamSampler(Sampler[int]):
    """Rank ``rank`` of ``world``: its scenes in groups of ``group``, crops round-robin."""

    def __init__(
        self, scenes: int, crops_per_scene: int, *, rank: int = 0, world: int = 1, group: int = 8
    ) -> None:
        self.scenes, self.k, self.rank, self.world = scenes, crops_per_scene, rank, world
        self.group = max(1, group)

    def set_epoch(self, epoch: int) -> None:  # the dataset moves to new scenes itself
        del epoch

    def __len__(self) -> int:
        return (self.scenes // self.world) * self.k  # the same on every rank

    def __iter__(self) -> Iterator[int]:
        mine = list(range(self.rank, self.scenes, self.world))[: self.scenes // self.world]
        for start in range(0, len(mine), self.group):
            chunk = mine[start : start + self.group]
            for c in range(self.k):
                for s in chunk:
                    yield s * self.k + c
