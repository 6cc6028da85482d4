"""What inpainting keeps outside the mask, measured on ParaSight Mini (issue #17).

    .venv/bin/python benchmarks/inpaint_bound.py [--cases 8]

For each case (a generated start image, a square mask of 48 px at one of four places,
mask blur 0, strength 1, a new description and seed) it reports:

- latent: the share of latent cells outside the mask whose final latent equals the start
  image's latent bit for bit (the loop puts it back after every step, the clean latent
  after the last);
- image: the largest difference outside the mask between the returned image and the
  start image (the start image is laid over the decoded one through the mask);
- decoder alone: the decoder run on the final latent against the decoder run on the start
  image's latent (the start image's own encode-decode round trip), outside the mask and
  at 8, 16 and 24 px from it: how far the decoder carries the change into the kept part,
  which is why the overlay is there;
- the round trip's own PSNR against the start image, for scale.

Writes docs/BENCHMARKS.md.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from benchmarks._report import write_section
from parasight_desktop.engine.manifest import load_manifest
from parasight_desktop.engine.pipeline import Pipeline, to_uint8
from parasight_desktop.engine.types import GenerationRequest

MINI = ROOT / "resources" / "models" / "parasight-mini"
CASES = [("a red blob in the forest", "a green serpent in the forest"),
         ("a white orb of light over the lake", "a purple winged creature over the lake"),
         ("a yellow serpent in the desert", "a blue blob in the desert"),
         ("a tall shadow figure in the snow", "a red tentacled creature in the snow")]
CORNERS = [(40, 40), (8, 72), (72, 8), (70, 70)]
MARGINS = (0, 8, 16, 24)
SIZE = 48


def psnr(a: np.ndarray, b: np.ndarray) -> float:
    mse = float(np.mean((a.astype(np.float64) - b.astype(np.float64)) ** 2))
    return float("inf") if mse == 0 else 10 * np.log10(255.0**2 / mse)


def measure(pipe: Pipeline, case: int) -> dict[str, float]:
    before, after = CASES[case % len(CASES)]
    y, x = CORNERS[case % len(CORNERS)]
    start = pipe.generate(GenerationRequest(before, seed=100 + case)).image
    mask = np.zeros(start.shape[:2], np.uint8)
    mask[y:y + SIZE, x:x + SIZE] = 255
    result = pipe.generate(GenerationRequest(after, seed=200 + case, init_image=start,
                                             strength=1.0, mask=mask, mask_blur=0))
    decoder = pipe._ensure_decoder()
    x0 = pipe.encode_image(start)
    final = pipe.last_latent
    assert final is not None
    spec_in, spec_out = pipe.manifest.decoder_input, pipe.manifest.decoder_output
    trip = to_uint8(np.asarray(decoder(**{spec_in: x0})[spec_out])[0]).astype(int)
    new = to_uint8(np.asarray(decoder(**{spec_in: final})[spec_out])[0]).astype(int)
    cell = start.shape[0] // final.shape[1]
    kept_cells = mask.reshape(final.shape[1], cell, final.shape[2], cell).max(axis=(1, 3)) == 0
    out: dict[str, float] = {
        "latent_exact": float(np.mean(np.all(final[0][kept_cells] == x0[0][kept_cells],
                                             axis=-1))),
        "image_max_diff": float(np.abs(result.image.astype(int) - start)[mask == 0].max()),
        "inside_mean_change": float(np.abs(result.image.astype(int) - start)[mask > 0].mean()),
        "round_trip_psnr": psnr(trip, start),
    }
    diff = np.abs(new - trip).max(axis=2)
    for margin in MARGINS:
        far = np.ones(mask.shape, bool)
        far[max(0, y - margin):y + SIZE + margin, max(0, x - margin):x + SIZE + margin] = False
        out[f"decoder_max_{margin}"] = float(diff[far].max())
        out[f"decoder_over1_{margin}"] = float((diff[far] > 1).mean())
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cases", type=int, default=8)
    args = parser.parse_args()
    pipe = Pipeline(load_manifest(MINI), threads=2)
    rows = [measure(pipe, i) for i in range(args.cases)]
    med = {k: float(np.median([r[k] for r in rows])) for k in rows[0]}
    worst = {k: float(max(r[k] for r in rows)) for k in rows[0]}
    print(json.dumps({"median": med, "worst": worst}, indent=1))
    lines = [
        (f"ParaSight Mini (shipped, with its image encoder), {args.cases} cases: a generated "
        f"start image, a {SIZE} px square mask, mask blur 0, strength 1, a new description "
        "and seed (DPM++ 2M, 20 steps)."),
        "",
        "| what is compared, outside the mask | median | worst |",
        "|---|---|---|",
        (f"| final latent cells equal to the start image's latent, bit for bit | "
        f"{med['latent_exact']:.0%} | {min(r['latent_exact'] for r in rows):.0%} |"),
        (f"| returned image against the start image, largest difference (levels) | "
        f"{med['image_max_diff']:.0f} | {worst['image_max_diff']:.0f} |"),
    ]
    for m in MARGINS:
        where = "next to the mask" if m == 0 else f"{m} px or more from the mask"
        lines.append(f"| decoder alone: decode(final latent) against the round trip "
                     f"decode(encode(start)), {where}: largest difference (share of pixels "
                     f"over 1 level) | {med[f'decoder_max_{m}']:.0f} "
                     f"({med[f'decoder_over1_{m}']:.1%}) | {worst[f'decoder_max_{m}']:.0f} "
                     f"({worst[f'decoder_over1_{m}']:.1%}) |")
    lines += [
        "",
        (f"Inside the mask the image changed by {med['inside_mean_change']:.0f} levels on "
        f"average; the round trip itself is {med['round_trip_psnr']:.1f} dB from the start "
        "image. So: the latent outside the mask is kept exactly, and the image outside it "
        "is the start image's own pixels (the bound is 0 levels) because the start image is "
        "laid over the decoded one, as AUTOMATIC1111 does for ordinary checkpoints. The "
        "decoder alone would not keep it: Mini's decoder (its 8x8 colour path and "
        "convolutions) carries the new region's colour well past the mask's edge, so decoding "
        "the kept latent next to a changed one differs from the round trip by up to the "
        "figures above. `tests/engine/test_img2img.py` checks the latent and the pixels on "
        "the tiny model and on Mini."),
    ]
    write_section("inpaint-bound", "Inpainting: what is kept outside the mask",
                  ".venv/bin/python benchmarks/inpaint_bound.py", "\n".join(lines))


if __name__ == "__main__":
    main()
