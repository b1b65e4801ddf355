"""The feature network of the generation metrics: a small CNN classifier, trained once per dataset.

The Fréchet distance needs a feature space in which real images of the dataset form meaningful
clusters. Inception features (FID's usual choice) know nothing of 28×28 grayscale clothes and would
need a download; a small CNN trained on the dataset's own labels does, and trains in about a minute on
two CPU cores. Its penultimate layer is the feature space; its softmax gives the confidence and class
coverage of generated images.

It is cached in ``$XDG_CACHE_HOME/genkit/classifiers/`` (``~/.cache/...`` by default) as
``KEY.safetensors`` + ``KEY.json``, where KEY digests the dataset's checksum, the image shape, the
architecture version and the training settings: a different dataset or setting trains a new one, the
same ones reuse it. The JSON file is written last, so a half-written entry is never mistaken for one.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from genkit.errors import DataError
from genkit.files import atomic

ARCHITECTURE_VERSION = 1
FEATURES = 128
FEATURE_EXTRACTOR = (f"genkit's evaluation classifier (a small CNN trained on the dataset's labels), its {FEATURES}-d "
                     f"penultimate layer: not Inception, so these are not FID or KID figures")


@dataclasses.dataclass(frozen=True)
class ClassifierSettings:
    """How the classifier is trained; tests shrink ``limit`` and ``epochs`` to train in seconds."""

    epochs: int = 3
    limit: int = 0  # training images (0: the whole train split)
    batch_size: int = 128
    lr: float = 2e-3
    seed: int = 0


class FeatureCNN(nn.Module):
    """Two conv blocks, a FEATURES-wide dense layer (the feature space), and the class logits."""

    def __init__(self, channels: int, classes: int):
        super().__init__()
        self.body = nn.Sequential(
            nn.Conv2d(channels, 16, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
            nn.Conv2d(16, 32, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
            nn.AdaptiveAvgPool2d(7),  # any input size: 28×28 passes through, 128×128 is pooled down
            nn.Flatten(), nn.Linear(32 * 7 * 7, FEATURES), nn.ReLU(),
        )
        self.head = nn.Linear(FEATURES, classes)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        features = self.body(x)
        return features, self.head(features)


@dataclasses.dataclass
class Classifier:
    network: FeatureCNN
    info: dict[str, Any]  # accuracy, class names, dataset, settings; ``cached``: loaded, not trained

    @torch.no_grad()
    def features_and_probabilities(self, images: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        features, logits = self.network(torch.from_numpy(np.ascontiguousarray(images, dtype=np.float32)))
        return features.numpy().astype(np.float64), torch.softmax(logits, dim=1).numpy().astype(np.float64)


def cache_dir() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "genkit" / "classifiers"


def cache_key(checksum: str, shape: tuple[int, ...], classes: int, settings: ClassifierSettings) -> str:
    document = {"checksum": checksum, "shape": list(shape), "classes": classes,
                "architecture": ARCHITECTURE_VERSION, "settings": dataclasses.asdict(settings)}
    return hashlib.sha256(json.dumps(document, sort_keys=True).encode()).hexdigest()[:24]


def get_classifier(dataset, settings: ClassifierSettings = ClassifierSettings(),
                   log: Callable[[str], None] | None = None) -> Classifier:
    """The cached classifier of ``dataset`` (an ImageDataset with labels), training it on first use."""
    log = log or (lambda line: print(line, file=sys.stderr, flush=True))
    train, test = dataset.split("train"), dataset.split("test")
    if train.labels is None or test.labels is None:
        raise DataError(f"dataset {dataset.name} has no labels, so no classifier can be trained for the "
                        f"generation metrics")
    classes = max(len(train.class_names or []), int(train.labels.max()) + 1)
    key = cache_key(dataset.checksum(), dataset.image_shape, classes, settings)
    weights, meta = cache_dir() / f"{key}.safetensors", cache_dir() / f"{key}.json"
    network = FeatureCNN(dataset.image_shape[0], classes)
    if meta.is_file() and weights.is_file():
        try:
            from safetensors.torch import load_file

            info = json.loads(meta.read_text(encoding="utf-8"))
            network.load_state_dict(load_file(str(weights)))
            return Classifier(network.eval(), {**info, "cached": True, "path": str(weights)})
        except (OSError, ValueError, RuntimeError, KeyError) as exc:  # a damaged entry is retrained
            log(f"classifier cache {weights} is unreadable ({exc}); training it again")
    info = _train(network, train, test, settings, log)
    info.update(dataset=dataset.name, checksum=dataset.checksum(), classes=classes,
                class_names=train.class_names, settings=dataclasses.asdict(settings),
                architecture=ARCHITECTURE_VERSION)
    from safetensors.torch import save

    state = {k: v.contiguous() for k, v in network.state_dict().items()}
    atomic.write_bytes(weights, save(state, metadata={"format": "genkit-classifier"}))
    atomic.write_text(meta, json.dumps(info, indent=2) + "\n")
    return Classifier(network.eval(), {**info, "cached": False, "path": str(weights)})


def _train(network: FeatureCNN, train, test, settings: ClassifierSettings,
           log: Callable[[str], None]) -> dict[str, Any]:
    from genkit.data import batches
    from genkit.progress import Progress

    if settings.limit:
        train = train.limit(settings.limit)
    torch.manual_seed(settings.seed)
    network.apply(_reset)
    generator = torch.Generator().manual_seed(settings.seed)
    optimizer = torch.optim.Adam(network.parameters(), lr=settings.lr)
    steps = -(-len(train) // settings.batch_size)
    started = time.perf_counter()
    log(f"training the evaluation classifier on {len(train)} images, {settings.epochs} epochs (cached afterwards)")
    network.train()
    for epoch in range(settings.epochs):
        progress = Progress(steps, f"classifier epoch {epoch + 1}/{settings.epochs}")
        order = torch.randperm(len(train), generator=generator)
        for step, (x, y) in enumerate(batches(train, settings.batch_size, order, 0, "cpu"), 1):
            loss = nn.functional.cross_entropy(network(x)[1], y)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            if progress.due():
                progress.update(step, f"loss {loss.item():.3f}")
        progress.update(steps, force=True)
        progress.close()
    network.eval()
    accuracy = accuracy_on(network, test)
    seconds = time.perf_counter() - started
    log(f"evaluation classifier: test accuracy {accuracy:.3f} after {seconds:.0f} s")
    return {"accuracy": accuracy, "train_images": len(train), "epochs": settings.epochs, "seconds": round(seconds, 1)}


def _reset(module: nn.Module) -> None:
    if hasattr(module, "reset_parameters"):
        module.reset_parameters()


@torch.no_grad()
def accuracy_on(network: FeatureCNN, split) -> float:
    from genkit.data import batches

    correct = 0
    for x, y in batches(split, 512, torch.arange(len(split)), 0, "cpu"):
        correct += int((network(x)[1].argmax(dim=1) == y).sum())
    return correct / max(len(split), 1)
