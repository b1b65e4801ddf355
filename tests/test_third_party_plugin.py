"""A real third-party package, tests/fixtures/genkit-example, pip-installed and found by its entry point.

Nothing here registers the plugin by hand: the package is installed into a folder of its own, that
folder goes on PYTHONPATH (or sys.path), and genkit must find it through the ``genkit`` entry-point
group like any other installed distribution.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys

import pytest
from plugin_fixtures import EXAMPLE_SOURCE, clean_env, heavy_imports, install_example, modules_after, run_genkit

from genkit.plugins import PluginHost

# tomllib is Python 3.11+; genkit supports 3.10.
VERSION = re.search(r'^version = "([^"]+)"', (EXAMPLE_SOURCE / "pyproject.toml").read_text(), re.M).group(1)


@pytest.fixture(scope="session")
def example_site(tmp_path_factory):
    return install_example(tmp_path_factory.mktemp("genkit-example"))


def plugins_by_name(result) -> dict:
    assert result.returncode == 0, result.stderr
    return {p["name"]: p for p in json.loads(result.stdout)}


def test_installed_as_a_distribution_with_an_entry_point(example_site):
    [dist_info] = example_site.glob("genkit_example-*.dist-info")
    assert dist_info.name == f"genkit_example-{VERSION}.dist-info"
    assert "[genkit]\nexample = genkit_example" in (dist_info / "entry_points.txt").read_text()


def test_genkit_plugins_shows_it(example_site):
    result = run_genkit("plugins", "--json", paths=[example_site])
    assert result.stderr == ""
    example = plugins_by_name(result)["example"]
    assert example == {
        "name": "example",
        "distribution": "genkit-example",
        "version": VERSION,
        "module": "genkit_example",
        "hooks": ["register_commands", "register_decoders", "register_recipes"],
        "registered": {"decoder": ["mlp"], "recipe": ["mlp-vae"], "command": ["example-hello"]},
        "error": None,
        "disabled": False,
    }
    text = run_genkit("plugins", paths=[example_site]).stdout
    assert f"example  (genkit-example {VERSION}, genkit_example)" in text


def test_absent_when_not_installed(tmp_path):
    assert "example" not in plugins_by_name(run_genkit("plugins", "--json", paths=[tmp_path]))


def test_genkit_list_shows_its_decoder_and_recipe(example_site):
    result = run_genkit("list", "--json", paths=[example_site])
    assert result.returncode == 0 and result.stderr == ""
    listing = json.loads(result.stdout)
    decoders = {d["name"]: d for d in listing["components"]["decoder"]}
    assert decoders["mlp"]["plugin"] == "example"
    assert decoders["mlp"]["target"] == "genkit_example.decoder:MLPDecoder"
    recipe = {r["name"]: r for r in listing["recipes"]}["mlp-vae"]
    parts = (recipe["encoder"], recipe["sampler"], recipe["decoder"], recipe["loss"])
    assert parts == ("conv", "gaussian", "mlp", "vae")
    assert recipe["plugin"] == "example" and recipe["settings"]["decoder"] == {"hidden": [128]}


def test_its_command_runs(example_site):
    result = run_genkit("example-hello", "--name", "tests", paths=[example_site])
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == (f"Hello, tests, from genkit-example {VERSION}: "
                                     f"recipe mlp-vae uses decoder 'mlp'.")
    assert "example-hello" in run_genkit("--help", paths=[example_site]).stdout


@pytest.mark.parametrize("name", ["genkit-example", "example"])
def test_disabling_it_withdraws_everything(example_site, name):
    env = {"GENKIT_DISABLE_PLUGINS": name}
    example = plugins_by_name(run_genkit("plugins", "--json", paths=[example_site], **env))["example"]
    assert example["disabled"] is True and example["registered"] == {} and example["hooks"] == []
    listing = json.loads(run_genkit("list", "--json", paths=[example_site], **env).stdout)
    assert "mlp" not in {d["name"] for d in listing["components"]["decoder"]}
    assert "mlp-vae" not in {r["name"] for r in listing["recipes"]}
    result = run_genkit("example-hello", paths=[example_site], **env)
    assert result.returncode == 2 and "No such command 'example-hello'" in result.stderr


def test_listing_it_imports_no_torch(example_site):
    result, modules = modules_after("plugins", paths=[example_site])
    assert result.returncode == 0, result.stderr
    assert "genkit_example" in modules and "genkit_example.decoder" not in modules
    assert heavy_imports(modules) == []


# -- in-process: the component and the recipe keep genkit's contracts ----------------------------------

@pytest.fixture
def example_host(example_site, monkeypatch):
    """A fresh, strict host that discovers the example from sys.path (so any plugin failure raises)."""
    monkeypatch.syspath_prepend(str(example_site))
    host = PluginHost(strict=True, disabled=())
    host.load_entry_points()
    host.run_registrations()
    yield host
    for module in [m for m in sys.modules if m == "genkit_example" or m.startswith("genkit_example.")]:
        del sys.modules[module]


def test_decoder_passes_the_conformance_check(example_host):
    from genkit.testing import check_decoder

    decoder_class = example_host.registry.component_class("decoder", "mlp")
    assert decoder_class.__module__ == "genkit_example.decoder"
    check_decoder(decoder_class, settings={"hidden": [32, 16]})


def test_recipe_passes_the_conformance_check(example_host):
    from genkit.testing import check_recipe

    # the example recipe borrows the built-in conv encoder by name, across plugins
    assert "conv" in example_host.registry.components["encoder"]
    model = check_recipe("mlp-vae", example_host.registry)
    assert type(model.decoder).__name__ == "MLPDecoder"
    assert [m.out_features for m in model.decoder.net if hasattr(m, "out_features")] == [128, 28 * 28]


def test_its_own_test_suite_passes_against_the_installed_package(example_site):
    # The copy pip installed from holds the package's tests (the ones docs/plugins.md shows); its
    # src/ folder is not on the path, so they import the installed package.
    source = example_site.parent / "src"
    result = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "tests"],
        cwd=source, env=clean_env([example_site]), capture_output=True, text=True, timeout=300,
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-2000:]
    assert " passed" in result.stdout and "skipped" not in result.stdout
