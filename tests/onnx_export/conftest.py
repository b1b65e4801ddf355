"""Shared by the ONNX tests: one tiny trained run per recipe and its export, made once per session.

The folder is named ``onnx_export`` rather than ``onnx`` because a test package called ``onnx`` would
shadow the onnx library for the whole test process.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest

from genkit.config import build_config
from genkit.contract.host import get_registry
from genkit.training import train

RECIPES = ("vae", "ae", "vae-faces")


@pytest.fixture(scope="session")
def faces_npz(tmp_path_factory) -> Path:
    """30 random 128x128 RGB images (27 train, 3 test): enough to train vae-faces for one epoch."""
    path = tmp_path_factory.mktemp("faces") / "faces.npz"
    np.savez(path, x=np.random.default_rng(0).integers(0, 256, (30, 128, 128, 3), dtype=np.uint8))
    return path


def _overrides(data: Path, limit: int) -> list[str]:
    values = {"data.name": f'"npz:{data}"', "data.workers": 0, "training.samples": 0, "training.epochs": 1,
              "training.batch_size": 32, "training.limit": limit}
    return [f"{k}={v}" for k, v in values.items()]


@pytest.fixture(scope="session")
def runs(tmp_path_factory, small_npz, faces_npz) -> dict[str, Path]:
    """recipe -> a run folder trained for one short epoch (real Fashion-MNIST; random faces)."""
    root = tmp_path_factory.mktemp("runs")
    out = {}
    for recipe in RECIPES:
        data, limit = (faces_npz, 0) if recipe == "vae-faces" else (small_npz, 128)
        config = build_config(get_registry(), recipe, None, _overrides(data, limit))
        run_dir = root / recipe
        run_dir.mkdir()
        train(config, run_dir, progress=False, log=lambda line: None)
        out[recipe] = run_dir
    return out


@pytest.fixture(scope="session")
def exports(runs, tmp_path_factory) -> dict[str, object]:
    """recipe -> the ExportReport of exporting its run to ``RUN/onnx`` (the default place)."""
    from genkit.onnx.export_run import export_run

    return {recipe: export_run(run_dir) for recipe, run_dir in runs.items()}


@pytest.fixture
def export_copy(exports, tmp_path):
    """A private copy of a recipe's export folder, for tests that alter it."""
    def copy(recipe: str = "vae") -> Path:
        target = tmp_path / f"{recipe}-export"
        shutil.copytree(exports[recipe].out, target)
        return target
    return copy


@pytest.fixture
def run_copy(runs, tmp_path):
    """A private copy of a recipe's run folder (without its export), for tests that alter it."""
    def copy(recipe: str = "vae") -> Path:
        target = tmp_path / f"{recipe}-run"
        shutil.copytree(runs[recipe], target, ignore=shutil.ignore_patterns("onnx"))
        return target
    return copy


@pytest.fixture(scope="session")
def real_images(runs):
    """``real_images(recipe, count)``: the first test images of the recipe's run data (repeated to fill)."""
    import torch

    from genkit.data import batches, load_dataset
    from genkit.run.checkpoint import read_config

    def images(recipe: str, count: int) -> np.ndarray:
        config = read_config(runs[recipe])["config"]
        split = load_dataset(config["data"]["name"], tuple(config["model"]["input_shape"])).split("test")
        x = torch.cat([x for x, _ in batches(split, 256, torch.arange(len(split)))]).numpy()
        return np.ascontiguousarray(np.concatenate([x] * -(-count // len(x)))[:count])
    return images


@pytest.fixture(scope="session")
def family_export(tmp_path_factory):
    """``family_export(recipe)``: the export folder of a ``fixture_priors`` recipe, made once per session.

    Exported through ``export_model`` (the path ``genkit export`` takes after loading a run), verified on
    seeded random images: these models are built, not trained.
    """
    from genkit.onnx.export_model import export_model
    from genkit.onnx.probe import probe_images

    from . import fixture_priors

    root = tmp_path_factory.mktemp("families")
    made: dict[str, Path] = {}

    def export(recipe: str) -> Path:
        if recipe not in made:
            model = fixture_priors.build(recipe)
            out = root / recipe
            export_model(model, out, probe=probe_images(None, model.spec.input_shape, model.spec.classes),
                         components=fixture_priors.components(recipe), recipe=recipe, config=model.config.to_dict(),
                         opset=20, exporters=("dynamo", "torchscript"), atol=1e-5)
            made[recipe] = out
        return made[recipe]
    return export
