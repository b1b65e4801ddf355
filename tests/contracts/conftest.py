"""The contract fixture plugin installed the way a real one is, and ``genkit`` run in a process of its own."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

HERE = Path(__file__).resolve().parent


@pytest.fixture(scope="session")
def site(tmp_path_factory) -> Path:
    """The plugin as an installed distribution: a dist-info folder whose entry point names the package."""
    root = tmp_path_factory.mktemp("site")
    info = root / "genkit_contract_fixtures-1.0.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: genkit-contract-fixtures\nVersion: 1.0\n")
    (info / "entry_points.txt").write_text("[genkit]\ncontract-fixtures = genkit_contract_fixtures\n")
    return root


def genkit(site: Path, cwd: Path, *args: str, blocked_torch: Path | None = None) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if not k.startswith("GENKIT_")}
    env["PYTHONPATH"] = os.pathsep.join(str(p) for p in (blocked_torch, HERE, site) if p)
    done = subprocess.run([sys.executable, "-m", "genkit", *args], cwd=cwd, env=env, capture_output=True,
                          text=True, timeout=300)
    return done


@pytest.fixture(scope="session")
def no_torch(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("no-torch")
    (root / "torch").mkdir()
    (root / "torch" / "__init__.py").write_text('raise ImportError("No module named \'torch\' (blocked)")\n')
    return root


