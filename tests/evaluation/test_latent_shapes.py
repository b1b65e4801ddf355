"""Evaluation, plots and reports of the v2 contracts: a spatial latent, a class condition, a mixture prior.

Three tiny one-epoch runs (``tiny_models``): their evaluation must flatten spatial codes, pass the test
labels of a conditional model and cycle its generation labels, and say what it cannot compute; the
plots that cannot draw a model's latent must refuse in one line.
"""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
import torch

from genkit.evaluation.data import open_split, take
from genkit.evaluation.metrics import evaluate
from genkit.evaluation.reconstruction import per_image_mse
from genkit.evaluation.source import open_source
from genkit.plots import draw, render
from genkit.plots.context import PlotContext
from genkit.plots.report import FIGURES, build_report
from genkit.testing.persistence import registry_installed

from .conftest import SMALL_CLASSIFIER, check_png, export, invoke, train_run
from .test_evaluate import _assert_close, evaluate_json
from .test_report import embedded_images
from .tiny_models import CLASSES, RECIPES, SPATIAL_SHAPE, tiny_registry


@pytest.fixture(scope="module")
def tiny(small_npz, tmp_path_factory):
    """The three tiny runs, with their registry installed for the whole module."""
    with registry_installed(tiny_registry()):
        root = tmp_path_factory.mktemp("tiny-runs")
        yield {name: train_run(name, small_npz, root) for name in RECIPES}


@pytest.fixture(scope="module")
def sources(tiny):
    return {name: open_source(run) for name, run in tiny.items()}


def quiet_evaluate(source, **options):
    return evaluate(source, classifier=SMALL_CLASSIFIER, log=lambda line: None, **options)


def one_line_error(output: str, needle: str) -> None:
    errors = [line for line in output.splitlines() if line.startswith("Error:")]
    assert len(errors) == 1 and needle in errors[0] and "Traceback" not in output, output


# -- a spatial latent ------------------------------------------------------------------------------


@pytest.mark.parametrize("kind", ["latent-scatter", "latent-grid"])
def test_plots_that_walk_a_flat_latent_refuse_a_spatial_one_in_one_line(kind, tiny, tmp_path):
    out = tmp_path / "x.png"
    code, output = invoke("plot", tiny["tiny-spatial"], kind, "-o", out)
    assert code != 0
    one_line_error(output, "this model's latent_shape is (2, 3, 3)")
    assert "needs a flat latent" in output and not out.exists()


@pytest.mark.parametrize("kind", ["samples", "reconstructions", "morph", "latent-cdf", "latent-histograms",
                                  "attribute"])
def test_the_other_plots_draw_a_spatial_latent(kind, sources):
    options = {"attribute": {"positive": "1", "negative": "0"}, "latent-histograms": {"k": 4}}.get(kind, {})
    check_png(render(kind, PlotContext(sources["tiny-spatial"], options=options)))


def test_evaluation_flattens_spatial_codes(sources):
    source = sources["tiny-spatial"]
    result = quiet_evaluate(source, limit=64, other_priors=("standard-normal", "code-box"))
    latent, size = result["latent"], int(np.prod(SPATIAL_SHAPE))
    assert result["source"]["latent_shape"] == latent["latent_shape"] == list(SPATIAL_SHAPE)
    assert latent["dimensions"] == size and len(latent["kl_per_dim"]) == len(latent["code_variance"]) == size
    assert 0 <= latent["active_dims"] <= size
    # the per-dimension KL of the flattened codes adds up to each image's KL term, as the loss computes it
    assert sum(latent["kl_per_dim"]) == pytest.approx(result["loss"]["kl"]["mean"], rel=1e-4)
    assert set(result["generation_by_prior"]) == {"standard-normal", "code-box"}
    assert all(np.isfinite(g["frechet_distance"]) for g in result["generation_by_prior"].values())


def test_a_report_says_why_the_flat_latent_figures_are_missing(tiny, tmp_path):
    path = build_report([str(tiny["tiny-spatial"])], str(tmp_path / "report"), limit=64, classifier=SMALL_CLASSIFIER,
                        log=lambda line: None)
    page = path.read_text(encoding="utf-8")
    assert len(embedded_images(page)) == len(FIGURES) - 2
    assert page.count("latent_shape is (2, 3, 3)") == 2 and "latent shape" in page


# -- a conditional model ---------------------------------------------------------------------------


def test_conditional_evaluation_uses_the_test_labels_and_cycles_the_generated_ones(sources):
    source = sources["tiny-conditional"]
    result = quiet_evaluate(source, limit=64)
    assert result["source"]["classes"] == CLASSES
    assert result["generation"]["condition"] == {"classes": CLASSES, "labels": "cycled"}
    images, labels = take(open_split(source), 64)
    model = source.backend.model

    def mse(with_labels):
        with torch.no_grad():
            rebuilt = model.reconstruct(torch.from_numpy(images), torch.from_numpy(with_labels)).numpy()
        return float(per_image_mse(images, rebuilt).mean())

    assert result["reconstruction"]["mse"]["mean"] == pytest.approx(mse(labels), rel=1e-5)
    # another label gives another number, far outside that tolerance
    assert mse((labels + 1) % CLASSES) != pytest.approx(mse(labels), rel=1e-3)
    generated = source.generate(20, seed=1)
    prior = source.draw_prior(20, seed=1)
    np.testing.assert_array_equal(generated, source.decode(prior, np.arange(20) % CLASSES))
    assert not np.allclose(generated, source.decode(prior, np.zeros(20, np.int64)))


def test_the_table_says_the_generation_was_class_conditional(tiny):
    code, output = invoke("evaluate", tiny["tiny-conditional"], "--limit", "32", "--samples", "20")
    assert code == 0, output
    assert "class-conditional: labels cycling over the 10 classes" in output


def test_a_conditional_model_on_unlabelled_data_is_one_line(tiny, small_npz, tmp_path):
    arrays = np.load(small_npz)
    unlabelled = tmp_path / "unlabelled.npz"
    np.savez(unlabelled, x=arrays["x"], x_test=arrays["x_test"])
    code, output = invoke("evaluate", tiny["tiny-conditional"], "--data", f"npz:{unlabelled}")
    assert code != 0
    one_line_error(output, "conditional on class labels")


def test_samples_of_a_conditional_model_are_one_row_per_class(sources):
    context = PlotContext(sources["tiny-conditional"], options={"count": 20})
    figure = draw("samples", context)
    names = [label.get_text() for label in figure.axes[0].get_yticklabels()]
    assert names == context.class_names and len(names) == CLASSES
    assert "one row per class" in figure._suptitle.get_text().replace("\n", " ")
    # ten rows of two 28-pixel images, one white pixel between neighbours
    assert figure.axes[0].images[0].get_array().shape == (10 * 29 - 1, 2 * 29 - 1)
    check_png(render("samples", context))


def test_the_latent_grid_of_a_conditional_model_takes_a_label(tiny, tmp_path):
    run = tiny["tiny-conditional"]
    code, output = invoke("plot", run, "latent-grid", "--size", "4", "--label", "5", "-o", tmp_path / "g.png")
    assert code == 0, output
    check_png((tmp_path / "g.png").read_bytes())
    code, output = invoke("plot", run, "latent-grid", "--label", "12", "-o", tmp_path / "h.png")
    assert code != 0
    one_line_error(output, "--label 12")
    code, output = invoke("plot", tiny["tiny-mixture"], "latent-grid", "--label", "3", "-o", tmp_path / "h.png")
    assert code != 0
    one_line_error(output, "is not conditional")
    assert not (tmp_path / "h.png").exists()


# -- a prior that is not a diagonal Gaussian -------------------------------------------------------


def test_a_mixture_prior_has_no_closed_form_kl_and_no_cdf_view(sources, tiny, tmp_path):
    result = quiet_evaluate(sources["tiny-mixture"], limit=64)
    latent = result["latent"]
    assert result["source"]["prior"] == "gaussian-mixture"
    assert latent["kl_per_dim"] is None and latent["active_dims"] is not None and "gaussian-mixture" in latent["note"]
    code, output = invoke("plot", tiny["tiny-mixture"], "latent-cdf", "-o", tmp_path / "c.png")
    assert code != 0
    one_line_error(output, "this model's prior is a gaussian-mixture")
    for kind in ("samples", "latent-grid"):
        check_png(render(kind, PlotContext(sources["tiny-mixture"], options={"size": 5})
                         if kind == "latent-grid" else PlotContext(sources["tiny-mixture"])))


# -- exports ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("name", sorted(RECIPES))
def test_an_export_evaluates_to_the_numbers_of_its_run(name, tiny, tmp_path):
    exported = export(tiny[name], tmp_path / name)
    a, b = evaluate_json(str(tiny[name]), "--limit", "32"), evaluate_json(str(exported), "--limit", "32")
    assert (a["source"]["kind"], b["source"]["kind"], b["loss_note"]) == ("run", "export", None)
    _assert_close(a, b)
    assert json.dumps(a["generation"]["condition"]) == json.dumps(b["generation"]["condition"])


# -- the likelihood of the contracts' models (genkit.evaluation.likelihood) -------------------------


def _log_weights(source, images, labels, samples):
    from genkit.evaluation.density import density_of
    from genkit.evaluation.likelihood import log_weights, proposal_generator

    params = source.encode(images, labels)
    density = density_of(source, images, labels, params)
    assert density.missing() is None
    return log_weights(density, source, images, labels, params, samples, proposal_generator(0))


def test_a_conditional_models_likelihood_is_scored_with_the_images_labels(sources):
    # Each draw k of image i is decoded with label i (K·N rows draw-major, labels tiled), written out here
    # image by image with torch.distributions on the same draws.
    from torch.distributions import Normal

    from genkit.evaluation.likelihood import LikelihoodSettings, group_bound, likelihood, proposal_generator

    source = sources["tiny-conditional"]
    images, labels = take(open_split(source), 16)
    got = _log_weights(source, images, labels, 3)
    model, generator = source.backend.model, proposal_generator(0)
    params = {k: torch.from_numpy(v) for k, v in source.encode(images, labels).items()}
    x = torch.from_numpy(images).double().flatten(1)
    for k in range(3):
        z = model.sampler(params["mu"], params["log_var"], generator=generator)
        with torch.no_grad():
            x_hat = model.decoder(z, torch.from_numpy(labels)).double().flatten(1)
        z = z.double()
        posterior = Normal(params["mu"].double(), torch.exp(params["log_var"].double() / 2))
        expected = (Normal(x_hat, math.sqrt(784 / 200)).log_prob(x).sum(1) + Normal(0.0, 1.0).log_prob(z).sum(1)
                    - posterior.log_prob(z).sum(1))
        np.testing.assert_allclose(got[k], expected.numpy(), rtol=1e-5)
    result = likelihood(source, open_split(source, limit=16), LikelihoodSettings(3, 0), progress=False)
    assert result["nll"] == pytest.approx(-group_bound(got, 3).mean(), rel=1e-12)
    # labels move each image's weights (by up to ~3 nats here), so the agreement is not one by chance
    wrong = _log_weights(source, images, (labels + 1) % CLASSES, 3)
    assert np.abs(wrong - got).max() > 0.5


def test_the_log_weights_of_a_mixture_prior_model_match_torch_distributions(sources):
    # log N(x; x_hat, σ² I) + log Σ_k π_k N(z; m_k, s_k²) - log N(z; mu, σ_q²), with σ² = 784 / (2 · 100),
    # written with torch.distributions on the same draw the evaluation makes.
    from torch.distributions import Categorical, Independent, MixtureSameFamily, Normal

    from genkit.evaluation.likelihood import proposal_generator

    source = sources["tiny-mixture"]
    images, _ = take(open_split(source), 8)
    got = _log_weights(source, images, None, 1)[0]
    params = {k: torch.from_numpy(v) for k, v in source.encode(images).items()}
    sampler = source.backend.model.sampler
    z = sampler(params["mu"], params["log_var"], generator=proposal_generator(0))
    x_hat = torch.from_numpy(source.decode(z.numpy())).double().flatten(1)
    x = torch.from_numpy(images).double().flatten(1)
    prior = sampler.prior()
    mixture = MixtureSameFamily(Categorical(prior.weights.double()),
                                Independent(Normal(prior.means.double(), prior.stds.double()), 1))
    expected = (Normal(x_hat, math.sqrt(784 / 200)).log_prob(x).sum(1) + mixture.log_prob(z.double())
                - Normal(params["mu"].double(), torch.exp(params["log_var"].double() / 2)).log_prob(z.double()).sum(1))
    np.testing.assert_allclose(got, expected.numpy(), rtol=1e-5)
