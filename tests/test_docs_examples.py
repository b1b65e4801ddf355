"""The Python examples of docs/training.md and docs/plugins.md, run for real on a few images.

An example is a fenced ``python`` block whose first line is ``# example: NAME``. Every Python block of
docs/training.md must be one, so none goes unrun. The examples train with the recipes' settings; the
runs here add the settings that make them seconds long (a few real Fashion-MNIST images, one thread,
small sample grids) in front of the example's own, which still win.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
import pytest
import torch
from click.testing import CliRunner
from conftest import quick_overrides
from safetensors import safe_open
from safetensors.torch import load_file

import genkit
from genkit.contract.host import get_registry
from genkit.contract.registry import make_register
from genkit.testing import check_loss_networks_not_exported, check_players

DOCS = Path(__file__).resolve().parents[1] / "docs"
EXAMPLE = re.compile(r"```python\n# example: ([\w-]+)\n(.*?)```", re.S)
PLUGIN = "docs-examples"  # what the examples register, withdrawn after each test


def examples(page: str) -> dict[str, str]:
    return dict(EXAMPLE.findall((DOCS / page).read_text(encoding="utf-8")))


def run_example(page: str, name: str) -> dict:
    namespace: dict = {"__name__": f"docs_{name.replace('-', '_')}"}
    # dont_inherit: the example runs as a reader's script would, without this module's `from __future__` imports
    code = compile(examples(page)[name], f"{page}#{name}", "exec", dont_inherit=True)
    exec(code, namespace)  # noqa: S102 - the page's own example
    return namespace


@pytest.fixture
def tiny(small_npz, tmp_path, monkeypatch):
    """A working folder for the examples' relative paths, and genkit.train on 128 real images."""
    real_train = genkit.train

    def train(recipe=None, overrides=(), **kwargs):
        if recipe is not None:  # a resumed run keeps the settings it was started with
            overrides = [*quick_overrides(small_npz, **{"training.limit": 128}), *overrides]
        return real_train(recipe, overrides=list(overrides), progress=False, **kwargs)

    monkeypatch.setattr(genkit, "train", train)
    monkeypatch.chdir(tmp_path)
    return tmp_path


@pytest.fixture
def registry():
    registry = get_registry()
    yield registry
    registry.remove_plugin(PLUGIN)


def test_every_python_block_of_the_training_page_is_an_example():
    text = (DOCS / "training.md").read_text(encoding="utf-8")
    assert text.count("```python\n") == len(EXAMPLE.findall(text)) == 4
    assert set(examples("plugins.md")) >= {"density"}


def test_train_and_resume(tiny):
    namespace = run_example("training.md", "train-and-resume")
    result = namespace["result"]
    assert (result.run_dir, result.epochs) == (Path("vae16"), 6)
    assert [m["epoch"] for m in result.metrics] == [1, 2, 3, 4, 5, 6]
    config = json.loads((tiny / "vae16" / "config.json").read_text())
    assert config["config"]["model"]["latent_shape"] == [16]


def test_callback(tiny):
    rows = run_example("training.md", "callback")["rates"].rows
    assert [row[:3] for row in rows] == [(1, "main", 5e-4), (2, "main", 2.5e-4)]
    logged = [json.loads(line) for line in (tiny / "rates" / "metrics.jsonl").read_text().splitlines()]
    assert [row[3] for row in rows] == [record["test"]["loss"] for record in logged]


def test_staged_recipe(tiny, registry):
    hook = run_example("training.md", "staged-recipe")["register_recipes"]
    hook(make_register(registry, "register_recipes", PLUGIN))
    assert registry.recipe("my-vq").stages[0]["trains"] == ["sampler.prior_network"]
    result = genkit.train("my-vq", overrides=["training.epochs=1", "stages.prior.epochs=1"], out="my-vq")
    assert [(m["epoch"], m["stage"]) for m in result.metrics] == [(1, "main"), (2, "prior")]
    assert set(result.metrics[1]["train"]) == {"loss", "nll", "bits_per_code"}


def test_players(tiny, registry):
    """The page's two-player generator-only recipe trains both players, and the critic is saved, not exported."""
    namespace = run_example("training.md", "players")
    assert registry.recipe("tiny-wgan").components()["encoder"] == "none"
    assert {c.plugin for c in (registry.component("loss", "tiny-critic"), registry.recipe("tiny-wgan"))} == {PLUGIN}
    record = namespace["result"].metrics[-1]
    assert list(record["train"]) == ["critic.loss", "critic.wasserstein", "critic.gradient_penalty", "generator.loss"]
    assert record["test"].keys() == record["train"].keys()
    assert all(np.isfinite(v) for v in [*record["train"].values(), *record["test"].values()])
    assert record["test"]["critic.gradient_penalty"] > 0  # scored without gradients, the penalty still has its input's
    assert record["player_lr"] == {"critic": 1e-4, "generator": 1e-4}
    critic_terms = {k.removeprefix("critic."): v for k, v in record["train"].items() if k.startswith("critic.")}
    assert namespace["critic"] == critic_terms  # what the page prints
    # 128 images at batch 32 are 4 steps: the critic's turn of 3, then the generator's 1
    with safe_open(str(tiny / "tiny-wgan" / "checkpoint.safetensors"), "pt") as f:
        trainer = json.loads(f.metadata()["trainer"])
        steps = {e["player"]: int(f.get_tensor(f"optimizers.{i}.0.step")) for i, e in enumerate(trainer["optimizers"])}
    assert steps == {"critic": 3, "generator": 1}
    weights = load_file(tiny / "tiny-wgan" / "model.safetensors")
    critic = {k for k in weights if k.startswith("player_losses.critic.network.")}
    assert critic == {f"player_losses.critic.network.{i}.{p}" for i in (1, 3) for p in ("weight", "bias")}
    assert not any(k.startswith("encoder.") for k in weights)
    model = genkit.load(tiny / "tiny-wgan")
    assert model.encoder is None and model.generate(4).shape == (4, 1, 28, 28)
    saved = weights["player_losses.critic.network.1.weight"]
    assert torch.equal(model.player_losses["critic"].network[1].weight, saved)
    changed = check_players(model, torch.rand(4, 1, 28, 28, generator=torch.Generator().manual_seed(0)))
    assert {k.split(".")[0] for k in changed["critic"]} == {"player_losses"}
    assert {k.split(".")[0] for k in changed["generator"]} == {"decoder"}
    from genkit.onnx.export_run import export_run

    export_run(tiny / "tiny-wgan", tiny / "export", log=lambda line: None)
    assert sorted(p.name for p in (tiny / "export").glob("*.onnx")) == ["decoder.onnx"]  # no encoder, no critic
    assert check_loss_networks_not_exported(model, tiny / "export") == 3  # the critic's tensors but its 1-number bias


def test_density(tiny, registry, small_npz, monkeypatch):
    """The page's loss trains its own parameter, and a real `genkit evaluate` calls it as the page says."""
    from genkit.cli import cli

    namespace = run_example("plugins.md", "density")
    loss_class, posterior = namespace["LearnedSigmaLoss"], namespace["GaussianPosterior"].log_posterior
    registry.add_component("loss", "learned-sigma", loss_class, PLUGIN)
    registry.add_recipe("learned-sigma-vae", plugin=PLUGIN, encoder="conv", sampler="gaussian",
                        decoder="transposed-conv", loss="learned-sigma", input_shape=(1, 28, 28), latent_shape=2)
    genkit.train("learned-sigma-vae", overrides=["training.epochs=1"], out="sigma")
    weights = load_file(tiny / "sigma" / "model.safetensors")
    assert weights["loss.log_var"].item() != 0.0  # the main stage trained the loss's own parameter

    sampler_class = registry.component_class("sampler", "gaussian")
    calls: dict[str, list] = {"posterior": [], "likelihood": [], "loss": []}
    original = sampler_class.log_posterior

    def recorded_posterior(self, z, *params):
        calls["posterior"].append((tuple(z.shape), [tuple(p.shape) for p in params], z.dtype))
        mine, theirs = posterior(self, z, *params), original(self, z, *params)
        torch.testing.assert_close(mine, theirs)  # the page's is the built-in sampler's density
        return mine

    def recorded(name, method):
        def call(self, x, second):
            calls[name].append((tuple(x.shape), torch.is_grad_enabled(), self.training))
            return method(self, x, second)
        return call

    monkeypatch.setattr(sampler_class, "log_posterior", recorded_posterior)
    monkeypatch.setattr(loss_class, "log_likelihood", recorded("likelihood", loss_class.log_likelihood))
    monkeypatch.setattr(loss_class, "forward", recorded("loss", loss_class.forward))
    monkeypatch.setenv("XDG_CACHE_HOME", str(tiny / "cache"))
    images, draws = 16, 5
    result = CliRunner().invoke(cli, ["evaluate", "sigma", "--limit", str(images), "--samples", "16",
                                      "--classifier-limit", "128", "--classifier-epochs", "1",
                                      "--nll-samples", str(draws), "--json"], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    report = json.loads(result.output[result.output.index("{"):])
    assert report["likelihood"]["likelihood"] == "gaussian (learned sigma)"
    assert np.isfinite(report["likelihood"]["nll"]) and report["likelihood"]["images"] == images
    assert list(report["loss"]) == ["loss", "nll", "kl"]
    # the checks on one image, then every draw of the 16 images in one call, draw-major, parameters once
    check = ((1, 2), [(1, 2), (1, 2)], torch.float32)
    every_draw = ((draws * images, 2), [(images, 2), (images, 2)], torch.float32)
    assert calls["posterior"][-1] == every_draw and set(map(str, calls["posterior"][:-1])) == {str(check)}
    assert (draws * images, 1, 28, 28) in {shape for shape, _, _ in calls["likelihood"]}
    # the loss scored on the batch as the trainer scores it, then on each image's share, without gradients, in eval mode
    scored = calls["loss"]
    assert scored[0] == ((images, 1, 28, 28), False, False)
    assert len(scored) == 1 + images and set(scored[1:]) == {((1, 1, 28, 28), False, False)}
    assert all(not grad and not training for _, grad, training in calls["likelihood"])
    assert [p.name for p in (tiny / "cache" / "genkit" / "classifiers").iterdir()], "the cache follows XDG_CACHE_HOME"
