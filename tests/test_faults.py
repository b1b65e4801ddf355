"""Fault injection: a training process killed at random moments, and stopped with Ctrl-C.

Each trial starts ``genkit train`` in a subprocess and SIGKILLs it at a moment drawn from a seeded
generator (one trial during start-up, one in the middle of a checkpoint write, the rest anywhere in
training). After every kill, each file a later command would read must be complete, leftovers must
be dot-prefixed temporary files, and ``--resume`` must finish with weights identical to a run that
was never interrupted. The temporary files are overwritten with garbage before resuming, so a resume
that read one would fail or diverge.
"""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import time
from pathlib import Path

import pytest
import torch
from click.testing import CliRunner
from conftest import quick_overrides
from fault_injection import genkit_command
from safetensors import safe_open
from safetensors.torch import load_file

import genkit
from genkit.cli import cli
from genkit.errors import RunFolderError
from genkit.files.atomic import is_temporary

SEED = 20251124
TRIALS = 6
EPOCHS, BATCH, EVERY = 3, 16, 3  # 512 images: 32 steps per epoch, a checkpoint every 3 steps


def train_args(npz: Path) -> list[str]:
    values = {"training.batch_size": BATCH, "training.epochs": EPOCHS, "training.checkpoint_every": EVERY}
    return [a for s in quick_overrides(npz, **values) for a in ("--set", s)] + ["--quiet"]


def start(run: Path, npz: Path, pause: float | None = None) -> subprocess.Popen:
    """``genkit train`` into ``run``; with ``pause``, each checkpoint write waits that long before its rename."""
    environment = {k: v for k, v in os.environ.items() if not k.startswith("GENKIT_")}
    command = genkit_command("train", "vae", "-o", str(run), *train_args(npz), pause_before_checkpoint_rename=pause)
    return subprocess.Popen(command, cwd=run.parent, env=environment, text=True,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)


def wait_until(condition, process: subprocess.Popen, timeout: float = 120, poll: float = 0.005) -> bool:
    """Poll ``condition`` until it holds (True) or the process ends first (False)."""
    deadline = time.monotonic() + timeout
    while not condition():
        if process.poll() is not None:
            return False
        assert time.monotonic() < deadline, "timed out"
        time.sleep(poll)
    return True


def temporaries(run: Path) -> list[Path]:
    return [p for p in run.rglob("*") if is_temporary(p)] if run.exists() else []


def assert_trustworthy(run: Path) -> None:
    """Every file a later command reads is whole; anything else is an ignored temporary."""
    for path in (p for p in run.rglob("*") if p.is_file()):
        if is_temporary(path):
            continue
        if path.name == "config.json":
            assert json.loads(path.read_text())["config"]
        elif path.suffix == ".safetensors":
            tensors = load_file(path)
            with safe_open(str(path), "pt") as f:
                metadata = f.metadata()
            assert tensors and metadata["format"] in {"genkit-model", "genkit-checkpoint"}
            if metadata["format"] == "genkit-checkpoint":
                assert json.loads(metadata["trainer"])["epoch"] >= 0
        elif path.name == "metrics.jsonl":
            assert all(json.loads(line) for line in path.read_text().splitlines())
        elif path.suffix == ".png":
            data = path.read_bytes()
            assert data.startswith(b"\x89PNG\r\n\x1a\n") and data.endswith(b"IEND\xaeB`\x82"), path
        else:
            pytest.fail(f"unexpected file {path}")
    if (run / "model.safetensors").exists():
        genkit.load(run)
    elif (run / "config.json").exists():
        with pytest.raises(RunFolderError, match="missing"):  # a leftover temporary is never loaded instead
            genkit.load(run)


def finish(run: Path, npz: Path) -> str:
    """Complete the run the way a user would: resume it, or start again if it never began."""
    for leftover in temporaries(run):
        if leftover.is_file():
            leftover.write_bytes(b"garbage that no reader may trust" * 64)
    if (run / "config.json").exists():
        args = ["train", "--resume", str(run), "--quiet"]
    else:
        args = ["train", "vae", "-o", str(run), *train_args(npz)]
    result = CliRunner().invoke(cli, args)
    assert result.exit_code == 0, result.output
    return result.output


def scores_on_test(run: Path) -> list[dict]:
    return [json.loads(line)["test"] for line in (run / "metrics.jsonl").read_text().splitlines()]


def assert_same_weights(a: Path, b: Path) -> None:
    wa, wb = load_file(a / "model.safetensors"), load_file(b / "model.safetensors")
    assert wa.keys() == wb.keys()
    for key in wa:
        assert torch.equal(wa[key], wb[key]), key


@pytest.fixture(scope="module")
def reference(small_npz, tmp_path_factory) -> tuple[Path, float, float]:
    """An uninterrupted run, its start-up time and its training time (from config.json to exit)."""
    run = tmp_path_factory.mktemp("reference") / "run"
    began = time.monotonic()
    process = start(run, small_npz)
    assert wait_until(lambda: (run / "config.json").exists(), process)
    started = time.monotonic()
    _, err = process.communicate(timeout=240)
    assert process.returncode == 0, err
    return run, started - began, time.monotonic() - started


def kill_at_random_moment(trial: int, run: Path, npz: Path, rng: random.Random, startup: float,
                          duration: float) -> tuple[subprocess.Popen, str]:
    """Start a run and SIGKILL it at the trial's moment; return the process and that moment."""
    if trial == 0:  # inside a checkpoint write: the temporary file is complete but not yet renamed
        process = start(run, npz, pause=0.5)
        seen: set[str] = set()

        def second_write() -> bool:
            seen.update(p.name for p in temporaries(run) if p.name.startswith(".checkpoint"))
            return len(seen) >= 2
        assert wait_until(second_write, process), process.communicate()[1]
        moment = "during the second checkpoint write"
    elif trial == 1:  # during start-up, before the run folder holds anything
        process = start(run, npz)
        time.sleep(rng.uniform(0.1, 0.8) * startup)
        moment = "during start-up"
    else:
        process = start(run, npz)
        assert wait_until(lambda: (run / "config.json").exists(), process)
        delay = rng.uniform(0.0, 0.9) * duration
        time.sleep(delay)
        moment = f"{delay:.2f} s into training"
    process.kill()
    process.communicate(timeout=60)
    return process, moment


def test_sigkill_at_random_moments_never_corrupts_and_resume_is_exact(small_npz, reference, tmp_path):
    ref, startup, duration = reference
    rng = random.Random(SEED)
    killed = []
    for trial in range(TRIALS):
        run = tmp_path / f"trial-{trial}"
        process, moment = kill_at_random_moment(trial, run, small_npz, rng, startup, duration)
        if process.returncode == -signal.SIGKILL:
            killed.append(moment)
        if trial == 0:
            assert any(p.name.startswith(".checkpoint.safetensors.") for p in temporaries(run)), moment
            with safe_open(str(run / "checkpoint.safetensors"), "pt") as f:  # the previous one is intact
                assert json.loads(f.metadata()["trainer"])["step"] == EVERY
        if run.exists():
            assert_trustworthy(run)
        finish(run, small_npz)
        assert_same_weights(ref, run)
        assert scores_on_test(run) == scores_on_test(ref), moment
    assert len(killed) >= 5, killed


@pytest.mark.parametrize("signum, code", [(signal.SIGINT, 130), (signal.SIGTERM, 143)])
def test_stop_signal_saves_the_current_step_and_says_how_to_resume(small_npz, reference, tmp_path, signum, code):
    run = tmp_path / "run"
    process = start(run, small_npz)
    assert wait_until(lambda: (run / "checkpoint.safetensors").exists(), process)
    process.send_signal(signum)
    out, err = process.communicate(timeout=120)
    assert process.returncode == code, err
    assert f"Resume with: genkit train --resume {run}" in err
    assert "Traceback" not in err + out
    with safe_open(str(run / "checkpoint.safetensors"), "pt") as f:
        state = json.loads(f.metadata()["trainer"])
    assert state["epoch"] == 0 and EVERY < state["step"] < 32  # written at the step it stopped, mid-epoch
    assert f"at epoch 1, step {state['step']}" in err
    assert not temporaries(run)
    finish(run, small_npz)
    assert_same_weights(reference[0], run)
