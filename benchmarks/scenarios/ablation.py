"""Ablation: the VAE against its autoencoder ablation, each with a 2-d and a 16-d latent space, over seeds.

Each model trains the same epochs on the same data with the recipe's own settings, once per seed (the
seed sets the weights, the data order and the prior draws), then ``genkit.evaluation.evaluate`` scores
it on the test split: loss terms, reconstruction error, and the Fréchet distance between the classifier
features of real test images and of images decoded from the model's prior, split into the decoder's
floor (its reconstructions against the real images) and the prior's own gap (its samples against those
reconstructions, with precision on their manifold). Rows give the mean over seeds and its spread; the
targets compare the AE's figures with the VAE's, so a difference reads against the seed-to-seed spread.

The AE generates from a diagonal Gaussian fitted to its training codes. Two more AE rows decode the
same trained AEs under the sampling rules that fitting replaces (``genkit evaluate --prior``): the
bounding box of the training codes (the book's) and N(0, I). They show what the VAE's prior is
compared against.
"""

from __future__ import annotations

import statistics

from ..context import Context
from ..data import SlicedData
from ..result import Result, Target

NAME = "ablation"
TITLE = "Ablation: vae against ae, at latent sizes 2 and 16"
# The AE at z = 16 too: a diagonal Gaussian fitted to 2-d codes covers them well, while in 16 dimensions
# it misses how the codes correlate, which is where the VAE's prior earns its keep.
MODELS = (("vae", "vae", 2), ("ae", "ae", 2), ("vae, z = 16", "vae", 16), ("ae, z = 16", "ae", 16))
NAIVE_PRIORS = ("code-box", "standard-normal")  # ``genkit evaluate --prior``: the rules the AE's fit replaces
# "Markedly better": the AE's distance at least this many times the VAE's.
MARKED = 1.25
GENERATION = {"Fréchet distance": "frechet_distance", "prior gap": "frechet_distance_to_reconstructions",
              "precision": "precision_vs_reconstructions", "confidence": "confidence",
              "class coverage": "class_coverage"}
# The two distances: their seed-to-seed spread is shown, and the targets and per-seed notes compare them.
SPREAD = {"Fréchet distance": "FD sd", "prior gap": "gap sd"}
LATENTS = (("", 2), (", z = 16", 16))  # row-label suffix and latent size of each vae/ae pair


def train(ctx: Context, label: str, recipe: str, latent: int, seed: int):
    from genkit.config import build_config
    from genkit.contract.host import get_registry
    from genkit.training import Trainer

    s = ctx.sizes
    overrides = [*ctx.base_overrides(), f"training.epochs={s.ablation_epochs}", f"model.latent_shape={latent}",
                 f"training.seed={seed}"]
    config = build_config(get_registry(), recipe, overrides=overrides)
    name = label.replace(" ", "").replace(",", "-").replace("=", "")
    run = ctx.workdir / "ablation" / f"{name}-seed{seed}"
    # The trainer's own per-epoch test pass is cut short: the evaluation below covers the test split.
    result = Trainer(config, run, dataset=SlicedData(ctx.dataset(), s.ablation_limit, 256), progress=False,
                     log=lambda line: None).run()
    return run, result.metrics[-1]


def run(ctx: Context) -> Result:
    from genkit.evaluation import evaluate, open_source
    from genkit.evaluation.classifier import ClassifierSettings
    from genkit.evaluation.likelihood import LikelihoodSettings

    s = ctx.sizes
    # The default classifier (cached per dataset) in full mode; a small one elsewhere, trained in seconds.
    classifier = ClassifierSettings() if s.mode == "full" else ClassifierSettings(epochs=1, limit=2048)
    # The test NLL at `genkit evaluate`'s default K and images in full mode; 5 draws elsewhere (the path, not a figure)
    nll = LikelihoodSettings() if s.mode == "full" else LikelihoodSettings(samples=5)
    test_limit = 0 if s.mode == "full" else s.ablation_samples
    scores: dict[str, list[dict]] = {}  # row label -> one score per seed
    for label, recipe, latent in MODELS:
        for seed in range(s.ablation_seeds):
            ctx.log(f"  ablation: training {label}, seed {seed}")
            run_dir, last = train(ctx, label, recipe, latent, seed)
            others = NAIVE_PRIORS if recipe == "ae" and latent == 2 else ()
            report = evaluate(open_source(run_dir), limit=test_limit, seed=seed, samples=s.ablation_samples,
                              classifier=classifier, log=lambda line: None, other_priors=others, nll=nll)
            loss, likelihood = report["loss"], report["likelihood"]
            common = {"test loss": loss["loss"]["mean"], "reconstruction MSE": report["reconstruction"]["mse"]["mean"],
                      "KL": loss["kl"]["mean"] if "kl" in loss else None,
                      "test NLL (nats)": likelihood["nll"], "bits/dim": likelihood["bits_per_dim"],
                      "train img/s": last.get("images_per_second"), "z": latent, "seed": seed}
            for row, generation in ((label, report["generation"]),
                                    *((f"ae, --prior {rule}", g) for rule, g in report.get("generation_by_prior",
                                                                                          {}).items())):
                scores.setdefault(row, []).append({**common, "generation": generation})
    rows = [summary_row(label, s.ablation_epochs, runs) for label, runs in scores.items()]
    images = "all" if not s.ablation_limit else s.ablation_limit
    return Result(rows=rows, targets=targets(rows), details=scores,
                  notes=[f"{s.ablation_epochs} epoch(s) on {images} training images each, recipe defaults, "
                         f"{s.ablation_seeds} seed(s) per model (weights, data order, prior draws); evaluated on "
                         f"{'the whole' if not test_limit else test_limit} test split images with "
                         f"{s.ablation_samples} prior samples; numbers are means over seeds, 'sd' their standard "
                         "deviation; 'test loss' is each recipe's own loss (the ae's has no KL term)",
                         "prior gap: Fréchet distance of prior samples to the model's own reconstructions of the test "
                         "images; precision: share of prior samples on the reconstructions' feature manifold (k=3)",
                         f"test NLL: importance-sampled (encoder as proposal), K = {nll.samples} draws for each of the "
                         f"first {nll.images or 'all'} evaluated test images; the ae has no density (no number)",
                         *paired_notes(scores)])


def summary_row(label: str, epochs: int, runs: list[dict]) -> dict:
    """Mean over seeds of every column, and the spread of the two distances."""
    row = {"model": label, "z": runs[0]["z"], "epochs": epochs, "seeds": len(runs)}
    for column in ("test loss", "reconstruction MSE", "KL", "test NLL (nats)", "bits/dim"):
        row[column] = mean([r.get(column) for r in runs])
    for column, key in GENERATION.items():
        values = [r["generation"].get(key) for r in runs]
        row[column] = mean(values)
        if column in SPREAD:
            row[SPREAD[column]] = spread(values)
    row["train img/s"] = mean([r["train img/s"] for r in runs])
    return row


def targets(rows: list[dict]) -> list[Target]:
    """The AE's distances over the VAE's, per latent size: issue 5 expects the VAE markedly better."""
    by_label = {row["model"]: row for row in rows}
    out = []
    for suffix, z in LATENTS:
        vae, ae = by_label.get(f"vae{suffix}"), by_label.get(f"ae{suffix}")
        if vae is None or ae is None:
            continue
        for column in SPREAD:
            meaning = "Fréchet distance to real images" if column == "Fréchet distance" else column
            out.append(Target(f"z = {z}: ae / vae {meaning} (issue 5: vae markedly better)",
                              ratio(ae[column], vae[column]), MARKED, unit="x"))
    return out


def paired_notes(scores: dict[str, list[dict]]) -> list[str]:
    """Per-seed ratios, AE over VAE: models trained with the same seed see the same data order."""
    notes = []
    for suffix, z in LATENTS:
        vae, ae = scores.get(f"vae{suffix}", []), scores.get(f"ae{suffix}", [])
        if len(vae) > 1 and len(vae) == len(ae):
            for column in SPREAD:
                key = GENERATION[column]
                ratios = [ratio(a["generation"].get(key), v["generation"].get(key)) for a, v in zip(ae, vae)]
                shown = ", ".join("–" if r is None else f"{r:.2f}" for r in ratios)
                notes.append(f"ae / vae {column}, z = {z}, per seed: {shown}")
    return notes


def mean(values: list) -> float | None:
    present = [v for v in values if v is not None]
    return statistics.fmean(present) if present else None


def spread(values: list) -> float | None:
    present = [v for v in values if v is not None]
    return statistics.stdev(present) if len(present) > 1 else None


def ratio(a: float | None, b: float | None) -> float | None:
    return a / b if a is not None and b else None
