"""Where the generation metrics draw their latent points: the model's own prior, or a naive rule.

The VAE-versus-AE ablation is a question about sampling rules as much as about models: an AE decoded
from a Gaussian fitted to its codes (its own prior) is a much stronger baseline than an AE decoded
from N(0, I) or from the bounding box of its codes, the rule the book uses. ``--prior`` evaluates any
trained model under any of them, so the comparison can be made against each.

- ``model``: the sampler's prior, whatever its family (N(0, I) for the VAE, the fitted diagonal
  Gaussian for the AE, a mixture, codes over a codebook, a prior network), drawn by the backend.
- ``standard-normal``: N(0, I) over the model's latent shape, whatever the model.
- ``code-box``: uniform over the bounding box, element by element, of the codes of the first
  CODE_IMAGES training images (with their labels for a conditional model); it needs an encoder, so a
  generator-only model is refused it in one line.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from genkit.errors import GenkitError

PRIORS = ("model", "standard-normal", "code-box")
CODE_IMAGES = 20000

Rule = Callable[[int, int], np.ndarray]  # (count, seed) -> (count, *latent_shape) float32 codes


def check_prior(name: str, source=None) -> None:
    """An unknown rule, or (given ``source``) one the source cannot use, in one line."""
    if name not in PRIORS:
        raise GenkitError(f"unknown prior {name!r}; choose one of {', '.join(PRIORS)}")
    if name == "code-box" and source is not None:
        source.require_encoder("draw from the bounding box of its codes (--prior code-box)")


def prior_rule(name: str, source, dataset, workers: int = 0) -> Rule:
    """The ``(count, seed) -> codes`` rule called ``name`` for ``source``, whose data is ``dataset``."""
    check_prior(name)
    if name == "model":
        return source.draw_prior
    shape = source.latent_shape
    if name == "standard-normal":
        return lambda count, seed: np.random.default_rng(seed).standard_normal((count, *shape)).astype(np.float32)
    low, high = code_box(source, dataset, workers)  # code-box
    return lambda count, seed: np.random.default_rng(seed).uniform(low, high, size=(count, *shape)).astype(np.float32)


def code_box(source, dataset, workers: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Per-element minimum and maximum (latent_shape) of the codes of the training images (the first split if none)."""
    from genkit.evaluation.data import walk

    name = "train" if "train" in dataset.split_names else dataset.split_names[0]
    split = dataset.split(name).limit(CODE_IMAGES)
    low = high = None
    for x, y in walk(split, workers=workers):
        codes = source.codes(x, y)
        low = codes.min(axis=0) if low is None else np.minimum(low, codes.min(axis=0))
        high = codes.max(axis=0) if high is None else np.maximum(high, codes.max(axis=0))
    if low is None:
        raise GenkitError(f"the {name} split of the dataset is empty: no codes to take a bounding box of")
    return low, high
