"""``emit()``: emit a Qt signal from Python, safely on every PySide6 this app may meet.

PySide6 6.12.0's ``SignalInstance.emit()`` drops one reference to ``True`` each time it
is called (6.11.3 does not). On Python 3.11, where ``True`` is not immortal, a few
hundred emits free it and the process aborts with "Fatal Python error: bool_dealloc".
A generation emits a few signals per step, so this would crash within a few images.

The UI emits its signals through :func:`emit`, which measures once, at import, whether
the installed PySide6 has the fault and, only if so, gives the reference back after
each emit. On a PySide6 without the fault it is a plain ``signal.emit(*args)``.
"""

from __future__ import annotations

import ctypes
import sys
from typing import Any

from PySide6.QtCore import QObject, Signal, SignalInstance

_PROBES = 16
_incref = ctypes.pythonapi.Py_IncRef
_incref.argtypes = [ctypes.py_object]
_incref.restype = None


class _Probe(QObject):
    probe = Signal()


def _measure_emit_leak() -> bool:
    """True if ``emit()`` loses a reference to ``True`` (the references lost are restored)."""
    source = _Probe()
    before = sys.getrefcount(True)
    for _ in range(_PROBES):
        source.probe.emit()
    lost = before - sys.getrefcount(True)
    for _ in range(max(0, lost)):
        _incref(True)
    return lost >= _PROBES


EMIT_DROPS_TRUE = _measure_emit_leak()


def emit(signal: SignalInstance, *args: Any) -> None:
    """``signal.emit(*args)``, with the reference PySide6 6.12.0 drops given back."""
    signal.emit(*args)
    if EMIT_DROPS_TRUE:
        _incref(True)
