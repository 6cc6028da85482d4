"""The training script runs end to end on the tiny config, so it cannot rot unnoticed."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from parasight_desktop.engine.runner import TFLiteModel


@pytest.mark.slow
def test_smoke_training_exports_a_model_the_runtime_loads(tmp_path: Path) -> None:
    from training.train_mini import main

    out = tmp_path / "mini"
    main(["--smoke", "--out", str(out), "--workdir", str(tmp_path / "work")])

    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["name"] == "parasight-mini"
    assert manifest["latent"]["scaling_factor"] > 0
    assert manifest["extra"]["training"]["held_out_colour_kind"]
    decoder = TFLiteModel(out / manifest["decoder"]["file"])
    s, _, c = manifest["latent"]["shape"]
    image = decoder(latent=np.zeros((1, s, s, c), np.float32))["image"]
    assert image.shape == (1, 8 * s, 8 * s, 3)
    assert np.isfinite(image).all()
