"""The wheel ships every package in the tree (the list in pyproject.toml is explicit)."""

from __future__ import annotations

import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def test_every_package_is_listed_in_pyproject():
    setuptools = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]
    mapped = {name: ROOT / folder for name, folder in setuptools.get("package-dir", {}).items()}
    mapped.setdefault("genkit", ROOT / "genkit")
    on_disk = set()
    for name, folder in mapped.items():
        for init in folder.rglob("__init__.py"):
            if "__pycache__" in init.parts:
                continue
            relative = init.parent.relative_to(folder).parts
            on_disk.add(".".join((name, *relative)))
    assert on_disk == set(setuptools["packages"])


def test_console_script_and_entry_points():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    assert project["scripts"]["genkit"] == "genkit.cli:main"
    assert set(project["entry-points"]["genkit"]) >= {"datasets", "vae", "ae"}
