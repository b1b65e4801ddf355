"""Strict mode imports every registered target; a dataset plugin's refusal is one line naming the plugin."""

from __future__ import annotations

import pytest
from plugin_fixtures import run_genkit, write_plugin

BAD_TARGET = """
    from genkit.contract.hookspecs import hookimpl

    @hookimpl
    def register_decoders(register):
        register("ghost-decoder", "target_plugin:NoSuchClass", description="names a class that is not there")
"""

REFUSING_DATASET = """
    from genkit.contract.hookspecs import hookimpl

    def load(argument, input_shape):
        raise ValueError(f"noise level must be a number, got {argument!r}")

    @hookimpl
    def register_datasets(register):
        register("noise", "dataset_plugin:load", description="random images", takes_argument=True)
"""


def lines(text: str) -> list[str]:
    return [line for line in text.splitlines() if line.strip()]


def test_strict_mode_imports_every_target_at_start(tmp_path):
    write_plugin(tmp_path, "target_plugin", BAD_TARGET, entry_name="targets")
    lenient = run_genkit("list", paths=[tmp_path])
    assert lenient.returncode == 0 and "ghost-decoder" in lenient.stdout  # listing imports no target
    strict = run_genkit("list", paths=[tmp_path], GENKIT_STRICT_PLUGINS="1")
    assert strict.returncode != 0 and "Traceback" not in strict.stderr
    (line,) = lines(strict.stderr)
    assert "ghost-decoder" in line and "'targets'" in line and "NoSuchClass" in line


@pytest.mark.parametrize("command", [("train", "vae", "--data", "noise:loud", "--epochs", "1"),
                                     ("data", "info", "noise:loud")])
def test_a_dataset_plugin_refusing_its_argument_is_one_line(tmp_path, command):
    write_plugin(tmp_path, "dataset_plugin", REFUSING_DATASET, entry_name="noisy")
    done = run_genkit(*command, paths=[tmp_path], cwd=tmp_path)
    assert done.returncode != 0 and "Traceback" not in done.stderr
    (line,) = lines(done.stderr)
    assert "'noise'" in line and "'noisy'" in line and "noise level must be a number" in line
    assert not (tmp_path / "runs").exists()  # nothing made
