"""Every command that writes, against a full disk, a read-only one and a path under a regular file.

Each must fail cleanly (``harness.assert_fails_cleanly``): one line naming the path and the reason, no
traceback, no temporary file or new folder left behind, and whatever was there before kept as it was,
including a run being resumed there.
"""

from __future__ import annotations

import shutil
from collections.abc import Callable
from pathlib import Path
from typing import NamedTuple

import pytest

from bad_inputs.harness import assert_fails_cleanly
from bad_inputs.places import KINDS, Place
from bad_inputs.registry import Workspace

REASONS = {"full": "no space left on the device", "read-only": "the file system is read-only|permission denied",
           "under-a-file": r".*/place/file is a file, not a folder"}
# the classifier behind the report's figures is trained once per session, on a few images
REPORT = ["--limit", "16", "--classifier-epochs", "1", "--classifier-limit", "64"]
MIRROR = "file:///usr/share/datasets/fashion-mnist/"


class Writer(NamedTuple):
    args: Callable[[Workspace, Path], list[str]]  # the command, writing under the given folder
    room: int = 0  # bytes left on a full disk
    progress: str = ""  # lines the command prints while it works, before it writes


def _resume(w: Workspace, out: Path) -> list[str]:
    run = Path(shutil.copytree(w.good_run, out / "run"))  # a run on the disk that fills up (or freezes)
    return ["train", "--resume", str(run), "--epochs", "2", "--quiet"]


WRITERS = {
    "train": Writer(lambda w, out: ["train", "vae", "-o", str(out / "run"), "--quiet", *w.sets()]),
    # room for config.json, not for the checkpoint: the run folder goes again
    "train-checkpoint-does-not-fit": Writer(lambda w, out: ["train", "vae", "-o", str(out / "run"), "--quiet",
                                                            *w.sets()], room=65536),
    "train-resume": Writer(_resume),
    "export": Writer(lambda w, out: ["export", "--onnx", str(w.run()), "-o", str(out / "export"),
                                     "--exporter", "torchscript", "--quiet"]),
    "generate": Writer(lambda w, out: ["generate", str(w.export()), "-o", str(out / "grid.png")]),
    "generate-npy": Writer(lambda w, out: ["generate", str(w.export()), "--npy", str(out / "samples.npy")]),
    "reconstruct": Writer(lambda w, out: ["reconstruct", str(w.export()), "-o", str(out / "recon.png")]),
    "encode": Writer(lambda w, out: ["encode", str(w.run()), "-o", str(out / "codes.npy")]),
    "encode-npz": Writer(lambda w, out: ["encode", str(w.export()), "-o", str(out / "codes.npz")]),
    "plot": Writer(lambda w, out: ["plot", str(w.run()), "samples", "--count", "4", "-o", str(out / "s.png")]),
    "report": Writer(lambda w, out: ["report", str(w.run()), "-o", str(out / "report"), *REPORT],
                     progress=r"^(evaluating|drawing|training the evaluation classifier|classifier epoch|evaluation "
                              r"classifier:|importance sampling:) "),
    "data-download": Writer(lambda w, out: ["data", "download", "fashion-mnist", "--dir", str(out / "data")],
                            progress=r"^downloading "),
    "bench": Writer(lambda w, out: ["bench", "gpu", "--tiny", "--threads", "1", "--out", str(out / "bench")],
                    progress=r"^\[gpu\] "),
}
PAIRS = [(name, kind) for name in WRITERS for kind in KINDS
         if not (name == "train-resume" and kind == "under-a-file")  # no run can lie under a file
         and not (name == "train-checkpoint-does-not-fit" and kind != "full")]


@pytest.mark.parametrize("writer, place", PAIRS, indirect=["place"])
def test_a_write_that_fails_says_so_in_one_line_and_changes_nothing(writer, place: Place, small_npz, good_run,
                                                                    good_export, tmp_path):
    w = Workspace(tmp_path, small_npz, good_run, good_export)
    w.env.update(GENKIT_DATA_MIRROR=MIRROR, OUT="")  # OUT: the benchmarks would also write a copy there
    entry = WRITERS[writer]
    args = entry.args(w, place.path)
    place.seal(entry.room)
    assert_fails_cleanly(args, w.env, tmp_path, rf"cannot write .*place.*: ({REASONS[place.kind]})",
                         progress=entry.progress)
