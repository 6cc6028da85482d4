"""A LiteRT model that checks every input by name, shape and dtype before it runs.

A wrong shape handed to the interpreter can crash the process; here it is a clear
:class:`ModelError` instead (Apple's ``coreml_model.py`` does the same for Core ML).
An interpreter must not be called from two threads at once, so each instance
remembers the thread that first used it and refuses any other.

Two ways to run a model, chosen by :class:`CpuSettings`: LiteRT's classic ``Interpreter``
(the default) or its ``CompiledModel`` API, which alone takes XNNPACK's options: flags
(e.g. force fp16) and a weight cache folder, so a model loaded again (the UNet after each
decode) maps its packed weights from the cache instead of packing them again. The compiled
API is used only for models whose inputs all have fixed shapes (resizing a compiled
model's inputs in this LiteRT leaves its output buffers at the old size); others run on
the interpreter whatever the settings say.
"""

from __future__ import annotations

import hashlib
import mmap
import os
import sys
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

from .errors import ModelError

SIGNATURE = "serving_default"


def default_threads() -> int:
    """The machine's cores: LiteRT's own default may be a single thread."""
    return max(1, os.cpu_count() or 1)


_MADV_DONTNEED = 4


def release_mapped_pages(path: Path) -> int:
    """Let go of this process's resident pages of ``path``'s read-only mapping (Linux).

    The interpreter maps the model file; on its first run XNNPACK packs the weights into
    buffers of its own, after which the mapped copy is only touched here and there. Its
    pages stay counted in the process's memory until dropped: for SD 2.x at int8 that is
    about 1 GiB of a 3 GiB peak. ``madvise(MADV_DONTNEED)`` on a read-only file mapping
    drops them from the process (the page cache keeps them, reclaimable); a later read
    faults the same bytes back in from the file. Returns the bytes advised (0 elsewhere).
    """
    if not sys.platform.startswith("linux"):
        return 0
    import ctypes

    target = str(Path(path).resolve())
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        with open("/proc/self/maps", encoding="utf-8", errors="replace") as maps:
            spans = []
            for line in maps:
                parts = line.split(maxsplit=5)
                if len(parts) == 6 and parts[5].strip() == target and "w" not in parts[1]:
                    start, end = (int(x, 16) for x in parts[0].split("-"))
                    spans.append((start, end))
    except OSError:
        return 0
    done = 0
    for start, end in spans:
        if libc.madvise(ctypes.c_void_p(start), ctypes.c_size_t(end - start),
                        _MADV_DONTNEED) == 0:
            done += end - start
    return done


#: XNNPACK's ``TFLITE_XNNPACK_DELEGATE_FLAG_FORCE_FP16`` (xnnpack_delegate.h): fp16
#: arithmetic. Without AVX512-FP16 (or ARM's FP16) XNNPACK emulates it and is slower.
XNNPACK_FORCE_FP16 = 4
#: XNNPACK's ``TFLITE_XNNPACK_DELEGATE_FLAG_ENABLE_SLINKY``: loop fusion across operators.
#: Measured (benchmarks/bench_engine.py) and not used: no faster on the attention here.
XNNPACK_SLINKY = 0x100


@dataclass(frozen=True)
class CpuSettings:
    """How LiteRT runs models on this CPU.

    ``compiled``: LiteRT's ``CompiledModel`` API instead of the ``Interpreter`` (same
    XNNPACK kernels, same numbers). ``xnnpack_flags``: XNNPACK delegate flags (compiled
    API only; None = LiteRT's default). ``weight_cache``: a folder for XNNPACK's packed
    weights (compiled API only), one cache file per model file and settings.
    """

    compiled: bool = False
    xnnpack_flags: int | None = None
    weight_cache: Path | None = None

    def describe(self) -> str:
        if not self.compiled:
            return "LiteRT Interpreter (XNNPACK)"
        parts = ["LiteRT CompiledModel (XNNPACK)"]
        if self.xnnpack_flags:
            parts.append(f"flags {self.xnnpack_flags}")
        if self.weight_cache is not None:
            parts.append("weight cache")
        return ", ".join(parts)


def signature_inputs(path: Path) -> dict[str, tuple[int, ...]] | None:
    """The ``serving_default`` inputs' declared shapes (-1 where resizable), read from the
    file's flatbuffer without loading the model; None if it has no such signature."""
    with open(path, "rb") as f, mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ) as buf:
        return _signature_inputs(buf)  # its flatbuffer views are gone before buf closes


def _signature_inputs(buf: Any) -> dict[str, tuple[int, ...]] | None:
    from ai_edge_litert import schema_py_generated as schema

    model = schema.Model.GetRootAs(buf, 0)
    for i in range(model.SignatureDefsLength()):
        sig = model.SignatureDefs(i)
        if sig.SignatureKey() != SIGNATURE.encode():
            continue
        graph = model.Subgraphs(sig.SubgraphIndex())
        out = {}
        for j in range(sig.InputsLength()):
            t = sig.Inputs(j)
            tensor = graph.Tensors(t.TensorIndex())
            shape = (tensor.ShapeSignatureAsNumpy() if tensor.ShapeSignatureLength()
                     else tensor.ShapeAsNumpy())
            out[t.Name().decode()] = tuple(int(d) for d in shape)
        return out
    return None


_ENVIRONMENT: Any = None


def _environment() -> Any:
    """One LiteRT environment for every compiled model of the process."""
    global _ENVIRONMENT
    if _ENVIRONMENT is None:
        import ai_edge_litert
        from ai_edge_litert.compiled_model import Environment
        from ai_edge_litert.environment import EnvironmentOptions

        _ENVIRONMENT = Environment.create(options=EnvironmentOptions(
            runtime_path=os.path.dirname(os.path.abspath(ai_edge_litert.__file__))))
    return _ENVIRONMENT


def weight_cache_file(folder: Path, model: Path, flags: int | None) -> Path:
    """XNNPACK's cache file for ``model`` under ``folder``: named by the model file's
    path, size and time, so a changed or replaced file never reads a stale cache."""
    st = Path(model).stat()
    key = f"{Path(model).resolve()}|{st.st_size}|{st.st_mtime_ns}|{flags}"
    return Path(folder) / f"{Path(model).stem}-{hashlib.sha256(key.encode()).hexdigest()[:16]}"


#: The folder, inside a model's own folder, that holds XNNPACK's packed weights of it.
WEIGHT_CACHE_DIR = ".xnnpack-cache"


def cpu_flags() -> frozenset[str]:
    """The CPU's feature flags where the system says them (Linux), else none."""
    try:
        with open("/proc/cpuinfo", encoding="utf-8", errors="replace") as f:
            for line in f:
                if line.startswith(("flags", "Features")):
                    return frozenset(line.split(":", 1)[1].split())
    except OSError:
        pass
    return frozenset()


def reload_settings(folder: Path, precision: str | None,
                    flags: frozenset[str] | None = None) -> CpuSettings:
    """Settings for the models a pipeline loads again for every image (the UNet and the
    full decoder, dropped in turn to keep the peak down), chosen per machine.

    Reloading packs XNNPACK's weights again. Where that is slow, LiteRT's CompiledModel with
    XNNPACK's weight cache in the model's folder maps the packed weights instead (same
    kernels, same numbers). On an AVX-512 CPU packing is quick (docs/BENCHMARKS.md, "Engine
    speed against OpenVINO": the UNet's reload 1.8 s over a steady call, 0.2 s with the
    cache, no visible change in a 70 s image) and not worth the cache's disk (about the size
    of the model's files), so those keep the interpreter; elsewhere (AVX2 CPUs, where the
    reload took 5-15 s an image, and CPUs whose flags are unknown) the cache is used.

    Never for fp32 models (checks and parity runs: their cache would be another 4 GiB) nor
    where the folder cannot be written (the bundled model).
    """
    return reload_choice(folder, precision, flags)[0]


def reload_choice(folder: Path, precision: str | None,
                  flags: frozenset[str] | None = None) -> tuple[CpuSettings, str]:
    """:func:`reload_settings` and one sentence saying what it picked and why (the
    Models window shows it)."""
    flags = cpu_flags() if flags is None else flags
    engine = "LiteRT's interpreter with XNNPACK"
    if precision == "fp32":
        return CpuSettings(), (f"{engine}, in fp32; XNNPACK's weight cache is not kept for "
                               "fp32 models (it would take as much disk again as the model).")
    if "avx512f" in flags:
        return CpuSettings(), (f"{engine}; this CPU has AVX-512, where XNNPACK packs the "
                               "weights again in about a second, so no weight cache is kept.")
    if not os.access(folder, os.W_OK):
        return CpuSettings(), (f"{engine}; its folder cannot be written, so XNNPACK's "
                               "weight cache cannot be kept beside it.")
    why = ("this CPU has no AVX-512, where packing the weights again took 5-15 s an image"
           if flags else "this CPU's features could not be read")
    said = (f"LiteRT's CompiledModel with XNNPACK and its weight cache ({WEIGHT_CACHE_DIR} "
            f"in the model's folder): {why}, and the cache maps the packed weights instead.")
    return CpuSettings(compiled=True, weight_cache=Path(folder) / WEIGHT_CACHE_DIR), said


def _prune_stale(cache: Path, keep: Path) -> None:
    """Delete the caches of earlier versions of ``keep``'s model file (same stem)."""
    stem = keep.name.rsplit("-", 1)[0]
    for old in cache.glob(f"{stem}-*"):
        if old != keep and old.name.rsplit("-", 1)[0] == stem:
            old.unlink(missing_ok=True)


class _Compiled:
    """A model run through LiteRT's ``CompiledModel`` (fixed input shapes only)."""

    def __init__(self, path: Path, threads: int, cpu: CpuSettings,
                 shapes: dict[str, tuple[int, ...]]) -> None:
        from ai_edge_litert.compiled_model import CompiledModel
        from ai_edge_litert.hardware_accelerator import HardwareAccelerator
        from ai_edge_litert.options import CpuOptions, Options

        cache = ""
        if cpu.weight_cache is not None:
            try:
                Path(cpu.weight_cache).mkdir(exist_ok=True)  # made on first use only
                cache_file = weight_cache_file(cpu.weight_cache, path, cpu.xnnpack_flags)
                _prune_stale(Path(cpu.weight_cache), cache_file)
                cache = str(cache_file)
            except OSError:
                cache = ""  # no cache: the weights are packed on every load, as before
        options = Options(hardware_accelerators=HardwareAccelerator.CPU,
                          cpu_options=CpuOptions(num_threads=threads,
                                                 xnnpack_flags=cpu.xnnpack_flags,
                                                 xnnpack_weight_cache_path=cache))
        self.model = CompiledModel.from_file(str(path), environment=_environment(),
                                             options=options)
        details = self.model.get_input_tensor_details(SIGNATURE)
        self.inputs = {n: {"name": d["name"], "dtype": np.dtype(d["dtype"]),
                           "shape": np.asarray(d["shape"]),
                           "shape_signature": np.asarray(shapes[n])}
                       for n, d in details.items()}
        self.outputs = {n: {"name": d["name"], "dtype": np.dtype(d["dtype"]),
                            "shape": np.asarray(d["shape"])}
                        for n, d in self.model.get_output_tensor_details(SIGNATURE).items()}
        self._in = {n: self.model.create_input_buffer_by_name(SIGNATURE, n) for n in self.inputs}
        self._out = {n: self.model.create_output_buffer_by_name(SIGNATURE, n)
                     for n in self.outputs}

    def __call__(self, **feeds: NDArray[Any]) -> dict[str, NDArray[Any]]:
        for name, value in feeds.items():
            self._in[name].write(value)
        self.model.run_by_name(SIGNATURE, self._in, self._out)
        out = {}
        for name, d in self.outputs.items():
            shape = tuple(int(x) for x in d["shape"])
            out[name] = self._out[name].read(int(np.prod(shape)), d["dtype"]).reshape(shape)
        return out


class TFLiteModel:
    """One ``.tflite`` file, run through its ``serving_default`` signature by name."""

    def __init__(self, path: Path, threads: int | None = None,
                 cpu: CpuSettings | None = None) -> None:
        self.path = Path(path)
        self.threads = threads or default_threads()
        cpu = cpu or CpuSettings()
        self._runner: Any
        compiled = self._compiled(cpu) if cpu.compiled else None
        try:
            if compiled is not None:
                self._runner = compiled
                self.inputs: dict[str, dict[str, Any]] = compiled.inputs
                self.outputs: dict[str, dict[str, Any]] = compiled.outputs
                self.cpu = cpu
            else:
                from ai_edge_litert.interpreter import Interpreter

                self._interpreter = Interpreter(model_path=str(self.path),
                                                num_threads=self.threads)
                self._runner = self._interpreter.get_signature_runner(SIGNATURE)
                self.inputs = self._runner.get_input_details()
                self.outputs = self._runner.get_output_details()
                self.cpu = CpuSettings()  # what actually runs it
        except (ValueError, RuntimeError, OSError) as exc:
            raise ModelError(
                f"The model file {self.path.name} could not be loaded ({exc}); "
                "it may be damaged: reinstall or reconvert the model."
            ) from exc
        self._owner: int | None = None
        self._released = False  # the file's mapped pages, after the first run

    def _compiled(self, cpu: CpuSettings) -> _Compiled | None:
        """The model through the compiled API, or None where it cannot run there: a
        resizable input, or a LiteRT (or bundle) whose compiled API fails to load it; the
        interpreter then runs it (and says so, clearly, if the file itself is damaged)."""
        try:
            shapes = signature_inputs(self.path)
            if not shapes or any(d < 0 for s in shapes.values() for d in s):
                return None
            return _Compiled(self.path, self.threads, cpu, shapes)
        except Exception:  # noqa: BLE001  whatever it was, the interpreter says it plainly
            return None

    def input_shape(self, name: str) -> tuple[int, ...]:
        """The declared shape of an input, -1 where it is resized at run time."""
        d = self.inputs[name]
        sig = d.get("shape_signature")
        return tuple(int(x) for x in (sig if sig is not None and len(sig) else d["shape"]))

    def check(self, feeds: dict[str, NDArray[Any]]) -> None:
        """Raise :class:`ModelError` unless ``feeds`` match the inputs exactly."""
        missing = sorted(set(self.inputs) - set(feeds))
        extra = sorted(set(feeds) - set(self.inputs))
        if missing or extra:
            raise ModelError(
                f"{self.path.name}: inputs do not match the model "
                f"(missing {missing or 'none'}, unexpected {extra or 'none'}; "
                f"the model takes {sorted(self.inputs)})."
            )
        for name, value in feeds.items():
            want_dtype = np.dtype(self.inputs[name]["dtype"])
            if value.dtype != want_dtype:
                raise ModelError(
                    f"{self.path.name}: input '{name}' must be {want_dtype}, got {value.dtype}."
                )
            want = self.input_shape(name)
            if len(want) != value.ndim or any(
                w != -1 and w != g for w, g in zip(want, value.shape)
            ):
                raise ModelError(
                    f"{self.path.name}: input '{name}' must have shape "
                    f"{tuple('?' if w == -1 else w for w in want)}, got {tuple(value.shape)}."
                )

    def __call__(self, **feeds: NDArray[Any]) -> dict[str, NDArray[Any]]:
        me = threading.get_ident()
        if self._owner is None:
            self._owner = me
        elif self._owner != me:
            raise ModelError(
                f"{self.path.name} was called from a second thread; "
                "models run on the one engine thread only."
            )
        self.check(feeds)
        out: dict[str, NDArray[Any]] = self._runner(
            **{k: np.ascontiguousarray(v) for k, v in feeds.items()}
        )
        if not self._released:
            self._released = True
            release_mapped_pages(self.path)
        return out
