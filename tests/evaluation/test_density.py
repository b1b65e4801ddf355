"""The likelihood and the posterior statistics in ``genkit evaluate``: a VAE has them, an AE says why not.

The estimators themselves are checked against closed forms in tests/reference (test_likelihood,
test_latent_metrics, test_kid); here the evaluation of real one-epoch runs wires them up right.
"""

from __future__ import annotations

import json
import math

import pytest

from genkit.commands.evaluate import NLL_IMAGES, NLL_SAMPLES
from genkit.evaluation.data import open_split
from genkit.evaluation.likelihood import DEFAULT_IMAGES, DEFAULT_SAMPLES, LikelihoodSettings, likelihood

from .conftest import invoke
from .test_evaluate import evaluate_json


def test_the_options_state_the_library_defaults():
    assert (NLL_SAMPLES, NLL_IMAGES) == (DEFAULT_SAMPLES, DEFAULT_IMAGES) == (50, 2000)


@pytest.fixture(scope="module")
def vae_likelihood(vae_source):
    return likelihood(vae_source, open_split(vae_source, limit=64), LikelihoodSettings(50, 0), progress=False)


def test_the_vae_bounds_are_ordered_and_the_estimate_is_the_iwae_50_bound(vae_likelihood):
    lik = vae_likelihood
    bounds = lik["upper_bounds"]
    assert lik["note"] is None and (lik["samples"], lik["images"], lik["of_images"]) == (50, 64, 64)
    assert bounds["elbo"] > bounds["iwae_5"] > bounds["iwae_50"]
    assert lik["nll"] == pytest.approx(bounds["iwae_50"], rel=1e-12)
    assert lik["likelihood"].startswith("gaussian") and "0.392" in lik["likelihood"]  # 784 / (2 · 1000)
    assert lik["bits_per_dim"] == pytest.approx(lik["nll"] / (784 * math.log(2)), rel=1e-12)


def test_the_vae_elbo_is_its_training_loss_plus_the_gaussian_constant(vae_source, vae_likelihood):
    # 1000·MSE + KL is -ELBO up to ½ D log(2π σ²) with σ² = D / 2000: the importance-sampled -ELBO must
    # land there (its KL is sampled, the loss's analytic: within 0.3 %).
    result = evaluate_json(str(vae_source.path), "--limit", "64", "--nll-samples", "0")
    constant = 0.5 * 784 * math.log(2 * math.pi * 784 / 2000)
    assert vae_likelihood["upper_bounds"]["elbo"] == pytest.approx(result["loss"]["loss"]["mean"] + constant,
                                                                   rel=3e-3)
    assert result["likelihood"]["note"] == "not computed (--nll-samples 0)" and result["likelihood"]["nll"] is None


def test_the_vae_json_has_finite_posterior_statistics_and_kid(vae_run):
    result = evaluate_json(str(vae_run), "--nll-images", "40")
    lik, agg, g = result["likelihood"], result["latent"]["aggregate"], result["generation"]
    assert (lik["samples"], lik["images"], lik["of_images"]) == (10, 40, 128)  # the tests' GENKIT_NLL_SAMPLES
    assert lik["upper_bounds"]["iwae_50"] is None and math.isfinite(lik["nll"])
    assert agg["note"] is None and agg["images"] == 128
    assert 0 < agg["mutual_information"] <= math.log(128) + 1e-9
    assert agg["mutual_information"] == pytest.approx(agg["expected_kl"] - agg["aggregate_kl"], abs=1e-9)
    parts = agg["mutual_information"] + agg["total_correlation"] + agg["dimension_wise_kl"]
    assert parts == pytest.approx(agg["expected_kl"], abs=1e-9)
    assert g["kid"] > 0 and g["kid_std"] > 0 and g["kid_settings"]["subset_size"] == 64
    assert "torchmetrics" in g["kid_settings"]["implementation"]
    assert "not Inception" in result["classifier"]["feature_extractor"]


def test_an_autoencoder_has_no_density_and_says_which_members_are_missing(ae_run):
    code, output = invoke("evaluate", ae_run, "--limit", "32", "--samples", "32")
    assert code == 0, output
    lines = [line.strip() for line in output.splitlines() if "no density" in line]
    assert lines == [
        "no posterior statistics: no density: DeterministicSampler defines no posterior density q(z|x)",
        "no density: DeterministicSampler defines no posterior density q(z|x); ReconstructionLoss implies no "
        "decoder likelihood p(x|z)"], output
    assert "NLL " not in output and "mutual information" not in output


def test_the_comparison_names_the_better_likelihood_and_kid_and_the_model_without_one(vae_run, ae_run, tmp_path):
    from genkit.evaluation.compare import summary_lines

    vae, ae = evaluate_json(str(vae_run), "--limit", "32"), evaluate_json(str(ae_run), "--limit", "32")
    lines = summary_lines(vae, ae)
    assert any("has the better KID" in line for line in lines)
    assert "ae has no likelihood: no density: DeterministicSampler" in "\n".join(lines)
    other = json.loads(json.dumps(vae))
    other["likelihood"]["samples"] = 5000
    other["likelihood"]["nll"] -= 1.0
    both = summary_lines(vae, other)
    assert any("has the better negative log-likelihood" in line for line in both)
    assert any("estimated differently (K = 10 on 32 images vs K = 5000 on 32)" in line for line in both)
