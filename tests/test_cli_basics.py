"""The CLI's basics: --version, --help, list, one-line errors, and imports that stay cheap."""

from __future__ import annotations

import json
import subprocess
import sys
from importlib import metadata
from pathlib import Path

import pytest
from plugin_fixtures import clean_env, heavy_imports, imported_modules, modules_after, run_genkit, write_plugin

import genkit
from genkit.contract.hookspecs import API_VERSION

BUILTIN_COMPONENTS = {
    "encoder": {"conv"},
    "sampler": {"gaussian", "deterministic"},
    "decoder": {"transposed-conv"},
    "loss": {"vae", "reconstruction"},
}
BUILTIN_RECIPES = {"vae", "ae", "vae-faces"}
BUILTIN_DATASETS = {"fashion-mnist", "mnist", "folder", "npz"}


def test_version():
    result = run_genkit("--version")
    assert result.returncode == 0
    assert result.stdout.strip() == f"genkit {genkit.__version__} (plugin API {API_VERSION})"
    assert genkit.__version__ == metadata.version("genkit")


def test_console_script():
    script = Path(sys.executable).with_name("genkit")
    if not script.exists():
        pytest.skip("no genkit console script next to this interpreter")
    result = subprocess.run([str(script), "--version"], capture_output=True, text=True, env=clean_env())
    assert result.returncode == 0 and genkit.__version__ in result.stdout


def test_help_lists_commands():
    result = run_genkit("--help")
    assert result.returncode == 0, result.stderr
    for command in ("plugins", "list", "train", "export", "generate"):
        assert f"  {command} " in result.stdout
    assert "GENKIT_DISABLE_PLUGINS" in result.stdout and "--debug" in result.stdout
    assert result.stderr == ""


def test_unknown_command_suggests_the_closest():
    result = run_genkit("lsit")
    assert result.returncode == 2
    assert "No such command 'lsit'. Did you mean 'list'?" in result.stderr
    assert "Traceback" not in result.stderr


def test_import_genkit_is_cheap_by_importtime(tmp_path):
    result = subprocess.run([sys.executable, "-X", "importtime", "-c", "import genkit"], cwd=tmp_path,
                            env=clean_env(), capture_output=True, text=True)
    assert result.returncode == 0, result.stderr[-2000:]
    modules = imported_modules(result.stderr)
    assert "genkit" in modules  # the parse worked
    assert heavy_imports(modules) == []


@pytest.mark.parametrize("args", [["--help"], ["plugins"], ["list", "--json"], ["--version"]],
                         ids=["help", "plugins", "list", "version"])
def test_cheap_commands(args, tmp_path):
    # sys.modules at exit, not -X importtime: plugins are loaded with importlib, which importtime misses.
    result, modules = modules_after(*args, cwd=tmp_path)
    assert result.returncode == 0, result.stderr[-2000:]
    assert "genkit.cli" in modules and "click" in modules  # the probe worked
    assert heavy_imports(modules) == []
    if args[0] in ("plugins", "list"):
        assert {"genkit_plugins.vae", "genkit_plugins.ae", "genkit_plugins.datasets"} <= modules


def test_list_text_has_every_section():
    result = run_genkit("list")
    assert result.returncode == 0, result.stderr
    for section in ("encoders:", "samplers:", "decoders:", "losses:", "recipes:", "datasets:"):
        assert f"\n{section}\n" in f"\n{result.stdout}"


def test_builtin_plugins_register_the_reference_names():
    result = run_genkit("list", "--json")
    assert result.returncode == 0, result.stderr
    assert result.stderr == "", "a built-in plugin failed to load"
    listing = json.loads(result.stdout)
    for kind, names in BUILTIN_COMPONENTS.items():
        assert names <= {entry["name"] for entry in listing["components"][kind]}, kind
    recipes = {recipe["name"]: recipe for recipe in listing["recipes"]}
    assert BUILTIN_RECIPES <= set(recipes)
    assert BUILTIN_DATASETS <= {entry["name"] for entry in listing["datasets"]}
    # The ablation is structural: ae differs from vae in exactly the sampler and the loss.
    differ = {kind for kind in ("encoder", "sampler", "decoder", "loss") if recipes["ae"][kind] != recipes["vae"][kind]}
    assert differ == {"sampler", "loss"}


def test_error_in_a_command_is_one_line(tmp_path):
    write_plugin(tmp_path, "asks_plugin", """
        from genkit.contract.hookspecs import hookimpl

        @hookimpl
        def register_commands(cli):
            @cli.command("ask-recipe")
            def ask_recipe():
                from genkit.contract.host import get_registry
                get_registry().recipe("vea")
    """)
    result = run_genkit("ask-recipe", paths=[tmp_path])
    assert result.returncode == 1
    assert result.stderr.strip().splitlines() == [result.stderr.strip()]
    assert result.stderr.startswith("Error: unknown recipe 'vea'") and "Known:" in result.stderr
    debug = run_genkit("--debug", "ask-recipe", paths=[tmp_path])
    assert debug.returncode != 0 and "Traceback" in debug.stderr and "UnknownNameError" in debug.stderr


def test_in_process_reset_reloads_plugins(monkeypatch):
    """Tests that change the environment in-process use reset(); the host is cached otherwise."""
    from genkit import cli
    from genkit.contract import host as plugins

    builtin = [e.name for e in metadata.entry_points(group="genkit") if e.dist and e.dist.name == "genkit"]
    assert {"vae", "ae", "datasets"} <= set(builtin)
    monkeypatch.setenv("GENKIT_DISABLE_PLUGINS", ",".join(builtin))  # every in-tree plugin, however many there are
    plugins.reset()
    monkeypatch.setattr(cli.GenkitGroup, "_plugin_commands_loaded", False)
    try:
        host = plugins.get_host()
        assert host is plugins.get_host()
        assert all(info.disabled for info in host.plugins.values() if info.distribution == "genkit")
        assert plugins.get_registry().recipes == {}
    finally:
        plugins.reset()
