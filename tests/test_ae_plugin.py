"""The autoencoder ablation plugin: two registry entries away from the VAE."""

from __future__ import annotations

import pytest
import torch

from genkit.config import build_config
from genkit.contract.components import ModelOutput, ModelSpec
from genkit.contract.model import build_model
from genkit.contract.priors import DiagonalGaussianPrior
from genkit.errors import ConfigError
from genkit.testing import ComponentConformance, check_recipe, installed_registry
from genkit_plugins.ae.loss import ReconstructionLoss
from genkit_plugins.ae.sampler import DeterministicSampler

SPEC = ModelSpec((1, 28, 28), (3,), ("code",))


@pytest.fixture(scope="module")
def registry():
    """The installed plugins, whatever GENKIT_DISABLE_PLUGINS says (genkit.testing's one registry helper)."""
    return installed_registry()


def test_ae_differs_from_vae_only_in_sampler_and_loss(registry):
    ae, vae = registry.recipe("ae"), registry.recipe("vae")
    differing = {kind for kind, name in ae.components().items() if vae.components()[kind] != name}
    assert differing == {"sampler", "loss"}
    assert ae.components()["sampler"] == "deterministic" and ae.components()["loss"] == "reconstruction"
    assert (ae.input_shape, ae.latent_shape, ae.classes) == (vae.input_shape, vae.latent_shape, vae.classes)
    for section in ("encoder", "decoder", "training", "data"):
        assert ae.settings[section] == vae.settings[section], section
    assert ae.settings["loss"] == {} and ae.plugin == "ae"


def test_ae_encoder_has_one_code_head_and_keras_parameter_count(registry):
    model = build_model(build_config(registry, "ae"), registry)
    assert list(model.encoder.heads) == ["code"]
    assert sum(p.numel() for p in model.encoder.parameters()) == 98_946
    assert sum(p.numel() for p in model.decoder.parameters()) == 102_017


def test_ae_recipe_passes_conformance(registry):
    check_recipe(registry, "ae")


def test_vae_loss_with_the_deterministic_sampler_is_a_config_error(registry):
    config = build_config(registry, "vae", overrides=["model.sampler=deterministic"])
    with pytest.raises(ConfigError, match="needs the encoder outputs mu and log_var"):
        build_model(config, registry)


# -- DeterministicSampler --------------------------------------------------------------------------


def test_deterministic_sampler_passes_the_code_through():
    sampler = DeterministicSampler(spec=SPEC)
    code = torch.randn(4, 3)
    assert torch.equal(sampler(code, generator=torch.Generator().manual_seed(0)), code)
    assert torch.equal(sampler.mean(code), code)


def test_prior_is_standard_normal_until_fitted():
    prior = DeterministicSampler(spec=SPEC).prior()
    assert isinstance(prior, DiagonalGaussianPrior)
    assert torch.equal(prior.mean, torch.zeros(3)) and torch.equal(prior.std, torch.ones(3))


def test_fit_prior_stores_per_dimension_mean_and_std_in_the_saved_state():
    sampler = DeterministicSampler(spec=SPEC)
    codes = torch.tensor([[0.0, 1.0, 5.0], [2.0, 1.0, 1.0]])
    sampler.fit_prior(codes)
    torch.testing.assert_close(sampler.prior().mean, torch.tensor([1.0, 1.0, 3.0]))
    torch.testing.assert_close(sampler.prior().std, torch.tensor([1.0, 0.0, 2.0]))

    restored = DeterministicSampler(spec=SPEC)
    restored.load_state_dict(sampler.state_dict())
    assert set(sampler.state_dict()) == {"prior_mean", "prior_std"}
    torch.testing.assert_close(restored.prior().mean, torch.tensor([1.0, 1.0, 3.0]))


def test_sample_prior_follows_the_fitted_prior():
    sampler = DeterministicSampler(spec=SPEC)
    sampler.fit_prior(torch.randn(5000, 3, generator=torch.Generator().manual_seed(0)) * 2.0 - 4.0)
    draws = sampler.sample_prior(5000, generator=torch.Generator().manual_seed(1))
    torch.testing.assert_close(draws.mean(0), torch.full((3,), -4.0), atol=0.15, rtol=0)
    torch.testing.assert_close(draws.std(0), torch.full((3,), 2.0), atol=0.15, rtol=0)


@pytest.mark.parametrize("shape", [(5, 2), (5,), (0, 3)])
def test_fit_prior_rejects_codes_of_the_wrong_shape(shape):
    with pytest.raises(ValueError, match=r"expects codes of shape \(N >= 1, 3\)"):
        DeterministicSampler(spec=SPEC).fit_prior(torch.zeros(shape))


# -- ReconstructionLoss ----------------------------------------------------------------------------


def test_reconstruction_loss_is_the_per_image_mse():
    loss = ReconstructionLoss(spec=SPEC)
    x = torch.zeros(2, 1, 28, 28)
    x_hat = torch.stack([torch.full((1, 28, 28), 0.5), torch.full((1, 28, 28), 0.1)])
    out = loss(x, ModelOutput(x_hat, {"code": torch.zeros(2, 3)}, torch.zeros(2, 3)))
    assert list(out) == ["loss", "reconstruction", "mse"] == list(ReconstructionLoss.terms)
    assert float(out["loss"]) == pytest.approx((0.25 + 0.01) / 2)
    assert out["loss"] is out["reconstruction"] is out["mse"]


def test_reconstruction_loss_is_float32_for_bfloat16_inputs():
    x = torch.rand(2, 1, 28, 28).bfloat16()
    out = ReconstructionLoss(spec=SPEC)(x, ModelOutput(x.flip(0), {"code": torch.zeros(2, 3)}, torch.zeros(2, 3)))
    assert out["loss"].dtype == torch.float32


# -- the conformance mixin on the real components --------------------------------------------------


class TestDeterministicSamplerConformance(ComponentConformance):
    component_class = DeterministicSampler
    spec = SPEC


class TestReconstructionLossConformance(ComponentConformance):
    component_class = ReconstructionLoss
    spec = SPEC
