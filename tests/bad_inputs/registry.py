"""The case registry, the per-case workspace, and helpers that damage copies of good files."""

from __future__ import annotations

import gzip
import json
import shutil
from collections.abc import Callable
from pathlib import Path

import numpy as np
from conftest import quick_overrides
from safetensors import safe_open
from safetensors.torch import save_file

STEMS = {"train": ("train-images-idx3-ubyte", "train-labels-idx1-ubyte"),
         "test": ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte")}


class Case:
    """A broken input: the ``genkit`` arguments that meet it and the pattern its error must match."""

    def __init__(self, build: Callable[[Workspace], list[str]], expect: str, plugin: bool):
        self.build, self.expect, self.plugin = build, expect, plugin


CASES: dict[str, Case] = {}


def case(name: str, expect: str, plugin: bool = False):
    def register(build):
        CASES[name] = Case(build, expect, plugin)
        return build
    return register


class Workspace:
    """One case's folder, with helpers that make broken copies of the good inputs inside it."""

    def __init__(self, root: Path, npz: Path, run: Path, export: Path):
        self.root, self.npz, self.good_run, self.good_export = root, npz, run, export
        # the cache is shared and outside the case's folder: onnxruntime writes into it whenever it runs
        self.env = {"XDG_CACHE_HOME": str(root.parent / "cache"), "GENKIT_DATA": str(root / "data")}
        self.plugin_paths: list[Path] = []

    def write(self, name: str, content: str | bytes) -> Path:
        path = self.root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(content.encode() if isinstance(content, str) else content)
        return path

    def sets(self, **extra) -> list[str]:
        return [a for s in quick_overrides(self.npz, **{"training.epochs": 1, "training.limit": 64, **extra})
                for a in ("--set", s)]

    def train(self, *extra: str, recipe: str = "vae", **sets) -> list[str]:
        return ["train", recipe, "-o", str(self.root / "out"), "--quiet", *self.sets(**sets), *extra]

    def run(self) -> Path:
        return Path(shutil.copytree(self.good_run, self.root / "run"))

    def export(self) -> Path:
        return Path(shutil.copytree(self.good_export, self.root / "export"))

    def fashion(self, **broken: Callable[[bytes], bytes]) -> list[str]:
        """A small Fashion-MNIST copy under $GENKIT_DATA, each named file passed through its breaker."""
        arrays = np.load(self.npz)
        folder = self.root / "data" / "fashion-mnist"
        folder.mkdir(parents=True)
        for split, (images, labels) in STEMS.items():
            x, y = (arrays["x"], arrays["y"]) if split == "train" else (arrays["x_test"], arrays["y_test"])
            for stem, array in ((images, x[:100]), (labels, y[:100])):
                data = bytes([0, 0, 8, array.ndim]) + b"".join(d.to_bytes(4, "big") for d in array.shape)
                data = gzip.compress(data + array.astype(np.uint8).tobytes())
                (folder / f"{stem}.gz").write_bytes(broken.get(stem.replace("-", "_"), lambda b: b)(data))
        return self.train("--data", "fashion-mnist")


def regzip(edit: Callable[[bytes], bytes]) -> Callable[[bytes], bytes]:
    return lambda data: gzip.compress(edit(gzip.decompress(data)))


def png(path: Path, size=(28, 28)) -> None:
    from PIL import Image

    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(np.zeros(size, dtype=np.uint8)).save(path)


def rewrite_checkpoint(run: Path, tensors: Callable[[dict], dict] = lambda t: t,
                       trainer: Callable[[dict], dict] = lambda t: t) -> None:
    path = run / "checkpoint.safetensors"
    with safe_open(str(path), "pt") as f:
        values, metadata = {k: f.get_tensor(k) for k in f.keys()}, dict(f.metadata())
    metadata["trainer"] = json.dumps(trainer(json.loads(metadata["trainer"])))
    save_file(tensors(values), str(path), metadata)


def edit_json(path: Path, edit: Callable[[dict], None]) -> None:
    document = json.loads(path.read_text())
    edit(document)
    path.write_text(json.dumps(document))


def set_onnx_metadata(path: Path, key: str, value: str) -> None:
    import onnx

    model = onnx.load(str(path))
    for prop in model.metadata_props:
        if prop.key == key:
            prop.value = value
    onnx.save(model, str(path))


