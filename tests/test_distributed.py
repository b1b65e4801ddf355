"""Distributed training: real two-process runs over gloo on CPU (the arithmetic is in test_sharding.py).

The contract under test: N processes with B/N images each train like one process with batch B. The
per-epoch loss terms of a two-process run must agree with a one-process run to within ``RTOL`` of
the total loss. Measured here the difference is about 1e-6 (fp32 gradients are summed in another
order); a run whose noise or data were not shard-consistent differs by 1e-3 or more, so 1e-4 keeps
a hundredfold margin on one side and tenfold on the other. ``tests/test_distributed_weights.py``
compares the weights and Adam moments themselves, with and without BatchNorm.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch
from click.testing import CliRunner
from conftest import quick_overrides
from safetensors.torch import load_file

from genkit.cli import cli
from genkit.config import build_config
from genkit.contract.host import get_registry
from genkit.training import Trainer

RTOL = 1e-4
EPOCHS, BATCH, EVERY = 2, 64, 2  # 512 images: 8 steps per epoch, a checkpoint every 2


# -- real runs ------------------------------------------------------------------------------------

def set_args(npz: Path, **extra) -> list[str]:
    values = {"training.batch_size": BATCH, "training.epochs": EPOCHS, "training.checkpoint_every": EVERY, **extra}
    return [a for s in quick_overrides(npz, **values) for a in ("--set", s)]


def genkit(*args: str, cwd: Path) -> subprocess.Popen:
    """``python -m genkit ARGS`` in its own process group, as a terminal would start it."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("GENKIT_", "TORCHELASTIC_"))}
    return subprocess.Popen([sys.executable, "-m", "genkit", *args], cwd=cwd, env=env, text=True,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, start_new_session=True)


def children(pid: int) -> list[int]:
    try:
        return sorted(int(child) for child in Path(f"/proc/{pid}/task/{pid}/children").read_text().split())
    except OSError:
        return []


def finish(process: subprocess.Popen, timeout: float = 180) -> tuple[int, str]:
    try:
        out, err = process.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        # torchrun starts each worker in a session of its own: end them one by one, then the launcher
        for pid in [*children(process.pid), process.pid]:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        out, err = process.communicate()
        pytest.fail(f"genkit did not finish in {timeout} s:\n{out}{err}")
    return process.returncode, out + err


def metrics(run: Path) -> list[dict]:
    return [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]


def assert_same_weights(a: Path, b: Path) -> None:
    wa, wb = load_file(a / "model.safetensors"), load_file(b / "model.safetensors")
    assert wa.keys() == wb.keys()
    for key in wa:
        assert torch.equal(wa[key], wb[key]), key


def wait_for(path: Path, process: subprocess.Popen, timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    while not path.exists():
        assert process.poll() is None, finish(process)[1]
        assert time.monotonic() < deadline, f"{path} never appeared"
        time.sleep(0.02)


@pytest.fixture(scope="module")
def single_run(small_npz, tmp_path_factory) -> Path:
    run = tmp_path_factory.mktemp("single") / "run"
    run.mkdir()
    config = build_config(get_registry(), "vae", None, quick_overrides(
        small_npz, **{"training.batch_size": BATCH, "training.epochs": EPOCHS}))
    Trainer(config, run, progress=False).run()
    return run


@pytest.fixture(scope="module")
def ddp_run(small_npz, tmp_path_factory) -> tuple[Path, str]:
    work = tmp_path_factory.mktemp("ddp")
    code, output = finish(genkit("train", "vae", "--nproc", "2", "-o", "run", *set_args(small_npz), "--quiet",
                                 cwd=work))
    assert code == 0, output
    return work / "run", output


def test_two_processes_train_like_one(single_run, ddp_run):
    run, output = ddp_run
    assert "2 processes x 32 images = global batch 64, gloo" in output
    assert "Traceback" not in output
    one, two = metrics(single_run), metrics(run)
    assert [m["epoch"] for m in one] == [m["epoch"] for m in two] == list(range(1, EPOCHS + 1))
    for a, b in zip(one, two):
        for split in ("train", "test"):
            scale = abs(a[split]["loss"])
            for term, value in a[split].items():
                assert abs(value - b[split][term]) <= RTOL * scale, (a["epoch"], split, term, value, b[split][term])
    # rank 0 alone wrote: one config, one set of samples, no leftovers
    assert sorted(p.name for p in (run / "samples").iterdir()) == ["epoch-0001.png", "epoch-0002.png"]
    assert not [p for p in run.iterdir() if p.name.startswith(".")]


def test_elastic_restart_resumes_from_the_last_checkpoint(small_npz, ddp_run, tmp_path):
    launcher = genkit("train", "vae", "--nproc", "2", "--max-restarts", "1", "-o", "run", *set_args(small_npz),
                      "--quiet", cwd=tmp_path)
    wait_for(tmp_path / "run" / "checkpoint.safetensors", launcher)
    workers = children(launcher.pid)
    assert len(workers) == 2
    os.kill(workers[-1], signal.SIGKILL)  # the second worker started: rank 1
    code, output = finish(launcher)
    assert code == 0, output
    assert "restart 1: resuming" in output
    assert "Traceback" not in output
    assert_same_weights(ddp_run[0], tmp_path / "run")
    scores = [(m["train"], m["test"]) for m in metrics(tmp_path / "run")]
    assert scores == [(m["train"], m["test"]) for m in metrics(ddp_run[0])]


def test_ctrl_c_stops_every_worker_at_one_step_and_resumes(small_npz, ddp_run, tmp_path):
    launcher = genkit("train", "vae", "--nproc", "2", "-o", "run", *set_args(small_npz), "--quiet", cwd=tmp_path)
    wait_for(tmp_path / "run" / "checkpoint.safetensors", launcher)
    os.killpg(launcher.pid, signal.SIGINT)  # what Ctrl-C in a terminal does: the launcher and its workers
    code, output = finish(launcher)
    assert code == 130, output
    assert f"Resume with: genkit train --resume {Path('run')} --nproc 2" in output
    assert "Traceback" not in output
    code, output = finish(genkit("train", "--resume", "run", "--nproc", "2", "--quiet", cwd=tmp_path))
    assert code == 0, output
    assert_same_weights(ddp_run[0], tmp_path / "run")


def test_plain_torchrun_rank0_chooses_the_run_folder(small_npz, tmp_path):
    env = {k: v for k, v in os.environ.items() if not k.startswith(("GENKIT_", "TORCHELASTIC_"))}
    result = subprocess.run(
        [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc-per-node", "2", "-m", "genkit",
         "train", "vae", *set_args(small_npz, **{"training.epochs": 1, "training.limit": 128}), "--quiet"],
        cwd=tmp_path, env=env, capture_output=True, text=True, timeout=240)
    assert result.returncode == 0, result.stdout + result.stderr
    runs = list((tmp_path / "runs").iterdir())
    assert len(runs) == 1, runs  # one folder, not one per rank
    assert json.loads((runs[0] / "config.json").read_text())["launch_id"]
    assert len(metrics(runs[0])) == 1


def test_launcher_checks_before_starting_workers(small_npz, tmp_path):
    result = CliRunner().invoke(cli, ["train", "vae", "--nproc", "3", "-o", str(tmp_path / "run"),
                                      *set_args(small_npz)])
    assert result.exit_code == 1 and "not divisible by the 3 processes" in result.output
    assert not (tmp_path / "run").exists()
    result = CliRunner().invoke(cli, ["train", "vae", "--max-restarts", "2", *set_args(small_npz)])
    assert result.exit_code == 2 and "--max-restarts only applies with --nproc" in result.output
