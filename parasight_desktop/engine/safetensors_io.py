"""Read ``.safetensors`` files: a checked header, then one tensor at a time.

The format (huggingface/safetensors, Apache-2.0): an 8-byte little-endian header length
N, N bytes of JSON naming each tensor's dtype, shape and ``[begin, end)`` byte offsets
in the data that follows, and the data. Nothing in it is code, which is why ParaSight
reads only this format for weights a user gives it.

Our own reader rather than the ``safetensors`` package: it must take bf16 (numpy has no
bf16; many published checkpoints are stored so), check every offset and size against
the file before a byte of data is read (a truncated download is named as one, not met
as a crash half-way through an import), and read one tensor at a time with plain file
reads, so a 4 GB checkpoint never needs 4 GB of memory. The tests check it against the
``safetensors`` package's own writer.
"""

from __future__ import annotations

import json
import math
import struct
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

from .errors import InputError

#: safetensors dtype -> (numpy dtype of the stored bytes, bytes per element)
DTYPES: dict[str, tuple[str, int]] = {
    "F64": ("<f8", 8), "F32": ("<f4", 4), "F16": ("<f2", 2), "BF16": ("<u2", 2),
    "I64": ("<i8", 8), "I32": ("<i4", 4), "I16": ("<i2", 2), "I8": ("i1", 1),
    "U8": ("u1", 1), "BOOL": ("?", 1),
}
#: A header larger than this is not a real one (the format's own limit is 100 MB).
MAX_HEADER = 100_000_000
#: Extensions of pickled PyTorch files: loading one can run any code it carries.
PICKLE_SUFFIXES = (".ckpt", ".pt", ".pth", ".bin", ".pkl", ".pickle")


@dataclass(frozen=True)
class TensorInfo:
    name: str
    dtype: str  # safetensors name: F32, F16, BF16, ...
    shape: tuple[int, ...]
    begin: int  # byte offsets in the data section
    end: int

    @property
    def numel(self) -> int:
        return math.prod(self.shape)


def refuse_pickle(path: Path) -> None:
    """Raise the one sentence for a pickled weights file, without opening it."""
    if Path(path).suffix.lower() in PICKLE_SUFFIXES:
        raise InputError(
            f"{Path(path).name} is a pickled PyTorch file ({Path(path).suffix}): loading one "
            "can run any code hidden in it, so ParaSight does not open it. ParaSight reads "
            ".safetensors files: download the .safetensors version of this model (most "
            "model pages offer one).")


class SafetensorsFile:
    """One ``.safetensors`` file, its header checked on opening; tensors read on demand."""

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        refuse_pickle(self.path)
        try:
            size = self.path.stat().st_size
            with open(self.path, "rb") as f:
                head = f.read(8)
                if len(head) < 8:
                    raise self._damaged("it is shorter than a safetensors header")
                (n,) = struct.unpack("<Q", head)
                if n > MAX_HEADER or 8 + n > size:
                    if head[:2] == b"PK" or head[:1] == b"\x80":
                        raise InputError(
                            f"{self.path.name} is a pickled PyTorch file under a .safetensors "
                            "name: loading one can run any code hidden in it, so ParaSight "
                            "does not open it. Download the real .safetensors file.")
                    raise self._damaged("its header length does not fit in the file")
                raw = f.read(n)
        except OSError as exc:
            raise InputError(f"{self.path} could not be read ({exc.strerror or exc}).") from exc
        try:
            header = json.loads(raw.decode("utf-8"))
        except (UnicodeDecodeError, ValueError):
            raise self._damaged("its header is not readable JSON") from None
        if not isinstance(header, dict):
            raise self._damaged("its header is not a table of tensors")
        meta = header.pop("__metadata__", None) or {}
        self.metadata: dict[str, str] = {str(k): str(v) for k, v in meta.items()} \
            if isinstance(meta, dict) else {}
        self.data_start = 8 + n
        self.tensors: dict[str, TensorInfo] = {}
        for name, entry in header.items():
            self.tensors[name] = self._entry(name, entry)
        data_size = size - self.data_start
        spans = sorted((t.begin, t.end) for t in self.tensors.values())
        covered = 0
        for begin, end in spans:
            if begin != covered:
                raise self._damaged("its tensors overlap or leave gaps")
            covered = end
        if covered > data_size:
            raise self._damaged(f"its header lists {covered:,} bytes of tensors but the file "
                                f"holds {data_size:,}: it is truncated")
        if covered < data_size:
            raise self._damaged(f"it holds {data_size - covered:,} bytes more than its header "
                                "lists")

    def _damaged(self, why: str) -> InputError:
        return InputError(f"{self.path.name} is damaged or incomplete ({why}); download it "
                          "again, or check that it is a .safetensors file.")

    def _entry(self, name: str, entry: Any) -> TensorInfo:
        try:
            dtype = str(entry["dtype"])
            shape = tuple(int(d) for d in entry["shape"])
            begin, end = (int(v) for v in entry["data_offsets"])
        except (KeyError, TypeError, ValueError):
            raise self._damaged(f"tensor {name} is described wrongly") from None
        if dtype not in DTYPES:
            raise InputError(f"{self.path.name}: tensor {name} has type {dtype}, which "
                             "ParaSight does not read.")
        if any(d < 0 for d in shape) or end - begin != math.prod(shape) * DTYPES[dtype][1] \
                or begin < 0:
            raise self._damaged(f"tensor {name}'s size does not match its shape")
        return TensorInfo(name, dtype, shape, begin, end)

    def __contains__(self, name: object) -> bool:
        return name in self.tensors

    def __iter__(self) -> Iterator[str]:
        return iter(self.tensors)

    def __len__(self) -> int:
        return len(self.tensors)

    def shape(self, name: str) -> tuple[int, ...]:
        return self.tensors[name].shape

    def read(self, name: str) -> NDArray[Any]:
        """The tensor ``name``; floating types come back as float32 (bf16 and fp16 widened)."""
        t = self.tensors[name]
        with open(self.path, "rb") as f:
            f.seek(self.data_start + t.begin)
            buf = f.read(t.end - t.begin)
        if len(buf) != t.end - t.begin:
            raise self._damaged(f"tensor {name} ends early")
        raw = np.frombuffer(buf, dtype=DTYPES[t.dtype][0]).reshape(t.shape)
        if t.dtype == "BF16":
            return (raw.astype(np.uint32) << 16).view(np.float32)
        if t.dtype in ("F16", "F64"):
            return raw.astype(np.float32)
        return raw.copy() if not raw.flags.writeable else raw
