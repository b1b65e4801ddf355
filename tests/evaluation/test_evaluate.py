"""``genkit evaluate``: every key, finite numbers, the classifier cache, and run/export parity."""

from __future__ import annotations

import json
import math

import pytest

from genkit.evaluation.classifier import cache_dir
from genkit.evaluation.metrics import evaluate

from .conftest import SMALL_CLASSIFIER, SMALL_NLL, invoke

TOP_KEYS = {"source", "data", "seed", "loss", "loss_note", "loss_scoring", "loss_per_class", "reconstruction", "latent",
            "likelihood", "generation", "classifier"}
GENERATION_KEYS = {"frechet_distance", "samples", "real_images", "confidence", "class_coverage", "class_entropy",
                   "class_entropy_normalised", "class_histogram", "coverage_share", "real_confidence",
                   "real_class_entropy_normalised", "note", "reconstruction_frechet_distance",
                   "frechet_distance_to_reconstructions", "precision_vs_reconstructions", "recall_vs_reconstructions",
                   "prior", "condition", "kid", "kid_std", "kid_settings", "reconstruction_kid",
                   "reconstruction_kid_std", "kid_to_reconstructions", "kid_to_reconstructions_std"}
LATENT_KEYS = {"latent_shape", "dimensions", "kl_per_dim", "kl_per_dim_mean", "active_dims", "active_threshold",
               "code_variance", "note", "aggregate"}
AGGREGATE_KEYS = {"mutual_information", "total_correlation", "dimension_wise_kl", "expected_kl", "aggregate_kl",
                  "images", "estimator", "note"}
LIKELIHOOD_KEYS = {"nll", "nll_std", "nll_sem", "bits_per_dim", "upper_bounds", "samples", "images", "of_images",
                   "dimensions", "likelihood", "estimator", "seconds", "note"}


def numbers(value):
    if isinstance(value, dict):
        for item in value.values():
            yield from numbers(item)
    elif isinstance(value, list):
        for item in value:
            yield from numbers(item)
    elif isinstance(value, (int, float)) and not isinstance(value, bool):
        yield value


def evaluate_json(*args: str) -> dict:
    code, output = invoke("evaluate", *args, "--json")
    assert code == 0, output
    return json.loads(output[output.index("{"):])


@pytest.fixture(scope="module")
def vae_result(vae_run):
    return evaluate_json(str(vae_run))


def test_evaluate_json_has_every_key_and_finite_numbers(vae_result):
    result = vae_result
    assert set(result) == TOP_KEYS
    assert set(result["generation"]) == GENERATION_KEYS
    assert set(result["latent"]) == LATENT_KEYS and set(result["latent"]["aggregate"]) == AGGREGATE_KEYS
    assert set(result["likelihood"]) == LIKELIHOOD_KEYS
    assert set(result["loss"]) == {"loss", "reconstruction", "kl", "mse"}
    for stats in result["loss"].values():
        assert set(stats) == {"mean", "std"} and stats["std"] >= 0
    assert result["data"]["images"] == 128
    assert all(math.isfinite(v) for v in numbers(result))
    assert result["source"]["latent_shape"] == result["latent"]["latent_shape"] == [2]
    assert result["source"]["classes"] == 0 and result["generation"]["condition"] is None
    assert result["loss_note"] is None
    assert result["source"]["prior"] == "diagonal-gaussian"
    assert 0 <= result["latent"]["active_dims"] <= result["latent"]["dimensions"] == 2
    assert len(result["latent"]["kl_per_dim"]) == 2
    assert result["generation"]["frechet_distance"] > 0
    assert result["generation"]["frechet_distance_to_reconstructions"] > 0
    assert 0 <= result["generation"]["precision_vs_reconstructions"] <= 1
    assert 0 <= result["generation"]["recall_vs_reconstructions"] <= 1
    assert 0 < result["generation"]["confidence"] <= 1 and 0 <= result["generation"]["class_coverage"] <= 1
    assert sum(result["generation"]["class_histogram"]) == result["generation"]["samples"] == 128
    assert 0 <= result["classifier"]["accuracy"] <= 1
    per_class = result["loss_per_class"]
    assert sum(row["images"] for row in per_class.values()) == 128
    # the per-image terms average to the loss total, as the VAE loss defines it
    assert result["loss"]["loss"]["mean"] == pytest.approx(
        result["loss"]["reconstruction"]["mean"] + result["loss"]["kl"]["mean"], rel=1e-6)


def test_the_table_shows_each_section(vae_run):
    code, output = invoke("evaluate", vae_run, "--limit", "64", "--samples", "32")
    assert code == 0, output
    for heading in ("Loss terms", "Reconstruction", "active dimensions", "mutual information", "total correlation",
                    "Likelihood", "NLL", "-ELBO", "Fréchet distance", "KID", "features: genkit's evaluation classifier",
                    "Per class"):
        assert heading in output


def test_autoencoder_has_no_kl_but_generation_metrics(ae_source):
    result = evaluate(ae_source, limit=64, classifier=SMALL_CLASSIFIER, log=lambda line: None)
    assert result["latent"]["active_dims"] is None and "not Gaussian" in result["latent"]["note"]
    assert set(result["loss"]) == {"loss", "reconstruction", "mse"}
    assert result["loss"]["mse"]["mean"] == pytest.approx(result["reconstruction"]["mse"]["mean"], rel=1e-5)
    assert math.isfinite(result["generation"]["frechet_distance"])


def test_naive_priors_replace_the_models_prior(ae_source):
    from genkit.evaluation.priors import code_box, prior_rule

    results = {prior: evaluate(ae_source, limit=64, classifier=SMALL_CLASSIFIER, log=lambda line: None, prior=prior)
               for prior in ("model", "code-box", "standard-normal")}
    assert {name: r["generation"]["prior"] for name, r in results.items()} == {n: n for n in results}
    distances = {r["generation"]["frechet_distance"] for r in results.values()}
    assert len(distances) == 3  # three different sets of generated images
    assert results["model"]["loss"] == results["code-box"]["loss"]  # only the generation metrics change

    from genkit.evaluation.data import open_dataset, take

    dataset = open_dataset(ae_source)
    low, high = code_box(ae_source, dataset)
    images, _ = take(dataset.split("train"), 64)
    codes = ae_source.codes(images)
    assert (codes >= low).all() and (codes <= high).all() and (high > low).all()
    drawn = prior_rule("code-box", ae_source, dataset)(500, 0)
    assert drawn.shape == (500, *ae_source.latent_shape) and (drawn >= low).all() and (drawn <= high).all()
    normal = prior_rule("standard-normal", ae_source, dataset)(4000, 1)
    assert abs(normal.mean()) < 0.05 and abs(normal.std() - 1) < 0.05

    # one pass scoring every rule gives each rule's numbers from its own pass
    together = evaluate(ae_source, limit=64, classifier=SMALL_CLASSIFIER, log=lambda line: None, prior="model",
                        other_priors=("code-box", "model", "standard-normal"))
    assert together["generation"] == results["model"]["generation"]
    assert list(together["generation_by_prior"]) == ["code-box", "standard-normal"]
    for name, generation in together["generation_by_prior"].items():
        assert generation == results[name]["generation"]


def test_repeated_prior_options_print_each_rule(ae_run):
    code, output = invoke("evaluate", ae_run, "--limit", "32", "--samples", "32", "--prior", "code-box",
                          "--prior", "standard-normal")
    assert code == 0, output
    assert "codes drawn by --prior code-box" in output
    other = output[output.index("other sampling rules"):].splitlines()
    assert other[1].strip().startswith("--prior standard-normal  Fréchet distance ")
    assert "--prior code-box " not in "\n".join(other)


def test_the_same_seed_gives_the_same_numbers(vae_source):
    a, b, c = (evaluate(vae_source, limit=32, seed=seed, classifier=SMALL_CLASSIFIER, log=lambda line: None,
                        nll=SMALL_NLL) for seed in (3, 3, 4))
    assert a["loss"] == b["loss"] and a["generation"] == b["generation"]
    assert a["latent"] == b["latent"] and a["likelihood"]["nll"] == b["likelihood"]["nll"]
    assert a["loss"]["kl"] == c["loss"]["kl"]  # the KL is analytic: no noise in it
    assert a["generation"]["frechet_distance"] != c["generation"]["frechet_distance"]
    assert a["generation"]["kid"] != c["generation"]["kid"]
    assert a["likelihood"]["nll"] != c["likelihood"]["nll"]
    assert a["latent"]["aggregate"]["mutual_information"] != c["latent"]["aggregate"]["mutual_information"]


def test_the_classifier_is_trained_once_and_then_reused(vae_run, vae_result):
    files = sorted(cache_dir().glob("*.safetensors"))
    assert len(files) == 1 and files[0].with_suffix(".json").is_file()
    before = files[0].stat().st_mtime_ns
    again = evaluate_json(str(vae_run), "--limit", "16")
    assert again["classifier"]["cached"] is True
    assert again["classifier"]["path"] == str(files[0])
    assert files[0].stat().st_mtime_ns == before
    assert sorted(cache_dir().glob("*.safetensors")) == files


def test_bad_options_are_one_line_errors(vae_run, tmp_path):
    for args, needle in ((["--limit", "1"], "--limit"), (["--limit", "-3"], "--limit"),
                         (["--split", "nope"], "split"), (["--data", "no-such-data"], "no-such-data"),
                         (["--classifier-epochs", "0"], "--classifier-epochs"), (["--prior", "uniform"], "--prior")):
        code, output = invoke("evaluate", vae_run, *args)
        assert code != 0 and needle in output and "Traceback" not in output, (args, output)
    code, output = invoke("evaluate", tmp_path)
    assert code != 0 and "neither a run folder" in output and "Traceback" not in output


def _assert_close(a, b, where=""):
    if isinstance(a, dict):
        assert set(a) == set(b), where
        for key in a:
            if key not in ("path", "kind", "seconds"):
                _assert_close(a[key], b[key], f"{where}.{key}")
    elif isinstance(a, list):
        assert len(a) == len(b), where
        for i, (x, y) in enumerate(zip(a, b)):
            _assert_close(x, y, f"{where}[{i}]")
    elif isinstance(a, float):
        assert b == pytest.approx(a, rel=1e-4, abs=1e-5), where
    else:
        assert a == b, where


@pytest.mark.parametrize("name", ["vae", "ae"])
def test_an_export_evaluates_to_the_numbers_of_its_run(name, request):
    run = request.getfixturevalue(f"{name}_run")
    exported = request.getfixturevalue(f"{name}_export")
    a, b = evaluate_json(str(run), "--limit", "64"), evaluate_json(str(exported), "--limit", "64")
    assert (a["source"]["kind"], b["source"]["kind"]) == ("run", "export")
    _assert_close(a, b)
