"""The evaluation as plain-text tables for the terminal (``genkit evaluate`` without ``--json``)."""

from __future__ import annotations

from typing import Any

from genkit.evaluation.source import shape_text

HEADINGS = {"reconstruction_mse": "recon. MSE"}


def _num(value: Any, digits: int = 4) -> str:
    if value is None:
        return "n/a"
    if isinstance(value, int):
        return str(value)
    return f"{value:.{digits}g}"


def _pm(stats: dict[str, float], digits: int = 4) -> str:
    return f"{_num(stats['mean'], digits)} ± {_num(stats['std'], 3)}"


def _rows(rows: list[tuple[str, str]], indent: str = "  ") -> list[str]:
    width = max(len(name) for name, _ in rows)
    return [f"{indent}{name:<{width}}  {value}" for name, value in rows]


def _list(values: list[float], shown: int = 8) -> str:
    text = ", ".join(f"{v:.3g}" for v in values[:shown])
    return f"[{text}{', ...' if len(values) > shown else ''}]"


def format_table(result: dict[str, Any]) -> str:
    s, d = result["source"], result["data"]
    lines = [f"{s['recipe']} ({s['kind']}: {s['path']}) on {d['name']} {d['split']}, {d['images']} images, "
             f"seed {result['seed']}", "", loss_heading(result.get("loss_scoring"), result["loss"])]
    if result["loss"]:
        lines += _rows([(term, _pm(stats) + per_batch_text(stats)) for term, stats in result["loss"].items()])
    else:
        lines += [f"  {result.get('loss_note') or 'not available'}"]
    r = result["reconstruction"]
    lines += ["", "Reconstruction (decoded deterministic code)"]
    if r is None:  # a generator-only model
        lines += [f"  {result.get('reconstruction_note') or 'not available'}"]
    else:
        lines += _rows([("MSE", _pm(r["mse"])), ("PSNR (dB)", _pm(r["psnr"]))])
    lat = result["latent"]
    lines += ["", f"Latent space (latent shape {shape_text(lat['latent_shape'])}, sampler {s['sampler']}, prior "
                  f"{s.get('prior', 'n/a')})"]
    rows, notes = aggregate_rows(lat.get("aggregate"))
    if lat["active_dims"] is not None:
        kl = "n/a" if lat["kl_per_dim"] is None else f"mean {_num(lat['kl_per_dim_mean'])} {_list(lat['kl_per_dim'])}"
        rows = [("KL per dimension", kl), ("active dimensions", f"{lat['active_dims']} of {lat['dimensions']} "
                                                                f"(Cov_x E[z|x] > {lat['active_threshold']})"), *rows]
    lines += (_rows(rows) if rows else []) + [f"  {note}" for note in (lat["note"], *notes) if note]
    lines += likelihood_lines(result.get("likelihood"))
    g, c = result["generation"], result["classifier"]
    prior = g.get("prior", "model")
    lines += ["", ("Generation (images decoded from the model's prior" if prior == "model" else
                   f"Generation (images decoded from codes drawn by --prior {prior}") + condition_text(g) + ")"]
    if g["frechet_distance"] is None:
        lines += [f"  {g['note']}"]
    else:
        classes = len(g["class_histogram"])
        covered = round(g["class_coverage"] * classes)
        lines += _rows([
            ("Fréchet distance", f"{_num(g['frechet_distance'])}  ({g['samples']} samples vs {g['real_images']} "
                                 f"real images, classifier features)"),
            ("KID", f"{_kid(g, 'kid')}  (unbiased, {_kid_subsets(g)})"),
            *_against_reconstructions(g),
            *_against_real(g),
            ("confidence", f"{_num(g['confidence'], 3)}  (real images: {_num(g['real_confidence'], 3)})"),
            ("class coverage", f"{covered} of {classes} classes (each the classifier's choice for ≥ "
                               f"{g['coverage_share'] / classes:.1%} of the samples)"),
            ("class entropy", f"{_num(g['class_entropy_normalised'], 3)} of the maximum "
                              f"(real images: {_num(g['real_class_entropy_normalised'], 3)})"),
            ("class histogram", " ".join(str(v) for v in g["class_histogram"])),
            ("classifier", f"test accuracy {_num(c['accuracy'], 3)}, {c['epochs']} epochs on {c['train_images']} "
                           f"images ({'cached' if c['cached'] else 'trained now'})"),
        ])
        lines += [f"  features: {c['feature_extractor']}"]
    lines += _other_priors(result.get("generation_by_prior") or {})
    per_class = result.get("loss_per_class")
    if per_class:
        terms = ["reconstruction_mse", *(t for t, stats in result["loss"].items() if "per_batch" not in stats)]
        width = max(len(name) for name in per_class)
        lines += ["", "Per class (mean)", f"  {'class':<{width}}  {'images':>6}  " +
                  "  ".join(f"{HEADINGS.get(t, t):>14}" for t in terms)]
        for name, row in per_class.items():
            lines.append(f"  {name:<{width}}  {row['images']:>6}  " +
                         "  ".join(f"{_num(row[t]['mean']):>14}" for t in terms))
    return "\n".join(lines)


def loss_heading(scoring: dict[str, Any] | None, loss: dict[str, Any] | None = None) -> str:
    """How the loss terms were scored: as the trainer scores its test split."""
    if not scoring or scoring.get("batch_size") is None:
        return "Loss terms"
    # every term a statistic of its batch (a generator-only model's): there is no spread over images to give
    over = "batches" if loss and all("per_batch" in stats for stats in loss.values()) else "images"
    return (f"Loss terms (scored as the trainer scores its test split: batches of {scoring['batch_size']}, noise "
            f"seed {scoring['seed']}; mean ± std over {over})")


def per_batch_text(stats: dict[str, Any]) -> str:
    """A batch statistic's qualifier: its value is one per batch, not one per image."""
    if "per_batch" not in stats:
        return ""
    return f"  (per batch of {stats['per_batch']}: mean ± std over {stats['batches']} batches, weighted by rows)"


def condition_text(generation: dict[str, Any]) -> str:
    """How the generated images were conditioned, as a clause ('' for an unconditional model)."""
    condition = generation.get("condition")
    if not condition:
        return ""
    return f", class-conditional: labels cycling over the {condition['classes']} classes"


def _other_priors(by_prior: dict[str, dict]) -> list[str]:
    """One line per further ``--prior``: the numbers that tell sampling rules apart."""
    if not by_prior:
        return []
    rows = [(f"--prior {name}", f"Fréchet distance {_num(g['frechet_distance'])}, prior gap "
                                f"{_num(g.get('frechet_distance_to_reconstructions'))}, precision "
                                f"{_num(_first_known(g, 'precision_vs_reconstructions', 'precision'), 3)}, "
                                f"confidence "
                                f"{_num(g['confidence'], 3)}") for name, g in by_prior.items()]
    return ["", "Generation under the other sampling rules (same real images and reconstructions)", *_rows(rows)]


def _against_reconstructions(g: dict) -> list[tuple[str, str]]:
    """The prior's own share of the distance: samples against what the decoder makes of real codes."""
    if g.get("frechet_distance_to_reconstructions") is None:
        return []
    return [("  reconstructions", f"{_num(g['reconstruction_frechet_distance'])}  (decoded test codes vs real "
                                  f"images: the decoder's floor; KID {_kid(g, 'reconstruction_kid')})"),
            ("  prior gap", f"{_num(g['frechet_distance_to_reconstructions'])}  (prior samples vs reconstructions; "
                            f"KID {_kid(g, 'kid_to_reconstructions')})"),
            ("precision, recall", f"{_num(g['precision_vs_reconstructions'], 3)}, "
                                  f"{_num(g['recall_vs_reconstructions'], 3)}  (prior samples on the "
                                  f"reconstructions' feature manifold, k=3)")]


def _first_known(g: dict, *keys: str):
    """The first of ``keys`` with a value (a generator-only model's precision is against the real images)."""
    return next((g[key] for key in keys if g.get(key) is not None), None)


def _against_real(g: dict) -> list[tuple[str, str]]:
    """Precision and recall against the real images, where there are no reconstructions (a generator-only model)."""
    if g.get("precision") is None:
        return []
    return [("precision, recall", f"{_num(g['precision'], 3)}, {_num(g['recall'], 3)}  (samples on the real images' "
                                  f"feature manifold, k=3)")]


def _kid(g: dict, key: str) -> str:
    """A KID as mean ± std over subsets."""
    if g.get(key) is None:
        return "n/a"
    return f"{g[key]:.4g} ± {g[f'{key}_std']:.2g}"


def _kid_subsets(g: dict) -> str:
    k = g.get("kid_settings") or {}
    return f"{k.get('subsets')} subsets of {k.get('subset_size')}"


def aggregate_rows(agg: dict[str, Any] | None) -> tuple[list[tuple[str, str]], list[str]]:
    """Mutual information and total correlation of the aggregate posterior as rows, or the note why none."""
    if not agg:
        return [], []
    if agg["mutual_information"] is None:
        return [], [agg["note"]]
    return [
        ("mutual information I(x;z)", f"{_num(agg['mutual_information'])} nats  (E_x KL(q(z|x)||p(z)) "
                                      f"{_num(agg['expected_kl'])} - KL(q(z)||p(z)) {_num(agg['aggregate_kl'])})"),
        ("total correlation", f"{_num(agg['total_correlation'])} nats  (of the aggregate posterior q(z); "
                              f"dimension-wise KL {_num(agg['dimension_wise_kl'])})"),
        ("estimator", f"{agg['estimator']} (N = {agg['images']} images)"),
    ], []


def likelihood_lines(lik: dict[str, Any] | None) -> list[str]:
    """The importance-sampled NLL, its bits/dim, and the bounds that show the gap; or the one-line reason."""
    if not lik:
        return []
    lines = ["", "Likelihood (negative log-likelihood: lower is better)"]
    if lik["nll"] is None:
        return lines + [f"  {lik['note']}"]
    bounds = lik["upper_bounds"]
    named = (("-ELBO", "elbo"), ("-IWAE(5)", "iwae_5"), ("-IWAE(50)", "iwae_50"))
    chain = "  >=  ".join(f"{name} {_num(bounds[key], 6)}" for name, key in named if bounds[key] is not None)
    from genkit.evaluation.likelihood import bits_per_dim

    return lines + _rows([
        ("NLL", f"{_num(lik['nll'], 6)} nats per image ± {_num(lik['nll_sem'], 2)} (s.e.), "
                f"{_num(lik['bits_per_dim'], 5)} bits/dim"),
        ("bounds (nats)", f"{chain}  (each an upper bound on the NLL; bits/dim of -ELBO "
                          f"{_num(bits_per_dim(bounds['elbo'], lik['dimensions']), 5)})"),
        ("importance sampling", f"K = {lik['samples']} draws from q(z|x) for each of the first {lik['images']} of "
                                f"{lik['of_images']} images ({_num(lik['seconds'], 3)} s)"),
        ("likelihood p(x|z)", f"{lik['likelihood']} (continuous density of pixels in [0, 1])"),
    ])
