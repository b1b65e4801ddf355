"""The example plugin as it was written for genkit 0.1.0 (tests/fixtures/genkit-example-0.1, frozen) on this genkit.

It imports ``genkit.hookspecs``, ``genkit.components`` and ``genkit.plugins``, registers its recipe with
``z_dim=2`` and builds its decoder from ``spec.z_dim``: every one of those is a 0.1 name that moved or
changed since. The promise (docs/plugins.md, "Versions and deprecations") is that such a plugin runs on
the next minor release with deprecation warnings only: it loads, trains, exports, generates, runs its
command, and its own tests pass. Each step runs as the ``genkit`` command, in a process of its own.
"""

from __future__ import annotations

import re
import subprocess
import sys

import pytest
from plugin_fixtures import EXAMPLE_0_1_SOURCE, clean_env, install_example, run_genkit

# The 0.1 names the package uses, each of which must be named by a deprecation warning.
OLD_NAMES = ("module genkit.hookspecs", "module genkit.components", "module genkit.plugins",
             "register(..., z_dim=N)", "ModelSpec.z_dim")

DEPRECATION = re.compile(r"^genkit: warning: .* is deprecated since genkit 0\.2\.0 and will be removed in genkit "
                         r"0\.4\.0; use .* \((at|in) \S+:\d+\)$")


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    return install_example(tmp_path_factory.mktemp("genkit-example-0.1"), EXAMPLE_0_1_SOURCE)


def deprecations_only(result: subprocess.CompletedProcess) -> list[str]:
    """Assert the command succeeded, with no traceback, no error and no warning but deprecations; return those."""
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-3000:]
    assert "Traceback" not in result.stderr and "Error" not in result.stderr, result.stderr
    warnings = [line for line in result.stderr.splitlines() if "warning" in line.lower()]
    assert warnings == [line for line in warnings if DEPRECATION.match(line)], result.stderr
    return warnings


def test_it_loads_with_deprecation_warnings_that_point_at_its_own_lines(site):
    result = run_genkit("plugins", paths=[site])
    warnings = deprecations_only(result)
    assert "example  (genkit-example 0.3.1, genkit_example)" in result.stdout
    assert "error:" not in result.stdout
    # each warning names the plugin's own line that used the old name, not a line of genkit
    assert all(f"{site}/genkit_example/" in line for line in warnings), warnings
    assert any("module genkit.hookspecs" in line for line in warnings)


def test_it_trains_exports_generates_and_runs_its_command(site, tmp_path):
    train = run_genkit("train", "mlp-vae", "--limit", "256", "--quiet", "--set", "training.epochs=1",
                       "--set", "encoder.filters=[8,8,8,8]", "-o", "run", paths=[site], cwd=tmp_path)
    warned = " ".join(deprecations_only(train))
    assert (tmp_path / "run" / "model.safetensors").is_file()
    export = run_genkit("export", "run", "--onnx", "-o", "export", paths=[site], cwd=tmp_path)
    deprecations_only(export)
    generate = run_genkit("generate", "export", "-n", "4", "-o", "samples.png", paths=[site], cwd=tmp_path)
    deprecations_only(generate)
    assert (tmp_path / "samples.png").stat().st_size > 0
    hello = run_genkit("example-hello", "--name", "0.1", paths=[site], cwd=tmp_path)
    warned += " ".join(deprecations_only(hello))
    assert hello.stdout.strip() == "Hello, 0.1, from genkit-example 0.3.1: recipe mlp-vae uses decoder 'mlp'."
    missing = [name for name in OLD_NAMES if name not in warned]
    assert not missing, f"no deprecation warning named {missing}"


def test_its_own_test_suite_passes_with_deprecation_warnings_only(site):
    source = site.parent / "src"
    result = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-W", "error",
         "-W", "default::genkit.deprecation.GenkitDeprecationWarning", "tests"],
        cwd=source, env=clean_env([site]), capture_output=True, text=True, timeout=300,
    )
    # -W error: any warning but genkit's deprecations would fail the package's tests
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-2000:]
    assert " passed" in result.stdout and "skipped" not in result.stdout and "failed" not in result.stdout
    assert "GenkitDeprecationWarning: module genkit.components is deprecated" in result.stdout
