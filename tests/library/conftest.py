"""Shared fixtures: a small real image and the settings that 'made' it."""

from __future__ import annotations

import numpy as np
import pytest
from numpy.typing import NDArray

from parasight_desktop.engine.types import GenerationSettings

from ._helpers import make_image, make_settings


@pytest.fixture
def settings() -> GenerationSettings:
    return make_settings()


@pytest.fixture
def image() -> NDArray[np.uint8]:
    return make_image()
