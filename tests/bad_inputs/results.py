"""Results that would lie: a score measured on no images, an export that is not the opset asked for."""

from __future__ import annotations

import numpy as np

from bad_inputs.registry import case, png


def _npz(w, name: str, train: int, test: int) -> str:
    arrays = np.load(w.npz)
    np.savez(w.root / name, x=arrays["x"][:train], y=arrays["y"][:train],
             x_test=arrays["x_test"][:test], y_test=arrays["y_test"][:test])
    return f"npz:{w.root / name}"


@case("npz-no-train-images", r"the train split of npz:.*none-train\.npz holds no images")
def _(w):
    return w.train("--data", _npz(w, "none-train.npz", 0, 16))


@case("npz-no-test-images", r"the test split of npz:.*none-test\.npz holds no images; .* measure its test loss")
def _(w):
    return w.train("--data", _npz(w, "none-test.npz", 64, 0))


@case("folder-of-one-image", r"the test split of folder:.*one holds no images")
def _(w):  # one image goes to the train split, none is left to test on
    png(w.root / "one" / "only.png")
    return w.train("--data", f"folder:{w.root / 'one'}", **{"data.workers": 0})


@case("evaluate-one-image", r"evaluation needs at least two images; the test split has 1")
def _(w):
    return ["evaluate", str(w.run()), "--data", _npz(w, "one-test.npz", 64, 1)]


@case("export-opset-too-old", r"dynamo: it wrote opset 18, not the 7 asked for; torchscript: .*opset version 7")
def _(w):  # the dynamo exporter writes opset 18 when asked for an older one: not what --opset promised
    return ["export", "--onnx", str(w.run()), "-o", str(w.root / "export-out"), "--opset", "7", "--quiet"]


@case("export-opset-unknown", r"dynamo: it wrote opset \d+, not the 99 asked for; torchscript: .*99")
def _(w):
    return ["export", "--onnx", str(w.run()), "-o", str(w.root / "export-out"), "--opset", "99", "--quiet"]
