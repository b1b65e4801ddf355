"""Fixtures of the evaluation tests: a tiny trained VAE and AE, and a small cached classifier.

Everything is built once for the package: two one-epoch runs on 512 Fashion-MNIST images and a
classifier trained for one epoch on the same 512 images (enough to give features; the real default is
3 epochs on the whole training split). The likelihood takes 10 importance samples per image (50 by
default). The classifier cache lives in a temporary XDG_CACHE_HOME.
"""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner
from conftest import quick_overrides
from PIL import Image

from genkit.cli import cli
from genkit.config import build_config
from genkit.contract.host import get_registry
from genkit.evaluation.classifier import ClassifierSettings
from genkit.evaluation.likelihood import LikelihoodSettings
from genkit.training import Trainer

SMALL_CLASSIFIER = ClassifierSettings(epochs=1, limit=512)
SMALL_NLL = LikelihoodSettings(samples=10, images=0)  # 10 decodes per image instead of 50


@pytest.fixture(scope="package", autouse=True)
def evaluation_env(tmp_path_factory):
    """A private classifier cache; the small classifier and likelihood for every CLI call (through env vars)."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("XDG_CACHE_HOME", str(tmp_path_factory.mktemp("xdg-cache")))
        patch.setenv("GENKIT_CLASSIFIER_EPOCHS", str(SMALL_CLASSIFIER.epochs))
        patch.setenv("GENKIT_CLASSIFIER_LIMIT", str(SMALL_CLASSIFIER.limit))
        patch.setenv("GENKIT_NLL_SAMPLES", str(SMALL_NLL.samples))
        yield


def train_run(recipe: str, npz: Path, root: Path) -> Path:
    """A one-epoch run of ``recipe`` on ``npz`` in ``root/RECIPE``, trained with the installed registry."""
    run = root / recipe
    config = build_config(get_registry(), recipe, None,
                          quick_overrides(npz, **{"training.epochs": 1, "training.samples": 0}))
    Trainer(config, run, progress=False, log=lambda line: None).run()
    return run


@pytest.fixture(scope="package")
def runs(small_npz, tmp_path_factory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("runs")
    return {recipe: train_run(recipe, small_npz, root) for recipe in ("vae", "ae")}


@pytest.fixture(scope="package")
def vae_run(runs) -> Path:
    return runs["vae"]


@pytest.fixture(scope="package")
def ae_run(runs) -> Path:
    return runs["ae"]


@pytest.fixture(scope="package")
def vae_source(vae_run):
    from genkit.evaluation.source import open_source

    return open_source(vae_run)


@pytest.fixture(scope="package")
def ae_source(ae_run):
    from genkit.evaluation.source import open_source

    return open_source(ae_run)


def export(run: Path, out: Path) -> Path:
    """``genkit export --onnx RUN -o OUT``."""
    result = CliRunner().invoke(cli, ["export", "--onnx", str(run), "-o", str(out), "--quiet"])
    assert result.exit_code == 0, result.output
    return out


@pytest.fixture(scope="package")
def vae_export(vae_run, tmp_path_factory) -> Path:
    return export(vae_run, tmp_path_factory.mktemp("exports") / "vae")


@pytest.fixture(scope="package")
def ae_export(ae_run, tmp_path_factory) -> Path:
    return export(ae_run, tmp_path_factory.mktemp("exports") / "ae")


def check_png(data: bytes, min_width: int = 300, min_height: int = 150) -> None:
    """A real PNG of at least the given size that is not (nearly) blank."""
    image = Image.open(io.BytesIO(data))
    assert image.format == "PNG"
    assert image.width >= min_width and image.height >= min_height, image.size
    pixels = np.asarray(image.convert("L"), dtype=np.float32)
    assert pixels.std() > 10, "the image is (nearly) blank"


def invoke(*args: str):
    """Run the genkit CLI in-process; returns (exit code, output with stderr)."""
    result = CliRunner().invoke(cli, [str(a) for a in args])
    return result.exit_code, result.output
