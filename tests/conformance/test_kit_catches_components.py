"""Each component check of the kit fails on a component broken in the way it looks for; the kind mixins
run those checks and refuse a component of the wrong kind."""

from __future__ import annotations

import pytest
import torch

from genkit.contract.components import ModelSpec
from genkit.testing import (
    COMPONENT_CHECKS,
    DecoderConformance,
    EncoderConformance,
    LossConformance,
    SamplerConformance,
    check_component_batch_independence,
    check_draw_statistics,
    check_loss,
    check_loss_extremes,
    check_loss_minimum,
    check_prior_statistics,
    check_sampler,
)

from . import broken

SPEC = ModelSpec((1, 28, 28), (4,), ("mu", "log_var"), (64, 7, 7))
CODE_SPEC = ModelSpec((1, 28, 28), (4,), ("code",), (64, 7, 7))

CASES = [
    (check_draw_statistics, broken.StdAsVarianceSampler, SPEC,
     r"StdAsVarianceSampler: reparameterised draws .* do not follow the declared Gaussian: dimension \d: sample std"),
    (check_draw_statistics, broken.UniformNoiseSampler, SPEC,
     r"UniformNoiseSampler: reparameterised draws .* dimension \d: sample std"),
    (check_draw_statistics, broken.ModeSampler, SPEC,
     r"ModeSampler: mean\(\*params\) \(the code used at inference\) against the mean of the declared distribution"),
    (check_draw_statistics, broken.NoisyCodeSampler, CODE_SPEC,
     r"NoisyCodeSampler: draws of the dimensions \[0, 1, 2, 3\] must equal the declared point mass"),
    (check_prior_statistics, broken.WidePriorSampler, SPEC,
     r"WidePriorSampler: sample_prior's draws \(against prior\(\)\) do not follow the declared Gaussian"),
    (check_prior_statistics, broken.VarianceFitSampler, CODE_SPEC,
     r"VarianceFitSampler: the codes given to fit_prior \(against the fitted prior\(\)\) do not follow"),
    (check_loss_minimum, broken.ShiftedTargetLoss, SPEC,
     r"ShiftedTargetLoss: the loss must be minimal at x_hat = x, but x_hat = .* gives"),
    (check_loss_minimum, broken.SwappedBCELoss, CODE_SPEC,
     r"SwappedBCELoss: the loss must be minimal at x_hat = x, but x_hat = .* gives"),
    (check_loss_minimum, broken.TiltedMSELoss, CODE_SPEC,
     r"TiltedMSELoss: the loss must be minimal at x_hat = x, but x_hat = a step of 0.01 against the gradient"),
    (check_loss_minimum, broken.TrimmedMSELoss, CODE_SPEC,
     r"TrimmedMSELoss: a far-off reconstruction \(x_hat = 1 - x\) must cost more than a perfect one"),
    (check_loss_extremes, broken.RMSELoss, CODE_SPEC,
     r"RMSELoss \(x all zeros, x_hat exactly 0, .*\): the gradient of the loss with respect to x_hat is not finite"),
    (check_loss_extremes, broken.UnclampedBCELoss, SPEC,
     r"UnclampedBCELoss \(x all zeros, x_hat exactly 0, every encoder output \+20\): term 'loss' is not finite"),
    (check_loss_extremes, broken.NormalisedMSELoss, CODE_SPEC,
     r"NormalisedMSELoss \(x all zeros, x_hat exactly 0, .*\): term 'loss' is not finite"),
    (check_component_batch_independence, broken.BatchMeanDecoder, SPEC,
     r"BatchMeanDecoder: output: row 0 of a batch of 5 against the same input alone"),
    (check_component_batch_independence, broken.BatchStatisticsEncoder, SPEC,
     r"BatchStatisticsEncoder: output 'mu': row 0 of a batch of 5 against the same input alone"),
    (check_component_batch_independence, broken.CentredMeanSampler, SPEC,
     r"CentredMeanSampler: mean\(\*params\): row 0 of a batch of 5"),
]


@pytest.mark.parametrize(("check", "cls", "spec", "pattern"), CASES, ids=[c[1].__name__ for c in CASES])
def test_the_check_fails_on_its_broken_component(check, cls, spec, pattern):
    with pytest.raises(AssertionError, match=pattern):
        check(cls, spec)


# A sampler with its own sample_prior also breaks the export contract (the runtime draws from prior() alone):
# the basic contract names that, and the prior statistics see what its draws do.
BASIC = [c for c in CASES if c[1] is not broken.WidePriorSampler]


@pytest.mark.parametrize(("cls", "spec"), [c[1:3] for c in BASIC], ids=[c[1].__name__ for c in BASIC])
def test_the_broken_components_keep_the_basic_contract(cls, spec):
    COMPONENT_CHECKS[cls.kind](cls, spec=spec)


def test_a_sampler_with_its_own_sample_prior_fails_the_contract_as_unexportable():
    with pytest.raises(AssertionError, match=r"WidePriorSampler: the model cannot be exported: the sampler overrides "
                                             r"sample_prior"):
        check_sampler(broken.WidePriorSampler, SPEC)


def test_a_sampler_that_ignores_its_generator_fails_the_contract():
    with pytest.raises(AssertionError, match="equally seeded generators"):
        check_sampler(broken.GlobalRNGSampler)


def test_a_loss_that_ignores_the_reconstruction_fails_before_the_minimum_is_tested():
    with pytest.raises(AssertionError, match="must depend on the reconstruction"):
        check_loss(broken.VAELoss, settings={"r_loss_factor": 0.0})


# -- an unknown parametrisation needs its distribution --------------------------------------------

LOG_SCALE_SPEC = ModelSpec((1, 28, 28), (3,), ("loc", "log_scale"))
LOG_SCALE_PARAMS = [torch.tensor([[-1.0, 0.5, 2.0]]), torch.tensor([[-1.0, 0.3, 0.8]])]


def test_an_unknown_parametrisation_is_refused_without_a_distribution():
    with pytest.raises(TypeError, match=r"LogScaleSampler: the distribution of draws for parameter_names "
                                        r"\('loc', 'log_scale'\) is unknown; pass draw_distribution"):
        check_draw_statistics(broken.LogScaleSampler, LOG_SCALE_SPEC)


def test_a_declared_distribution_is_tested():
    check_draw_statistics(broken.LogScaleSampler, LOG_SCALE_SPEC, params=LOG_SCALE_PARAMS,
                          draw_distribution=lambda loc, log_scale: (loc, log_scale.exp()))
    with pytest.raises(AssertionError, match=r"dimension [12]: sample std"):  # dimension 0 has log_scale -1 both ways
        check_draw_statistics(broken.LogScaleSampler, LOG_SCALE_SPEC, params=LOG_SCALE_PARAMS,
                              draw_distribution=lambda loc, log_scale: (loc, (log_scale / 2).exp()))


class TestLogScaleSampler(SamplerConformance):
    component_class = broken.LogScaleSampler
    spec = LOG_SCALE_SPEC
    draw_params = LOG_SCALE_PARAMS
    draw_distribution = staticmethod(lambda loc, log_scale: (loc, log_scale.exp()))


# -- the kind mixins -------------------------------------------------------------------------------


@pytest.mark.parametrize(("mixin", "cls", "test", "pattern"), [
    (SamplerConformance, broken.StdAsVarianceSampler, "test_draw_statistics", r"sample std"),
    (SamplerConformance, broken.WidePriorSampler, "test_prior_statistics", r"sample std 1.5"),
    (SamplerConformance, broken.CentredMeanSampler, "test_batch_independence", r"row 0 of a batch of 5"),
    (DecoderConformance, broken.BatchMeanDecoder, "test_batch_independence", r"row 0 of a batch of 5"),
    (EncoderConformance, broken.BatchStatisticsEncoder, "test_batch_independence", r"row 0 of a batch of 5"),
    (LossConformance, broken.ShiftedTargetLoss, "test_minimal_at_perfect_reconstruction", r"must be minimal"),
    (LossConformance, broken.UnclampedBCELoss, "test_finite_on_extreme_inputs", r"is not finite"),
])
def test_the_kind_mixins_fail_for_a_broken_component(mixin, cls, test, pattern):
    instance = type("TestBroken", (mixin,), {"component_class": cls})()
    with pytest.raises(AssertionError, match=f"{cls.__name__}.*{pattern}"):
        getattr(instance, test)()


def test_a_kind_mixin_refuses_another_kind():
    instance = type("TestWrongKind", (SamplerConformance,), {"component_class": broken.BatchMeanDecoder})()
    with pytest.raises(TypeError, match="TestWrongKind tests a sampler, but BatchMeanDecoder is a decoder; "
                                        "use DecoderConformance"):
        instance.test_contract()


def test_a_loss_declaring_a_batch_term_it_lacks_fails_the_loss_check():
    from genkit.testing import check_loss

    with pytest.raises(AssertionError, match=r"StrayBatchTermLoss: batch_terms must name terms of the loss "
                                             r"\(loss, reconstruction, mse\); got \('mmd',\)"):
        check_loss(broken.StrayBatchTermLoss, CODE_SPEC)


def test_a_loss_needing_an_extra_its_sampler_lacks_fails_the_loss_check():
    from genkit.testing import check_loss
    from genkit_plugins.vae.sampler import GaussianSampler

    with pytest.raises(AssertionError, match=r"CodesReadingLoss: needs the sampler extras \['codes'\], which "
                                             r"GaussianSampler does not give \(its extras: \[\]\)"):
        check_loss(broken.CodesReadingLoss, SPEC, sampler=GaussianSampler)
    check_loss(broken.CodesReadingLoss, CODE_SPEC)  # without a sampler to compare with, it passes
