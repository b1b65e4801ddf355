"""Families: each model family's central claim from its paper, measured on Fashion-MNIST over seeds.

Every model trains the same epochs on the same data with its recipe's settings (the book's networks and
training), once per seed, and is then measured on the test split with the families plugin's own math
(``benchmarks.family_measures``): reconstruction MSE, active units and the total correlation of the
aggregate posterior (Gaussian encoders), the importance-sampled NLL, the prior gap (Fréchet distance in the
evaluation classifier's features between images decoded from a prior and the model's reconstructions of
the test images) and, for the conditional model, how often generated images are classified as their label.

The claims (issue 16), each a target below; a claim not met is reported with its numbers, never relaxed:
- beta-vae: over β in {0.5, 1, 4, 16} (β = 1 is ``vae``), active units fall and reconstruction MSE rises.
- beta-tcvae: lower total correlation than ``vae`` (z = 10) at equal reconstruction MSE (±10 %). Equal
  reconstruction needs a mild TC weight: the claim is tested at β = 1.5 (chosen on a one-epoch run on 15,000
  images, where the paper's β = 6 gave an 8x lower TC at a 34 % higher MSE); the recipe's β = 6 is trained
  and shown too, as the trade-off.
- iwae: lower importance-sampled test NLL than ``vae`` (z = 16).
- wae-mmd: lower reconstruction MSE than ``vae`` (z = 8), with a prior gap at most 1.5x vae's.
- rae: its mixture prior's gap at least 1.5x lower than a diagonal Gaussian fitted to its codes (the ae rule).
- vq-vae: MSE at most half vae's at z = 2 and below vae's at z = 16; PixelCNN samples' prior gap at least
  1.5x lower than uniformly drawn codes'.
- cvae: generated images classified as their label at least 85 % of the time, overall and in every class.
"""

from __future__ import annotations

import dataclasses
import statistics

import torch

from ..context import Context
from ..data import SlicedData
from ..result import Result, Target

NAME = "families"
TITLE = "Families: each paper's claim (beta-VAE, beta-TCVAE, IWAE, WAE, RAE, VQ-VAE, cVAE) against vae"


@dataclasses.dataclass(frozen=True)
class FamilySizes:
    epochs: int  # every model's (and the VQ-VAE's prior stage's) epochs
    seeds: int
    limit: int  # training images (0: all)
    test: int  # test images measured (0: all)
    samples: int  # prior samples per model for the prior gap
    vq_samples: int  # PixelCNN samples (each fills the 7x7 grid one position at a time)
    nll_images: int  # test images of the importance-sampled NLL
    nll_samples: int  # importance samples per image
    tc_images: int  # test images whose posteriors make the aggregate posterior of the TC


SIZES = {
    # The ablation's epochs (vae's rows are its setting); K = 100 keeps the 6 NLL estimates to minutes on a CPU
    "full": FamilySizes(epochs=2, seeds=3, limit=0, test=0, samples=5000, vq_samples=1000, nll_images=1000,
                        nll_samples=100, tc_images=5000),
    "quick": FamilySizes(epochs=1, seeds=1, limit=2048, test=512, samples=512, vq_samples=128, nll_images=128,
                         nll_samples=50, tc_images=512),
    "tiny": FamilySizes(epochs=1, seeds=1, limit=128, test=64, samples=64, vq_samples=16, nll_images=8,
                        nll_samples=4, tc_images=64),
}
BETAS = (0.5, 1.0, 4.0, 16.0)
MODELS = (  # label, recipe, overrides, extra measures
    ("vae, z = 2", "vae", ("model.latent_shape=2",), ()),
    ("vae, z = 8", "vae", ("model.latent_shape=8",), ()),
    ("vae, z = 10", "vae", ("model.latent_shape=10",), ()),
    ("vae, z = 16", "vae", ("model.latent_shape=16",), ("nll",)),
    *((f"beta-vae, β = {b:g}", "beta-vae", (f"loss.beta={b}",), ()) for b in BETAS if b != 1.0),
    ("beta-tcvae, β = 1.5", "beta-tcvae", ("loss.beta=1.5",), ()),
    ("beta-tcvae, β = 6", "beta-tcvae", (), ()),
    ("iwae", "iwae", (), ("nll",)),
    ("wae-mmd", "wae-mmd", (), ()),
    ("rae", "rae", (), ("fitted-gaussian",)),
    ("vq-vae", "vq-vae", (), ("uniform-codes",)),
    ("cvae", "cvae", (), ("labels",)),
)
TCVAE = "beta-tcvae, β = 1.5"  # the claim's model: equal reconstruction (see the module docstring)
SWEEP = tuple("vae, z = 10" if b == 1.0 else f"beta-vae, β = {b:g}" for b in BETAS)
MARKED = 1.5  # "markedly lower": the other rule's prior gap at least this many times the model's
COLUMNS = ("recon MSE", "active units", "TC", "NLL (nats)", "prior gap", "other rule's gap", "label accuracy",
           "worst class")


def train(ctx: Context, sizes: FamilySizes, label: str, recipe: str, overrides: tuple[str, ...], seed: int):
    from genkit.config import build_config
    from genkit.contract.host import get_registry
    from genkit.training import Trainer

    extra = [f"training.epochs={sizes.epochs}", f"training.seed={seed}", *overrides]
    if recipe == "vq-vae":
        extra.append(f"stages.prior.epochs={sizes.epochs}")
    if recipe == "beta-tcvae" and sizes.limit:
        extra.append(f"loss.dataset_size={sizes.limit}")  # the MWS estimator's N: the images trained on
    config = build_config(get_registry(), recipe, overrides=[*ctx.base_overrides(), *extra])
    name = "".join(c if c.isalnum() or c in "-." else "-" for c in label)
    # The trainer's own per-epoch test pass is cut short: the measures below cover the test split.
    run = ctx.workdir / NAME / f"{name}-seed{seed}"
    trainer = Trainer(config, run, progress=False, log=lambda line: None,
                      dataset=SlicedData(ctx.dataset(), sizes.limit, 256))
    trainer.run()
    return trainer.model.eval(), trainer.train_split, run


@torch.no_grad()
def measure(model, run, train_split, test, judge, sizes: FamilySizes, extras: tuple[str, ...], seed: int) -> dict:
    from genkit.contract.model import cycle_labels
    from genkit.contract.priors import CategoricalPrior, DiagonalGaussianPrior

    from .. import family_measures as fm

    images, labels = test
    model = model.cpu()
    encoded = fm.encode(model, images, labels)
    out = {"recon MSE": encoded.mse}
    if "log_var" in encoded.params:
        mu, log_var = encoded.params["mu"], encoded.params["log_var"]
        out["active units"] = fm.active_units(mu)
        out["TC"] = fm.total_correlation(mu[: sizes.tc_images], log_var[: sizes.tc_images], seed)
    if "nll" in extras:
        out["NLL (nats)"] = fm.importance_nll(run, sizes.nll_images, sizes.nll_samples, seed)
    gen = torch.Generator().manual_seed(seed)
    count = sizes.vq_samples if "uniform-codes" in extras else sizes.samples
    drawn = cycle_labels(count, model.spec.classes)
    prior_images = fm.decode(model, model.sampler.sample_prior(count, generator=gen), drawn)
    generation = judge.generation(prior_images, encoded.reconstructions)
    out["prior gap"] = generation.get("frechet_distance_to_reconstructions")
    out["Fréchet distance"] = generation["frechet_distance"]
    other = None
    if "fitted-gaussian" in extras:  # the ae rule: a diagonal Gaussian fitted to the training codes
        codes = fm.batched(lambda x: model.codes(x), train_split.images).float()
        other = DiagonalGaussianPrior(codes.mean(0), codes.std(0, correction=0))
    if "uniform-codes" in extras:  # every code equally likely at every position
        book = model.sampler.codebook.weight
        other = CategoricalPrior(book, torch.zeros((*model.spec.latent_shape[1:], len(book))))
    if other is not None:
        other_images = fm.decode(model, other.sample(count, gen))
        out["other rule's gap"] = judge.generation(other_images, encoded.reconstructions).get(
            "frechet_distance_to_reconstructions")
    if "labels" in extras:
        wanted = cycle_labels(sizes.samples, model.spec.classes)
        generated = fm.decode(model, model.sampler.sample_prior(sizes.samples, generator=gen), wanted)
        overall, per_class = judge.label_accuracy(generated, wanted.numpy())
        out.update({"label accuracy": overall, "worst class": min(per_class), "per class": per_class})
    return out


def run(ctx: Context, sizes: FamilySizes | None = None) -> Result:
    from ..family_measures import Judge

    sizes = sizes or SIZES[ctx.sizes.mode]
    split = ctx.dataset().split("test")
    if sizes.test:
        split = split.limit(sizes.test)
    test = (split.images, split.labels)
    judge = Judge(ctx.dataset(), ctx.sizes.mode != "full", split.images)
    scores: dict[str, list[dict]] = {}
    for label, recipe, overrides, extras in MODELS:
        for seed in range(sizes.seeds):
            ctx.log(f"  families: training {label}, seed {seed}")
            model, train_split, run = train(ctx, sizes, label, recipe, overrides, seed)
            scores.setdefault(label, []).append(
                {"seed": seed, **measure(model, run, train_split, test, judge, sizes, extras, seed)})
    rows = [summary_row(label, recipe, overrides, sizes, scores[label]) for label, recipe, overrides, _ in MODELS]
    images = "all" if not sizes.limit else sizes.limit
    return Result(rows=rows, targets=targets(scores), details=scores, notes=[
        f"{sizes.epochs} epoch(s) on {images} training images per model (the VQ-VAE's prior stage: as many more), "
        f"recipe defaults otherwise, {sizes.seeds} seed(s); means over seeds; measured on "
        f"{'all' if not sizes.test else sizes.test} test images",
        f"prior gap: Fréchet distance (evaluation classifier's features) of {sizes.samples} prior samples "
        f"({sizes.vq_samples} for the VQ-VAE's PixelCNN) to the model's reconstructions of the test images; "
        "other rule: a diagonal Gaussian fitted to the RAE's training codes, uniform codes for the VQ-VAE",
        f"NLL: importance sampling with the encoder as proposal, K = {sizes.nll_samples} per image on "
        f"{sizes.nll_images} test images, Gaussian decoder of variance 784 / (2 * 1000) (the book's loss); "
        f"TC: aggregate posterior of {sizes.tc_images} test images, one draw each; active units: Cov(mu) > 0.01",
        *per_seed_notes(scores)])


def summary_row(label: str, recipe: str, overrides: tuple[str, ...], sizes: FamilySizes, runs: list[dict]) -> dict:
    row = {"model": label, "recipe": recipe, "epochs": sizes.epochs, "seeds": len(runs)}
    for column in COLUMNS:
        row[column] = mean([r.get(column) for r in runs])
    return row


def targets(scores: dict[str, list[dict]]) -> list[Target]:
    def m(label: str, column: str) -> float | None:
        return mean([r.get(column) for r in scores.get(label, [])])

    sweep_units = [m(label, "active units") for label in SWEEP]
    sweep_mse = [m(label, "recon MSE") for label in SWEEP]
    mse_ratio = ratio(m(TCVAE, "recon MSE"), m("vae, z = 10", "recon MSE"))
    nll_vae, nll_iwae = m("vae, z = 16", "NLL (nats)"), m("iwae", "NLL (nats)")
    vq = m("vq-vae", "recon MSE")
    return [
        Target("beta-vae: active units never rise as β rises 0.5 → 1 → 4 → 16 (steps in order, of 3)",
               steps_in_order(sweep_units, strict=False), 3, unit="steps"),
        Target("beta-vae: active units at β = 0.5 minus at β = 16 (fewer at the higher β)",
               None if None in (sweep_units[0], sweep_units[-1]) else sweep_units[0] - sweep_units[-1], 1,
               unit="units"),
        Target("beta-vae: reconstruction MSE rises as β rises (steps in order, of 3)",
               steps_in_order(sweep_mse, strict=True), 3, unit="steps"),
        Target("beta-tcvae (β = 1.5): TC of the aggregate posterior / vae's (z = 10)",
               ratio(m(TCVAE, "TC"), m("vae, z = 10", "TC")), 1.0, "at_most", "x"),
        Target("beta-tcvae (β = 1.5): |reconstruction MSE / vae's - 1| (equal within 10 %)",
               None if mse_ratio is None else abs(mse_ratio - 1), 0.10, "at_most"),
        Target("iwae: vae's importance-sampled test NLL - iwae's (z = 16; > 0: iwae lower)",
               None if nll_vae is None or nll_iwae is None else nll_vae - nll_iwae, 0.0, unit="nats"),
        Target("wae-mmd: reconstruction MSE / vae's (z = 8)",
               ratio(m("wae-mmd", "recon MSE"), m("vae, z = 8", "recon MSE")), 1.0, "at_most", "x"),
        Target("wae-mmd: prior gap / vae's (z = 8)",
               ratio(m("wae-mmd", "prior gap"), m("vae, z = 8", "prior gap")), 1.5, "at_most", "x"),
        Target("rae: fitted diagonal Gaussian's prior gap / the ex-post mixture's (z = 16)",
               ratio(m("rae", "other rule's gap"), m("rae", "prior gap")), MARKED, unit="x"),
        Target("vq-vae: reconstruction MSE / vae's at z = 2", ratio(vq, m("vae, z = 2", "recon MSE")), 0.5,
               "at_most", "x"),
        Target("vq-vae: reconstruction MSE / vae's at z = 16", ratio(vq, m("vae, z = 16", "recon MSE")), 1.0,
               "at_most", "x"),
        Target("vq-vae: uniform codes' prior gap / the PixelCNN's",
               ratio(m("vq-vae", "other rule's gap"), m("vq-vae", "prior gap")), MARKED, unit="x"),
        Target("cvae: generated images classified as their label", m("cvae", "label accuracy"), 0.85),
        Target("cvae: the worst class's share classified as its label", m("cvae", "worst class"), 0.85),
    ]


def per_seed_notes(scores: dict[str, list[dict]]) -> list[str]:
    """Each pairwise claim seed by seed: models trained with the same seed see the same data order."""
    pairs = ((TCVAE, "vae, z = 10", "TC"), (TCVAE, "vae, z = 10", "recon MSE"),
             ("iwae", "vae, z = 16", "NLL (nats)"), ("wae-mmd", "vae, z = 8", "recon MSE"),
             ("wae-mmd", "vae, z = 8", "prior gap"), ("vq-vae", "vae, z = 2", "recon MSE"))
    notes = []
    for a, b, column in pairs:
        left, right = scores.get(a, []), scores.get(b, [])
        if len(left) > 1 and len(left) == len(right):
            shown = ", ".join(fmt(ratio(x.get(column), y.get(column))) for x, y in zip(left, right))
            notes.append(f"{a} / {b} {column}, per seed: {shown}")
    for label in ("rae", "vq-vae"):
        runs = scores.get(label, [])
        if len(runs) > 1:
            shown = ", ".join(fmt(ratio(r.get("other rule's gap"), r.get("prior gap"))) for r in runs)
            notes.append(f"{label}: other rule's gap / its prior's, per seed: {shown}")
    return notes


def steps_in_order(values: list[float | None], strict: bool) -> int | None:
    """How many consecutive pairs rise (``strict``) or do not rise (not ``strict``); None if a value is missing."""
    if any(v is None for v in values):
        return None
    pairs = list(zip(values, values[1:]))
    return sum(b > a for a, b in pairs) if strict else sum(b <= a for a, b in pairs)


def mean(values: list) -> float | None:
    present = [v for v in values if v is not None]
    return statistics.fmean(present) if present else None


def ratio(a: float | None, b: float | None) -> float | None:
    return a / b if a is not None and b else None


def fmt(value: float | None) -> str:
    return "–" if value is None else f"{value:.2f}"
