"""genkit.contract.priors against independent references: log-densities against torch.distributions, draws against their
moments and frequencies, the codebook look-up by hand, and a network prior whose answer is known.

Statistical checks allow SIGMAS standard errors (as in test_samplers): σ/√M for a mean of M draws,
σ²·√(2/(M-1)) for a variance, √(p(1-p)/M) for a frequency. Every generator is seeded.
"""

from __future__ import annotations

import json
import math

import pytest
import torch
from torch.distributions import Categorical, Independent, MixtureSameFamily, Normal

from genkit.contract.priors import (
    FAMILIES,
    CategoricalPrior,
    DiagonalGaussianPrior,
    GaussianMixturePrior,
    NetworkPrior,
    lookup,
)

DRAWS = 20_000
SIGMAS = 6.0


def gen(seed: int) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def assert_moments(draws: torch.Tensor, mean: torch.Tensor, std: torch.Tensor) -> None:
    draws, mean, std = draws.double(), mean.double(), std.double()
    m = len(draws)
    mean_error = (draws.mean(0) - mean).abs() / (std / math.sqrt(m))
    var_error = (draws.var(0) - std.square()).abs() / (std.square() * math.sqrt(2.0 / (m - 1)))
    assert mean_error.max() < SIGMAS and var_error.max() < SIGMAS, (mean_error.max(), var_error.max())


def assert_frequencies(counts: torch.Tensor, probs: torch.Tensor) -> None:
    m = counts.sum(-1, keepdim=True)
    error = (counts / m - probs).abs() / (probs * (1 - probs) / m).sqrt().clamp_min(1e-12)
    assert error.max() < SIGMAS, error.max()


def gaussian(shape: tuple[int, ...], seed: int) -> DiagonalGaussianPrior:
    g = gen(seed)
    return DiagonalGaussianPrior(3.0 * torch.randn(shape, generator=g), 0.2 + 2.0 * torch.rand(shape, generator=g))


def mixture(shape: tuple[int, ...], seed: int) -> GaussianMixturePrior:
    g = gen(seed)
    weights = torch.tensor([0.5, 0.3, 0.2])
    return GaussianMixturePrior(weights, 3.0 * torch.randn((3, *shape), generator=g),
                                0.3 + torch.rand((3, *shape), generator=g))


def categorical(grid: tuple[int, ...], seed: int, codes: int = 5, d: int = 3) -> CategoricalPrior:
    g = gen(seed)
    return CategoricalPrior(torch.randn(codes, d, generator=g), 2.0 * torch.randn((*grid, codes), generator=g))


class ChainNetwork(torch.nn.Module):
    """Logits ``scale · onehot(previous code + 1)`` in raster order, ``start`` at the first position."""

    def __init__(self, codes: int, start: int, scale: float = 50.0):
        super().__init__()
        self.codes, self.start, self.scale = codes, start, scale
        self.calls = 0

    def forward(self, codes: torch.Tensor) -> torch.Tensor:
        self.calls += 1
        flat = codes.flatten(1)
        first = torch.full_like(flat[:, :1], self.start - 1)
        previous = torch.cat([first, flat[:, :-1]], 1)
        logits = self.scale * torch.nn.functional.one_hot((previous + 1) % self.codes, self.codes).float()
        return logits.movedim(-1, 1).reshape(len(codes), self.codes, *codes.shape[1:])


# -- log-densities ---------------------------------------------------------------------------------------------

@pytest.mark.parametrize("shape", [(3,), (2, 2, 3)])
def test_diagonal_gaussian_log_prob_is_the_independent_normal(shape):
    prior = gaussian(shape, seed=1)
    z = 4.0 * torch.randn((7, *shape), generator=gen(2))
    reference = Independent(Normal(prior.mean.double(), prior.std.double()), len(shape)).log_prob(z.double())
    torch.testing.assert_close(prior.log_prob(z).double(), reference, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("shape", [(3,), (2, 2, 2)])
def test_mixture_log_prob_is_torchs_mixture_of_the_same_family(shape):
    prior = mixture(shape, seed=3)
    z = 4.0 * torch.randn((9, *shape), generator=gen(4))
    components = Independent(Normal(prior.means.double(), prior.stds.double()), len(shape))
    reference = MixtureSameFamily(Categorical(probs=prior.weights.double()), components).log_prob(z.double())
    torch.testing.assert_close(prior.log_prob(z).double(), reference, rtol=1e-5, atol=1e-5)


def test_a_mixture_component_of_weight_zero_adds_no_density():
    # a fitted mixture may leave a component empty (weight 0); a point at that component's mean has the density
    # of the other components alone, not that of a component of weight 1e-30 (log 1e-30 = -69)
    prior = GaussianMixturePrior(torch.tensor([1.0, 0.0]), torch.tensor([[0.0], [50.0]]), torch.ones(2, 1))
    value = prior.log_prob(torch.tensor([[50.0]]))
    assert value.item() == pytest.approx(Normal(0.0, 1.0).log_prob(torch.tensor(50.0)).item(), rel=1e-5)


@pytest.mark.parametrize("grid", [(2, 3), (4,)])
def test_categorical_log_prob_is_the_sum_of_each_positions_log_probability(grid):
    prior = categorical(grid, seed=5)
    codes = torch.randint(0, 5, (6, *grid), generator=gen(6))
    reference = Categorical(logits=prior.logits.double()).log_prob(codes).reshape(6, -1).sum(1)
    torch.testing.assert_close(prior.log_prob(lookup(prior.codebook, codes), codes=codes).double(), reference,
                               rtol=1e-5, atol=1e-5)


def test_categorical_log_prob_over_an_empty_grid_is_one_codes_log_probability():
    prior = categorical((), seed=7)
    codes = torch.arange(5)
    reference = Categorical(logits=prior.logits.double()).log_prob(codes)
    torch.testing.assert_close(prior.log_prob(lookup(prior.codebook, codes), codes=codes).double(), reference,
                               rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("prior", [categorical((2, 2), seed=8),
                                   NetworkPrior(ChainNetwork(4, start=1), torch.randn(4, 2), (2, 2))],
                         ids=["categorical", "network"])
def test_a_discrete_prior_scores_the_codes_and_needs_them(prior):
    with pytest.raises(ValueError, match="pass codes="):
        prior.log_prob(prior.sample(3, gen(9)))


def test_network_log_prob_is_the_networks_categorical_log_probability_of_each_code():
    network = ChainNetwork(4, start=1, scale=1.5)
    prior = NetworkPrior(network, torch.randn(4, 2, generator=gen(10)), (2, 3))
    codes = torch.randint(0, 4, (5, 2, 3), generator=gen(11))
    reference = Categorical(logits=network(codes).movedim(1, -1).double()).log_prob(codes).reshape(5, -1).sum(1)
    torch.testing.assert_close(prior.log_prob(lookup(prior.codebook, codes), codes=codes).double(), reference,
                               rtol=1e-5, atol=1e-5)  # float32 log-softmax against float64


def test_log_prob_is_differentiable_in_the_priors_parameters():
    """A training stage fits a prior by its log-likelihood: the gradient must reach the prior's parameters."""
    means = torch.zeros(2, 3, requires_grad=True)
    GaussianMixturePrior(torch.tensor([0.5, 0.5]), means, torch.ones(2, 3)).log_prob(torch.ones(4, 3)).sum().backward()
    assert means.grad is not None and means.grad.abs().sum() > 0
    network = torch.nn.Sequential(torch.nn.Embedding(3, 3), torch.nn.Flatten(0, 0))
    wrapped = _LogitsOf(network)
    codes = torch.randint(0, 3, (4, 2, 2), generator=gen(12))
    prior = NetworkPrior(wrapped, torch.randn(3, 2), (2, 2))
    prior.log_prob(lookup(prior.codebook, codes), codes=codes).sum().backward()
    assert network[0].weight.grad is not None and network[0].weight.grad.abs().sum() > 0


class _LogitsOf(torch.nn.Module):
    """codes (N, *grid) -> logits (N, M, *grid) from an embedding of each code (a non-causal toy network)."""

    def __init__(self, network: torch.nn.Module):
        super().__init__()
        self.network = network

    def forward(self, codes):
        return self.network(codes).movedim(-1, 1)


# -- draws -----------------------------------------------------------------------------------------------------

def test_diagonal_gaussian_draws_have_its_moments_and_seeded_float32_noise():
    prior = gaussian((2, 3), seed=13)
    z = prior.sample(DRAWS, gen(14))
    assert z.shape == (DRAWS, 2, 3) and z.dtype == torch.float32
    assert_moments(z, prior.mean, prior.std)
    eps = torch.randn((5, 2, 3), generator=gen(15))
    assert torch.equal(prior.sample(5, gen(15)), prior.mean + prior.std * eps)
    wide = DiagonalGaussianPrior(prior.mean.double(), prior.std.double()).sample(5, gen(15))
    assert wide.dtype == torch.float64  # the same float32 noise: a seed means the same points in every dtype
    torch.testing.assert_close(wide, (prior.mean.double() + prior.std.double() * eps.double()))


def test_mixture_draws_pick_components_by_weight_and_then_their_gaussian():
    # components 10 apart with stds of at most 1: each draw is within 4 of its own component's mean
    weights = torch.tensor([0.6, 0.3, 0.1])
    means = torch.tensor([[-10.0, 0.0], [0.0, 10.0], [10.0, -10.0]])
    stds = torch.tensor([[0.5, 1.0], [1.0, 0.25], [0.75, 0.5]])
    z = GaussianMixturePrior(weights, means, stds).sample(DRAWS, gen(16))
    component = torch.cdist(z, means).argmin(1)
    assert_frequencies(torch.bincount(component, minlength=3).double(), weights.double())
    for k in range(3):
        assert_moments(z[component == k], means[k], stds[k])


@pytest.mark.parametrize("grid", [(2, 2), ()])
def test_categorical_draws_follow_each_positions_softmax(grid):
    prior = categorical(grid, seed=17)
    codes = prior.sample_codes(DRAWS, gen(18))
    assert codes.shape == (DRAWS, *grid) and codes.dtype == torch.int64
    counts = torch.nn.functional.one_hot(codes, 5).reshape(DRAWS, -1, 5).sum(0).double()
    assert_frequencies(counts, torch.softmax(prior.logits.double(), -1).reshape(-1, 5))
    assert torch.equal(prior.sample(7, gen(19)), lookup(prior.codebook, prior.sample_codes(7, gen(19))))


def test_categorical_draw_is_the_inverse_cdf_of_the_generators_uniforms():
    """The convention the torch-free runtime mirrors: one float64 uniform per position, then the first code whose
    cumulative probability reaches it."""
    prior = categorical((3,), seed=20)
    u = torch.rand((6, 3), generator=gen(21), dtype=torch.float64)
    cdf = torch.softmax(prior.logits.double(), -1).cumsum(-1)  # (3, M)
    expected = (cdf.unsqueeze(0) < u.unsqueeze(-1)).sum(-1)
    assert torch.equal(prior.sample_codes(6, gen(21)), expected)


def test_lookup_puts_each_codes_entry_at_its_position():
    codebook = torch.arange(12.0).reshape(4, 3)  # entry m is (3m, 3m+1, 3m+2)
    flat = torch.tensor([2, 0, 3])
    assert torch.equal(lookup(codebook, flat), codebook[flat])  # (N,) -> (N, D)
    codes = torch.tensor([[[0, 1, 2], [3, 2, 1]]])  # (1, 2, 3)
    z = lookup(codebook, codes)
    assert z.shape == (1, 3, 2, 3)  # (N, D, h, w)
    for i in range(2):
        for j in range(3):
            assert torch.equal(z[0, :, i, j], codebook[codes[0, i, j]])


def test_an_autoregressive_network_prior_fills_the_grid_one_position_at_a_time():
    # the network forces each code to be the previous one + 1 (code 2 first): only a sampler that gives position p
    # the logits computed after positions < p are filled draws 2, 3, 4, 0, 1, 2 in raster order
    network = ChainNetwork(5, start=2)
    prior = NetworkPrior(network, torch.randn(5, 2, generator=gen(22)), (2, 3))
    codes = prior.sample_codes(4, gen(23))
    assert torch.equal(codes, torch.tensor([2, 3, 4, 0, 1, 2]).reshape(2, 3).expand(4, 2, 3))
    assert network.calls == 6  # one pass per position
    assert torch.equal(prior.sample(4, gen(23)), lookup(prior.codebook, codes))
    assert prior.latent_shape == (2, 2, 3) and prior.codes == 5


def test_a_non_autoregressive_network_prior_draws_every_position_from_the_all_zero_grid():
    network = ChainNetwork(5, start=2)
    prior = NetworkPrior(network, torch.randn(5, 2), (2, 3), autoregressive=False)
    codes = prior.sample_codes(3, gen(24))
    assert torch.equal(codes, torch.tensor([2, 1, 1, 1, 1, 1]).reshape(2, 3).expand(3, 2, 3))  # 0 + 1 after the first
    assert network.calls == 1


# -- descriptions ------------------------------------------------------------------------------------------------

def test_every_family_describes_itself_as_json_under_its_own_name():
    priors = [gaussian((2,), 25), mixture((2,), 26), categorical((2,), 27),
              NetworkPrior(ChainNetwork(5, start=0), torch.randn(5, 3), (2, 2))]
    assert {type(p) for p in priors} == set(FAMILIES.values())
    assert all(FAMILIES[cls.family] is cls for cls in FAMILIES.values())
    for prior in priors:
        description = json.loads(json.dumps(prior.describe(), allow_nan=False))
        assert description["family"] == prior.family
    gaussian_description = priors[0].describe()
    torch.testing.assert_close(torch.tensor(gaussian_description["mean"]), priors[0].mean)
    network = priors[3].describe()
    assert (network["graph"], network["grid"], network["codes"], network["autoregressive"]) == ("prior.onnx", [2, 2],
                                                                                                  5, True)
