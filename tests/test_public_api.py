"""The public API, listed: a name a plugin may rely on never disappears without a deprecation shim.

``tests/public_api.json`` lists, per public module, the names it offers (its ``__all__``, or else every
top-level name it defines that does not start with ``_``); ``"moved"`` lists the 0.1 modules that moved,
with the names they offered then. The tests fail when a listed name no longer resolves (a removal or a
rename without a shim), and when a module offers a name the list lacks, so that every addition to the
API is a reviewed change of this file. Regenerate it after such a change with
``python tests/test_public_api.py``, and say in CHANGELOG.md what changed.
"""

from __future__ import annotations

import ast
import importlib
import json
import sys
import warnings
from pathlib import Path

import pytest

from genkit.deprecation import MOVED_MODULES, GenkitDeprecationWarning

LISTING = Path(__file__).with_name("public_api.json")
PUBLIC_MODULES = (
    "genkit", "genkit.contract.components", "genkit.contract.model", "genkit.contract.priors",
    "genkit.contract.registry", "genkit.contract.host", "genkit.contract.hookspecs", "genkit.testing",
    "genkit.data", "genkit.config", "genkit.training", "genkit.runtime", "genkit.deprecation",
)


def offered_names(module_name: str) -> list[str]:
    """What ``module_name`` offers: ``__all__`` where it says, else its public top-level definitions."""
    module = importlib.import_module(module_name)
    if hasattr(module, "__all__"):
        return sorted(module.__all__)
    tree = ast.parse(Path(module.__file__).read_text(encoding="utf-8"))
    names = set()
    for node in tree.body:
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            names.add(node.name)
        elif isinstance(node, (ast.Assign, ast.AnnAssign)):
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            names.update(t.id for t in targets if isinstance(t, ast.Name))
    return sorted(n for n in names if not n.startswith("_"))


LISTED = json.loads(LISTING.read_text(encoding="utf-8"))


def resolve(module_name: str, name: str) -> object:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", GenkitDeprecationWarning)  # a shim may warn; it must still answer
        return getattr(importlib.import_module(module_name), name)


@pytest.mark.parametrize("module_name", sorted(LISTED["modules"]))
def test_every_listed_name_still_resolves(module_name):
    missing = []
    for name in LISTED["modules"][module_name]:
        try:
            resolve(module_name, name)
        except AttributeError:
            missing.append(name)
    assert not missing, (f"{module_name} no longer offers {missing}: keep each through a deprecation shim "
                         f"(genkit.deprecation) for at least one minor release, with a CHANGELOG.md entry")


@pytest.mark.parametrize("module_name", PUBLIC_MODULES)
def test_the_listing_names_everything_the_module_offers(module_name):
    new = sorted(set(offered_names(module_name)) - set(LISTED["modules"].get(module_name, ())))
    assert not new, (f"{module_name} offers {new}, which tests/public_api.json does not list: a new public name is "
                     f"a promise; add it (python tests/test_public_api.py) and to CHANGELOG.md")


@pytest.mark.parametrize("old", sorted(LISTED["moved"]))
def test_every_moved_module_still_offers_its_0_1_names(old):
    assert old in MOVED_MODULES, f"{old} is no longer importable under its 0.1 name"
    sys.modules.pop(old, None)
    missing = [name for name in LISTED["moved"][old] if not hasattr_quietly(old, name)]
    assert not missing, f"{old} (now {MOVED_MODULES[old]}) lost {missing}"


def hasattr_quietly(module_name: str, name: str) -> bool:
    try:
        resolve(module_name, name)
    except AttributeError:
        return False
    return True


def main() -> None:
    """Add what the modules offer now to the listing. Nothing listed is dropped: a name leaves the listing by
    hand, in the release that removes its shim."""
    modules = {name: sorted({*LISTED["modules"].get(name, ()), *offered_names(name)}) for name in PUBLIC_MODULES}
    listing = {"modules": modules, "moved": LISTED["moved"]}
    LISTING.write_text(json.dumps(listing, indent=1, sort_keys=True) + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
