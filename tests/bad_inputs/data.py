"""Broken data: IDX files under $GENKIT_DATA, npz archives and image folders."""

from __future__ import annotations

import gzip
from pathlib import Path

import numpy as np
import pytest

from bad_inputs.registry import case, png, regzip


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


@case("npz-not-an-archive", r"text\.npz is not a complete \.npz archive \(a zip of \.npy arrays")
def _(w):
    return w.train("--data", f"npz:{w.write('text.npz', 'just some text')}")


@case("npz-truncated", r"cut\.npz is not a complete \.npz archive")
def _(w):
    np.savez(w.root / "whole.npz", x=np.zeros((20, 28, 28), np.uint8))
    data = (w.root / "whole.npz").read_bytes()
    return w.train("--data", f"npz:{w.write('cut.npz', data[:len(data) // 2])}")


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


