"""Two gloo processes against one, weight by weight and Adam moment by moment; broken runs fail the same check.

The contract (docs/distributed.md): N processes with B/N images each train exactly like one process with
batch B. Here one and two processes take the same two Adam steps, a full batch of 64 images and then the
partial last batch of one image (rank 1 trains a padding row of weight 0), and every weight, BatchNorm
buffer and Adam moment of the two runs is compared, tensor by tensor, against a tolerance derived from
fp32 rounding.

**Where the runs differ.** Each image meets the same weights and the same noise; only the order of the
sums over the batch changes: each process sums the gradient of its 32 images and DDP averages the two
halves. A gradient element sums one term per image and pixel, up to n = 64 x 28 x 28 = 50,176 terms for a
convolution kernel, and rounding errors grow like a random walk: reordered, the sum moves by about
``DELTA`` = sqrt(n) u = 1.3e-5 of its size (u = 2^-24).

**Moments.** ``exp_avg`` averages the steps' gradients and ``exp_avg_sq`` their squares, so a moment
tensor may differ by 2 DELTA of its norm.

**Weights.** A step is lr m_hat / (sqrt(v_hat) + eps); with m_hat and sqrt(v_hat) each off by DELTA it is
off by 2 DELTA, and N steps by 2 N DELTA of one step's length (lr per element, less than the distance two
steps move). An element whose own gradient is below the rounding error of its sum can step the other
way, two whole steps apart at most (2 A lr, A = ``max_adam_step``): for gradients spread like a Gaussian
that is a fraction 0.8 DELTA of the elements per step, whose differences add 2 A sqrt(0.8 N DELTA).

**What BatchNorm cancels.** A convolution bias followed by BatchNorm does not change the loss: the batch
mean removes it. Its gradient is rounding noise (1e-13 in float64, 1e-4 in fp32), different in any two
fp32 runs, and Adam turns it into steps of +-lr. Those biases are held to the hard bound 2 N A lr, their
moments (averages of rounding noise) are not compared, and the ``running_mean`` of the BatchNorm after
one may differ by the momentum times the biases' difference (2 A lr k after step k), besides the weights'
tolerance of the distance the buffer moved.

``SAFETY`` widens the rounding terms tenfold. Measured, correct runs stay below 4 % of each tolerance
(the cancelled biases and the running means ride their hard bounds) and every broken run exceeds one by
a thousandfold or more; docs/distributed.md lists the numbers.
"""

from __future__ import annotations

import json
import math
import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from conftest import quick_overrides
from players_fixture import RECIPE as PLAYERS_RECIPE
from players_fixture import fixture_host, install_fixture
from safetensors.torch import load_file
from torch.nn.modules.batchnorm import _BatchNorm

from genkit.config import build_config
from genkit.contract.host import get_registry
from genkit.contract.model import build_model
from genkit.training import Trainer

WORKER = Path(__file__).with_name("distributed_worker.py")
LIMIT = 65  # two steps at batch 64: a full batch, then one image, which rank 1 meets with a padding row
STEPS = 2
BATCH_NORM_AND_DROPOUT = {"encoder.batch_norm": "true", "decoder.batch_norm": "true",
                          "encoder.dropout": "true", "decoder.dropout": "true"}
# two players, one step each: the critic's (with its gradient penalty) on the full batch, the generator's on the
# partial one; every weight, the averaged decoder and both optimizers' moments are compared
TWO_PLAYERS = {"players.critic.steps": 1}
CASES = {"vae": {}, "vae+batch-norm+dropout": BATCH_NORM_AND_DROPOUT, "two-players": TWO_PLAYERS}
RECIPES = {"two-players": PLAYERS_RECIPE}
DELTA = math.sqrt(64 * 28 * 28) * 2.0 ** -24  # relative error of a gradient summed in another order
SAFETY = 10.0


def max_adam_step(steps: int, b1: float = 0.9, b2: float = 0.999) -> float:
    """The largest |m_hat| / sqrt(v_hat) after ``steps`` steps, whatever the gradients (Cauchy-Schwarz)."""
    m = [(1 - b1) * b1 ** (steps - k) / (1 - b1 ** steps) for k in range(1, steps + 1)]
    v = [(1 - b2) * b2 ** (steps - k) / (1 - b2 ** steps) for k in range(1, steps + 1)]
    return math.sqrt(sum(x * x / y for x, y in zip(m, v)))


ADAM_STEP = max_adam_step(STEPS)  # 1.0014
MOMENT_TOLERANCE = SAFETY * 2 * DELTA  # 2.7e-4 of the moment's norm
WEIGHT_TOLERANCE = SAFETY * 2 * STEPS * DELTA + 2 * ADAM_STEP * math.sqrt(0.8 * STEPS * DELTA)  # 9.8e-3


def overrides(case: str, npz: Path) -> list[str]:
    return quick_overrides(npz, **{"training.epochs": 1, "training.limit": LIMIT, **CASES[case]})


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def launch(world: int, *args: str, timeout: float = 180, path: Path | None = None) -> list[str]:
    """``tests/distributed_worker.py ARGS`` as ``world`` torchrun workers on this machine (``path``: a folder of
    plugins on PYTHONPATH); their outputs."""
    port, procs = free_port(), []
    for rank in range(world):
        env = {k: v for k, v in os.environ.items() if not k.startswith(("GENKIT_", "TORCHELASTIC_"))}
        if path is not None:
            env["PYTHONPATH"] = str(path)
        env.update(RANK=str(rank), WORLD_SIZE=str(world), LOCAL_RANK=str(rank), LOCAL_WORLD_SIZE=str(world),
                   MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port), OMP_NUM_THREADS="1")
        procs.append(subprocess.Popen([sys.executable, str(WORKER), *args], env=env, text=True,
                                      stdout=subprocess.PIPE, stderr=subprocess.STDOUT))
    try:
        outputs = [proc.communicate(timeout=timeout)[0] for proc in procs]
    finally:
        for proc in procs:
            if proc.poll() is None:
                proc.kill()
                proc.communicate()
    for rank, (proc, output) in enumerate(zip(procs, outputs)):
        assert proc.returncode == 0, f"rank {rank} of {world} failed:\n{output}"
    return outputs


def train(world: int, run: Path, variant: str, settings: list[str], recipe: str = "vae",
          path: Path | None = None) -> Path:
    launch(world, "train", str(run), variant, json.dumps(settings), recipe, path=path)
    return run


def optimizer_parameter(key: str, names: list[str], players: list[list[str]]) -> str:
    """The parameter a checkpoint's optimizer tensor belongs to: ``optimizer.I.KEY`` (one optimizer over ``names``)
    or ``optimizers.P.I.KEY`` (player P's, over ``players[P]``)."""
    parts = key.split(".")
    return names[int(parts[1])] if parts[0] == "optimizer" else players[int(parts[1])][int(parts[2])]


def cancelled_biases(model: torch.nn.Module) -> set[str]:
    """Biases of the convolutions that a BatchNorm directly follows (a crop in between shifts nothing)."""
    names = set()
    for prefix, module in model.named_modules():
        if isinstance(module, torch.nn.Sequential):
            last = None
            for name, layer in module.named_children():
                if isinstance(layer, _BatchNorm) and last is not None:
                    names.add(f"{prefix}.{last}.bias")
                elif getattr(layer, "bias", None) is not None:
                    last = name
                elif not type(layer).__name__.startswith("Crop"):
                    last = None
    return names


def compare(one: Path, two: Path, settings: list[str], recipe: str = "vae") -> dict[str, tuple[float, str]]:
    """For weights, BatchNorm buffers and Adam moments: the largest ratio of a difference to its bound, and where."""
    with fixture_host() as host:
        config = build_config(host.registry, recipe, None, settings)
        model = build_model(config, host.registry)  # the initial weights: the runs' common starting point
    players = [[f"{path}.{n}" for path in p.trains for n, _ in model.get_submodule(path).named_parameters()]
               for p in config.players]
    lr = config.training.lr
    names = [name for name, _ in model.named_parameters()]
    cancelled = cancelled_biases(model)
    momentum = max((m.momentum for m in model.modules() if isinstance(m, _BatchNorm)), default=0.0)
    weights = [load_file(run / "model.safetensors") for run in (one, two)]
    moments = [{k: v for k, v in load_file(run / "checkpoint.safetensors").items()
                if k.startswith(("optimizer.", "optimizers."))} for run in (one, two)]
    initial = {k: v.double() for k, v in model.state_dict().items()}
    assert weights[0].keys() == weights[1].keys() == initial.keys()
    assert moments[0].keys() == moments[1].keys()
    worst = {part: (0.0, "") for part in ("weights", "cancelled biases", "buffers", "moments")}

    def note(part: str, key: str, ratio: float) -> None:
        if ratio >= worst[part][0]:
            worst[part] = (ratio, key)

    for key in weights[0]:
        a, b = weights[0][key].double(), weights[1][key].double()
        moved = float((a - initial[key]).norm())
        if key.endswith("num_batches_tracked"):
            assert torch.equal(a, b), key
        elif key in cancelled:  # rounding noise that Adam turns into whole steps
            note("cancelled biases", key, float((a - b).abs().max()) / (2 * STEPS * lr * ADAM_STEP))
        elif key in names:
            note("weights", key, float((a - b).norm()) / (WEIGHT_TOLERANCE * moved))
        else:
            # the running mean follows the cancelled bias before it: 2 k lr A apart after step k, at each step
            drift = momentum * sum(2 * k * lr * ADAM_STEP for k in range(1, STEPS)) * math.sqrt(a.numel()) \
                if key.endswith("running_mean") else 0.0
            note("buffers", key, float((a - b).norm()) / (WEIGHT_TOLERANCE * moved + drift))
    assert moments[0]
    for key, a in moments[0].items():
        name = optimizer_parameter(key, names, players)
        a, b = a.double(), moments[1][key].double()
        if key.endswith(".step"):
            assert torch.equal(a, b), key
        elif name not in cancelled:  # the moments of a cancelled bias average rounding noise
            note("moments", f"{key} ({name})", float((a - b).norm() / a.norm()) / MOMENT_TOLERANCE)
    return worst


# -- the runs -------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def runs(small_npz, tmp_path_factory):
    """Trains what a test asks for, once per module: ``runs(case, variant)`` is the run folder.

    ``("vae", "one")`` is a plain single process, the contract's reference. With BatchNorm the reference
    is one process under torchrun: there, as with any number of processes, BatchNorm is GlobalBatchNorm,
    whose arithmetic differs from torch's native CPU kernel by more than the reordering under test.
    """
    root, done = tmp_path_factory.mktemp("weights"), {}
    site = install_fixture(root / "site")

    def get(case: str, variant: str) -> Path:
        if (case, variant) not in done:
            run, settings = root / f"{case}-{variant}", overrides(case, small_npz)
            if variant == "one" and not CASES[case]:
                run.mkdir()
                Trainer(build_config(get_registry(), "vae", None, settings), run, progress=False).run()
            else:
                train(1 if variant == "one" else 2, run, "exact" if variant in ("one", "two") else variant, settings,
                      RECIPES.get(case, "vae"), site)
            done[case, variant] = run
        return done[case, variant]

    return get


def test_global_batch_norm_is_batch_norm_of_the_whole_batch():
    """Three ranks with uneven shares and a padding row, in float64, against one BatchNorm2d.

    Sums of at most 80 float64 terms of size about 10 agree to ~1e-14 in any order; a layer that used
    per-rank statistics, or let the padding row into them, is off by 1e-2 or more.
    """
    worst = json.loads(launch(3, "batch-norm")[0].strip().splitlines()[-1])
    assert worst.keys() == {"output", "input_grad", "weight_grad", "bias_grad", "running_mean", "running_var"}
    assert all(value < 1e-12 for value in worst.values()), worst


@pytest.mark.parametrize("case", CASES)
def test_two_processes_train_like_one(case, runs, small_npz):
    worst = compare(runs(case, "one"), runs(case, "two"), overrides(case, small_npz), RECIPES.get(case, "vae"))
    assert all(ratio <= 1 for ratio, _ in worst.values()), worst


@pytest.mark.parametrize("case, variant, caught_by", [
    ("vae+batch-norm+dropout", "local-batch-norm", ("weights", "moments")),
    ("vae+batch-norm+dropout", "local-noise", ("weights", "moments")),
    # Adam divides by the gradient's size, so the doubled gradient moves the weights only through eps;
    # exp_avg doubles and exp_avg_sq quadruples
    ("vae", "summed-gradients", ("moments",)),
    ("two-players", "summed-gradients", ("moments",)),  # each player's DDP sums: both optimizers' moments double
])
def test_broken_runs_exceed_the_tolerance(case, variant, caught_by, runs, small_npz):
    worst = compare(runs(case, "one"), runs(case, variant), overrides(case, small_npz), RECIPES.get(case, "vae"))
    assert all(worst[part][0] > 1 for part in caught_by), worst
