"""The built-in ``vae-faces`` recipe through every recipe check of the conformance kit.

The recipe is the book's 128x128 RGB faces VAE with a 200-d latent space. To keep the checks fast its
conv stacks get 8 filters per layer instead of 32-64; the input size, the latent size, the strides and
the batch normalisation and dropout after every layer stay, so the checks exercise what makes this
recipe differ from ``vae`` (batch statistics in training, dropout, a latent space 100 times larger).
"""

from __future__ import annotations

from torch import nn

from genkit.testing import CudaRecipeConformance

SMALL = ["encoder.filters=[8,8,8,8]", "decoder.filters=[8,8,8,3]"]


class TestVAEFaces(CudaRecipeConformance):
    recipe = "vae-faces"
    overrides = SMALL

    def test_the_small_model_keeps_what_makes_the_recipe(self):
        model = self.build()
        assert tuple(model.spec.input_shape) == (3, 128, 128) and model.spec.latent_shape == (200,)
        for part in (model.encoder, model.decoder):
            layers = [type(m) for m in part.modules()]
            assert layers.count(nn.BatchNorm2d) >= 3 and layers.count(nn.Dropout) >= 3, part
