"""`genkit summary` and genkit.summary: Keras-style layer tables and the book's parameter counts."""

from __future__ import annotations

import json
import re
import subprocess
import sys

import pytest
import torch
from click.testing import CliRunner
from torch import nn

from genkit.cli import cli
from genkit.config import build_config
from genkit.contract import host as plugins
from genkit.contract.host import PluginHost
from genkit.contract.model import build_model
from genkit.summary import count_parameters, format_shape, format_summary, summarize_model, summarize_recipe

# (encoder trainable, encoder non-trainable, decoder trainable, decoder non-trainable) of the Keras models
KERAS_COUNTS = {
    "vae": (105_220, 0, 102_017, 0),
    "ae": (98_946, 0, 102_017, 0),
    "vae-faces": (1_732_496, 448, 916_803, 320),
}


@pytest.fixture
def run(monkeypatch):
    """Invoke the CLI with the installed plugins, whatever the environment says."""
    for name in ("GENKIT_DISABLE_PLUGINS", "GENKIT_STRICT_PLUGINS", "GENKIT_DEBUG"):
        monkeypatch.delenv(name, raising=False)
    plugins.reset()
    yield lambda *args: CliRunner().invoke(cli, ["summary", *args])
    plugins.reset()


@pytest.fixture(scope="module")
def registry():
    host = PluginHost(strict=False, disabled=set())
    host.load_entry_points()
    host.run_registrations()
    return host.registry


def summary_json(run, *args) -> dict:
    result = run(*args, "--json")
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


def one_line_error(result) -> str:
    assert result.exit_code == 1
    assert "Traceback" not in result.output
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("Error: "), result.stderr
    return lines[0]


# -- the CLI ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("recipe", sorted(KERAS_COUNTS))
def test_cli_json_reports_the_keras_parameter_counts(run, recipe):
    summary = summary_json(run, recipe)
    encoder, decoder = summary["components"]["encoder"], summary["components"]["decoder"]
    got = (encoder["trainable_parameters"], encoder["non_trainable"],
           decoder["trainable_parameters"], decoder["non_trainable"])
    assert got == KERAS_COUNTS[recipe]
    assert summary["recipe"] == recipe
    assert summary["total_trainable"] == got[0] + got[2]


def test_cli_json_lists_layers_with_output_shapes(run):
    summary = summary_json(run, "vae")
    parts = summary["components"]
    assert [parts[k]["name"] for k in ("encoder", "sampler", "decoder", "loss")] == \
        ["conv", "gaussian", "transposed-conv", "vae"]
    assert parts["encoder"]["class"] == "genkit_plugins.vae.encoder:ConvEncoder"
    assert parts["encoder"]["plugin"] == "vae"
    layers = {layer["name"]: layer for layer in parts["encoder"]["layers"]}
    assert layers["features.conv_0"] == {"name": "features.conv_0", "type": "Conv2d",
                                         "output_shape": [None, 32, 28, 28], "parameters": 320, "non_trainable": 0}
    assert layers["features.conv_2"]["output_shape"] == [None, 64, 7, 7]
    assert layers["heads.log_var"]["parameters"] == 6274
    assert parts["decoder"]["layers"][-1]["type"] == "Sigmoid"
    assert parts["decoder"]["layers"][-1]["output_shape"] == [None, 1, 28, 28]
    assert parts["sampler"]["layers"][0]["output_shape"] == [None, 2]
    assert parts["loss"]["layers"][0]["output_shape"] == {"loss": [], "reconstruction": [], "kl": [], "mse": []}


def test_ae_sampler_reports_its_fitted_prior_as_non_trainable_state(run):
    sampler = summary_json(run, "ae")["components"]["sampler"]
    assert (sampler["name"], sampler["trainable_parameters"], sampler["non_trainable"]) == ("deterministic", 0, 4)


def test_cli_text_table(run):
    result = run("vae")
    assert result.exit_code == 0, result.output
    text = result.stdout
    assert re.search(r"features\.conv_0 \(Conv2d\)\s+\(N, 32, 28, 28\)\s+320", text)
    assert "Trainable params: 105,220" in text and "Trainable params: 102,017" in text
    assert "Total trainable params: 207,237" in text


def test_cli_set_overrides_change_the_model(run):
    heads = summary_json(run, "vae", "--set", "model.latent_shape=10", "--set", "encoder.filters=[8,8,8,8]")
    layers = {layer["name"]: layer for layer in heads["components"]["encoder"]["layers"]}
    assert layers["heads.mu"]["parameters"] == 8 * 7 * 7 * 10 + 10


def test_cli_config_file(run, tmp_path):
    path = tmp_path / "small.toml"
    path.write_text('recipe = "vae"\n[encoder]\nfilters = [16, 32, 32, 32]\n', encoding="utf-8")
    encoder = summary_json(run, "vae", "--config", str(path))["components"]["encoder"]
    assert encoder["layers"][0]["output_shape"] == [None, 16, 28, 28]
    assert "is for recipe 'vae', not 'ae'" in one_line_error(run("ae", "--config", str(path)))


def test_layer_lists_of_different_lengths_give_one_clear_error(run):
    line = one_line_error(run("vae", "--set", "encoder.filters=[32,64]"))
    assert "encoder.filters has 2" in line and "encoder.strides has 4" in line


def test_wrong_type_names_the_field_and_the_expected_type(run):
    line = one_line_error(run("vae", "--set", "encoder.filters=abc"))
    assert "encoder.filters must be a list of" in line and "integer" in line and "'abc'" in line


def test_unknown_recipe_lists_the_known_ones(run):
    line = one_line_error(run("nope"))
    assert "unknown recipe 'nope'" in line
    known = re.search(r"Known: ([^.]*)\.", line).group(1).split(", ")
    assert {"ae", "vae", "vae-faces"} <= set(known)


def test_unknown_recipe_from_a_real_process_exits_1_without_traceback():
    out = subprocess.run([sys.executable, "-m", "genkit", "summary", "nope"], capture_output=True, text=True)
    assert out.returncode == 1
    assert "unknown recipe 'nope'" in out.stderr and "Traceback" not in out.stderr


# -- the Python API --------------------------------------------------------------------------------


def test_summarize_recipe_rows_add_up_to_the_totals(registry):
    summary = summarize_recipe(registry, "vae-faces")
    for part in summary["components"].values():
        assert sum(row["parameters"] for row in part["layers"]) == part["trainable_parameters"] + part["non_trainable"]
    assert summary["components"]["encoder"]["trainable_parameters"] == 1_732_496
    text = format_summary(summary)
    assert "Trainable params: 1,732,496    Non-trainable params: 448" in text


def test_summarize_model_leaves_the_model_as_it_found_it(registry):
    model = build_model(build_config(registry, "vae-faces"), registry)
    before = {k: v.clone() for k, v in model.state_dict().items()}
    model.train()
    summarize_model(model)
    assert model.training
    assert all(torch.equal(before[k], v) for k, v in model.state_dict().items())


def test_count_parameters_counts_frozen_weights_and_saved_float_buffers_only():
    layer = nn.Sequential(nn.Linear(3, 2), nn.BatchNorm1d(4))
    layer[0].bias.requires_grad_(False)
    layer[1].register_buffer("scratch", torch.zeros(100), persistent=False)
    # Linear: 6 trainable + 2 frozen; BatchNorm: 8 trainable + 8 running stats (num_batches_tracked is an int).
    assert count_parameters(layer) == (14, 10)


@pytest.mark.parametrize(("shape", "text"), [
    ([None, 32, 28, 28], "(N, 32, 28, 28)"), ([], "()"), ([[None, 2], [None, 2]], "(N, 2), (N, 2)"),
    ({"loss": [], "kl": []}, "scalars: loss, kl"), (None, "-"),
])
def test_format_shape(shape, text):
    assert format_shape(shape) == text


# -- spatial latents, conditions, stages and settings ----------------------------------------------


def _tiny_summary(recipe: str) -> dict:
    from evaluation.tiny_models import tiny_registry

    registry = tiny_registry()
    return summarize_model(build_model(build_config(registry, recipe), registry))


def test_a_spatial_latent_shows_in_the_output_shapes_and_the_header():
    summary = _tiny_summary("tiny-spatial")
    assert summary["latent_shape"] == [2, 3, 3] and summary["classes"] == 0
    encoder = {layer["name"]: layer for layer in summary["components"]["encoder"]["layers"]}
    assert encoder["heads.mu"]["output_shape"] == encoder["heads.log_var"]["output_shape"] == [None, 18]
    assert summary["components"]["sampler"]["layers"][0]["output_shape"] == [None, 2, 3, 3]
    assert summary["components"]["decoder"]["layers"][0]["output_shape"] == [None, 784]
    assert format_summary(summary).splitlines()[0] == "recipe tiny-spatial: input 1x28x28, latent shape (2, 3, 3), " \
                                                      "unconditional"


def test_a_conditional_model_runs_with_labels_and_says_so():
    summary = _tiny_summary("tiny-conditional")
    assert summary["classes"] == 10
    decoder = {layer["name"]: layer for layer in summary["components"]["decoder"]["layers"]}
    assert decoder["embed"] == {"name": "embed", "type": "Embedding", "output_shape": [None, 784],
                                "parameters": 10 * 784, "non_trainable": 0}
    assert "latent shape (2,), conditional on 10 classes" in format_summary(summary).splitlines()[0]


def test_a_later_stage_loss_is_a_part_of_its_own():
    summary = _tiny_summary("tiny-staged")
    stage = summary["components"]["stage refine"]
    assert (stage["kind"], stage["name"], stage["layers"][0]["output_shape"]) == \
        ("loss", "reconstruction", {"loss": [], "reconstruction": [], "mse": []})
    assert "stage refine reconstruction (genkit_plugins.ae.loss:ReconstructionLoss)" in format_summary(summary)


def test_each_component_lists_its_settings(run):
    summary = summary_json(run, "vae", "--set", "loss.r_loss_factor=10")
    assert summary["components"]["loss"]["settings"] == {"r_loss_factor": 10.0}
    assert summary["components"]["encoder"]["settings"]["filters"] == [32, 64, 64, 64]
    assert summary["components"]["sampler"]["settings"] == {}
    text = run("vae").stdout
    assert "settings: filters=[32, 64, 64, 64], kernels=[3, 3, 3, 3]" in text
    assert "settings: r_loss_factor=1000.0" in text


def test_list_settings_shows_defaults_types_and_help_texts(run):
    result = CliRunner().invoke(cli, ["list", "--settings"])
    assert result.exit_code == 0, result.output
    assert "encoder.filters = [32, 64, 64, 64]  (a list of integers) output channels of each layer" in result.output
    assert "loss.r_loss_factor = 1000.0  (a number) weight of the per-image MSE against the KL term" in result.output
    assert "model.input_shape = [3, 128, 128], model.latent_shape = [200], model.classes = 0" in result.output
    plain = CliRunner().invoke(cli, ["list"]).output
    assert "encoder.filters" not in plain and "loss.r_loss_factor" not in plain
    document = json.loads(CliRunner().invoke(cli, ["list", "--settings", "--json"]).output)
    loss = next(e for e in document["components"]["loss"] if e["name"] == "vae")
    assert loss["settings"] == [{"name": "r_loss_factor", "type": "a number", "default": 1000.0,
                                 "help": "weight of the per-image MSE against the KL term"}]


def test_list_settings_shows_the_model_training_and_data_sections():
    """The sections every run has are listed too, with the defaults, types and help texts `--set` validates against."""
    from genkit.config.sections import CORE_SECTIONS

    result = CliRunner().invoke(cli, ["list", "--settings"])
    assert result.exit_code == 0, result.output
    text = result.output
    for heading in ("model settings:", "training settings:", "data settings:"):
        assert f"\n{heading}\n" in text, heading
    assert "  model.sampler = \"\"  (a string) registered sampler name" in text
    assert "  training.epochs = 10  (an integer) number of epochs" in text
    assert "  training.optimizer = \"adam\"  ('adam' | 'adamw')" in text
    assert "  data.name = \"fashion-mnist\"  (a string) dataset name" in text
    assert "model settings:" not in CliRunner().invoke(cli, ["list"]).output
    document = json.loads(CliRunner().invoke(cli, ["list", "--settings", "--json"]).output)
    assert list(document["settings"]) == ["model", "training", "data"]
    for section, schema in CORE_SECTIONS.items():  # every field of each section, none left out
        assert [row["name"] for row in document["settings"][section]] == list(schema.__dataclass_fields__)
    assert {"name": "workers", "type": "an integer", "default": 2,
            "help": "DataLoader worker processes for datasets read from disk"} in document["settings"]["data"]
    assert "settings" not in json.loads(CliRunner().invoke(cli, ["list", "--json"]).output)
