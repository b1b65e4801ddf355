"""The families benchmark's verdicts: each claim of issue 16 read off per-seed measurements as the issue states it.

The scenario itself runs in the benchmark suite's tiny smoke run (tests/test_benchmarks.py); here its targets are
checked on made-up measurements whose verdicts are known.
"""

from __future__ import annotations

import copy

import pytest

from genkit_benchmarks.scenarios import families

MET = {  # one seed per model, every claim met
    "vae, z = 2": {"recon MSE": 0.032, "prior gap": 4.0},
    "vae, z = 8": {"recon MSE": 0.024, "prior gap": 20.0},
    "vae, z = 10": {"recon MSE": 0.023, "active units": 9, "TC": 3.0},
    "vae, z = 16": {"recon MSE": 0.018, "NLL (nats)": 380.0},
    "beta-vae, β = 0.5": {"recon MSE": 0.020, "active units": 10},
    "beta-vae, β = 4": {"recon MSE": 0.030, "active units": 5},
    "beta-vae, β = 16": {"recon MSE": 0.045, "active units": 2},
    "beta-tcvae, β = 1.5": {"recon MSE": 0.025, "TC": 1.5},
    "iwae": {"NLL (nats)": 378.5},
    "wae-mmd": {"recon MSE": 0.021, "prior gap": 25.0},
    "rae": {"prior gap": 4.0, "other rule's gap": 36.0},
    "vq-vae": {"recon MSE": 0.012, "prior gap": 10.0, "other rule's gap": 150.0},
    "cvae": {"label accuracy": 0.9, "worst class": 0.86},
}


def verdicts(scores: dict) -> dict[str, bool | None]:
    return {t.name: t.met for t in families.targets({k: [v] for k, v in scores.items()})}


def test_every_claim_is_met_by_measurements_that_meet_it():
    assert all(verdicts(MET).values())
    assert len(verdicts(MET)) == 14


@pytest.mark.parametrize(("model", "column", "value", "claim"), [
    ("beta-vae, β = 4", "active units", 10, "active units never rise"),
    ("beta-vae, β = 16", "recon MSE", 0.030, "reconstruction MSE rises"),
    ("beta-tcvae, β = 1.5", "TC", 3.5, "TC of the aggregate"),
    ("beta-tcvae, β = 1.5", "recon MSE", 0.026, "equal within 10 %"),  # 13 % above vae's
    ("iwae", "NLL (nats)", 381.0, "iwae"),
    ("wae-mmd", "recon MSE", 0.025, "wae-mmd: reconstruction"),
    ("wae-mmd", "prior gap", 31.0, "wae-mmd: prior gap"),
    ("rae", "other rule's gap", 5.0, "rae"),
    ("vq-vae", "recon MSE", 0.017, "at z = 2"),
    ("vq-vae", "other rule's gap", 14.0, "uniform codes"),
    ("cvae", "worst class", 0.5, "worst class"),
])
def test_a_measurement_that_breaks_a_claim_fails_that_claim_alone(model, column, value, claim):
    scores = copy.deepcopy(MET)
    scores[model][column] = value
    failed = [name for name, met in verdicts(scores).items() if not met]
    assert len(failed) == 1 and claim in failed[0], failed


def test_active_units_that_never_fall_fail_the_sweep_though_they_never_rise():
    scores = copy.deepcopy(MET)
    for label in families.SWEEP:
        scores[label]["active units"] = 10
    failed = [name for name, met in verdicts(scores).items() if not met]
    assert len(failed) == 1 and "minus at β = 16" in failed[0]


def test_a_missing_measurement_is_no_verdict():
    scores = copy.deepcopy(MET)
    del scores["iwae"]
    assert [name for name, met in verdicts(scores).items() if met is None] == [
        "iwae: vae's importance-sampled test NLL - iwae's (z = 16; > 0: iwae lower)"]


def test_steps_in_order():
    assert families.steps_in_order([1.0, 2.0, 2.0, 3.0], strict=True) == 2
    assert families.steps_in_order([10, 10, 6, 2], strict=False) == 3
    assert families.steps_in_order([10, None, 6, 2], strict=False) is None
