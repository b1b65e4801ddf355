"""``training.ema_decay``: averaged weights kept beside the trained ones, resumed exactly, used where models are."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from safetensors.torch import load_file
from test_training_api import FailAt, assert_same_weights, overrides
from torch import nn

import genkit
from genkit.contract.averaged import AveragedWeights, swapped_in
from genkit.errors import ConfigError

EMA = {"training.ema_decay": 0.9, "training.ema_start": 2}


def test_the_average_copies_then_follows_with_its_decay():
    model = nn.Linear(2, 1, bias=False)
    averaged = AveragedWeights(model, decay=0.75, start=1)
    values = []
    for step, weight in enumerate([4.0, 8.0, 0.0], start=1):
        model.weight.data.fill_(weight)
        averaged.update(model, step)
        values.append(averaged.pairs(model)[0][0][0, 0].item())
    # step 1 (<= start): a copy; then 0.75 * average + 0.25 * weight
    assert values == [4.0, 0.75 * 4 + 0.25 * 8, 0.75 * 5 + 0.25 * 0]
    with swapped_in(nn.Module()):  # a model without an average: nothing happens
        pass


def test_swapping_in_puts_the_trained_weights_back():
    model = nn.Sequential(nn.Linear(2, 2))
    averaged = AveragedWeights(model, decay=0.5)
    model.averaged = averaged
    trained = model[0].weight.detach().clone()
    averaged.pairs(model)[0][0].fill_(7.0)
    with swapped_in(model):
        assert torch.all(model[0].weight == 7.0)
    assert torch.equal(model[0].weight, trained)


def test_only_the_named_modules_are_averaged():
    model = nn.Sequential()
    model.add_module("encoder", nn.Linear(2, 2))
    model.add_module("decoder", nn.Linear(2, 2))
    assert AveragedWeights(model, 0.9, paths=["decoder"]).names == ["decoder.weight", "decoder.bias"]


@pytest.fixture(scope="module")
def runs(small_npz, tmp_path_factory):
    root = tmp_path_factory.mktemp("ema")
    settings = overrides(small_npz, **{**EMA, "training.checkpoint_every": 3})
    straight = genkit.train("vae", overrides=settings, out=root / "straight", progress=False)
    with pytest.raises(KeyboardInterrupt):  # killed mid-epoch, one step after its checkpoint
        genkit.train("vae", overrides=settings, out=root / "stopped", progress=False,
                     callbacks=[FailAt(2, 4, KeyboardInterrupt())])
    genkit.train(resume=root / "stopped", progress=False)
    return straight


def test_the_run_keeps_both_and_a_resume_continues_the_average_exactly(runs, tmp_path):
    saved = load_file(runs.run_dir / "model.safetensors")
    averages = [k for k in saved if k.startswith("averaged.")]
    assert averages and len(averages) == len([k for k in saved if not k.startswith("averaged.")
                                               and "running_" not in k and "num_batches" not in k])
    assert not torch.equal(saved["averaged.decoder/dense/weight"], saved["decoder.dense.weight"])
    assert_same_weights(runs.run_dir, runs.run_dir.parent / "stopped")  # averages included


def test_load_evaluate_and_export_use_the_averaged_weights(runs, tmp_path):
    from genkit.runtime import ExportedModel

    averaged, trained = genkit.load(runs.run_dir), genkit.load(runs.run_dir, weights="trained")
    saved = load_file(runs.run_dir / "model.safetensors")
    assert torch.equal(averaged.decoder.dense.weight, saved["averaged.decoder/dense/weight"])
    assert torch.equal(trained.decoder.dense.weight, saved["decoder.dense.weight"])
    # the epoch's test score is the averaged model's: evaluate (through genkit.load) gives it back
    result = genkit_cli("evaluate", str(runs.run_dir), "--nll-samples", "0", "--samples", "0", "--json")
    assert result["loss"]["loss"]["mean"] == pytest.approx(runs.metrics[-1]["test"]["loss"], rel=1e-5)
    genkit_cli("export", str(runs.run_dir), "--onnx", "-o", str(tmp_path / "export"), "--quiet", json=False)
    z = np.random.default_rng(0).standard_normal((3, 2)).astype(np.float32)
    exported = ExportedModel(tmp_path / "export").decode(z)
    with torch.no_grad():
        expected = averaged.decoder(torch.from_numpy(z)).numpy()
    np.testing.assert_allclose(exported, expected, atol=1e-5)


def genkit_cli(*args: str, json: bool = True):
    import json as json_module

    from click.testing import CliRunner

    from genkit.cli import cli

    result = CliRunner().invoke(cli, list(args))
    assert result.exit_code == 0, result.output
    return json_module.loads(result.stdout) if json else result.output


@pytest.mark.parametrize(("sets", "message"), [
    ({"training.ema_decay": 1.0}, r"training.ema_decay must be below 1 \(0 turns the average off\); got 1"),
    ({"training.ema_decay": -0.5}, r"training.ema_decay must be >= 0.0"),
    ({"training.ema_decay": 0.9, "training.ema_modules": '["decoder.nope"]'},
     r"training.ema_modules names a path that is not a module of this model"),
])
def test_an_average_that_cannot_be_kept_is_one_line_before_any_folder(small_npz, tmp_path, sets, message):
    with pytest.raises(ConfigError, match=message):
        genkit.train("vae", overrides=overrides(small_npz, **sets), out=tmp_path / "run", progress=False)
    assert not (tmp_path / "run").exists()
