"""Damaged run folders and exports: missing or truncated files, tampered metadata."""

from __future__ import annotations

import shutil

import torch
from conftest import quick_overrides

from bad_inputs.registry import case, edit_json, rewrite_checkpoint, set_onnx_metadata
from genkit.config import build_config
from genkit.contract.host import get_registry


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


@case("config-json-of-other-recipe", r"recipe 'ae' records sampler 'gaussian' but its configuration names 'det")
def _(w):  # the recipe and its configuration swapped for another's, the recorded components left as they were
    run = w.run()

    def as_ae(document):
        config = build_config(get_registry(), "ae", None, quick_overrides(w.npz))
        document.update(recipe="ae", config=config.to_dict())
    edit_json(run / "config.json", as_ae)
    return ["generate", str(run), "-o", str(w.root / "grid.png")]


@case("config-json-recipe-renamed", r"config\.json names recipe 'ae' but its configuration is of recipe 'vae'")
def _(w):
    run = w.run()
    edit_json(run / "config.json", lambda d: d.update(recipe="ae"))
    return ["generate", str(run), "-o", str(w.root / "grid.png")]


@case("config-json-other-latent-size", r"does not match the model its config\.json describes")
def _(w):
    run = w.run()
    edit_json(run / "config.json", lambda d: d["config"]["model"].update(latent_shape=[3]))
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
    def point_at_code(document):  # consistently, so that the name reaches the registry
        document["config"]["model"]["encoder"] = document["components"]["encoder"]["name"] = "os:system"
    edit_json(run / "config.json", point_at_code)
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


@case("export-tampered-latent-size", r"latent_shape")
def _(w):
    export = w.export()
    set_onnx_metadata(export / "decoder.onnx", "genkit.latent_shape", '"two"')
    return ["generate", str(export), "-o", str(w.root / "grid.png")]


@case("export-newer-format", r"export format 99")
def _(w):
    export = w.export()
    for graph in ("encoder", "decoder"):
        set_onnx_metadata(export / f"{graph}.onnx", "genkit.format", "99")
    return ["generate", str(export), "-o", str(w.root / "grid.png")]


