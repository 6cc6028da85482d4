"""Build the tiny random-weight test model (ParaSight Mini's architecture, tiny widths).

The result is committed in ``tests/data/tiny-model/`` so the tests run the real LiteRT
interpreter without importing TensorFlow. Run again after changing the architecture:

    .venv/bin/python -m tests.data.make_tiny_model
"""

from __future__ import annotations

from pathlib import Path

import keras

from training.export import export_model_folder
from training.mini_model import MiniConfig, build_decoder, build_text_encoder, build_unet

OUT = Path(__file__).resolve().parent / "tiny-model"


def main() -> None:
    keras.utils.set_random_seed(1234)
    cfg = MiniConfig.tiny()
    unet = build_unet(cfg)
    # The real model's last conv starts at zero; give the tiny one weights so that
    # the prompt, the seed and the sampler all change the picture.
    last = unet.layers[-1]
    kernel, bias = last.get_weights()
    rng = keras.random.SeedGenerator(7)
    last.set_weights([keras.ops.convert_to_numpy(
        keras.random.normal(kernel.shape, stddev=0.2, seed=rng)), bias])
    export_model_folder(
        cfg, build_text_encoder(cfg), unet, build_decoder(cfg), OUT,
        name="tiny-model", display_name="Tiny test model (random weights)",
        description="Random weights in ParaSight Mini's architecture, for tests only.",
        source="tests/data/make_tiny_model.py",
        defaults={"steps": 4, "guidance": 5.0, "sampler": "dpmpp-2m"},
        preview_factors=[[0.5, 0.1, 0.1], [0.1, 0.5, 0.1], [0.1, 0.1, 0.5], [0.2, 0.2, 0.2]],
    )
    print(OUT)


if __name__ == "__main__":
    main()
