"""Every 0.1 name that moved or changed works through a shim that warns once, naming its replacement and the
release that removes it; plugins may declare the plugin API they support (docs/plugins.md, "Versions and
deprecations")."""

from __future__ import annotations

import importlib
import json
import sys
import warnings
from pathlib import Path

import pytest
import torch
from plugin_fixtures import run_genkit, warning_lines, write_plugin

import genkit
from genkit.contract.components import Loss, ModelOutput, ModelSpec, Sampler
from genkit.contract.hookspecs import API_VERSION
from genkit.contract.priors import DiagonalGaussianPrior
from genkit.contract.registry import Registry, make_register
from genkit.deprecation import MOVED_MODULES, REMOVED_IN, GenkitDeprecationWarning, forget_warnings


@pytest.fixture(autouse=True)
def fresh_warnings():
    forget_warnings()
    yield
    forget_warnings()


def caught(action):
    """``action()``'s result and the genkit deprecation messages it raised."""
    with warnings.catch_warnings(record=True) as seen:
        warnings.simplefilter("always")
        result = action()
    return result, [str(w.message) for w in seen if issubclass(w.category, GenkitDeprecationWarning)]


@pytest.mark.parametrize("old", sorted(MOVED_MODULES))
def test_a_moved_module_is_the_new_one_under_its_old_name(old):
    sys.modules.pop(old, None)
    module, messages = caught(lambda: importlib.import_module(old))
    new = importlib.import_module(MOVED_MODULES[old])
    assert module is new and new.__spec__.name == MOVED_MODULES[old]  # the new module keeps its own identity
    assert messages == [f"module {old} is deprecated since genkit 0.2.0 and will be removed in genkit "
                        f"{REMOVED_IN}; use module {MOVED_MODULES[old]}"]
    sys.modules.pop(old, None)
    _, again = caught(lambda: importlib.import_module(old))
    assert again == []  # once per process


def test_the_warning_points_at_the_line_that_used_the_old_name(tmp_path, monkeypatch):
    (tmp_path / "old_style_plugin.py").write_text("\n\nfrom genkit.components import Decoder\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    sys.modules.pop("genkit.components", None)
    with warnings.catch_warnings(record=True) as seen:
        warnings.simplefilter("always")
        importlib.import_module("old_style_plugin")
    [warning] = [w for w in seen if issubclass(w.category, GenkitDeprecationWarning)]
    assert (warning.filename, warning.lineno) == (str(tmp_path / "old_style_plugin.py"), 3)
    sys.modules.pop("old_style_plugin")


def old_style_loss() -> type:
    class OldMSELoss(Loss):
        """A loss written for 0.1: ``forward(x, x_hat, params)``."""

        terms = ("loss", "mean_mu")

        def forward(self, x, x_hat, params):
            return {"loss": ((x - x_hat) ** 2).mean(), "mean_mu": params["mu"].mean()}

    return OldMSELoss


OLD_FORWARD_LINE = 1 + Path(__file__).read_text().splitlines().index(
    "        def forward(self, x, x_hat, params):")


def test_a_0_1_loss_signature_is_adapted_and_named_once():
    cls, messages = caught(old_style_loss)
    assert messages == [f"{__name__}.old_style_loss.<locals>.OldMSELoss.forward(x, x_hat, params) is "
                        "deprecated since genkit 0.2.0 and will be removed in genkit 0.4.0; use forward(x, out) with "
                        "out a genkit.contract.components.ModelOutput (out.x_hat, out.params) (in "
                        f"{__file__}:{OLD_FORWARD_LINE})"]  # the 0.1 method's own line
    spec = ModelSpec((1, 4, 4), 2, ("mu", "log_var"))
    x, x_hat = torch.rand(3, 1, 4, 4), torch.rand(3, 1, 4, 4)
    out = ModelOutput(x_hat, {"mu": torch.full((3, 2), 0.5), "log_var": torch.zeros(3, 2)}, torch.zeros(3, 2))
    terms = cls(spec=spec)(x, out)
    assert terms["loss"].item() == pytest.approx(((x - x_hat) ** 2).mean().item())
    assert terms["mean_mu"].item() == 0.5
    assert caught(old_style_loss)[1] == []  # once per process


def test_a_today_loss_is_left_as_it_is():
    class NewLoss(Loss):
        def forward(self, x, out):
            return {"loss": x.sum()}

    assert NewLoss.__dict__["forward"].__qualname__.endswith("NewLoss.forward")
    assert NewLoss(spec=ModelSpec((1, 2, 2), 2, ("code",)))(torch.ones(1, 1, 2, 2), None)["loss"] == 4


class OldPriorSampler(Sampler):
    """A sampler written for 0.1: its prior() is the dict {"mean", "std"}."""

    parameter_names = ("mu",)

    def forward(self, mu, generator=None):
        return mu

    def mean(self, mu):
        return mu

    def prior(self):
        return {"mean": torch.full((2,), 1.0), "std": torch.full((2,), 3.0)}


def test_a_0_1_prior_dict_is_read_as_the_diagonal_gaussian_it_meant():
    sampler = OldPriorSampler(spec=ModelSpec((1, 4, 4), 2, ("mu",)))
    prior, messages = caught(sampler.prior)
    assert isinstance(prior, DiagonalGaussianPrior)
    assert prior.mean.tolist() == [1.0, 1.0] and prior.std.tolist() == [3.0, 3.0]
    assert len(messages) == 1 and "OldPriorSampler.prior() returning a dict is deprecated" in messages[0]
    draws = sampler.sample_prior(20000, torch.Generator().manual_seed(0))
    assert draws.shape == (20000, 2) and draws.mean().item() == pytest.approx(1.0, abs=0.1)
    assert draws.std().item() == pytest.approx(3.0, abs=0.1)


def test_spec_z_dim_and_recipe_z_dim_read_the_flat_latent_width():
    spec = ModelSpec((1, 28, 28), 5, ("mu", "log_var"))
    width, messages = caught(lambda: spec.z_dim)
    assert width == 5 and messages == ["ModelSpec.z_dim is deprecated since genkit 0.2.0 and will be removed in "
                                       "genkit 0.4.0; use ModelSpec.latent_shape (or latent_numel, its width when "
                                       "flat)"]
    with pytest.raises(AttributeError, match=r"only defined for a flat latent; this one is \[16, 7, 7\]"):
        _ = ModelSpec((1, 28, 28), (16, 7, 7), ("mu",)).z_dim
    registry = Registry()
    recipe, messages = caught(lambda: make_register(registry, "register_recipes", "old")(
        "old-vae", encoder="conv", sampler="gaussian", decoder="mlp", loss="vae", input_shape=(1, 28, 28), z_dim=3))
    assert recipe.latent_shape == (3,) and "register(..., z_dim=N) in register_recipes is deprecated" in messages[0]
    assert caught(lambda: recipe.z_dim)[0] == 3


@pytest.mark.parametrize(("args", "expected"), [
    (((1, 28, 28), 5, ("mu", "log_var")), ((1, 28, 28), (5,), ("mu", "log_var"))),
    (([1, 28, 28], [16, 7, 7], ["code"]), ((1, 28, 28), (16, 7, 7), ("code",))),
    (((3, 8, 8), (2,), "code"), ((3, 8, 8), (2,), ("code",))),
])
def test_model_spec_normalises_its_arguments(args, expected):
    spec = ModelSpec(*args)
    assert (spec.input_shape, spec.latent_shape, spec.parameter_names) == expected
    assert spec == ModelSpec(*expected)  # one value, one form


@pytest.mark.parametrize(("args", "kwargs", "message"), [
    (((1, 28), 2, ("mu",)), {}, r"input_shape must be 3 positive ints, got \(1, 28\)"),
    (((1, 28, 28), 0, ("mu",)), {}, r"latent_shape must be positive ints"),
    (((1, 28, 28), "2", ("mu",)), {}, r"latent_shape must be positive ints.*got '2'"),
    (((1, 28, 28), 2.0, ("mu",)), {}, r"latent_shape must be a shape"),
    (((1, 28, 28), 2, (1,)), {}, r"parameter_names must be a tuple of names"),
    (((1, 28, 28), 2, ("mu",)), {"classes": -1}, r"classes must be an int >= 0"),
    (((1, 28, 28), 2, ("mu",)), {"feature_shape": (0, 7, 7)}, r"feature_shape must be positive ints"),
])
def test_model_spec_refuses_what_would_fail_later(args, kwargs, message):
    with pytest.raises(ValueError, match=message):
        ModelSpec(*args, **kwargs)


def declaring(api: str) -> str:
    return f"from genkit.contract.hookspecs import hookimpl\ngenkit_api = {api!r}\n\n@hookimpl\n" \
           f"def register_decoders(register):\n    register('declared-decoder', 'a.b:C')\n"


def test_a_plugin_declaring_this_api_loads_silently_and_shows_it(tmp_path):
    write_plugin(tmp_path, "declared_plugin", declaring(f">={API_VERSION},<2"), entry_name="declared")
    result = run_genkit("plugins", "--json", paths=[tmp_path])
    assert result.returncode == 0 and result.stderr == ""
    info = {p["name"]: p for p in json.loads(result.stdout)}["declared"]
    assert (info["api"], info["warnings"], info["error"]) == (f">={API_VERSION},<2", [], None)
    text = run_genkit("plugins", paths=[tmp_path]).stdout
    assert text.startswith(f"genkit {genkit.__version__}, plugin API {API_VERSION}\n")
    assert f"declared  (fixture-declared-plugin 1.0, declared_plugin)\n  plugin API: >={API_VERSION},<2\n" in text


@pytest.mark.parametrize(("api", "fragment"), [
    (">=2.0", f"supports genkit plugin API >=2.0 but this genkit ({genkit.__version__}) has plugin API {API_VERSION}"),
    ("one point oh", "declares genkit_api = 'one point oh', which is not a version specifier"),
])
def test_a_plugin_outside_this_api_is_one_warning_line_and_still_loads(tmp_path, api, fragment):
    write_plugin(tmp_path, "declared_plugin", declaring(api), entry_name="declared")
    result = run_genkit("list", "--json", paths=[tmp_path])
    assert result.returncode == 0
    [warning] = warning_lines(result.stderr)
    assert result.stderr.strip() == warning and warning.startswith("genkit: warning: plugin 'declared': ")
    assert fragment in warning
    assert "declared-decoder" in {d["name"] for d in json.loads(result.stdout)["components"]["decoder"]}
    strict = run_genkit("list", paths=[tmp_path], GENKIT_STRICT_PLUGINS="1")
    assert strict.returncode != 0 and "Traceback" not in strict.stderr and fragment in strict.stderr


def test_a_wrong_register_call_names_the_hook_not_an_internal_method():
    from genkit.errors import PluginError

    registry = Registry()
    with pytest.raises(PluginError, match=r"recipe 'r' of plugin 'p' has unknown keyword z_size; register_recipes' "
                                          r"register takes name and the keywords encoder, sampler"):
        make_register(registry, "register_recipes", "p")("r", encoder="a", sampler="b", decoder="c", loss="d",
                                                         input_shape=(1, 2, 2), z_size=2)
    with pytest.raises(PluginError, match=r"register_losses's register\(name, target, description=''\) was called "
                                          r"wrongly: missing a required argument: 'target'"):
        make_register(registry, "register_losses", "p")("l2")


def test_the_0_1_setting_model_z_dim_is_latent_shape(tmp_path):
    from genkit.config import build_config
    from genkit.contract.host import get_registry
    from genkit.errors import ConfigError

    config, messages = caught(lambda: build_config(get_registry(), "vae", overrides=["model.z_dim=16"]))
    assert config.model.latent_shape == [16]
    assert messages == ["the setting model.z_dim is deprecated since genkit 0.2.0 and will be removed in genkit "
                        "0.4.0; use model.latent_shape (in --set model.z_dim=16)"]
    old = tmp_path / "old.toml"
    old.write_text("[model]\nz_dim = 4\n")
    assert build_config(get_registry(), "vae", old).model.latent_shape == [4]
    old.write_text("[model]\nz_dim = 4\nlatent_shape = [4]\n")
    with pytest.raises(ConfigError, match=r"old.toml sets both model.z_dim and model.latent_shape"):
        build_config(get_registry(), "vae", old)
