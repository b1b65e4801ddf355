"""An export folder runs where torch cannot be imported: the runtime API and the command line."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

HEAVY = ("torch", "genkit_plugins", "genkit.data", "genkit.run.checkpoint", "genkit.contract.model",
         "genkit.contract.host", "genkit.onnx", "onnx.", "genkit.contract.priors", "genkit.contract.components")


@pytest.fixture(scope="module")
def no_torch(tmp_path_factory) -> Path:
    """A folder to put first on PYTHONPATH: its ``torch`` package fails to import, like a missing torch."""
    root = tmp_path_factory.mktemp("no-torch")
    (root / "torch").mkdir()
    (root / "torch" / "__init__.py").write_text('raise ImportError("No module named \'torch\' (blocked)")\n')
    return root


def run(args: list[str], no_torch: Path, cwd: Path) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if not k.startswith("GENKIT_")}
    env["PYTHONPATH"] = str(no_torch)
    return subprocess.run([sys.executable, *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=120)


def test_the_runtime_api_without_torch(exports, no_torch, tmp_path):
    script = f"""
import json, sys
import numpy as np
from genkit.runtime import ExportedModel
model = ExportedModel({str(exports["vae-faces"].out)!r}, provider="auto")
images = model.generate(4, seed=0)
codes = model.codes(images)
again = model.reconstruct(images)
heavy = sorted(m for m in sys.modules if m.split(".")[0] == "torch" or m.startswith({HEAVY!r}))
print(json.dumps({{"shape": list(images.shape), "codes": list(codes.shape), "heavy": heavy,
                  "providers": model.providers}}))
"""
    result = run(["-c", script], no_torch, tmp_path)
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    assert report == {"shape": [4, 3, 128, 128], "codes": [4, 200], "heavy": [],
                      "providers": ["CPUExecutionProvider"]}


def test_genkit_generate_without_torch(exports, no_torch, tmp_path):
    result = run(["-m", "genkit", "generate", str(exports["vae"].out), "-n", "64", "-o", "grid.png",
                  "--npy", "samples.npy"], no_torch, tmp_path)
    assert result.returncode == 0, result.stderr
    assert Image.open(tmp_path / "grid.png").format == "PNG"
    assert np.load(tmp_path / "samples.npy").shape == (64, 1, 28, 28)


def test_genkit_generate_with_torch_set_to_none(exports, tmp_path):
    # The other way of making torch unimportable: a None entry in sys.modules.
    script = ("import sys; sys.modules['torch'] = None; sys.argv = ['genkit', 'generate', "
              f"{str(exports['ae'].out)!r}, '-n', '64', '-o', 'grid.png']; "
              "from genkit.cli import main; main()")
    result = subprocess.run([sys.executable, "-c", script], cwd=tmp_path, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert (tmp_path / "grid.png").is_file()


def test_genkit_encode_an_npy_array_without_torch(exports, no_torch, tmp_path):
    np.save(tmp_path / "images.npy", np.random.default_rng(0).random((5, 1, 28, 28), dtype=np.float32))
    result = run(["-m", "genkit", "encode", str(exports["vae"].out), "--images", "images.npy", "-o", "codes.npy"],
                 no_torch, tmp_path)
    assert result.returncode == 0, result.stderr
    assert np.load(tmp_path / "codes.npy").shape == (5, 2)


def test_a_run_folder_without_torch_is_one_clear_error(runs, no_torch, tmp_path):
    result = run(["-m", "genkit", "generate", str(runs["vae"]), "-o", "grid.png"], no_torch, tmp_path)
    assert result.returncode != 0
    assert "Traceback" not in result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "running one needs torch" in lines[0] and "genkit export --onnx" in lines[0]
    assert not (tmp_path / "grid.png").exists()


def test_importing_the_runtime_imports_neither_torch_nor_the_exporter(no_torch, tmp_path):
    # the runtime reads exports by genkit.export_contract, never by the torch side's genkit.onnx
    script = f"""
import json, sys
import genkit.runtime
from genkit.runtime.run_model import RunModel
heavy = sorted(m for m in sys.modules if m in ("torch", "onnx") or m.startswith({HEAVY!r}))
print(json.dumps({{"heavy": heavy, "contract": "genkit.export_contract.metadata" in sys.modules}}))
"""
    result = run(["-c", script], no_torch, tmp_path)
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout) == {"heavy": [], "contract": True}


def test_every_prior_family_and_a_condition_sample_without_torch(family_export, no_torch, tmp_path):
    folders = {recipe: str(family_export(recipe)) for recipe in ("mixture", "categorical", "network",
                                                                   "conditional-network")}
    script = f"""
import json, sys
import numpy as np
from genkit.runtime import ExportedModel
shapes = {{}}
for recipe, folder in {folders!r}.items():
    model = ExportedModel(folder, provider="cpu")
    labels = np.arange(3) % model.classes if model.classes else None
    images = model.generate(3, seed=1, labels=labels)
    shapes[recipe] = [list(images.shape), list(model.codes(images, labels).shape)]
heavy = sorted(m for m in sys.modules if m in ("torch", "onnx") or m.startswith({HEAVY!r}))
print(json.dumps({{"shapes": shapes, "heavy": heavy}}))
"""
    result = run(["-c", script], no_torch, tmp_path)
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    assert report["heavy"] == []
    assert report["shapes"] == {"mixture": [[3, 1, 8, 8], [3, 3]], "categorical": [[3, 1, 8, 8], [3, 4, 2, 3]],
                                "network": [[3, 1, 8, 8], [3, 4, 2, 3]],
                                "conditional-network": [[3, 1, 8, 8], [3, 4, 2, 3]]}


def test_genkit_generate_a_row_per_class_without_torch(family_export, no_torch, tmp_path):
    result = run(["-m", "genkit", "generate", str(family_export("conditional")), "--label", "all", "--columns", "2",
                  "--npy", "samples.npy"], no_torch, tmp_path)
    assert result.returncode == 0, result.stderr
    assert np.load(tmp_path / "samples.npy").shape == (6, 1, 8, 8)
