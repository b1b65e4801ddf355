"""Plugin components that do not fit each other, or that raise, are one line naming them and their plugins.

Each case is a third-party plugin (a dist-info on PYTHONPATH) whose recipe combines one broken or
mismatched part with the built-in ones. ``genkit train`` must stop before a run folder exists (the fit
check's pass over a few images) or, for a component that raises later, with one ``Error:`` line that
names the component and its plugin; never a traceback.
"""

from __future__ import annotations

import pytest
from plugin_fixtures import run_genkit, write_plugin

HEADER = """
import torch
from genkit.contract.components import Decoder, Encoder, Loss
from genkit.contract.hookspecs import hookimpl


class NeedsLogQ(Loss):
    needs_extras = ("log_q",)

    def forward(self, x, out):
        return {"loss": out.extras["log_q"].mean()}


class ReadsLogQ(Loss):
    def forward(self, x, out):
        return {"loss": out.extras["log_q"].mean()}


class OneOutputEncoder(Encoder):
    feature_shape = (64, 7, 7)

    def __init__(self, spec, **settings):
        super().__init__(spec, **settings)
        self.linear = torch.nn.Linear(28 * 28, 2)

    def forward(self, x, *condition):
        return (self.linear(x.flatten(1)),)


class FiveWideDecoder(Decoder):
    def __init__(self, spec, **settings):
        super().__init__(spec, **settings)
        self.linear = torch.nn.Linear(5, 28 * 28)

    def forward(self, z, *condition):
        return torch.sigmoid(self.linear(z)).reshape(-1, 1, 28, 28)


class FailsLater(Loss):
    calls = 0

    def forward(self, x, out):
        FailsLater.calls += 1
        if FailsLater.calls > 3:
            raise ValueError("the batch has an odd number of images")
        return {"loss": ((x - out.x_hat) ** 2).mean()}


@hookimpl
def register_encoders(register):
    register("one-output", "misfit_plugin:OneOutputEncoder")


@hookimpl
def register_decoders(register):
    register("five-wide", "misfit_plugin:FiveWideDecoder")


@hookimpl
def register_losses(register):
    register("needs-log-q", "misfit_plugin:NeedsLogQ")
    register("reads-log-q", "misfit_plugin:ReadsLogQ")
    register("fails-later", "misfit_plugin:FailsLater")


@hookimpl
def register_recipes(register):
    common = dict(input_shape=(1, 28, 28), latent_shape=2, settings={"encoder": {}, "training": {"epochs": 1}})
    register("declared-extra", encoder="conv", sampler="gaussian", decoder="transposed-conv", loss="needs-log-q",
             **common)
    register("undeclared-extra", encoder="conv", sampler="gaussian", decoder="transposed-conv", loss="reads-log-q",
             **common)
    register("too-few-params", encoder="one-output", sampler="gaussian", decoder="transposed-conv", loss="vae",
             **common)
    register("wrong-latent", encoder="conv", sampler="gaussian", decoder="five-wide", loss="vae", **common)
    register("fails-later", encoder="conv", sampler="gaussian", decoder="transposed-conv", loss="fails-later",
             **common)
"""

CASES = {
    "declared-extra": "loss 'needs-log-q' of plugin 'misfit' needs the sampler extra 'log_q', which sampler "
                      "'gaussian' of plugin 'vae' does not give (it gives: none); use a sampler that gives it",
    "undeclared-extra": "loss 'reads-log-q' of plugin 'misfit' reads 'log_q', which sampler 'gaussian' of plugin "
                        "'vae' does not give (its extras: none); declare it in the loss's needs_extras",
    "too-few-params": "encoder 'one-output' of plugin 'misfit' gives 1 output(s), but sampler 'gaussian' of plugin "
                      "'vae' takes 2 (mu, log_var)",
    "wrong-latent": "decoder 'five-wide' of plugin 'misfit' cannot take the latent points sampler 'gaussian' of "
                    "plugin 'vae' gives ((4, 2)): RuntimeError: mat1 and mat2 shapes cannot be multiplied",
}


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    root = tmp_path_factory.mktemp("misfit")
    write_plugin(root, "misfit_plugin", HEADER, entry_name="misfit")
    return root


def error_line(result) -> str:
    assert result.returncode != 0 and "Traceback" not in result.stderr, result.stderr
    errors = [line for line in result.stderr.splitlines() if line.startswith("Error: ")]
    assert len(errors) == 1, result.stderr
    return errors[0]


@pytest.mark.parametrize("recipe", list(CASES))
def test_components_that_do_not_fit_are_named_before_a_run_folder_exists(site, tmp_path, recipe):
    result = run_genkit("train", recipe, "--limit", "64", "--quiet", "-o", "run", paths=[site], cwd=tmp_path)
    assert error_line(result).startswith(f"Error: {CASES[recipe]}")
    assert list(tmp_path.iterdir()) == []  # no run folder, nothing else


def test_a_component_that_raises_during_training_is_named_in_one_line(site, tmp_path):
    result = run_genkit("train", "fails-later", "--limit", "64", "--quiet", "--set", "training.batch_size=16",
                        "-o", "run", paths=[site], cwd=tmp_path)
    assert error_line(result) == (
        "Error: loss 'fails-later' of plugin 'misfit' raised ValueError: the batch has an odd number of images (in "
        "the plugin's code; --debug shows the traceback)")
    assert not (tmp_path / "run").exists()  # a failed first epoch leaves no folder
    debug = run_genkit("--debug", "train", "fails-later", "--limit", "64", "--quiet", "--set",
                       "training.batch_size=16", "-o", "run", paths=[site], cwd=tmp_path)
    assert "Traceback" in debug.stderr and "ValueError: the batch has an odd number of images" in debug.stderr


# -- swapping a recipe's part ----------------------------------------------------------------------------------

def swapped(*overrides: str):
    from genkit.config import build_config
    from genkit.contract.host import get_registry

    return build_config(get_registry(), overrides[0], overrides=overrides[1:])


def test_a_swapped_part_drops_the_recipe_settings_it_does_not_have():
    # iwae's recipe gives its importance sampler samples=5; the gaussian sampler has no such setting
    config = swapped("iwae", "model.sampler=gaussian")
    assert config.model.sampler == "gaussian" and config.to_dict()["sampler"] == {}
    # vae's loss.r_loss_factor was for the vae loss; the reconstruction loss has no settings
    assert swapped("vae", "model.loss=reconstruction").to_dict()["loss"] == {}


def test_a_swapped_part_keeps_the_recipe_settings_it_shares():
    config = swapped("vae", "model.loss=beta-vae", "loss.beta=2")
    assert (config.loss.r_loss_factor, config.loss.beta) == (1000.0, 2.0)


def test_what_the_user_set_for_a_swapped_part_is_checked_against_it():
    from genkit.errors import ConfigError

    with pytest.raises(ConfigError, match=r"unknown setting loss.r_loss_factor"):
        swapped("vae", "model.loss=reconstruction", "loss.r_loss_factor=3")
