"""What the families scenario measures on a trained model, each with genkit's own math.

- ``Encoded``: one pass over a split: the encoder's outputs, the deterministic codes, the reconstructions and
  their per-image MSE (with the split's labels for a conditional model).
- ``active_units``: dimensions whose posterior mean varies across images (Cov > 0.01, Burda et al.).
- ``total_correlation``: TC of the aggregate posterior q(z) = (1/N) Σ_n q(z|x_n) over the N images, one draw
  per image, log q(z) and Π_d q(z_d) computed against all N posteriors (``genkit.evaluation.aggregate``).
- ``importance_nll``: -log p(x) by importance sampling with the encoder as proposal, K draws per image, in
  nats per image: ``genkit evaluate``'s estimator (``genkit.evaluation.likelihood``) on the run folder.
- ``Judge``: the evaluation classifier's features and class probabilities, and the prior gap of a set of
  generated images (their Fréchet distance to the model's own reconstructions of the test images).
"""

from __future__ import annotations

import dataclasses
from typing import Any

import numpy as np
import torch

BATCH = 500


def batched(fn, *tensors: torch.Tensor, size: int = BATCH) -> torch.Tensor:
    """``fn`` over row chunks of ``tensors`` (None passes through), concatenated."""
    n = len(next(t for t in tensors if t is not None))
    parts = [fn(*(None if t is None else t[i:i + size] for t in tensors)) for i in range(0, n, size)]
    return torch.cat(parts)


@dataclasses.dataclass
class Encoded:
    params: dict[str, torch.Tensor]
    codes: torch.Tensor
    reconstructions: np.ndarray
    mse: float


@torch.no_grad()
def encode(model, images: torch.Tensor, labels: torch.Tensor | None) -> Encoded:
    labels = labels if model.spec.conditional else None
    params: dict[str, list[torch.Tensor]] = {name: [] for name in model.spec.parameter_names}
    codes, recon = [], []
    for i in range(0, len(images), BATCH):
        x, y = images[i:i + BATCH], None if labels is None else labels[i:i + BATCH]
        for name, value in model.encode(x, y).items():
            params[name].append(value.float())
        c = model.codes(x, y)
        codes.append(c.float())
        recon.append(model.decoder(c, *model.condition(y)).float())
    reconstructions = torch.cat(recon)
    mse = float((reconstructions - images).square().flatten(1).mean(1).mean())
    return Encoded({k: torch.cat(v) for k, v in params.items()}, torch.cat(codes), reconstructions.numpy(), mse)


def active_units(mu: torch.Tensor) -> int:
    from genkit.evaluation.latent import active_dimensions

    return active_dimensions(mu.flatten(1).numpy())[0]


@torch.no_grad()
def total_correlation(mu: torch.Tensor, log_var: torch.Tensor, seed: int) -> float:
    from genkit.evaluation.aggregate import aggregate_log_density

    mu, log_var = mu.flatten(1).double(), log_var.flatten(1).double()
    eps = torch.randn(mu.shape, generator=torch.Generator().manual_seed(seed), dtype=torch.float64)
    z = mu + torch.exp(log_var / 2) * eps
    log_qz, log_prod = aggregate_log_density(z, mu, log_var)
    return float((log_qz - log_prod).mean())


def importance_nll(run, images: int, samples: int, seed: int) -> float | None:
    """Mean -log p(x) in nats of the first ``images`` test images, K = ``samples`` draws each from q(z|x):
    ``genkit evaluate``'s estimator on the run folder, through the model's own density members (None: none)."""
    from genkit.evaluation import open_source
    from genkit.evaluation.data import open_split
    from genkit.evaluation.likelihood import LikelihoodSettings, likelihood

    source = open_source(run)
    result = likelihood(source, open_split(source, limit=images), LikelihoodSettings(samples, 0), seed=seed,
                        progress=False)
    return result["nll"]


@torch.no_grad()
def decode(model, z: torch.Tensor, labels: torch.Tensor | None = None) -> np.ndarray:
    return batched(lambda part, y: model.decoder(part, *model.condition(y)).float(), z, labels).numpy()


class Judge:
    """The evaluation classifier, and the generation measures of images against the test split."""

    def __init__(self, dataset: Any, small: bool, test_images: torch.Tensor):
        from genkit.evaluation.classifier import ClassifierSettings, get_classifier

        settings = ClassifierSettings(epochs=1, limit=2048) if small else ClassifierSettings()
        self.classifier = get_classifier(dataset, settings, log=lambda line: None)
        self.real = self.features(test_images.numpy())

    def features(self, images: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        parts = [self.classifier.features_and_probabilities(images[i:i + BATCH]) for i in range(0, len(images), BATCH)]
        return np.concatenate([p[0] for p in parts]), np.concatenate([p[1] for p in parts])

    def generation(self, samples: np.ndarray, reconstructions: np.ndarray) -> dict[str, Any]:
        """Fréchet distance to the real test images and to the reconstructions (the prior gap), precision."""
        from genkit.evaluation.generation import generation_metrics

        fake = self.features(samples)
        recon = self.features(reconstructions)[0]
        return generation_metrics(*self.real, *fake, recon)

    def label_accuracy(self, images: np.ndarray, labels: np.ndarray) -> tuple[float, list[float]]:
        """Share of images the classifier assigns their label, overall and per class."""
        predicted = self.features(images)[1].argmax(1)
        hits = predicted == labels
        classes = int(labels.max()) + 1
        return float(hits.mean()), [float(hits[labels == k].mean()) for k in range(classes)]
