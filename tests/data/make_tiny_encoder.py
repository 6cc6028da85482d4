"""Build the tiny model's image encoder (random weights, ParaSight Mini's encoder shape).

Kept apart from ``tiny-model/`` so the models other tests pin stay as they are: the UI
tests of the witness loop copy the tiny model into a temporary folder and add this
encoder to its manifest (tests/ui/conftest.py ``img2img_store``). Run again after
changing the architecture:

    .venv/bin/python -m tests.data.make_tiny_encoder
"""

from __future__ import annotations

from pathlib import Path

import keras
import numpy as np

from parasight_desktop.engine.converter import TensorSpec, convert_keras_model
from training.mini_model import MiniConfig, build_encoder

OUT = Path(__file__).resolve().parent / "tiny-encoder" / "image_encoder.tflite"


def main() -> None:
    keras.utils.set_random_seed(1234)
    cfg = MiniConfig.tiny()
    encoder = build_encoder(cfg)
    probe = {"image": np.random.default_rng(0).uniform(
        -1, 1, (1, cfg.image_size, cfg.image_size, 3)).astype(np.float32)}
    OUT.parent.mkdir(parents=True, exist_ok=True)
    report = convert_keras_model(
        encoder, OUT, [TensorSpec("image", (None, cfg.image_size, cfg.image_size, 3))],
        ["latent"], "fp32", probe=probe)
    print(OUT, report.size, report.sha256, report.max_abs_error)


if __name__ == "__main__":
    main()
