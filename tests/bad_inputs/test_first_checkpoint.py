"""The checkpoint commits an epoch: a run killed before it can be resumed or reused, and what is written
after it (weights, metrics, the sample grid) is repaired from it by ``--resume``.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import time
from pathlib import Path

import pytest
from fault_injection import genkit_command
from safetensors.torch import load_file

from bad_inputs.harness import invoke, snapshot
from bad_inputs.registry import Workspace
from genkit.files.atomic import is_temporary


def _same_weights(a: Path, b: Path) -> bool:
    wa, wb = load_file(a / "model.safetensors"), load_file(b / "model.safetensors")
    return wa.keys() == wb.keys() and all((wa[k] == wb[k]).all() for k in wa)


def _killed_in_first_checkpoint(w: Workspace, run: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("GENKIT_")}
    command = genkit_command("train", "vae", "-o", str(run), "--quiet", *w.sets(), pause_before_checkpoint_rename=60)
    process = subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 120
    while not (run.is_dir() and any(p.name.startswith(".checkpoint") for p in run.iterdir())):
        assert process.poll() is None and time.monotonic() < deadline, "the run ended before its checkpoint"
        time.sleep(0.01)
    process.send_signal(signal.SIGKILL)
    process.wait(timeout=60)


def test_a_run_killed_in_its_first_checkpoint_can_be_resumed_and_reused(small_npz, good_run, good_export,
                                                                        tmp_path):
    w = Workspace(tmp_path, small_npz, good_run, good_export)
    killed = tmp_path / "killed"
    _killed_in_first_checkpoint(w, killed)
    # nothing but the configuration and the checkpoint's temporary: no metrics or grid of an uncommitted epoch
    assert {p.name for p in killed.iterdir() if not is_temporary(p)} == {"config.json"}
    resumed, reused = (Path(shutil.copytree(killed, tmp_path / name)) for name in ("resumed", "reused"))
    for args in (["train", "--resume", str(resumed), "--quiet"], ["train", "vae", "-o", str(reused), "--quiet",
                                                                  *w.sets()]):
        code, output = invoke(args, w.env, tmp_path)
        assert code == 0, output
    for run in (resumed, reused):
        assert sorted(p.name for p in run.rglob("*")) == sorted(p.name for p in good_run.rglob("*")), run
        assert _same_weights(run, good_run)  # the same as a run never interrupted
        assert (run / "metrics.jsonl").read_text().count("\n") == 1


DAMAGE = {
    "intact": lambda run: None,
    "weights-missing": lambda run: (run / "model.safetensors").unlink(),
    "weights-truncated": lambda run: (run / "model.safetensors").write_bytes(
        (run / "model.safetensors").read_bytes()[:1000]),
    "metrics-missing": lambda run: (run / "metrics.jsonl").unlink(),
    "metrics-of-a-lost-epoch": lambda run: (run / "metrics.jsonl").write_text(
        (run / "metrics.jsonl").read_text() * 2),
    "grid-missing": lambda run: shutil.rmtree(run / "samples"),
}


@pytest.mark.parametrize("damage", list(DAMAGE))
def test_resuming_a_finished_run_repairs_what_follows_from_its_checkpoint(damage, small_npz, good_run,
                                                                          good_export, tmp_path):
    w = Workspace(tmp_path, small_npz, good_run, good_export)
    run = w.run()
    DAMAGE[damage](run)
    code, output = invoke(["train", "--resume", str(run), "--quiet"], w.env, tmp_path)
    assert code == 0, output
    assert ("repaired" in output) == damage.startswith("weights"), output
    repaired = snapshot(run)
    original = snapshot(good_run)
    if damage == "intact":  # nothing to repair: nothing written
        assert repaired == original
    assert repaired.keys() == original.keys()
    assert _same_weights(run, good_run)
    assert {k: v for k, v in repaired.items() if k != "model.safetensors"} == \
        {k: v for k, v in original.items() if k != "model.safetensors"}
