"""The players fixture plugin (tests/fixtures/players_plugin), in this process or installed for subprocesses.

``fixture_host()`` loads genkit's plugins plus the fixture's module as a private plugin host;
``install_fixture(root)`` makes it an installed distribution under ``root`` (a dist-info with its entry
point), for ``genkit`` run in a subprocess or under torchrun.
"""

from __future__ import annotations

import contextlib
import shutil
import sys
from collections.abc import Iterator
from pathlib import Path

FIXTURE_DIR = Path(__file__).resolve().parent / "fixtures" / "players_plugin"
MODULE = "genkit_players_fixture"
RECIPE = "fixture-wgan"


def loaded_host():
    """A plugin host with genkit's installed plugins and the fixture (not made the process-wide one)."""
    import importlib

    from genkit.contract.host import PluginHost, PluginInfo

    if str(FIXTURE_DIR) not in sys.path:
        sys.path.insert(0, str(FIXTURE_DIR))
    module = importlib.import_module(MODULE)
    host = PluginHost(strict=True)
    host.load_entry_points()
    host.add_plugin(module, PluginInfo("players-fixture", "genkit-players-fixture", "1.0", MODULE))
    host.run_registrations()
    return host


@contextlib.contextmanager
def fixture_host() -> Iterator[object]:
    """genkit's installed plugins and the fixture, as the process-wide host inside the block."""
    from genkit.contract.host import hosting

    with hosting(loaded_host()) as host:
        yield host


def install_fixture(root: Path) -> Path:
    """The fixture as an installed distribution in ``root`` (put ``root`` on PYTHONPATH); returns ``root``."""
    root.mkdir(parents=True, exist_ok=True)
    shutil.copy(FIXTURE_DIR / f"{MODULE}.py", root / f"{MODULE}.py")
    info = root / "genkit_players_fixture-1.0.dist-info"
    info.mkdir(exist_ok=True)
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: genkit-players-fixture\nVersion: 1.0\n")
    (info / "entry_points.txt").write_text(f"[genkit]\nplayers-fixture = {MODULE}\n")
    return root
