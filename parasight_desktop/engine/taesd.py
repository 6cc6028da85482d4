"""TAESD, the tiny autoencoder for SD latents: read its weights, build it in Keras, convert.

TAESD (madebyollin/taesd, MIT, Copyright (c) 2023 Ollin Boer Bohan) decodes a 512x512 image
from SD 1.x/2.x latents with 1.22M parameters where the SD VAE decoder has 49.5M: at one to
four sampling steps the full decoder dominates the time, so TAESD is the fast decoder.

Its layers are 3x3 convolutions, ReLUs, residual blocks ``relu(conv(relu(conv(relu(conv(x)))))
+ x)``, nearest 2x upsampling and a tanh clamp of the latents, ``tanh(x / 3) * 3``. Both halves
are published as the state dict of an ``nn.Sequential`` (taesd.py's ``Decoder()`` and
``Encoder()``), so a tensor's name is its module's position there: ``1.weight``,
``3.conv.0.weight``. diffusers' ``AutoencoderTiny`` holds the same tensors as
``decoder.layers.<N-1>...`` (its Sequential has no Clamp module at index 0) and
``encoder.layers.<N>...``; both layouts are read here. The tables below (``DECODER``,
``ENCODER``) are the architecture, and the weight names and shapes follow from them.

Conventions of the models made here (recorded in what :func:`convert_taesd` returns):

- latents go in and come out as the UNet makes them: no 1/0.18215 scaling (KerasCV's
  decoder divides by 0.18215 itself; TAESD was trained on the unscaled latents);
- the decoder's image is in -1..1 and the encoder's input image too, as KerasCV's decoder
  gives it and diffusers' ``AutoencoderTiny`` takes and gives it (TAESD's own range is 0..1;
  the factor of 2 is in the graph), so TAESD replaces the SD decoder without other changes.

TAESDXL has the same names and shapes but SDXL's latent space; TAESD3 and TAEF1 have 16
latent channels and are refused by their shapes. TensorFlow and Keras are imported inside
the functions that build and convert, never at import.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

from .errors import InputError, ModelError
from .fileio import sha256_file
from .safetensors_io import SafetensorsFile

PARTS = ("decoder", "encoder")
LAYOUTS = ("taesd", "diffusers")
LATENT_CHANNELS = 4
WIDTH = 64  # channels of every hidden layer
LICENCE = {"name": "MIT", "copyright": "Copyright (c) 2023 Ollin Boer Bohan",
           "source": "https://github.com/madebyollin/taesd"}
#: Where the decoder's Sequential index differs from diffusers' ``decoder.layers`` index.
_DIFFUSERS_SHIFT = {"decoder": 1, "encoder": 0}
#: Floats only: the reader widens fp16 and bf16 to float32.
_FLOAT_DTYPES = ("F32", "F16", "BF16", "F64")


@dataclass(frozen=True)
class Layer:
    """One module of taesd.py's ``nn.Sequential``, at position ``index`` there.

    ``kind``: "clamp" (tanh(x/3)*3), "conv" (3x3, padding 1), "relu", "block" (three 3x3
    convs, ``WIDTH`` to ``WIDTH``, identity skip, ReLU after the add), "up" (nearest, 2x).
    """

    kind: str
    index: int
    cin: int = WIDTH
    cout: int = WIDTH
    stride: int = 1
    bias: bool = True


def _blocks(*indices: int) -> tuple[Layer, ...]:
    return tuple(Layer("block", i) for i in indices)


DECODER: tuple[Layer, ...] = (
    Layer("clamp", 0), Layer("conv", 1, cin=LATENT_CHANNELS), Layer("relu", 2),
    *_blocks(3, 4, 5), Layer("up", 6), Layer("conv", 7, bias=False),
    *_blocks(8, 9, 10), Layer("up", 11), Layer("conv", 12, bias=False),
    *_blocks(13, 14, 15), Layer("up", 16), Layer("conv", 17, bias=False),
    *_blocks(18), Layer("conv", 19, cout=3),
)
ENCODER: tuple[Layer, ...] = (
    Layer("conv", 0, cin=3), *_blocks(1),
    Layer("conv", 2, stride=2, bias=False), *_blocks(3, 4, 5),
    Layer("conv", 6, stride=2, bias=False), *_blocks(7, 8, 9),
    Layer("conv", 10, stride=2, bias=False), *_blocks(11, 12, 13),
    Layer("conv", 14, cout=LATENT_CHANNELS),
)
ARCHITECTURE = {"decoder": DECODER, "encoder": ENCODER}


@dataclass(frozen=True)
class ConvWeights:
    """One convolution's tensors: its names in the published layout and the Keras layer."""

    layer: str  # Keras layer name
    weight: str  # published name, e.g. "3.conv.0.weight"
    bias: str | None
    shape: tuple[int, int, int, int]  # PyTorch OIHW


def conv_table(part: str) -> list[ConvWeights]:
    """Every convolution of ``part`` in graph order, with its tensors' published names."""
    table: list[ConvWeights] = []
    for layer in ARCHITECTURE[part]:
        if layer.kind == "conv":
            table.append(ConvWeights(
                f"{part}_{layer.index}", f"{layer.index}.weight",
                f"{layer.index}.bias" if layer.bias else None,
                (layer.cout, layer.cin, 3, 3)))
        elif layer.kind == "block":
            for j in (0, 2, 4):  # the convs of Sequential(conv, ReLU, conv, ReLU, conv)
                stem = f"{layer.index}.conv.{j}"
                table.append(ConvWeights(f"{part}_{layer.index}_conv_{j}", f"{stem}.weight",
                                         f"{stem}.bias", (WIDTH, WIDTH, 3, 3)))
    return table


def expected_shapes(part: str) -> dict[str, tuple[int, ...]]:
    """Published tensor name -> PyTorch shape, for every tensor of ``part``."""
    shapes: dict[str, tuple[int, ...]] = {}
    for c in conv_table(part):
        shapes[c.weight] = c.shape
        if c.bias is not None:
            shapes[c.bias] = (c.shape[0],)
    return shapes


def source_name(part: str, name: str, layout: str) -> str:
    """A published tensor name as ``layout`` ("taesd" or "diffusers") spells it."""
    if layout == "taesd":
        return name
    index, _, rest = name.partition(".")
    return f"{part}.layers.{int(index) - _DIFFUSERS_SHIFT[part]}.{rest}"


def _hint(names: set[str]) -> str:
    if any(n.startswith(("model.diffusion_model.", "first_stage_model.")) for n in names):
        return " It looks like a whole Stable Diffusion checkpoint."
    if any(".conv_in." in n or n.startswith(("decoder.up", "encoder.down")) for n in names):
        return " It looks like a Stable Diffusion VAE (TAESD replaces one; it is not one)."
    return ""


def _latent_conv(part: str) -> ConvWeights:
    """The convolution on the latent side: the decoder's first, the encoder's last."""
    table = conv_table(part)
    return table[0] if part == "decoder" else table[-1]


def _shape_hint(part: str, got: tuple[int, ...]) -> str:
    if len(got) != 4:
        return ""
    channels = got[1] if part == "decoder" else got[0]
    if channels != LATENT_CHANNELS:
        return (f" It has {channels} latent channels where SD 1.x/2.x have 4: it is a "
                "tiny autoencoder for another model family (TAESD3, TAEF1 ...).")
    return ""


def read_taesd(path: Path, part: str | None = None) -> dict[str, NDArray[np.float32]]:
    """The TAESD tensors in ``path``, as float32, keyed ``"<part>.<published name>"``.

    ``path`` is a published ``taesd_decoder``/``taesd_encoder.safetensors`` (Sequential
    names) or a diffusers ``AutoencoderTiny`` file (``decoder.layers.N...``, which may hold
    both parts). ``part`` ("decoder" or "encoder") asks for that part and refuses a file
    without it; a diffusers file's other part is then the only thing left unread. Every
    tensor is shape-checked; a file that is not TAESD is refused with an :class:`InputError`
    that counts what it holds.
    """
    path = Path(path)
    if part is not None and part not in PARTS:
        raise InputError(f"Unknown TAESD part '{part}': choose decoder or encoder.")
    f = SafetensorsFile(path)
    names = set(f)
    # 1. Which parts, in which layout: every expected tensor of a part must be there.
    found: dict[str, str] = {}
    best = (0, "decoder", "taesd")
    for p in PARTS:
        for layout in LAYOUTS:
            want = {source_name(p, n, layout) for n in expected_shapes(p)}
            have = len(want & names)
            if have == len(want):  # the two parts' name sets differ in either layout
                found[p] = layout
            best = max(best, (have, p, layout))
    total = len(expected_shapes("decoder"))
    if not found:
        have, p, layout = best
        if have == 0:
            raise InputError(
                f"{path.name} is not a TAESD decoder or encoder: none of its {len(names)} "
                f"tensors is one of TAESD's {total} decoder or {total} encoder tensors."
                f"{_hint(names)} Choose taesd_decoder.safetensors (or the encoder) from "
                "madebyollin/taesd.")
        want_names = {source_name(p, n, layout) for n in expected_shapes(p)}
        missing = sorted(want_names - names)
        raise InputError(
            f"{path.name} holds {have} of the {total} TAESD {p} tensors; {len(missing)} are "
            f"missing ({', '.join(missing[:3])}{' ...' if len(missing) > 3 else ''}). It may "
            "be another edition or another tiny autoencoder; download taesd_decoder."
            "safetensors or taesd_encoder.safetensors again from madebyollin/taesd.")
    if part is not None and part not in found:
        raise InputError(
            f"{path.name} is a TAESD {' and '.join(found)}, not a TAESD {part}: choose "
            f"taesd_{part}.safetensors.")
    wanted = [part] if part is not None else list(found)
    # 2. Nothing left over: every tensor is one of a part found in the file.
    claimed = {source_name(p, n, found[p]) for p in found for n in expected_shapes(p)}
    extra = sorted(names - claimed)
    if extra:
        raise InputError(
            f"{path.name} holds {len(names)} tensors: the {len(claimed)} of a TAESD "
            f"{' and '.join(found)} and {len(extra)} others ({', '.join(extra[:3])}"
            f"{' ...' if len(extra) > 3 else ''}) that TAESD does not have. It is not a TAESD "
            "file ParaSight knows; download it again from madebyollin/taesd.")
    # 3. Read, shape- and type-check.
    out: dict[str, NDArray[np.float32]] = {}
    for p in wanted:
        for name, shape in expected_shapes(p).items():
            src = source_name(p, name, found[p])
            info = f.tensors[src]
            if info.shape != shape:
                hint = _shape_hint(p, info.shape) if name == _latent_conv(p).weight else ""
                raise InputError(
                    f"{path.name}: tensor {src} has shape {info.shape}, TAESD's has {shape}."
                    f"{hint}")
            if info.dtype not in _FLOAT_DTYPES:
                raise InputError(f"{path.name}: tensor {src} is {info.dtype}, not floating "
                                 "point; it is not a TAESD weight file.")
            out[f"{p}.{name}"] = np.asarray(f.read(src), dtype=np.float32)
    return out


# --------------------------------------------------------------------------------------
# Keras (imported inside the functions below only)
# --------------------------------------------------------------------------------------

def build_keras(part: str, height: int, width: int, batch: int | None = 1) -> Any:
    """The Keras functional model of TAESD's ``part``, NHWC, weights not yet set.

    Decoder: latent (batch, height/8, width/8, 4), unscaled -> image (batch, height, width, 3)
    in -1..1. Encoder: image in -1..1 -> latent. ``height``/``width`` are the image's.
    """
    import keras

    def conv(x: Any, name: str, layer: Layer) -> Any:
        if layer.stride == 1:
            return keras.layers.Conv2D(layer.cout, 3, padding="same", use_bias=layer.bias,
                                       name=name)(x)
        # PyTorch pads 1 on every side; Keras' "same" at stride 2 pads only bottom/right.
        x = keras.layers.ZeroPadding2D(1, name=f"{name}_pad")(x)
        return keras.layers.Conv2D(layer.cout, 3, strides=layer.stride, padding="valid",
                                   use_bias=layer.bias, name=name)(x)

    if part not in PARTS:
        raise InputError(f"Unknown TAESD part '{part}': choose decoder or encoder.")
    if part == "decoder":
        inp = keras.Input((height // 8, width // 8, LATENT_CHANNELS), batch_size=batch,
                          name="latent")
        x = inp
    else:
        inp = keras.Input((height, width, 3), batch_size=batch, name="image")
        x = (inp + 1.0) * 0.5  # -1..1 -> TAESD's 0..1
    for layer in ARCHITECTURE[part]:
        name = f"{part}_{layer.index}"
        if layer.kind == "clamp":
            x = keras.ops.tanh(x / 3.0) * 3.0
        elif layer.kind == "conv":
            x = conv(x, name, layer)
        elif layer.kind == "relu":
            x = keras.layers.ReLU(name=name)(x)
        elif layer.kind == "up":
            x = keras.layers.UpSampling2D(2, interpolation="nearest", name=name)(x)
        elif layer.kind == "block":
            y = x
            for j in (0, 2, 4):
                y = keras.layers.Conv2D(WIDTH, 3, padding="same", name=f"{name}_conv_{j}")(y)
                if j != 4:
                    y = keras.layers.ReLU(name=f"{name}_relu_{j + 1}")(y)
            x = keras.layers.ReLU(name=f"{name}_fuse")(keras.layers.Add(name=f"{name}_add")(
                [y, x]))
        else:
            raise AssertionError(layer.kind)
    if part == "decoder":
        x = x * 2.0 - 1.0  # TAESD's 0..1 -> -1..1
    return keras.Model(inp, x, name=f"taesd_{part}")


def set_weights(model: Any, part: str, tensors: dict[str, NDArray[np.float32]]) -> int:
    """Set every convolution of ``model`` from ``tensors`` (as :func:`read_taesd` gives them),
    OIHW -> HWIO, each shape checked; return how many tensors were set (all of the part's)."""
    used: set[str] = set()
    for c in conv_table(part):
        layer = model.get_layer(c.layer)
        kernel = tensors[f"{part}.{c.weight}"].transpose(2, 3, 1, 0)
        values = [kernel] + ([tensors[f"{part}.{c.bias}"]] if c.bias is not None else [])
        targets = layer.get_weights()
        if len(targets) != len(values) or any(
                t.shape != v.shape for t, v in zip(targets, values)):
            raise ModelError(
                f"TAESD {part} layer {c.layer}: weights {[v.shape for v in values]} do not fit "
                f"the Keras layer's {[t.shape for t in targets]}.")
        layer.set_weights(values)
        used.update(f"{part}.{n}" for n in (c.weight, c.bias) if n is not None)
    unused = sorted(k for k in tensors if k.startswith(f"{part}.") and k not in used)
    if unused or len(used) != len(expected_shapes(part)):
        raise ModelError(f"TAESD {part}: {len(unused)} tensors were not set ({unused[:3]}).")
    return len(used)


def load_keras(part: str, path: Path, height: int, width: int, batch: int | None = 1) -> Any:
    """:func:`build_keras` with the weights of ``part`` read from ``path``."""
    model = build_keras(part, height, width, batch)
    set_weights(model, part, read_taesd(path, part))
    return model


#: The TFLite files' names and their one input and output, by part.
FILES = {"decoder": ("taesd_decoder.tflite", "latent", "image"),
         "encoder": ("taesd_encoder.tflite", "image", "latent")}


def convert_taesd(
    decoder_file: Path,
    encoder_file: Path | None,
    out_dir: Path,
    height: int = 512,
    width: int = 512,
    precision: str = "fp32",
) -> dict[str, Any]:
    """Convert TAESD's decoder (and encoder, if given) to ``.tflite`` files in ``out_dir``.

    Each file is checked by LiteRT against the Keras model on a random probe (PSNR floor
    as for the SD decoder, by precision); one below it is deleted and refused. Returns what
    a model manifest records: per part its file, input, output, ranges, latent convention,
    parameters and PSNR; the files' sizes and sha256; the sources and the licence.
    ``encoder_file`` may be the decoder's file when that is a diffusers AutoencoderTiny file.
    """
    from .converter import TensorSpec, convert_keras_model
    from .sd_convert import MIN_PSNR

    if precision not in MIN_PSNR:
        raise InputError(f"Unknown precision '{precision}': choose fp32, fp16 or int8.")
    if height % 8 or width % 8 or not (64 <= height <= 2048 and 64 <= width <= 2048):
        raise InputError(f"Size {width}x{height} is not supported by TAESD here: use "
                         "multiples of 8 from 64 to 2048.")
    import keras

    keras.utils.set_random_seed(0)
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(0)
    sources = {"decoder": Path(decoder_file)}
    if encoder_file is not None:
        sources["encoder"] = Path(encoder_file)
    result: dict[str, Any] = {
        "licence": dict(LICENCE), "precision": precision,
        "image": {"width": width, "height": height},
        "latent": {"shape": [height // 8, width // 8, LATENT_CHANNELS], "scaling": "none"},
        "files": {}, "sources": {},
    }
    for part, src in sources.items():
        file, in_name, out_name = FILES[part]
        model = load_keras(part, src, height, width)
        shape = tuple(int(d) for d in model.inputs[0].shape[1:])
        probe = {in_name: (rng.standard_normal((1, *shape)) if part == "decoder"
                           else rng.uniform(-1.0, 1.0, (1, *shape))).astype(np.float32)}
        report = convert_keras_model(model, out_dir / file, [TensorSpec(in_name, (1, *shape))],
                                     [out_name], precision, probe=probe, workdir=out_dir)
        floor = MIN_PSNR[precision]
        if report.psnr_db is None or report.psnr_db < floor:
            (out_dir / file).unlink(missing_ok=True)
            raise ModelError(
                f"TAESD {part} converted at {precision} differs from Keras on the probe input "
                f"(PSNR {report.psnr_db:.1f} dB, needs {floor:.0f}); try fp32 or fp16.")
        ranges = ({"output_range": [-1, 1]} if part == "decoder" else {"input_range": [-1, 1]})
        result[part] = {"file": file, "input": in_name, "output": out_name,
                        "latent_scaling": "none", **ranges,
                        "params": int(model.count_params()),
                        "psnr_db": report.psnr_db, "max_abs_error": report.max_abs_error}
        result["files"][file] = {"size": report.size, "sha256": report.sha256}
        result["sources"][part] = {"file": src.name, "sha256": sha256_file(src)}
    return result


#: The preview decoder's file: TAESD converted for half the latent grid (a quarter of the
#: pixels), so a decoded picture at every step costs a few percent of the step.
PREVIEW_FILE = "taesd_preview.tflite"
LICENCE_FILE = "LICENSE-TAESD.txt"


def attach_taesd(folder: Path, decoder_file: Path, encoder_file: Path | None = None,
                 precision: str = "int8") -> dict[str, Any]:
    """Convert TAESD for the model in ``folder`` and add it there as its fast decoder
    (full size), preview decoder (half the latent grid) and, if given, fast encoder.

    The manifest is rewritten atomically once every file is in place; a failure leaves
    the model as it was. Returns the manifest's new ``extra.taesd`` record."""
    import json
    import shutil

    from .manifest import MANIFEST, write_manifest

    folder = Path(folder)
    data = json.loads((folder / MANIFEST).read_text(encoding="utf-8"))
    width, height = int(data["image"]["width"]), int(data["image"]["height"])
    work = folder / ".taesd-work"
    shutil.rmtree(work, ignore_errors=True)
    try:
        full = convert_taesd(decoder_file, encoder_file, work / "full", height, width,
                             precision)
        preview = convert_taesd(decoder_file, None, work / "preview", height // 2, width // 2,
                                precision)
        moves = {work / "full" / FILES["decoder"][0]: FILES["decoder"][0],
                 work / "preview" / FILES["decoder"][0]: PREVIEW_FILE}
        if encoder_file is not None:
            moves[work / "full" / FILES["encoder"][0]] = FILES["encoder"][0]
        files = dict(data["files"])
        files[FILES["decoder"][0]] = full["files"][FILES["decoder"][0]]
        files[PREVIEW_FILE] = preview["files"][FILES["decoder"][0]]
        if encoder_file is not None:
            files[FILES["encoder"][0]] = full["files"][FILES["encoder"][0]]
        for src, name in moves.items():
            shutil.move(str(src), str(folder / name))
        (folder / LICENCE_FILE).write_text(
            f"TAESD, the fast decoder of this model: {LICENCE['name']}, "
            f"{LICENCE['copyright']} ({LICENCE['source']}).\n\n{MIT_TEXT}", encoding="utf-8")
        spec = {"input": "latent", "output": "image", "latent_scaling": "none",
                "output_range": [-1, 1], "name": "TAESD"}
        record = {"precision": precision, "sources": full["sources"],
                  "licence": f"{LICENCE['name']} ({LICENCE['copyright']})",
                  "licence_file": LICENCE_FILE,
                  "psnr_db": {"decoder": full["decoder"]["psnr_db"],
                              "preview": preview["decoder"]["psnr_db"]}}
        data.update({"files": files, "fast_decoder": {"file": FILES["decoder"][0], **spec},
                     "preview_decoder": {"file": PREVIEW_FILE, **spec}})
        if encoder_file is not None:
            data["fast_encoder"] = {"file": FILES["encoder"][0], "input": "image",
                                    "output": "latent", "latent_scaling": "none",
                                    "input_range": [-1, 1], "name": "TAESD"}
        data.setdefault("extra", {})["taesd"] = record
        data.pop("format", None)
        write_manifest(folder, data)
        return record
    finally:
        shutil.rmtree(work, ignore_errors=True)


MIT_TEXT = """Permission is hereby granted, free of charge, to any person obtaining a copy
of this software and associated documentation files (the "Software"), to deal
in the Software without restriction, including without limitation the rights
to use, copy, modify, merge, publish, distribute, sublicense, and/or sell
copies of the Software, and to permit persons to whom the Software is
furnished to do so, subject to the following conditions:

The above copyright notice and this permission notice shall be included in all
copies or substantial portions of the Software.

THE SOFTWARE IS PROVIDED "AS IS", WITHOUT WARRANTY OF ANY KIND, EXPRESS OR
IMPLIED, INCLUDING BUT NOT LIMITED TO THE WARRANTIES OF MERCHANTABILITY,
FITNESS FOR A PARTICULAR PURPOSE AND NONINFRINGEMENT. IN NO EVENT SHALL THE
AUTHORS OR COPYRIGHT HOLDERS BE LIABLE FOR ANY CLAIM, DAMAGES OR OTHER
LIABILITY, WHETHER IN AN ACTION OF CONTRACT, TORT OR OTHERWISE, ARISING FROM,
OUT OF OR IN CONNECTION WITH THE SOFTWARE OR THE USE OR OTHER DEALINGS IN THE
SOFTWARE.
"""
