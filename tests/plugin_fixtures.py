"""Helpers for the plugin-system tests: fake installed plugins, and ``genkit`` run in a subprocess.

Entry points are read from the ``*.dist-info`` folders on ``sys.path``, so a folder holding a module
and a minimal ``NAME-VERSION.dist-info`` with ``entry_points.txt`` is, to genkit, an installed
package. Writing that by hand keeps the failure-case plugins fast (no pip) while discovery still goes
through the real entry-point machinery. Subprocesses keep each run's plugins out of the test process.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
EXAMPLE_SOURCE = REPO / "tests" / "fixtures" / "genkit-example"
# The same package as it was written for genkit 0.1.0, kept unchanged: the suite proves it still runs.
EXAMPLE_0_1_SOURCE = REPO / "tests" / "fixtures" / "genkit-example-0.1"
HEAVY_MODULES = ("torch", "onnxruntime")
WARNING_PREFIX = "genkit: warning:"


def write_plugin(root: Path, module: str, source: str, *, entry_name: str | None = None,
                 dist: str | None = None, version: str = "1.0", value: str | None = None) -> Path:
    """Make ``module`` (a ``.py`` file with ``source``) an installed plugin of distribution ``dist``.

    ``entry_name`` defaults to ``module``, ``dist`` to ``fixture-<module>``, ``value`` (the entry
    point's target) to ``module``. Returns the dist-info folder.
    """
    root.mkdir(parents=True, exist_ok=True)
    (root / f"{module}.py").write_text(textwrap.dedent(source), encoding="utf-8")
    dist = dist or f"fixture-{module.replace('_', '-')}"
    info = root / f"{dist.replace('-', '_')}-{version}.dist-info"
    info.mkdir()
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {dist}\nVersion: {version}\n", encoding="utf-8")
    (info / "entry_points.txt").write_text(
        f"[genkit]\n{entry_name or module} = {value or module}\n", encoding="utf-8"
    )
    return info


def clean_env(paths: list[Path] | tuple[Path, ...] = (), **extra: str) -> dict[str, str]:
    """The test process's environment without genkit's switches, plus ``PYTHONPATH=paths``."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("GENKIT_") and k != "PYTHONPATH"}
    if paths:
        env["PYTHONPATH"] = os.pathsep.join(str(p) for p in paths)
    env.update(extra)
    return env


def run_genkit(*args: str, paths: list[Path] | tuple[Path, ...] = (), cwd: Path | None = None,
               python_flags: tuple[str, ...] = (), **env: str) -> subprocess.CompletedProcess:
    """Run ``python -m genkit ARGS`` with ``paths`` on PYTHONPATH and ``env`` (e.g. GENKIT_DEBUG="1").

    ``cwd`` should not be the repository: ``-m`` puts the working directory on sys.path.
    """
    return subprocess.run(
        [sys.executable, *python_flags, "-m", "genkit", *args],
        cwd=str(cwd or (paths[0] if paths else Path.home())),
        env=clean_env(paths, **env), capture_output=True, text=True, timeout=120,
    )


def warning_lines(stderr: str) -> list[str]:
    return [line for line in stderr.splitlines() if line.startswith(WARNING_PREFIX)]


def imported_modules(importtime_stderr: str) -> set[str]:
    """Module names from ``python -X importtime`` output (``import time: self | cumulative | name``).

    importtime sees ``import`` statements only, not ``importlib.import_module``, which is how entry
    points and lazy targets are loaded: ``modules_after`` is the complete answer.
    """
    names = set()
    for line in importtime_stderr.splitlines():
        match = re.match(r"import time:\s+\d+\s+\|\s+\d+\s+\|\s*(\S+)", line)
        if match:
            names.add(match.group(1))
    return names


_PROBE = """
import json, runpy, sys
sys.argv = ["genkit", *json.loads(sys.argv[1])]
try:
    runpy.run_module("genkit", run_name="__main__", alter_sys=True)
except SystemExit:
    pass
sys.stderr.write("\\nMODULES " + json.dumps(sorted(sys.modules)) + "\\n")
"""


def modules_after(*args: str, paths: list[Path] | tuple[Path, ...] = (), cwd: Path | None = None,
                  **env: str) -> tuple[subprocess.CompletedProcess, set[str]]:
    """Run ``genkit ARGS`` in a subprocess; return the result and every module in sys.modules at the end."""
    result = subprocess.run(
        [sys.executable, "-c", _PROBE, json.dumps(list(args))],
        cwd=str(cwd or (paths[0] if paths else Path.home())),
        env=clean_env(paths, **env), capture_output=True, text=True, timeout=120,
    )
    _, found, marker = result.stderr.rpartition("\nMODULES ")
    return result, set(json.loads(marker.splitlines()[0])) if found else set()


def heavy_imports(modules: set[str]) -> list[str]:
    return sorted(m for m in modules if m.split(".")[0] in HEAVY_MODULES)


def install_example(workdir: Path, source_tree: Path = EXAMPLE_SOURCE) -> Path:
    """pip-install the genkit-example fixture (or ``source_tree``) into ``workdir/site``; return that folder.

    The source is copied first so that the build's ``build/`` and ``*.egg-info`` stay out of the
    repository. ``--no-build-isolation`` uses the setuptools already installed: no network needed.
    """
    source, target = workdir / "src", workdir / "site"
    shutil.copytree(source_tree, source, ignore=shutil.ignore_patterns("build", "*.egg-info", "__pycache__"))
    result = subprocess.run(
        [sys.executable, "-m", "pip", "install", "--quiet", "--no-deps", "--no-build-isolation",
         "--disable-pip-version-check", "--no-input", "--target", str(target), str(source)],
        capture_output=True, text=True, timeout=300, env=clean_env(),
    )
    if result.returncode != 0:
        raise RuntimeError(f"pip could not install the genkit-example fixture:\n{result.stdout}\n{result.stderr}")
    return target
