"""Outputs that would destroy an input or write into a run or export folder that is not the command's."""

from __future__ import annotations

import numpy as np

from bad_inputs.registry import case, png


@case("generate-over-its-graph", r"export/decoder\.onnx is inside .*export, which this command reads")
def _(w):
    export = w.export()
    return ["generate", str(export), "-o", str(export / "decoder.onnx")]


@case("generate-npy-into-a-run", r"inside the run folder .*run, which only `genkit train` writes")
def _(w):
    return ["generate", str(w.export()), "--npy", str(w.run() / "samples.npy")]


@case("encode-into-its-run", r"codes\.npy is inside .*run, which this command reads")
def _(w):
    run = w.run()
    return ["encode", str(run), "-o", str(run / "codes.npy")]


@case("reconstruct-over-its-images", r"images\.npy is .*images\.npy, which this command reads")
def _(w):
    np.save(w.root / "images.npy", np.zeros((4, 1, 28, 28), np.float32))
    return ["reconstruct", str(w.export()), "--images", str(w.root / "images.npy"), "-o", str(w.root / "images.npy")]


@case("plot-into-an-export", r"inside the export folder .*export, which only `genkit export` writes")
def _(w):
    return ["plot", str(w.run()), "samples", "-o", str(w.export() / "samples.png")]


@case("report-into-the-other-source", r"report\.html is inside .*export, which this command reads")
def _(w):
    export = w.export()
    return ["report", str(w.run()), str(export), "-o", str(export)]


@case("export-into-its-run", r"run/elsewhere is inside .*run, which this command reads")
def _(w):
    run = w.run()
    return ["export", "--onnx", str(run), "-o", str(run / "elsewhere")]


@case("train-into-a-run", r"out is inside the run folder .*run, which only `genkit train` writes")
def _(w):
    return ["train", "vae", "-o", str(w.run() / "out"), "--quiet", *w.sets()]


@case("train-into-its-image-folder", r"images/run is inside .*images, which this command reads")
def _(w):
    for i in range(12):
        png(w.root / "images" / f"{i}.png")
    return ["train", "vae", "-o", str(w.root / "images" / "run"), "--quiet", *w.sets(),
            "--data", f"folder:{w.root / 'images'}"]
