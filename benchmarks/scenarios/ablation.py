"""Ablation: the VAE against its autoencoder ablation, each with a 2-d and a 16-d latent space.

Each model trains the same epochs on the same data with the recipe's own settings, then
``genkit.evaluation.evaluate`` scores it on the test split: loss terms, reconstruction error, and the
Fréchet distance between the classifier features of real test images and of images decoded from the
model's prior, split into the decoder's floor (its reconstructions against the real images) and the
prior's own gap (its samples against those reconstructions, with precision on their manifold).

The AE generates from a diagonal Gaussian fitted to its training codes. Two more AE rows decode the
same trained AE under the sampling rules that fitting replaces (``genkit evaluate --prior``): the
bounding box of the training codes (the book's) and N(0, I). They show what the VAE's prior is
compared against.
"""

from __future__ import annotations

from ..context import Context
from ..data import SlicedData
from ..result import Result

NAME = "ablation"
TITLE = "Ablation: vae against ae, at latent sizes 2 and 16"
# The AE at z = 16 too: a diagonal Gaussian fitted to 2-d codes covers them well, while in 16 dimensions
# it misses how the codes correlate, which is where the VAE's prior earns its keep.
MODELS = (("vae", "vae", 2), ("ae", "ae", 2), ("vae, z = 16", "vae", 16), ("ae, z = 16", "ae", 16))
NAIVE_PRIORS = ("code-box", "standard-normal")  # ``genkit evaluate --prior``: the rules the AE's fit replaces


def train(ctx: Context, label: str, recipe: str, z_dim: int):
    from genkit.config import build_config
    from genkit.plugins import get_registry
    from genkit.training import Trainer

    s = ctx.sizes
    overrides = [*ctx.base_overrides(), f"training.epochs={s.ablation_epochs}", f"model.z_dim={z_dim}"]
    config = build_config(get_registry(), recipe, overrides=overrides)
    run = ctx.workdir / "ablation" / label.replace(" ", "").replace(",", "-").replace("=", "")
    # The trainer's own per-epoch test pass is cut short: the evaluation below covers the test split.
    result = Trainer(config, run, dataset=SlicedData(ctx.dataset(), s.ablation_limit, 256), progress=False,
                     log=lambda line: None).run()
    return run, result.metrics[-1]


def run(ctx: Context) -> Result:
    from genkit.evaluation import evaluate, open_source
    from genkit.evaluation.classifier import ClassifierSettings

    s = ctx.sizes
    # The default classifier (cached per dataset) in full mode; a small one elsewhere, trained in seconds.
    classifier = ClassifierSettings() if s.mode == "full" else ClassifierSettings(epochs=1, limit=2048)
    test_limit = 0 if s.mode == "full" else s.ablation_samples
    rows, details = [], {}

    def score(run_dir, prior: str = "model"):
        return evaluate(open_source(run_dir), limit=test_limit, seed=0, samples=s.ablation_samples,
                        classifier=classifier, log=lambda line: None, prior=prior)

    for label, recipe, z_dim in MODELS:
        ctx.log(f"  ablation: training {label}")
        run_dir, last = train(ctx, label, recipe, z_dim)
        report = score(run_dir)
        loss = report["loss"]
        rows.append({"model": label, "z": z_dim, "epochs": s.ablation_epochs,
                     "test loss": loss["loss"]["mean"],
                     "reconstruction MSE": report["reconstruction"]["mse"]["mean"],
                     "KL": loss["kl"]["mean"] if "kl" in loss else None,
                     **generation_columns(report["generation"]),
                     "train img/s": last.get("images_per_second")})
        details[label] = {"generation": report["generation"], "loss": loss,
                          "reconstruction": report["reconstruction"], "classifier": report["classifier"]}
        if recipe == "ae" and z_dim == 2:
            for rule in NAIVE_PRIORS:
                other = score(run_dir, rule)["generation"]
                rows.append({**rows[-1], "model": f"ae, --prior {rule}", **generation_columns(other)})
                details[f"ae, --prior {rule}"] = {"generation": other}
    images = "all" if not s.ablation_limit else s.ablation_limit
    return Result(rows=rows, details=details,
                  notes=[f"{s.ablation_epochs} epoch(s) on {images} training images each, recipe defaults; "
                         f"evaluated on {'the whole' if not test_limit else test_limit} test split images with "
                         f"{s.ablation_samples} prior samples; 'test loss' is each recipe's own loss "
                         "(the ae's has no KL term)",
                         "prior gap: Fréchet distance of prior samples to the model's own reconstructions of the test "
                         "images; precision: share of prior samples on the reconstructions' feature manifold (k=3)"])


def generation_columns(generation: dict) -> dict:
    """The table's generation columns of one evaluation."""
    return {"Fréchet distance": generation.get("frechet_distance"),
            "prior gap": generation.get("frechet_distance_to_reconstructions"),
            "precision": generation.get("precision_vs_reconstructions"),
            "confidence": generation.get("confidence"),
            "class coverage": generation.get("class_coverage")}
