"""Keras model -> ``.tflite``, through a SavedModel export, TFLite builtin ops only.

This is the path Keras's own LiteRT export takes and the one that was seen to keep
the weights (converting a ``tf.function``'s concrete function left them out). No
Flex ops, so the plain LiteRT interpreter runs every model we make.

TensorFlow is imported inside the functions here and nowhere else in the runtime:
a build without TensorFlow still generates images.
"""

from __future__ import annotations

import hashlib
import shutil
import tempfile
import time
from collections.abc import Callable, Sequence
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

from .errors import InputError
from .fileio import atomic_write_bytes

PRECISIONS = ("fp32", "fp16", "int8")


@dataclass(frozen=True)
class TensorSpec:
    """One named model input. ``None`` in ``shape`` is a dimension resized at run time."""

    name: str
    shape: tuple[int | None, ...]
    dtype: str = "float32"


@dataclass(frozen=True)
class ConversionReport:
    path: Path
    precision: str
    size: int
    sha256: str
    seconds: float
    max_abs_error: float | None = None  # against Keras on the probe input, if checked
    psnr_db: float | None = None


def _optimise(converter: Any, precision: str) -> None:
    import tensorflow as tf

    if precision == "fp16":
        converter.optimizations = [tf.lite.Optimize.DEFAULT]
        converter.target_spec.supported_types = [tf.float16]
    elif precision == "int8":
        # Dynamic-range quantisation: int8 weights, float activations.
        converter.optimizations = [tf.lite.Optimize.DEFAULT]


def convert_keras_model(
    model: Any,
    out_path: Path,
    inputs: Sequence[TensorSpec],
    output_names: Sequence[str],
    precision: str = "fp32",
    *,
    probe: dict[str, NDArray[Any]] | None = None,
    workdir: Path | None = None,
    rewrite: Callable[[], AbstractContextManager[Any]] | None = None,
    probe_with_rewrite: bool = False,
) -> ConversionReport:
    """Convert ``model`` (called with its inputs in the order given) to ``out_path``.

    The TFLite signature ``serving_default`` takes the inputs by ``TensorSpec.name``
    and returns a dict keyed by ``output_names``. With ``probe``, the converted model
    is run on it by LiteRT and compared with Keras; the report carries the error.
    ``rewrite`` is entered while the model is traced for export only, so a layer can
    be traced in an arrangement that suits the interpreter while the probe still
    compares with the model's own arithmetic; with ``probe_with_rewrite`` (a rewrite
    that changes the arithmetic on purpose) the probe compares with Keras under it.
    """
    if precision not in PRECISIONS:
        raise InputError(f"Unknown precision '{precision}': choose one of {', '.join(PRECISIONS)}.")
    import keras
    import tensorflow as tf

    start = time.perf_counter()
    names = list(output_names)
    specs = [tf.TensorSpec(shape=s.shape, dtype=s.dtype, name=s.name) for s in inputs]

    def serve(*args: Any) -> dict[str, Any]:
        x = list(args) if len(args) > 1 else args[0]
        y = model(x, training=False)
        ys = list(y) if isinstance(y, (list, tuple)) else [y]
        if len(ys) != len(names):
            raise InputError(f"The model has {len(ys)} outputs but {len(names)} names were given.")
        return dict(zip(names, ys))

    tmp = Path(tempfile.mkdtemp(prefix="parasight-convert-", dir=workdir))
    try:
        with rewrite() if rewrite is not None else nullcontext():
            archive = keras.export.ExportArchive()
            archive.track(model)
            archive.add_endpoint(name="serving_default", fn=serve, input_signature=specs)
            archive.write_out(str(tmp / "saved_model"), verbose=False)
        converter = tf.lite.TFLiteConverter.from_saved_model(
            str(tmp / "saved_model"), signature_keys=["serving_default"]
        )
        converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS]
        _optimise(converter, precision)
        data: bytes = converter.convert()
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    atomic_write_bytes(out_path, data)
    report = ConversionReport(
        path=out_path,
        precision=precision,
        size=len(data),
        sha256=hashlib.sha256(data).hexdigest(),
        seconds=time.perf_counter() - start,
    )
    if probe is not None:
        with rewrite() if rewrite is not None and probe_with_rewrite else nullcontext():
            report = check_against_keras(model, report, inputs, names, probe)
    return report


def psnr(reference: NDArray[Any], test: NDArray[Any], peak: float | None = None) -> float:
    """Peak signal-to-noise ratio in dB; ``peak`` defaults to the reference's range."""
    ref = np.asarray(reference, dtype=np.float64)
    err = float(np.mean((ref - np.asarray(test, dtype=np.float64)) ** 2))
    if peak is None:
        peak = float(ref.max() - ref.min()) or 1.0
    return float("inf") if err == 0.0 else float(10.0 * np.log10(peak * peak / err))


def check_against_keras(
    model: Any,
    report: ConversionReport,
    inputs: Sequence[TensorSpec],
    output_names: Sequence[str],
    probe: dict[str, NDArray[Any]],
) -> ConversionReport:
    """Run the converted file on ``probe`` with LiteRT and compare with Keras."""
    from .runner import TFLiteModel

    ordered = [probe[s.name] for s in inputs]
    expected = model(ordered if len(ordered) > 1 else ordered[0], training=False)
    exp_list = list(expected) if isinstance(expected, (list, tuple)) else [expected]
    got = TFLiteModel(report.path)(**probe)
    worst, worst_psnr = 0.0, float("inf")
    for name, exp in zip(output_names, exp_list):
        e = np.asarray(exp)
        worst = max(worst, float(np.max(np.abs(e - got[name]))))
        worst_psnr = min(worst_psnr, psnr(e, got[name]))
    return ConversionReport(
        path=report.path, precision=report.precision, size=report.size, sha256=report.sha256,
        seconds=report.seconds, max_abs_error=worst, psnr_db=worst_psnr,
    )
