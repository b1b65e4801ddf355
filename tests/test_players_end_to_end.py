"""The players fixture plugin installed and driven through the command line, as a user would.

(The same recipe's export, runtime, evaluate, report and summary in detail: tests/test_generator_only.py.)

Two players with a gradient penalty, averaged decoder weights, a scheduled beta, no encoder:
train -> SIGKILL mid-turn -> resume, bit-identical to an uninterrupted run -> ``--nproc 2``, equal to one
process within fp32 rounding -> export -> torch-free generate -> evaluate.
"""

from __future__ import annotations

import json
import math
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import torch
from bad_inputs.harness import assert_fails_cleanly
from conftest import quick_overrides
from players_fixture import RECIPE, install_fixture
from safetensors import safe_open
from safetensors.torch import load_file, save_file

# 512 images: 16 steps an epoch (4 turns of the critic's 3 and the generator's 1), a checkpoint every 3
EPOCHS, BATCH, EVERY = 2, 32, 3
SCHEDULE = "schedules.loss.beta={start=0.0, end=1.0, over=2}"


def settings(npz: Path, **extra) -> list[str]:
    values = {"training.epochs": EPOCHS, "training.batch_size": BATCH, "training.checkpoint_every": EVERY, **extra}
    return [a for s in [*quick_overrides(npz, **values), SCHEDULE] for a in ("--set", s)]


@pytest.fixture(scope="module")
def site(tmp_path_factory) -> Path:
    return install_fixture(tmp_path_factory.mktemp("site"))


def environment(site: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("GENKIT_", "TORCHELASTIC_")) and k != "PYTHONPATH"}
    env.update(PYTHONPATH=str(site), GENKIT_STRICT_PLUGINS="1", OMP_NUM_THREADS="1")
    return env


def run_cli(site: Path, *args: str, cwd: Path, timeout: float = 300) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "genkit", *args], cwd=cwd, env=environment(site), text=True,
                          capture_output=True, timeout=timeout)


def ok(result: subprocess.CompletedProcess) -> str:
    assert result.returncode == 0, result.stdout + result.stderr
    assert "Traceback" not in result.stderr, result.stderr
    return result.stdout + result.stderr


@pytest.fixture(scope="module")
def reference(site, small_npz, tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("reference")
    ok(run_cli(site, "train", RECIPE, "-o", "run", *settings(small_npz), "--quiet", cwd=root))
    return root / "run"


def trainer_state(run: Path) -> dict:
    with safe_open(str(run / "checkpoint.safetensors"), "pt") as f:
        return json.loads(f.metadata()["trainer"])


def test_sigkill_mid_turn_then_resume_is_bit_identical(site, small_npz, reference, tmp_path):
    run = tmp_path / "run"
    process = subprocess.Popen([sys.executable, "-m", "genkit", "train", RECIPE, "-o", str(run),
                                *settings(small_npz), "--quiet"], cwd=tmp_path, env=environment(site),
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 120
    state: dict = {}
    while not (state and state["global_step"] >= 2 * EVERY):  # past a turn of the critic, mid-epoch
        assert process.poll() is None and time.monotonic() < deadline, process.communicate()
        try:
            state = trainer_state(run)
        except Exception:  # noqa: BLE001 - not written yet, or being replaced
            state = {}
        time.sleep(0.002)
    process.send_signal(signal.SIGKILL)
    process.communicate(timeout=60)
    assert process.returncode == -signal.SIGKILL
    stopped = trainer_state(run)
    assert stopped["step"] % 4 != 0 or stopped["epoch"] > 0  # the turn it stopped in is recorded
    assert stopped["extra"]["turn"]["cycle"] == 4
    ok(run_cli(site, "train", "--resume", str(run), "--quiet", cwd=tmp_path))
    ours, theirs = load_file(run / "model.safetensors"), load_file(reference / "model.safetensors")
    assert ours.keys() == theirs.keys() and any(k.startswith("player_losses.critic") for k in ours)
    assert any(k.startswith("averaged.") for k in ours)
    for key in ours:
        assert torch.equal(ours[key], theirs[key]), key
    moments = [load_file(r / "checkpoint.safetensors") for r in (run, reference)]
    optimizer_keys = [k for k in moments[0] if k.startswith("optimizers.")]
    assert {k.split(".")[1] for k in optimizer_keys} == {"0", "1"}  # the critic's and the generator's
    for key in optimizer_keys:
        assert torch.equal(moments[0][key], moments[1][key]), key
    records = [[json.loads(line) for line in (r / "metrics.jsonl").read_text().splitlines()] for r in (run, reference)]
    assert [r["test"] for r in records[0]] == [r["test"] for r in records[1]]
    assert [r["train"] for r in records[0]] == [r["train"] for r in records[1]]  # the carried per-player sums
    assert [r["settings"]["loss.beta"] for r in records[0]] == [0.5, 1.0]  # the schedule continued


def test_two_processes_train_like_one(site, small_npz, reference, tmp_path):
    """Every weight and both optimizers' moments equal to fp32 reordering (measured: weights 1.7e-7 apart, moments
    2.0e-6, relative; the bounds leave a 500-fold margin, and summed gradients double the first moments)."""
    ok(run_cli(site, "train", RECIPE, "--nproc", "2", "-o", "run", *settings(small_npz), "--quiet", cwd=tmp_path,
              timeout=600))
    one, two = load_file(reference / "model.safetensors"), load_file(tmp_path / "run" / "model.safetensors")
    assert one.keys() == two.keys()
    worst = max(float((one[k] - two[k]).norm() / one[k].norm().clamp(min=1e-12)) for k in one)
    assert worst < 1e-4, worst
    moments = [load_file(r / "checkpoint.safetensors") for r in (reference, tmp_path / "run")]
    for key in (k for k in moments[0] if k.startswith("optimizers.")):
        a, b = moments[0][key].double(), moments[1][key].double()
        assert float((a - b).norm() / a.norm().clamp(min=1e-12)) < 1e-3, key


def test_a_bad_player_setting_fails_cleanly_and_leaves_nothing(site, small_npz, tmp_path):
    assert_fails_cleanly(["train", RECIPE, "-o", "run", *settings(small_npz), "--set", "players.critic.steps=0"],
                         {}, tmp_path, r"players\.critic\.steps must be >= 1", plugin_paths=[site])
    assert_fails_cleanly(["train", RECIPE, "-o", "run", *settings(small_npz), "--set",
                          'players.critic.trains=["player_losses.judge"]'], {}, tmp_path,
                         r"player 'critic' trains 'player_losses\.judge', which is not a module", plugin_paths=[site])


# -- the resumed run, exported, generated from without torch and evaluated ---------------------------------

@pytest.fixture(scope="module")
def exported(site, reference, tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("export") / "onnx"
    ok(run_cli(site, "export", "--onnx", str(reference), "-o", str(out), "--quiet", cwd=out.parent))
    return out


def test_the_export_is_the_averaged_decoder_and_holds_no_critic(site, reference, exported):
    from players_fixture import fixture_host

    import genkit
    from genkit.testing import check_averaged_export, check_loss_networks_not_exported

    assert sorted(p.name for p in exported.glob("*.onnx")) == ["decoder.onnx"]
    with fixture_host():
        model = genkit.load(reference)
        assert check_loss_networks_not_exported(model, exported) == 3  # two weight matrices, the hidden bias
        assert check_averaged_export(reference, exported) <= 1e-4


def test_the_export_checks_fail_on_broken_exports(site, reference, exported, tmp_path):
    """An export of the last step's weights, and one that carries a critic weight, each fail their check."""
    import shutil

    import onnx
    from onnx import numpy_helper
    from players_fixture import fixture_host

    import genkit
    from genkit.testing import check_averaged_export, check_loss_networks_not_exported

    last_step = tmp_path / "last-step"  # the run with its average overwritten by the trained weights
    shutil.copytree(reference, last_step)
    weights = load_file(last_step / "model.safetensors")
    averaged = {k: weights[k.removeprefix("averaged.").replace("/", ".")].clone() for k in weights
                if k.startswith("averaged.")}

    with safe_open(str(last_step / "model.safetensors"), "pt") as f:
        metadata = f.metadata()
    save_file({**weights, **averaged}, str(last_step / "model.safetensors"), metadata=metadata)
    ok(run_cli(site, "export", "--onnx", str(last_step), "-o", str(tmp_path / "last-onnx"), "--quiet", cwd=tmp_path))
    with fixture_host():
        with pytest.raises(AssertionError, match="the export decodes .* away from the averaged weights"):
            check_averaged_export(reference, tmp_path / "last-onnx")
        model = genkit.load(reference)
        smuggled = tmp_path / "smuggled"
        shutil.copytree(exported, smuggled)
        graph = onnx.load(str(smuggled / "decoder.onnx"))
        critic = model.player_losses["critic"].network.net[1].weight.detach().numpy()
        graph.graph.initializer.append(numpy_helper.from_array(critic, "critic_weight"))
        onnx.save(graph, str(smuggled / "decoder.onnx"))
        with pytest.raises(AssertionError, match="holds player_losses.critic.network.net.1.weight"):
            check_loss_networks_not_exported(model, smuggled)


def test_torch_free_generate_then_evaluate(site, reference, exported, tmp_path):
    blocked = tmp_path / "blocked"  # torch cannot be imported by the export's commands
    blocked.mkdir()
    (blocked / "torch.py").write_text("raise ImportError('torch is blocked in this test')\n")
    env = environment(site)
    env["PYTHONPATH"] = os.pathsep.join([str(blocked), str(site)])
    generated = subprocess.run([sys.executable, "-m", "genkit", "generate", str(exported), "-n", "16", "--seed", "3",
                                "--npy", "images.npy", "-o", "grid.png"], cwd=tmp_path, env=env, text=True,
                               capture_output=True, timeout=120)
    ok(generated)
    images = np.load(tmp_path / "images.npy")
    ok(run_cli(site, "generate", str(reference), "-n", "16", "--seed", "3", "--npy", "torch.npy", cwd=tmp_path))
    assert images.shape == (16, 1, 28, 28) and np.abs(images - np.load(tmp_path / "torch.npy")).max() < 1e-4
    env = environment(site)
    env.update(XDG_CACHE_HOME=str(tmp_path / "cache"))
    result = subprocess.run([sys.executable, "-m", "genkit", "evaluate", str(exported), "--json", "--limit", "128",
                             "--classifier-epochs", "1", "--classifier-limit", "512"], cwd=tmp_path, env=env,
                            text=True, capture_output=True, timeout=300)
    ok(result)
    report = json.loads(result.stdout)
    generation = report["generation"]
    assert all(math.isfinite(generation[key]) for key in ("frechet_distance", "kid", "precision", "recall"))
