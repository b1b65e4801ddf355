"""Sizes that cannot fit in this machine's memory are refused before any work, in one line.

The model is measured on torch's meta device (``genkit.memory``), so neither the check nor the refusal
allocates anything; without it each of these would end in the allocator's traceback, or numpy's
"Maximum allowed dimension exceeded". The line names the setting, the bytes it implies and what is
available.
"""

from __future__ import annotations

import pytest

from bad_inputs.harness import assert_fails_cleanly
from bad_inputs.registry import Workspace

HUGE = "1000000000000"
FITS = r"needs [\d.]+ PiB \(a model of [\d,]+ parameters to {}.*; this machine has [\d.]+ \w+ of memory available"

SIZES = {
    "train-latent-shape": (lambda w: w.train("--set", f"model.latent_shape=[{HUGE}]"),
                           rf"model\.latent_shape=\[{HUGE}\] " + FITS.format("train on batches of 64")),
    "summary-latent-shape": (lambda w: ["summary", "vae", "--set", f"model.latent_shape=[{HUGE}]"],
                             rf"model\.latent_shape=\[{HUGE}\] " + FITS.format("run on batches of 2")),
    "train-cvae-classes": (lambda w: w.train("--set", f"model.classes={HUGE}", recipe="cvae"),
                           rf"model\.classes={HUGE} " + FITS.format("train")),
    "summary-cvae-classes": (lambda w: ["summary", "cvae", "--set", f"model.classes={HUGE}"],
                             rf"model\.classes={HUGE} " + FITS.format("run")),
    "evaluate-nll-samples": (lambda w: ["evaluate", str(w.run()), "--nll-samples", "99999999999999999999",
                                        "--limit", "8"],
                             r"--nll-samples 99999999999999999999 needs [\d.e+]+ bytes .* available: at most "
                             r"--nll-samples [\d,]+ fit"),
    "report-nll-samples": (lambda w: ["report", str(w.run()), "-o", str(w.root / "report"), "--nll-samples",
                                      "99999999999999999999", "--limit", "8"],
                           r"--nll-samples 99999999999999999999 needs .* at most --nll-samples [\d,]+ fit"),
}


@pytest.mark.parametrize("size", list(SIZES))
def test_a_size_that_cannot_fit_is_one_line_before_any_work(size, small_npz, good_run, good_export, tmp_path):
    w = Workspace(tmp_path, small_npz, good_run, good_export)
    build, expect = SIZES[size]
    assert_fails_cleanly(build(w), w.env, tmp_path, expect, progress=r"^evaluating ")
