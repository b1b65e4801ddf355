"""The built-in ``ae`` recipe (the VAE's ablation: deterministic sampler, fitted prior, MSE only)
through every recipe check of the conformance kit, on Fashion-MNIST."""

from __future__ import annotations

from genkit.testing import CudaRecipeConformance

from .fashion import FashionImages


class TestAE(FashionImages, CudaRecipeConformance):
    recipe = "ae"
