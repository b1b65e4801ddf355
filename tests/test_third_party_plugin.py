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

from genkit.testing import installed_registry

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
        "hooks": ["register_commands", "register_decoders", "register_losses", "register_recipes",
                  "register_samplers"],
        "registered": {"sampler": ["mixture"], "decoder": ["mlp"], "loss": ["mc-kl"],
                       "recipe": ["mlp-vae", "mlp-mixture-vae"], "command": ["example-hello"]},
        "error": None,
        "disabled": False,
        "api": ">=1.1,<2",
        "warnings": [],
    }
    text = run_genkit("plugins", paths=[example_site]).stdout
    assert f"example  (genkit-example {VERSION}, genkit_example)\n  plugin API: >=1.1,<2\n" in text


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
def example_registry(example_site, monkeypatch):
    """A fresh, strict registry that discovers the example from sys.path (so any plugin failure raises)."""
    monkeypatch.syspath_prepend(str(example_site))
    yield installed_registry(strict=True)
    for module in [m for m in sys.modules if m == "genkit_example" or m.startswith("genkit_example.")]:
        del sys.modules[module]


def test_decoder_passes_the_conformance_check(example_registry):
    from genkit.testing import check_decoder

    decoder_class = example_registry.component_class("decoder", "mlp")
    assert decoder_class.__module__ == "genkit_example.decoder"
    check_decoder(decoder_class, settings={"hidden": [32, 16]})


def test_recipe_passes_the_conformance_check(example_registry):
    from genkit.testing import check_recipe

    # the example recipe borrows the built-in conv encoder by name, across plugins
    assert "conv" in example_registry.components["encoder"]
    model = check_recipe("mlp-vae", example_registry)
    assert type(model.decoder).__name__ == "MLPDecoder"
    assert [m.out_features for m in model.decoder.net if hasattr(m, "out_features")] == [128, 28 * 28]


def test_its_mixture_prior_is_what_an_export_describes(example_registry):
    from genkit.onnx.describe import describe_prior
    from genkit.testing import build_recipe, check_exportable_sampler

    model = build_recipe("mlp-mixture-vae", example_registry)
    check_exportable_sampler(model.sampler, "mlp-mixture-vae")
    description = describe_prior(model.sampler.prior(), model.spec.latent_shape)
    assert description["family"] == "gaussian-mixture" and description["weights"] == [0.25] * 4
    assert description["means"][1] == pytest.approx([0.0, 2.0], abs=1e-6)  # the second of four on the circle


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


# -- docs/plugins.md shows this package as it is --------------------------------------------------------------

DOCS = (EXAMPLE_SOURCE.parents[2] / "docs" / "plugins.md").read_text(encoding="utf-8")


def python_blocks(text: str) -> list[list[str]]:
    return [block.splitlines() for block in re.findall(r"```python\n(.*?)```", text, re.S)]


def test_every_code_block_that_names_a_file_of_the_example_is_that_files_text():
    named = [lines for lines in python_blocks(DOCS) if re.fullmatch(r"# (src|tests)/\S+\.py", lines[0])]
    assert len(named) >= 8, [lines[0] for lines in named]
    for first, *body in named:
        text = (EXAMPLE_SOURCE / first[2:]).read_text(encoding="utf-8")
        assert "\n".join(body) + "\n" in text, f"docs/plugins.md shows {first[2:]} otherwise than it is"


def test_the_dataset_factory_of_the_reference_loads_through_the_registry():
    from genkit.contract.registry import Registry
    from genkit.data import load_dataset
    from genkit.errors import DataError

    [block] = [lines for lines in python_blocks(DOCS) if lines[0] == "# a dataset plugin's factory"]
    namespace: dict = {}
    exec("\n".join(block), namespace)  # noqa: S102 - the page's own example
    registry = Registry()
    registry.add_dataset("noise", namespace["noise"], plugin="docs", takes_argument=True)
    dataset = load_dataset("noise:40", (1, 8, 8), registry)
    train, test = dataset.split("train"), dataset.split("test")
    assert (len(train), len(test), dataset.image_shape) == (36, 4, (1, 8, 8))
    assert train.labels is not None and set(train.labels.tolist()) <= {0, 1} and train.class_names == ["dark", "bright"]
    with pytest.raises(DataError, match=r"noise:N needs a number of images, at least 10; got 'many'"):
        load_dataset("noise:many", (1, 8, 8), registry)
