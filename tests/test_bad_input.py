"""The bad-input matrix: every malformed input gives one clear error line, never a traceback.

Each case (``tests/bad_inputs/``) builds its broken input (a config file, data under ``GENKIT_DATA``, a
damaged copy of a run folder or an export, a command line, a plugin on ``PYTHONPATH``) in the case's
own folder and runs one ``genkit`` command. It must exit non-zero, print exactly one ``Error:`` line
that matches the case's pattern (so the line names the problem), print no traceback, and leave every
file that existed before byte-for-byte as it was. The last tests check that no run folder or export
can make genkit run code: nothing in the source unpickles, and loading and resuming never do.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from bad_inputs import CASES, CONTEXT_LINE, Workspace
from click.testing import CliRunner
from conftest import quick_overrides

from genkit.cli import cli
from genkit.config import build_config
from genkit.plugins import get_registry
from genkit.training import Trainer


@pytest.fixture(scope="module")
def good_run(small_npz, tmp_path_factory) -> Path:
    run = tmp_path_factory.mktemp("good") / "run"
    run.mkdir()
    config = build_config(get_registry(), "vae", None,
                          quick_overrides(small_npz, **{"training.epochs": 1, "training.limit": 64}))
    Trainer(config, run, progress=False).run()
    return run


@pytest.fixture(scope="module")
def good_export(good_run, tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("export") / "export"
    result = subprocess.run([sys.executable, "-m", "genkit", "export", "--onnx", str(good_run), "-o", str(out),
                             "--quiet"], capture_output=True, text=True, timeout=300, cwd=out.parent)
    assert result.returncode == 0, result.stderr
    return out


def snapshot(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*"))
            if p.is_file() and not p.is_symlink()}


def invoke(args: list[str], w: Workspace, plugin: bool) -> tuple[int, str]:
    if plugin:  # plugins are discovered once per process: a fresh one sees this case's
        env = {k: v for k, v in os.environ.items() if not k.startswith("GENKIT_") and k != "PYTHONPATH"}
        env.update(w.env, PYTHONPATH=os.pathsep.join(map(str, w.plugin_paths)))
        result = subprocess.run([sys.executable, "-m", "genkit", *args], capture_output=True, text=True,
                                timeout=120, env=env, cwd=w.root)
        return result.returncode, result.stdout + result.stderr
    result = CliRunner(env=w.env).invoke(cli, args)
    if result.exception is not None and not isinstance(result.exception, SystemExit):
        import traceback

        return 99, "".join(traceback.format_exception(result.exception))  # a crash: shown with its traceback
    return result.exit_code, result.output


def test_there_are_enough_cases():
    assert len(CASES) >= 25


@pytest.mark.parametrize("name", list(CASES))
def test_bad_input_gives_one_clear_error(name, small_npz, good_run, good_export, tmp_path):
    workspace = Workspace(tmp_path, small_npz, good_run, good_export)
    bad = CASES[name]
    args = bad.build(workspace)
    before = snapshot(tmp_path)
    code, output = invoke(args, workspace, bad.plugin)
    assert code != 0, output
    assert "Traceback" not in output, output
    lines = [line for line in output.splitlines() if line.strip()]
    errors = [line for line in lines if line.startswith("Error:")]
    assert len(errors) == 1, output
    assert re.search(bad.expect, errors[0]), errors[0]
    assert all(line in errors or CONTEXT_LINE.match(line) for line in lines), output
    after = snapshot(tmp_path)
    assert {k: v for k, v in after.items() if k in before} == before, "an existing file was changed or removed"


# -- security -------------------------------------------------------------------------------------

UNSAFE_LOADS = re.compile(r"torch\.load\((?![^)]*weights_only=True)|^\s*(import|from) (pickle|dill|marshal|shelve)\b"
                          r"|allow_pickle=True|yaml\.load\(|\bexec\(|(?<![.\w])eval\(", re.MULTILINE)


def test_no_source_file_can_unpickle():
    repo = Path(__file__).resolve().parents[1]
    offenders = [f"{path.relative_to(repo)}: {match.group(0)}"
                 for folder in ("genkit", "plugins") for path in sorted((repo / folder).rglob("*.py"))
                 for match in UNSAFE_LOADS.finditer(path.read_text(encoding="utf-8"))]
    assert not offenders


def test_loading_and_resuming_a_run_never_unpickles(good_run, tmp_path, monkeypatch):
    import pickle

    import genkit

    def refuse(*args, **kwargs):
        raise AssertionError("a run folder was unpickled")
    for module, name in ((pickle, "load"), (pickle, "loads"), (pickle, "Unpickler"), (torch, "load")):
        monkeypatch.setattr(module, name, refuse)
    run = Path(shutil.copytree(good_run, tmp_path / "run"))
    assert not genkit.load(run).training
    result = CliRunner().invoke(cli, ["train", "--resume", str(run), "--epochs", "2", "--quiet"])
    assert result.exit_code == 0, result.output
