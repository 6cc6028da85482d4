"""Emitting signals from Python must not eat references (PySide6 6.12.0's emit() does)."""

from __future__ import annotations

import sys

import pytest
from PySide6.QtCore import QObject, Signal

from parasight_desktop.ui.signals import emit

pytestmark = pytest.mark.gui


class _Source(QObject):
    changed = Signal(object, int)


def test_emit_keeps_references_balanced() -> None:
    source = _Source()
    received: list[int] = []
    source.changed.connect(lambda _obj, n: received.append(n))
    before = sys.getrefcount(True)
    for n in range(2000):  # more emits than True has references on a fresh interpreter
        emit(source.changed, None, n)
    assert len(received) == 2000
    assert abs(sys.getrefcount(True) - before) < 50
