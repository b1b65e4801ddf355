"""Each core contract, proven end to end by a small third-party-style plugin (``genkit_contract_fixtures``).

For every fixture recipe: ``genkit train`` on real Fashion-MNIST images → ``--resume`` to more epochs
(weights equal to an uninterrupted run's) → ``genkit export --onnx`` → ``genkit generate`` from the
export where torch cannot be imported → ``genkit evaluate``. The plugin is installed the way a real
one is (a dist-info folder with an entry point on PYTHONPATH), and every command runs in its own
process, as users run them.
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from .conftest import genkit

RECIPES = ("fixture-cvae", "fixture-spatial", "fixture-mixture", "fixture-vq")
TRAIN = ("--limit", "512", "--quiet", "--set", "training.samples=10")


def ok(done: subprocess.CompletedProcess) -> subprocess.CompletedProcess:
    assert done.returncode == 0, done.stderr[-3000:]
    return done


def weights(run: Path) -> dict[str, np.ndarray]:
    from safetensors.numpy import load_file

    return load_file(str(run / "model.safetensors"))


@pytest.fixture(scope="module")
def trained(site, tmp_path_factory) -> dict[str, Path]:
    """Each recipe trained for two epochs straight, and for one then resumed to two."""
    cwd = tmp_path_factory.mktemp("runs")
    runs = {}
    for recipe in RECIPES:
        more = ("--set", "stages.prior.epochs=2") if recipe == "fixture-vq" else ("--epochs", "2")
        ok(genkit(site, cwd, "train", recipe, *TRAIN, *more, "-o", f"{recipe}-straight"))
        ok(genkit(site, cwd, "train", recipe, *TRAIN, "-o", f"{recipe}-resumed"))
        ok(genkit(site, cwd, "train", "--resume", f"{recipe}-resumed", "--quiet", *more))
        runs[recipe] = cwd / f"{recipe}-resumed"
        runs[recipe + ":straight"] = cwd / f"{recipe}-straight"
    return runs


@pytest.mark.parametrize("recipe", RECIPES)
def test_resume_continues_exactly(trained, recipe):
    straight, resumed = weights(trained[recipe + ":straight"]), weights(trained[recipe])
    assert straight.keys() == resumed.keys()
    for name in straight:
        np.testing.assert_array_equal(straight[name], resumed[name], err_msg=name)
    metrics = [json.loads(line) for line in (trained[recipe] / "metrics.jsonl").read_text().splitlines()]
    assert [m["epoch"] for m in metrics] == ([1, 2, 3] if recipe == "fixture-vq" else [1, 2])


def test_two_stages_log_each_stage_with_its_own_terms(trained):
    metrics = [json.loads(line) for line in (trained["fixture-vq"] / "metrics.jsonl").read_text().splitlines()]
    assert [m["stage"] for m in metrics] == ["main", "prior", "prior"]
    assert set(metrics[0]["train"]) == {"loss", "mse", "codebook", "commitment"}
    assert set(metrics[1]["train"]) == set(metrics[2]["train"]) == {"loss", "nll"}
    # the prior stage learns: its test NLL falls, and is below the uniform prior's 49 * log(16) nats
    assert metrics[2]["test"]["nll"] < metrics[1]["test"]["nll"] < 49 * np.log(16)


def test_the_second_stage_leaves_the_first_stages_weights_alone(site, trained, tmp_path):
    first = tmp_path / "first"
    ok(genkit(site, tmp_path, "train", "fixture-vq", *TRAIN, "--set", "stages.prior.epochs=1", "-o", str(first)))
    after = weights(trained["fixture-vq"])
    before_prior = weights(first)
    # run 'first' trained the same main stage; the second stage changed only the prior network
    for name, value in after.items():
        if not name.startswith("sampler.prior_network."):
            np.testing.assert_array_equal(value, before_prior[name], err_msg=name)


@pytest.fixture(scope="module")
def exports(site, trained, tmp_path_factory) -> dict[str, Path]:
    cwd = tmp_path_factory.mktemp("exports")
    out = {}
    for recipe in RECIPES:
        ok(genkit(site, cwd, "export", "--onnx", str(trained[recipe]), "-o", recipe, "--quiet"))
        out[recipe] = cwd / recipe
    return out


def test_the_prior_network_is_exported_as_a_third_graph(exports):
    assert (exports["fixture-vq"] / "prior.onnx").is_file()
    for recipe in ("fixture-cvae", "fixture-spatial", "fixture-mixture"):
        assert not (exports[recipe] / "prior.onnx").exists()


@pytest.mark.parametrize("recipe", RECIPES)
def test_generate_from_the_export_without_torch(site, exports, no_torch, recipe, tmp_path):
    args = ["generate", str(exports[recipe]), "-n", "20", "-o", str(tmp_path / "grid.png")]
    if recipe == "fixture-cvae":
        args += ["--label", "3"]
    ok(genkit(site, tmp_path, *args, blocked_torch=no_torch))
    pixels = np.asarray(Image.open(tmp_path / "grid.png"))
    assert pixels.std() > 0  # an image, not a blank canvas


def test_a_conditional_export_generates_one_row_per_class(site, exports, no_torch, tmp_path):
    ok(genkit(site, tmp_path, "generate", str(exports["fixture-cvae"]), "--label", "all", "-n", "4", "-o",
              str(tmp_path / "all.png"), blocked_torch=no_torch))
    assert Image.open(tmp_path / "all.png").size[1] > Image.open(tmp_path / "all.png").size[0]  # 10 rows of 4


def test_a_conditional_export_asked_without_a_label_says_so(site, exports, no_torch, tmp_path):
    done = genkit(site, tmp_path, "generate", str(exports["fixture-cvae"]), "-n", "4", "-o", str(tmp_path / "x.png"),
                  blocked_torch=no_torch)
    assert done.returncode != 0
    assert "Traceback" not in done.stderr
    lines = [line for line in done.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and "--label" in lines[0], done.stderr
    assert not (tmp_path / "x.png").exists()


@pytest.mark.parametrize("label", ["10", "-1", "three"])
def test_a_label_out_of_range_is_one_line(site, exports, no_torch, tmp_path, label):
    done = genkit(site, tmp_path, "generate", str(exports["fixture-cvae"]), "--label", label, "-o",
                  str(tmp_path / "x.png"), blocked_torch=no_torch)
    assert done.returncode != 0 and "Traceback" not in done.stderr
    assert len([line for line in done.stderr.splitlines() if line.strip()]) == 1, done.stderr


@pytest.mark.parametrize("recipe", RECIPES)
def test_evaluate_the_run(site, trained, recipe, tmp_path):
    done = ok(genkit(site, tmp_path, "evaluate", str(trained[recipe]), "--json", "--limit", "256",
                     "--classifier-epochs", "1", "--classifier-limit", "1024"))
    result = json.loads(done.stdout)
    assert 0 < result["reconstruction"]["mse"]["mean"] < 0.2


def test_a_staged_recipe_trains_in_two_processes_like_one(site, trained, tmp_path):
    # the first stage never reaches the prior network: DistributedDataParallel must allow that
    ok(genkit(site, tmp_path, "train", "fixture-vq", *TRAIN, "--set", "stages.prior.epochs=2", "--nproc", "2",
              "-o", "two"))
    one, two = weights(trained["fixture-vq:straight"]), weights(tmp_path / "two")
    for name in one:
        np.testing.assert_allclose(two[name], one[name], rtol=1e-4, atol=1e-5, err_msg=name)
