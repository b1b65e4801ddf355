"""The per-image loss terms on the host (``genkit.evaluation.terms``), without a trained model.

A stand-in source supplies codes and a decoder; the real samplers, losses and priors do the rest.
"""

from __future__ import annotations

import types

import numpy as np
import pytest
import torch

from genkit.contract.components import Loss, ModelSpec, Sampler, SamplerOutput
from genkit.contract.priors import CategoricalPrior, DiagonalGaussianPrior, GaussianMixturePrior, NetworkPrior
from genkit.evaluation.reconstruction import per_image_mse
from genkit.evaluation.terms import LossTerms, host_prior
from genkit_plugins.ae.loss import ReconstructionLoss
from genkit_plugins.ae.sampler import DeterministicSampler

SPEC = ModelSpec((1, 2, 2), (3,), ("code",))


def _source(codes=None, classes: int = 0, decoded: list | None = None):
    """What ``LossTerms.per_image`` reads of a source: a fixed linear 'decoder' that records its labels."""
    weights = np.linspace(-1.0, 1.0, 12, dtype=np.float32).reshape(3, 4)

    def decode(z, labels=None):
        if decoded is not None:
            decoded.append(None if labels is None else np.asarray(labels).copy())
        return (1.0 / (1.0 + np.exp(-(np.asarray(z).reshape(len(z), 3) @ weights)))).reshape(len(z), 1, 2, 2)

    return types.SimpleNamespace(parameter_names=("code",), conditional=classes > 0, sampler_name="deterministic",
                                 decode=decode, codes=lambda images, labels=None: codes)


def _params(n: int) -> dict[str, np.ndarray]:
    return {"code": np.random.default_rng(n).normal(size=(n, 3)).astype(np.float32)}


def test_each_images_terms_are_its_own_reconstruction_error():
    images = np.random.default_rng(1).uniform(size=(5, 1, 2, 2)).astype(np.float32)
    params, source = _params(5), _source()
    terms = LossTerms(DeterministicSampler(spec=SPEC), ReconstructionLoss(spec=SPEC), None)
    got = terms.score(source, images, params, None, torch.Generator())[1]
    expected = per_image_mse(images, source.decode(params["code"]))
    assert set(got) == {"loss", "reconstruction", "mse"}
    np.testing.assert_allclose(got["mse"], expected, rtol=1e-6)
    np.testing.assert_allclose(got["loss"], expected, rtol=1e-6)


def test_an_export_whose_codes_the_host_sampler_cannot_reproduce_has_no_terms():
    images = np.zeros((4, 1, 2, 2), np.float32)
    params = _params(4)
    terms = LossTerms(DeterministicSampler(spec=SPEC), ReconstructionLoss(spec=SPEC), None, verify=True)
    assert terms.score(_source(codes=params["code"]), images, params, None, torch.Generator())[1]  # they match
    assert terms.missing is None
    wrong = _source(codes=params["code"] + 0.01)
    assert terms.score(wrong, images, params, None, torch.Generator())[1] == {}
    assert "does not give the export's codes" in terms.missing and "run folder" in terms.missing
    assert terms.score(_source(codes=params["code"]), images, params, None, torch.Generator())[1] == {}


class TwoDraws(Sampler):
    """Two latent points per image (the code and the code + 1), and an extra: how many rows it drew."""

    parameter_names = ("code",)
    extras = ("rows",)

    def forward(self, code, generator=None):
        return SamplerOutput(torch.cat([code, code + 1]), {"rows": torch.tensor(float(2 * len(code)))})

    def mean(self, code):
        return code

    def prior(self):
        return DiagonalGaussianPrior(torch.zeros(3), torch.ones(3))


class RowCount(Loss):
    """Reports what it was given: rows of z and x_hat, the sampler's extra, and the label."""

    terms = ("loss", "z_rows", "x_hat_rows", "extra", "label")

    def forward(self, x, out):
        z_rows = torch.tensor(float(len(out.z)))
        return {"loss": z_rows, "z_rows": z_rows, "x_hat_rows": torch.tensor(float(len(out.x_hat))),
                "extra": out.extras["rows"], "label": out.labels.float().sum()}


def test_k_draws_per_image_decode_with_the_labels_tiled_and_each_image_scores_its_own_rows():
    spec = ModelSpec((1, 2, 2), (3,), ("code",), classes=4)
    images, labels = np.zeros((3, 1, 2, 2), np.float32), np.array([2, 0, 3])
    decoded: list = []
    terms = LossTerms(TwoDraws(spec=spec), RowCount(spec=spec), None)
    got = terms.score(_source(classes=4, decoded=decoded), images, _params(3), labels, torch.Generator())[1]
    for name in ("z_rows", "x_hat_rows", "extra"):
        np.testing.assert_array_equal(got[name], [2.0, 2.0, 2.0])  # its K rows; a 0-d extra redrawn for it
    np.testing.assert_array_equal(got["label"], labels)
    assert len(decoded) == 1  # one decoder call for the whole batch
    np.testing.assert_array_equal(decoded[0], [2, 0, 3, 2, 0, 3])  # draw-major, as the model's forward tiles


@pytest.mark.parametrize("prior", [
    DiagonalGaussianPrior(torch.tensor([0.5, -1.0]), torch.tensor([2.0, 0.25])),
    GaussianMixturePrior(torch.tensor([0.25, 0.75]), torch.arange(4.0).reshape(2, 2), torch.ones(2, 2)),
    CategoricalPrior(torch.arange(6.0).reshape(3, 2), torch.zeros(2, 2, 3)),
], ids=lambda p: p.family)
def test_a_described_prior_is_rebuilt_on_the_host(prior):
    rebuilt = host_prior(prior.describe())
    assert type(rebuilt) is type(prior) and rebuilt.describe() == prior.describe()


def test_a_prior_network_or_an_unknown_family_is_not_rebuilt():
    network = NetworkPrior(torch.nn.Conv2d(3, 3, 1), torch.zeros(3, 2), (2, 2))
    assert host_prior(network.describe()) is None
    assert host_prior({"family": "no-such-family"}) is None
