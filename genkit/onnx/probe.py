"""The inputs an export is verified on: real images of the run's test split, and latent points.

Real images matter: random noise keeps every activation in a narrow range and can hide a wrong
BatchNorm statistic or a saturated head that real data exposes. Random images are the fallback only
when the run's dataset cannot be loaded here, and the export says so.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import numpy as np

from genkit.errors import GenkitError

BATCH_SIZES = (1, 2, 7)  # odd sizes too: a batch dimension fixed by mistake shows up at once
LARGE_BATCH = 256  # the dynamic-batch check
SEED = 0


@dataclasses.dataclass
class Probe:
    images: np.ndarray  # (LARGE_BATCH, C, H, W) float32 in [0, 1]
    source: str  # e.g. "fashion-mnist test split (256 images)" or "random uniform images (...)"
    real: bool

    def image_batches(self) -> list[np.ndarray]:
        """Batches of 1, 2 and 7 distinct images, then all of them (the large batch)."""
        out, start = [], 0
        for size in BATCH_SIZES:
            out.append(self.images[start:start + size])
            start += size
        return out + [self.images]


def probe_images(config: dict[str, Any], input_shape: tuple[int, int, int]) -> Probe:
    name = (config.get("data") or {}).get("name")
    if not name:
        return _random(input_shape, "the run records no dataset")
    try:
        loaded = _load(name, input_shape)
    except (GenkitError, OSError, ValueError, RuntimeError) as exc:
        reason = (str(exc).strip().splitlines() or [type(exc).__name__])[0][:160]
        return _random(input_shape, f"dataset {name} could not be loaded: {reason}")
    if loaded is None:
        return _random(input_shape, f"dataset {name} has no images")
    images, split_name = loaded
    count = len(images)
    if count < LARGE_BATCH:  # a small split is repeated to fill the large batch
        images = np.concatenate([images] * -(-LARGE_BATCH // count))[:LARGE_BATCH]
    return Probe(np.ascontiguousarray(images, dtype=np.float32), f"{count} real images of {name}, {split_name} split",
                 True)


def _load(name: str, input_shape: tuple[int, int, int]) -> tuple[np.ndarray, str] | None:
    import torch

    from genkit.data import batches, load_dataset

    dataset = load_dataset(name, input_shape)
    for split_name in ("test", "train"):
        if split_name not in dataset.split_names:
            continue
        split = dataset.split(split_name)
        if len(split):
            count = min(len(split), LARGE_BATCH)
            images = [x for x, _ in batches(split, count, torch.arange(count))]
            return torch.cat(images).float().cpu().numpy(), split_name
    return None


def _random(input_shape: tuple[int, int, int], why: str) -> Probe:
    images = np.random.default_rng(SEED).random((LARGE_BATCH, *input_shape), dtype=np.float32)
    return Probe(images, f"random uniform images ({why})", False)


def latent_batches(mean: np.ndarray, std: np.ndarray, codes: np.ndarray) -> list[np.ndarray]:
    """Prior draws of 1, 2, 7 and LARGE_BATCH points, and the codes of the real images."""
    from genkit.runtime.prior import draw_prior

    draws = [draw_prior(mean, std, n, SEED + n) for n in (*BATCH_SIZES, LARGE_BATCH)]
    return draws + [np.ascontiguousarray(codes, dtype=np.float32)]
