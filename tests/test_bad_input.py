"""The bad-input matrix: every malformed input gives one clear error line, never a traceback.

Each case (``tests/bad_inputs/``) builds its broken input (a config file, data under ``GENKIT_DATA``, a
damaged copy of a run folder or an export, a command line, a plugin on ``PYTHONPATH``) in the case's
own folder and runs one ``genkit`` command. It must exit non-zero, print exactly one ``Error:`` line
that matches the case's pattern (so the line names the problem), print no traceback, and leave every
file and folder byte-for-byte as it was (``bad_inputs.harness``). The last tests check that no run
folder or export can make genkit run code: nothing in the source unpickles, and loading and resuming
never do.
"""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import pytest
import torch
from bad_inputs import CASES, Workspace
from bad_inputs.fixtures import good_export, good_run  # noqa: F401  (fixtures)
from bad_inputs.harness import assert_fails_cleanly
from click.testing import CliRunner

from genkit.cli import cli


def test_there_are_enough_cases():
    assert len(CASES) >= 25


@pytest.mark.parametrize("name", list(CASES))
def test_bad_input_gives_one_clear_error(name, small_npz, good_run, good_export, tmp_path):  # noqa: F811
    workspace = Workspace(tmp_path, small_npz, good_run, good_export)
    bad = CASES[name]
    args = bad.build(workspace)
    assert_fails_cleanly(args, workspace.env, tmp_path, bad.expect, workspace.plugin_paths if bad.plugin else None)


# -- security -------------------------------------------------------------------------------------

UNSAFE_LOADS = re.compile(r"torch\.load\((?![^)]*weights_only=True)|^\s*(import|from) (pickle|dill|marshal|shelve)\b"
                          r"|allow_pickle=True|yaml\.load\(|\bexec\(|(?<![.\w])eval\(", re.MULTILINE)


def test_no_source_file_can_unpickle():
    repo = Path(__file__).resolve().parents[1]
    offenders = [f"{path.relative_to(repo)}: {match.group(0)}"
                 for folder in ("genkit", "plugins") for path in sorted((repo / folder).rglob("*.py"))
                 for match in UNSAFE_LOADS.finditer(path.read_text(encoding="utf-8"))]
    assert not offenders


def test_loading_and_resuming_a_run_never_unpickles(good_run, tmp_path, monkeypatch):  # noqa: F811
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
