"""The adversarial plugin's recipes (wgan-gp, cgan): the recipe contract, a short training run of two players on
real Fashion-MNIST images, and an export that generates without torch.

Each run trains one epoch on 384 images of batch 64: 6 steps, one full turn of the critic's 5 and the generator's 1,
so both players have stepped. (Exact resume with players is the core's to test: tests/test_players_end_to_end.py.)
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest
import torch
from conformance.fashion import FashionImages
from conftest import quick_overrides

import genkit

RECIPES = ("wgan-gp", "cgan")
TERMS = {"critic.loss", "critic.wasserstein", "critic.gradient_penalty", "generator.loss"}


@pytest.mark.parametrize("recipe", RECIPES)
def test_the_recipe_contract_holds(recipe):
    from genkit.testing import check_recipe

    images = FashionImages().images((1, 28, 28), 4)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(0)
        model = check_recipe(recipe, images=images, batch_size=4, onnx=True)
    assert model.generator_only and set(model.player_losses) == {"critic"}
    assert [(p.name, p.steps, p.lr, list(p.betas)) for p in model.config.players] == [
        ("critic", 5, 2e-4, [0.5, 0.9]), ("generator", 1, 2e-4, [0.5, 0.9])]
    assert model.player_losses["critic"].settings.penalty == 10.0
    # the paper's critic: no BatchNorm, whose per-batch statistics would couple the per-image gradient penalty
    norms = (torch.nn.BatchNorm1d, torch.nn.BatchNorm2d, torch.nn.SyncBatchNorm)
    assert not [m for m in model.player_losses["critic"].modules() if isinstance(m, norms)]


@pytest.mark.parametrize("recipe", RECIPES)
def test_seeds_determine_the_weights_and_draws(recipe):
    from genkit.testing import build_recipe, check_seed_determinism

    check_seed_determinism(lambda: build_recipe(recipe), FashionImages().images((1, 28, 28), 3), seed=0)


def test_the_gradient_penalty_holds_under_bf16_autocast_and_without_gradients():
    from genkit.testing import build_recipe

    model = build_recipe("cgan").train()
    x, labels = FashionImages().images((1, 28, 28), 4), torch.arange(4)
    with torch.autocast("cpu", torch.bfloat16):
        terms = model.compute_loss(x, labels, generator=torch.Generator().manual_seed(0), player="critic")
    terms["loss"].backward()
    grads = [p.grad for p in model.player_losses["critic"].parameters()]
    assert all(g is not None and torch.isfinite(g).all() for g in grads)
    assert terms["gradient_penalty"].dtype == torch.float32  # taken in float32 whatever the autocast
    with torch.no_grad():  # as the test split and `genkit evaluate` score it
        scored = model.eval().compute_loss(x, labels, generator=torch.Generator().manual_seed(0), player="critic")
    assert torch.isfinite(scored["gradient_penalty"]) and scored["gradient_penalty"] > 0


def test_the_generators_batch_norm_moves_only_in_its_own_steps():
    from genkit.testing import build_recipe, check_players

    model = build_recipe("wgan-gp")
    x = FashionImages().images((1, 28, 28), 8)
    changed = check_players(model, x)
    assert any("running_mean" in name for name in changed["generator"])
    assert not [name for name in changed["critic"] if not name.startswith("player_losses.critic.")]


@pytest.fixture(scope="module")
def runs(small_npz, tmp_path_factory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("adversarial")
    out = {}
    for recipe in RECIPES:
        overrides = [*quick_overrides(small_npz), "training.epochs=1", "training.limit=384"]
        genkit.train(recipe, overrides=overrides, out=root / recipe, progress=False, echo=lambda line: None)
        out[recipe] = root / recipe
    return out


@pytest.mark.parametrize("recipe", RECIPES)
def test_both_players_terms_are_logged_and_finite(runs, recipe):
    records = [json.loads(line) for line in (runs[recipe] / "metrics.jsonl").read_text().splitlines()]
    assert len(records) == 1
    record = records[0]
    assert set(record["train"]) == set(record["test"]) == TERMS
    assert all(np.isfinite(v) for part in ("train", "test") for v in record[part].values())
    assert record["train"]["generator.loss"] != 0.0  # the generator stepped (a player that has not logs 0)
    assert record["train"]["critic.gradient_penalty"] > 0.0
    assert set(record["player_lr"]) == {"critic", "generator"}


@pytest.mark.parametrize("recipe", RECIPES)
def test_the_critic_is_saved_with_the_model(runs, recipe):
    from safetensors.numpy import load_file

    names = load_file(str(runs[recipe] / "model.safetensors")).keys()
    assert any(name.startswith("player_losses.critic.network.") for name in names)
    assert any(name.startswith("decoder.") for name in names)
    assert not any(name.startswith("encoder.") for name in names)


@pytest.fixture(scope="module")
def exports(runs) -> dict[str, Path]:
    from genkit.onnx.export_run import export_run

    return {recipe: Path(export_run(run).out) for recipe, run in runs.items()}


@pytest.mark.parametrize("recipe", RECIPES)
def test_the_export_is_the_decoder_alone(runs, exports, recipe):
    from genkit.testing import check_loss_networks_not_exported

    assert sorted(p.name for p in exports[recipe].glob("*.onnx")) == ["decoder.onnx"]
    assert check_loss_networks_not_exported(genkit.load(runs[recipe]), exports[recipe]) > 0


GENERATE = textwrap.dedent("""
    import sys
    import numpy as np
    from genkit.runtime import ExportedModel
    model = ExportedModel(sys.argv[1], provider="cpu")
    labels = {"labels": np.arange(10, dtype=np.int64)} if len(sys.argv) > 3 else {}
    np.save(sys.argv[2], model.generate(10, seed=3, **labels))
    np.save(sys.argv[2].replace(".npy", "-z.npy"), model.sample_prior(10, seed=3))
    assert "torch" not in sys.modules
""")


@pytest.mark.parametrize("recipe", RECIPES)
def test_the_export_generates_without_torch(runs, exports, recipe, tmp_path):
    blocked = tmp_path / "no-torch"
    (blocked / "torch").mkdir(parents=True)
    (blocked / "torch" / "__init__.py").write_text('raise ImportError("No module named \'torch\' (blocked)")\n')
    env = {k: v for k, v in os.environ.items() if not k.startswith("GENKIT_")}
    env["PYTHONPATH"] = str(blocked)
    conditional = ["labels"] if recipe == "cgan" else []
    result = subprocess.run([sys.executable, "-c", GENERATE, str(exports[recipe]), str(tmp_path / "images.npy"),
                             *conditional], env=env, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    images, z = np.load(tmp_path / "images.npy"), np.load(tmp_path / "images-z.npy")
    assert images.shape == (10, 1, 28, 28) and 0.0 <= images.min() and images.max() <= 1.0
    model = genkit.load(runs[recipe])
    condition = (torch.arange(10),) if recipe == "cgan" else ()
    with torch.no_grad():
        want = model.decoder(torch.from_numpy(z), *condition).numpy()
    assert np.abs(images - want).max() <= 1e-5
    if recipe == "cgan":
        with torch.no_grad():
            other = model.decoder(torch.from_numpy(z), (torch.arange(10) + 1) % 10).numpy()
        assert np.abs(images - other).max() > 1e-4  # the label changes what is generated
