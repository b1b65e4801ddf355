"""The negative log-likelihood of test images by importance sampling, with the encoder as proposal.

    log p(x) ≈ log (1/K) Σ_k p(x|z_k) p(z_k) / q(z_k|x),    z_k ~ q(z|x) drawn by the model's sampler

(Burda, Grosse and Salakhutdinov 2016, appendix; Rezende et al. 2014). For K = 1 the average of the
log-weights is the ELBO; for any K the estimate is the IWAE bound L_K, whose expectation rises to log p(x)
as K grows, so the estimate errs on the side of a larger NLL. The same K draws of each image give the
ELBO (the mean of all log-weights) and the bounds L_5 and L_50 (each the mean over the disjoint groups
of 5 and 50 draws), so the gap between the bounds is visible at no extra decoding.

Nats per image and bits per dimension (nats / (pixels · ln 2)) of the *continuous* density the loss
implies over pixel values in [0, 1] (no dequantisation): a Gaussian decoder's density may exceed 1, so
bits/dim may be negative, and neither is a discrete 8-bit likelihood.

Cost: K decodes per image. Measured on two CPU cores with a one-epoch ``vae`` (the book's decoder runs
at ~2,000 images/s): the defaults, K = 50 for the first 2,000 test images, 41 s (the whole evaluation of
the 10,000-image test split 71 s); K = 50 on all 10,000 images (``--nll-images 0``) 198 s. Papers use
K = 1,000-5,000 (``--nll-samples 5000``), which is a GPU's work at this size.
"""

from __future__ import annotations

import dataclasses
import math
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import numpy as np

from genkit.evaluation.data import BATCH_SIZE, walk
from genkit.evaluation.density import Density, density_of, tensors_of

if TYPE_CHECKING:
    from genkit.data.splits import Split
    from genkit.evaluation.source import Source

DEFAULT_SAMPLES = 50  # K: enough for the IWAE-50 bound from the same draws
DEFAULT_IMAGES = 2000  # the first N evaluated images (0: all of them)
BOUNDS = (5, 50)  # the IWAE bounds reported beside the ELBO
ROWS = 8192  # latent points decoded at once (8192 28x28 images: 26 MB)
NLL_STREAM = 2  # numpy seed-sequence key of the proposal draws, apart from the loss terms' (1)
ESTIMATOR = "importance sampling, encoder as proposal: log p(x) ≈ logsumexp_k log w_k - log K"


@dataclasses.dataclass(frozen=True)
class LikelihoodSettings:
    samples: int = DEFAULT_SAMPLES  # K importance samples per image (0: no likelihood)
    images: int = DEFAULT_IMAGES  # the first N evaluated images (0: all)


def logmeanexp(values: np.ndarray, axis: int = 0) -> np.ndarray:
    """log mean exp along ``axis``, stable for log-weights of any magnitude (float64)."""
    values = np.asarray(values, np.float64)
    top = values.max(axis=axis, keepdims=True)
    return np.squeeze(top, axis) + np.log(np.exp(values - top).mean(axis=axis))


def group_bound(log_weights: np.ndarray, k: int) -> np.ndarray | None:
    """L_k per image (N,): the mean over the floor(K/k) disjoint groups of k draws of log mean exp.

    ``log_weights`` is (K, N); None when K < k.
    """
    total, count = log_weights.shape
    groups = total // k
    if groups == 0:
        return None
    grouped = log_weights[:groups * k].reshape(groups, k, count)
    return logmeanexp(grouped, axis=1).mean(axis=0)


def bits_per_dim(nats: float | None, dimensions: int) -> float | None:
    """Nats per image as bits per dimension: nats / (dimensions · ln 2)."""
    return None if nats is None else nats / (dimensions * math.log(2.0))


def log_weights(density: Density, source: Source, images: np.ndarray, labels: np.ndarray | None,
                params: dict[str, np.ndarray], samples: int, generator) -> np.ndarray:
    """log p(x|z_k) + log p(z_k) - log q(z_k|x) for K = ``samples`` draws of each image: (K, N) float64.

    The sampler draws the points (all its rows: one that draws S points per image per call gives S
    draws a call); they are decoded ROWS at a time, draw-major as the core lays out K·N rows, with a
    conditional model's labels repeated alike.
    """
    import torch

    from genkit.contract.components import SamplerOutput

    count = len(images)
    tensors = tensors_of(source, params)
    x = torch.from_numpy(np.ascontiguousarray(images, dtype=np.float32))
    out = np.empty((samples, count), np.float64)
    pending: list[torch.Tensor] = []  # drawn points not yet scored, each (N, *latent_shape)
    per_chunk = max(1, ROWS // count)
    done = 0
    with torch.no_grad():
        while done < samples:
            while len(pending) < min(per_chunk, samples - done):
                drawn = density.sampler(*tensors, generator=generator)
                pending.extend(torch.split(drawn.z if isinstance(drawn, SamplerOutput) else drawn, count))
            draws, pending = pending[:min(per_chunk, samples - done)], pending[min(per_chunk, samples - done):]
            z = torch.cat(draws).float()
            repeat = len(draws)
            tiled = None if labels is None else np.tile(np.asarray(labels), repeat)
            x_hat = torch.from_numpy(source.decode(z.numpy(), tiled))
            log_p_x = density.loss.log_likelihood(x.repeat(repeat, *([1] * (x.dim() - 1))), x_hat)
            log_w = log_p_x.double() + density.prior.log_prob(z).double() - density.sampler.log_posterior(
                z, *tensors).double()
            out[done:done + repeat] = log_w.reshape(repeat, count).numpy()
            done += repeat
    return out


def check_fits(settings: LikelihoodSettings, images: int) -> None:
    """Refuse, before any work, a K whose (K, N) float64 log-weights cannot be held (twice, while joined)."""
    from genkit.memory import require_fits

    count = min(settings.images, images) if settings.images else images
    if settings.samples <= 0 or count <= 0:
        return
    per_sample = count * 8 * 2
    require_fits(f"--nll-samples {settings.samples}", settings.samples * per_sample,
                 f"{settings.samples:,} x {count} images of float64 log-weights",
                 fix=lambda free: f"at most --nll-samples {free // per_sample:,} fit (or lower --nll-images)")


def proposal_generator(seed: int):
    """The CPU torch generator of the proposal draws, seeded from numpy apart from the other streams."""
    import torch

    return torch.Generator().manual_seed(int(np.random.default_rng([seed, NLL_STREAM]).integers(0, 2**62)))


def empty(settings: LikelihoodSettings, note: str, **known: Any) -> dict[str, Any]:
    """The likelihood section with no numbers, and the one line that says why."""
    return {"nll": None, "nll_std": None, "nll_sem": None, "bits_per_dim": None,
            "upper_bounds": {"elbo": None, **{f"iwae_{k}": None for k in BOUNDS}},
            "samples": settings.samples, "images": 0, "of_images": known.get("of_images"),
            "dimensions": known.get("dimensions"), "likelihood": None, "estimator": ESTIMATOR,
            "seconds": None, "note": note}


def likelihood(source: Source, split: Split, settings: LikelihoodSettings = LikelihoodSettings(), seed: int = 0,
               workers: int = 0, progress: bool = True, log: Callable[[str], None] | None = None) -> dict[str, Any]:
    """The importance-sampled NLL, the ELBO and the IWAE bounds of ``source`` on ``split`` (JSON-able).

    Uses the first ``settings.images`` images of ``split`` (all when 0), K = ``settings.samples`` draws
    each. A model without a density gets no numbers and ``note`` saying which member is missing.
    """
    from genkit.progress import Progress

    dimensions = math.prod(source.input_shape)
    known = {"of_images": len(split), "dimensions": dimensions}
    if settings.samples <= 0:
        return empty(settings, "not computed (--nll-samples 0)", **known)
    chosen = split.limit(settings.images) if settings.images else split
    started = time.perf_counter()
    generator = proposal_generator(seed)
    if log is not None:
        log(f"importance sampling: K = {settings.samples} draws for each of {len(chosen)} images")
    bar = Progress(-(-len(chosen) // BATCH_SIZE), "importance sampling", enabled=progress)
    parts: list[np.ndarray] = []
    density = None
    for step, (x, y) in enumerate(walk(chosen, BATCH_SIZE, workers), 1):
        params = source.encode(x, y)
        if density is None:
            density = density_of(source, x, y, params)
            if density.missing():
                bar.close()
                return empty(settings, density.missing(), **known)
        parts.append(log_weights(density, source, x, y, params, settings.samples, generator))
        bar.update(step)
    bar.close()
    weights = np.concatenate(parts, axis=1)  # (K, N)
    nll = -group_bound(weights, settings.samples)
    count = weights.shape[1]
    bounds = {"elbo": -float(weights.mean())}
    for k in BOUNDS:
        bound = group_bound(weights, k)
        bounds[f"iwae_{k}"] = None if bound is None else -float(bound.mean())
    mean = float(nll.mean())
    return {"nll": mean, "nll_std": float(nll.std()), "nll_sem": float(nll.std(ddof=1) / math.sqrt(count))
            if count > 1 else None, "bits_per_dim": bits_per_dim(mean, dimensions), "upper_bounds": bounds,
            "samples": settings.samples, "images": count, **known, "likelihood": density.likelihood,
            "estimator": ESTIMATOR, "seconds": round(time.perf_counter() - started, 1), "note": None}
