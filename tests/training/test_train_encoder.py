"""The image encoder's training script: the shipped decoder rebuilt in Keras is the
shipped decoder, and every stage runs (smoke) into a copy of the model folder."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from parasight_desktop.engine.converter import psnr
from parasight_desktop.engine.store import builtin_models_dir

MINI = builtin_models_dir() / "parasight-mini"


def test_the_shipped_decoder_rebuilt_in_keras_is_the_shipped_decoder() -> None:
    from training.mini_model import MiniConfig
    from training.train_encoder import keras_decoder_from_tflite, run_tflite

    manifest = json.loads((MINI / "manifest.json").read_text())
    cfg = MiniConfig.from_dict(manifest["extra"]["architecture"])
    decoder = keras_decoder_from_tflite(cfg, MINI / "decoder.tflite")
    latent = np.random.default_rng(5).standard_normal((2, 16, 16, 4)).astype(np.float32)
    ref = run_tflite(MINI / "decoder.tflite", "latent", "image", latent, threads=2)
    # The same fp16 weights in float32 arithmetic: equal to rounding.
    assert psnr(ref, np.asarray(decoder(latent)), peak=2.0) > 80.0
    assert not decoder.trainable_variables


@pytest.mark.slow
def test_smoke_encoder_training_adds_an_encoder_the_pipeline_uses(tmp_path: Path) -> None:
    import shutil

    from parasight_desktop.engine.manifest import load_manifest
    from parasight_desktop.engine.pipeline import Pipeline
    from parasight_desktop.engine.types import GenerationRequest
    from training.train_encoder import EncoderPlan, run

    folder = tmp_path / "parasight-mini"
    shutil.copytree(MINI, folder)
    # the Mini as it was before it had an encoder
    data = json.loads((folder / "manifest.json").read_text())
    data.pop("image_encoder", None)
    data["files"].pop("image_encoder.tflite", None)
    data["extra"]["conversion"].pop("image_encoder", None)
    data["extra"].pop("image_encoder_training", None)
    (folder / "manifest.json").write_text(json.dumps(data))
    (folder / "image_encoder.tflite").unlink(missing_ok=True)
    out = run(EncoderPlan.smoke(), folder, tmp_path / "figures.json")
    assert set(out["figures"]) == {"generated", "renders", "sketches"}
    m = load_manifest(folder)
    assert m.image_encoder is not None and "image_encoder.tflite" in m.files
    assert m.extra["image_encoder_training"]["command"] == "python -m training.train_encoder"
    start = np.full((128, 128, 3), 90, np.uint8)
    result = Pipeline(m, threads=2).generate(GenerationRequest(
        prompt="a red blob in the forest", seed=1, init_image=start, strength=0.3))
    assert result.image.shape == (128, 128, 3) and result.settings.strength == 0.3
