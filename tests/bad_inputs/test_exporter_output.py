"""An opset no exporter honours is one line on the terminal; the exporters' own output goes to a log.

The TorchScript exporter prints its whole IR graph from C++ when it fails, straight to the process's
stderr, so these run ``genkit`` in a fresh process (``invoke`` with ``plugin_paths``) and see what a
terminal would: with ``--quiet``, the error line alone. The dump lands in
``genkit.onnx.exporter.DIAGNOSTICS_LOG``.
"""

from __future__ import annotations

import pytest

from bad_inputs.harness import assert_fails_cleanly
from bad_inputs.registry import Workspace
from genkit.onnx.exporter import DIAGNOSTICS_LOG

OPSETS = {"7": r"dynamo: it wrote opset 18, not the 7 asked for; torchscript: .*opset version 7",
          "99": r"dynamo: it wrote opset \d+, not the 99 asked for; torchscript: .*99"}


@pytest.mark.parametrize("opset", list(OPSETS))
def test_a_refused_opset_is_one_line_and_the_dump_goes_to_the_log(opset, small_npz, good_run, good_export,
                                                                    tmp_path):
    w = Workspace(tmp_path, small_npz, good_run, good_export)
    logged = DIAGNOSTICS_LOG.stat().st_size if DIAGNOSTICS_LOG.exists() else 0
    args = ["export", "--onnx", str(w.run()), "-o", str(tmp_path / "export-out"), "--opset", opset, "--quiet"]
    assert_fails_cleanly(args, w.env, tmp_path, OPSETS[opset], plugin_paths=[])
    with open(DIAGNOSTICS_LOG, encoding="utf-8") as log:
        log.seek(logged)
        assert "Torch IR graph at exception" in log.read()
