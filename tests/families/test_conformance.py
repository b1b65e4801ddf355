"""Every family's recipe through the genkit.testing conformance kit, on real Fashion-MNIST images, as a
third-party plugin's recipes would be tested."""

from __future__ import annotations

from conformance.fashion import FashionImages

from genkit.testing import RecipeConformance


class TestBetaVAE(FashionImages, RecipeConformance):
    recipe = "beta-vae"


class TestBetaTCVAE(FashionImages, RecipeConformance):
    recipe = "beta-tcvae"


class TestIWAE(FashionImages, RecipeConformance):
    recipe = "iwae"


class TestWAE(FashionImages, RecipeConformance):
    recipe = "wae-mmd"


class TestRAE(FashionImages, RecipeConformance):
    recipe = "rae"


class TestVQVAE(FashionImages, RecipeConformance):
    recipe = "vq-vae"
    # every draw is the nearest codebook entry: a point mass at mean(z_e)
    draw_distribution = "deterministic"
    # the prior's checks sample 2,000 grids one position at a time: a small codebook and PixelCNN keep that to
    # seconds; the recipe's own sizes are built (and exported) by the other tests
    overrides = ("sampler.codes=16", "sampler.prior_width=16", "sampler.prior_layers=2")


class TestCVAE(FashionImages, RecipeConformance):
    recipe = "cvae"


class TestWGANGP(FashionImages, RecipeConformance):
    """Generator-only with two players: the kit checks its decoder, prior, players' steps and losses."""

    recipe = "wgan-gp"


class TestCGAN(FashionImages, RecipeConformance):
    recipe = "cgan"
