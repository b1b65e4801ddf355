"""What a run logs besides its folder: TensorBoard event files (``--log tensorboard``) and tqdm's progress."""

from __future__ import annotations

import io
import json
import os
import re
import shutil
import subprocess
import sys
import types
from pathlib import Path

import pytest
from click.testing import CliRunner
from conftest import quick_overrides

from genkit.cli import cli
from genkit.training.callbacks import ProgressBar

TERMS = ("loss", "reconstruction", "kl", "mse")  # the vae's loss terms


def train(*args: str) -> str:
    result = CliRunner().invoke(cli, ["train", *args])
    assert result.exit_code == 0, result.output
    return result.output


def sets(npz: Path, **extra) -> list[str]:
    return [a for s in quick_overrides(npz, **extra) for a in ("--set", s)]


def events(run: Path):
    """What TensorBoard shows of the run: its scalars and images by tag, read with TensorBoard's own reader."""
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    accumulator = EventAccumulator(str(run / "tensorboard"), size_guidance={"scalars": 0, "images": 0})
    accumulator.Reload()
    return accumulator


def metrics(run: Path) -> list[dict]:
    return [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]


def test_tensorboard_logs_every_term_the_rate_the_speed_and_the_samples(small_npz, tmp_path):
    run = tmp_path / "run"
    train("vae", "--limit", "256", "--epochs", "2", "--log", "tensorboard", "--quiet", "-o", str(run), *sets(small_npz))
    logged = events(run)
    scalars = {f"{split}/{term}" for split in ("train", "test") for term in TERMS} | {"lr", "images_per_second"}
    assert set(logged.Tags()["scalars"]) == scalars
    records = metrics(run)
    for tag in scalars:
        points = logged.Scalars(tag)
        assert [p.step for p in points] == [1, 2], tag
        split, _, term = tag.partition("/")
        want = [r[split][term] if term else r[split] for r in records]
        assert [p.value for p in points] == pytest.approx(want, rel=1e-6), tag
    images = logged.Images("samples")
    assert [i.step for i in images] == [1, 2]
    assert all(i.encoded_image_string.startswith(b"\x89PNG") and i.width > 28 for i in images)
    assert json.loads((run / "config.json").read_text())["config"]["training"]["log"] == ["tensorboard"]


def test_resumed_tensorboard_log_has_each_epoch_once(small_npz, tmp_path):
    """Resuming appends; events that outlived their checkpoint (a copy of a later state) are purged."""
    run = tmp_path / "run"
    train("vae", "--epochs", "2", "--log", "tensorboard", "--quiet", "-o", str(run), *sets(small_npz))
    ahead = Path(shutil.copytree(run, tmp_path / "ahead"))
    train("--resume", str(ahead), "--epochs", "3", "--quiet")
    # the run's events now reach epoch 3 while its checkpoint holds 2, as after a lost epoch
    for path in sorted((ahead / "tensorboard").iterdir()):
        if not (run / "tensorboard" / path.name).exists():
            shutil.copy(path, run / "tensorboard" / path.name)
    assert [p.step for p in events(run).Scalars("train/loss")] == [1, 2, 3]
    train("--resume", str(run), "--epochs", "4", "--quiet")
    logged = events(run)
    records = metrics(run)
    for tag in ("train/loss", "test/kl", "lr"):
        assert [p.step for p in logged.Scalars(tag)] == [1, 2, 3, 4], tag
    split, _, term = "test/loss".partition("/")
    assert [p.value for p in logged.Scalars("test/loss")] == pytest.approx([r[split][term] for r in records])
    assert [i.step for i in logged.Images("samples")] == [1, 2, 3, 4]


def test_without_tensorboard_installed_the_run_is_refused_in_one_line(small_npz, tmp_path):
    run = tmp_path / "run"
    program = ("import sys; sys.modules['tensorboard'] = None\n"  # `import tensorboard` now raises ImportError
               "from genkit.cli import main; main(sys.argv[1:])")
    env = {k: v for k, v in os.environ.items() if not k.startswith("GENKIT_")}
    done = subprocess.run([sys.executable, "-c", program, "train", "vae", "--log", "tensorboard", "-o", str(run),
                           *sets(small_npz)], capture_output=True, text=True, env=env, cwd=tmp_path, timeout=120)
    assert done.returncode == 1, done.stderr
    assert done.stderr.strip().splitlines() == [
        "Error: training.log includes 'tensorboard' but the tensorboard package is not installed; "
        "pip install tensorboard (or genkit[tensorboard])"]
    assert not run.exists() and not (tmp_path / "runs").exists()


def test_progress_in_a_log_is_separate_lines(small_npz, tmp_path):
    """Not a terminal: tqdm's bar becomes whole lines, with no carriage returns or terminal escapes."""
    run, log = tmp_path / "run", tmp_path / "train.log"
    env = {k: v for k, v in os.environ.items() if not k.startswith("GENKIT_")}
    with log.open("w") as stderr:
        done = subprocess.run([sys.executable, "-m", "genkit", "train", "vae", "--epochs", "2", "--limit", "256",
                               "-o", str(run), *sets(small_npz, **{"training.batch_size": 16})],
                              stdout=subprocess.DEVNULL, stderr=stderr, env=env, timeout=240)
    text = log.read_text()
    assert done.returncode == 0, text
    assert "\r" not in text and "\x1b" not in text
    lines = text.splitlines()
    for epoch in (1, 2):
        bars = [line for line in lines if re.match(rf"epoch {epoch}/2: +\d+%\|.*\| \d+/16 \[", line)]
        assert bars, text
        ended = next(i for i, line in enumerate(lines) if line.startswith(f"epoch {epoch}/2: train loss"))
        assert lines.index(bars[0]) < ended  # drawn while the epoch trains, before its summary line


def test_progress_in_a_log_writes_a_line_every_15_seconds_with_the_running_loss(monkeypatch):
    import tqdm.std

    now = [0.0]
    monkeypatch.setattr(tqdm.std, "time", lambda: now[0])  # tqdm's clock: one step per second
    trainer = types.SimpleNamespace(stage=types.SimpleNamespace(name="main"),
                                    stages=[types.SimpleNamespace(last_epoch=3)])
    stream, formatted = io.StringIO(), []
    bar = ProgressBar(stream)
    bar.on_epoch_start(trainer, 1, 60, 0)
    for step in range(1, 61):
        now[0] = float(step)
        bar.on_step_end(trainer, step, lambda step=step: formatted.append(step) or f"loss {100 - step}")
    bar.on_epoch_end(trainer, {})
    lines = stream.getvalue().splitlines()
    assert lines[0].startswith("epoch 2/3:   0%") and "\r" not in stream.getvalue()
    drawn = [(int(m[1]), m[2]) for m in (re.search(r"\| (\d+)/60 \[.*, (loss \d+)\]$", line) for line in lines[1:])]
    assert drawn == [(15, "loss 85"), (30, "loss 70"), (45, "loss 55"), (60, "loss 40")]
    assert formatted == [15, 30, 45, 60]  # the status (a device sync) is formatted only for the lines drawn
