"""The VQ-VAE's quantizer and PixelCNN prior, the prior-NLL stage loss, and the RAE's ex-post mixture fit."""

from __future__ import annotations

import math

import pytest
import torch

from genkit.contract.components import ModelOutput, ModelSpec
from genkit.contract.priors import lookup
from genkit_plugins.families.mixture import ExPostMixtureSampler, fit_gaussian_mixture
from genkit_plugins.families.pixelcnn import GatedPixelCNN
from genkit_plugins.families.prior_nll import PriorNLL
from genkit_plugins.families.vq import VectorQuantizer, VQLoss

SPEC = ModelSpec((1, 28, 28), (4, 7, 7), ("z_e",), feature_shape=(64, 7, 7))


def gen(seed: int = 0) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def quantizer(codes: int = 8) -> VectorQuantizer:
    torch.manual_seed(0)
    vq = VectorQuantizer(SPEC, codes=codes, prior_width=8, prior_layers=2)
    with torch.no_grad():  # entries spread out like trained ones, so that every position has a clear nearest
        vq.codebook.weight.copy_(torch.randn(codes, 4, generator=gen(1)))
    return vq


def test_each_position_takes_the_nearest_entry_by_brute_force():
    vq = quantizer()
    z_e = torch.randn(2, 4, 7, 7, generator=gen(2))
    out = vq(z_e)
    book = vq.codebook.weight.detach()
    for n in range(2):
        for i in range(7):
            for j in range(7):
                distances = [float((z_e[n, :, i, j] - book[k]).square().sum()) for k in range(8)]
                best = min(range(8), key=distances.__getitem__)
                assert out.extras["codes"][n, i, j] == best
                torch.testing.assert_close(out.z[n, :, i, j], book[best])
    torch.testing.assert_close(vq.mean(z_e), lookup(book, out.extras["codes"]))


def test_straight_through_gradient_equals_the_gradient_at_the_quantized_output():
    vq, decoder = quantizer(), torch.nn.Conv2d(4, 1, 7, padding=3)
    x = torch.rand(2, 1, 7, 7, generator=gen(3))
    z_e = torch.randn(2, 4, 7, 7, generator=gen(4)).requires_grad_()
    out = vq(z_e)
    (decoder(out.z) - x).square().mean().backward()
    # the reference: the same loss at z_q as a leaf of its own
    z_q = lookup(vq.codebook.weight.detach(), out.extras["codes"]).requires_grad_()
    (decoder(z_q) - x).square().mean().backward()
    torch.testing.assert_close(z_e.grad, z_q.grad)


def test_codebook_term_moves_entries_and_commitment_term_moves_the_encoder():
    vq = quantizer()
    z_e = torch.randn(2, 4, 7, 7, generator=gen(5)).requires_grad_()
    out = vq(z_e)
    z_q = lookup(vq.codebook.weight.detach(), out.extras["codes"])
    expected = (z_q - z_e.detach()).square().mean()
    assert out.extras["codebook_loss"].item() == pytest.approx(expected.item(), rel=1e-6)
    assert out.extras["commitment_loss"].item() == pytest.approx(expected.item(), rel=1e-6)
    out.extras["codebook_loss"].backward(retain_graph=True)
    assert z_e.grad is None and vq.codebook.weight.grad.abs().sum() > 0
    vq.codebook.weight.grad = None
    out.extras["commitment_loss"].backward()
    assert vq.codebook.weight.grad is None and z_e.grad.abs().sum() > 0
    x, x_hat = torch.rand(2, 1, 28, 28, generator=gen(6)), torch.rand(2, 1, 28, 28, generator=gen(7))
    terms = VQLoss(SPEC, r_loss_factor=10.0, beta=0.25)(x, ModelOutput(x_hat, {"z_e": z_e}, out.z, out.extras))
    mse = (x - x_hat).square().mean()
    assert terms["loss"].item() == pytest.approx((10 * mse + 1.25 * expected).item(), rel=1e-5)


@torch.no_grad()
def test_pixelcnn_sees_every_earlier_position_and_none_after():
    torch.manual_seed(0)
    network = GatedPixelCNN(codes=6, width=16, layers=6).eval()  # the recipe's depth: a 7x7 grid is covered
    codes = torch.randint(0, 6, (1, 7, 7), generator=gen(8))
    base = network(codes)
    last = 48
    for position in range(49):
        changed = codes.clone().view(1, -1)
        changed[0, position] = (changed[0, position] + 1) % 6
        logits = network(changed.view(1, 7, 7)).flatten(2)
        moved = (logits - base.flatten(2)).abs().amax(dim=1)[0]  # (49,) change of each position's logits
        assert float(moved[: position + 1].max()) == 0.0, position  # nothing at or before the changed code
        if position < last:
            assert float(moved[last]) > 0.0, position  # and the last position sees it: no blind spot


def test_prior_nll_is_the_log_softmax_of_the_codes_under_the_network():
    vq = quantizer()
    codes = torch.randint(0, 8, (3, 7, 7), generator=gen(9))
    z = lookup(vq.codebook.weight, codes)
    terms = PriorNLL(SPEC)(None, ModelOutput(None, {}, z, {"codes": codes}, None, vq.prior()))
    logits = vq.prior_network(codes).double()
    expected = 0.0
    for n in range(3):
        for i in range(7):
            for j in range(7):
                expected -= torch.log_softmax(logits[n, :, i, j], 0)[codes[n, i, j]].item()
    assert terms["nll"].item() == pytest.approx(expected / 3, rel=1e-5)
    assert terms["bits_per_code"].item() == pytest.approx(expected / 3 / 49 / math.log(2), rel=1e-5)


def two_clusters(n: int = 3000) -> torch.Tensor:
    g = gen(10)
    a = torch.randn(int(0.3 * n), 2, generator=g) * torch.tensor([0.5, 0.2]) + torch.tensor([-4.0, 1.0])
    b = torch.randn(n - len(a), 2, generator=g) * torch.tensor([0.3, 1.0]) + torch.tensor([3.0, -2.0])
    return torch.cat([a, b])[torch.randperm(n, generator=g)]


def test_em_recovers_a_known_mixture_deterministically():
    x = two_clusters()
    weights, means, stds = fit_gaussian_mixture(x, 2, seed=3)
    order = means[:, 0].argsort()
    torch.testing.assert_close(weights[order], torch.tensor([0.3, 0.7], dtype=torch.float64), atol=0.01, rtol=0)
    torch.testing.assert_close(means[order], torch.tensor([[-4.0, 1.0], [3.0, -2.0]], dtype=torch.float64),
                               atol=0.08, rtol=0)
    torch.testing.assert_close(stds[order], torch.tensor([[0.5, 0.2], [0.3, 1.0]], dtype=torch.float64),
                               atol=0.05, rtol=0)
    again = fit_gaussian_mixture(x, 2, seed=3)
    assert all(torch.equal(a, b) for a, b in zip((weights, means, stds), again))
    # an M-step last: the mixture has the data's mean and variance exactly
    mixture_mean = (weights[:, None] * means).sum(0)
    mixture_var = (weights[:, None] * (stds.square() + (means - mixture_mean).square())).sum(0)
    torch.testing.assert_close(mixture_mean, x.double().mean(0))
    torch.testing.assert_close(mixture_var, x.double().var(0, correction=0), rtol=1e-5, atol=0)


def test_ex_post_sampler_stores_the_fit_and_samples_it():
    spec = ModelSpec((1, 28, 28), (2,), ("code",), feature_shape=(64, 7, 7))
    sampler = ExPostMixtureSampler(spec, components=2, seed=3)
    x = two_clusters()
    sampler.fit_prior(x)
    weights, means, stds = fit_gaussian_mixture(x, 2, seed=3)
    prior = sampler.prior()
    torch.testing.assert_close(prior.weights, weights.float())
    assert set(sampler.state_dict()) == {"weights", "means", "stds"}  # saved with the weights
    draws = sampler.sample_prior(4000, generator=gen(11))
    assert (draws[:, 0] < 0).float().mean().item() == pytest.approx(0.3, abs=0.03)
    with pytest.raises(ValueError, match="codes of shape"):
        sampler.fit_prior(torch.zeros(5, 3))
