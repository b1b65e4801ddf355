"""The new contracts' bad inputs at training time: one line, a non-zero exit, no traceback, nothing made."""

from __future__ import annotations

import numpy as np
import pytest

from .conftest import genkit


def refused(done) -> str:
    assert done.returncode != 0, done.stdout
    assert "Traceback" not in done.stderr
    lines = [line for line in done.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, done.stderr
    return lines[0]


def test_labels_outside_the_models_classes(site, tmp_path):
    line = refused(genkit(site, tmp_path, "train", "fixture-cvae", "--set", "model.classes=5", "--limit", "64"))
    assert "outside [0, 5)" in line and "model.classes" in line
    assert not (tmp_path / "runs").exists()


def test_a_conditional_model_on_unlabelled_data(site, tmp_path):
    rng = np.random.default_rng(0)
    np.savez(tmp_path / "plain.npz", x=rng.random((64, 28, 28), dtype=np.float32),
             x_test=rng.random((16, 28, 28), dtype=np.float32))
    line = refused(genkit(site, tmp_path, "train", "fixture-cvae", "--data", f"npz:{tmp_path / 'plain.npz'}"))
    assert "has no labels" in line and "conditional" in line
    assert not (tmp_path / "runs").exists()


@pytest.mark.parametrize(("setting", "fragment"), [
    ("stages.prior.trains=[\"sampler.nothing\"]", "not a module of this model"),
    ("stages.prior.loss=\"no-such-loss\"", "no-such-loss"),
    ("stages.ghost.epochs=2", "unknown stage 'ghost'"),
    ("stages.prior.epochs=0", "stages.prior.epochs must be >= 1"),
    ("model.latent_shape=[4, 8, 8]", "latent_shape"),
])
def test_bad_stage_and_latent_settings(site, tmp_path, setting, fragment):
    line = refused(genkit(site, tmp_path, "train", "fixture-vq", "--set", setting, "--limit", "64"))
    assert fragment in line, line
    assert not (tmp_path / "runs").exists()


def test_a_resume_may_not_change_the_stages_loss(site, tmp_path):
    run = tmp_path / "vq"
    done = genkit(site, tmp_path, "train", "fixture-vq", "--limit", "64", "--quiet", "-o", str(run))
    assert done.returncode == 0, done.stderr
    line = refused(genkit(site, tmp_path, "train", "--resume", str(run), "--set", "stages.prior.lr=0.1"))
    assert "stages.prior.lr cannot change when resuming" in line
