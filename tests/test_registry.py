"""The registry on its own: collisions, unknown names, dataset specs, lazy targets."""

from __future__ import annotations

import subprocess
import sys
import textwrap

import pytest

from genkit.contract.registry import Registry, make_register
from genkit.errors import ConfigError, GenkitError, PluginError, UnknownNameError

RECIPE = dict(encoder="conv", sampler="gaussian", decoder="transposed-conv", loss="vae",
              input_shape=(1, 28, 28), latent_shape=2)


def filled() -> Registry:
    registry = Registry()
    registry.add_component("encoder", "conv", "genkit_plugins.vae.encoder:ConvEncoder", plugin="vae")
    registry.add_component("decoder", "transposed-conv", "x.y:Decoder", plugin="vae")
    registry.add_recipe("vae", plugin="vae", **RECIPE)
    registry.add_recipe("vae-faces", plugin="vae", **RECIPE)
    registry.add_dataset("fashion-mnist", "x.y:load", plugin="datasets")
    registry.add_dataset("folder", "x.y:load_folder", plugin="datasets", takes_argument=True)
    return registry


# -- collisions ------------------------------------------------------------------------------------

@pytest.mark.parametrize("kind", ["encoder", "sampler", "decoder", "loss"])
def test_duplicate_component_names_both_plugins(kind):
    registry = Registry()
    registry.add_component(kind, "same", "a.b:C", plugin="first")
    with pytest.raises(PluginError) as info:
        registry.add_component(kind, "same", "d.e:F", plugin="second")
    message = str(info.value)
    assert "'first'" in message and "'second'" in message and "'same'" in message and kind in message
    assert registry.component(kind, "same").plugin == "first"  # the first registration stands


def test_duplicate_recipe_and_dataset_name_both_plugins():
    registry = filled()
    with pytest.raises(PluginError, match=r"recipe 'vae' is registered by both plugin 'vae' and plugin 'other'"):
        registry.add_recipe("vae", plugin="other", **RECIPE)
    with pytest.raises(PluginError, match=r"dataset 'folder' .*'datasets'.*'other'"):
        registry.add_dataset("folder", "a.b:c", plugin="other")


def test_same_name_in_different_kinds_is_fine():
    registry = Registry()
    registry.add_component("sampler", "vae", "a.b:S", plugin="p")
    registry.add_component("loss", "vae", "a.b:L", plugin="p")
    registry.add_recipe("vae", plugin="p", **RECIPE)
    assert registry.component("loss", "vae").target == "a.b:L"


def test_remove_plugin_forgets_all_its_entries():
    registry = filled()
    registry.add_component("sampler", "gaussian", "a.b:G", plugin="other")
    registry.remove_plugin("vae")
    assert list(registry.recipes) == []
    assert registry.components["encoder"] == {} and list(registry.components["sampler"]) == ["gaussian"]
    assert list(registry.datasets) == ["fashion-mnist", "folder"]


# -- validation at registration ----------------------------------------------------------------------

@pytest.mark.parametrize("name", ["", "has space", "has:colon", None, 3])
def test_invalid_names_are_rejected(name):
    with pytest.raises(PluginError, match="invalid encoder name"):
        Registry().add_component("encoder", name, "a.b:C", plugin="p")


@pytest.mark.parametrize("target", ["no_colon", "a.b:", ":C", "a b:C", None])
def test_malformed_targets_are_rejected_at_registration(target):
    with pytest.raises(PluginError, match="of plugin 'p'"):
        Registry().add_component("decoder", "mlp", target, plugin="p")


@pytest.mark.parametrize("change, words", [
    ({"input_shape": (28, 28)}, "input_shape"),
    ({"input_shape": (1, 0, 28)}, "input_shape"),
    ({"latent_shape": 0}, "latent_shape 0; expected a positive integer or a tuple of them"),
    ({"latent_shape": "2"}, "latent_shape '2'"),
    ({"latent_shape": ()}, "latent_shape"),
    ({"latent_shape": (16, 0, 7)}, "latent_shape"),
    ({"latent_shape": (2.0,)}, "latent_shape"),
    ({"classes": -1}, "classes -1; expected 0"),
    ({"classes": True}, "classes True"),
    ({"stages": {"name": "prior"}}, "expected a list of dicts"),
    ({"stages": [{"loss": "nll"}]}, "a stage named None"),
    ({"stages": [{"name": "main"}]}, "not 'main'"),
    ({"stages": [{"name": "a"}, {"name": "a"}]}, "names two stages alike"),
    ({"encoder": ""}, "invalid encoder"),
    ({"settings": {"optimiser": {}}}, "unknown settings sections"),
    ({"settings": {"training": 3}}, "must be a dict"),
])
def test_invalid_recipes_are_rejected(change, words):
    with pytest.raises(PluginError, match=words):
        Registry().add_recipe("r", plugin="p", **{**RECIPE, **change})


@pytest.mark.parametrize(("given", "stored"), [(2, (2,)), ((2,), (2,)), ([16, 7, 7], (16, 7, 7))])
def test_latent_shape_is_a_number_or_a_tuple_and_stored_as_a_tuple(given, stored):
    recipe = Registry().add_recipe("r", plugin="p", **{**RECIPE, "latent_shape": given})
    assert recipe.latent_shape == stored and recipe.as_dict()["latent_shape"] == list(stored)


def test_a_recipe_may_declare_a_condition_and_later_stages():
    stage = {"name": "prior", "loss": "nll", "trains": ["sampler.prior_network"], "epochs": 3}
    recipe = Registry().add_recipe("r", plugin="p", **RECIPE, classes=10, stages=[stage])
    assert recipe.classes == 10 and recipe.stages == (stage,) and recipe.stages[0] is not stage
    assert recipe.as_dict()["classes"] == 10 and recipe.as_dict()["stages"] == [stage]
    plain = Registry().add_recipe("r", plugin="p", **RECIPE)
    assert (plain.classes, plain.stages) == (0, ())


def test_recipe_settings_cover_every_section():
    recipe = Registry().add_recipe("r", plugin="p", **RECIPE, settings={"training": {"epochs": 3}})
    assert recipe.settings["training"] == {"epochs": 3}
    assert set(recipe.settings) == {"encoder", "sampler", "decoder", "loss", "training", "data"}
    assert recipe.input_shape == (1, 28, 28) and recipe.components()["loss"] == "vae"


# -- lookups -----------------------------------------------------------------------------------------

def test_unknown_recipe_suggests_closest_and_lists_known():
    with pytest.raises(UnknownNameError) as info:
        filled().recipe("vea")
    message = str(info.value)
    assert "unknown recipe 'vea'" in message
    assert "did you mean 'vae'?" in message
    assert "Known: vae, vae-faces." in message
    assert isinstance(info.value, GenkitError) and info.value.known == ["vae", "vae-faces"]


def test_unknown_component_lists_known_even_without_close_match():
    with pytest.raises(UnknownNameError) as info:
        filled().component("decoder", "zzzz")
    assert "did you mean" not in str(info.value)
    assert "Known: transposed-conv." in str(info.value)


def test_unknown_name_in_empty_kind():
    with pytest.raises(UnknownNameError, match=r"\(none registered\)"):
        filled().component("loss", "vae")


def test_dataset_resolution():
    registry = filled()
    entry, argument = registry.dataset("fashion-mnist")
    assert (entry.name, argument) == ("fashion-mnist", None)
    entry, argument = registry.dataset("folder:/data/faces:v2")  # only the first colon separates
    assert (entry.name, argument) == ("folder", "/data/faces:v2")


def test_dataset_errors():
    registry = filled()
    with pytest.raises(UnknownNameError) as info:
        registry.dataset("foldr:/data")
    assert "'foldr'" in str(info.value) and "did you mean 'folder:PATH'?" in str(info.value)
    assert "fashion-mnist, folder:PATH" in str(info.value)
    with pytest.raises(ConfigError, match="needs an argument: write folder:PATH"):
        registry.dataset("folder")
    with pytest.raises(ConfigError, match="takes no argument"):
        registry.dataset("fashion-mnist:x")


def test_register_callbacks_tag_entries_with_the_plugin():
    registry = Registry()
    make_register(registry, "register_losses", "mine")("l2", "a.b:L2", description="squared error")
    make_register(registry, "register_recipes", "mine")("r", **RECIPE)
    make_register(registry, "register_datasets", "mine")("npz", "a.b:load", takes_argument=True)
    assert registry.component("loss", "l2").plugin == "mine"
    assert registry.recipe("r").plugin == "mine"
    assert registry.dataset("npz:x.npz")[0].plugin == "mine"
    assert registry.as_dict()["components"]["loss"][0] == {
        "name": "l2", "plugin": "mine", "target": "a.b:L2", "description": "squared error"}


# -- lazy targets ------------------------------------------------------------------------------------

def test_string_targets_are_imported_only_on_load(tmp_path):
    (tmp_path / "lazy_target_mod.py").write_text("import sys\nsys.LAZY_TARGET_IMPORTED = True\nVALUE = 42\n")
    script = textwrap.dedent(f"""
        import sys
        sys.path.insert(0, {str(tmp_path)!r})
        from genkit.contract.registry import Registry
        registry = Registry()
        registry.add_dataset("lazy", "lazy_target_mod:VALUE", plugin="p")
        registry.as_dict(); registry.dataset("lazy")
        assert "lazy_target_mod" not in sys.modules, "imported too early"
        assert registry.dataset("lazy")[0].load() == 42
        assert sys.LAZY_TARGET_IMPORTED
        print("ok")
    """)
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "ok"


def test_broken_target_is_a_plugin_error_naming_the_plugin(tmp_path, monkeypatch):
    (tmp_path / "broken_target_mod.py").write_text("raise RuntimeError('cannot import me')\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    registry = Registry()
    registry.add_component("encoder", "broken", "broken_target_mod:Encoder", plugin="shaky")
    registry.add_component("decoder", "missing", "genkit.errors:NoSuchDecoder", plugin="shaky")
    with pytest.raises(PluginError, match=r"encoder 'broken' of plugin 'shaky'.*RuntimeError: cannot import me"):
        registry.component("encoder", "broken").load()
    with pytest.raises(PluginError, match=r"decoder 'missing' of plugin 'shaky'.*NoSuchDecoder"):
        registry.component("decoder", "missing").load()


def test_component_class_checks_the_kind():
    registry = Registry()
    registry.add_component("encoder", "not-an-encoder", "genkit.errors:GenkitError", plugin="p")
    with pytest.raises(PluginError, match="is not a genkit Encoder"):
        registry.component_class("encoder", "not-an-encoder")
