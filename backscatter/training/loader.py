"""Torch datasets and batching for training: augmentation, normalisation, padding, targets.

Each sample draws from ``numpy.random.default_rng([seed, epoch, index])``, so the augmented
batch stream depends only on the config seed and epoch: resuming or changing the number of
loader workers gives the same data. :class:`ShardSampler` gives rank ``r`` of ``n`` the
indices ``perm[r::n]`` of an epoch-seeded permutation.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import numpy as np
import torch
from torch.utils.data import Dataset, Sampler

from backscatter.inference.preprocess import PreprocessSpec, normalise, robust_range
from backscatter.training.augment import augment, augment_crop
from backscatter.training.config import TrainConfig
from backscatter.training.data import CocoDetection, to_unit
from backscatter.training.model import STRIDE_IN, STRIDE_OUT
from backscatter.training.targets import build_targets

Item = tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]


class TrainDataset(Dataset[Item]):
    """``ds[i] -> (image (rows, cols) float32 normalised, boxes, labels, ignore)``."""

    def __init__(self, coco: CocoDetection, cfg: TrainConfig, spec: PreprocessSpec) -> None:
        self.coco = coco
        self.cfg = cfg
        self.spec = spec
        self.epoch = 0

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def __len__(self) -> int:
        return len(self.coco)

    def __getitem__(self, index: int) -> Item:
        s = self.coco[index]
        rng = np.random.default_rng([self.cfg.seed, self.epoch, index])
        image = to_unit(s.pixels, bits_stored=s.bits_stored)
        # robust mode: the range of the whole scan, as the runtime takes it (not of the crop)
        value_range = robust_range(image, spec=self.spec) if self.spec.norm == "robust" else None
        if self.cfg.data.crop:
            image, boxes, labels, ignore = augment_crop(
                image,
                s.boxes,
                s.labels,
                s.ignore,
                rng=rng,
                cfg=self.cfg.augment,
                size=self.cfg.data.crop,
                focus=self.cfg.data.crop_focus,
            )
        else:
            image, boxes, labels, ignore = augment(
                image, s.boxes, s.labels, s.ignore, rng=rng, cfg=self.cfg.augment
            )
        image = normalise(image, bits_stored=16, spec=self.spec, value_range=value_range)
        return image, boxes, labels, ignore


class ShardSampler(Sampler[int]):
    """Epoch-seeded permutation, sharded over ranks, padded so every rank has as many items."""

    def __init__(self, n: int, *, seed: int, rank: int = 0, world: int = 1) -> None:
        self.n, self.seed, self.rank, self.world = n, seed, rank, world
        self.epoch = 0

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def __len__(self) -> int:
        return -(-self.n // self.world)

    def __iter__(self) -> Iterator[int]:
        g = torch.Generator().manual_seed(self.seed * 100003 + self.epoch)
        perm = torch.randperm(self.n, generator=g).tolist()
        total = len(self) * self.world
        perm += perm[: total - len(perm)]
        return iter(perm[self.rank : total : self.world])


def collate(items: list[Item], *, num_classes: int, stride: int = STRIDE_OUT) -> dict[str, Any]:
    """Pad images to the batch's largest size (multiple of 32) and build targets at ``stride``."""
    rows = max(im.shape[0] for im, *_ in items)
    cols = max(im.shape[1] for im, *_ in items)
    rows, cols = -(-rows // STRIDE_IN) * STRIDE_IN, -(-cols // STRIDE_IN) * STRIDE_IN
    images = np.zeros((len(items), 1, rows, cols), np.float32)
    heats, boxes_t, weights, ignores = [], [], [], []
    out_shape = (rows // stride, cols // stride)
    for i, (im, boxes, labels, ignore) in enumerate(items):
        images[i, 0, : im.shape[0], : im.shape[1]] = im
        t = build_targets(
            boxes, labels, ignore, num_classes=num_classes, out_shape=out_shape, stride=stride
        )
        heats.append(t["heat"])
        boxes_t.append(t["box"])
        weights.append(t["box_weight"])
        ignores.append(t["ignore"])
    return {
        "image": torch.from_numpy(images),
        "heat": torch.from_numpy(np.stack(heats)),
        "box": torch.from_numpy(np.stack(boxes_t)),
        "box_weight": torch.from_numpy(np.stack(weights)),
        "ignore": torch.from_numpy(np.stack(ignores)),
    }
