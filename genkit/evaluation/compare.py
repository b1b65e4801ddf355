"""Comparing the evaluations of two models: which is better on each headline metric, in words.

This is the ablation view: the VAE and the AE trained on the same data differ in two registry entries,
and the comparison says what those two entries bought (better prior samples) and cost (reconstruction).
"""

from __future__ import annotations

from typing import Any

# (label, path into the evaluation, lower is better, digits)
HEADLINE: tuple[tuple[str, tuple[str, ...], bool, int], ...] = (
    ("negative log-likelihood (nats per image)", ("likelihood", "nll"), True, 6),
    ("Fréchet distance", ("generation", "frechet_distance"), True, 4),
    ("KID", ("generation", "kid"), True, 4),
    ("prior gap (Fréchet distance to reconstructions)", ("generation", "frechet_distance_to_reconstructions"),
     True, 4),
    ("prior gap as KID", ("generation", "kid_to_reconstructions"), True, 4),
    ("precision of samples vs reconstructions", ("generation", "precision_vs_reconstructions"), False, 3),
    ("recall of samples vs reconstructions", ("generation", "recall_vs_reconstructions"), False, 3),
    ("precision of samples vs real images", ("generation", "precision"), False, 3),  # generator-only models
    ("recall of samples vs real images", ("generation", "recall"), False, 3),
    ("reconstruction MSE", ("reconstruction", "mse", "mean"), True, 3),
    ("PSNR", ("reconstruction", "psnr", "mean"), False, 4),
    ("classifier confidence on samples", ("generation", "confidence"), False, 3),
    ("class coverage of samples", ("generation", "class_coverage"), False, 3),
    ("class entropy of samples", ("generation", "class_entropy_normalised"), False, 3),
)


def lookup(result: dict[str, Any], path: tuple[str, ...]) -> Any:
    value: Any = result
    for key in path:
        if not isinstance(value, dict) or value.get(key) is None:
            return None
        value = value[key]
    return value


def names(a: dict[str, Any], b: dict[str, Any]) -> tuple[str, str]:
    """Short names of the two models: the recipes, or the folders when both share one recipe."""
    ra, rb = a["source"]["recipe"], b["source"]["recipe"]
    if ra != rb:
        return ra, rb
    from pathlib import Path

    return f"{ra} ({Path(a['source']['path']).name})", f"{rb} ({Path(b['source']['path']).name})"


def summary_lines(a: dict[str, Any], b: dict[str, Any]) -> list[str]:
    """One sentence per headline metric both evaluations have, naming the better model."""
    name_a, name_b = names(a, b)
    lines = []
    for label, path, lower, digits in HEADLINE:
        va, vb = lookup(a, path), lookup(b, path)
        if va is None or vb is None:
            continue
        if va == vb:
            lines.append(f"{name_a} and {name_b} tie on {label} ({va:.{digits}g}).")
            continue
        a_wins = (va < vb) if lower else (va > vb)
        winner, loser = (name_a, name_b) if a_wins else (name_b, name_a)
        best, other = (va, vb) if a_wins else (vb, va)
        direction = "lower" if lower else "higher"
        lines.append(f"{winner} has the better {label}: {best:.{digits}g} vs {other:.{digits}g} "
                     f"({direction} is better) for {loser}.")
    if a["data"]["name"] != b["data"]["name"]:
        lines.append(f"Note: evaluated on different data ({a['data']['name']} vs {b['data']['name']}).")
    lines += likelihood_notes(a, b, name_a, name_b)
    return lines


def likelihood_notes(a: dict[str, Any], b: dict[str, Any], name_a: str, name_b: str) -> list[str]:
    """Why one model has no likelihood, and whether the two were estimated alike."""
    la, lb = a.get("likelihood") or {}, b.get("likelihood") or {}
    lines = [f"{name} has no likelihood: {lik['note']}." for name, lik in ((name_a, la), (name_b, lb))
             if lik and lik.get("nll") is None and lik.get("note")]
    if la.get("nll") is not None and lb.get("nll") is not None:
        setup = [(lik["samples"], lik["images"], lik.get("likelihood")) for lik in (la, lb)]
        if setup[0][:2] != setup[1][:2]:
            lines.append(f"Note: the likelihoods were estimated differently (K = {setup[0][0]} on {setup[0][1]} images "
                         f"vs K = {setup[1][0]} on {setup[1][1]}).")
        if setup[0][2] != setup[1][2]:
            lines.append(f"Note: the two likelihoods p(x|z) differ ({setup[0][2]} vs {setup[1][2]}), so their NLLs "
                         f"measure different densities.")
    return lines
