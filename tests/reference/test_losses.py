"""The loss terms against torch.distributions and torch.nn.functional, on inputs where the usual slips differ.

mu = 1, log_var = 0 hides most mistakes in a Gaussian KL (variance for std, a flipped sign of log_var,
|mu| for mu² all give the same number there), so every input here is random: mu ~ N(0, 2²), log_var
uniform in [-3, 2], several batch sizes, latents of more than one dimension and images that are neither square
nor single-channel. The loss sees the forward pass as a ``ModelOutput``: here z is mu (the losses do not read it).
"""

from __future__ import annotations

import dataclasses

import pytest
import torch
import torch.nn.functional as F
from torch.distributions import Normal, kl_divergence

from genkit.config import validate_section
from genkit.contract.components import ModelOutput, ModelSpec
from genkit.errors import ConfigError
from genkit_plugins.ae.loss import ReconstructionLoss
from genkit_plugins.vae.loss import VAELoss, per_image_mse

INPUT_SHAPE = (3, 5, 7)
Z_DIM = 6
BATCHES = (1, 3, 17)
# The loss computes in float32; sums of a few dozen float32 terms of size ~10 agree with a float64
# reference to a few units in 1e-6 relative, so 1e-5 leaves headroom and is far below any slip's effect.
RTOL = 1e-5


def _gaussian_spec() -> ModelSpec:
    return ModelSpec(INPUT_SHAPE, (Z_DIM,), ("mu", "log_var"))


def _inputs(batch: int, seed: int):
    g = torch.Generator().manual_seed(seed)
    x = torch.rand((batch, *INPUT_SHAPE), generator=g)
    x_hat = torch.rand((batch, *INPUT_SHAPE), generator=g)
    mu = 2.0 * torch.randn((batch, Z_DIM), generator=g)
    log_var = -3.0 + 5.0 * torch.rand((batch, Z_DIM), generator=g)
    return x, x_hat, mu, log_var


def _pass(x_hat: torch.Tensor, **params: torch.Tensor) -> ModelOutput:
    """The forward pass the loss sees: these encoder outputs, z the first of them, this reconstruction."""
    return ModelOutput(x_hat, params, next(iter(params.values())))


def _reference_kl(mu: torch.Tensor, log_var: torch.Tensor) -> torch.Tensor:
    """KL(N(mu, exp(log_var)) || N(0, I)) summed over dimensions, averaged over the batch, in float64."""
    mu, log_var = mu.double(), log_var.double()
    posterior = Normal(mu, torch.exp(log_var / 2))
    prior = Normal(torch.zeros_like(mu), torch.ones_like(mu))
    return kl_divergence(posterior, prior).sum(-1).mean()


def _reference_mse(x: torch.Tensor, x_hat: torch.Tensor) -> torch.Tensor:
    """The mean over each image's pixels of the squared error, then the mean over the batch."""
    per_image = F.mse_loss(x_hat.double(), x.double(), reduction="none").flatten(1).mean(dim=1)
    return per_image.mean()


@pytest.mark.parametrize("batch", BATCHES)
def test_vae_kl_matches_torch_distributions(batch):
    x, x_hat, mu, log_var = _inputs(batch, seed=batch)
    out = VAELoss(spec=_gaussian_spec())(x, _pass(x_hat, mu=mu, log_var=log_var))
    assert out["kl"].item() == pytest.approx(_reference_kl(mu, log_var).item(), rel=RTOL)


@pytest.mark.parametrize("batch", BATCHES)
def test_vae_mse_is_the_per_image_mean_squared_error_averaged_over_the_batch(batch):
    x, x_hat, mu, log_var = _inputs(batch, seed=100 + batch)
    out = VAELoss(spec=_gaussian_spec())(x, _pass(x_hat, mu=mu, log_var=log_var))
    assert out["mse"].item() == pytest.approx(_reference_mse(x, x_hat).item(), rel=RTOL)


@pytest.mark.parametrize("factor", [1000.0, 37.5, 0.0])
def test_vae_total_weights_only_the_reconstruction_term(factor):
    x, x_hat, mu, log_var = _inputs(17, seed=7)
    out = VAELoss(spec=_gaussian_spec(), r_loss_factor=factor)(x, _pass(x_hat, mu=mu, log_var=log_var))
    mse, kl = _reference_mse(x, x_hat).item(), _reference_kl(mu, log_var).item()
    assert out["reconstruction"].item() == pytest.approx(factor * mse, rel=RTOL, abs=1e-12)
    assert out["loss"].item() == pytest.approx(factor * mse + kl, rel=RTOL)


def test_vae_loss_gradients_match_the_analytic_derivatives():
    # d KL / d mu = mu / N and d KL / d log_var = (exp(log_var) - 1) / (2 N) for the batch mean of N
    # images; d (r * mse) / d x_hat = 2 r (x_hat - x) / (N * pixels).
    batch, factor = 17, 250.0
    x, x_hat, mu, log_var = _inputs(batch, seed=11)
    x_hat, mu, log_var = (t.clone().requires_grad_(True) for t in (x_hat, mu, log_var))
    VAELoss(spec=_gaussian_spec(), r_loss_factor=factor)(x, _pass(x_hat, mu=mu, log_var=log_var))["loss"].backward()
    pixels = x[0].numel()
    with torch.no_grad():
        # float32 gradients of float32 arithmetic: a relative 1e-5 covers rounding, and absolute 1e-7
        # the entries near zero (the gradients themselves are of order 1e-2 to 1e0).
        torch.testing.assert_close(mu.grad, mu / batch, rtol=RTOL, atol=1e-7)
        torch.testing.assert_close(log_var.grad, (log_var.exp() - 1) / (2 * batch), rtol=RTOL, atol=1e-7)
        torch.testing.assert_close(x_hat.grad, 2 * factor * (x_hat - x) / (batch * pixels), rtol=RTOL, atol=1e-7)


def test_vae_loss_of_bfloat16_inputs_is_computed_in_float32():
    # Under bf16 autocast the encoder hands over bf16 tensors; the loss must not round its own
    # arithmetic to bf16 (about 3 significant digits), so it equals the float64 reference of the same
    # (already rounded) inputs to float32 accuracy.
    x, x_hat, mu, log_var = _inputs(17, seed=13)
    x_hat, mu, log_var = (t.to(torch.bfloat16) for t in (x_hat, mu, log_var))
    out = VAELoss(spec=_gaussian_spec())(x, _pass(x_hat, mu=mu, log_var=log_var))
    assert out["loss"].dtype == torch.float32
    assert out["kl"].item() == pytest.approx(_reference_kl(mu, log_var).item(), rel=RTOL)
    assert out["mse"].item() == pytest.approx(_reference_mse(x, x_hat).item(), rel=RTOL)


@pytest.mark.parametrize("batch", BATCHES)
def test_reconstruction_loss_is_the_mean_squared_error_alone(batch):
    x, x_hat, _, _ = _inputs(batch, seed=200 + batch)
    code = torch.randn((batch, Z_DIM), generator=torch.Generator().manual_seed(batch))
    out = ReconstructionLoss(spec=ModelSpec(INPUT_SHAPE, (Z_DIM,), ("code",)))(x, _pass(x_hat, code=code))
    expected = _reference_mse(x, x_hat).item()
    for term in ("loss", "reconstruction", "mse"):
        assert out[term].item() == pytest.approx(expected, rel=RTOL), term


def test_reconstruction_loss_gradient_matches_the_analytic_derivative():
    batch = 3
    x, x_hat, _, _ = _inputs(batch, seed=17)
    x_hat = x_hat.clone().requires_grad_(True)
    loss = ReconstructionLoss(spec=ModelSpec(INPUT_SHAPE, (Z_DIM,), ("code",)))
    loss(x, _pass(x_hat, code=torch.zeros(batch, Z_DIM)))["loss"].backward()
    with torch.no_grad():
        torch.testing.assert_close(x_hat.grad, 2 * (x_hat - x) / x.numel(), rtol=RTOL, atol=1e-9)


@pytest.mark.parametrize("batch", BATCHES)
def test_per_image_mse_is_one_number_per_image(batch):
    """Callers weigh or select single images' errors (evaluation, per-class tables): the batch mean
    of a wrong reduction would hide it, so each image's value is checked on its own."""
    x, x_hat, _, _ = _inputs(batch, seed=40 + batch)
    got = per_image_mse(x, x_hat)
    expected = F.mse_loss(x_hat.double(), x.double(), reduction="none").flatten(1).mean(dim=1)
    assert got.shape == (batch,) and got.dtype == torch.float32
    assert torch.allclose(got.double(), expected, rtol=RTOL, atol=0)


def test_vae_loss_settings_are_the_books_and_validated():
    settings = validate_section(VAELoss.Settings, {}, "loss")
    assert settings["r_loss_factor"] == 1000.0  # the book's weight for 28x28 images
    for accepted in (0.0, 0.5):  # 0: the KL alone, a prior-only ablation
        assert validate_section(VAELoss.Settings, {"r_loss_factor": accepted}, "loss")["r_loss_factor"] == accepted
    with pytest.raises(ConfigError, match="r_loss_factor"):
        validate_section(VAELoss.Settings, {"r_loss_factor": -0.5}, "loss")
    loss = VAELoss(spec=_gaussian_spec(), r_loss_factor=10.0)
    with pytest.raises(dataclasses.FrozenInstanceError):  # settings are read once, never changed in place
        loss.settings.r_loss_factor = 1.0


def test_vae_kl_sums_over_every_dimension_of_a_spatial_latent():
    g = torch.Generator().manual_seed(21)
    mu, log_var = 2.0 * torch.randn((5, 3, 2, 4), generator=g), -3.0 + 5.0 * torch.rand((5, 3, 2, 4), generator=g)
    x, x_hat = torch.rand((5, *INPUT_SHAPE), generator=g), torch.rand((5, *INPUT_SHAPE), generator=g)
    loss = VAELoss(spec=ModelSpec(INPUT_SHAPE, (3, 2, 4), ("mu", "log_var")))
    out = loss(x, _pass(x_hat, mu=mu, log_var=log_var))
    expected = _reference_kl(mu.flatten(1), log_var.flatten(1))
    assert out["kl"].item() == pytest.approx(expected.item(), rel=RTOL)


def test_both_losses_score_the_reconstruction():
    """The model decodes for a loss only when it declares so; both built-in losses need the reconstruction."""
    assert VAELoss.needs_reconstruction and ReconstructionLoss.needs_reconstruction
    assert VAELoss.terms == ("loss", "reconstruction", "kl", "mse")
    assert ReconstructionLoss.terms == ("loss", "reconstruction", "mse")
