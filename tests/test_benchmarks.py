"""The benchmark suite keeps working: every scenario runs at a test-only size and writes its results.

Nothing here asserts a speed: the tiny size measures nothing meaningful, it only exercises each
scenario's code path, the result document and the markdown report.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from genkit_benchmarks import scenarios
from genkit_benchmarks.report import fmt, markdown
from genkit_benchmarks.result import Target
from genkit_benchmarks.timing import interleave, percentile, summarize

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("bench")
    env = {k: v for k, v in os.environ.items() if k != "OUT"}
    done = subprocess.run([sys.executable, "-m", "benchmarks", "--tiny", "--out", str(out)], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    (path,) = out.glob("*.json")
    return json.loads(path.read_text()), done.stdout, path


def test_result_document_describes_machine_and_every_scenario(tiny_run):
    document, _, path = tiny_run
    assert path.name.endswith("-tiny-all.json")
    assert document["mode"] == "tiny" and document["format"] == 1
    assert document["command"].startswith("python -m benchmarks")
    machine = document["machine"]
    for key in ("cpu", "cores", "gpu", "torch", "onnxruntime", "date", "threads_used"):
        assert key in machine
    assert list(document["scenarios"]) == list(scenarios.ORDER)
    for name, scenario in document["scenarios"].items():
        assert scenario["status"] in {"ok", "skipped"}, (name, scenario["notes"])
        assert isinstance(scenario["seconds"], float)
        if scenario["status"] == "ok":
            assert scenario["rows"], name
            for row in scenario["rows"]:  # rows may differ in columns; the markdown table takes their union
                assert row and all(isinstance(key, str) and key for key in row), (name, row)
                assert all(value is None or isinstance(value, (str, int, float)) for value in row.values()), row
        for target in scenario["targets"]:
            assert set(target) == {"name", "value", "goal", "direction", "unit", "met"}


def test_targets_of_the_issue_are_reported(tiny_run):
    document, _, _ = tiny_run
    s = document["scenarios"]
    assert [t["name"] for t in s["overhead"]["targets"]][0].startswith("genkit fp32")
    assert s["fast_training"]["targets"][0]["goal"] == 2.0
    assert {t["name"].split(":")[0] for t in s["inference"]["targets"]} == {"encoder", "decoder"}
    assert s["startup"]["targets"][0]["direction"] == "at_most"
    assert {row["model"] for row in s["ablation"]["rows"]} == {
        "vae", "ae", "vae, z = 16", "ae, z = 16", "ae, --prior code-box", "ae, --prior standard-normal"}
    ablation = s["ablation"]
    assert all(row["seeds"] == 2 and row["FD sd"] is not None for row in ablation["rows"])  # tiny: two seeds
    assert [len(runs) for runs in ablation["details"].values()] == [2] * 6
    assert [t["name"].split(":")[0] for t in ablation["targets"]] == ["z = 2"] * 2 + ["z = 16"] * 2
    assert sum("per seed" in note for note in ablation["notes"]) == 4
    profile = s["profile"]["details"]
    assert set(profile) == {"genkit fp32", "genkit --fast (bf16)"}
    for breakdown in profile.values():  # every millisecond of the step is somewhere, and no more than all
        assert sum(breakdown["ms_per_step"].values()) >= 0.99 * breakdown["wall_ms_per_step"]
        assert breakdown["ms_per_step"]["convolution backward"] > 0
    roofline = s["roofline"]["rows"][0]
    assert roofline["training MFLOP/image"] > 50  # the seed VAE: about 89 MFLOP per image
    if document["machine"]["gpu"] is None:
        assert s["gpu"]["status"] == "skipped" and "CUDA" in s["gpu"]["notes"][0]


def test_markdown_has_a_table_per_scenario(tiny_run):
    document, stdout, _ = tiny_run
    assert stdout.rstrip() == markdown(document).rstrip()
    assert "## Targets" in stdout
    for name in scenarios.ORDER:
        assert f"(`{name}`)" in stdout
    assert "| configuration | images/s | vs hand-written fp32 |" in stdout
    assert "|---|---|" in stdout


def test_the_ablation_is_drawn_next_to_the_json(tiny_run, tmp_path):
    import numpy as np
    from PIL import Image

    from genkit_benchmarks.figures import main as figures_main

    document, _, path = tiny_run
    png = path.with_name(f"{path.stem}-ablation.png")
    image = np.asarray(Image.open(png).convert("L"), dtype=np.float32)
    assert image.shape[0] > 200 and image.shape[1] > 600 and image.std() > 10  # drawn, not blank
    copy = tmp_path / path.name  # again from the JSON alone, as for a committed result
    copy.write_text(path.read_text())
    assert figures_main([str(copy)]) == 0
    assert copy.with_name(png.name).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    (tmp_path / "broken.json").write_text("{")
    assert figures_main([str(tmp_path / "broken.json")]) == 1


def test_unknown_scenario_is_refused():
    done = subprocess.run([sys.executable, "-m", "benchmarks", "nonsense"], cwd=ROOT, capture_output=True, text=True)
    assert done.returncode == 2 and "choose from overhead" in done.stderr


def test_interleaved_ratios_are_per_round():
    windows = {"a": lambda: (10, 1.0), "b": lambda: (20, 1.0)}  # (images, seconds the window measured)
    rates = interleave(windows, rounds=3, warmup=0)
    summary = summarize(rates, baseline="a")
    assert rates == {"a": [10.0] * 3, "b": [20.0] * 3}
    assert summary["b"]["vs_baseline"] == 2.0 and summary["a"]["images_per_s"] == 10.0


def test_small_helpers():
    assert percentile([1.0, 2.0, 3.0, 4.0, 5.0], 50) == 3.0
    assert Target("x", 0.5, 1.0).met is False and Target("x", 0.2, 0.3, "at_most").met is True
    assert Target("x", None, 1.0).met is None
    assert fmt(1234.5) == "1,234" and fmt(None) == "–" and fmt(0.5) == "0.5"


def test_ablation_rows_are_means_over_seeds_with_their_spread():
    from genkit_benchmarks.scenarios import ablation

    def run(fd, gap, loss):
        return {"test loss": loss, "reconstruction MSE": 0.1, "KL": None, "train img/s": 100.0, "z": 2,
                "generation": {"frechet_distance": fd, "frechet_distance_to_reconstructions": gap,
                               "precision_vs_reconstructions": 0.5, "confidence": 0.9, "class_coverage": 1.0}}

    vae = ablation.summary_row("vae", 1, [run(10.0, 2.0, 30.0), run(14.0, 4.0, 32.0)])
    assert vae["Fréchet distance"] == 12.0 and vae["prior gap"] == 3.0 and vae["test loss"] == 31.0
    assert vae["FD sd"] == pytest.approx(2 ** 0.5 * 2) and vae["KL"] is None and vae["seeds"] == 2 and vae["z"] == 2
    ae = ablation.summary_row("ae", 1, [run(15.0, 9.0, 0.1), run(15.0, 9.0, 0.1)])
    assert ae["FD sd"] == 0.0
    fd, gap = ablation.targets([vae, ae])
    assert fd.value == pytest.approx(1.25) and fd.met is True  # exactly "markedly": a quarter above
    assert gap.value == pytest.approx(3.0) and gap.met is True
    assert ablation.targets([vae]) == []  # no pair, no verdict


def test_genkit_bench_lists_the_scenarios():
    from click.testing import CliRunner

    from genkit.cli import cli

    result = CliRunner().invoke(cli, ["bench", "--list"])
    assert result.exit_code == 0, result.output
    assert all(name in result.output for name in scenarios.ORDER)
