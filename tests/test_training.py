"""The one training loop: run folders, exact resume, NaN handling, refusing to overwrite."""

from __future__ import annotations

import json

import pytest
import torch
from click.testing import CliRunner
from conftest import quick_overrides
from safetensors.torch import load_file

from genkit.cli import cli
from genkit.config import build_config
from genkit.contract.host import get_registry
from genkit.errors import RunFolderError, TrainingError
from genkit.training import Callback, Trainer


def config(npz, recipe="vae", **extra):
    return build_config(get_registry(), recipe, None, quick_overrides(npz, **extra))


def run_cli(*args):
    result = CliRunner().invoke(cli, list(args))
    return result.exit_code, result.output


def test_run_folder_contents(small_npz, tmp_path):
    run = tmp_path / "run"
    run.mkdir()
    result = Trainer(config(small_npz, **{"training.epochs": 2}), run, progress=False).run()
    assert result.epochs == 2
    names = {p.name for p in run.iterdir()}
    assert {"config.json", "model.safetensors", "checkpoint.safetensors", "metrics.jsonl", "samples"} <= names
    document = json.loads((run / "config.json").read_text())
    assert document["recipe"] == "vae"
    assert document["components"]["encoder"]["name"] == "conv"
    assert document["components"]["encoder"]["distribution"] == "genkit"
    lines = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    assert [m["epoch"] for m in lines] == [1, 2]
    for m in lines:
        assert set(m["train"]) == {"loss", "reconstruction", "kl", "mse"} == set(m["test"])
        assert m["train"]["loss"] == pytest.approx(m["train"]["reconstruction"] + m["train"]["kl"], rel=1e-4)
        assert m["images_per_second"] > 0
    assert sorted(p.name for p in (run / "samples").iterdir()) == ["epoch-0001.png", "epoch-0002.png"]
    assert not [p for p in run.iterdir() if p.name.endswith(".tmp")]


def test_seed_makes_runs_identical_and_resume_is_exact(small_npz, tmp_path):
    straight, resumed, other = tmp_path / "straight", tmp_path / "resumed", tmp_path / "other"
    for d in (straight, resumed, other):
        d.mkdir()
    Trainer(config(small_npz, **{"training.epochs": 2}), straight, progress=False).run()
    Trainer(config(small_npz, **{"training.epochs": 1}), resumed, progress=False).run()
    Trainer(config(small_npz, **{"training.epochs": 2}), resumed, resume=True, progress=False).run()
    Trainer(config(small_npz, **{"training.epochs": 1, "training.seed": 1}), other, progress=False).run()
    a, b = load_file(straight / "model.safetensors"), load_file(resumed / "model.safetensors")
    assert a.keys() == b.keys()
    for key in a:
        assert torch.equal(a[key], b[key]), key
    c = load_file(other / "model.safetensors")
    assert not all(torch.equal(a[k], c[k]) for k in a)
    ma = [json.loads(x) for x in (straight / "metrics.jsonl").read_text().splitlines()]
    mb = [json.loads(x) for x in (resumed / "metrics.jsonl").read_text().splitlines()]
    assert [m["test"] for m in ma] == [m["test"] for m in mb]


def test_mid_epoch_checkpoint_resumes_at_the_step(small_npz, tmp_path):
    straight, resumed = tmp_path / "straight", tmp_path / "resumed"
    straight.mkdir()
    resumed.mkdir()
    Trainer(config(small_npz, **{"training.epochs": 1}), straight, progress=False).run()
    class CrashAfterFour(Callback):  # the 4th step dies after the checkpoint at step 3 was written
        def on_step_end(self, trainer, step, status):
            if step == 4:
                raise KeyboardInterrupt

    trainer = Trainer(config(small_npz, **{"training.epochs": 1, "training.checkpoint_every": 3}), resumed,
                      progress=False, callbacks=[CrashAfterFour()])
    with pytest.raises(KeyboardInterrupt):
        trainer.run()
    state = json.loads(__import__("safetensors").safe_open(str(resumed / "checkpoint.safetensors"), "pt")
                       .metadata()["trainer"])
    assert (state["epoch"], state["step"]) == (0, 3)
    Trainer(config(small_npz, **{"training.epochs": 1, "training.checkpoint_every": 3}), resumed, resume=True,
            progress=False).run()
    a, b = load_file(straight / "model.safetensors"), load_file(resumed / "model.safetensors")
    for key in a:
        assert torch.equal(a[key], b[key]), key


def test_nan_loss_stops_and_keeps_last_good_checkpoint(small_npz, tmp_path):
    run = tmp_path / "run"
    run.mkdir()
    Trainer(config(small_npz, **{"training.epochs": 1}), run, progress=False).run()
    before = (run / "model.safetensors").read_bytes(), (run / "checkpoint.safetensors").read_bytes()
    trainer = Trainer(config(small_npz, **{"training.epochs": 2}), run, resume=True, progress=False)
    original = trainer.model.loss.forward

    def poisoned(x, out):
        terms = original(x, out)
        terms["loss"] = terms["loss"] * float("nan")
        return terms

    trainer.model.loss.forward = poisoned
    with pytest.raises(TrainingError, match="nan.*epoch 2.*last good checkpoint \\(epoch 1\\)"):
        trainer.run()
    assert ((run / "model.safetensors").read_bytes(), (run / "checkpoint.safetensors").read_bytes()) == before


def test_ae_trains_and_fits_its_prior(small_npz, tmp_path):
    run = tmp_path / "ae"
    run.mkdir()
    result = Trainer(config(small_npz, "ae", **{"training.epochs": 1}), run, progress=False).run()
    assert set(result.metrics[-1]["test"]) >= {"loss", "mse"}
    weights = load_file(run / "model.safetensors")
    prior = [k for k in weights if k.startswith("sampler.")]
    assert prior, "the fitted prior must be saved with the weights"
    assert not all(torch.equal(weights[k], torch.zeros_like(weights[k])) for k in prior)


def test_cli_train_and_refusals(small_npz, tmp_path):
    run = tmp_path / "cli-run"
    sets = [a for s in quick_overrides(small_npz) for a in ("--set", s)]
    code, out = run_cli("train", "vae", "--epochs", "1", "--quiet", "-o", str(run), *sets)
    assert code == 0, out
    assert f"run saved to {run}" in out
    snapshot = {p.name: p.read_bytes() for p in run.iterdir() if p.is_file()}
    code, out = run_cli("train", "vae", "--epochs", "1", "--quiet", "-o", str(run), *sets)
    assert code != 0 and "not empty" in out and "Traceback" not in out
    assert {p.name: p.read_bytes() for p in run.iterdir() if p.is_file()} == snapshot
    code, out = run_cli("train", "--resume", str(run), "--epochs", "2", "--quiet")
    assert code == 0, out
    assert len((run / "metrics.jsonl").read_text().splitlines()) == 2


@pytest.mark.parametrize("case, expected", [
    ("missing", "does not exist"),
    ("no-config", "config.json is missing"),
    ("truncated", "corrupt or truncated"),
    ("newer", "upgrade genkit"),
])
def test_resume_of_bad_run_folders(small_npz, tmp_path, case, expected):
    run = tmp_path / "run"
    if case != "missing":
        run.mkdir()
        Trainer(config(small_npz, **{"training.epochs": 1}), run, progress=False).run()
    if case == "no-config":
        (run / "config.json").unlink()
    elif case == "truncated":
        data = (run / "checkpoint.safetensors").read_bytes()
        (run / "checkpoint.safetensors").write_bytes(data[: len(data) // 2])
    elif case == "newer":
        doc = json.loads((run / "config.json").read_text())
        doc["format_version"] = 99
        (run / "config.json").write_text(json.dumps(doc))
    snapshot = {p.name: p.read_bytes() for p in run.iterdir() if p.is_file()} if run.exists() else {}
    code, out = run_cli("train", "--resume", str(run), "--epochs", "2", "--quiet")
    assert code == 1 and expected in out and "Traceback" not in out
    assert len(out.strip().splitlines()) == 1 or out.count("Error:") == 1
    after = {p.name: p.read_bytes() for p in run.iterdir() if p.is_file()} if run.exists() else {}
    assert after == snapshot


def test_load_returns_eval_model(small_npz, tmp_path):
    import genkit

    run = tmp_path / "run"
    run.mkdir()
    Trainer(config(small_npz, **{"training.epochs": 1}), run, progress=False).run()
    model = genkit.load(run)
    assert not model.training
    assert {"encoder", "sampler", "decoder", "loss"} <= {n for n, _ in model.named_children()}
    with pytest.raises(RunFolderError):
        genkit.load(tmp_path / "nothing-here")


def test_run_files_get_ordinary_permissions(small_npz, tmp_path):
    import os

    run = tmp_path / "run"
    run.mkdir()
    Trainer(config(small_npz, **{"training.epochs": 1}), run, progress=False).run()
    mask = os.umask(0)
    os.umask(mask)
    for name in ("config.json", "model.safetensors", "metrics.jsonl"):
        assert (run / name).stat().st_mode & 0o777 == 0o666 & ~mask, name
