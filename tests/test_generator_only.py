"""A generator-only model (no encoder) after training: export (with fp16 and int8 variants of the decoder), torch-free
generation, evaluation, report and summary work; what needs an encoder (reconstruct, encode, latent plots, --prior
code-box) is refused in one line that leaves nothing behind.

The players fixture's ``fixture-wgan`` is trained once for the module, in this process under its plugin host; the
torch-free generation runs in a subprocess where torch cannot be imported.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import onnx
import pytest
import torch
from bad_inputs.harness import assert_fails_cleanly
from click.testing import CliRunner
from conftest import quick_overrides
from onnx import numpy_helper
from players_fixture import RECIPE, fixture_host

from genkit.cli import cli
from genkit.errors import ExportError

CLASSIFIER = {"GENKIT_CLASSIFIER_EPOCHS": "1", "GENKIT_CLASSIFIER_LIMIT": "512", "GENKIT_NLL_SAMPLES": "5"}
NO_ENCODER = r"no encoder"


@pytest.fixture(scope="module")
def trained(small_npz, tmp_path_factory):
    """The run folder and its export, made once; the fixture's plugin host, a private classifier cache and a small
    classifier (for every evaluation) stay in place for the module."""
    from genkit.config import build_config
    from genkit.contract.host import get_registry
    from genkit.onnx.export_run import export_run
    from genkit.training import train

    root = tmp_path_factory.mktemp("generator-only")
    with pytest.MonkeyPatch.context() as patch, fixture_host():
        patch.setenv("XDG_CACHE_HOME", str(root / "cache"))
        for name, value in CLASSIFIER.items():
            patch.setenv(name, value)
        config = build_config(get_registry(), RECIPE, None,
                              quick_overrides(small_npz, **{"training.epochs": 1, "training.samples": 0}))
        run = root / "run"
        train(config, run, progress=False, log=lambda line: None)
        report = export_run(run)
        yield {"root": root, "run": run, "export": report.out, "report": report}


def cli_ok(*args, cwd: Path) -> str:
    with contextlib.chdir(cwd):
        result = CliRunner().invoke(cli, [str(a) for a in args])
    assert result.exit_code == 0, result.output
    assert result.exception is None or isinstance(result.exception, SystemExit), result.exception
    return result.output


# -- export ------------------------------------------------------------------------------------------


def test_the_export_holds_the_decoder_graph_and_no_encoder(trained):
    from genkit.runtime import ExportedModel

    export, report = trained["export"], trained["report"]
    assert sorted(p.name for p in export.iterdir()) == ["decoder.onnx"]
    assert list(report.graphs) == ["decoder"] and report.graphs["decoder"].max_abs_diff <= 1e-5
    props = {p.key: json.loads(p.value) for p in onnx.load(str(export / "decoder.onnx")).metadata_props}
    assert props["genkit.encoder_outputs"] == [] and "encoder" not in props["genkit.components"]
    assert props["genkit.verification"]["data"] == "latent points drawn from the prior"
    model = ExportedModel(export, provider="cpu")
    assert model.generator_only and model.encoder_outputs == () and list(model.metadata["graphs"]) == ["decoder"]


def test_no_weight_of_the_critic_is_in_the_export(trained):
    import genkit

    model = genkit.load(trained["run"])
    critic = {name: p.detach().numpy() for name, p in model.player_losses["critic"].named_parameters()}
    decoder = {name: p.detach().numpy() for name, p in model.decoder.named_parameters()}
    graph = onnx.load(str(trained["export"] / "decoder.onnx")).graph
    arrays = [numpy_helper.to_array(t) for t in graph.initializer]
    arrays += [numpy_helper.to_array(a.t) for node in graph.node for a in node.attribute
               if a.type == onnx.AttributeProto.TENSOR]

    def found(weight: np.ndarray) -> bool:  # as it is, or transposed (a Linear exported as MatMul or Gemm)
        return any(c.shape == weight.shape and np.allclose(c, weight, atol=1e-6)
                   for a in arrays for c in (a, a.T))

    assert all(found(w) for w in decoder.values() if w.ndim == 2)  # the check finds weights that are there
    assert critic and not [name for name, w in critic.items() if found(w)]


def test_the_export_generates_what_the_averaged_torch_model_does(trained):
    import genkit
    from genkit.runtime import ExportedModel

    exported = ExportedModel(trained["export"], provider="cpu")
    z = exported.sample_prior(16, seed=3)
    images = exported.generate(16, seed=3)
    averaged, last = genkit.load(trained["run"]), genkit.load(trained["run"], weights="trained")
    with torch.no_grad():
        want, trained_weights = averaged.decoder(torch.from_numpy(z)).numpy(), last.decoder(torch.from_numpy(z)).numpy()
    assert np.abs(images - want).max() <= 1e-5
    assert np.abs(images - trained_weights).max() > 1e-3  # the averaged weights, not the last step's
    assert np.array_equal(exported.decode(z), images)


def test_the_decoder_gets_int8_and_fp16_variants_judged_on_prior_draws(trained, tmp_path):
    from genkit.evaluation.classifier import ClassifierSettings
    from genkit.onnx.export_run import export_run
    from genkit.onnx.export_variants import VariantOptions
    from genkit.runtime import ExportedModel

    options = VariantOptions.parse("all", calibration=64, classifier=ClassifierSettings(epochs=1, limit=512))
    report = export_run(trained["run"], tmp_path / "variants", variants=options)
    assert report.variants.rejected == [] and report.variants.written == {"decoder": ["fp32", "fp16", "int8"]}
    checks = report.variants.variants.checks["decoder"]
    assert all(check["mse"] is None and np.isfinite(check["frechet"]["change"]) for check in checks.values())
    fp32 = ExportedModel(tmp_path / "variants", provider="cpu").generate(8, seed=1)
    for precision in ("fp16", "int8"):
        exported = ExportedModel(tmp_path / "variants", provider="cpu", precision=precision)
        assert exported.precisions == {"decoder": precision}
        assert np.abs(exported.generate(8, seed=1) - fp32).max() < 0.25


def test_the_export_refuses_what_needs_an_encoder_in_one_line(trained):
    from genkit.runtime import ExportedModel

    exported = ExportedModel(trained["export"], provider="cpu")
    images = np.zeros((2, 1, 28, 28), np.float32)
    for call in (exported.encode, exported.codes, exported.reconstruct):
        with pytest.raises(ExportError, match=r"export of a generator-only model: it has no encoder") as caught:
            call(images)
        assert "\n" not in str(caught.value)


def test_an_encoder_graph_beside_a_generator_only_export_is_refused(trained, tmp_path):
    from genkit.runtime import ExportedModel

    folder = tmp_path / "export"
    shutil.copytree(trained["export"], folder)
    stray = onnx.load(str(folder / "decoder.onnx"))  # a graph that calls itself an encoder
    for prop in stray.metadata_props:
        if prop.key == "genkit.graph":
            prop.value = json.dumps("encoder")
    onnx.save(stray, str(folder / "encoder.onnx"))
    with pytest.raises(ExportError, match=r"holds encoder.onnx, but its metadata describes a generator-only model"):
        ExportedModel(folder, provider="cpu")


def test_genkit_generate_without_torch_matches_the_torch_model(trained, tmp_path):
    blocked = tmp_path / "no-torch"
    (blocked / "torch").mkdir(parents=True)
    (blocked / "torch" / "__init__.py").write_text('raise ImportError("No module named \'torch\' (blocked)")\n')
    env = {k: v for k, v in os.environ.items() if not k.startswith("GENKIT_")}
    env["PYTHONPATH"] = str(blocked)  # neither torch nor the fixture's plugin: the export needs neither
    result = subprocess.run([sys.executable, "-m", "genkit", "generate", str(trained["export"]), "-n", "16", "--seed",
                             "3", "-o", "grid.png", "--npy", "samples.npy"], cwd=tmp_path, env=env,
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    import genkit
    from genkit.runtime import ExportedModel

    z = ExportedModel(trained["export"], provider="cpu").sample_prior(16, seed=3)
    with torch.no_grad():
        want = genkit.load(trained["run"]).decoder(torch.from_numpy(z)).numpy()
    assert np.abs(np.load(tmp_path / "samples.npy") - want).max() <= 1e-5
    assert (tmp_path / "grid.png").is_file()


# -- evaluate, report, summary -----------------------------------------------------------------------


@pytest.fixture(scope="module")
def evaluations(trained):
    from genkit.evaluation.classifier import ClassifierSettings
    from genkit.evaluation.likelihood import LikelihoodSettings
    from genkit.evaluation.metrics import evaluate
    from genkit.evaluation.source import open_source

    settings = dict(classifier=ClassifierSettings(epochs=1, limit=512), nll=LikelihoodSettings(samples=5),
                    log=lambda line: None)
    return {kind: evaluate(open_source(trained[kind]), **settings) for kind in ("run", "export")}


def test_evaluate_scores_generation_and_skips_what_needs_an_encoder(evaluations):
    for result in evaluations.values():
        g = result["generation"]
        assert result["source"]["generator_only"] is True
        for key in ("frechet_distance", "kid", "precision", "recall"):
            assert np.isfinite(g[key]), key
        assert 0.0 <= g["precision"] <= 1.0 and 0.0 <= g["recall"] <= 1.0
        assert result["reconstruction"] is None and "no encoder" in result["reconstruction_note"]
        assert result["likelihood"]["nll"] is None and "no encoder" in result["likelihood"]["note"]
        assert result["latent"]["active_dims"] is None and "no encoder" in result["latent"]["note"]
        assert result["loss_per_class"] is None
    run, export = evaluations["run"]["generation"], evaluations["export"]["generation"]
    for key in ("frechet_distance", "kid", "precision", "recall"):  # a run and its export: the same numbers
        assert export[key] == pytest.approx(run[key], rel=1e-4, abs=1e-6), key


def test_evaluate_scores_each_players_terms_as_the_trainer_did(trained, evaluations):
    loss = evaluations["run"]["loss"]
    recorded = [json.loads(line) for line in (trained["run"] / "metrics.jsonl").read_text().splitlines()][-1]
    assert set(loss) == set(recorded["test"]) and {"critic.loss", "generator.loss"} <= set(loss)
    for term, value in recorded["test"].items():  # the trainer's own test scores: same batches, noise, weights
        assert loss[term]["mean"] == pytest.approx(value, rel=1e-5, abs=1e-6), term
    export = evaluations["export"]
    assert export["loss"] == {} and "evaluate the run folder" in export["loss_note"]


def test_the_evaluation_tables_say_what_was_skipped(evaluations):
    from genkit.evaluation.table import format_table
    from genkit.plots.report import metric_rows

    text = format_table(evaluations["run"])
    assert "critic.loss" in text and "mean ± std over batches" in text
    assert re.search(r"precision, recall\s+\d", text)
    assert text.count("not computed: a generator-only model has no encoder") == 3  # reconstruction, latent, NLL
    rows = dict(metric_rows(evaluations["export"]))
    assert "no encoder" in rows["reconstruction MSE"] and rows["precision, recall vs real images"] != "n/a"


def test_report_draws_what_applies_and_notes_the_rest(trained, tmp_path):
    cli_ok("report", trained["run"], "-o", tmp_path / "report", "--limit", "64", cwd=tmp_path)
    page = (tmp_path / "report" / "report.html").read_text()
    assert page.count("<img") == 3  # samples, latent grid (prior quantiles), loss curves
    assert page.count("a generator-only model has no encoder") >= 6


def test_summary_lists_no_encoder_and_the_players_losses(trained, tmp_path):
    summary = json.loads(cli_ok("summary", RECIPE, "--json", cwd=tmp_path))
    assert summary["generator_only"] is True
    assert list(summary["components"]) == ["sampler", "decoder", "loss", "player critic"]
    assert summary["components"]["player critic"]["trainable_parameters"] > 0
    assert "generator-only" in cli_ok("summary", RECIPE, cwd=tmp_path).splitlines()[0]


# -- refusals ----------------------------------------------------------------------------------------


@pytest.mark.parametrize("args", [
    ["reconstruct", "{run}", "-o", "out/recon.png"],
    ["reconstruct", "{export}", "-o", "recon.png"],
    ["encode", "{run}", "-o", "codes.npy"],
    ["encode", "{export}", "-o", "out/codes.npz"],
    ["plot", "{run}", "latent-scatter", "-o", "scatter.png"],
    ["plot", "{export}", "reconstructions", "-o", "out/recon.png"],
    ["evaluate", "{run}", "--prior", "code-box"],
], ids=["reconstruct-run", "reconstruct-export", "encode-run", "encode-export", "plot-run", "plot-export",
        "code-box"])
def test_what_needs_an_encoder_fails_in_one_line_and_leaves_nothing(trained, args):
    args = [a.format(run=trained["run"], export=trained["export"]) for a in args]
    assert_fails_cleanly(args, {}, trained["root"], NO_ENCODER)
