"""Every output a run writes is checked before its first step, not found unwritable after an epoch.

Each writing callback declares what it writes (``Callback.outputs``) and the trainer checks all of it
before training: a blocked or read-only ``RUN/tensorboard``, a file where ``RUN/samples`` goes, a
folder where ``RUN/metrics.jsonl`` goes. Without the check the resumed run trains and commits an
epoch and then dies in the writer's traceback, its folder changed.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from bad_inputs.harness import assert_fails_cleanly
from bad_inputs.places import read_only_folder
from bad_inputs.registry import Workspace

RESUME = ["--epochs", "2", "--quiet"]


def _block(name: str, kind: str):
    def build(run: Path) -> None:
        path = run / name
        if path.is_dir():
            shutil.rmtree(path)
        else:
            path.unlink(missing_ok=True)
        if kind == "file":
            path.write_text("in the way")
        else:
            path.mkdir()
    return build


BLOCKED = {
    "tensorboard-is-a-file": (_block("tensorboard", "file"), ["--log", "tensorboard"],
                              r"cannot write .*run/tensorboard: it is a file, not a folder"),
    "samples-is-a-file": (_block("samples", "file"), [], r"cannot write .*run/samples: it is a file, not a folder"),
    "metrics-is-a-folder": (_block("metrics.jsonl", "folder"), [],
                            r"cannot write .*run/metrics\.jsonl: it is a folder, not a file"),
}


@pytest.mark.parametrize("blocked", list(BLOCKED))
def test_a_blocked_output_stops_the_run_before_its_first_step(blocked, small_npz, good_run, good_export, tmp_path):
    w = Workspace(tmp_path, small_npz, good_run, good_export)
    block, extra, expect = BLOCKED[blocked]
    run = w.run()
    block(run)
    assert_fails_cleanly(["train", "--resume", str(run), *RESUME, *extra], w.env, tmp_path, expect)


def test_a_read_only_tensorboard_folder_stops_the_run_before_its_first_step(small_npz, good_run, good_export,
                                                                             tmp_path, monkeypatch):
    w = Workspace(tmp_path, small_npz, good_run, good_export)
    run = w.run()
    with read_only_folder(run / "tensorboard", monkeypatch):
        assert_fails_cleanly(["train", "--resume", str(run), *RESUME, "--log", "tensorboard"], w.env, tmp_path,
                             r"cannot write .*run/tensorboard: (the file system is read-only|permission denied)")
