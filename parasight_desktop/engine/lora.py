"""LoRAs merged into a checkpoint's weights at import: W += strength * alpha / rank * up @ down.

Layouts read:

- kohya (``lora_unet_<module path with _>.lora_down.weight``, ``.lora_up.weight``,
  ``.alpha``; ``lora_te_`` for the text encoder). Module paths are diffusers' (what
  kohya's scripts write for SD 1.x and 2.x); a base checkpoint read from an LDM file also
  answers to its LDM paths (``lora_unet_input_blocks_1_1_proj_in``).
- diffusers / PEFT (``unet.<module>.lora_A.weight``, ``lora_B.weight``, optional
  ``.alpha``; ``text_encoder.`` for the text encoder; PEFT's ``base_model.model.``), and
  diffusers' older attention-processor names (``...processor.to_q_lora.down.weight``).

A linear target takes ``up @ down``; a convolution takes the product over its input
channels and kernel (down (r, in, kh, kw), up (out, r, 1, 1)). Without an ``alpha`` the
scale is 1 (alpha = rank), as diffusers does. Every module of the LoRA must land on a
weight of the model with the right shape, or the LoRA is refused with the counts.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from numpy.typing import NDArray

from .checkpoint import Checkpoint
from .errors import InputError
from .safetensors_io import SafetensorsFile


@dataclass(frozen=True)
class LoraModule:
    target: str  # canonical weight name, e.g. unet.down_blocks.0.resnets.0.conv1.weight
    down: str  # keys in the LoRA file
    up: str
    alpha: str | None


@dataclass
class LoraFile:
    path: Path
    strength: float
    file: SafetensorsFile
    modules: list[LoraModule] = field(default_factory=list)

    @property
    def name(self) -> str:
        return self.path.stem

    def delta(self, m: LoraModule, shape: tuple[int, ...]) -> NDArray[np.float32]:
        down = self.file.read(m.down).astype(np.float32)
        up = self.file.read(m.up).astype(np.float32)
        rank = down.shape[0]
        alpha = float(self.file.read(m.alpha).reshape(-1)[0]) if m.alpha else float(rank)
        product = up.reshape(up.shape[0], rank) @ down.reshape(rank, -1)
        scale = np.float32(self.strength * alpha / rank)
        return (product * scale).reshape(shape).astype(np.float32)


_KOHYA = re.compile(r"lora_(unet|te)_(.+)\.(lora_down|lora_up)\.weight|lora_(unet|te)_(.+)\.alpha")
_PEFT = re.compile(r"(?:base_model\.model\.)?(?:(unet|text_encoder)\.)?(.+)\."
                   r"(lora_A|lora_B|lora\.down|lora\.up)\.weight")
_PEFT_ALPHA = re.compile(r"(?:base_model\.model\.)?(?:(unet|text_encoder)\.)?(.+)\.alpha")
_PROCESSOR = re.compile(r"(.+)\.processor\.(to_q|to_k|to_v|to_out)_lora")
_COMPONENT = {"unet": "unet", "te": "text_encoder", "text_encoder": "text_encoder", None: "unet"}


def _module_index(ck: Checkpoint) -> dict[str, str]:
    """underscored module paths (diffusers', and LDM's where the base file has them)
    -> canonical weight name."""
    index: dict[str, str] = {}
    for name, ref in ck.tensors.items():
        if not name.endswith(".weight"):
            continue
        comp, _, module = name[:-len(".weight")].partition(".")
        short = "unet" if comp == "unet" else "te" if comp == "text_encoder" else None
        if short is None:
            continue
        index[f"{short}:{module.replace('.', '_')}"] = name
        index[f"{short}:{module}"] = name
        for prefix, s in (("model.diffusion_model.", "unet"),
                          ("cond_stage_model.transformer.", "te")):
            if ref.key.startswith(prefix) and s == short and ref.key.endswith(".weight"):
                ldm = ref.key[len(prefix):-len(".weight")]
                index[f"{s}:{ldm.replace('.', '_')}"] = name
    return index


def read_lora(path: Path, strength: float, ck: Checkpoint) -> LoraFile:
    """Match every module of the LoRA at ``path`` to a weight of ``ck``; refuse if any fails."""
    f = SafetensorsFile(path)
    lora = LoraFile(Path(path), strength, f)
    index = _module_index(ck)
    pairs: dict[str, dict[str, str]] = {}  # "te:module" -> {"down", "up", "alpha"}
    unknown: list[str] = []
    for key in f:
        m = _KOHYA.fullmatch(key)
        if m:
            comp = m[1] or m[4]
            module = m[2] or m[5]
            role = {"lora_down": "down", "lora_up": "up", None: "alpha"}[m[3]]
            pairs.setdefault(f"{'unet' if comp == 'unet' else 'te'}:{module}", {})[role] = key
            continue
        m = _PEFT.fullmatch(key)
        if m:
            module = m[2]
            p = _PROCESSOR.fullmatch(module)
            if p:
                module = f"{p[1]}.{p[2]}" + (".0" if p[2] == "to_out" else "")
            short = "te" if _COMPONENT[m[1]] == "text_encoder" else "unet"
            role = "down" if m[3] in ("lora_A", "lora.down") else "up"
            pairs.setdefault(f"{short}:{module}", {})[role] = key
            continue
        m = _PEFT_ALPHA.fullmatch(key)
        if m:
            short = "te" if _COMPONENT[m[1]] == "text_encoder" else "unet"
            pairs.setdefault(f"{short}:{m[2]}", {})["alpha"] = key
            continue
        unknown.append(key)
    if unknown:
        raise InputError(f"{lora.path.name} has {len(unknown)} tensors that are not LoRA "
                         f"weights ParaSight reads (for example {unknown[0]}); LyCORIS "
                         "types such as LoHa and LoKr are not supported.")
    if not pairs:
        raise InputError(f"{lora.path.name} holds no LoRA weights.")
    unmatched: list[str] = []
    misfit: list[str] = []
    for module, roles in sorted(pairs.items()):
        if "down" not in roles or "up" not in roles:
            raise InputError(f"{lora.path.name} is incomplete: {module.split(':', 1)[1]} "
                             "lacks its down or up weight.")
        target = index.get(module)
        if target is None:
            unmatched.append(module.split(":", 1)[1])
            continue
        down, up = f.shape(roles["down"]), f.shape(roles["up"])
        want = ck.tensors[target].shape()
        rank = down[0]
        fits = (len(up) >= 2 and up[1] == rank and up[0] == want[0]
                and int(np.prod(down[1:])) == int(np.prod(want[1:])))
        if not fits:
            misfit.append(target)
            continue
        lora.modules.append(LoraModule(target, roles["down"], roles["up"], roles.get("alpha")))
    if unmatched or misfit:
        total = len(pairs)
        detail = (f"first unmatched: {unmatched[0]}" if unmatched
                  else f"first misfit: {misfit[0]}")
        raise InputError(
            f"{lora.path.name} does not fit this {ck.family_label} model: "
            f"{len(lora.modules)} of {total} of its modules match ({len(unmatched)} name "
            f"nothing in the model, {len(misfit)} have other shapes; {detail}). It was "
            "probably made for another model family.")
    return lora


class MergedWeights:
    """Canonical tensors of a checkpoint with LoRAs merged in, read one at a time."""

    def __init__(self, ck: Checkpoint, loras: list[LoraFile]) -> None:
        self.ck = ck
        self.loras = loras
        self._by_target: dict[str, list[tuple[LoraFile, LoraModule]]] = {}
        for lora in loras:
            for m in lora.modules:
                self._by_target.setdefault(m.target, []).append((lora, m))

    @property
    def touched(self) -> set[str]:
        return set(self._by_target)

    def shape(self, name: str) -> tuple[int, ...]:
        return self.ck.tensors[name].shape()

    def read(self, name: str) -> NDArray[np.float32]:
        w = self.ck.tensors[name].read()
        for lora, m in self._by_target.get(name, ()):
            w = w + lora.delta(m, w.shape)
        return w
