"""Build the tiny random-weight test model (ParaSight Mini's architecture, tiny widths).

The result is committed in ``tests/data/tiny-model/`` so the tests run the real LiteRT
interpreter without importing TensorFlow. Run again after changing the architecture:

    .venv/bin/python -m tests.data.make_tiny_model
"""

from __future__ import annotations

import json
from pathlib import Path

import keras
import numpy as np

from parasight_desktop.engine.converter import TensorSpec, convert_keras_model
from parasight_desktop.engine.manifest import write_manifest
from training.export import export_model_folder
from training.mini_model import (
    MiniConfig,
    build_decoder,
    build_encoder,
    build_text_encoder,
    build_unet,
)

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
    add_encoder(cfg, OUT)
    print(OUT)


def add_encoder(cfg: MiniConfig, folder: Path) -> None:
    """An image encoder (Mini's architecture, random weights, its colour path kept) so
    image to image and inpainting run on the tiny model: ``python -c 'from
    tests.data.make_tiny_model import add_encoder, MiniConfig; add_encoder(MiniConfig.tiny(),
    OUT)'`` adds it to an existing folder without touching the other parts."""
    keras.utils.set_random_seed(4321)
    encoder = build_encoder(cfg)
    image = keras.Input((cfg.image_size, cfg.image_size, 3), name="image")
    scaled = keras.layers.Rescaling(cfg.scaling_factor)(encoder(image))  # UNet's latents
    model = keras.Model(image, scaled)
    probe = {"image": np.random.default_rng(0).uniform(
        -1, 1, (1, cfg.image_size, cfg.image_size, 3)).astype(np.float32)}
    report = convert_keras_model(
        model, folder / "image_encoder.tflite",
        [TensorSpec("image", (None, cfg.image_size, cfg.image_size, 3))], ["latent"],
        "fp32", probe=probe)
    data = json.loads((folder / "manifest.json").read_text(encoding="utf-8"))
    data["files"]["image_encoder.tflite"] = {"size": report.size, "sha256": report.sha256}
    data["image_encoder"] = {"file": "image_encoder.tflite", "input": "image",
                             "output": "latent", "input_range": [-1, 1]}
    data.pop("format", None)
    write_manifest(folder, data)


if __name__ == "__main__":
    main()
