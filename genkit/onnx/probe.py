"""The inputs an export is verified on: real images (and labels) of the run's test split, latent points, codes.

Real images matter: random noise keeps every activation in a narrow range and can hide a wrong
BatchNorm statistic or a saturated head that real data exposes. Random images are the fallback only
when the run's dataset cannot be loaded here, and the export says so. Latent points are drawn by the
runtime's own host sampler (``genkit.runtime.prior``), so the decoder is checked on what users decode.
"""

from __future__ import annotations

import dataclasses

import numpy as np

from genkit.errors import GenkitError
from genkit.export_contract import CODES, IMAGES, LABELS, Z
from genkit.onnx.verify import Feeds

BATCH_SIZES = (1, 2, 7)  # odd sizes too: a batch dimension fixed by mistake shows up at once
LARGE_BATCH = 256  # the dynamic-batch check
SEED = 0


@dataclasses.dataclass
class Probe:
    images: np.ndarray  # (N, C, H, W) float32 in [0, 1]; N is LARGE_BATCH for an export
    labels: np.ndarray | None  # int64 (N,) in [0, classes) for a conditional model, else None
    source: str  # e.g. "256 real images of fashion-mnist, test split" or "random uniform images (...)"
    real: bool

    def slices(self) -> list[slice]:
        """Batches of 1, 2 and 7 distinct images (as many as there are), then all of them."""
        out, start = [], 0
        for size in BATCH_SIZES:
            if start + size <= len(self.images):
                out.append(slice(start, start + size))
                start += size
        return out + [slice(0, len(self.images))]

    def feeds(self, name: str, array: np.ndarray, labels: np.ndarray | None) -> list[Feeds]:
        """``array`` (and ``labels``) cut like the images: the feeds of a graph whose first input is ``name``."""
        return [{name: array[s], **({LABELS: labels[s]} if labels is not None else {})} for s in self.slices()]

    def image_feeds(self) -> list[Feeds]:
        return self.feeds(IMAGES, self.images, self.labels)


def cycle(n: int, classes: int) -> np.ndarray | None:
    """Labels 0, 1, ..., classes-1, 0, ... (None for an unconditional model)."""
    return np.arange(n, dtype=np.int64) % classes if classes else None


def given_probe(images, labels, classes: int, source: str) -> Probe:
    """A probe of images the caller chose (the parity check's); labels cycle through the classes if not given."""
    images = np.ascontiguousarray(np.asarray(images, dtype=np.float32))
    if classes:
        labels = cycle(len(images), classes) if labels is None else np.ascontiguousarray(labels, dtype=np.int64)
    else:
        labels = None
    return Probe(images, labels, source, False)


def probe_images(data_name: str | None, input_shape: tuple[int, int, int], classes: int = 0) -> Probe:
    """LARGE_BATCH images of the run's dataset (test split first), with its labels for a conditional model."""
    if not data_name:
        return _random(input_shape, classes, "the run records no dataset")
    try:
        loaded = _load(data_name, input_shape)
    except (GenkitError, OSError, ValueError, RuntimeError) as exc:
        reason = (str(exc).strip().splitlines() or [type(exc).__name__])[0][:160]
        return _random(input_shape, classes, f"dataset {data_name} could not be loaded: {reason}")
    if loaded is None:
        return _random(input_shape, classes, f"dataset {data_name} has no images")
    images, labels, split_name = loaded
    count = len(images)
    repeat = -(-LARGE_BATCH // count)  # a small split is repeated to fill the large batch
    images = np.concatenate([images] * repeat)[:LARGE_BATCH]
    if not classes:
        labels = None
    elif labels is None or labels.min() < 0 or labels.max() >= classes:
        labels = cycle(LARGE_BATCH, classes)  # a dataset without (fitting) labels: every class in turn
    else:
        labels = np.concatenate([labels] * repeat)[:LARGE_BATCH]
    return Probe(np.ascontiguousarray(images, dtype=np.float32), labels,
                 f"{count} real images of {data_name}, {split_name} split", True)


def _load(name: str, input_shape: tuple[int, int, int]) -> tuple[np.ndarray, np.ndarray | None, str] | None:
    import torch

    from genkit.data import batches, load_dataset

    dataset = load_dataset(name, input_shape)
    for split_name in ("test", "train"):
        if split_name not in dataset.split_names:
            continue
        split = dataset.split(split_name)
        if len(split):
            count = min(len(split), LARGE_BATCH)
            images, labels = zip(*batches(split, count, torch.arange(count)))
            labels = None if labels[0] is None else torch.cat(labels).cpu().numpy().astype(np.int64)
            return torch.cat(images).float().cpu().numpy(), labels, split_name
    return None


def _random(input_shape: tuple[int, int, int], classes: int, why: str) -> Probe:
    images = np.random.default_rng(SEED).random((LARGE_BATCH, *input_shape), dtype=np.float32)
    return Probe(images, cycle(LARGE_BATCH, classes), f"random uniform images ({why})", False)


def latent_feeds(prior, codes: np.ndarray | None, labels: np.ndarray | None, classes: int) -> list[Feeds]:
    """The decoder's feeds: prior draws of 1, 2, 7 and LARGE_BATCH points, then the real images' codes.

    ``prior`` is the runtime's ``HostPrior`` of the model; drawn points get labels cycling through the classes.
    A generator-only model has no real images' codes (``codes`` None): its decoder only ever sees prior draws.
    """
    feeds = []
    for n in (*BATCH_SIZES, LARGE_BATCH):
        feeds.append({Z: prior.sample(n, SEED + n), **({LABELS: cycle(n, classes)} if classes else {})})
    if codes is None:
        return feeds
    return feeds + [{Z: np.ascontiguousarray(codes, dtype=np.float32), **({LABELS: labels} if classes else {})}]


def code_feeds(prior, real_codes: np.ndarray | None) -> list[Feeds]:
    """The prior graph's feeds: code grids drawn by the host sampler (1, 2, 7), then the real images' codes
    (none for a generator-only model)."""
    drawn = [prior.sample_codes(n, SEED + n) for n in BATCH_SIZES]
    real = [] if real_codes is None else [{CODES: np.ascontiguousarray(real_codes, dtype=np.int64)}]
    return [{CODES: c} for c in drawn] + real


def prior_probe(classes: int) -> Probe:
    """The probe of a generator-only model: no images (its graphs are verified on prior draws alone), and
    LARGE_BATCH labels cycling over the classes of a conditional one."""
    return Probe(np.zeros((0, 0, 0, 0), np.float32), cycle(LARGE_BATCH, classes), "latent points drawn from the prior",
                 True)


def nearest_codes(latent: np.ndarray, codebook: np.ndarray) -> np.ndarray:
    """The integer code of each position of ``latent`` (N, D, *grid): its nearest codebook entry, (N, *grid)."""
    vectors = np.moveaxis(np.asarray(latent, np.float64), 1, -1)  # (N, *grid, D)
    book = np.asarray(codebook, np.float64)
    distances = (vectors ** 2).sum(-1, keepdims=True) - 2 * vectors @ book.T + (book ** 2).sum(-1)
    return distances.argmin(-1).astype(np.int64)
