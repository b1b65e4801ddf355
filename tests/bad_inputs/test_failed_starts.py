"""A run that fails to start leaves no run folder behind, wherever the folder was to be.

What can be checked (settings, model, device, precision, data) is checked before the folder exists;
what shows only once training runs (an unreadable image, a NaN loss) removes the folder again, since
the run stopped before its first checkpoint. Each start is tried with ``-o``, with an empty folder
given as ``-o`` (it stays, empty), and with the default folder under ``./runs/`` (which goes too).
"""

from __future__ import annotations

import numpy as np
import pytest

from bad_inputs.harness import assert_fails_cleanly
from bad_inputs.registry import Workspace, png


def _unreadable_image(w: Workspace) -> list[str]:
    for i in range(12):
        png(w.root / "images" / f"good-{i}.png")
        w.write(f"images/broken-{i}.png", "this is not a picture")
    return ["--data", f"folder:{w.root / 'images'}", "--set", "data.workers=0"]


def _no_test_images(w: Workspace) -> list[str]:
    arrays = np.load(w.npz)
    np.savez(w.root / "no-test.npz", x=arrays["x"][:64], x_test=arrays["x_test"][:0])
    return ["--data", f"npz:{w.root / 'no-test.npz'}"]


STARTS = {
    "decoder-cannot-be-built": (lambda w: ["--set", "decoder.strides=[5,5,5,5]"], r"decoder .* cannot be built"),
    "fp16-on-a-cpu": (lambda w: ["--precision", "fp16", "--device", "cpu"], r"'fp16' needs a CUDA device"),
    "no-test-images": (_no_test_images, r"the test split of .* holds no images"),
    "unreadable-image": (_unreadable_image, r"cannot read image .*broken"),
    "nan-at-step-2": (lambda w: ["--lr", "1e30", "--batch-size", "32"],
                      r"the loss became nan at epoch 1, step 2; .* no checkpoint"),
    "nan-test-loss": (lambda w: ["--lr", "1e30"], r"the test loss became nan at epoch 1, step 1; .* no checkpoint"),
}
FOLDERS = ("out", "empty-out", "default")


@pytest.mark.parametrize("folder", FOLDERS)
@pytest.mark.parametrize("start", list(STARTS))
def test_a_failed_start_leaves_no_run_folder(start, folder, small_npz, good_run, good_export, tmp_path):
    w = Workspace(tmp_path, small_npz, good_run, good_export)
    extra, expect = STARTS[start]
    if folder == "empty-out":
        (tmp_path / "out").mkdir()
    out = [] if folder == "default" else ["-o", str(tmp_path / "out")]
    args = ["train", "vae", "--quiet", *w.sets(), *out, *extra(w)]
    assert_fails_cleanly(args, w.env, tmp_path, expect)  # in tmp_path: ./runs/ is watched too
