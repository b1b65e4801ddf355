"""The bad-input matrix: every malformed input gives one clear error line, never a traceback.

Each case builds its broken input (a config file, data under ``GENKIT_DATA``, a damaged copy of a run
folder or an export, a command line, a plugin on ``PYTHONPATH``) in the case's own folder and runs
one ``genkit`` command. It must exit non-zero, print exactly one ``Error:`` line that matches the
case's pattern (so the line names the problem), print no traceback, and leave every file that
existed before byte-for-byte as it was.
"""

from __future__ import annotations

import gzip
import json
import os
import re
import shutil
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
import torch
from click.testing import CliRunner
from conftest import quick_overrides
from plugin_fixtures import write_plugin
from safetensors import safe_open
from safetensors.torch import save_file

from genkit.cli import cli
from genkit.config import build_config
from genkit.plugins import get_registry
from genkit.training import Trainer

# Lines allowed besides the error: click's usage hint, plugin warnings, and the line that says a
# training has started (some data is only found broken when the first batch is read).
CONTEXT_LINE = re.compile(r"^(Usage: |Try '|genkit: warning: |training \S+ on \S+ into )")
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
        self.env = {"XDG_CACHE_HOME": str(root / "cache"), "GENKIT_DATA": str(root / "data")}
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


# -- configurations -------------------------------------------------------------------------------

@case("config-toml-syntax", r"bad\.toml is not valid TOML")
def _(w):
    return w.train("--config", str(w.write("bad.toml", "[training\nepochs = 3\n")))


@case("config-wrong-type", r"training\.lr_decay_step must be an integer, got 'ten'")
def _(w):
    return w.train("--config", str(w.write("c.toml", '[training]\nlr_decay_step = "ten"\n')))


@case("config-out-of-range", r"training\.lr must be >= 0\.0")
def _(w):
    return w.train("--config", str(w.write("c.toml", "[training]\nlr = -0.5\n")))


@case("config-unknown-key", r"unknown setting training\.epoch; did you mean training\.epochs")
def _(w):
    return w.train("--config", str(w.write("c.toml", "[training]\nepoch = 3\n")))


@case("config-unknown-section", r"unknown section \[trainig\].*did you mean \[training\]")
def _(w):
    return w.train("--config", str(w.write("c.toml", "[trainig]\nepochs = 3\n")))


@case("config-other-recipe", r"c\.toml is for recipe 'ae', not 'vae'")
def _(w):
    return w.train("--config", str(w.write("c.toml", 'recipe = "ae"\n')))


@case("config-missing-file", r"config file .*nope\.toml does not exist")
def _(w):
    return w.train("--config", str(w.root / "nope.toml"))


@case("config-negative-layer", r"encoder\.filters must contain only positive values")
def _(w):
    return w.train("--set", "encoder.filters=[32,-1,64,64]")


@case("config-input-shape", r"model\.input_shape must be \[channels, height, width\]")
def _(w):
    return w.train("--set", "model.input_shape=[1,28]")


@case("set-without-value", r"--set 'training\.epochs' is not of the form section\.key=value")
def _(w):
    return w.train("--set", "training.epochs")


@case("set-bad-choice", r"training\.precision must be one of 'fp32', 'bf16', 'fp16'; got 'fp8'")
def _(w):
    return w.train("--set", "training.precision=fp8")


@case("fp16-on-cpu", r"'fp16' needs a CUDA device")
def _(w):
    return w.train("--precision", "fp16", "--device", "cpu")


# -- data -----------------------------------------------------------------------------------------

@case("idx-missing-dataset", r"dataset mnist not found; looked in")
def _(w):
    if Path("/usr/share/datasets/mnist").exists():
        pytest.skip("MNIST is installed system-wide here")
    return w.train("--data", "mnist")


@case("idx-truncated", r"corrupt IDX file .*train-images-idx3-ubyte\.gz: size mismatch")
def _(w):
    return w.fashion(train_images_idx3_ubyte=regzip(lambda b: b[:-500]))


@case("idx-bad-gzip", r"corrupt IDX file .*t10k-images-idx3-ubyte\.gz: bad gzip data")
def _(w):
    return w.fashion(t10k_images_idx3_ubyte=lambda b: b[:len(b) // 2])


@case("idx-label-count", r"train labels and images of dataset fashion-mnist disagree.*holds 99 labels")
def _(w):
    return w.fashion(train_labels_idx1_ubyte=regzip(lambda b: b[:4] + (99).to_bytes(4, "big") + b[8:-1]))


@case("idx-label-out-of-range", r"corrupt IDX file .*train-labels.*label 12 is out of range 0\.\.9")
def _(w):
    return w.fashion(train_labels_idx1_ubyte=regzip(lambda b: b[:-1] + bytes([12])))


@case("idx-not-idx", r"corrupt IDX file .*train-images.*bad magic number")
def _(w):
    return w.fashion(train_images_idx3_ubyte=lambda b: gzip.compress(b"<html>not found</html>"))


@case("npz-wrong-image-size", r"has 1×32×32 images but recipe expects 1×28×28")
def _(w):
    np.savez(w.root / "big.npz", x=np.zeros((20, 32, 32), np.uint8))
    return w.train("--data", f"npz:{w.root / 'big.npz'}")


@case("npz-missing", r"npz file .*absent\.npz does not exist")
def _(w):
    return w.train("--data", f"npz:{w.root / 'absent.npz'}")


@case("npz-not-an-archive", r"cannot read npz file .*text\.npz")
def _(w):
    return w.train("--data", f"npz:{w.write('text.npz', 'just some text')}")


@case("npz-float-range", r"x holds floats in \[0, 255\]; expected uint8")
def _(w):
    np.savez(w.root / "f.npz", x=np.linspace(0, 255, 20 * 784, dtype=np.float32).reshape(20, 28, 28))
    return w.train("--data", f"npz:{w.root / 'f.npz'}")


@case("folder-empty", r"image folder .*empty holds no images")
def _(w):
    (w.root / "empty").mkdir()
    return w.train("--data", f"folder:{w.root / 'empty'}")


@case("folder-missing", r"image folder .*nowhere does not exist")
def _(w):
    return w.train("--data", f"folder:{w.root / 'nowhere'}")


@case("folder-non-image", r"cannot read image .*\.png")
def _(w):
    for i in range(12):
        png(w.root / "images" / f"good-{i}.png")
        w.write(f"images/broken-{i}.png", "this is not a picture")
    return w.train("--data", f"folder:{w.root / 'images'}", **{"data.workers": 0})


@case("folder-channels", r"image folders can be read as 1×H×W \(grayscale\) or 3×H×W")
def _(w):
    png(w.root / "images" / "a.png")
    return w.train("--data", f"folder:{w.root / 'images'}", "--set", "model.input_shape=[2,28,28]")


# -- run folders ----------------------------------------------------------------------------------

@case("resume-missing-folder", r"run folder .*ghost does not exist")
def _(w):
    return ["train", "--resume", str(w.root / "ghost")]


@case("resume-truncated-checkpoint", r"checkpoint\.safetensors is corrupt or truncated")
def _(w):
    run = w.run()
    data = (run / "checkpoint.safetensors").read_bytes()
    (run / "checkpoint.safetensors").write_bytes(data[:len(data) // 3])
    return ["train", "--resume", str(run), "--epochs", "2", "--quiet"]


@case("resume-other-recipe", r"is a run of recipe 'vae', not 'ae'")
def _(w):
    return ["train", "ae", "--resume", str(w.run()), "--epochs", "2"]


@case("resume-changes-lr", r"training\.lr cannot change when resuming")
def _(w):
    return ["train", "--resume", str(w.run()), "--set", "training.lr=0.1"]


@case("checkpoint-order-tampered", r"holds a data order for 100 images, not a permutation of the 64")
def _(w):
    run = w.run()
    rewrite_checkpoint(run, lambda t: {**t, "data.permutation": torch.arange(100, 200)},
                       lambda s: {**s, "step": 1})
    return ["train", "--resume", str(run), "--epochs", "2", "--quiet"]


@case("checkpoint-counter-tampered", r"has a corrupt trainer state")
def _(w):
    run = w.run()
    rewrite_checkpoint(run, trainer=lambda s: {**s, "epoch": -3})
    return ["train", "--resume", str(run), "--epochs", "2", "--quiet"]


@case("checkpoint-rng-tampered", r"random-number state is corrupt")
def _(w):
    run = w.run()
    rewrite_checkpoint(run, lambda t: {**t, "rng.torch": torch.zeros(7, dtype=torch.uint8)})
    return ["train", "--resume", str(run), "--epochs", "2", "--quiet"]


@case("samples-symlink-escape", r"samples leads out of the run folder")
def _(w):
    run = w.run()
    (w.root / "elsewhere").mkdir()
    shutil.rmtree(run / "samples")
    (run / "samples").symlink_to(w.root / "elsewhere")
    return ["train", "--resume", str(run), "--epochs", "2", "--quiet"]


@case("weights-missing", r"model\.safetensors is missing")
def _(w):
    run = w.run()
    (run / "model.safetensors").unlink()
    return ["export", "--onnx", str(run), "-o", str(w.root / "export-out"), "--quiet"]


@case("weights-truncated", r"model\.safetensors is corrupt or truncated")
def _(w):
    run = w.run()
    data = (run / "model.safetensors").read_bytes()
    (run / "model.safetensors").write_bytes(data[:-1000])
    return ["generate", str(run), "-o", str(w.root / "grid.png")]


@case("config-json-of-other-recipe", r"does not match the model its config\.json describes")
def _(w):
    run = w.run()

    def as_ae(document):
        config = build_config(get_registry(), "ae", None, quick_overrides(w.npz))
        document.update(recipe="ae", config=config)
    edit_json(run / "config.json", as_ae)
    return ["generate", str(run), "-o", str(w.root / "grid.png")]


@case("config-json-newer-format", r"run-folder format 99 .*upgrade genkit")
def _(w):
    run = w.run()
    edit_json(run / "config.json", lambda d: d.update(format_version=99))
    return ["train", "--resume", str(run), "--epochs", "2"]


@case("config-json-garbage", r"config\.json is corrupt")
def _(w):
    run = w.run()
    (run / "config.json").write_text('{"format_version": 1, "config": ')
    return ["export", "--onnx", str(run), "-o", str(w.root / "export-out")]


@case("config-json-code-reference", r"unknown encoder 'os:system'")
def _(w):  # names in config.json are looked up among registered plugins, never imported
    run = w.run()
    edit_json(run / "config.json", lambda d: d["config"]["model"].update(encoder="os:system"))
    return ["train", "--resume", str(run), "--epochs", "2"]


@case("config-json-path-key", r"unknown setting training\.samples_dir")
def _(w):  # no setting names a path inside the run folder, so none can point out of it
    run = w.run()
    edit_json(run / "config.json", lambda d: d["config"]["training"].update(samples_dir="../../elsewhere"))
    return ["train", "--resume", str(run), "--epochs", "2"]


# -- exports --------------------------------------------------------------------------------------

@case("export-missing-graph", r"decoder\.onnx")
def _(w):
    export = w.export()
    (export / "decoder.onnx").unlink()
    return ["generate", str(export), "-o", str(w.root / "grid.png")]


@case("export-garbage-graph", r"encoder\.onnx")
def _(w):
    export = w.export()
    (export / "encoder.onnx").write_bytes(b"\x08\x07garbage" * 100)
    return ["generate", str(export), "-o", str(w.root / "grid.png")]


@case("export-tampered-latent-size", r"latent_size")
def _(w):
    export = w.export()
    set_onnx_metadata(export / "decoder.onnx", "genkit.latent_size", '"two"')
    return ["generate", str(export), "-o", str(w.root / "grid.png")]


@case("export-newer-format", r"export format 99")
def _(w):
    export = w.export()
    for graph in ("encoder", "decoder"):
        set_onnx_metadata(export / f"{graph}.onnx", "genkit.format", "99")
    return ["generate", str(export), "-o", str(w.root / "grid.png")]


# -- command line ---------------------------------------------------------------------------------

@case("cli-unknown-recipe", r"unknown recipe 'vea'; did you mean 'vae'")
def _(w):
    return w.train(recipe="vea")


@case("cli-no-recipe", r"name a recipe to train")
def _(w):
    return ["train"]


@case("cli-unknown-command", r"No such command 'trian'.*Did you mean 'train'")
def _(w):
    return ["trian", "vae"]


@case("cli-not-an-integer", r"Invalid value for '--epochs': 'ten' is not a valid integer")
def _(w):
    return w.train("--epochs", "ten")


@case("cli-nproc-zero", r"Invalid value for '--nproc'")
def _(w):
    return w.train("--nproc", "0")


@case("cli-nproc-indivisible", r"training\.batch_size 64 .* not divisible by the 3 processes")
def _(w):
    return w.train("--nproc", "3")


@case("cli-out-is-a-file", r"'--out': Directory .*out' is a file")
def _(w):
    w.write("out", "a file where the run folder would go")
    return w.train()


@case("cli-out-holds-a-run", r"is not empty; resume it with `genkit train --resume")
def _(w):
    return ["train", "vae", "-o", str(w.run()), "--quiet", *w.sets()]


# -- plugins --------------------------------------------------------------------------------------

@case("plugin-import-error-strict", r"plugin 'broken'.*import of 'broken_plugin' failed: RuntimeError: boom", True)
def _(w):
    write_plugin(w.root / "site", "broken_plugin", "raise RuntimeError('boom')\n", entry_name="broken")
    w.plugin_paths.append(w.root / "site")
    w.env["GENKIT_STRICT_PLUGINS"] = "1"
    return ["list"]


@case("plugin-hook-raises-strict", r"hook register_recipes raised ValueError: half a recipe", True)
def _(w):
    write_plugin(w.root / "site", "broken_plugin", "from genkit.hookspecs import hookimpl\n\n@hookimpl\n"
                 "def register_recipes(register):\n    raise ValueError('half a recipe')\n", entry_name="broken")
    w.plugin_paths.append(w.root / "site")
    w.env["GENKIT_STRICT_PLUGINS"] = "1"
    return w.train()


@case("plugin-duplicate-name", r"recipe 'vae' is registered by both plugin 'vae' and plugin 'dupe'", True)
def _(w):
    write_plugin(w.root / "site", "dupe_plugin", "from genkit.hookspecs import hookimpl\n\n@hookimpl\n"
                 "def register_recipes(register):\n    register('vae', encoder='conv', sampler='gaussian', "
                 "decoder='transposed-conv', loss='vae', input_shape=(1, 28, 28), z_dim=2)\n", entry_name="dupe")
    w.plugin_paths.append(w.root / "site")
    w.env["GENKIT_STRICT_PLUGINS"] = "1"
    return ["list"]


@case("plugin-broken-recipe-used", r"unknown recipe 'shiny'", True)
def _(w):  # not strict: the plugin is skipped with a warning, and its recipe is then unknown
    write_plugin(w.root / "site", "shiny_plugin", "import no_such_dependency\n", entry_name="shiny")
    w.plugin_paths.append(w.root / "site")
    return w.train(recipe="shiny")


# -- the test -------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def good_run(small_npz, tmp_path_factory) -> Path:
    run = tmp_path_factory.mktemp("good") / "run"
    run.mkdir()
    config = build_config(get_registry(), "vae", None,
                          quick_overrides(small_npz, **{"training.epochs": 1, "training.limit": 64}))
    Trainer(config, run, progress=False).run()
    return run


@pytest.fixture(scope="module")
def good_export(good_run, tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("export") / "export"
    result = subprocess.run([sys.executable, "-m", "genkit", "export", "--onnx", str(good_run), "-o", str(out),
                             "--quiet"], capture_output=True, text=True, timeout=300, cwd=out.parent)
    assert result.returncode == 0, result.stderr
    return out


def snapshot(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*"))
            if p.is_file() and not p.is_symlink()}


def invoke(args: list[str], w: Workspace, plugin: bool) -> tuple[int, str]:
    if plugin:  # plugins are discovered once per process: a fresh one sees this case's
        env = {k: v for k, v in os.environ.items() if not k.startswith("GENKIT_") and k != "PYTHONPATH"}
        env.update(w.env, PYTHONPATH=os.pathsep.join(map(str, w.plugin_paths)))
        result = subprocess.run([sys.executable, "-m", "genkit", *args], capture_output=True, text=True,
                                timeout=120, env=env, cwd=w.root)
        return result.returncode, result.stdout + result.stderr
    result = CliRunner(env=w.env).invoke(cli, args)
    if result.exception is not None and not isinstance(result.exception, SystemExit):
        import traceback

        return 99, "".join(traceback.format_exception(result.exception))  # a crash: shown with its traceback
    return result.exit_code, result.output


def test_there_are_enough_cases():
    assert len(CASES) >= 25


@pytest.mark.parametrize("name", list(CASES))
def test_bad_input_gives_one_clear_error(name, small_npz, good_run, good_export, tmp_path):
    workspace = Workspace(tmp_path, small_npz, good_run, good_export)
    bad = CASES[name]
    args = bad.build(workspace)
    before = snapshot(tmp_path)
    code, output = invoke(args, workspace, bad.plugin)
    assert code != 0, output
    assert "Traceback" not in output, output
    lines = [line for line in output.splitlines() if line.strip()]
    errors = [line for line in lines if line.startswith("Error:")]
    assert len(errors) == 1, output
    assert re.search(bad.expect, errors[0]), errors[0]
    assert all(line in errors or CONTEXT_LINE.match(line) for line in lines), output
    after = snapshot(tmp_path)
    assert {k: v for k, v in after.items() if k in before} == before, "an existing file was changed or removed"


# -- security -------------------------------------------------------------------------------------

UNSAFE_LOADS = re.compile(r"torch\.load\((?![^)]*weights_only=True)|^\s*(import|from) (pickle|dill|marshal|shelve)\b"
                          r"|allow_pickle=True|yaml\.load\(|\bexec\(|(?<![.\w])eval\(", re.MULTILINE)


def test_no_source_file_can_unpickle():
    repo = Path(__file__).resolve().parents[1]
    offenders = [f"{path.relative_to(repo)}: {match.group(0)}"
                 for folder in ("genkit", "plugins") for path in sorted((repo / folder).rglob("*.py"))
                 for match in UNSAFE_LOADS.finditer(path.read_text(encoding="utf-8"))]
    assert not offenders


def test_loading_and_resuming_a_run_never_unpickles(good_run, tmp_path, monkeypatch):
    import pickle

    import genkit

    def refuse(*args, **kwargs):
        raise AssertionError("a run folder was unpickled")
    for module, name in ((pickle, "load"), (pickle, "loads"), (pickle, "Unpickler"), (torch, "load")):
        monkeypatch.setattr(module, name, refuse)
    run = Path(shutil.copytree(good_run, tmp_path / "run"))
    assert not genkit.load(run).training
    result = CliRunner().invoke(cli, ["train", "--resume", str(run), "--epochs", "2", "--quiet"])
    assert result.exit_code == 0, result.output
