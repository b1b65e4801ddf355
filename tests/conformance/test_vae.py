"""The built-in ``vae`` recipe through every recipe check of the conformance kit, on Fashion-MNIST."""

from __future__ import annotations

from genkit.testing import CudaRecipeConformance

from .fashion import FashionImages


class TestVAE(FashionImages, CudaRecipeConformance):
    recipe = "vae"
