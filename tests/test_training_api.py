"""``genkit.train`` from Python: the command line's run-folder guarantees, exact resume and callbacks."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from conftest import quick_overrides
from safetensors.torch import load_file

import genkit
from genkit.errors import GenkitError, RunFolderError
from genkit.training import Callback

EPOCHS, EVERY = 2, 3  # 256 images at batch 64: 4 steps an epoch, a checkpoint after step 3


def overrides(npz: Path, **extra) -> list[str]:
    return quick_overrides(npz, **{"training.limit": 256, "training.epochs": EPOCHS, **extra})


def files(folder: Path) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes() for p in folder.rglob("*") if p.is_file()}


def assert_same_weights(a: Path, b: Path) -> None:
    wa, wb = load_file(a / "model.safetensors"), load_file(b / "model.safetensors")
    assert wa.keys() == wb.keys()
    for key in wa:
        assert torch.equal(wa[key], wb[key]), key


class FailAt(Callback):
    """Raises ``error`` after step ``step`` of epoch ``epoch`` (1-based), as a crash or Ctrl-C would."""

    def __init__(self, epoch: int, step: int, error: BaseException):
        self.epoch, self.step, self.error, self.current = epoch, step, error, 0

    def on_epoch_start(self, trainer, epoch, steps, start_step):
        self.current = epoch + 1

    def on_step_end(self, trainer, step, status):
        if (self.current, step) == (self.epoch, self.step):
            raise self.error


class Records(Callback):
    def __init__(self):
        self.records: list[dict] = []

    def on_epoch_end(self, trainer, record):
        self.records.append(record)


def test_refuses_an_existing_non_empty_folder(small_npz, tmp_path):
    out = tmp_path / "out"
    out.mkdir()
    (out / "notes.txt").write_text("mine")
    with pytest.raises(RunFolderError, match="not empty") as caught:
        genkit.train("vae", overrides=overrides(small_npz), out=out, progress=False)
    assert "\n" not in str(caught.value)
    assert files(out) == {"notes.txt": b"mine"}


def test_bad_settings_fail_before_any_folder(small_npz, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    with pytest.raises(GenkitError, match="does not exist") as caught:
        genkit.train("vae", overrides=overrides(small_npz, **{"data.name": f'"npz:{tmp_path / "missing.npz"}"'}),
                     out=tmp_path / "a" / "run", progress=False)
    assert "\n" not in str(caught.value)
    with pytest.raises(GenkitError, match="training.optimizer"):
        genkit.train("vae", overrides=overrides(small_npz, **{"training.optimizer": '"sgd"'}), progress=False)
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("where", ["out", "runs"])
def test_a_run_that_fails_before_its_first_checkpoint_leaves_no_folder(small_npz, tmp_path, monkeypatch, where):
    """With every writer on (samples, TensorBoard): the folders made for the run go, and so does what was in them."""
    monkeypatch.chdir(tmp_path)
    out = tmp_path / "nested" / "run" if where == "out" else None
    with pytest.raises(RuntimeError, match="boom"):
        genkit.train("vae", overrides=overrides(small_npz, **{"training.log": '["tensorboard"]'}), out=out,
                     progress=False, callbacks=[FailAt(1, 2, RuntimeError("boom"))])
    assert list(tmp_path.iterdir()) == []


def test_resume_continues_exactly(small_npz, tmp_path):
    straight = genkit.train("vae", overrides=overrides(small_npz), out=tmp_path / "straight", progress=False)
    run = tmp_path / "stopped"
    settings = overrides(small_npz, **{"training.checkpoint_every": EVERY})
    with pytest.raises(KeyboardInterrupt):  # killed in epoch 2, one step after its mid-epoch checkpoint
        genkit.train("vae", overrides=settings, out=run, progress=False,
                     callbacks=[FailAt(2, EVERY + 1, KeyboardInterrupt())])
    trainer = json.loads(__import__("safetensors").safe_open(str(run / "checkpoint.safetensors"), "pt")
                         .metadata()["trainer"])
    assert (trainer["epoch"], trainer["step"]) == (1, EVERY)
    with pytest.raises(GenkitError, match="cannot change when resuming"):
        genkit.train(resume=run, overrides=["training.lr=0.1"], progress=False)
    resumed = genkit.train(resume=run, progress=False)
    assert (resumed.run_dir, resumed.epochs) == (run, EPOCHS)
    assert_same_weights(straight.run_dir, run)
    assert [m["test"] for m in resumed.metrics] == [m["test"] for m in straight.metrics]


def test_callbacks_see_each_epochs_record(small_npz, tmp_path):
    seen = Records()
    result = genkit.train("vae", overrides=overrides(small_npz), out=tmp_path / "run", progress=False,
                          callbacks=[seen])
    logged = [json.loads(line) for line in (tmp_path / "run" / "metrics.jsonl").read_text().splitlines()]
    assert [r["epoch"] for r in seen.records] == [1, 2]
    assert seen.records == logged == result.metrics
    assert set(seen.records[0]) >= {"epoch", "train", "test", "seconds", "images_per_second", "lr"}
