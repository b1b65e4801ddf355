"""Each family's objective against an independent reference computed here, term by term.

The references are written the long way, from torch.distributions and explicit loops in float64, so that a
slip in the vectorised code (a wrong normaliser, a sum over the wrong axis, rows in the wrong order) shows.
"""

from __future__ import annotations

import math

import pytest
import torch
from torch.distributions import Normal, kl_divergence

from genkit.contract.components import ModelOutput, ModelSpec
from genkit.contract.priors import DiagonalGaussianPrior
from genkit_plugins.families.beta_vae import BetaVAELoss
from genkit_plugins.families.iwae import ImportanceSampler, IWAELoss
from genkit_plugins.families.rae import RAELoss, decoder_gradient_penalty
from genkit_plugins.families.tcvae import TCVAELoss, tc_decomposition
from genkit_plugins.families.wae import SCALES, CodeSampler, WAELoss, imq_mmd

SPEC = ModelSpec((1, 28, 28), (3,), ("mu", "log_var"), feature_shape=(64, 7, 7))


def gen(seed: int = 0) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def gaussian_pass(n: int, d: int = 3, seed: int = 0):
    g = gen(seed)
    x = torch.rand(n, 1, 28, 28, generator=g)
    x_hat = torch.rand(n, 1, 28, 28, generator=g)
    mu, log_var = torch.randn(n, d, generator=g), 0.5 * torch.randn(n, d, generator=g)
    z = mu + torch.exp(log_var / 2) * torch.randn(n, d, generator=g)
    return x, x_hat, mu, log_var, z


def test_beta_vae_weights_the_kl_of_torch_distributions():
    x, x_hat, mu, log_var, z = gaussian_pass(4)
    loss = BetaVAELoss(SPEC, r_loss_factor=1000.0, beta=4.0)
    terms = loss(x, ModelOutput(x_hat, {"mu": mu, "log_var": log_var}, z))
    kl = kl_divergence(Normal(mu.double(), torch.exp(log_var.double() / 2)), Normal(0.0, 1.0)).sum(1).mean()
    mse = (x.double() - x_hat.double()).square().mean()
    assert terms["kl"].item() == pytest.approx(kl.item(), rel=1e-5)
    assert terms["loss"].item() == pytest.approx(1000 * mse.item() + 4 * kl.item(), rel=1e-5)


def mws_by_loops(z, mu, log_var, dataset_size):
    """Chen et al.'s minibatch-weighted sampling, one image and one dimension at a time, in float64."""
    z, mu, std = z.double(), mu.double(), torch.exp(log_var.double() / 2)
    m, d = z.shape
    log_nm = math.log(dataset_size * m)
    mi, tc, dkl = [], [], []
    for i in range(m):
        log_q_i_given = [Normal(mu[j], std[j]).log_prob(z[i]) for j in range(m)]  # each (d,)
        log_qz_x = log_q_i_given[i].sum().item()
        log_qz = math.log(sum(math.exp(t.sum().item()) for t in log_q_i_given)) - log_nm
        log_prod = sum(math.log(sum(math.exp(t[k].item()) for t in log_q_i_given)) - log_nm for k in range(d))
        log_pz = Normal(0.0, 1.0).log_prob(z[i]).sum().item()
        mi.append(log_qz_x - log_qz)
        tc.append(log_qz - log_prod)
        dkl.append(log_prod - log_pz)
    return sum(mi) / m, sum(tc) / m, sum(dkl) / m


def test_tc_decomposition_matches_the_estimator_written_out():
    x, x_hat, mu, log_var, z = gaussian_pass(5)
    parts = tc_decomposition(z, mu, log_var, dataset_size=100)
    mi, tc, dkl = mws_by_loops(z, mu, log_var, 100)
    assert parts["mi"].item() == pytest.approx(mi, rel=1e-5, abs=1e-4)
    assert parts["tc"].item() == pytest.approx(tc, rel=1e-5, abs=1e-4)
    assert parts["dkl"].item() == pytest.approx(dkl, rel=1e-5, abs=1e-4)
    loss = TCVAELoss(SPEC, r_loss_factor=1000.0, alpha=1.0, beta=6.0, gamma=1.0, dataset_size=100)
    terms = loss(x, ModelOutput(x_hat, {"mu": mu, "log_var": log_var}, z))
    mse = (x.double() - x_hat.double()).square().mean().item()
    assert terms["loss"].item() == pytest.approx(1000 * mse + mi + 6 * tc + dkl, rel=1e-5)
    # the three parts add up to the sampled KL, log q(z|x) - log p(z), whatever the normaliser
    sampled_kl = (Normal(mu, torch.exp(log_var / 2)).log_prob(z) - Normal(0.0, 1.0).log_prob(z)).sum(1).mean()
    assert terms["kl"].item() == pytest.approx(sampled_kl.item(), rel=1e-5, abs=1e-4)


def test_importance_sampler_lays_out_k_draws_per_image_and_scores_them():
    _, _, mu, log_var, _ = gaussian_pass(3)
    sampler = ImportanceSampler(SPEC, samples=4)
    out = sampler(mu, log_var, generator=gen(7))
    eps = torch.randn((12, 3), generator=gen(7))  # the noise the sampler draws, in its layout
    for k in range(4):
        for n in range(3):
            row = k * 3 + n  # draw k of image n
            expected = mu[n] + torch.exp(log_var[n] / 2) * eps[row]
            torch.testing.assert_close(out.z[row], expected)
            q = Normal(mu[n].double(), torch.exp(log_var[n].double() / 2)).log_prob(expected.double()).sum()
            assert out.extras["log_q"][row].item() == pytest.approx(q.item(), rel=1e-5)
            assert out.extras["log_p"][row].item() == pytest.approx(
                Normal(0.0, 1.0).log_prob(expected.double()).sum().item(), rel=1e-5)


def test_iwae_bound_is_a_logsumexp_of_importance_weights():
    x, _, mu, log_var, _ = gaussian_pass(3)
    k, r = 5, 1000.0
    sampler = ImportanceSampler(SPEC, samples=k)
    drawn = sampler(mu, log_var, generator=gen(3))
    x_hat = torch.rand(k * 3, 1, 28, 28, generator=gen(4))
    terms = IWAELoss(SPEC, r_loss_factor=r)(x, ModelOutput(x_hat, {"mu": mu, "log_var": log_var}, drawn.z,
                                                           drawn.extras))
    sigma = math.sqrt(784 / (2 * r))  # the Gaussian decoder whose NLL is r * MSE plus a constant
    bounds, elbos = [], []
    for n in range(3):
        log_w = []
        for draw in range(k):
            row = draw * 3 + n
            z = drawn.z[row].double()
            log_px = Normal(x_hat[row].double(), sigma).log_prob(x[n].double()).sum()
            log_pz = Normal(0.0, 1.0).log_prob(z).sum()
            log_qz = Normal(mu[n].double(), torch.exp(log_var[n].double() / 2)).log_prob(z).sum()
            log_w.append((log_px + log_pz - log_qz).item())
        top = max(log_w)
        bounds.append(top + math.log(sum(math.exp(w - top) for w in log_w) / k))
        elbos.extend(log_w)
    assert terms["iwae_bound"].item() == pytest.approx(sum(bounds) / 3, rel=1e-6)
    assert terms["loss"].item() == pytest.approx(-sum(bounds) / 3, rel=1e-6)
    assert terms["elbo"].item() == pytest.approx(sum(elbos) / len(elbos), rel=1e-6)
    assert terms["iwae_bound"] >= terms["elbo"]  # Jensen: the bound of the same draws is at least their ELBO


def test_iwae_with_one_sample_is_the_vae_loss_up_to_the_constant():
    x, x_hat, mu, log_var, _ = gaussian_pass(4)
    drawn = ImportanceSampler(SPEC, samples=1)(mu, log_var, generator=gen(1))
    terms = IWAELoss(SPEC, r_loss_factor=1000.0)(x, ModelOutput(x_hat, {"mu": mu, "log_var": log_var}, drawn.z,
                                                                drawn.extras))
    constant = 0.5 * 784 * math.log(2 * math.pi * 784 / 2000)
    mse = (x.double() - x_hat.double()).square().mean().item()
    sampled_kl = terms["kl"].item()
    assert terms["loss"].item() == pytest.approx(1000 * mse + sampled_kl + constant, rel=1e-6)


def test_conditional_iwae_repeats_the_labels_with_the_draws():
    from genkit.testing import build_recipe

    torch.manual_seed(0)
    model = build_recipe("iwae", overrides=["model.classes=10", "sampler.samples=3"]).eval()
    x, labels = torch.rand(2, 1, 28, 28, generator=gen()), torch.tensor([4, 7])
    out = model(x, labels, generator=gen(1))
    assert out.x_hat.shape == (6, 1, 28, 28)
    with torch.no_grad():
        for row in range(6):  # row k·N + n: draw k of image n, decoded with image n's label
            alone = model.decoder(out.z[row: row + 1], labels[row % 2: row % 2 + 1])
            torch.testing.assert_close(out.x_hat[row: row + 1], alone, rtol=1e-5, atol=1e-6)


def test_mmd_matches_a_double_loop():
    g = gen(5)
    q, p = torch.randn(6, 2, generator=g) * 2 + 1, torch.randn(6, 2, generator=g)
    n, d = 6, 2
    expected = 0.0
    for scale in SCALES:
        c = 2 * d * scale

        def k(a, b, c=c):
            return c / (c + float((a.double() - b.double()).square().sum()))

        within = sum(k(q[i], q[j]) + k(p[i], p[j]) for i in range(n) for j in range(n) if i != j) / (n * (n - 1))
        across = sum(k(q[i], p[j]) for i in range(n) for j in range(n)) * 2 / (n * n)
        expected += within - across
    assert imq_mmd(q, p, SCALES).item() == pytest.approx(expected, rel=1e-5)


def test_mmd_is_unbiased_near_zero_for_one_distribution_and_grows_with_a_shift():
    g = gen(6)
    a, b = torch.randn(400, 8, generator=g), torch.randn(400, 8, generator=g)
    same = imq_mmd(a, b, SCALES).item()
    shifted = imq_mmd(a + 0.5, b, SCALES).item()
    assert abs(same) < 0.1 * shifted


def test_wae_loss_adds_the_weighted_mmd_to_the_sampler_draws():
    spec = ModelSpec((1, 28, 28), (3,), ("code",), feature_shape=(64, 7, 7))
    x, x_hat, code, _, _ = gaussian_pass(8)
    drawn = CodeSampler(spec)(code, generator=gen(2))
    torch.testing.assert_close(drawn.z, code)
    torch.testing.assert_close(drawn.extras["prior_draws"], torch.randn(8, 3, generator=gen(2)))
    terms = WAELoss(spec, r_loss_factor=1000.0, lam=10.0)(x, ModelOutput(x_hat, {"code": code}, drawn.z, drawn.extras))
    mse = (x.double() - x_hat.double()).square().mean().item()
    mmd = imq_mmd(code, drawn.extras["prior_draws"], SCALES).item()
    assert terms["loss"].item() == pytest.approx(1000 * mse + 10 * mmd, rel=1e-5)


def test_rae_gradient_penalty_is_the_decoders_vjp_of_ones():
    from genkit.testing import build_recipe

    torch.manual_seed(0)
    model = build_recipe("rae").eval()
    z = torch.randn(3, 16, generator=gen()).requires_grad_()
    x_hat = model.decoder(z)
    penalty = decoder_gradient_penalty(x_hat, z)
    for n in range(3):  # the reference: one image at a time, torch.func's vector-Jacobian product
        _, vjp = torch.func.vjp(model.decoder, z[n: n + 1].detach())
        (gradient,) = vjp(torch.ones(1, 1, 28, 28))
        assert penalty[n].item() == pytest.approx(gradient.square().sum().item(), rel=1e-5)
    x = torch.rand(3, 1, 28, 28, generator=gen(1))
    terms = RAELoss(model.spec, r_loss_factor=1000.0, z_weight=0.5, gradient_penalty=0.25)(
        x, ModelOutput(x_hat, {"code": z}, z))
    expected = (1000 * (x - x_hat).square().mean() + 0.5 * 0.5 * z.square().sum(1).mean() + 0.25 * penalty.mean())
    assert terms["loss"].item() == pytest.approx(expected.item(), rel=1e-5)
    terms["loss"].backward()  # the penalty is differentiable: it trains the decoder
    assert all(p.grad is not None for p in model.decoder.parameters())
    with torch.no_grad():  # evaluation without gradients has no graph to differentiate: the term is left out
        assert decoder_gradient_penalty(model.decoder(z), z).abs().sum() == 0


def test_standard_normal_prior_of_the_samplers():
    spec = ModelSpec((1, 28, 28), (3,), ("code",), feature_shape=(64, 7, 7))
    prior = CodeSampler(spec).prior()
    assert isinstance(prior, DiagonalGaussianPrior)
    assert torch.equal(prior.mean, torch.zeros(3)) and torch.equal(prior.std, torch.ones(3))
