"""fp16 and int8 variants of the verified fp32 graphs, each checked against the torch model before it is kept.

A variant answers differently from fp32 by design, so the fp32 check (largest difference at most
1e-5) cannot judge it. What matters is what a user sees, measured on real test images of the run's
dataset against the torch model:

- the largest and mean absolute difference of every output;
- the change of the reconstruction MSE (the variant graph with the other graph in torch, so that each
  graph answers for itself);
- for the decoder, the change of the Fréchet distance between images generated from the prior and
  real images, in the evaluation's feature space (``genkit evaluate``'s classifier where the data
  has labels).

A variant is kept when its outputs are finite, (fp16) no fp32 activation on real images is beyond
float16's range, and it worsens the reconstruction MSE and the Fréchet distance by at most
``tolerance`` (2 %, ``--accept-loss``). An int8 graph that misses the bound is quantized again with
the layer whose fp32 fallback helps most excluded, greedily, up to half its layers; one that still
misses it is not written. The caller gets one line per graph that was not.

A generator-only model (no encoder) reconstructs nothing: its decoder's variants are judged on prior
draws alone, by their outputs and the Fréchet distance (``mse`` is None).
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import onnx

from genkit.evaluation.frechet import feature_frechet_distance
from genkit.onnx import precision as convert
from genkit.runtime.variants import FP16, FP32, PRECISIONS

DEFAULT_TOLERANCE = 0.02  # relative worsening of reconstruction MSE and Fréchet distance
RUN_BATCH = 256
PRECISION_KEY = "genkit.precision"  # on a variant file: its own check
PRECISIONS_KEY = "genkit.precisions"  # on every graph file: the variants written beside it, with their checks
Feeds = Callable[[np.ndarray, "np.ndarray | None"], dict[str, np.ndarray]]  # (rows, their labels) -> feeds


@dataclasses.dataclass
class CheckData:
    """What variants are calibrated and checked on; built from the torch model by ``variant_data``."""

    images: np.ndarray  # real test images (N, C, H, W)
    labels: np.ndarray | None  # their labels, for a conditional model
    prior_z: np.ndarray  # latent points drawn from the export's prior
    prior_labels: np.ndarray | None  # the labels they are decoded with, for a conditional model
    encoder_feeds: Feeds  # images, labels -> the encoder graph's inputs
    decoder_feeds: Feeds  # z, labels -> the decoder graph's inputs
    reference: dict[str, Callable[[dict[str, np.ndarray]], dict[str, np.ndarray]]]  # graph -> torch, on feeds
    code: str  # the encoder output the decoder reconstructs from
    output: str  # the decoder's output
    features: Callable[[np.ndarray], np.ndarray]  # images -> features of the Fréchet distance
    real_features: np.ndarray
    feature_space: str
    calibration: dict[str, list[dict[str, np.ndarray]]]  # graph -> feeds made from training images
    calibration_source: str
    data: str  # what ``images`` are


@dataclasses.dataclass
class Variants:
    models: dict[tuple[str, str], onnx.ModelProto]  # (graph, precision) -> the graph to write
    checks: dict[str, dict[str, dict[str, Any]]]  # graph -> precision -> check (kept ones)
    rejected: list[str]  # one line per variant graph that was not written
    tolerance: float
    accepted_loss: bool

    def props(self) -> dict[str, str]:
        """The ``genkit.precisions`` entry every graph file of the export carries."""
        document = {"tolerance": self.tolerance, "accept_loss": self.accepted_loss,
                    "graphs": {g: {FP32: {}, **found} for g, found in self.checks.items()}}
        return {PRECISIONS_KEY: json.dumps(document, sort_keys=True)}

    def variant_props(self, graph: str, precision: str) -> dict[str, str]:
        return {PRECISION_KEY: json.dumps({"name": precision, **self.checks[graph][precision]}, sort_keys=True)}


def build_variants(fp32: dict[str, onnx.ModelProto], precisions: Sequence[str], data: CheckData,
                   tolerance: float | None = None, log: Callable[[str], None] = lambda line: None) -> Variants:
    """The variants of ``fp32`` (graph -> verified fp32 graph) in ``precisions`` that pass their checks."""
    bound = DEFAULT_TOLERANCE if tolerance is None else float(tolerance)
    judge = _Judge(data, bound)
    result = Variants({}, {g: {} for g in fp32}, [], bound, tolerance is not None)
    for name in precisions:
        if name == FP32:
            continue
        if name not in PRECISIONS:
            raise ValueError(f"unknown precision {name!r}")
        for graph, model in fp32.items():
            candidate, check = (_fp16 if name == FP16 else _int8)(graph, model, judge, data)
            if check["passed"]:
                result.models[(graph, name)] = candidate
                result.checks[graph][name] = {k: v for k, v in check.items() if k not in ("passed", "reason")}
                log(f"{graph}.{name}.onnx: {summary(check)}")
            else:
                result.rejected.append(f"{graph}.{name}.onnx not written: {check['reason']}; {summary(check)}")
    return result


def summary(check: dict[str, Any]) -> str:
    parts = [f"max abs difference {check['max_abs_diff']:.3g}"]
    if check.get("mse"):  # none for a generator-only model
        parts.append(f"reconstruction MSE {_pct(check['mse']['change'])}")
    if check.get("frechet"):
        parts.append(f"Fréchet distance {_pct(check['frechet']['change'])}")
    if check.get("excluded_nodes"):
        parts.append(f"{len(check['excluded_nodes'])} layer(s) kept fp32")
    return ", ".join(parts)


def _pct(change: float) -> str:
    return f"{change * 100:+.2f} %"


def _fp16(graph: str, model: onnx.ModelProto, judge: _Judge, data: CheckData):
    candidate = convert.to_float16(model)
    check = judge.measure(graph, candidate)
    overflows = convert.float16_overflows(model, data.calibration[graph][:4] + judge.check_feeds(graph)[:2])
    check["float16_overflows"] = sorted(overflows)
    if overflows and check["passed"]:
        name, peak = max(overflows.items(), key=lambda item: item[1])
        check.update(passed=False, reason=f"{len(overflows)} activation(s) exceed float16's range on real images "
                                          f"({name}: {peak:.3g} > {convert.FLOAT16_MAX:g})")
    return candidate, check


def _int8(graph: str, model: onnx.ModelProto, judge: _Judge, data: CheckData):
    calibration = data.calibration[graph]
    candidate = convert.to_int8(model, calibration)
    check = judge.measure(graph, candidate)
    excluded: list[str] = []
    layers = convert.quantizable_nodes(model)
    # greedy: drop to fp32 the layer whose exclusion helps most, while the graph misses the bound
    while not check["passed"] and check["finite"] and len(excluded) < len(layers) // 2:
        trials = []
        for layer in (name for name in layers if name not in excluded):
            trial = convert.to_int8(model, calibration, [*excluded, layer])
            trials.append((judge.measure(graph, trial), layer, trial))
        check, layer, candidate = min(trials, key=lambda t: (not t[0]["finite"], _loss(t[0])))
        excluded.append(layer)
    check.update(excluded_nodes=excluded, calibration={"images": _count(calibration),
                                                       "data": data.calibration_source},
                 quantization={"format": "QDQ", "weights": "int8 per channel", "activations": "uint8",
                               "calibration": "minmax",
                               "fp32_layers": convert.narrow_layers(convert.int8_form(model)) + excluded})
    return candidate, check


def _count(feeds: list[dict[str, np.ndarray]]) -> int:
    return sum(len(next(iter(feed.values()))) for feed in feeds)


def _loss(check: dict[str, Any]) -> float:
    return max((check.get("mse") or {}).get("change", 0.0), (check.get("frechet") or {}).get("change", 0.0))


class _Judge:
    """Runs a candidate graph on the check data and compares it with the torch model's answers."""

    def __init__(self, data: CheckData, tolerance: float):
        self.data, self.tolerance = data, tolerance
        self.reference_codes = self.reference_recon = self.base_mse = None  # a generator-only model has none
        if "encoder" in data.reference:
            self.reference_params = self._run_encoder(data.reference["encoder"])
            self.reference_codes = self.reference_params[data.code]
            self.reference_recon = self._run_decoder(data.reference["decoder"], self.reference_codes, data.labels)
            self.base_mse = _mse(self.reference_recon, data.images)
        self.reference_samples = self._run_decoder(data.reference["decoder"], data.prior_z, data.prior_labels)
        self.base_frechet = feature_frechet_distance(data.features(self.reference_samples), data.real_features)

    def _run_encoder(self, run) -> dict[str, np.ndarray]:
        return _chunked(lambda x, y: run(self.data.encoder_feeds(x, y)), self.data.images, self.data.labels)

    def _run_decoder(self, run, z: np.ndarray, labels: np.ndarray | None) -> np.ndarray:
        output = self.data.output
        return _chunked(lambda a, b: {output: run(self.data.decoder_feeds(a, b))[output]}, z, labels)[output]

    def check_feeds(self, graph: str) -> list[dict[str, np.ndarray]]:
        data = self.data
        if graph == "encoder":
            source, labels, make = data.images, data.labels, data.encoder_feeds
        elif self.reference_codes is not None:
            source, labels, make = self.reference_codes, data.labels, data.decoder_feeds
        else:  # a generator-only model's decoder: prior draws
            source, labels, make = data.prior_z, data.prior_labels, data.decoder_feeds
        return [make(source[i:i + RUN_BATCH], _rows(labels, i)) for i in range(0, len(source), RUN_BATCH)]

    def measure(self, graph: str, candidate: onnx.ModelProto) -> dict[str, Any]:
        run = _runner(candidate)
        data = self.data
        if graph == "encoder":
            got = self._run_encoder(run)
            pairs = [(got[name], want) for name, want in self.reference_params.items()]
            recon = self._run_decoder(data.reference["decoder"], got[data.code], data.labels)
            samples = None
        else:
            samples = self._run_decoder(run, data.prior_z, data.prior_labels)
            pairs, recon = [(samples, self.reference_samples)], None
            if self.reference_codes is not None:
                recon = self._run_decoder(run, self.reference_codes, data.labels)
                pairs.insert(0, (recon, self.reference_recon))
        finite = all(np.isfinite(got).all() for got, _ in pairs)
        diffs = [np.abs(got.astype(np.float64) - want.astype(np.float64)) for got, want in pairs]
        check: dict[str, Any] = {
            "max_abs_diff": float(max(d.max() for d in diffs)) if finite else float("inf"),
            "mean_abs_diff": float(np.mean([d.mean() for d in diffs])) if finite else float("inf"),
            "finite": bool(finite), "data": data.data, "bytes": candidate.ByteSize(),
            "mse": None if recon is None else _change(self.base_mse, _mse(recon, data.images) if finite else
                                                      float("inf")),
            "frechet": None,
        }
        if samples is not None:
            value = feature_frechet_distance(data.features(samples), data.real_features) if finite else float("inf")
            check["frechet"] = {**_change(self.base_frechet, value), "features": data.feature_space,
                                "samples": len(samples)}
        check["passed"], check["reason"] = self._verdict(check)
        return check

    def _verdict(self, check: dict[str, Any]) -> tuple[bool, str]:
        if not check["finite"]:
            return False, "it gives NaN or inf on real images"
        bound = self.tolerance
        for label, key in (("reconstruction MSE", "mse"), ("Fréchet distance of generated images", "frechet")):
            if check.get(key) and check[key]["change"] > bound:
                return False, (f"{label} {_pct(check[key]['change'])} vs fp32 exceeds the {bound * 100:g} % bound "
                               f"(--accept-loss)")
        return True, ""


def _change(base: float, value: float) -> dict[str, float]:
    change = (value - base) / base if base > 0 else (0.0 if value == base else float("inf"))
    return {FP32: float(base), "variant": float(value), "change": float(change)}


def _mse(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.mean((a.astype(np.float64) - b.astype(np.float64)) ** 2))


def _rows(labels: np.ndarray | None, start: int) -> np.ndarray | None:
    return None if labels is None else labels[start:start + RUN_BATCH]


def _chunked(fn: Callable[[np.ndarray, np.ndarray | None], dict[str, np.ndarray]], array: np.ndarray,
             labels: np.ndarray | None) -> dict[str, np.ndarray]:
    parts = [fn(array[i:i + RUN_BATCH], _rows(labels, i)) for i in range(0, len(array), RUN_BATCH)]
    return {name: np.concatenate([np.asarray(p[name]) for p in parts]) for name in parts[0]}


def _runner(model: onnx.ModelProto) -> Callable[[dict[str, np.ndarray]], dict[str, np.ndarray]]:
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.log_severity_level = 3
    options.add_session_config_entry("session.intra_op.allow_spinning", "0")
    session = ort.InferenceSession(model.SerializeToString(), options, providers=["CPUExecutionProvider"])
    names = [o.name for o in session.get_outputs()]
    return lambda feeds: dict(zip(names, session.run(None, feeds)))
