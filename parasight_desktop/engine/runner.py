"""A LiteRT interpreter that checks every input by name, shape and dtype before it runs.

A wrong shape handed to the interpreter can crash the process; here it is a clear
:class:`ModelError` instead (Apple's ``coreml_model.py`` does the same for Core ML).
An interpreter must not be called from two threads at once, so each instance
remembers the thread that first used it and refuses any other.
"""

from __future__ import annotations

import os
import sys
import threading
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


class TFLiteModel:
    """One ``.tflite`` file, run through its ``serving_default`` signature by name."""

    def __init__(self, path: Path, threads: int | None = None) -> None:
        from ai_edge_litert.interpreter import Interpreter

        self.path = Path(path)
        self.threads = threads or default_threads()
        try:
            self._interpreter = Interpreter(model_path=str(self.path), num_threads=self.threads)
            self._runner = self._interpreter.get_signature_runner(SIGNATURE)
        except (ValueError, RuntimeError) as exc:
            raise ModelError(
                f"The model file {self.path.name} could not be loaded ({exc}); "
                "it may be damaged: reinstall or reconvert the model."
            ) from exc
        self.inputs: dict[str, dict[str, Any]] = self._runner.get_input_details()
        self.outputs: dict[str, dict[str, Any]] = self._runner.get_output_details()
        self._owner: int | None = None
        self._released = False  # the file's mapped pages, after the first run

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
