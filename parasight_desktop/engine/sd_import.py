"""Bring your own model: a Stable Diffusion 1.x / 2.x checkpoint (a single ``.safetensors``
file in the LDM layout, or a diffusers folder), an optional separate VAE and LoRAs ->
KerasCV's architectures -> the converter the project already has.

1. :func:`inspect_checkpoint` reads headers only: which family, which layout, what is
   refused (pickles, SDXL/SD3/Flux, inpainting, v-prediction, damaged files).
2. The ``weights`` worker job (a child process, TensorFlow imported there only) reads the
   tensors one by one under their diffusers names (:mod:`.checkpoint`), merges the LoRAs
   (:mod:`.lora`), sets every weight of keras-cv's TextEncoder(V2), DiffusionModel(V2),
   Decoder and, where the checkpoint has the VAE's encoder, ImageEncoder with its shape
   checked (:mod:`.keras_map`) and writes them as KerasCV's HDF5 files in the work folder.
3. :func:`.sd_convert.convert_stable_diffusion` turns those into TFLite parts, resumably.
"""

from __future__ import annotations

import json
import shutil
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .checkpoint import ENCODER_PREFIXES, GUIDANCE_PROJECTION

if TYPE_CHECKING:
    from .checkpoint import Checkpoint
    from .lora import LoraFile
    from .sd_convert import ConvertProgress, PartResult


@dataclass(frozen=True)
class LoraSpec:
    """A LoRA file and the strength it is merged with (AUTOMATIC1111's ``<lora:name:1.0>``)."""

    path: Path
    strength: float = 1.0

    @property
    def name(self) -> str:
        return Path(self.path).stem

    @classmethod
    def parse(cls, text: str) -> LoraSpec:
        """``FILE`` or ``FILE:STRENGTH`` (the CLI's ``--lora``)."""
        from .errors import InputError

        path, sep, strength = text.rpartition(":")
        if sep and path and not strength.startswith(("\\", "/")):
            try:
                return cls(Path(path), float(strength))
            except ValueError:
                raise InputError(f"--lora {text}: the strength after ':' must be a number "
                                 "(like 0.8).") from None
        return cls(Path(text), 1.0)


#: What ``--prediction`` accepts (only SD 2.x files need it; see :mod:`.checkpoint`).
PREDICTIONS = ("epsilon", "v")
#: The settings few-step models are made for (diffusers' and the model cards' advice):
#: LCM (LCM-LoRA or an LCM-distilled model) takes 4 steps without an unconditional pass;
#: SD-Turbo one step at guidance 0. Both decode with TAESD where the model has it.
FEW_STEP_DEFAULTS: dict[str, dict[str, Any]] = {
    "lcm": {"steps": 4, "guidance": 1.0, "sampler": "lcm", "fast_decode": True},
    "turbo": {"steps": 1, "guidance": 0.0, "sampler": "euler-trailing", "fast_decode": True},
    # LCM-distilled checkpoints (LCM_Dreamshaper_v7) take guidance through an embedding:
    # no unconditional pass, and their cards advise 8
    "lcm-distilled": {"steps": 4, "guidance": 8.0, "sampler": "lcm", "fast_decode": True},
}
#: LoRAs known by their sha256 to make a model few-step (latent-consistency/lcm-lora-sdv1-5).
FEW_STEP_LORAS = {
    "8f90d840e075ff588a58e22c6586e2ae9a6f7922996ee6649a7f01072333afe4": "lcm",
}
#: keras-cv's file names for the three parts, as the converter reads them.
H5_FILES = {"text_encoder": "text_encoder.h5", "diffusion_model": "diffusion_model.h5",
            "decoder": "decoder.h5"}
#: The image encoder's, written when the checkpoint has the VAE's encoder.
ENCODER_H5 = "vae_encoder.h5"
#: Bytes per parameter of a converted model, by precision (int8 keeps norms and biases
#: in fp32), plus the fp32 HDF5 files the import writes on the way.
_BYTES_PER_PARAM = {"fp32": 4.0, "fp16": 2.0, "int8": 1.1}


@dataclass(frozen=True)
class ImportPlan:
    """What an import will do, known from the files' headers before any work starts."""

    source: Path
    layout: str  # "ldm" (single file) or "diffusers" (folder)
    family: str  # "sd1" or "sd2"
    family_label: str
    params: int
    has_ema: bool
    ignored: dict[str, int]
    vae: Path | None
    loras: tuple[tuple[LoraSpec, int], ...]  # each LoRA with the modules it changes
    prediction: str | None
    guidance_embedding: bool = False  # an LCM-distilled UNet (guidance as an input)
    image_encoder: bool = False  # the VAE's encoder is there (image to image)

    @property
    def suggested_name(self) -> str:
        return suggest_name(self.source)

    def disk_needed(self, precision: str) -> int:
        return int(self.params * (4.0 + _BYTES_PER_PARAM[precision]))


def check_model_name(name: str) -> None:
    """Refuse a name that cannot be a model folder (the CLI's --name, the dialog's field)."""
    from .errors import InputError

    if not name or name.startswith(".") or not name.replace("-", "").replace(
            "_", "").replace(".", "").isalnum():
        raise InputError(f"'{name}' is not a usable model name: use letters, digits, '-', "
                         "'_' and '.'.")


def suggest_name(path: Path) -> str:
    """A model name from a file or folder name: lower case, letters, digits, '-', '.'."""
    stem = Path(path).name
    for suffix in (".safetensors",):
        stem = stem[: -len(suffix)] if stem.lower().endswith(suffix) else stem
    name = "".join(c if c.isalnum() or c in "-." else "-" for c in stem.lower())
    while "--" in name:
        name = name.replace("--", "-")
    return name.strip("-.") or "imported-model"


def _open(source: Path, vae: Path | None, loras: tuple[LoraSpec, ...] | list[LoraSpec],
          prediction: str | None) -> tuple[Checkpoint, list[LoraFile]]:
    from .checkpoint import apply_vae, open_checkpoint
    from .errors import InputError
    from .lora import read_lora

    if prediction is not None and prediction not in PREDICTIONS:
        raise InputError(f"Unknown prediction type '{prediction}': use epsilon or v.")
    ck = open_checkpoint(source, prediction=prediction)
    if vae is not None:
        if not Path(vae).is_file():
            raise InputError(f"--vae {vae}: no such file.")
        apply_vae(ck, Path(vae))
    files = []
    for spec in loras:
        if not Path(spec.path).is_file():
            raise InputError(f"LoRA {spec.path}: no such file.")
        files.append(read_lora(Path(spec.path), spec.strength, ck))
    return ck, files


def inspect_checkpoint(source: Path, *, vae: Path | None = None,
                       loras: tuple[LoraSpec, ...] | list[LoraSpec] = (),
                       prediction: str | None = None) -> ImportPlan:
    """Read headers only (fast, no TensorFlow): what the import would do, or the
    :class:`~.errors.InputError` sentence saying why it cannot be imported."""
    ck, files = _open(Path(source), vae, loras, prediction)
    return ImportPlan(
        source=Path(source), layout=ck.layout, family=ck.family,
        family_label=ck.family_label, params=ck.n_params(), has_ema=ck.has_ema,
        ignored=dict(ck.ignored), vae=Path(vae) if vae else None,
        loras=tuple((spec, len(f.modules)) for spec, f in zip(loras, files, strict=True)),
        prediction=prediction, guidance_embedding=GUIDANCE_PROJECTION in ck.tensors,
        image_encoder=any(k.startswith(ENCODER_PREFIXES) for k in ck.tensors))


def a1111_lora_hash(path: Path) -> str:
    """AUTOMATIC1111's hash of a LoRA (``Lora hashes``): sha256 of a .safetensors file's
    data after its header (its "addnet" hash), first 12 hex digits."""
    import hashlib
    import struct

    h = hashlib.sha256()
    with open(path, "rb") as f:
        (n,) = struct.unpack("<Q", f.read(8))
        f.seek(8 + n)
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()[:12]


def identity(source: Path, vae: Path | None, loras: tuple[LoraSpec, ...] | list[LoraSpec],
             sha256: Callable[[Path], str]) -> dict[str, Any]:
    """What the manifest records of the files a model was made from, and what the PNG's
    ``Model hash`` / ``Lora hashes`` say (AUTOMATIC1111: the checkpoint file's sha256, first
    10 hex digits; each LoRA's data hash, first 12)."""
    source = Path(source)
    if source.is_dir():
        files = {str(p.relative_to(source)): sha256(p) for p in sorted(source.rglob(
            "*.safetensors")) if ".fp16." not in p.name or not p.with_name(
            p.name.replace(".fp16", "")).exists()}
        # A folder has no one file to hash: the UNet's file stands for it.
        main = next((v for k, v in files.items() if k.startswith("unet")), "")
    else:
        files = {source.name: sha256(source)}
        main = files[source.name]
    record: dict[str, Any] = {"source": str(source), "files": files, "sha256": main,
                              "a1111_hash": main[:10]}
    if vae is not None:
        record["vae"] = {"file": str(vae), "sha256": sha256(Path(vae))}
    record["loras"] = [{"name": s.name, "file": str(s.path), "strength": s.strength,
                        "sha256": sha256(Path(s.path)), "a1111_hash": a1111_lora_hash(s.path)}
                       for s in loras]
    return record


# --------------------------------------------------------------------------------------
# Worker side: the "weights" job, in the conversion worker process (TensorFlow there)
# --------------------------------------------------------------------------------------

def weights_worker(job: dict[str, Any]) -> PartResult:
    """Read the checkpoint (+ VAE, + LoRAs), set keras-cv's three models (four with the
    VAE's encoder), save them as HDF5 files where the converter reads them."""
    import gc

    import h5py
    from keras.src.legacy.saving import legacy_h5_format

    from .fileio import sha256_file
    from .keras_map import set_decoder, set_image_encoder, set_text_encoder, set_unet
    from .lora import MergedWeights
    from .sd_convert import PartResult, _cheap_init, _peak_rss, build_keras

    start = time.perf_counter()
    ck, loras = _open(Path(job["source"]), Path(job["vae"]) if job.get("vae") else None,
                      [LoraSpec(Path(p), float(s)) for p, s in job["loras"]],
                      job.get("prediction"))
    weights = MergedWeights(ck, loras)
    out = Path(job["work_dir"])
    vae = ck.component("vae")
    encoder = [n for n in vae if n.startswith(ENCODER_PREFIXES)]
    jobs = [("text_encoder", list(ck.component("text_encoder")), set_text_encoder),
            ("diffusion_model", [n for n in ck.component("unet") if n != GUIDANCE_PROJECTION],
             set_unet),
            ("decoder", [n for n in vae if n not in encoder], set_decoder)]
    if encoder:  # a checkpoint without the encoder imports for text to image only
        jobs.append(("image_encoder", encoder, set_image_encoder))
    files = {**H5_FILES, **({"image_encoder": ENCODER_H5} if encoder else {})}
    n_set = 0
    for role, names, setter in jobs:
        with _cheap_init():
            model = build_keras(role, None, int(job["height"]), int(job["width"]),
                                family=ck.family)
        n_set += setter(model, weights, names)
        path = out / files[role]
        part = path.with_suffix(".h5.part")
        with h5py.File(part, "w") as f:
            legacy_h5_format.save_weights_to_hdf5_group(f, model)
        part.replace(path)
        del model
        gc.collect()
    digest = sha256_file(out / H5_FILES["diffusion_model"])
    return PartResult(job="weights", file=H5_FILES["diffusion_model"], inputs=[],
                      outputs=list(files.values()), params=ck.n_params(),
                      size=sum((out / f).stat().st_size for f in files.values()),
                      sha256=digest, seconds=time.perf_counter() - start,
                      peak_rss_bytes=_peak_rss(), psnr_db=None, max_abs_error=None,
                      n_parts=n_set)


# --------------------------------------------------------------------------------------
# Parent side
# --------------------------------------------------------------------------------------

def import_checkpoint(
    source: Path,
    out_dir: Path,
    *,
    name: str,
    display_name: str | None = None,
    precision: str = "fp32",
    vae: Path | None = None,
    loras: tuple[LoraSpec, ...] | list[LoraSpec] = (),
    prediction: str | None = None,
    height: int = 512,
    width: int = 512,
    few_step: str | None = None,
    taesd: Path | None = None,
    on_progress: Callable[[ConvertProgress], None] | None = None,
    cancel: threading.Event | None = None,
) -> Path:
    """Import ``source`` (a file or a diffusers folder) into ``out_dir``; resumable.

    Stages, each reported through ``on_progress`` as a job of the conversion: ``hash``
    (the source files' sha256, for the manifest and the PNG's Model hash), ``weights``
    (the checkpoint onto keras-cv's models, in a worker process), then the converter's
    own jobs (text encoder, UNet parts, decoder, and the image encoder where the
    checkpoint has the VAE's encoder). An interrupted import resumes at the
    stage and part where it stopped; nothing is installed until everything is done.

    ``few_step`` ("lcm", "turbo"): the model's default settings become those of
    :data:`FEW_STEP_DEFAULTS`; a LoRA in :data:`FEW_STEP_LORAS` (the LCM-LoRA) sets it by
    itself. ``taesd``: TAESD's decoder file (its encoder is taken from beside it), converted
    and added as the fast decoder before the model is installed.
    """
    from . import sd_convert
    from .errors import InputError
    from .fileio import atomic_write_bytes, sha256_file

    sd_convert.check_conversion_possible()
    source, out_dir = Path(source), Path(out_dir)
    plan = inspect_checkpoint(source, vae=vae, loras=loras, prediction=prediction)
    if precision not in _BYTES_PER_PARAM:
        raise InputError(f"Unknown precision '{precision}': choose fp32, fp16 or int8.")
    if few_step is not None and few_step not in FEW_STEP_DEFAULTS:
        raise InputError(f"Unknown few-step kind '{few_step}': use lcm or turbo.")
    if taesd is not None and not Path(taesd).is_file():
        raise InputError(f"TAESD decoder {taesd}: no such file.")
    stage = out_dir.with_name(out_dir.name + ".converting")
    work = stage / ".work"
    out_dir.parent.mkdir(parents=True, exist_ok=True)
    need = plan.disk_needed(precision)
    free = shutil.disk_usage(out_dir.parent).free
    if free < need:
        raise InputError(
            f"Importing {source.name} at {precision} needs about {need / 1e9:.1f} GB free in "
            f"{out_dir.parent}; there are {free / 1e9:.1f} GB. Free some space and try again.")
    work.mkdir(parents=True, exist_ok=True)
    state_file = work / "import-state.json"
    key = {"source": str(source.resolve()), "vae": str(vae) if vae else None,
           "loras": [[str(Path(s.path).resolve()), s.strength] for s in loras],
           "prediction": prediction, "height": height, "width": width,
           "sizes": [_size(source), _size(vae) if vae else 0,
                     *[_size(Path(s.path)) for s in loras]]}
    state = sd_convert.load_state(state_file, key)

    def save_state() -> None:
        atomic_write_bytes(state_file, json.dumps(state, indent=1).encode())

    def report(job: str, index: int, status: str, result: PartResult | None = None) -> None:
        if on_progress is not None:
            on_progress(sd_convert.ConvertProgress(job, index, None, status, result))

    def cancelled() -> None:
        if cancel is not None and cancel.is_set():
            from .errors import CancelledError

            raise CancelledError("Import cancelled; what was done is kept and a later "
                                 "import of the same files resumes from there.")

    # 1. hashes
    if "identity" not in state:
        report("hash", 1, "converting")
        state["identity"] = identity(source, vae, loras, sha256_file)
        save_state()
        report("hash", 1, "done")
    else:
        report("hash", 1, "skipped (already converted)")
    cancelled()
    # 2. weights onto keras-cv's models
    h5 = {role: work / f for role, f in H5_FILES.items()}
    if plan.image_encoder:
        h5["image_encoder"] = work / ENCODER_H5
    if state.get("weights") == "done" and all(p.is_file() for p in h5.values()):
        report("weights", 2, "skipped (already converted)")
    else:
        report("weights", 2, "converting")
        job = {"job": "weights", "source": str(source), "vae": str(vae) if vae else None,
               "loras": [[str(s.path), s.strength] for s in loras], "prediction": prediction,
               "height": height, "width": width, "work_dir": str(work)}
        result = sd_convert._run_job(job, work, cancel, work / "convert.log")
        state["weights"] = "done"
        save_state()
        report("weights", 2, "done", result)
    cancelled()

    # 3. the converter, its jobs numbered after ours
    def shifted(p: ConvertProgress) -> None:
        if on_progress is not None:
            on_progress(sd_convert.ConvertProgress(
                p.job, p.index + 2, None if p.total is None else p.total + 2, p.status,
                p.result))

    ident = state["identity"]
    label = display_name or name
    kind = few_step or next((FEW_STEP_LORAS[lo["sha256"]] for lo in ident["loras"]
                             if lo["sha256"] in FEW_STEP_LORAS), None)
    if plan.guidance_embedding:
        kind = "lcm-distilled" if kind in (None, "lcm") else kind

    def add_taesd(stage_dir: Path) -> None:
        if plan.guidance_embedding:
            _add_guidance_projection(stage_dir, source, vae, loras, prediction)
        if taesd is not None:
            from .taesd import attach_taesd

            report("taesd", 3, "converting")
            encoder = Path(taesd).with_name("taesd_encoder.safetensors")
            attach_taesd(stage_dir, Path(taesd), encoder if encoder.is_file() else None,
                         precision="fp32" if precision == "fp32" else "int8")
            report("taesd", 3, "done")

    lora_note = "".join(f" + LoRA {lo['name']} x{lo['strength']:g}" for lo in ident["loras"])
    return sd_convert.convert_stable_diffusion(
        h5, out_dir, name=name, display_name=label, precision=precision, height=height,
        width=width, work_dir=work, on_progress=shifted, cancel=cancel, family=plan.family,
        source=f"{source.name} ({plan.family_label}, {plan.layout} layout){lora_note}, "
               "imported on this machine",
        licence=_licence(plan, source),
        identity=ident, defaults=FEW_STEP_DEFAULTS[kind] if kind else None,
        before_install=add_taesd)


def _add_guidance_projection(stage: Path, source: Path, vae: Path | None,
                             loras: tuple[LoraSpec, ...] | list[LoraSpec],
                             prediction: str | None) -> None:
    """Write an LCM-distilled UNet's guidance projection beside the model's parts and name
    it in the manifest (``guidance_embedding``), with the LoRAs merged as everywhere."""
    import io

    import numpy as np

    from .fileio import atomic_write_bytes, sha256_file
    from .lora import MergedWeights
    from .manifest import MANIFEST, write_manifest

    ck, files = _open(source, vae, loras, prediction)
    projection = MergedWeights(ck, files).read(GUIDANCE_PROJECTION).astype(np.float32)
    buf = io.BytesIO()
    np.save(buf, projection, allow_pickle=False)
    path = stage / "guidance_projection.npy"
    atomic_write_bytes(path, buf.getvalue())
    data = json.loads((stage / MANIFEST).read_text(encoding="utf-8"))
    data.pop("format", None)
    data["files"][path.name] = {"size": path.stat().st_size, "sha256": sha256_file(path)}
    data["guidance_embedding"] = {"file": path.name, "dim": int(projection.shape[1]),
                                  "convention": "diffusers LatentConsistencyModelPipeline: "
                                                "w = (guidance - 1) * 1000, sin then cos"}
    write_manifest(stage, data)


def _size(path: Path | None) -> int:
    if path is None:
        return 0
    p = Path(path)
    if p.is_dir():
        return sum(f.stat().st_size for f in p.rglob("*.safetensors"))
    return p.stat().st_size if p.exists() else 0


def _licence(plan: ImportPlan, source: Path) -> tuple[str, Path]:
    """The licence an imported model is shown with: what the file's metadata says, else
    its base model's (fine-tunes of SD 1.x and 2.x must carry their base's use
    restrictions), with the advice to check the model's own page."""
    from .safetensors_io import SafetensorsFile
    from .sd_convert import _licence_path

    meta = SafetensorsFile(source).metadata if source.is_file() else {}
    named = meta.get("modelspec.license") or meta.get("license")
    if named:
        return f"{named} (from the file's metadata)", Path("")
    if plan.family == "sd1":
        return (("CreativeML OpenRAIL-M, Stable Diffusion 1.x's licence, which its fine-tunes "
                "carry; check the model's own page for more"), _licence_path())
    return (("CreativeML Open RAIL++-M, Stable Diffusion 2.x's licence, which its fine-tunes "
            "carry (SD-Turbo: Stability AI's non-commercial community licence); check the "
            "model's own page"), Path(""))
