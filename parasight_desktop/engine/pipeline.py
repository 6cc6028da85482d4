"""Text to image: tokens -> text encoder -> UNet + sampler -> decoder -> pixels.

The pipeline knows nothing of Qt. It takes a :class:`GenerationRequest`, calls
``on_step(step, total, preview)`` after every denoising step with a cheap RGB
approximation of the latent, and checks a ``threading.Event`` before every step and
once more before decoding, so a cancel never pays for a decode (diffusers checks
its interrupt flag but still decodes).

Stages:
  1. tokenize the prompt and the negative prompt (77 CLIP tokens each)
  2. encode them (the unconditional/negative encoding is cached per model)
  3. draw the initial latent from the seed:
     ``numpy.random.default_rng(seed).standard_normal((1, h, w, c))``
  4. denoise: the UNet (its parts in sequence) predicts noise for the conditional
     and unconditional contexts (in one batch, or one after the other where the UNet
     was converted for batch 1); classifier-free guidance mixes them; the sampler
     steps the latent
  5. decode the latent to an image in [-1, 1], then to uint8 as KerasCV does; with the
     fast decoder (TAESD) where the model has one and the request or the model's
     defaults ask for it

Image to image (a start image in the request): stage 3 encodes it with the model's image
encoder instead of drawing pure noise, noises that latent with the seed's noise to the
step the strength selects (diffusers' ``get_timesteps``: the last int(steps x strength)
of the sampler's steps) and stage 4 runs from there. Inpainting (a mask too): after every
step the latent outside the mask is put back to the start image's latent noised to the
next step (the clean latent after the last), and the decoded image is laid over the start
image through the blurred mask (AUTOMATIC1111's way for ordinary checkpoints), so pixels
outside it are the start image's own.

Classifier-free guidance runs only above guidance 1, and only with samplers that use it
(as diffusers does): at guidance 0 or 1, and with LCM, there is no unconditional pass.
Where the model has a preview decoder (TAESD at a quarter of the pixels), ``on_step``
gets a decoded picture instead of the linear approximation.
"""

from __future__ import annotations

import secrets
import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import numpy as np
from numpy.typing import NDArray

from .errors import CancelledError, InputError, ModelError
from .inpaint import blur_mask, latent_mask, overlay
from .manifest import DecoderSpec, EncoderSpec, ModelManifest
from .memory import stage_plan
from .runner import TFLiteModel, reload_settings
from .schedulers import Scheduler, make_scheduler
from .store import ModelStore
from .timestep import GuidanceEmbedding
from .tokenizer import END_TOKEN, MAX_TOKENS, TokenizedPrompt, Tokenizer
from .types import (
    DEFAULT_STRENGTH,
    MAX_SEED,
    GenerationRequest,
    GenerationResult,
    GenerationSettings,
    image_sha256,
    steps_to_run,
)

OnStep = Callable[[int, int, NDArray[np.uint8] | None], None]
_POSITIONS = np.arange(MAX_TOKENS, dtype=np.int32)[None, :]
_CONTEXT_CACHE = 8
def latent_preview(latent: NDArray[np.float32], manifest: ModelManifest) -> NDArray[np.uint8]:
    """A fixed linear map from the latent channels to RGB: no decoder run needed."""
    factors = np.asarray(manifest.preview_factors, dtype=np.float32)
    bias = np.asarray(manifest.preview_bias, dtype=np.float32)
    rgb = latent[0] @ factors + bias
    out: NDArray[np.uint8] = np.clip((rgb + 1.0) * 127.5, 0, 255).astype(np.uint8)
    return out


def to_uint8(decoded: NDArray[np.float32]) -> NDArray[np.uint8]:
    """[-1, 1] -> [0, 255] exactly as KerasCV's ``generate_image`` does (clip, truncate)."""
    pixels = ((decoded + 1.0) / 2.0) * 255.0
    out: NDArray[np.uint8] = np.clip(pixels, 0, 255).astype(np.uint8)
    return out


def initial_latent(seed: int, shape: tuple[int, int, int]) -> NDArray[np.float32]:
    """The seed's starting noise, NHWC with batch 1: the same on every machine."""
    return np.random.default_rng(seed).standard_normal((1, *shape)).astype(np.float32)


def to_unit(pixels: NDArray[np.uint8]) -> NDArray[np.float32]:
    """uint8 RGB (h, w, 3) -> (1, h, w, 3) in [-1, 1], as diffusers' image processor does."""
    return (pixels.astype(np.float32)[None] / np.float32(127.5) - np.float32(1.0))


def run_unet_parts(manifest: ModelManifest, parts: list[TFLiteModel],
                   latent: NDArray[np.float32], temb: NDArray[np.float32],
                   context: NDArray[np.float32]) -> NDArray[np.float32]:
    """One UNet evaluation through the model's converted parts, in order: each part takes
    the inputs its manifest entry names from the three inputs and earlier parts' outputs."""
    env: dict[str, NDArray[Any]] = {
        "latent": latent, "timestep_embedding": temb, "context": context}
    for spec, model in zip(manifest.unet_parts, parts):
        env.update(model(**{name: env[name] for name in spec.inputs}))
    return np.asarray(env[manifest.unet_output], dtype=np.float32)


class Pipeline:
    """One loaded model. Call it from one thread only (the engine's worker)."""

    def __init__(self, manifest: ModelManifest, threads: int | None = None,
                 tokenizer: Tokenizer | None = None) -> None:
        start = time.perf_counter()
        self.manifest = manifest
        self.tokenizer = tokenizer or Tokenizer()
        self._threads = threads
        #: How the UNet and the full decoder run: where they are loaded again for every
        #: image (below), and packing weights is slow, they keep XNNPACK's packed weights
        #: in a cache (runner.reload_settings chooses per machine)
        self.reload_cpu = reload_settings(manifest.folder, manifest.extra.get("precision"))
        self.text_encoder = TFLiteModel(manifest.path(manifest.text_encoder), threads)
        self.unet_parts = self._load_unet()
        #: TAESD, when the model has it: small (about 1 MB at int8), so always resident; the
        #: full decoder (a 1 GiB arena at 512x512) is then loaded only for a full decode.
        self.fast_decoder = self._load_extra(manifest.fast_decoder)
        self.decoder: TFLiteModel | None = (
            None if self.fast_decoder is not None else self._load_decoder())
        self.preview_decoder = self._load_extra(manifest.preview_decoder)
        self.guidance_embedding = self._load_guidance(manifest)
        self._encoders: dict[str, TFLiteModel] = {}  # loaded on first use, by file
        large, keep, _ = stage_plan(manifest)
        #: A large model (Stable Diffusion): its image encoder, when used, runs with the
        #: UNet let go (a large arena of its own at 512x512).
        self.large = large
        #: Keep only one of the UNet and the decoder in memory at a time: the UNet is let
        #: go before decoding and loaded again for the next image, unless both fit
        #: (:func:`memory.keep_stages_loaded`); small models keep everything.
        self.swap_stages = not keep
        self._contexts: OrderedDict[str, NDArray[np.float32]] = OrderedDict()
        #: The batch the UNet was converted for: None where any batch runs. A fixed
        #: batch lets the interpreter plan every tensor ahead (no shape operators in
        #: the graph; see docs/BENCHMARKS.md), so the pipeline follows it.
        self.unet_batch = self._unet_batch()
        #: Run the conditional and unconditional passes as one batch of two (measured
        #: faster for ParaSight Mini in benchmarks/bench_pipeline.py); False runs them
        #: one after the other (a UNet converted for batch 1, lower peak memory).
        self.batch_guidance = self.unet_batch in (None, 2)
        #: Skip the unconditional pass in the last ``cond_only_tail`` fraction of the
        #: steps (0 = never): a speed option that changes the image, off by default.
        self.cond_only_tail = 0.0
        #: The final latent of the last generation, before decoding (parity checks).
        self.last_latent: NDArray[np.float32] | None = None
        self._check_interfaces()
        self.load_seconds = time.perf_counter() - start

    def _load_unet(self) -> list[TFLiteModel]:
        return [TFLiteModel(self.manifest.path(p.file), self._threads, self.reload_cpu)
                for p in self.manifest.unet_parts]

    def _ensure_unet(self) -> None:
        if not self.unet_parts:
            self.unet_parts = self._load_unet()

    def _load_decoder(self) -> TFLiteModel:
        return TFLiteModel(self.manifest.path(self.manifest.decoder), self._threads,
                           self.reload_cpu)

    @staticmethod
    def _load_guidance(manifest: ModelManifest) -> GuidanceEmbedding | None:
        if manifest.guidance_embedding is None:
            return None
        path = manifest.path(manifest.guidance_embedding)
        try:
            projection = np.load(path, allow_pickle=False)  # data only, never code
        except (OSError, ValueError) as exc:
            raise ModelError(f"{path} could not be read ({exc}); reinstall the model.") from exc
        if projection.ndim != 2 or projection.shape[0] != manifest.timestep_embedding.dim:
            raise ModelError(f"{path} has shape {projection.shape}; it must be "
                             f"({manifest.timestep_embedding.dim}, dim). Reinstall the model.")
        return GuidanceEmbedding(projection.astype(np.float32))

    def _load_extra(self, spec: DecoderSpec | None) -> TFLiteModel | None:
        return None if spec is None else TFLiteModel(self.manifest.path(spec.file),
                                                     self._threads)

    def preview(self, latent: NDArray[np.float32]) -> NDArray[np.uint8]:
        """What ``on_step`` shows: the preview decoder's picture, or the linear one."""
        spec = self.manifest.preview_decoder
        if self.preview_decoder is None or spec is None:
            return latent_preview(latent, self.manifest)
        h, w, c = latent.shape[1:]
        pooled = latent.reshape(1, h // 2, 2, w // 2, 2, c).mean(axis=(2, 4))
        out = self.preview_decoder(**{spec.input: pooled.astype(np.float32)})
        return to_uint8(np.asarray(out[spec.output])[0])

    # 3. the start image's latent ------------------------------------------------------
    def encoder_spec(self, fast: bool) -> EncoderSpec | None:
        """The encoder that pairs with the decoder in use: TAESD's beside TAESD, else the
        model's own (either where only one exists); None where the model has neither."""
        m = self.manifest
        if fast and m.fast_encoder is not None:
            return m.fast_encoder
        return m.image_encoder or m.fast_encoder

    def encode_image(self, pixels: NDArray[np.uint8], fast: bool = False) -> NDArray[np.float32]:
        """The UNet's latent (scaled) of a start image at the model's size."""
        spec = self.encoder_spec(fast)
        if spec is None:
            raise InputError(self._no_encoder_message())
        big = self.large and spec.name != "TAESD"
        if big:
            # Stable Diffusion's encoder needs a large arena at 512x512: keep one stage in
            # memory at a time (the UNet is loaded again for denoising, as after a decode;
            # a decoder kept loaded goes too, and comes back for the decode).
            self.unet_parts = []
            self.decoder = None
        model = self._encoders.get(spec.file)
        if model is None:
            model = TFLiteModel(self.manifest.path(spec.file), self._threads)
        out = model(**{spec.input: to_unit(pixels)})
        if big:
            self._encoders.pop(spec.file, None)
        else:
            self._encoders[spec.file] = model
        return np.asarray(out[spec.output], dtype=np.float32)

    def _no_encoder_message(self) -> str:
        return (f"{self.manifest.display_name} has no image encoder, so it cannot start from "
                "an image: add TAESD to it (parasight models add-taesd), or convert it again "
                "with its image encoder.")

    def _ensure_decoder(self) -> TFLiteModel:
        if self.decoder is None:
            self.decoder = self._load_decoder()
        return self.decoder

    def _unet_batch(self) -> int | None:
        first = self.unet_parts[0]
        name = "latent" if "latent" in first.inputs else next(iter(first.inputs))
        batch = first.input_shape(name)[0]
        return None if batch == -1 else batch

    def _unet(self, latent: NDArray[np.float32], temb: NDArray[np.float32],
              context: NDArray[np.float32]) -> NDArray[np.float32]:
        """One UNet evaluation at any batch, split or padded to the converted batch."""
        fixed, n = self.unet_batch, latent.shape[0]
        if fixed is None or fixed == n:
            return self.predict_noise(latent, temb, context)
        if n > fixed:
            return np.concatenate([self._unet(latent[i:i + fixed], temb[i:i + fixed],
                                              context[i:i + fixed]) for i in range(0, n, fixed)])
        pad = fixed - n  # a batch-2 UNet asked for one image: repeat it (rare: guidance 1)
        return self.predict_noise(*(np.concatenate([a] + [a[-1:]] * pad)
                                    for a in (latent, temb, context)))[:n]

    def _check_interfaces(self) -> None:
        m = self.manifest
        provided = {"latent", "timestep_embedding", "context"}
        for spec, model in zip(m.unet_parts, self.unet_parts):
            if set(spec.inputs) != set(model.inputs):
                raise ModelError(
                    f"{spec.file} takes {sorted(model.inputs)} but the manifest says "
                    f"{sorted(spec.inputs)}: the model folder is inconsistent; reconvert it."
                )
            if not set(spec.inputs) <= provided:
                raise ModelError(
                    f"{spec.file} needs {sorted(set(spec.inputs) - provided)}, which no earlier "
                    "part produces: the model folder is inconsistent; reconvert it."
                )
            provided |= set(spec.outputs)
            if "timestep_embedding" in model.inputs:
                dim = model.input_shape("timestep_embedding")[-1]
                if dim != m.timestep_embedding.dim:
                    raise ModelError(
                        f"{spec.file} takes a {dim}-wide timestep embedding but the manifest "
                        f"says {m.timestep_embedding.dim}; reconvert the model."
                    )
        if m.unet_output not in provided:
            raise ModelError(f"No UNet part produces '{m.unet_output}'; reconvert the model.")

    # 2. text encoding -------------------------------------------------------------
    def encode(self, tokens: TokenizedPrompt) -> NDArray[np.float32]:
        ids = np.asarray([tokens.ids], dtype=np.int32)
        if self.manifest.pad_token != END_TOKEN:
            # OpenCLIP (SD 2.x) pads after the end token with 0, CLIP with the end token.
            ids[0, tokens.n_tokens + 2:] = self.manifest.pad_token
        out = self.text_encoder(tokens=ids, positions=_POSITIONS)
        return np.asarray(next(iter(out.values())), dtype=np.float32)

    def encode_cached(self, text: str) -> NDArray[np.float32]:
        """Encodings of negative prompts ("" is the unconditional one), kept per model."""
        if text in self._contexts:
            self._contexts.move_to_end(text)
            return self._contexts[text]
        ctx = self.encode(self.tokenizer.encode(text))
        self._contexts[text] = ctx
        while len(self._contexts) > _CONTEXT_CACHE:
            self._contexts.popitem(last=False)
        return ctx

    # 4. one UNet evaluation, parts routed by tensor name -----------------------------
    def predict_noise(self, latent: NDArray[np.float32], temb: NDArray[np.float32],
                      context: NDArray[np.float32]) -> NDArray[np.float32]:
        self._ensure_unet()
        return run_unet_parts(self.manifest, self.unet_parts, latent, temb, context)

    def resolve(self, request: GenerationRequest) -> GenerationSettings:
        """Fill the model's defaults and draw a seed where the request leaves them open."""
        request.validate()
        d = self.manifest.defaults
        fast = request.fast_decode if request.fast_decode is not None else d.fast_decode
        if fast and self.manifest.fast_decoder is None:
            if request.fast_decode:
                raise InputError(f"{self.manifest.display_name} has no fast decoder: add TAESD "
                                 "to it (parasight models add-taesd) or decode in full.")
            fast = False
        steps = request.steps if request.steps is not None else d.steps
        strength = None
        if request.init_image is not None:
            strength = float(request.strength if request.strength is not None
                             else DEFAULT_STRENGTH)
            self._check_start(request, steps, strength)
        return GenerationSettings(
            prompt=request.prompt.strip(),
            negative_prompt=request.negative_prompt.strip(),
            seed=request.seed if request.seed is not None else secrets.randbelow(MAX_SEED + 1),
            steps=steps,
            guidance=float(request.guidance if request.guidance is not None else d.guidance),
            sampler=request.sampler or d.sampler,
            width=self.manifest.width,
            height=self.manifest.height,
            model_name=self.manifest.name,
            model_hash=self.manifest.public_hash,
            lora_hashes=self.manifest.lora_hashes,
            decoder=self.manifest.fast_decoder.name if fast and self.manifest.fast_decoder
            else "",
            strength=strength,
            mask_blur=request.mask_blur if request.mask is not None else None,
            init_image_sha256=(image_sha256(request.init_image)
                               if request.init_image is not None else ""),
        )

    def _check_start(self, request: GenerationRequest, steps: int, strength: float) -> None:
        m, img = self.manifest, request.init_image
        assert img is not None
        if not m.has_image_encoder:
            raise InputError(self._no_encoder_message())
        if img.shape[:2] != (m.height, m.width):
            raise InputError(f"The start image is {img.shape[1]}x{img.shape[0]} but "
                             f"{m.display_name} makes {m.width}x{m.height} images: fit it to "
                             "that size first.")
        if steps_to_run(steps, strength) < 1:
            raise InputError(f"At strength {strength:g}, {steps} step(s) run none of the "
                             f"sampler's steps: raise the steps to at least "
                             f"{int(np.ceil(1.0 / strength - 1e-9))} or the strength.")

    def generate(self, request: GenerationRequest, on_step: OnStep | None = None,
                 cancel: threading.Event | None = None) -> GenerationResult:
        settings = self.resolve(request)
        timings: dict[str, float] = {}
        t_all = time.perf_counter()

        def check_cancel() -> None:
            if cancel is not None and cancel.is_set():
                raise CancelledError("Generation cancelled; nothing was saved.")

        # 1. tokenize
        t0 = time.perf_counter()
        tokens = self.tokenizer.encode(settings.prompt)
        timings["tokenize"] = time.perf_counter() - t0
        check_cancel()

        # 2. encode text (the unconditional text only where guidance mixes it in)
        scheduler: Scheduler = make_scheduler(settings.sampler, self.manifest.scheduler)
        scheduler.set_timesteps(settings.steps)
        t0 = time.perf_counter()
        cond = self.encode(tokens)
        use_uncond = scheduler.uses_guidance and settings.guidance > 1.0
        uncond = self.encode_cached(settings.negative_prompt) if use_uncond else None
        timings["text_encoder"] = time.perf_counter() - t0

        # 3. initial latent: the seed's noise, or the start image's latent noised with it
        noise = initial_latent(settings.seed, self.manifest.latent_shape)
        total = len(scheduler.timesteps)
        first, x0_start, keep, pixel_mask = 0, None, None, None
        if request.init_image is not None:
            t0 = time.perf_counter()
            x0_start = self.encode_image(request.init_image, fast=bool(settings.decoder))
            timings["image_encoder"] = time.perf_counter() - t0
            first = total - settings.steps_run
            latent = scheduler.add_noise(x0_start, noise, first)
            if request.mask is not None:
                pixel_mask = blur_mask(request.mask, request.mask_blur)
                keep = latent_mask(pixel_mask, self.manifest.latent_shape[:2])
        else:
            latent = (noise * np.float32(scheduler.init_noise_sigma)).astype(np.float32)
        noise_rng = np.random.default_rng([settings.seed, 1])  # ancestral samplers only
        context = np.concatenate([cond, uncond]) if uncond is not None else cond
        check_cancel()

        # 4. denoise
        t0 = time.perf_counter()
        g = np.float32(settings.guidance)
        g_emb = (self.guidance_embedding(settings.guidance)
                 if self.guidance_embedding is not None else np.float32(0.0))
        for i in range(first, total):
            t = scheduler.timesteps[i]
            check_cancel()
            x_in = scheduler.scale_model_input(latent, i).astype(np.float32)
            temb = self.manifest.timestep_embedding(np.full(context.shape[0], t)) + g_emb
            guided = uncond is not None and i < total - round(self.cond_only_tail * total)
            if not guided:
                eps = self._unet(x_in, temb[:1], context[:1])
            elif self.batch_guidance:
                eps = self._unet(np.concatenate([x_in, x_in]), temb, context)
            else:
                eps = np.concatenate([self._unet(x_in, temb[k:k + 1], context[k:k + 1])
                                      for k in (0, 1)])
            if guided:
                eps = eps[1:2] + g * (eps[0:1] - eps[1:2])
            fresh = (noise_rng.standard_normal(latent.shape).astype(np.float32)
                     if scheduler.needs_noise else None)
            latent = scheduler.step(eps, i, latent, noise=fresh).astype(np.float32)
            if keep is not None and x0_start is not None:
                # outside the mask: the start image's latent at the next step's noise level
                known = scheduler.add_noise(x0_start, noise, i + 1)
                latent = (known * (1.0 - keep) + latent * keep).astype(np.float32)
            if on_step is not None:
                on_step(i + 1 - first, total - first, self.preview(latent))
        timings["unet"] = time.perf_counter() - t0
        timings["unet_per_step"] = timings["unet"] / max(1, total - first)

        # 5. decode, unless cancelled
        self.last_latent = latent
        fast = self.fast_decoder if settings.decoder else None
        if self.swap_stages and fast is None:
            self.unet_parts = []  # its interpreters go; the next image loads them again
        check_cancel()
        t0 = time.perf_counter()
        if fast is not None and self.manifest.fast_decoder is not None:
            # TAESD is small: the UNet stays loaded for the next image
            spec = self.manifest.fast_decoder
            image = to_uint8(np.asarray(fast(**{spec.input: latent})[spec.output])[0])
        else:
            decoder = self._ensure_decoder()
            decoded = decoder(**{self.manifest.decoder_input: latent})
            if self.swap_stages:
                self.decoder = None
            image = to_uint8(np.asarray(decoded[self.manifest.decoder_output])[0])
        timings["decoder"] = time.perf_counter() - t0
        if pixel_mask is not None and request.init_image is not None:
            image = overlay(request.init_image, image, pixel_mask)
        timings["total"] = time.perf_counter() - t_all
        return GenerationResult(
            image=image, settings=settings, timings=timings, tokens_dropped=tokens.dropped,
            created_at=datetime.now(UTC).isoformat(timespec="seconds"),
        )


class Engine:
    """The model store plus the one loaded pipeline. Used from the worker thread only."""

    def __init__(self, store: ModelStore | None = None, threads: int | None = None) -> None:
        self.store = store or ModelStore()
        self.threads = threads
        self.tokenizer = Tokenizer()
        self._pipeline: Pipeline | None = None
        self._loaded_key: tuple[str, str] | None = None

    def pipeline(self, model: str | None = None) -> Pipeline:
        """Load (or reuse) the named model, verifying its files first."""
        name = model or self.store.default_model()
        manifest = self.store.load(name)  # sizes every time; sha256 once per file version
        key = (name, manifest.model_hash)
        if self._pipeline is None or self._loaded_key != key:
            self._pipeline = None  # free the old interpreters before loading new ones
            self._pipeline = Pipeline(manifest, self.threads, self.tokenizer)
            self._loaded_key = key
        return self._pipeline

    def generate(self, request: GenerationRequest, on_step: OnStep | None = None,
                 cancel: threading.Event | None = None) -> GenerationResult:
        request.validate()
        return self.pipeline(request.model).generate(request, on_step, cancel)

    def tokenize(self, text: str) -> TokenizedPrompt:
        return self.tokenizer.encode(text)
