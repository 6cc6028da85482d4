"""Train ParaSight Mini from scratch and export it: ``python -m training.train_mini``.

Stages (all from one fixed seed; the step counts, not the clock, decide the result):
  1. render the training sightings (held-out colour-and-kind pairs excluded) and
     tokenize several captions for each
  2. train the autoencoder: MSE + L1 + an edge loss on pixels, a light L2 pull on the
     latent, and a little noise on the latent so the decoder tolerates a sampler's
     imprecise latents; then set ``scaling_factor`` = 1 / std of the latents
  3. train the text encoder on its own, then freeze it (Stable Diffusion's is CLIP's,
     trained first and frozen while the UNet learns): from the mean of a caption's
     context vectors, small heads name the sighting's attributes (what a caption leaves
     out, they learn as the prior). A UNet trained beside a text encoder that does not
     yet tell a serpent from a blob gets no kind to draw; this one has it from step 1,
     and each diffusion step skips the text encoder's backward pass
  4. cache the scaled latents and the captions' contexts, and train the UNet: uniform
     t in [0, 1000), epsilon-prediction MSE with the min-SNR-5 weighting (Hang et al.
     2023: the same objective, re-weighted so the high-noise steps that decide the
     composition are not drowned by the easy low-noise ones), offset noise 0.1 (a
     per-channel constant in the noise, so near-white snow and near-black night can be
     drawn), the creature's latent pixels weighted 5x (the renderer says where it is),
     captions replaced by the empty prompt 10% of the time for classifier-free
     guidance; each step compiled with XLA; an EMA of the weights is what ships
  5. export through ``training.export.export_model_folder`` into
     ``resources/models/parasight-mini/``

``--smoke`` runs every stage for a few steps on the tiny config into a temporary
folder: the test suite uses it so this script cannot rot.
"""

from __future__ import annotations

import argparse
import json
import shutil
import tempfile
import time
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np

from .captions import caption
from .render import HELD_OUT

stopped_at = [0]  # diffusion steps actually run (the deadline may cut them short)
REPO = Path(__file__).resolve().parents[1]
DEFAULT_OUT = REPO / "resources" / "models" / "parasight-mini"
EMPTY_PROMPT = ""


@dataclass(frozen=True)
class Plan:
    """How much of each stage to run."""

    n_images: int = 10000
    captions_per_image: int = 4
    ae_steps: int = 320
    ae_batch: int = 8
    ae_lr: float = 1e-3
    text_steps: int = 200
    text_batch: int = 128
    text_lr: float = 2e-3
    diff_steps: int = 10000
    diff_batch: int = 32
    diff_lr: float = 6e-4
    warmup: int = 200
    cfg_dropout: float = 0.1
    min_snr_gamma: float = 5.0
    offset_noise: float = 0.1
    foreground_weight: float = 4.0  # the creature's latent pixels count 1 + this much
    ema: float = 0.998
    seed: int = 20261127
    processes: int = 2
    checkpoint_every: int = 500
    eager: bool = False  # the smoke run: tracing costs more than its few steps
    precision: tuple[tuple[str, str], ...] = (
        ("text_encoder", "int8"), ("unet", "fp16"), ("decoder", "fp16"))

    @classmethod
    def smoke(cls) -> Plan:
        return cls(n_images=24, captions_per_image=2, ae_steps=2, ae_batch=4, text_steps=2,
                   text_batch=8, diff_steps=3,
                   diff_batch=4, warmup=1, processes=1, checkpoint_every=0, eager=True,
                   precision=(("text_encoder", "fp32"), ("unet", "fp32"), ("decoder", "fp32")))


def compiled(fn: Any, plan: Plan, xla: bool = False) -> Any:
    """``xla``: compile the whole step with XLA (1.3x faster for the diffusion step on two
    cores, measured: 1.08 s against 1.42 s a batch of 32)."""
    import tensorflow as tf

    return fn if plan.eager else tf.function(fn, jit_compile=xla)


def log(msg: str, t0: float) -> None:
    print(f"[{time.perf_counter() - t0:7.0f}s] {msg}", flush=True)


def schedule_alphas_cumprod() -> np.ndarray:
    """Stable Diffusion's scaled-linear schedule, from the engine (one definition)."""
    from parasight_desktop.engine.schedulers import ScheduleConfig

    return np.asarray(ScheduleConfig().alphas_cumprod(), np.float64)


def tokenize_all(texts: list[str]) -> np.ndarray:
    from parasight_desktop.engine.tokenizer import Tokenizer

    tok = Tokenizer()
    return np.asarray([tok.encode(t).ids for t in texts], np.int32)


# 1. Data ----------------------------------------------------------------------------------

def make_data(plan: Plan, t0: float) -> tuple[np.ndarray, np.ndarray, list[Any], np.ndarray]:
    """Images (N, 128, 128, 3) uint8, token ids (N, K, 77) int32, sightings, and where
    each creature is on the latent grid (N, 16, 16) float32."""
    from .judge import render_parallel_maps

    images, sightings, maps = render_parallel_maps(plan.n_images, plan.seed, plan.processes,
                                                   held_out=False)
    assert not any(s.held_out for s in sightings)
    log(f"rendered {len(images)} training images", t0)
    rng = np.random.default_rng(plan.seed + 1)
    texts = [caption(s, rng) for s in sightings for _ in range(plan.captions_per_image)]
    ids = tokenize_all(texts).reshape(len(images), plan.captions_per_image, -1)
    log(f"tokenized {len(texts)} captions, e.g. {texts[0]!r}", t0)
    return images, ids, sightings, maps.creature


# 2. Autoencoder ---------------------------------------------------------------------------

def train_autoencoder(cfg: Any, plan: Plan, images: np.ndarray, t0: float
                      ) -> tuple[Any, Any, float]:
    import keras
    import tensorflow as tf

    from .mini_model import build_decoder, build_encoder

    encoder, decoder = build_encoder(cfg), build_decoder(cfg)  # scaling 1.0 while training
    variables = encoder.trainable_variables + decoder.trainable_variables
    lr = keras.optimizers.schedules.CosineDecay(0.0, plan.ae_steps, alpha=0.05,
                                                warmup_target=plan.ae_lr,
                                                warmup_steps=max(1, plan.ae_steps // 20))
    opt = keras.optimizers.Adam(lr, clipnorm=1.0)
    rng = tf.random.Generator.from_seed(plan.seed + 2)

    def edges(x: Any) -> tuple[Any, Any]:
        return x[:, 1:, :, :] - x[:, :-1, :, :], x[:, :, 1:, :] - x[:, :, :-1, :]

    def step(xb: Any) -> tuple[Any, Any]:
        x = tf.cast(xb, tf.float32) / 127.5 - 1.0
        with tf.GradientTape() as tape:
            z = encoder(x, training=True)
            std = tf.stop_gradient(tf.math.reduce_std(z))
            y = decoder(z + 0.05 * std * rng.normal(tf.shape(z)), training=True)
            mse = tf.reduce_mean(tf.square(y - x))
            l1 = tf.reduce_mean(tf.abs(y - x))
            (ey, ex), (fy, fx) = edges(y), edges(x)
            edge = tf.reduce_mean(tf.abs(ey - fy)) + tf.reduce_mean(tf.abs(ex - fx))
            loss = mse + 0.5 * l1 + 0.5 * edge + 1e-4 * tf.reduce_mean(tf.square(z))
        grads = tape.gradient(loss, variables)
        opt.apply_gradients(zip(grads, variables))
        return mse, std

    step = compiled(step, plan, xla=True)
    order = np.random.default_rng(plan.seed + 3)
    for i in range(plan.ae_steps):
        idx = order.integers(0, len(images), plan.ae_batch)
        batch = images[idx]
        flip = order.random(plan.ae_batch) < 0.5
        batch[flip] = batch[flip, :, ::-1]
        mse, std = step(tf.constant(batch))
        if i % 100 == 0 or i == plan.ae_steps - 1:
            log(f"ae step {i}/{plan.ae_steps} mse {float(mse):.4f} latent std {float(std):.3f}",
                t0)
    return encoder, decoder, float(std)


def encode_all(encoder: Any, images: np.ndarray, batch: int = 64) -> np.ndarray:
    import tensorflow as tf

    @tf.function
    def enc(xb: Any) -> Any:
        return encoder(tf.cast(xb, tf.float32) / 127.5 - 1.0, training=False)

    parts = [enc(tf.constant(images[i:i + batch])).numpy() for i in range(0, len(images), batch)]
    return np.concatenate(parts).astype(np.float32)


def with_scaling(cfg: Any, decoder: Any, scaling: float) -> tuple[Any, Any]:
    """The config with the scaling factor set, and a decoder that undoes it."""
    from .mini_model import build_decoder

    cfg = replace(cfg, scaling_factor=float(scaling))
    scaled = build_decoder(cfg)
    scaled.set_weights(decoder.get_weights())
    return cfg, scaled


# 3. Text encoder -------------------------------------------------------------------------

def train_text_encoder(cfg: Any, plan: Plan, ids: np.ndarray, sightings: list[Any],
                       t0: float) -> tuple[Any, dict[str, float]]:
    """The text encoder, trained to name each caption's sighting from the mean of its
    context vectors (the same mean the UNet's pooled path reads), returned frozen, and
    how often its heads name each attribute of the last 5% of sightings' captions (not
    trained on). ``ids`` (N, K, 77): K captions of each of the N ``sightings``."""
    import keras
    import tensorflow as tf

    from .judge import HEADS
    from .mini_model import MAX_TOKENS, build_text_encoder

    text_encoder = build_text_encoder(cfg)
    pooled = keras.layers.GlobalAveragePooling1D()
    heads = {k: keras.layers.Dense(n) for k, n in HEADS.items()}
    labels = np.asarray([[s.labels()[k] for k in HEADS] for s in sightings], np.int32)
    n_test = max(1, len(ids) // 20)  # the last 5% of sightings: a check, not trained on
    lr = keras.optimizers.schedules.CosineDecay(0.0, plan.text_steps, alpha=0.05,
                                                warmup_target=plan.text_lr,
                                                warmup_steps=max(1, plan.text_steps // 10))
    opt = keras.optimizers.Adam(lr, clipnorm=1.0)
    positions = tf.constant(np.arange(MAX_TOKENS, dtype=np.int32)[None])

    def logits(tokens: Any) -> list[Any]:
        ctx = text_encoder([tokens, tf.tile(positions, [tf.shape(tokens)[0], 1])],
                           training=True)
        x = pooled(ctx)
        return [heads[k](x) for k in HEADS]

    logits(tf.constant(ids[:1, 0]))  # build the heads
    variables = text_encoder.trainable_variables + [
        v for h in heads.values() for v in h.trainable_variables]

    def step(tokens: Any, y: Any) -> Any:
        with tf.GradientTape() as tape:
            out = logits(tokens)
            loss = tf.add_n([tf.reduce_mean(tf.nn.sparse_softmax_cross_entropy_with_logits(
                y[:, j], o)) for j, o in enumerate(out)])
        opt.apply_gradients(zip(tape.gradient(loss, variables), variables))
        return loss

    step = compiled(step, plan, xla=True)
    order = np.random.default_rng(plan.seed + 6)
    n_train, k = len(ids) - n_test, ids.shape[1]
    for i in range(plan.text_steps):
        idx = order.integers(0, n_train, plan.text_batch)
        loss = step(tf.constant(ids[idx, order.integers(0, k, plan.text_batch)]),
                    tf.constant(labels[idx]))
        if i % 100 == 0 or i == plan.text_steps - 1:
            log(f"text step {i}/{plan.text_steps} loss {float(loss):.3f}", t0)
    test = ids[n_train:].reshape(-1, MAX_TOKENS)
    out = logits(tf.constant(test))
    y = np.repeat(labels[n_train:], k, axis=0)
    acc = {name: round(float(np.mean(np.argmax(o, -1) == y[:, j])), 3)
           for j, (name, o) in enumerate(zip(HEADS, out))}
    log(f"text encoder names the attributes of unseen captions: {acc}", t0)
    text_encoder.trainable = False
    return text_encoder, acc


def encode_contexts(text_encoder: Any, ids: np.ndarray, batch: int = 512,
                    dtype: Any = np.float16) -> np.ndarray:
    """Context vectors (..., 77, D) of every caption in ``ids`` (..., 77), as ``dtype``
    (float16: 0.73 GiB for the recipe's 40,000 captions)."""
    import tensorflow as tf

    from .mini_model import MAX_TOKENS

    flat = ids.reshape(-1, MAX_TOKENS)
    pos = np.arange(MAX_TOKENS, dtype=np.int32)[None]

    @tf.function
    def enc(tokens: Any) -> Any:
        return text_encoder([tokens, tf.tile(pos, [tf.shape(tokens)[0], 1])], training=False)

    parts = [enc(tf.constant(flat[i:i + batch])).numpy().astype(dtype)
             for i in range(0, len(flat), batch)]
    return np.concatenate(parts).reshape(*ids.shape, -1)


# 4. UNet ----------------------------------------------------------------------------------

def sample(text_encoder: Any, unet: Any, decoder: Any, cfg: Any, prompts: list[str],
           seed: int, steps: int = 20, guidance: float = 6.0,
           sampler: str = "dpmpp-2m") -> np.ndarray:
    """Images from the Keras models through the engine's own sampler (training previews)."""
    from parasight_desktop.engine.pipeline import initial_latent, to_uint8
    from parasight_desktop.engine.schedulers import make_scheduler
    from parasight_desktop.engine.timestep import TimestepEmbedding

    n = len(prompts)
    ctx = encode_contexts(text_encoder, tokenize_all(prompts + [EMPTY_PROMPT]),
                          dtype=np.float32)
    context = np.concatenate([ctx[:n], np.repeat(ctx[n:], n, 0)])
    shape = (cfg.latent_size, cfg.latent_size, cfg.latent_channels)
    sched = make_scheduler(sampler)
    sched.set_timesteps(steps)
    latent = np.concatenate([initial_latent(seed + k, shape) for k in range(n)])
    latent = latent * np.float32(sched.init_noise_sigma)
    temb_fn = TimestepEmbedding(dim=cfg.t_dim)
    noise_rng = np.random.default_rng(seed)
    for i, t in enumerate(sched.timesteps):
        x_in = sched.scale_model_input(latent, i)
        eps = np.asarray(unet([np.concatenate([x_in, x_in]), temb_fn(np.full(2 * n, t)), context],
                              training=False))
        eps = eps[n:] + guidance * (eps[:n] - eps[n:])
        noise = noise_rng.standard_normal(latent.shape).astype(np.float32) \
            if sched.needs_noise else None
        latent = sched.step(eps, i, latent, noise=noise)  # elementwise: a batch is fine
        latent = latent.astype(np.float32)
    return np.stack([to_uint8(im) for im in np.asarray(decoder(latent, training=False))])


PREVIEW_PROMPTS = [
    "a big red blob in the snow",
    "a glowing green serpent in the lake",
    "a yellow winged creature in the night sky",
    "a tall black shadow figure on a city street at night",
    "a purple tentacled creature in the desert",
    "an orange orb of light in the forest",
    "a blue blob in the desert",  # held out
    "a red winged creature in the forest",  # held out
]


def save_grid(images: np.ndarray, path: Path, cols: int = 4) -> None:
    from PIL import Image

    rows = int(np.ceil(len(images) / cols))
    h, w = images.shape[1:3]
    grid = np.zeros((rows * h, cols * w, 3), np.uint8)
    for k, im in enumerate(images):
        r, c = divmod(k, cols)
        grid[r * h:(r + 1) * h, c * w:(c + 1) * w] = im
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(grid).save(path)


def train_diffusion(cfg: Any, plan: Plan, latents: np.ndarray, contexts: np.ndarray,
                    masks: np.ndarray, text_encoder: Any, decoder: Any, workdir: Path,
                    t0: float, deadline: float | None = None) -> Any:
    """The UNet, from each image's cached ``contexts`` (N, K, 77, D) of its K captions
    (``text_encoder``, frozen, gives the empty prompt's and draws the previews).
    ``masks``: each creature's coverage on the latent grid; the loss weighs its pixels
    ``1 + plan.foreground_weight`` against the background's 1 (the settings are large,
    easy and learnt first; the creature's shape is what the kind is).
    ``deadline`` (a ``time.time()``) stops early, logged, if the machine is slower than
    planned: a safety net, not part of the recipe."""
    import keras
    import tensorflow as tf

    from parasight_desktop.engine.timestep import TimestepEmbedding

    from .mini_model import build_unet

    unet = build_unet(cfg)
    variables = unet.trainable_variables
    ema_vars = [tf.Variable(v, trainable=False) for v in variables]
    lr = keras.optimizers.schedules.CosineDecay(0.0, plan.diff_steps, alpha=0.1,
                                                warmup_target=plan.diff_lr,
                                                warmup_steps=plan.warmup)
    opt = keras.optimizers.AdamW(lr, weight_decay=0.01, clipnorm=1.0)
    ac = schedule_alphas_cumprod()
    snr = ac / (1.0 - ac)
    weight = tf.constant(np.minimum(snr, plan.min_snr_gamma) / snr, tf.float32)
    sqrt_ac = tf.constant(np.sqrt(ac), tf.float32)
    sqrt_1m = tf.constant(np.sqrt(1.0 - ac), tf.float32)
    temb_table = tf.constant(TimestepEmbedding(dim=cfg.t_dim)(np.arange(len(ac))))
    empty = tf.constant(encode_contexts(text_encoder, tokenize_all([EMPTY_PROMPT]))[0],
                        tf.float32)
    rng = tf.random.Generator.from_seed(plan.seed + 4)
    ema_max = tf.constant(plan.ema, tf.float32)

    def step(z0: Any, context: Any, mask: Any) -> Any:
        b = tf.shape(z0)[0]
        t = rng.uniform([b], 0, len(ac), dtype=tf.int32)
        eps = rng.normal(tf.shape(z0))
        # Offset noise (Guttenberg 2023): a per-channel constant in the noise, so the model
        # learns to move an image's mean (snow, night) instead of keeping it at the start's.
        eps = eps + plan.offset_noise * rng.normal([b, 1, 1, tf.shape(z0)[3]])
        drop = rng.uniform([b, 1, 1]) < plan.cfg_dropout
        context = tf.where(drop, empty[None], tf.cast(context, tf.float32))
        zt = (tf.gather(sqrt_ac, t)[:, None, None, None] * z0
              + tf.gather(sqrt_1m, t)[:, None, None, None] * eps)
        with tf.GradientTape() as tape:
            pred = unet([zt, tf.gather(temb_table, t), context], training=True)
            w = 1.0 + plan.foreground_weight * mask[..., None]
            per = (tf.reduce_mean(w * tf.square(pred - eps), axis=[1, 2, 3])
                   / tf.reduce_mean(w, axis=[1, 2, 3]))
            loss = tf.reduce_mean(per * tf.gather(weight, t))
        grads = tape.gradient(loss, variables)
        opt.apply_gradients(zip(grads, variables))
        it = tf.cast(opt.iterations, tf.float32)
        ema = tf.minimum(ema_max, (1.0 + it) / (10.0 + it))  # warm-up: forget the init
        for e, v in zip(ema_vars, variables):
            e.assign(ema * e + (1.0 - ema) * v)
        return tf.reduce_mean(per)

    step = compiled(step, plan, xla=True)
    def swap_in_ema() -> list[Any]:
        saved = [v.numpy() for v in variables]
        for e, v in zip(ema_vars, variables):
            v.assign(e)
        return saved

    order = np.random.default_rng(plan.seed + 5)
    k = contexts.shape[1]
    losses: list[float] = []
    stopped_at[0] = plan.diff_steps
    for i in range(plan.diff_steps):
        idx = order.integers(0, len(latents), plan.diff_batch)
        ctx = contexts[idx, order.integers(0, k, plan.diff_batch)]
        losses.append(float(step(tf.constant(latents[idx]), tf.constant(ctx),
                                 tf.constant(masks[idx]))))
        if i % 100 == 0 or i == plan.diff_steps - 1:
            log(f"diffusion step {i}/{plan.diff_steps} eps-mse (creature-weighted) "
                f"{np.mean(losses[-100:]):.4f}", t0)
        last = i == plan.diff_steps - 1
        if deadline is not None and time.time() > deadline and not last:
            log(f"DEADLINE: stopping diffusion early at step {i + 1}/{plan.diff_steps}", t0)
            stopped_at[0] = i + 1
            break
        if plan.checkpoint_every and (i + 1) % plan.checkpoint_every == 0 and not last:
            saved = swap_in_ema()
            unet.save_weights(workdir / "unet.weights.h5")
            imgs = sample(text_encoder, unet, decoder, cfg, PREVIEW_PROMPTS, seed=0)
            save_grid(imgs, workdir / f"preview_{i + 1:05d}.png")
            for v, s in zip(variables, saved):
                v.assign(s)
            log(f"checkpoint + preview at step {i + 1}", t0)
    swap_in_ema()
    return unet


# 5. Export --------------------------------------------------------------------------------

def export(cfg: Any, plan: Plan, text_encoder: Any, unet: Any, decoder: Any, out: Path,
           extra: dict[str, Any]) -> Path:
    from .export import export_model_folder

    return export_model_folder(
        cfg, text_encoder, unet, decoder, out,
        name="parasight-mini", display_name="ParaSight Mini",
        precision=dict(plan.precision),
        description=("A small model trained here from procedurally drawn sightings: "
                     "coloured blobs, serpents, winged and tentacled creatures, tall "
                     "shadow figures and orbs of light in six settings, at 128x128."),
        defaults={"steps": 20, "guidance": 3.0, "sampler": "dpmpp-2m"},
        extra=extra,
    )


def run(plan: Plan, cfg: Any, out: Path, workdir: Path, deadline: float | None = None) -> Path:
    import keras

    t0 = time.perf_counter()
    keras.utils.set_random_seed(plan.seed)
    workdir.mkdir(parents=True, exist_ok=True)
    images, ids, sightings, masks = make_data(plan, t0)
    encoder, decoder, _ = train_autoencoder(cfg, plan, images, t0)
    t_ae = time.perf_counter() - t0
    raw = encode_all(encoder, images)
    std = float(raw.std())
    cfg, decoder = with_scaling(cfg, decoder, 1.0 / std)
    latents = raw * np.float32(cfg.scaling_factor)
    recon = np.asarray(decoder(latents[:8], training=False))
    psnr = float(10 * np.log10(4.0 / np.mean((recon - (images[:8] / 127.5 - 1.0)) ** 2)))
    log(f"latents cached: std {std:.3f} -> scaling_factor {cfg.scaling_factor:.4f}, "
        f"recon PSNR {psnr:.1f} dB", t0)
    decoder.save_weights(workdir / "decoder.weights.h5")
    encoder.save_weights(workdir / "encoder.weights.h5")  # training only: for analysis
    (workdir / "config.json").write_text(json.dumps(cfg.to_dict()))
    save_grid(np.concatenate([images[:4], ((np.clip(recon[:4], -1, 1) + 1) * 127.5).astype(
        np.uint8)]), workdir / "autoencoder.png")
    del encoder, raw
    text_encoder, text_acc = train_text_encoder(cfg, plan, ids, sightings, t0)
    text_encoder.save_weights(workdir / "text_encoder.weights.h5")
    contexts = encode_contexts(text_encoder, ids)
    log(f"contexts cached: {contexts.shape}, {contexts.nbytes / 2**30:.2f} GiB", t0)
    del ids
    unet = train_diffusion(cfg, plan, latents, contexts, masks, text_encoder, decoder,
                           workdir, t0, deadline)
    t_train = time.perf_counter() - t0
    imgs = sample(text_encoder, unet, decoder, cfg, PREVIEW_PROMPTS, seed=0)
    save_grid(imgs, workdir / "preview_final.png")
    unet.save_weights(workdir / "unet.weights.h5")
    extra = {"training": {
        "seed": plan.seed, "images": plan.n_images, "autoencoder_steps": plan.ae_steps,
        "text_encoder_steps": plan.text_steps, "text_encoder": "trained first, then frozen",
        "text_encoder_names_unseen_captions": text_acc,
        "diffusion_steps": plan.diff_steps, "diffusion_steps_run": stopped_at[0],
        "diffusion_batch": plan.diff_batch,
        "caption_dropout": plan.cfg_dropout, "min_snr_gamma": plan.min_snr_gamma,
        "offset_noise": plan.offset_noise, "foreground_weight": plan.foreground_weight,
        "unet_pooled_text": cfg.unet_pooled_text,
        "unet_top_self_attention": cfg.unet_top_self_attention, "learning_rate": plan.diff_lr,
        "ema": plan.ema, "recon_psnr_db": round(psnr, 2),
        "autoencoder_seconds": round(t_ae), "train_seconds": round(t_train),
        "held_out_colour_kind": sorted(list(p) for p in HELD_OUT),
    }}
    folder = export(cfg, plan, text_encoder, unet, decoder, out, extra)
    log(f"exported to {folder}", t0)
    return folder


def export_from_workdir(workdir: Path, out: Path, precision: str | None) -> Path:
    """Export the weights a run saved in ``workdir`` again, at one ``precision`` for every
    part (or the recipe's mix when None): to compare precisions with the judge."""
    from .mini_model import MiniConfig, build_decoder, build_text_encoder, build_unet

    cfg = MiniConfig.from_dict(json.loads((workdir / "config.json").read_text()))
    models = {"text_encoder": build_text_encoder(cfg), "unet": build_unet(cfg),
              "decoder": build_decoder(cfg)}
    for part, model in models.items():
        model.load_weights(workdir / f"{part}.weights.h5")
    plan = Plan() if precision is None else replace(
        Plan(), precision=tuple((part, precision) for part in models))
    return export(cfg, plan, models["text_encoder"], models["unet"], models["decoder"], out,
                  {"exported_from": str(workdir), "precision": precision or "recipe"})


def main(argv: list[str] | None = None) -> None:
    from .mini_model import MiniConfig

    p = argparse.ArgumentParser(description="Train ParaSight Mini and export it.")
    p.add_argument("--smoke", action="store_true",
                   help="tiny config, a few steps of every stage, into a temporary folder")
    p.add_argument("--out", type=Path, default=None, help=f"model folder (default {DEFAULT_OUT})")
    p.add_argument("--workdir", type=Path, default=None,
                   help="checkpoints and previews (default: a temporary folder)")
    p.add_argument("--diff-steps", type=int, default=None)
    p.add_argument("--ae-steps", type=int, default=None)
    p.add_argument("--deadline-minutes", type=float, default=None,
                   help="stop diffusion early after this many minutes from the start "
                        "(a safety net on a busy machine; the run then is not the recipe)")
    p.add_argument("--reexport", choices=["fp32", "fp16", "int8", "recipe"], default=None,
                   help="only export the weights saved in --workdir again, at this precision")
    args = p.parse_args(argv)
    if args.reexport:
        if args.workdir is None or args.out is None:
            p.error("--reexport needs --workdir (a finished run's) and --out")
        export_from_workdir(args.workdir, args.out,
                            None if args.reexport == "recipe" else args.reexport)
        return
    plan = Plan.smoke() if args.smoke else Plan()
    if args.diff_steps is not None:
        plan = replace(plan, diff_steps=args.diff_steps)
    if args.ae_steps is not None:
        plan = replace(plan, ae_steps=args.ae_steps)
    cfg = MiniConfig.tiny() if args.smoke else MiniConfig()
    tmp = Path(tempfile.mkdtemp(prefix="parasight-mini-"))
    out = args.out or (tmp / "parasight-mini" if args.smoke else DEFAULT_OUT)
    workdir = args.workdir or tmp / "work"
    try:
        deadline = (time.time() + 60 * args.deadline_minutes
                    if args.deadline_minutes is not None else None)
        run(plan, cfg, out, workdir, deadline)
    finally:
        if args.smoke and args.out is None and args.workdir is None:
            shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
