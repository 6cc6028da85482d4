"""Give ParaSight Mini its image encoder: ``python -m training.train_encoder``.

The Mini was trained with an encoder (``mini_model.build_encoder``) that was never
shipped, and its weights are gone; the shipped decoder must not change. So a new
encoder is fitted to the shipped parts:

  1. the shipped decoder is rebuilt in Keras from ``decoder.tflite`` (its fp16
     constants, mapped by layer name onto ``build_decoder``; checked against the file),
     frozen, so a loss can go through it
  2. data: (a) the shipped pipeline's own images and final latents (captions of random
     sightings, many seeds, guidance 2-5): the latent space the UNet denoises in and the
     decoder takes; (b) fresh renders (``render.py``); (c) sketches, flat grounds with
     filled shapes as the sketch canvas draws them (``sketches.py``)
  3. the encoder (``build_encoder`` with the scaling factor folded in: it outputs the
     scaled latent) learns: on (a) the latent itself plus the reconstruction through the
     frozen decoder; on (b) and (c) the reconstruction, and a pull of the batch's
     per-channel latent mean and spread towards (a)'s, so images the pipeline never
     made still land where the UNet expects latents
  4. export at fp16 (checked against Keras), add it to the manifest with its size,
     sha256 and conversion record, and measure the round trip through the shipped
     decoder.tflite on fresh renders, held-out generated images and sketches

Everything comes from one seed; the step count, not the clock, decides the result.
``--smoke`` runs every stage for a few steps into a temporary copy of the model folder.
"""

from __future__ import annotations

import argparse
import json
import re
import shutil
import tempfile
import time
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np

from .train_mini import DEFAULT_OUT, log

RESULTS = Path(__file__).resolve().parent / "eval" / "mini_encoder.json"
ENCODER_FILE = "image_encoder.tflite"


@dataclass(frozen=True)
class EncoderPlan:
    """How much of each stage to run."""

    n_pairs: int = 1600  # images the shipped pipeline generates (and their latents)
    n_renders: int = 3000
    n_sketches: int = 1500
    steps: int = 1000
    batch_pairs: int = 8
    batch_renders: int = 6
    batch_sketches: int = 4
    lr: float = 2e-3
    latent_weight: float = 1.0  # (a): MSE to the pipeline's latent (unit variance)
    stats_weight: float = 0.1  # (b, c): per-channel mean and std towards (a)'s
    seed: int = 20261202
    threads: int = 2
    eval_pairs: int = 100  # generated with other seeds, for the figures
    eval_renders: int = 300
    eval_sketches: int = 200
    eager: bool = False

    @classmethod
    def smoke(cls) -> EncoderPlan:
        return cls(n_pairs=6, n_renders=6, n_sketches=6, steps=2, batch_pairs=2,
                   batch_renders=2, batch_sketches=2, eval_pairs=3, eval_renders=3,
                   eval_sketches=3, eager=True)


# 1. The shipped decoder in Keras -----------------------------------------------------------

def _tflite_constants(path: Path) -> dict[str, np.ndarray]:
    """Every constant of a .tflite file by tensor name, as float32."""
    from ai_edge_litert.interpreter import Interpreter

    it = Interpreter(str(path))
    out: dict[str, np.ndarray] = {}
    for t in it.get_tensor_details():
        if t["dtype"] in (np.float16, np.float32) and t["name"] not in out:
            try:
                value = it.get_tensor(t["index"])
            except ValueError:  # an activation, not a constant
                continue
            if value.size:
                out[t["name"]] = np.asarray(value, np.float32)
    return out


def keras_decoder_from_tflite(cfg: Any, path: Path) -> Any:
    """``build_decoder`` carrying the weights of the shipped ``decoder.tflite``.

    The converter folded the latent scaling (``Rescaling(1/scaling)``) into the first
    and the colour convolutions, so the Keras decoder is built with scaling 1.0 and
    takes the scaled latent as the file does. Convolutions are matched by their Keras
    name's number (creation order), group norms likewise; every layer's every weight is
    set with its shape checked, and every constant of the file is used."""
    from .mini_model import build_decoder

    consts = _tflite_constants(path)
    convs: dict[int, dict[str, np.ndarray]] = {}
    norms: dict[int, dict[str, np.ndarray]] = {}
    for name, value in consts.items():
        m = re.search(r"conv2d_(\d+)_1/(BiasAdd|convolution)", name)
        if m:
            kind = "kernel" if value.ndim == 4 else "bias"
            convs.setdefault(int(m.group(1)), {})[kind] = value
            continue
        m = re.search(r"group_normalization_(\d+)_1/Reshape_([12])$", name)
        if m:
            norms.setdefault(int(m.group(1)), {})[
                "gamma" if m.group(2) == "1" else "beta"] = value.reshape(-1)
    decoder = build_decoder(replace(cfg, scaling_factor=1.0))
    k_convs = _in_creation_order(decoder, "Conv2D")
    k_norms = _in_creation_order(decoder, "GroupNormalization")
    if len(k_convs) != len(convs) or len(k_norms) != len(norms):
        raise ValueError(f"{path.name}: {len(convs)} convolutions and {len(norms)} norms, "
                         f"the architecture has {len(k_convs)} and {len(k_norms)}")
    for layer, key in zip(k_convs, sorted(convs)):
        w = convs[key]
        kernel = np.transpose(w["kernel"], (1, 2, 3, 0))  # OHWI -> HWIO
        layer.set_weights(_checked(layer, [kernel, w["bias"]]))
    for layer, key in zip(k_norms, sorted(norms)):
        layer.set_weights(_checked(layer, [norms[key]["gamma"], norms[key]["beta"]]))
    decoder.trainable = False
    return decoder


def _in_creation_order(model: Any, cls: str) -> list[Any]:
    """``model``'s layers of class ``cls`` in the order they were made (Keras numbers
    their names so: ``conv2d``, ``conv2d_1``, ...; ``model.layers`` is topological)."""
    found = [la for la in model.layers if la.__class__.__name__ == cls]
    number = re.compile(r"_(\d+)$")
    return sorted(found, key=lambda la: int(m.group(1)) if (m := number.search(la.name)) else 0)


def _checked(layer: Any, weights: list[np.ndarray]) -> list[np.ndarray]:
    for have, want in zip(layer.get_weights(), weights):
        if have.shape != want.shape:
            raise ValueError(f"{layer.name}: {want.shape} from the file, {have.shape} wanted")
    return weights


def run_tflite(path: Path, feed: str, out: str, xs: np.ndarray, threads: int) -> np.ndarray:
    """A .tflite model over a batch, one item at a time (as the app runs it)."""
    from parasight_desktop.engine.runner import TFLiteModel

    model = TFLiteModel(path, threads)
    return np.concatenate([np.asarray(model(**{feed: xs[i:i + 1]})[out])
                           for i in range(len(xs))])


# 2. Data -----------------------------------------------------------------------------------

def generate_pairs(folder: Path, n: int, seed: int, threads: int, t0: float
                   ) -> tuple[np.ndarray, np.ndarray]:
    """``n`` images from the model in ``folder`` through the app's engine, and the final
    latent of each (``Pipeline.last_latent``, what was decoded): captions of random
    sightings (held-out pairs allowed: the encoder should cover the whole space), each
    with its own seed, guidance drawn from 2 to 5 around the default 3."""
    from parasight_desktop.engine.pipeline import Engine
    from parasight_desktop.engine.store import ModelStore
    from parasight_desktop.engine.types import GenerationRequest

    from .captions import caption
    from .render import random_sighting

    engine = Engine(ModelStore(roots=[folder.parent], hash_cache=None), threads=threads)
    pipe = engine.pipeline("parasight-mini")
    rng = np.random.default_rng(seed)
    images, latents = [], []
    for i in range(n):
        text = caption(random_sighting(rng, held_out=None), rng)
        r = pipe.generate(GenerationRequest(
            prompt=text, seed=int(rng.integers(2**31)), model="parasight-mini",
            guidance=float(rng.choice([2.0, 3.0, 3.0, 4.0, 5.0]))))
        assert pipe.last_latent is not None
        images.append(r.image)
        latents.append(pipe.last_latent[0])
        if i % 400 == 0:
            log(f"generated {i}/{n}", t0)
    return np.stack(images), np.stack(latents).astype(np.float32)


def make_sketches(n: int, seed: int) -> np.ndarray:
    from .sketches import random_sketch

    rng = np.random.default_rng(seed)
    return np.stack([random_sketch(rng) for _ in range(n)])


def make_renders(n: int, seed: int) -> np.ndarray:
    from .render import render_dataset

    return render_dataset(n, seed, held_out=None)[0]


# 3. Training -------------------------------------------------------------------------------

def build_scaled_encoder(cfg: Any) -> Any:
    """``build_encoder`` with the scaling factor folded in: image in -1..1 -> the scaled
    latent the UNet and the shipped decoder take (a last ``Rescaling``, so the colour
    path still starts as the 8x8 mean colour in the decoder's unscaled units)."""
    import keras

    from .mini_model import build_encoder

    inner = build_encoder(replace(cfg, scaling_factor=1.0))
    image = keras.Input((cfg.image_size, cfg.image_size, 3), name="image")
    latent = keras.layers.Rescaling(cfg.scaling_factor, name="scale")(inner(image))
    return keras.Model(image, latent, name="image_encoder")


def train(cfg: Any, plan: EncoderPlan, decoder: Any, pairs: tuple[np.ndarray, np.ndarray],
          renders: np.ndarray, sketches: np.ndarray, t0: float) -> Any:
    import keras
    import tensorflow as tf

    images, latents = pairs
    mu = tf.constant(latents.mean(axis=(0, 1, 2)), tf.float32)
    sd = tf.constant(latents.std(axis=(0, 1, 2)), tf.float32)
    encoder = build_scaled_encoder(cfg)
    variables = encoder.trainable_variables
    lr = keras.optimizers.schedules.CosineDecay(0.0, plan.steps, alpha=0.05,
                                                warmup_target=plan.lr,
                                                warmup_steps=max(1, plan.steps // 20))
    opt = keras.optimizers.Adam(lr, clipnorm=1.0)

    def recon(y: Any, x: Any) -> Any:
        """The autoencoder's own pixel loss: MSE + L1/2 + edges/2, per image."""
        mse = tf.reduce_mean(tf.square(y - x), axis=[1, 2, 3])
        l1 = tf.reduce_mean(tf.abs(y - x), axis=[1, 2, 3])
        dy = tf.reduce_mean(tf.abs((y[:, 1:] - y[:, :-1]) - (x[:, 1:] - x[:, :-1])), [1, 2, 3])
        dx = tf.reduce_mean(tf.abs((y[:, :, 1:] - y[:, :, :-1]) - (x[:, :, 1:] - x[:, :, :-1])),
                            [1, 2, 3])
        return mse + 0.5 * l1 + 0.5 * (dy + dx)

    n_pairs = plan.batch_pairs

    def step(xb: Any, zb: Any) -> tuple[Any, Any, Any]:
        x = tf.cast(xb, tf.float32) / 127.5 - 1.0
        with tf.GradientTape() as tape:
            z = encoder(x, training=True)
            y = decoder(z, training=False)
            rec = recon(y, x)
            lat = tf.reduce_mean(tf.square(z[:n_pairs] - zb))
            other = z[n_pairs:]
            mean, var = tf.nn.moments(other, [0, 1, 2])
            std = tf.sqrt(var + 1e-6)  # channel 3 starts constant: no infinite gradient
            stats = tf.reduce_mean(tf.square(mean - mu)) + tf.reduce_mean(tf.square(std - sd))
            loss = (tf.reduce_mean(rec) + plan.latent_weight * lat
                    + plan.stats_weight * stats)
        opt.apply_gradients(zip(tape.gradient(loss, variables), variables))
        return tf.reduce_mean(rec[:n_pairs]), tf.reduce_mean(rec[n_pairs:]), lat

    step = step if plan.eager else tf.function(step, jit_compile=True)
    order = np.random.default_rng(plan.seed + 3)
    hist: list[tuple[float, float, float]] = []
    for i in range(plan.steps):
        ip = order.integers(0, len(images), plan.batch_pairs)
        ir = order.integers(0, len(renders), plan.batch_renders)
        isk = order.integers(0, len(sketches), plan.batch_sketches)
        batch = np.concatenate([images[ip], renders[ir], sketches[isk]])
        flip = order.random(len(batch)) < 0.5
        flip[:plan.batch_pairs] = False  # a pair's latent is not mirrored with its image
        batch[flip] = batch[flip, :, ::-1]
        r_pairs, r_other, lat = step(tf.constant(batch), tf.constant(latents[ip]))
        hist.append((float(r_pairs), float(r_other), float(lat)))
        if i % 100 == 0 or i == plan.steps - 1:
            m = np.mean(hist[-100:], axis=0)
            log(f"encoder step {i}/{plan.steps} recon(generated) {m[0]:.4f} "
                f"recon(renders+sketches) {m[1]:.4f} latent mse {m[2]:.4f}", t0)
    return encoder


# 4. Export and figures ---------------------------------------------------------------------

def export_encoder(cfg: Any, encoder: Any, folder: Path, probe: np.ndarray,
                   precision: str = "fp16") -> Any:
    from parasight_desktop.engine.converter import TensorSpec, convert_keras_model

    s = cfg.image_size
    return convert_keras_model(
        encoder, folder / ENCODER_FILE, [TensorSpec("image", (None, s, s, 3))], ["latent"],
        precision, probe={"image": (probe.astype(np.float32) / 127.5 - 1.0)})


def add_to_manifest(folder: Path, report: Any, record: dict[str, Any]) -> None:
    """The encoder's entry, its file's size and sha256, and its conversion and training
    records; the rest of the manifest is left as it was."""
    from parasight_desktop.engine.manifest import write_manifest

    data = json.loads((folder / "manifest.json").read_text())
    data.pop("format", None)
    entry = {"file": ENCODER_FILE, "input": "image", "output": "latent",
             "input_range": [-1, 1]}
    ordered: dict[str, Any] = {}
    for key, value in data.items():
        if key != "image_encoder":
            ordered[key] = value
        if key == "decoder":
            ordered["image_encoder"] = entry
    ordered.setdefault("image_encoder", entry)
    ordered["files"][ENCODER_FILE] = {"size": report.size, "sha256": report.sha256}
    extra = ordered.setdefault("extra", {})
    extra.setdefault("conversion", {})["image_encoder"] = {
        "precision": report.precision, "max_abs_error": report.max_abs_error,
        "psnr_db": report.psnr_db, "seconds": round(report.seconds, 2)}
    extra["image_encoder_training"] = record
    write_manifest(folder, ordered)


def psnr_uint8(a: np.ndarray, b: np.ndarray) -> float:
    """Mean over images of each image's PSNR (peak 255)."""
    err = np.mean((a.astype(np.float64) - b.astype(np.float64)) ** 2, axis=(1, 2, 3))
    return float(np.mean(10 * np.log10(255.0**2 / np.maximum(err, 1e-10))))


def round_trip(folder: Path, images: np.ndarray, threads: int) -> tuple[np.ndarray, np.ndarray]:
    """image -> image_encoder.tflite -> decoder.tflite: the latents and the images."""
    from parasight_desktop.engine.pipeline import to_uint8

    z = run_tflite(folder / ENCODER_FILE, "image", "latent",
                   images.astype(np.float32) / 127.5 - 1.0, threads)
    y = run_tflite(folder / "decoder.tflite", "latent", "image", z, threads)
    return z, np.stack([to_uint8(im) for im in y])


def figures(folder: Path, plan: EncoderPlan, t0: float) -> dict[str, Any]:
    """Round-trip PSNR on fresh renders, held-out generated images and sketches, the
    latent error on generated pairs, and the shipped decoder's own ceiling on them."""
    gen, gen_lat = generate_pairs(folder, plan.eval_pairs, plan.seed + 100, plan.threads, t0)
    renders = make_renders(plan.eval_renders, plan.seed + 101)
    sketches = make_sketches(plan.eval_sketches, plan.seed + 102)
    out: dict[str, Any] = {}
    z, back = round_trip(folder, gen, plan.threads)
    err = z - gen_lat
    out["generated"] = {
        "images": len(gen), "round_trip_psnr_db": round(psnr_uint8(gen, back), 2),
        "latent_rmse": round(float(np.sqrt(np.mean(err**2))), 4),
        "latent_std": round(float(gen_lat.std()), 4),
        "latent_relative_error": round(float(np.sqrt(np.mean(err**2)) / gen_lat.std()), 4),
        "latent_mean_by_channel": np.round(gen_lat.mean(axis=(0, 1, 2)), 3).tolist(),
        "encoded_mean_by_channel": np.round(z.mean(axis=(0, 1, 2)), 3).tolist(),
        "latent_std_by_channel": np.round(gen_lat.std(axis=(0, 1, 2)), 3).tolist(),
        "encoded_std_by_channel": np.round(z.std(axis=(0, 1, 2)), 3).tolist(),
    }
    for name, imgs in (("renders", renders), ("sketches", sketches)):
        z, back = round_trip(folder, imgs, plan.threads)
        out[name] = {"images": len(imgs), "round_trip_psnr_db": round(psnr_uint8(imgs, back), 2),
                     "encoded_mean_by_channel": np.round(z.mean(axis=(0, 1, 2)), 3).tolist(),
                     "encoded_std_by_channel": np.round(z.std(axis=(0, 1, 2)), 3).tolist()}
    log(f"figures: {json.dumps(out)}", t0)
    return out


def run(plan: EncoderPlan, folder: Path, results: Path | None) -> dict[str, Any]:
    import keras

    from parasight_desktop.engine.converter import psnr
    from parasight_desktop.engine.manifest import load_manifest, write_manifest

    from .mini_model import MiniConfig

    t0 = time.perf_counter()
    keras.utils.set_random_seed(plan.seed)
    manifest = load_manifest(folder)
    cfg = MiniConfig.from_dict(manifest.extra["architecture"])
    decoder = keras_decoder_from_tflite(cfg, folder / "decoder.tflite")
    probe = np.random.default_rng(0).standard_normal((4, *manifest.latent_shape)
                                                     ).astype(np.float32)
    ref = run_tflite(folder / "decoder.tflite", "latent", "image", probe, plan.threads)
    dec_psnr = psnr(ref, np.asarray(decoder(probe)), peak=2.0)
    log(f"decoder rebuilt from decoder.tflite: PSNR {dec_psnr:.1f} dB against the file", t0)
    if dec_psnr < 60:
        raise RuntimeError(f"the rebuilt decoder differs from decoder.tflite ({dec_psnr:.1f} dB)")
    pairs = generate_pairs(folder, plan.n_pairs, plan.seed, plan.threads, t0)
    t_gen = time.perf_counter() - t0
    log(f"{len(pairs[0])} generated pairs, latent std {pairs[1].std():.3f}", t0)
    renders = make_renders(plan.n_renders, plan.seed + 1)
    sketches = make_sketches(plan.n_sketches, plan.seed + 2)
    t_data = time.perf_counter() - t0
    log(f"{len(renders)} renders, {len(sketches)} sketches", t0)
    encoder = train(cfg, plan, decoder, pairs, renders, sketches, t0)
    t_train = time.perf_counter() - t0 - t_data
    report = export_encoder(cfg, encoder, folder, renders[:2])
    log(f"exported {ENCODER_FILE}: {report.size} bytes, {report.precision}, "
        f"PSNR {report.psnr_db:.1f} dB against Keras", t0)
    record = {
        "seed": plan.seed, "steps": plan.steps,
        "batch": {"generated": plan.batch_pairs, "renders": plan.batch_renders,
                  "sketches": plan.batch_sketches},
        "generated_pairs": plan.n_pairs, "renders": plan.n_renders,
        "sketches": plan.n_sketches, "learning_rate": plan.lr,
        "latent_weight": plan.latent_weight, "stats_weight": plan.stats_weight,
        "decoder": "the shipped decoder.tflite rebuilt in Keras, frozen "
                   f"(PSNR {dec_psnr:.1f} dB against the file)",
        "generate_seconds": round(t_gen), "train_seconds": round(t_train),
        "command": "python -m training.train_encoder",
    }
    add_to_manifest(folder, report, record)
    figs = figures(folder, plan, t0)
    data = json.loads((folder / "manifest.json").read_text())
    data["extra"]["image_encoder_training"]["round_trip_psnr_db"] = {
        k: figs[k]["round_trip_psnr_db"] for k in ("generated", "renders", "sketches")}
    data["extra"]["image_encoder_training"]["latent_relative_error"] = (
        figs["generated"]["latent_relative_error"])
    data.pop("format", None)
    write_manifest(folder, data)
    out = {"record": record, "conversion": {"psnr_db": report.psnr_db, "size": report.size},
           "figures": figs, "seconds": round(time.perf_counter() - t0)}
    if results is not None:
        results.parent.mkdir(parents=True, exist_ok=True)
        results.write_text(json.dumps(out, indent=2) + "\n")
    log(f"done in {out['seconds']} s", t0)
    return out


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description="Train ParaSight Mini's image encoder and ship it.")
    p.add_argument("--smoke", action="store_true",
                   help="a few steps of every stage, on a temporary copy of the model")
    p.add_argument("--model", type=Path, default=DEFAULT_OUT,
                   help=f"the model folder to add the encoder to (default {DEFAULT_OUT})")
    p.add_argument("--steps", type=int, default=None)
    p.add_argument("--results", type=Path, default=RESULTS,
                   help=f"where the figures go (default {RESULTS})")
    args = p.parse_args(argv)
    import tensorflow as tf

    plan = EncoderPlan.smoke() if args.smoke else EncoderPlan()
    tf.config.threading.set_intra_op_parallelism_threads(plan.threads)  # a shared machine
    tf.config.threading.set_inter_op_parallelism_threads(1)
    if args.steps is not None:
        plan = replace(plan, steps=args.steps)
    if not args.smoke:
        run(plan, args.model, args.results)
        return
    tmp = Path(tempfile.mkdtemp(prefix="parasight-encoder-"))
    try:
        folder = tmp / args.model.name
        shutil.copytree(args.model, folder)
        run(plan, folder, None)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
