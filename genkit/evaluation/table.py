"""The evaluation as plain-text tables for the terminal (``genkit evaluate`` without ``--json``)."""

from __future__ import annotations

from typing import Any

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
             f"seed {result['seed']}", "", "Loss terms (mean ± std over images)"]
    lines += _rows([(term, _pm(stats)) for term, stats in result["loss"].items()])
    r = result["reconstruction"]
    lines += ["", "Reconstruction (decoded deterministic code)"]
    lines += _rows([("MSE", _pm(r["mse"])), ("PSNR (dB)", _pm(r["psnr"]))])
    lat = result["latent"]
    lines += ["", f"Latent space (z_dim {lat['z_dim']}, sampler {s['sampler']})"]
    if lat["active_dims"] is None:
        lines += [f"  {lat['note']}"]
    else:
        lines += _rows([("KL per dimension", f"mean {_num(lat['kl_per_dim_mean'])} {_list(lat['kl_per_dim'])}"),
                        ("active dimensions", f"{lat['active_dims']} of {lat['z_dim']} "
                                              f"(Cov_x E[z|x] > {lat['active_threshold']})")])
    g, c = result["generation"], result["classifier"]
    prior = g.get("prior", "model")
    lines += ["", "Generation (images decoded from the model's prior)" if prior == "model" else
              f"Generation (images decoded from codes drawn by --prior {prior})"]
    if g["frechet_distance"] is None:
        lines += [f"  {g['note']}"]
    else:
        classes = len(g["class_histogram"])
        covered = round(g["class_coverage"] * classes)
        lines += _rows([
            ("Fréchet distance", f"{_num(g['frechet_distance'])}  ({g['samples']} samples vs {g['real_images']} "
                                 f"real images, classifier features)"),
            *_against_reconstructions(g),
            ("confidence", f"{_num(g['confidence'], 3)}  (real images: {_num(g['real_confidence'], 3)})"),
            ("class coverage", f"{covered} of {classes} classes (each the classifier's choice for ≥ "
                               f"{g['coverage_share'] / classes:.1%} of the samples)"),
            ("class entropy", f"{_num(g['class_entropy_normalised'], 3)} of the maximum "
                              f"(real images: {_num(g['real_class_entropy_normalised'], 3)})"),
            ("class histogram", " ".join(str(v) for v in g["class_histogram"])),
            ("classifier", f"test accuracy {_num(c['accuracy'], 3)}, {c['epochs']} epochs on {c['train_images']} "
                           f"images ({'cached' if c['cached'] else 'trained now'})"),
        ])
    lines += _other_priors(result.get("generation_by_prior") or {})
    per_class = result.get("loss_per_class")
    if per_class:
        terms = ["reconstruction_mse", *result["loss"]]
        width = max(len(name) for name in per_class)
        lines += ["", "Per class (mean)", f"  {'class':<{width}}  {'images':>6}  " +
                  "  ".join(f"{HEADINGS.get(t, t):>14}" for t in terms)]
        for name, row in per_class.items():
            lines.append(f"  {name:<{width}}  {row['images']:>6}  " +
                         "  ".join(f"{_num(row[t]['mean']):>14}" for t in terms))
    return "\n".join(lines)


def _other_priors(by_prior: dict[str, dict]) -> list[str]:
    """One line per further ``--prior``: the numbers that tell sampling rules apart."""
    if not by_prior:
        return []
    rows = [(f"--prior {name}", f"Fréchet distance {_num(g['frechet_distance'])}, prior gap "
                                f"{_num(g.get('frechet_distance_to_reconstructions'))}, precision "
                                f"{_num(g.get('precision_vs_reconstructions'), 3)}, confidence "
                                f"{_num(g['confidence'], 3)}") for name, g in by_prior.items()]
    return ["", "Generation under the other sampling rules (same real images and reconstructions)", *_rows(rows)]


def _against_reconstructions(g: dict) -> list[tuple[str, str]]:
    """The prior's own share of the distance: samples against what the decoder makes of real codes."""
    if g.get("frechet_distance_to_reconstructions") is None:
        return []
    return [("  reconstructions", f"{_num(g['reconstruction_frechet_distance'])}  (decoded test codes vs real "
                                  f"images: the decoder's floor)"),
            ("  prior gap", f"{_num(g['frechet_distance_to_reconstructions'])}  (prior samples vs reconstructions)"),
            ("precision, recall", f"{_num(g['precision_vs_reconstructions'], 3)}, "
                                  f"{_num(g['recall_vs_reconstructions'], 3)}  (prior samples on the "
                                  f"reconstructions' feature manifold, k=3)")]
