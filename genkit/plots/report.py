"""The report: one self-contained HTML page with the evaluation and every applicable figure.

With one source the page is a single column; with two it is the ablation view, both models side by
side with a generated summary of which is better on each headline metric. Figures are embedded as
base64 PNG data URIs, so the page is one file to mail or archive. A figure that does not apply to a
model (training curves of an export, class arithmetic on unlabelled data) is replaced by the reason.
"""

from __future__ import annotations

import base64
import html
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from genkit.errors import GenkitError
from genkit.files import atomic

REPORT_FILE = "report.html"

# The figures of a report, in reading order, with the options the report gives each.
FIGURES: tuple[tuple[str, dict[str, Any]], ...] = (
    ("samples", {"count": 64}),
    ("reconstructions", {"count": 10}),
    ("latent-scatter", {"prior": True}),
    ("latent-cdf", {}),
    ("latent-histograms", {}),
    ("latent-grid", {}),
    ("morph", {"from_index": 0, "to_index": 1}),
    ("attribute", {"positive": "1", "negative": "0"}),
    ("loss-curves", {}),
)

STYLE = """
body { font-family: system-ui, sans-serif; margin: 2em auto; max-width: 1600px; color: #222; padding: 0 1em; }
h1 { margin-bottom: 0.2em; } h2 { border-bottom: 1px solid #ccc; padding-bottom: 0.2em; margin-top: 2em; }
.summary li { margin: 0.2em 0; }
table { border-collapse: collapse; margin: 1em 0; }
th, td { border: 1px solid #ddd; padding: 0.25em 0.7em; text-align: right; vertical-align: top; }
th:first-child, td:first-child { text-align: left; }
.row { display: grid; gap: 1.5em; grid-template-columns: repeat(var(--columns), minmax(0, 1fr)); }
figure { margin: 0; } img { max-width: 100%; height: auto; border: 1px solid #eee; }
figcaption, .note { color: #555; font-size: 0.9em; } .note { font-style: italic; }
"""


def render_figures(source, data: str | None, seed: int, log: Callable[[str], None]) -> dict[str, dict[str, str]]:
    """Each figure kind of ``FIGURES`` as ``{"png": base64}`` or ``{"note": why it is missing}``."""
    from genkit.plots import KINDS, render
    from genkit.plots.context import PlotContext

    out: dict[str, dict[str, str]] = {}
    context = PlotContext(source, data, "test", seed, {})
    for kind, options in FIGURES:
        context.options = dict(options)
        if KINDS[kind].needs_encoder and source.generator_only:  # skipped with a note, not refused
            out[kind] = {"note": "not drawn: it encodes real images, and a generator-only model has no encoder"}
            continue
        log(f"drawing {kind} of {source.path}")
        try:
            out[kind] = {"png": base64.b64encode(render(kind, context)).decode("ascii")}
        except GenkitError as exc:
            out[kind] = {"note": f"not drawn: {exc}"}
    return out


def metric_rows(result: dict[str, Any]) -> list[tuple[str, str]]:
    """The evaluation as (metric, value) rows for the HTML table."""
    def pm(stats: dict[str, float]) -> str:
        return f"{stats['mean']:.4g} ± {stats['std']:.3g}"

    def num(value: Any, digits: int = 4) -> str:
        return "n/a" if value is None else (str(value) if isinstance(value, int) else f"{value:.{digits}g}")

    from genkit.evaluation.table import condition_text, shape_text

    s, d, lat, g, c = (result[k] for k in ("source", "data", "latent", "generation", "classifier"))
    rows = [("model", f"{s['recipe']} ({s['kind']})"), ("sampler", s["sampler"]),
            ("latent shape", shape_text(s["latent_shape"])), ("prior", s.get("prior") or "n/a"),
            ("condition", f"{s['classes']} classes" if s.get("classes") else "none"),
            ("data", f"{d['name']} {d['split']}, {d['images']} images")]
    rows += [(f"loss term: {term}", pm(stats) + (f" (per batch of {stats['per_batch']})" if "per_batch" in stats
                                                 else "")) for term, stats in result["loss"].items()]
    if not result["loss"]:
        rows.append(("loss terms", result.get("loss_note") or "n/a"))
    rule = g.get("prior", "model")
    active = "n/a" if lat["active_dims"] is None else f"{lat['active_dims']} of {lat['dimensions']}"
    agg, lik = lat.get("aggregate") or {}, result.get("likelihood") or {}
    recon = result["reconstruction"]  # None for a generator-only model, with the reason beside it
    rows += [("reconstruction MSE", pm(recon["mse"]) if recon else result.get("reconstruction_note") or "n/a"),
             ("PSNR (dB)", pm(recon["psnr"]) if recon else "n/a"),
             ("KL per dimension (mean)", num(lat["kl_per_dim_mean"])),
             ("active dimensions", active),
             ("mutual information I(x;z) (nats)", num(agg.get("mutual_information")) if agg.get("note") is None
              else agg["note"]),
             ("total correlation of q(z) (nats)", num(agg.get("total_correlation"))),
             *likelihood_rows(lik, num),
             ("generated from", ("the model's prior" if rule == "model" else f"--prior {rule}") + condition_text(g)),
             ("Fréchet distance", num(g["frechet_distance"])),
             ("KID", kid(g, "kid")),
             ("reconstructions' Fréchet distance", num(g.get("reconstruction_frechet_distance"))),
             ("reconstructions' KID", kid(g, "reconstruction_kid")),
             ("prior gap (samples vs reconstructions)", num(g.get("frechet_distance_to_reconstructions"))),
             ("prior gap as KID", kid(g, "kid_to_reconstructions")),
             ("precision, recall vs reconstructions",
              f"{num(g.get('precision_vs_reconstructions'), 3)}, {num(g.get('recall_vs_reconstructions'), 3)}"),
             *([("precision, recall vs real images", f"{num(g['precision'], 3)}, {num(g['recall'], 3)}")]
               if g.get("precision") is not None else []),
             ("sample confidence", num(g.get("confidence"), 3)),
             ("class coverage", num(g.get("class_coverage"), 3)),
             ("class entropy (of max)", num(g.get("class_entropy_normalised"), 3)),
             ("classifier test accuracy", num(c["accuracy"], 3)),
             ("feature space of the distances", c.get("feature_extractor") or "n/a")]
    return rows


def kid(g: dict[str, Any], key: str) -> str:
    return "n/a" if g.get(key) is None else f"{g[key]:.4g} ± {g[f'{key}_std']:.2g}"


def likelihood_rows(lik: dict[str, Any], num: Callable[..., str]) -> list[tuple[str, str]]:
    """The importance-sampled NLL and its bounds, or the one line why the model has none."""
    if not lik:
        return []
    if lik.get("nll") is None:  # the same rows, so two models' tables line up
        return [("NLL (nats per image)", lik.get("note") or "n/a"),
                *((name, "n/a") for name in ("NLL (bits/dim)", "-ELBO ≥ -IWAE(5) ≥ -IWAE(50) (nats)",
                                             "NLL importance sampling", "likelihood p(x|z)"))]
    bounds = lik["upper_bounds"]
    return [("NLL (nats per image)", f"{num(lik['nll'], 6)} ± {num(lik['nll_sem'], 2)}"),
            ("NLL (bits/dim)", num(lik["bits_per_dim"], 5)),
            ("-ELBO ≥ -IWAE(5) ≥ -IWAE(50) (nats)",
             " ≥ ".join(num(bounds[k], 6) for k in ("elbo", "iwae_5", "iwae_50"))),
            ("NLL importance sampling", f"K = {lik['samples']}, first {lik['images']} of {lik['of_images']} images"),
            ("likelihood p(x|z)", lik.get("likelihood") or "n/a")]


def _img(figure: dict[str, str], caption: str) -> str:
    if "png" in figure:
        return (f'<figure><img alt="{html.escape(caption)}" src="data:image/png;base64,{figure["png"]}">'
                f"<figcaption>{html.escape(caption)}</figcaption></figure>")
    return f'<figure><p class="note">{html.escape(caption)}: {html.escape(figure["note"])}</p></figure>'


def page(results: list[dict[str, Any]], figures: list[dict[str, dict[str, str]]], labels: list[str]) -> str:
    from genkit.evaluation.compare import summary_lines
    from genkit.plots import KINDS

    esc = html.escape
    title = " vs ".join(labels)
    parts = [f"<!doctype html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><title>genkit report: {esc(title)}"
             f"</title><style>{STYLE}</style></head><body>", f"<h1>genkit report: {esc(title)}</h1>"]
    parts.append("<p>" + "<br>".join(f"{esc(label)}: <code>{esc(r['source']['path'])}</code>"
                                     for label, r in zip(labels, results)) + "</p>")
    if len(results) == 2:
        parts.append("<h2>Summary</h2><ul class=\"summary\">"
                     + "".join(f"<li>{esc(line)}</li>" for line in summary_lines(*results)) + "</ul>")
    parts.append("<h2>Evaluation</h2><table><tr><th>metric</th>"
                 + "".join(f"<th>{esc(label)}</th>" for label in labels) + "</tr>")
    tables = [dict(metric_rows(r)) for r in results]
    for metric in dict.fromkeys(k for t in tables for k in t):
        parts.append(f"<tr><td>{esc(metric)}</td>" + "".join(f"<td>{esc(t.get(metric, ''))}</td>" for t in tables)
                     + "</tr>")
    parts.append("</table>")
    parts.append("<h2>Figures</h2>")
    for kind, _ in FIGURES:
        parts.append(f"<h3>{esc(kind)}</h3><p>{esc(KINDS[kind].help)}</p>"
                     f"<div class=\"row\" style=\"--columns: {len(results)}\">"
                     + "".join(_img(f[kind], label) for f, label in zip(figures, labels)) + "</div>")
    parts.append("</body></html>\n")
    return "\n".join(parts)


def build_report(paths: list[str], out_dir: str | None = None, *, data: str | None = None, limit: int = 0,
                 seed: int = 0, classifier=None, log: Callable[[str], None] | None = None,
                 prior: str = "model", nll=None) -> Path:
    """Evaluate and draw one or two sources and write ``out_dir/report.html`` (default: FIRST/report/)."""
    from genkit.evaluation.compare import names
    from genkit.evaluation.metrics import evaluate
    from genkit.evaluation.source import open_source
    from genkit.files.outputs import check_output, spec_path
    from genkit.runtime.source import source_kind

    log = log or (lambda line: print(line, file=sys.stderr, flush=True))
    for source in paths:  # a source that is no source is the first thing to say
        source_kind(source)
    default = Path(paths[0]) / "report"
    path = (Path(out_dir) if out_dir else default) / REPORT_FILE
    check_output(path, inputs=(*paths, spec_path(data)), what="report", allowed=default, creates=path.parent)
    sources = [open_source(source) for source in paths]
    results, figures = [], []
    for source in sources:
        log(f"evaluating {source.path}")
        results.append(evaluate(source, data=data, limit=limit, seed=seed, classifier=classifier, log=log,
                                prior=prior, nll=nll))
        figures.append(render_figures(source, data, seed, log))
    labels = list(names(*results)) if len(results) == 2 else [results[0]["source"]["recipe"]]
    atomic.write_text(path, page(results, figures, labels))
    return path
