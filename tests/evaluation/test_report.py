"""``genkit report``: one self-contained HTML page, of one model or two side by side."""

from __future__ import annotations

import base64
import io
import re

from PIL import Image

from genkit.plots.report import FIGURES

from .conftest import invoke

IMAGE = re.compile(r'src="data:image/png;base64,([A-Za-z0-9+/=]+)"')


def embedded_images(page: str) -> list[Image.Image]:
    return [Image.open(io.BytesIO(base64.b64decode(data))) for data in IMAGE.findall(page)]


def test_one_run_gives_a_self_contained_page_in_the_run_folder(vae_run):
    code, output = invoke("report", vae_run, "--limit", "64")
    assert code == 0, output
    path = vae_run / "report" / "report.html"
    assert str(path) in output and path.is_file()
    page = path.read_text(encoding="utf-8")
    assert page.startswith("<!doctype html>") and page.rstrip().endswith("</html>")
    images = embedded_images(page)
    assert len(images) == len(FIGURES)  # every figure applies to a labelled run folder
    assert all(image.format == "PNG" and image.width > 200 for image in images)
    assert "Fréchet distance" in page and "active dimensions" in page
    for row in ("NLL (nats per image)", "NLL (bits/dim)", "-ELBO ≥ -IWAE(5) ≥ -IWAE(50) (nats)", "KID",
                "prior gap as KID", "mutual information I(x;z) (nats)", "total correlation of q(z) (nats)",
                "K = 10, first 64 of 64 images", "not Inception"):
        assert row in page, row
    assert "<h2>Summary</h2>" not in page
    assert not re.search(r'src="(?!data:)', page), "the page must not link to other files"
    assert not [p for p in path.parent.iterdir() if p.name.endswith(".tmp")]


def test_two_runs_side_by_side_with_a_summary(vae_run, ae_export, tmp_path):
    code, output = invoke("report", vae_run, ae_export, "--limit", "64", "-o", tmp_path / "ablation")
    assert code == 0, output
    page = (tmp_path / "ablation" / "report.html").read_text(encoding="utf-8")
    assert "genkit report: vae vs ae" in page
    summary = page[page.index("<h2>Summary</h2>"):page.index("<h2>Evaluation</h2>")]
    assert "has the better Fréchet distance" in summary and "has the better reconstruction MSE" in summary
    assert "has the better KID" in summary
    assert "ae has no likelihood: no density: DeterministicSampler defines no posterior density" in summary
    table = page[page.index("<h2>Evaluation</h2>"):page.index("<h2>Figures</h2>")]
    nll = table[table.index("<td>NLL (nats per image)</td>"):].split("</tr>")[0]
    assert nll.count("<td>") == 3 and "<td>no density: DeterministicSampler" in nll, nll
    assert "--columns: 2" in page
    # the export has no training log: its loss-curves cell says why instead of showing a figure
    assert len(embedded_images(page)) == 2 * len(FIGURES) - 1
    assert "not drawn" in page and "training log" in page


def test_report_errors_are_one_line(vae_run, tmp_path):
    code, output = invoke("report", tmp_path / "missing")
    assert code != 0 and "does not exist" in output and "Traceback" not in output
    code, output = invoke("report", vae_run, "--limit", "1", "-o", tmp_path)
    assert code != 0 and "--limit" in output and "Traceback" not in output
