"""Plugin discovery through entry points, per-plugin isolation, strict mode, blocking, hook checks.

Each failure case installs (as a bare dist-info, see plugin_fixtures) one broken plugin next to a
healthy one and runs ``genkit`` in a subprocess: the broken plugin must cost exactly one warning
line, the healthy one must keep working, ``genkit plugins --json`` must show the error, and strict
mode must turn it into one error line and a non-zero exit without a traceback.
"""

from __future__ import annotations

import builtins
import json
import textwrap
import types

import click
import pytest
from plugin_fixtures import run_genkit, warning_lines, write_plugin

from genkit.contract.host import PluginHost, PluginInfo
from genkit.errors import PluginError

HEALTHY = """
    from genkit.contract.hookspecs import hookimpl

    class Decoder:  # what the target names: strict mode imports every target
        pass

    @hookimpl
    def register_decoders(register):
        register("healthy-decoder", "healthy_plugin:Decoder", description="still here")
"""

HOOK = "from genkit.contract.hookspecs import hookimpl\n\n@hookimpl\n"

# name -> (module source, entry-point value or None, fragment of the error, command that meets it)
CASES = {
    "import-raises": ("raise RuntimeError('boom at import')\n", None,
                      "import of 'broken_plugin' failed: RuntimeError: boom at import", "list"),
    "import-exits": ("import sys\nsys.exit(3)\n", None, "SystemExit: 3", "list"),
    "missing-module": ("", "genkit_no_such_module", "No module named 'genkit_no_such_module'", "list"),
    "missing-attribute": ("", "broken_plugin:missing_attr", "AttributeError", "list"),
    "malformed-entry-point": ("", "broken_plugin:", "malformed entry point 'broken_plugin:'", "list"),
    "hook-raises": (HOOK + "def register_decoders(register):\n    register('half-done', 'a.b:C')\n"
                    "    raise ValueError('boom in hook')\n",
                    None, "hook register_decoders raised ValueError: boom in hook", "list"),
    "hook-name-typo": (HOOK + "def register_encoder(register):\n    pass\n", None,
                       "unknown hook 'register_encoder' (did you mean 'register_encoders'?)", "list"),
    "hook-signature": (HOOK + "def register_encoders(reg):\n    pass\n", None, "invalid hooks", "list"),
    "hook-returns": (HOOK + "def register_decoders(register):\n    return [('mlp', 'a.b:C')]\n", None,
                     "returned a value", "list"),
    "command-raises": (HOOK + "def register_commands(cli):\n    raise KeyError('oops')\n", None,
                       "hook register_commands raised KeyError", "--help"),
    "command-clash": (HOOK + "def register_commands(cli):\n    import click\n"
                      "    cli.add_command(click.Command('list', callback=lambda: None))\n",
                      None, "clashes with the built-in command 'list'", "--help"),
}


@pytest.fixture
def site(tmp_path):
    """A folder on PYTHONPATH holding the healthy plugin; tests add one broken plugin.

    Third-party plugins load in order of distribution name, so 'fixture-a-healthy' registers before
    'fixture-broken' and the duplicate case is blamed on the broken one.
    """
    write_plugin(tmp_path, "healthy_plugin", HEALTHY, entry_name="healthy", dist="fixture-a-healthy")
    return tmp_path


def add_broken(site, case: str):
    source, value, _, _ = CASES[case]
    write_plugin(site, "broken_plugin", source, entry_name="broken", dist="fixture-broken", value=value)


def stderr_lines(result) -> list[str]:
    return [line for line in result.stderr.splitlines() if line.strip()]


@pytest.mark.parametrize("case", list(CASES))
def test_broken_plugin_is_one_warning_and_the_rest_works(site, case):
    add_broken(site, case)
    command = CASES[case][3]
    args = ["list", "--json"] if command == "list" else [command]
    result = run_genkit(*args, paths=[site])
    assert result.returncode == 0, result.stderr
    warnings = warning_lines(result.stderr)
    assert len(warnings) == 1, result.stderr
    assert stderr_lines(result) == warnings  # nothing else on stderr, no traceback
    assert "plugin 'broken' skipped" in warnings[0] and CASES[case][2] in warnings[0]
    assert "GENKIT_DISABLE_PLUGINS=broken" in warnings[0]
    if command == "list":
        listing = json.loads(result.stdout)
        decoders = {d["name"]: d["plugin"] for d in listing["components"]["decoder"]}
        assert decoders["healthy-decoder"] == "healthy"
        assert "half-done" not in decoders  # registrations of a failed plugin are withdrawn
    else:
        assert "Commands:" in result.stdout and "list " in result.stdout


@pytest.mark.parametrize("case", list(CASES))
def test_plugins_json_reports_the_error(site, case):
    add_broken(site, case)
    result = run_genkit("plugins", "--json", paths=[site])
    assert result.returncode == 0, result.stderr
    plugins = {p["name"]: p for p in json.loads(result.stdout)}
    broken, healthy = plugins["broken"], plugins["healthy"]
    assert CASES[case][2] in broken["error"]
    assert broken["registered"] == {} and broken["disabled"] is False
    assert (broken["distribution"], broken["version"]) == ("fixture-broken", "1.0")
    assert healthy["error"] is None
    assert healthy["hooks"] == ["register_decoders"]
    assert healthy["registered"] == {"decoder": ["healthy-decoder"]}


@pytest.mark.parametrize("case", list(CASES))
def test_strict_mode_makes_it_one_error_line(site, case):
    add_broken(site, case)
    result = run_genkit(CASES[case][3], paths=[site], GENKIT_STRICT_PLUGINS="1")
    assert result.returncode != 0
    assert "Traceback" not in result.stdout + result.stderr
    lines = stderr_lines(result)
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("Error: plugin 'broken'") and CASES[case][2] in lines[0]


def test_plugins_text_output_shows_the_error(site):
    add_broken(site, "import-raises")
    result = run_genkit("plugins", paths=[site])
    assert result.returncode == 0
    assert "broken [ERROR]  (fixture-broken 1.0, broken_plugin)" in result.stdout
    assert "  error: import of 'broken_plugin' failed: RuntimeError: boom at import" in result.stdout
    assert "healthy  (fixture-a-healthy 1.0, healthy_plugin)" in result.stdout


@pytest.mark.parametrize("how", [{"GENKIT_DEBUG": "1"}, {"flag": "--debug"}])
def test_debug_shows_the_traceback(site, how):
    add_broken(site, "hook-raises")
    flags = [how["flag"]] if "flag" in how else []
    env = {k: v for k, v in how.items() if k != "flag"}
    result = run_genkit(*flags, "list", paths=[site], **env)
    assert result.returncode == 0
    assert "Traceback" in result.stderr and "ValueError: boom in hook" in result.stderr
    assert len(warning_lines(result.stderr)) == 1


def test_debug_in_strict_mode_raises_with_traceback(site):
    add_broken(site, "import-raises")
    result = run_genkit("--debug", "plugins", paths=[site], GENKIT_STRICT_PLUGINS="1")
    assert result.returncode != 0
    assert "Traceback" in result.stderr and "boom at import" in result.stderr


@pytest.mark.parametrize("names", ["broken", "fixture-broken", "Fixture_Broken", "other, broken"])
def test_disable_by_entry_point_or_distribution_name(site, names):
    add_broken(site, "import-raises")
    result = run_genkit("plugins", "--json", paths=[site], GENKIT_DISABLE_PLUGINS=names,
                        GENKIT_STRICT_PLUGINS="1")  # a blocked plugin is not even imported
    assert result.returncode == 0, result.stderr
    assert result.stderr == ""
    plugins = {p["name"]: p for p in json.loads(result.stdout)}
    assert plugins["broken"]["disabled"] is True and plugins["broken"]["error"] is None
    assert plugins["healthy"]["registered"] == {"decoder": ["healthy-decoder"]}


def test_strict_mode_imports_every_target_at_start_up(site):
    write_plugin(site, "lazy_plugin", HOOK + "def register_decoders(register):\n"
                 "    register('lazy-decoder', 'lazy_plugin:Missing')\n", entry_name="lazy", dist="fixture-lazy")
    relaxed = run_genkit("list", "--json", paths=[site])
    assert relaxed.returncode == 0 and relaxed.stderr == ""  # otherwise a target is imported when first used
    strict = run_genkit("list", paths=[site], GENKIT_STRICT_PLUGINS="1")
    assert strict.returncode == 1 and "Traceback" not in strict.stderr
    [line] = stderr_lines(strict)
    assert line.startswith("Error: plugin 'lazy': decoder 'lazy-decoder' of plugin 'lazy' cannot be imported from "
                           "lazy_plugin:Missing: AttributeError")


def test_disable_withdraws_registrations(site):
    result = run_genkit("list", "--json", paths=[site], GENKIT_DISABLE_PLUGINS="healthy")
    decoders = [d["name"] for d in json.loads(result.stdout)["components"]["decoder"]]
    assert "healthy-decoder" not in decoders


def test_several_broken_plugins_each_cost_one_line(site):
    for i, case in enumerate(["import-raises", "hook-name-typo", "missing-attribute"]):
        source, value, _, _ = CASES[case]
        write_plugin(site, f"broken{i}", source, value=value and value.replace("broken_plugin", f"broken{i}"))
    result = run_genkit("list", paths=[site])
    assert result.returncode == 0
    warnings = warning_lines(result.stderr)
    assert len(warnings) == 3 and stderr_lines(result) == warnings
    assert [w.split("'")[1] for w in warnings] == ["broken0", "broken1", "broken2"]
    assert "healthy-decoder" in result.stdout


def test_builtin_names_win_over_a_third_party_duplicate(site):
    # Built-ins load first, so the duplicate is always blamed on the third-party plugin, whatever
    # the order of sys.path (the fixture folder comes before site-packages here).
    write_plugin(site, "dupe_plugin", HOOK + "def register_recipes(register):\n"
                 "    register('vae', encoder='conv', sampler='gaussian', decoder='mlp', loss='vae',\n"
                 "             input_shape=(1, 28, 28), latent_shape=2)\n", entry_name="dupe")
    result = run_genkit("plugins", "--json", paths=[site])
    plugins = {p["name"]: p for p in json.loads(result.stdout)}
    assert "vae" in plugins["vae"]["registered"]["recipe"], plugins["vae"]  # the built-in is the one kept
    assert "recipe 'vae' is registered by both plugin 'vae' and plugin 'dupe'" in plugins["dupe"]["warnings"][0]
    [warning] = warning_lines(result.stderr)
    assert "plugin 'dupe': one registration skipped: recipe 'vae' is registered by both" in warning


CLASHING = HOOK + """def register_decoders(register):
    register('healthy-decoder', 'a.b:C')
    register('own-decoder', 'a.b:C')

@hookimpl
def register_recipes(register):
    register('own-recipe', encoder='conv', sampler='gaussian', decoder='own-decoder', loss='vae',
             input_shape=(1, 28, 28), latent_shape=2)
"""


def test_a_name_clash_skips_only_the_clashing_registration(site):
    write_plugin(site, "broken_plugin", CLASHING, entry_name="broken", dist="fixture-broken")
    result = run_genkit("list", "--json", paths=[site])
    assert result.returncode == 0, result.stderr
    [warning] = warning_lines(result.stderr)
    assert stderr_lines(result) == [warning]
    assert warning.startswith("genkit: warning: plugin 'broken': one registration skipped: decoder "
                              "'healthy-decoder' is registered by both plugin 'healthy' and plugin 'broken'; rename")
    listing = json.loads(result.stdout)
    decoders = {d["name"]: d["plugin"] for d in listing["components"]["decoder"]}
    assert decoders["healthy-decoder"] == "healthy" and decoders["own-decoder"] == "broken"
    assert "own-recipe" in {r["name"] for r in listing["recipes"]}
    plugins = {p["name"]: p for p in json.loads(run_genkit("plugins", "--json", paths=[site]).stdout)}
    assert plugins["broken"]["error"] is None and len(plugins["broken"]["warnings"]) == 1
    text = run_genkit("plugins", paths=[site]).stdout
    assert "  warning: one registration skipped: decoder 'healthy-decoder'" in text


def test_a_name_clash_in_strict_mode_is_one_error_line(site):
    write_plugin(site, "broken_plugin", CLASHING, entry_name="broken", dist="fixture-broken")
    result = run_genkit("list", paths=[site], GENKIT_STRICT_PLUGINS="1")
    assert result.returncode != 0 and "Traceback" not in result.stderr
    [line] = stderr_lines(result)
    assert line.startswith("Error: plugin 'broken': one registration skipped: decoder 'healthy-decoder' is "
                           "registered by both plugin 'healthy' and plugin 'broken'")


def test_same_entry_point_name_in_two_distributions(site):
    other = site / "other"
    write_plugin(other, "healthy_twin", HEALTHY.replace("healthy-decoder", "twin-decoder"),
                 entry_name="healthy", dist="zz-twin")
    result = run_genkit("plugins", "--json", paths=[site, other])
    assert result.returncode == 0
    plugins = {p["name"] + (f"@{p['distribution']}"): p for p in json.loads(result.stdout)}
    assert plugins["healthy@fixture-a-healthy"]["error"] is None
    twin = plugins["healthy@zz-twin"]
    assert "already used by distribution 'fixture-a-healthy'" in twin["error"]
    [warning] = warning_lines(result.stderr)
    assert warning.endswith("GENKIT_DISABLE_PLUGINS=zz-twin)")  # the entry-point name would hide both


def test_installed_plugins_are_found_through_the_entry_point_group(site):
    # The built-in plugins are found the same way as fixtures: through their distribution's entry points.
    result = run_genkit("plugins", "--json", paths=[site])
    plugins = {p["name"]: p for p in json.loads(result.stdout)}
    for name in ("datasets", "vae", "ae"):
        assert plugins[name]["distribution"] == "genkit"
        assert plugins[name]["module"] == f"genkit_plugins.{name}"
    assert plugins["healthy"]["distribution"] == "fixture-a-healthy"


# -- the host in-process: call order, hook arguments, command collisions -------------------------------

def plugin_module(name: str, source: str):
    module = types.ModuleType(name)
    exec(textwrap.dedent(source), module.__dict__)
    return module


def host_with(*plugins, strict=False):
    host = PluginHost(strict=strict, disabled=(), debug=False)
    for name, source in plugins:
        host.add_plugin(plugin_module(name, source), PluginInfo(name, f"dist-{name}", "1.0", name))
    return host


def test_hooks_run_in_load_order_and_may_omit_arguments():
    calls = "import builtins\nbuiltins.GENKIT_TEST_CALLS = getattr(builtins, 'GENKIT_TEST_CALLS', [])\n"
    first = calls + HOOK + "def register_losses(register):\n    GENKIT_TEST_CALLS.append('first')\n" \
        "    register('l1', 'a.b:L1')\n"
    second = calls + HOOK + "def register_losses():\n    GENKIT_TEST_CALLS.append('second')\n"
    builtins.GENKIT_TEST_CALLS = []
    try:
        host = host_with(("first", first), ("second", second))
        host.run_registrations()
        assert builtins.GENKIT_TEST_CALLS == ["first", "second"]
    finally:
        del builtins.GENKIT_TEST_CALLS
    assert host.plugins["first"].registered == {"loss": ["l1"]}
    assert host.plugins["second"].hooks == ["register_losses"] and host.plugins["second"].error is None
    assert host.distribution_of("first") == ("dist-first", "1.0")


def test_two_plugins_adding_the_same_command(capsys):
    adds_hello = HOOK + "def register_commands(cli):\n    import click\n" \
        "    @cli.command('hello')\n    def hello():\n        '''Say hello.'''\n"
    host = host_with(("one", adds_hello), ("two", adds_hello))
    host.run_registrations()
    group = click.Group("genkit")
    host.register_commands(group, reserved={"list"})
    assert list(group.commands) == ["hello"]
    assert host.command_owners == {"hello": "one"}
    assert host.plugins["one"].registered == {"command": ["hello"]}
    assert "command 'hello' of plugin 'one'" in host.plugins["two"].error
    assert len(warning_lines(capsys.readouterr().err)) == 1


def test_strict_host_raises_plugin_error():
    with pytest.raises(PluginError, match="plugin 'typo'.*unknown hook 'register_dataset'"):
        host_with(("typo", HOOK + "def register_dataset(register):\n    pass\n"), strict=True)
