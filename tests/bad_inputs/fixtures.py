"""The good inputs the bad ones are made from: a trained run and its export, built once per session.

The fixtures are imported by the bad-input matrix (``tests/test_bad_input.py``) and by the tests in this
folder; the builders are cached, so both get the same run and export and neither trains twice.
"""

from __future__ import annotations

import functools
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import quick_overrides

from genkit.config import build_config
from genkit.contract.host import get_registry
from genkit.training import Trainer


@functools.cache
def trained_run(npz: Path, base: Path, recipe: str = "vae", name: str = "good-run") -> Path:
    """A one-epoch run of ``recipe`` on 64 images."""
    run = base / name
    run.mkdir()
    config = build_config(get_registry(), recipe, None,
                          quick_overrides(npz, **{"training.epochs": 1, "training.limit": 64}))
    Trainer(config, run, progress=False).run()
    return run


@functools.cache
def exported_run(run: Path, base: Path, name: str = "good-export", *exporter: str) -> Path:
    out = base / name
    result = subprocess.run([sys.executable, "-m", "genkit", "export", "--onnx", str(run), "-o", str(out),
                             *exporter, "--quiet"], capture_output=True, text=True, timeout=300, cwd=base)
    assert result.returncode == 0, result.stderr
    return out


def conditional_export(npz: Path, base: Path) -> Path:
    """A one-epoch ``cvae`` (conditional on the 10 classes) and its export (the quick TorchScript exporter)."""
    run = trained_run(npz, base, "cvae", "good-cvae-run")
    return exported_run(run, base, "good-cvae-export", "--exporter", "torchscript")


@pytest.fixture(scope="session")
def good_run(small_npz, tmp_path_factory) -> Path:
    return trained_run(small_npz, tmp_path_factory.getbasetemp())


@pytest.fixture(scope="session")
def good_export(good_run, tmp_path_factory) -> Path:
    return exported_run(good_run, tmp_path_factory.getbasetemp())


@pytest.fixture(scope="session")
def good_cvae_export(small_npz, tmp_path_factory) -> Path:
    return conditional_export(small_npz, tmp_path_factory.getbasetemp())
