"""Evaluate scores the loss terms as the trainer scores its test split, for every built-in recipe.

Each recipe trains one short epoch on 256 Fashion-MNIST images (small networks where the recipe allows)
with 300 test images, so the test split is two batches (256 + 44) and the weighting by rows counts.
The loss terms evaluate reports for the run folder must then be the trainer's last test scores of the
model's loss in metrics.jsonl (same weights), and a loss's ``batch_terms`` must be reported per batch.
wae-mmd's MMD is the case that read 0.0 while evaluate scored one image at a time.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from conftest import FASHION, _read_idx
from PIL import Image

from genkit.config import build_config
from genkit.contract.host import get_registry
from genkit.evaluation.data import open_split
from genkit.evaluation.source import open_source
from genkit.evaluation.split_terms import split_terms
from genkit.run.checkpoint import read_metrics
from genkit.training import Trainer

from .conftest import export, invoke

RECIPES = ("vae", "ae", "vae-faces", "beta-vae", "beta-tcvae", "iwae", "wae-mmd", "rae", "vq-vae", "cvae")
GENERATOR_RECIPES = ("wgan-gp", "cgan")  # generator-only, two players: each player's terms, PLAYER.TERM
SMALL = {"encoder.filters": "[8,16,16,16]", "decoder.filters": "[16,16,8,1]"}
FACES = {"encoder.filters": "[4,8,8,8]", "decoder.filters": "[8,8,4,3]", "training.limit": 32}
TOLERANCE = {"rel": 1e-5, "abs": 1e-6}  # the same float32 computation, batch for batch
# A reduction's order follows the thread count, a one-ulp change of a large term: beta-tcvae's kl is the
# small sum of mi, tc and dkl, terms near ±100, so it is compared to the record's largest term's ulps.
ULPS_OF_LARGEST = 1e-7


@pytest.fixture(scope="module")
def datasets(tmp_path_factory) -> dict[str, Path]:
    """256 training and 300 test images, labelled; and the faces recipe's (3, 128, 128) from the same garments."""
    root = tmp_path_factory.mktemp("batch-terms")
    x = _read_idx(FASHION / "train-images-idx3-ubyte.gz", 256)
    y = _read_idx(FASHION / "train-labels-idx1-ubyte.gz", 256)
    x_test = _read_idx(FASHION / "t10k-images-idx3-ubyte.gz", 300)
    y_test = _read_idx(FASHION / "t10k-labels-idx1-ubyte.gz", 300)
    np.savez(root / "small.npz", x=x, y=y, x_test=x_test, y_test=y_test)

    def rgb(images: np.ndarray) -> np.ndarray:
        return np.stack([np.asarray(Image.fromarray(i).resize((128, 128)).convert("RGB")) for i in images])

    np.savez(root / "rgb.npz", x=rgb(x[:32]), x_test=rgb(x_test[:40]))
    return {"small": root / "small.npz", "rgb": root / "rgb.npz"}


def _train(recipe: str, npz: Path, run: Path) -> Path:
    values = {"data.name": f'"npz:{npz}"', "data.workers": 0, "training.samples": 0, "training.threads": 1,
              "training.batch_size": 64, "training.epochs": 1, "training.limit": 256,
              **(FACES if recipe == "vae-faces" else {} if recipe in GENERATOR_RECIPES else SMALL)}
    if recipe == "vq-vae":
        values["stages.prior.epochs"] = 1
    config = build_config(get_registry(), recipe, None, [f"{k}={v}" for k, v in values.items()])
    Trainer(config, run, progress=False, log=lambda line: None).run()
    return run


@pytest.fixture(scope="module")
def runs(datasets, tmp_path_factory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("batch-term-runs")
    return {r: _train(r, datasets["rgb" if r == "vae-faces" else "small"], root / r)
            for r in (*RECIPES, *GENERATOR_RECIPES)}


def trainer_scores(run: Path, names: tuple[str, ...]) -> dict[str, float]:
    """The last test scores of the model's own loss (a later stage scores its own loss's terms)."""
    return [r["test"] for r in read_metrics(run) if tuple(r["test"]) == names][-1]


def test_every_built_in_recipe_is_covered():
    assert {*RECIPES, *GENERATOR_RECIPES} == set(get_registry().recipes)


@pytest.mark.parametrize("recipe", GENERATOR_RECIPES)
def test_evaluate_scores_each_players_terms_as_the_trainer_did(runs, recipe):
    """A generator-only run's terms: each player's loss over the test split, as the trainer's last record has them."""
    from genkit.evaluation.generator_terms import generator_terms

    source = open_source(runs[recipe])
    scored = generator_terms(source, open_split(source))
    expected = read_metrics(runs[recipe])[-1]["test"]
    assert scored["note"] is None and list(scored["loss"]) == list(expected)
    assert {term.split(".")[0] for term in expected} == {"critic", "generator"}
    for term, value in expected.items():
        assert scored["loss"][term]["mean"] == pytest.approx(value, **TOLERANCE), term


@pytest.mark.parametrize("recipe", RECIPES)
def test_evaluate_scores_what_the_trainer_scored(runs, recipe):
    source = open_source(runs[recipe])
    scored = split_terms(source, open_split(source))
    assert scored["note"] is None
    expected = trainer_scores(runs[recipe], source.loss_terms)
    assert list(scored["loss"]) == list(expected)
    largest = max(abs(v) for v in expected.values())
    for term, value in expected.items():
        assert scored["loss"][term]["mean"] == pytest.approx(value, rel=TOLERANCE["rel"],
                                                             abs=max(TOLERANCE["abs"], ULPS_OF_LARGEST * largest)), term
    batch_terms = set(type(source.terms.loss).batch_terms)
    for term, stats in scored["loss"].items():
        assert ("per_batch" in stats) == (term in batch_terms), term
        if term not in batch_terms:  # the per-image values average to the batch means
            assert len(scored["per_image"][term]) == len(open_split(source))
            assert scored["per_image"][term].mean() == pytest.approx(stats["mean"], rel=1e-4, abs=1e-5), term


def test_batch_statistics_are_declared():
    registry = get_registry()
    assert set(registry.component_class("loss", "wae-mmd").batch_terms) == {"loss", "mmd"}
    assert set(registry.component_class("loss", "beta-tcvae").batch_terms) == {"loss", "mi", "tc", "dkl"}
    for name in ("vae", "beta-vae", "iwae", "rae", "vq-vae", "reconstruction", "prior-nll"):
        assert registry.component_class("loss", name).batch_terms == (), name


def test_evaluate_reports_the_mmd_per_batch_as_the_trainer_scored_it(runs, tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))  # this dataset's classifier stays out of the shared cache
    run = runs["wae-mmd"]
    expected = trainer_scores(run, ("loss", "reconstruction", "mmd", "mse"))
    code, output = invoke("evaluate", run, "--json", "--nll-samples", 0, "--samples", 64)
    assert code == 0, output
    result = json.loads(output[output.index("{"):])
    mmd = result["loss"]["mmd"]
    assert mmd["mean"] == pytest.approx(expected["mmd"], **TOLERANCE) and mmd["mean"] > 0.0
    assert (mmd["per_batch"], mmd["batches"]) == (256, 2)
    assert result["loss_scoring"] == {"batch_size": 256, "seed": 0, "batch_terms": ["loss", "mmd"]}
    assert "per_batch" not in result["loss"]["mse"]
    code, table = invoke("evaluate", run, "--nll-samples", 0, "--samples", 64)
    assert code == 0, table
    assert "per batch of 256" in next(line for line in table.splitlines() if line.strip().startswith("mmd"))


def test_an_export_scores_the_batch_terms_as_its_run_folder(runs, tmp_path):
    run = runs["wae-mmd"]
    source, exported = open_source(run), open_source(export(run, tmp_path / "wae"))
    from_run, from_export = (split_terms(s, open_split(s)) for s in (source, exported))
    assert from_export["note"] is None
    for term, stats in from_run["loss"].items():
        assert from_export["loss"][term]["mean"] == pytest.approx(stats["mean"], rel=1e-4, abs=1e-5), term
