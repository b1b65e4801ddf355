"""Reduced-precision copies of a verified fp32 graph: float16 for CUDA, calibrated int8 for the CPU.

Both conversions are onnxruntime's own tools; this module only chooses their settings and adds the
checks a careless conversion skips:

- **fp16**: ``onnxruntime.transformers.float16`` with ``keep_io_types=True``, so callers still pass and
  receive float32. VAEs are known to overflow in float16 (an activation above 65,504 becomes inf, then
  NaN), and onnxruntime's CPU provider computes most float16 layers in float32, so running the fp16
  graph on the CPU cannot show it. ``float16_overflows`` therefore runs the fp32 graph with every
  intermediate tensor exposed on real images and reports the ones beyond float16's range.
- **int8**: static quantization in the QDQ format (``quantize_static``): weights int8 per output
  channel, activations uint8 (the u8s8 kernels of x86 CPUs), ranges calibrated on real training images
  fed through a ``CalibrationDataReader``. Transposed convolutions are first rewritten as convolutions
  (``genkit.onnx.subpixel``) because onnxruntime has no int8 ConvTranspose kernel. ``exclude`` names
  nodes that stay fp32 (``nodes_to_exclude``): the export drops the layers that lose too much.
"""

from __future__ import annotations

import contextlib
import logging
import os
import tempfile
from collections.abc import Iterable, Iterator, Sequence

import numpy as np
import onnx
from onnxruntime.quantization import CalibrationDataReader

from genkit.onnx.subpixel import to_phase_convolutions

FLOAT16_MAX = 65504.0
# what int8 quantizes; onnxruntime fuses each with its Q/DQ pairs into an integer kernel
QUANTIZED_OPS = ("Conv", "Gemm", "MatMul")
CALIBRATION_BATCH = 64
# A convolution over this few input channels (an encoder's first layer reads 1-3 image channels) gains
# nothing from int8 kernels, which need channel depth: on the vae encoder at batch 128 on one core, int8
# with its first layer quantized ran 1.62x fp32, with it in fp32 1.81x. It also keeps the pixels exact.
NARROW_INPUT = 4


def to_float16(model: onnx.ModelProto) -> onnx.ModelProto:
    """A float16 copy of ``model`` whose inputs and outputs stay float32."""
    from onnxruntime.transformers.float16 import convert_float_to_float16

    with _quiet():
        return convert_float_to_float16(_copy(model), keep_io_types=True)


def float16_overflows(model: onnx.ModelProto, feeds: Iterable[dict[str, np.ndarray]]) -> dict[str, float]:
    """Intermediate tensors of the fp32 ``model`` whose magnitude exceeds float16's range: name -> max |x|.

    Empty when every value on ``feeds`` fits. A NaN or inf in fp32 counts as an overflow too.
    """
    probe = _copy(model)
    inferred = onnx.shape_inference.infer_shapes(probe)
    floats = {v.name for v in inferred.graph.value_info if v.type.tensor_type.elem_type == onnx.TensorProto.FLOAT}
    present = {o.name for o in probe.graph.output}
    for node in probe.graph.node:
        for name in node.output:
            if name in floats and name not in present:
                probe.graph.output.append(onnx.helper.make_tensor_value_info(name, onnx.TensorProto.FLOAT, None))
                present.add(name)
    session = _session(probe)
    names = [o.name for o in session.get_outputs()]
    worst: dict[str, float] = {}
    for feed in feeds:
        for name, value in zip(names, session.run(None, feed)):
            if value.dtype == np.float32 and value.size:
                peak = float(np.abs(value).max()) if np.isfinite(value).all() else float("inf")
                worst[name] = max(worst.get(name, 0.0), peak)
    return {name: peak for name, peak in worst.items() if not peak <= FLOAT16_MAX}


def to_int8(model: onnx.ModelProto, calibration: Sequence[dict[str, np.ndarray]],
            exclude: Sequence[str] = ()) -> onnx.ModelProto:
    """A QDQ int8 copy of ``model`` calibrated on ``calibration`` (feeds), with ``exclude`` left fp32."""
    from onnxruntime.quantization import CalibrationMethod, QuantFormat, QuantType, quantize_static
    from onnxruntime.quantization.shape_inference import quant_pre_process

    prepared = int8_form(model)
    with tempfile.TemporaryDirectory(prefix="genkit-int8-") as scratch, _quiet():
        source, ready, out = (os.path.join(scratch, name) for name in ("model.onnx", "pre.onnx", "int8.onnx"))
        onnx.save(prepared, source)
        # shape inference and the basic fusions the quantizer expects (it warns without them)
        quant_pre_process(source, ready, skip_symbolic_shape=True)
        quantize_static(ready, out, _Reader(calibration), quant_format=QuantFormat.QDQ, per_channel=True,
                        activation_type=QuantType.QUInt8, weight_type=QuantType.QInt8,
                        calibrate_method=CalibrationMethod.MinMax, op_types_to_quantize=list(QUANTIZED_OPS),
                        nodes_to_exclude=[*narrow_layers(prepared), *exclude])
        quantized = onnx.load(out)
    del quantized.metadata_props[:]  # the quantizer keeps some of them; the caller's are the ones that count
    quantized.metadata_props.extend(model.metadata_props)
    return quantized


def int8_form(model: onnx.ModelProto) -> onnx.ModelProto:
    """``model`` in the form that quantizes well: transposed convolutions as convolutions."""
    prepared = _copy(model)
    to_phase_convolutions(prepared)
    return prepared


def quantizable_nodes(model: onnx.ModelProto) -> list[str]:
    """The names of the nodes ``to_int8`` quantizes (in graph order), the candidates for ``exclude``."""
    prepared = int8_form(model)
    narrow = set(narrow_layers(prepared))
    return [node.name for node in prepared.graph.node
            if node.op_type in QUANTIZED_OPS and node.name and node.name not in narrow]


def narrow_layers(model: onnx.ModelProto) -> list[str]:
    """Convolutions over at most ``NARROW_INPUT`` channels: they stay fp32 (see ``NARROW_INPUT``)."""
    weights = {t.name: t.dims for t in model.graph.initializer}
    return [node.name for node in model.graph.node
            if node.op_type == "Conv" and len(node.input) > 1 and len(weights.get(node.input[1], ())) == 4
            and weights[node.input[1]][1] <= NARROW_INPUT]


def calibration_feeds(name: str, array: np.ndarray, extra: dict[str, np.ndarray] | None = None,
                      batch: int = CALIBRATION_BATCH) -> list[dict[str, np.ndarray]]:
    """``array`` cut into feeds of ``batch`` rows for input ``name`` (``extra`` inputs cut alongside)."""
    feeds = []
    for start in range(0, len(array), batch):
        feed = {name: np.ascontiguousarray(array[start:start + batch])}
        for key, value in (extra or {}).items():
            feed[key] = np.ascontiguousarray(value[start:start + batch])
        feeds.append(feed)
    return feeds


class _Reader(CalibrationDataReader):
    """The calibration images (as feeds) for onnxruntime's calibrator, which reads them once per pass."""

    def __init__(self, feeds: Sequence[dict[str, np.ndarray]]):
        self.feeds = list(feeds)
        self._next: Iterator[dict[str, np.ndarray]] = iter(self.feeds)

    def get_next(self) -> dict[str, np.ndarray] | None:
        return next(self._next, None)

    def rewind(self) -> None:
        self._next = iter(self.feeds)



def _session(model: onnx.ModelProto):
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.log_severity_level = 3
    options.add_session_config_entry("session.intra_op.allow_spinning", "0")
    return ort.InferenceSession(model.SerializeToString(), options, providers=["CPUExecutionProvider"])


def _copy(model: onnx.ModelProto) -> onnx.ModelProto:
    copy = onnx.ModelProto()
    copy.CopyFrom(model)
    return copy


@contextlib.contextmanager
def _quiet():
    """onnxruntime's tools log progress and advice through ``logging`` and the root logger; keep it off the CLI."""
    root = logging.getLogger()
    level = root.level
    root.setLevel(logging.ERROR)
    try:
        yield
    finally:
        root.setLevel(level)
