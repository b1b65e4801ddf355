"""Players: turns, one optimizer each, a gradient penalty, exact per-player steps, refusals (in this process).

The fixture plugin (tests/fixtures/players_plugin) trains a generator-only WGAN-GP: ``critic`` takes 3
batches a turn, ``generator`` 1. The end-to-end run through the command line (SIGKILL, resume, --nproc 2,
export, evaluate) is tests/test_players_end_to_end.py.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest
import torch
from conftest import quick_overrides
from players_fixture import RECIPE, fixture_host, loaded_host
from safetensors import safe_open

from genkit.config import build_config
from genkit.errors import ConfigError, RunFolderError, TrainingError
from genkit.testing import RecipeConformance, check_players


@pytest.fixture(scope="module")
def host():
    with fixture_host() as host:
        yield host


def config(host, npz: Path, **extra):
    return build_config(host.registry, RECIPE, None, quick_overrides(npz, **{"training.epochs": 1, **extra}))


def train(host, npz: Path, run: Path, **extra):
    from genkit.training import Trainer

    run.mkdir()
    return Trainer(config(host, npz, **extra), run, progress=False).run()


def checkpoint_trainer(run: Path) -> dict:
    with safe_open(str(run / "checkpoint.safetensors"), "pt") as f:
        return json.loads(f.metadata()["trainer"])


def optimizer_steps(run: Path) -> dict[str, float]:
    """Each player's Adam step count, from the checkpoint."""
    trainer = checkpoint_trainer(run)
    with safe_open(str(run / "checkpoint.safetensors"), "pt") as f:
        return {entry["player"]: float(f.get_tensor(f"optimizers.{i}.0.step"))
                for i, entry in enumerate(trainer["optimizers"])}


def test_players_take_turns_with_an_optimizer_each(host, small_npz, tmp_path):
    """512 images at batch 64 are 8 steps: critic, critic, critic, generator, twice over."""
    result = train(host, small_npz, tmp_path / "run")
    assert optimizer_steps(tmp_path / "run") == {"critic": 6.0, "generator": 2.0}
    record = result.metrics[0]
    assert list(record["train"]) == ["critic.loss", "critic.wasserstein", "critic.gradient_penalty",
                                     "generator.loss", "generator.adversarial", "generator.brightness"]
    assert record["test"].keys() == record["train"].keys()
    assert record["player_lr"] == {"critic": 1e-3, "generator": 1e-3}
    assert all(math.isfinite(v) for v in [*record["train"].values(), *record["test"].values()])
    # the turn the next step is, for resume to check
    assert checkpoint_trainer(tmp_path / "run")["extra"]["turn"] == {"player": "critic", "position": 0, "cycle": 4}


def test_a_players_settings_reach_its_optimizer(host, small_npz):
    from genkit.training import Trainer

    trainer = Trainer(config(host, small_npz, **{"players.critic.lr": 3e-4, "players.critic.optimizer": '"adamw"',
                                                  "players.critic.weight_decay": 0.01}), None, progress=False)
    critic, generator = trainer.optimizers["critic"], trainer.optimizers["generator"]
    assert isinstance(critic, torch.optim.AdamW) and type(generator) is torch.optim.Adam
    assert critic.param_groups[0]["lr"] == 3e-4 and critic.param_groups[0]["weight_decay"] == 0.01
    assert critic.param_groups[0]["betas"] == (0.5, 0.9)
    owned = {id(p) for p in trainer.model.player_losses["critic"].parameters()}
    assert {id(p) for g in critic.param_groups for p in g["params"]} == owned
    assert {id(p) for g in generator.param_groups for p in g["params"]} == {
        id(p) for p in trainer.model.decoder.parameters()}


def test_each_players_step_changes_exactly_its_modules(host, small_npz):
    from genkit.contract.model import build_model

    model = build_model(config(host, small_npz))
    x = torch.rand(8, 1, 28, 28, generator=torch.Generator().manual_seed(0))
    changed = check_players(model, x)
    assert {k.split(".")[0] for k in changed["critic"]} == {"player_losses"}
    assert {k.split(".")[0] for k in changed["generator"]} == {"decoder", "averaged"}


def test_the_player_check_fails_on_a_loss_that_edits_another_players_network(host, small_npz, monkeypatch):
    """WGAN's weight clipping put in the generator's loss: it changes the critic in the generator's turn."""
    import genkit_players_fixture as fixture

    from genkit.contract.model import build_model

    forward = fixture.GeneratorLoss.forward

    def clipping(self, x, out):
        with torch.no_grad():
            for p in out.losses["critic"].network.parameters():
                p.clamp_(-0.01, 0.01)
        return forward(self, x, out)

    monkeypatch.setattr(fixture.GeneratorLoss, "forward", clipping)
    model = build_model(config(host, small_npz))
    with pytest.raises(AssertionError, match="player 'generator'.s step changed player_losses.critic"):
        check_players(model, torch.rand(8, 1, 28, 28))


def test_the_player_check_fails_on_a_module_its_loss_never_reaches(host, small_npz, monkeypatch):
    import genkit_players_fixture as fixture

    from genkit.contract.model import build_model

    def detached(self, x, out):  # the critic's scores never reach the loss: a zero gradient, nothing to step
        zero = sum(p.sum() for p in self.network.parameters()) * 0
        return {"loss": zero, "wasserstein": zero.detach(), "gradient_penalty": zero.detach()}

    monkeypatch.setattr(fixture.CriticLoss, "forward", detached)
    model = build_model(config(host, small_npz, **{"players.critic.trains": '["player_losses.critic"]'}))
    with pytest.raises(AssertionError, match="player 'critic' trains 'player_losses.critic' but its step changed "
                                             "nothing there"):
        check_players(model, torch.rand(8, 1, 28, 28))


def test_a_player_loss_with_no_gradient_is_refused_in_one_line(host, small_npz, tmp_path, monkeypatch):
    import genkit_players_fixture as fixture

    from genkit.errors import PluginError

    def constant(self, x, out):
        zero = torch.zeros(())
        return {"loss": zero, "wasserstein": zero, "gradient_penalty": zero}

    monkeypatch.setattr(fixture.CriticLoss, "forward", constant)
    with pytest.raises(PluginError, match="player 'critic'.s loss does not depend on the modules it trains"):
        train(host, small_npz, tmp_path / "run")


def test_the_gradient_penalty_trains_under_bf16_autocast(host, small_npz, tmp_path):
    result = train(host, small_npz, tmp_path / "run", **{"training.precision": '"bf16"'})
    values = [*result.metrics[0]["train"].values(), *result.metrics[0]["test"].values()]
    assert all(math.isfinite(v) for v in values)
    assert result.metrics[0]["test"]["critic.gradient_penalty"] > 0


def test_a_nan_in_one_player_names_it(host, small_npz, tmp_path, monkeypatch):
    import genkit_players_fixture as fixture

    forward = fixture.GeneratorLoss.forward

    def poisoned(self, x, out):
        terms = forward(self, x, out)
        return {**terms, "loss": terms["loss"] * float("nan")}

    monkeypatch.setattr(fixture.GeneratorLoss, "forward", poisoned)
    with pytest.raises(TrainingError, match=r"player 'generator'.s loss became nan at epoch 1, step 4"):
        train(host, small_npz, tmp_path / "run")


def test_resume_refuses_a_checkpoint_from_another_cycle_of_turns(host, small_npz, tmp_path):
    from genkit.training import Trainer

    run = tmp_path / "run"
    train(host, small_npz, run, **{"training.limit": 320})  # 5 steps: the next one is the critic's 2nd of a turn
    document = json.loads((run / "config.json").read_text())
    assert checkpoint_trainer(run)["extra"]["turn"]["position"] == 1
    document["config"]["players"][0]["steps"] = 5
    document["config"]["training"]["epochs"] = 2
    (run / "config.json").write_text(json.dumps(document))
    from genkit.run.checkpoint import validated_config

    with pytest.raises(RunFolderError, match="the players' steps changed since it was written"):
        Trainer(validated_config(run), run, resume=True, progress=False).run()


@pytest.mark.parametrize("override, message", [
    ("players.critic.trains=[\"decoder\"]", "players.generator.trains names 'decoder', which player 'critic' trains"),
    ("players.generator.trains=[\"decoder.net\", \"decoder\"]", "which player 'generator' trains too"),
    ("players.critic.steps=0", "players.critic.steps must be >= 1"),
    ("players.critic.betas=[0.5]", "players.critic.betas must be two numbers in"),
    ("players.judge.steps=2", "unknown player 'judge'"),
    ("players.generator.loss_settings={beta=2.0}", "the player minimises the model's own loss"),
    ("players.critic.loss_settings={penalty=-1.0}", "players.critic.loss_settings.penalty must be >= 0"),
])
def test_bad_players_are_refused_in_one_line(host, small_npz, override, message):
    with pytest.raises(ConfigError, match=message.replace("(", r"\(")):
        build_config(host.registry, RECIPE, None, [*quick_overrides(small_npz), override])


def test_a_player_naming_no_module_of_the_model_is_refused(host, small_npz):
    from genkit.contract.model import build_model

    with pytest.raises(ConfigError, match="player 'critic' trains 'player_losses.judge', which is not a module"):
        build_model(config(host, small_npz, **{"players.critic.trains": '["player_losses.judge"]'}))


def test_the_recipe_contract_holds_for_a_generator_only_recipe_with_players(host):
    from genkit.testing import check_recipe

    model = check_recipe(RECIPE, host.registry, onnx=False)
    assert model.generator_only and set(model.player_losses) == {"critic"}


def test_a_player_may_follow_its_own_schedule(host, small_npz, tmp_path):
    """The critic on a cosine from its lr to training.min_lr over the 2 epochs, the generator on the step default."""
    result = train(host, small_npz, tmp_path / "run", **{"training.epochs": 2, "training.min_lr": 1e-4,
                                                         "players.critic.schedule": '"cosine"'})
    rates = [record["player_lr"] for record in result.metrics]
    assert rates[0] == {"critic": 1e-3, "generator": 1e-3}
    assert rates[1]["generator"] == 1e-3 and math.isclose(rates[1]["critic"], 1e-4 + 0.9e-3 * 0.5)
    with pytest.raises(ConfigError, match=r"players.critic.lr \(5e-05\) is below training.min_lr"):
        config(host, small_npz, **{"training.min_lr": 1e-4, "players.critic.schedule": '"cosine"',
                                   "players.critic.lr": 5e-5})


def test_a_players_own_loss_setting_follows_a_schedule_and_resumes_with_it(host, small_npz, tmp_path):
    """The critic's gradient-penalty weight from 0 to 10 over 2 epochs, as --set writes it; genkit.load gives the
    value in force when the weights were saved."""
    import genkit

    result = train(host, small_npz, tmp_path / "run", **{
        "training.epochs": 2, "schedules.players.critic.penalty": "{start=0.0, end=10.0, over=2}"})
    assert [r["settings"]["players.critic.penalty"] for r in result.metrics] == [5.0, 10.0]
    assert genkit.load(tmp_path / "run").player_losses["critic"].settings.penalty == 10.0
    with pytest.raises(ConfigError, match=r"schedules apply to the settings of a loss: write loss.NAME, "
                                          r"players.critic.NAME"):
        config(host, small_npz, **{"schedules.players.generator.beta": "{start=0.0, end=1.0}"})
    with pytest.raises(ConfigError, match="the loss has no setting 'lambda'"):
        config(host, small_npz, **{"schedules.players.critic.lambda": "{start=0.0, end=1.0}"})


class TestTheFixtureKeepsTheRecipeContract(RecipeConformance):
    """genkit.testing's whole recipe kit on a generator-only recipe with players: what needs an encoder is
    checked as what such a model has (its decoder, its prior, its players' steps and losses)."""

    recipe = RECIPE
    registry = loaded_host().registry


def test_another_players_batch_norm_normalises_by_the_batch_and_keeps_its_statistics(host, small_npz):
    """A BatchNorm in the generator: the critic's turn runs it (in training mode) but leaves its running
    statistics to the generator's own steps."""
    from genkit.contract.model import build_model

    model = build_model(config(host, small_npz, **{"training.ema_decay": 0.0}))  # the average names the old layers
    net = model.decoder.net
    model.decoder.net = torch.nn.Sequential(net[0], torch.nn.BatchNorm1d(net[0].out_features), *net[1:])
    changed = check_players(model, torch.rand(8, 1, 28, 28, generator=torch.Generator().manual_seed(0)))
    assert "decoder.net.1.running_mean" in changed["generator"]
    assert not any(k.startswith("decoder.") for k in changed["critic"])
