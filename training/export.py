"""Turn the trained Keras models into a model folder the app runs: .tflite files + manifest."""

from __future__ import annotations

import shutil
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from parasight_desktop.engine.converter import ConversionReport, TensorSpec, convert_keras_model
from parasight_desktop.engine.manifest import write_manifest
from parasight_desktop.engine.schedulers import ScheduleConfig
from parasight_desktop.engine.timestep import TimestepEmbedding

from .mini_model import MAX_TOKENS, MiniConfig

MIT_LICENCE = Path(__file__).resolve().parent / "MODEL_LICENSE"


def _probes(cfg: MiniConfig, seed: int = 0) -> dict[str, dict[str, np.ndarray]]:
    rng = np.random.default_rng(seed)
    s = cfg.latent_size
    latent = rng.standard_normal((2, s, s, cfg.latent_channels)).astype(np.float32)
    return {
        "text_encoder": {
            "tokens": rng.integers(0, 49408, (1, MAX_TOKENS)).astype(np.int32),
            "positions": np.arange(MAX_TOKENS, dtype=np.int32)[None],
        },
        "unet": {
            "latent": latent,
            "timestep_embedding": TimestepEmbedding(dim=cfg.t_dim)(np.array([999, 10])),
            "context": rng.standard_normal((2, MAX_TOKENS, cfg.text_dim)).astype(np.float32),
        },
        "decoder": {"latent": latent[:1]},
    }


def export_model_folder(
    cfg: MiniConfig,
    text_encoder: Any,
    unet: Any,
    decoder: Any,
    out_dir: Path,
    *,
    name: str = "parasight-mini",
    display_name: str = "ParaSight Mini",
    precision: str | dict[str, str] = "fp32",
    licence: tuple[str, Path] = ("MIT", MIT_LICENCE),
    description: str = "",
    source: str = "Trained by the ParaSight team from procedurally rendered sightings.",
    preview_factors: Sequence[Sequence[float]] | None = None,
    preview_bias: Sequence[float] = (0.0, 0.0, 0.0),
    defaults: dict[str, Any] | None = None,
    extra: dict[str, Any] | None = None,
) -> Path:
    """Convert the three models into ``out_dir`` (replaced atomically at the end).

    ``precision`` may be one string or a dict by part (``text_encoder``, ``unet``,
    ``decoder``). Each part is checked against Keras on a probe input; the errors go
    into the manifest's ``extra.conversion``.
    """
    out_dir = Path(out_dir)
    stage = out_dir.with_name(out_dir.name + ".partial")
    shutil.rmtree(stage, ignore_errors=True)
    stage.mkdir(parents=True)
    prec = precision if isinstance(precision, dict) else dict.fromkeys(
        ("text_encoder", "unet", "decoder"), precision)
    s, c = cfg.latent_size, cfg.latent_channels
    probes = _probes(cfg)
    reports: dict[str, ConversionReport] = {}
    reports["text_encoder"] = convert_keras_model(
        text_encoder, stage / "text_encoder.tflite",
        [TensorSpec("tokens", (None, MAX_TOKENS), "int32"),
         TensorSpec("positions", (None, MAX_TOKENS), "int32")],
        ["context"], prec["text_encoder"], probe=probes["text_encoder"])
    reports["unet"] = convert_keras_model(
        unet, stage / "unet.tflite",
        [TensorSpec("latent", (None, s, s, c)),
         TensorSpec("timestep_embedding", (None, cfg.t_dim)),
         TensorSpec("context", (None, MAX_TOKENS, cfg.text_dim))],
        ["noise"], prec["unet"], probe=probes["unet"])
    reports["decoder"] = convert_keras_model(
        decoder, stage / "decoder.tflite", [TensorSpec("latent", (None, s, s, c))],
        ["image"], prec["decoder"], probe=probes["decoder"])
    licence_name, licence_path = licence
    shutil.copyfile(licence_path, stage / "LICENSE")
    if preview_factors is None:
        preview_factors = [[0.33, 0.33, 0.33]] + [[0.0, 0.0, 0.0]] * (c - 1)
    manifest = {
        "name": name,
        "display_name": display_name,
        "description": description,
        "version": "1",
        "licence": {"name": licence_name, "file": "LICENSE"},
        "source": source,
        "image": {"width": cfg.image_size, "height": cfg.image_size},
        "latent": {"shape": [s, s, c], "scaling_factor": cfg.scaling_factor,
                   "decoder_includes_scaling": True},
        "text_encoder": {"file": "text_encoder.tflite", "inputs": ["tokens", "positions"],
                         "output": "context", "context_dim": cfg.text_dim,
                         "max_tokens": MAX_TOKENS},
        "unet": {"parts": [{"file": "unet.tflite",
                            "inputs": ["latent", "timestep_embedding", "context"],
                            "outputs": ["noise"]}],
                 "output": "noise"},
        "decoder": {"file": "decoder.tflite", "input": "latent", "output": "image",
                    "output_range": [-1, 1]},
        "timestep_embedding": TimestepEmbedding(dim=cfg.t_dim).to_dict(),
        "scheduler": ScheduleConfig().to_dict(),
        "defaults": defaults or {"steps": 20, "guidance": 7.5, "sampler": "dpmpp-2m"},
        "preview": {"rgb_factors": [list(map(float, r)) for r in preview_factors],
                    "rgb_bias": list(map(float, preview_bias))},
        "files": {r.path.name: {"size": r.size, "sha256": r.sha256} for r in reports.values()},
        "extra": {
            "architecture": cfg.to_dict(),
            "conversion": {k: {"precision": r.precision, "max_abs_error": r.max_abs_error,
                               "psnr_db": r.psnr_db, "seconds": round(r.seconds, 2)}
                           for k, r in reports.items()},
            **(extra or {}),
        },
    }
    write_manifest(stage, manifest)
    if out_dir.exists():
        old = out_dir.with_name(out_dir.name + ".old")
        shutil.rmtree(old, ignore_errors=True)
        out_dir.rename(old)
        stage.rename(out_dir)
        shutil.rmtree(old, ignore_errors=True)
    else:
        stage.rename(out_dir)
    return out_dir
