"""The kit on the contracts core v2 opened: it passes a sound component of each (``families.py``) through every
mixin, and fails on each variant of ``broken_families.py`` with a message naming the broken rule."""

from __future__ import annotations

import pytest

from genkit.contract.components import ModelSpec
from genkit.testing import (
    DecoderConformance,
    EncoderConformance,
    LossConformance,
    RecipeConformance,
    SamplerConformance,
    check_decoder,
    check_draw_statistics,
    check_encoder,
    check_loss,
    check_prior_statistics,
    check_recipe,
    check_sampler,
)

from . import broken_families as broken
from . import families
from .families import GRID_LATENT, INPUT, family_registry

FLAT = ModelSpec(INPUT, (2,), ("code",), (16,))
GAUSSIAN = ModelSpec(INPUT, (2,), ("mu", "log_var"), (16,))
GRID = ModelSpec(INPUT, GRID_LATENT, ("z_e",), (16,))
CONDITIONAL = ModelSpec(INPUT, (2,), ("mu", "log_var"), (16,), classes=3)

# -- sound components and recipes through the mixins ------------------------------------------------------------


class TestConditionalEncoder(EncoderConformance):
    component_class = families.DenseEncoder
    spec = CONDITIONAL


class TestConditionalDecoder(DecoderConformance):
    component_class = families.DenseDecoder
    spec = CONDITIONAL


class TestSpatialDecoder(DecoderConformance):
    component_class = families.DenseDecoder
    spec = GRID


class TestMixtureSampler(SamplerConformance):
    component_class = families.MixtureSampler
    spec = FLAT


class TestImportanceSampler(SamplerConformance):
    component_class = families.ImportanceSampler
    spec = GAUSSIAN


class TestQuantisingSampler(SamplerConformance):
    component_class = families.QuantisingSampler
    spec = GRID
    draw_distribution = "deterministic"


class TestStrongConditionalsNetworkPrior(TestQuantisingSampler):
    component_class = broken.ChainSampler


class TestCategoricalQuantisingSampler(TestQuantisingSampler):
    component_class = families.CategoricalQuantisingSampler


class TestQuantisedLoss(LossConformance):
    component_class = families.QuantisedLoss
    spec = GRID
    sampler_class = families.QuantisingSampler


class TestImportanceWeightedLoss(LossConformance):
    component_class = families.ImportanceWeightedLoss
    spec = GAUSSIAN
    sampler_class = families.ImportanceSampler


class TestPriorLoss(LossConformance):
    component_class = families.PriorLoss
    spec = GRID
    sampler_class = families.QuantisingSampler


def _recipe_test(name: str, **attributes) -> type:
    return type(f"Test{name.title().replace('-', '')}Recipe", (RecipeConformance,),
                {"recipe": name, "registry": family_registry(), **attributes})


TestCVAE = _recipe_test("cvae")
TestMixtureAE = _recipe_test("mixture-ae")
TestIWAE = _recipe_test("iwae")
TestVQ = _recipe_test("vq", draw_distribution="deterministic")
TestCategoricalVQ = _recipe_test("vq-categorical", draw_distribution="deterministic")


# -- the kit catches each broken variant -----------------------------------------------------------------------

EXPORT = r"the model cannot be exported: "
CASES = [
    (check_sampler, broken.UnknownPriorSampler, FLAT,
     EXPORT + r"prior\(\) returns a LaplacePrior, which the torch-free runtime cannot sample: return one of "
              r"genkit.contract.priors' DiagonalGaussianPrior, GaussianMixturePrior, CategoricalPrior, NetworkPrior"),
    (check_sampler, broken.TemperedPriorSampler, FLAT, EXPORT + r".*TemperedMixturePrior.* overrides sample"),
    (check_sampler, broken.WrongShapePriorSampler, FLAT, EXPORT + r".*has shape \(3, 1\); the latent shape asks for"),
    (check_sampler, broken.UnnormalisedMixtureSampler, FLAT, EXPORT + r".*weights .*sum to 1"),
    (check_sampler, broken.PeekingNetworkSampler, GRID,
     r"the network prior is autoregressive, but its logits at position \d+ \(raster order\) change with the code "
     r"at position \d+"),
    (check_sampler, broken.MissingExtrasSampler, GRID,
     r"must return every extra named in Sampler.extras; missing \['codes', 'codebook_loss', 'commitment_loss'\]"),
    (check_sampler, broken.UndeclaredExtrasSampler, GAUSSIAN,
     r"returns extras \['log_q'\] that Sampler.extras does not declare"),
    (check_sampler, broken.NoStraightThroughSampler, GRID,
     r"z must be differentiable with respect to the encoder's outputs \['z_e'\].*straight through"),
    (check_sampler, broken.FlatSampler, GRID,
     r"forward's z must have shape \(4, 3, 2, 3\) \(latent_shape \(3, 2, 3\)\), or \(K·4, 3, 2, 3\)"),
    (check_sampler, broken.UniformComponentSampler, FLAT, EXPORT + "the sampler overrides sample_prior"),
    (check_prior_statistics, broken.UniformComponentSampler, FLAT,
     r"sample_prior's draws \(against prior\(\)\).*(mean responsibility p\(k \| z\) of a component must be its "
     r"weight|per-dimension CDF values)"),
    (check_prior_statistics, broken.PerDimensionComponentSampler, FLAT,
     r"the mean responsibility p\(k \| z\) of a component must be its weight: component \d has mean"),
    (check_prior_statistics, broken.AllAtOnceSampler, GRID,
     r"the randomised CDF values of each position's code under the network's conditional \(given the codes "
     r"before it\) are not uniform"),
    (check_prior_statistics, broken.UniformCodesSampler, GRID,
     r"sample_prior's draws \(against prior\(\)\): the codes do not follow the declared probabilities: position "
     r"\d: code \d drawn"),
    (check_prior_statistics, broken.OffCodebookSampler, GRID,
     r"sample_prior's draws \(against prior\(\)\) must be made of the prior's codebook entries"),
    (check_draw_statistics, broken.ImportanceStdAsVarianceSampler, GAUSSIAN, r"dimension \d: sample std"),
    (check_encoder, broken.UnconditionalEncoder, CONDITIONAL, r"forward\(x, labels\) failed: TypeError"),
    (check_decoder, broken.LabelBlindDecoder, CONDITIONAL, r"a conditional decoder's output must depend on the labels"),
]


@pytest.mark.parametrize(("check", "cls", "spec", "pattern"), CASES,
                         ids=[f"{c[0].__name__}-{c[1].__name__}" for c in CASES])
def test_the_kit_fails_on_each_broken_variant(check, cls, spec, pattern):
    with pytest.raises(AssertionError, match=f"{cls.__name__}.*{pattern}"):
        check(cls, spec)


def test_a_jittering_quantiser_is_not_deterministic():
    with pytest.raises(AssertionError, match=r"JitteringQuantiser: draws of the dimensions .* must equal the declared "
                                             r"point mass"):
        check_draw_statistics(broken.JitteringQuantiser, GRID, draw_distribution="deterministic")


def test_a_loss_that_reads_extras_names_the_sampler_it_needs():
    with pytest.raises(AssertionError, match=r"QuantisedLoss: the loss failed: KeyError: 'codebook_loss'; a loss "
                                             r"that reads a sampler's extras or prior is checked with that sampler"):
        check_loss(families.QuantisedLoss, GRID)


@pytest.mark.parametrize(("recipe", "parts", "pattern"), [
    ("vq", {("loss", "prior"): broken.CodebookOnlyLoss},
     r"recipe 'vq' stage 'prior': sampler.prior_network: no gradient reached"),
    ("cvae", {("decoder", "dense"): broken.LabelBlindDecoder},
     r"recipe 'cvae': a conditional model must generate images that depend on the label"),
    ("vq", {("sampler", "quantise"): broken.NoStraightThroughSampler},
     r"recipe 'vq': sampled z must be differentiable with respect to the encoder's outputs"),
    ("mixture-ae", {("sampler", "mixture"): broken.UnknownPriorSampler},
     r"recipe 'mixture-ae': the model cannot be exported"),
])
def test_check_recipe_fails_on_a_broken_family_recipe(recipe, parts, pattern):
    with pytest.raises(AssertionError, match=pattern):
        check_recipe(recipe, family_registry(parts), onnx=False)
