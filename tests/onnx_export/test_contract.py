"""The export contract's prior descriptions, and the refusal of a prior the runtime cannot sample.

``parse_prior`` is what the runtime reads an export's prior with; ``describe_prior`` is what ``genkit
export`` (and ``genkit.testing``) check a sampler's prior with before anything is exported.
"""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
import torch

from genkit.contract.priors import FAMILIES as TORCH_FAMILIES
from genkit.contract.priors import DiagonalGaussianPrior, GaussianMixturePrior, Prior
from genkit.errors import ExportError
from genkit.export_contract.priors import FAMILIES, PriorDescriptionError, parse_prior
from genkit.onnx.describe import describe_prior

from . import fixture_priors as fp

GOOD = {
    "diagonal-gaussian": ({"mean": [[0.0, 1.0]], "std": [[1.0, 0.5]]}, (1, 2)),
    "gaussian-mixture": ({"weights": [0.25, 0.75], "means": [[0.0], [1.0]], "stds": [[1.0], [0.0]]}, (1,)),
    "categorical": ({"codebook": [[0.0, 1.0], [1.0, 0.0], [1.0, 1.0]],
                     "logits": [[0.0, 1.0, float("-inf")], [2.0, 0.0, 0.0]]}, (2, 2)),
    "network": ({"graph": "prior.onnx", "codebook": [[0.0], [1.0]], "grid": [2, 2], "codes": 2,
                 "autoregressive": True}, (1, 2, 2)),
}


def test_the_contract_knows_the_families_the_core_declares():
    assert set(FAMILIES) == set(TORCH_FAMILIES)


@pytest.mark.parametrize("family", list(GOOD))
def test_a_good_description_parses(family):
    fields, latent = GOOD[family]
    parsed = parse_prior({"family": family, **fields}, latent)
    assert parsed["family"] == family
    assert all(isinstance(parsed[k], np.ndarray) for k in fields if isinstance(fields[k], list) and k != "grid")


BAD = [
    ("diagonal-gaussian", {"std": [[1.0, -0.5]]}, "std has negative values (-0.5)"),
    ("diagonal-gaussian", {"mean": [[0.0, float("nan")]]}, "mean has non-finite values"),
    ("diagonal-gaussian", {"mean": [0.0, 1.0]}, "mean has shape (2,); the latent shape asks for (1, 2)"),
    ("diagonal-gaussian", {"mean": [[0.0], [1.0, 2.0]]}, "mean is not a rectangular array of numbers"),
    ("diagonal-gaussian", {"mean": [["a", "b"]]}, "mean is not an array of numbers"),
    ("gaussian-mixture", {"weights": [0.5, 0.4]}, "weights must be a distribution (non-negative, summing to 1); "
                                                  "they sum to 0.9"),
    ("gaussian-mixture", {"weights": [1.5, -0.5]}, "weights has negative values"),
    ("gaussian-mixture", {"means": [[0.0]]}, "means has shape (1, 1); the latent shape asks for (2, 1)"),
    ("gaussian-mixture", {"stds": [[1.0], [float("inf")]]}, "stds has non-finite values"),
    ("categorical", {"logits": [[0.0, 1.0], [2.0, 0.0]]}, "logits has shape (2, 2); the latent shape asks for (2, 3)"),
    ("categorical", {"logits": [[float("-inf")] * 3, [0.0] * 3]}, "-inf for every code at some position"),
    ("categorical", {"codebook": [[0.0], [1.0]]}, "codebook has shape (2, 1); a latent shape of (2, 2) asks for"),
    ("network", {"grid": [2, 3]}, "the network prior's grid is [2, 3]; a latent shape of (1, 2, 2) asks for [2, 2]"),
    ("network", {"codes": 3}, "the network prior has codes 3 but a codebook of 2"),
    ("network", {"graph": "other.onnx"}, "the network prior's graph is 'other.onnx', not 'prior.onnx'"),
    ("network", {"autoregressive": "yes"}, "autoregressive must be true or false"),
]


@pytest.mark.parametrize("family, change, expected", BAD)
def test_a_bad_description_says_what_is_wrong(family, change, expected):
    fields, latent = GOOD[family]
    with pytest.raises(PriorDescriptionError) as failure:
        parse_prior({"family": family, **fields, **change}, latent)
    assert expected in str(failure.value)


def test_missing_fields_and_unknown_families():
    with pytest.raises(PriorDescriptionError, match="the gaussian-mixture prior has no stds"):
        parse_prior({"family": "gaussian-mixture", "weights": [1.0], "means": [[0.0]]}, (1,))
    with pytest.raises(PriorDescriptionError, match="the prior's family is 'flow'"):
        parse_prior({"family": "flow"}, (1,))


class UniformPrior(Prior):
    family = "uniform"

    def sample(self, n, generator=None):
        return torch.rand(n, 2, generator=generator)


@dataclasses.dataclass
class WiderGaussian(DiagonalGaussianPrior):
    def sample(self, n, generator=None):
        return 2 * super().sample(n, generator)


def test_describe_prior_refuses_what_the_runtime_cannot_sample_and_names_what_to_implement():
    with pytest.raises(ExportError, match=r"^prior\(\) returns a UniformPrior, which the torch-free runtime cannot "
                                          r"sample: return one of genkit.contract.priors' DiagonalGaussianPrior, "
                                          r"GaussianMixturePrior, CategoricalPrior, NetworkPrior"):
        describe_prior(UniformPrior())
    with pytest.raises(ExportError, match=r"^prior\(\) returns a dict"):
        describe_prior({"mean": torch.zeros(2), "std": torch.ones(2)}, (2,))
    with pytest.raises(ExportError, match="a DiagonalGaussianPrior that overrides sample; the runtime draws from a "
                                          "diagonal-gaussian prior by the family's own rule"):
        describe_prior(WiderGaussian(torch.zeros(2), torch.ones(2)))
    with pytest.raises(ExportError, match="weights must be a distribution"):
        describe_prior(GaussianMixturePrior(torch.tensor([0.5, 0.4]), torch.zeros(2, 3), torch.ones(2, 3)))
    with pytest.raises(ExportError, match=r"mean has shape \(3,\); the latent shape asks for \(2,\)"):
        describe_prior(DiagonalGaussianPrior(torch.zeros(3), torch.ones(3)), (2,))
    assert describe_prior(DiagonalGaussianPrior(torch.zeros(2), torch.ones(2))) == {
        "family": "diagonal-gaussian", "mean": [0.0, 0.0], "std": [1.0, 1.0]}


def test_export_refuses_a_sampler_whose_prior_is_no_family_in_one_line(tmp_path, monkeypatch):
    from genkit.onnx.export_model import export_model
    from genkit.onnx.probe import probe_images

    model = fp.build("mixture")
    monkeypatch.setattr(type(model.sampler), "prior", lambda self: UniformPrior())
    with pytest.raises(ExportError) as failure:
        export_model(model, tmp_path / "out", probe=probe_images(None, fp.INPUT_SHAPE), opset=20,
                     components=fp.components("mixture"), exporters=("torchscript",), atol=1e-5)
    message = str(failure.value)
    assert "\n" not in message
    assert message.startswith("sampler 'mixture' (plugin onnx-fixtures) cannot be exported to ONNX: prior() returns "
                              "a UniformPrior")
    assert not (tmp_path / "out").exists()
