"""Run a ``genkit`` command that must fail cleanly, and check that it did.

A clean failure: a non-zero exit code, exactly one ``Error:`` line (besides click's usage block and the
context lines of ``CONTEXT_LINE``), no traceback, and the tree of files and folders under each watched
root exactly as before, byte for byte: nothing added, nothing changed, nothing removed.
"""

from __future__ import annotations

import contextlib
import os
import re
import subprocess
import sys
import traceback
from pathlib import Path

from click.testing import CliRunner

from genkit.cli import cli

# Lines allowed besides the error: click's usage hint, warnings, and the lines that say a training has
# started or resumed (some failures, a NaN loss or a checkpoint that does not fit, come only later).
CONTEXT_LINE = re.compile(r"^(Usage: |Try '|genkit: warning: |training \S+ on \S+ into |resuming \S+ at epoch )")


def snapshot(root: Path) -> dict[str, bytes | str]:
    """Every file's bytes, folder and link under ``root`` (links are not followed: they may lead out)."""
    tree: dict[str, bytes | str] = {}
    for folder, subfolders, files in os.walk(root):
        for name in subfolders + files:
            path = Path(folder, name)
            key = str(path.relative_to(root))
            if path.is_symlink():
                tree[key] = f"link to {os.readlink(path)}"
            elif path.is_dir():
                tree[key] = "folder"
            else:
                tree[key] = path.read_bytes()
    return tree


def invoke(args: list[str], env: dict[str, str], cwd: Path, plugin_paths: list[Path] | None = None) -> tuple[int, str]:
    """Run ``genkit ARGS`` in ``cwd``: in this process, or in a fresh one when plugins must be discovered anew."""
    if plugin_paths is not None:
        clean = {k: v for k, v in os.environ.items() if not k.startswith("GENKIT_") and k != "PYTHONPATH"}
        clean.update(env, PYTHONPATH=os.pathsep.join(map(str, plugin_paths)), PYTHONDONTWRITEBYTECODE="1")
        result = subprocess.run([sys.executable, "-m", "genkit", *args], capture_output=True, text=True,
                                timeout=120, env=clean, cwd=cwd)
        return result.returncode, result.stdout + result.stderr
    with contextlib.chdir(cwd):
        result = CliRunner(env=env).invoke(cli, args)
    if result.exception is not None and not isinstance(result.exception, SystemExit):
        return 99, "".join(traceback.format_exception(result.exception))  # a crash: shown with its traceback
    return result.exit_code, result.output


def assert_fails_cleanly(args: list[str], env: dict[str, str], watched: Path, expect: str = "",
                         plugin_paths: list[Path] | None = None, progress: str = "") -> str:
    """Run ``genkit ARGS`` in ``watched``; assert a clean failure whose error matches ``expect``; the error.

    ``progress`` matches the lines a command prints while it works (a report's figures), before a
    write at its end fails.
    """
    before = snapshot(watched)
    code, output = invoke(args, env, watched, plugin_paths)
    assert code != 0, output
    assert "Traceback" not in output, output
    lines = [line for line in output.splitlines() if line.strip()]
    errors = [line for line in lines if line.startswith("Error:")]
    assert len(errors) == 1, output
    assert re.search(expect, errors[0]), errors[0]
    assert all(line in errors or CONTEXT_LINE.match(line) or progress and re.match(progress, line)
               for line in lines), output
    after = snapshot(watched)
    assert after.keys() == before.keys(), (f"added: {sorted(after.keys() - before.keys())}, "
                                           f"removed: {sorted(before.keys() - after.keys())}")
    assert [k for k in before if before[k] != after[k]] == [], "changed"
    return errors[0]
