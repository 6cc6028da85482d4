"""Stable Diffusion v1.4 at full size with seeded random weights, in KerasCV's HDF5 layout.

The real weights (about 4 GB) cannot be fetched here, so the conversion, parity
and speed checks build keras-cv's own TextEncoder, DiffusionModel and Decoder at
full size, give them seeded random weights, and save them the way the published
``kcv_*.h5`` files are saved (Keras's HDF5 weights format, which
``keras_cv``'s ``load_weights`` reads).

    .venv/bin/python -m benchmarks.sd_fixture OUT_DIR [--seed 0]
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

FILES = {"text_encoder": "kcv_encoder.h5", "diffusion_model": "kcv_diffusion_model.h5",
         "decoder": "kcv_decoder.h5"}


def make_random_sd_weights(out_dir: Path, seed: int = 0) -> dict[str, Path]:
    """Write the three HDF5 files (once: an existing complete set is reused)."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    done = out_dir / "fixture.json"
    paths = {role: out_dir / name for role, name in FILES.items()}
    if done.is_file() and json.loads(done.read_text()).get("seed") == seed and all(
            p.is_file() for p in paths.values()):
        return paths
    import gc

    import h5py
    import keras
    from keras.src.legacy.saving import legacy_h5_format

    from parasight_desktop.engine.sd_convert import build_keras

    keras.utils.set_random_seed(seed)
    for role, path in paths.items():
        t0 = time.perf_counter()
        model = build_keras(role, None, 512, 512)
        part = path.with_suffix(".h5.part")
        with h5py.File(part, "w") as f:
            legacy_h5_format.save_weights_to_hdf5_group(f, model)
        part.rename(path)
        print(f"{role}: {model.count_params():,} parameters, {path.stat().st_size / 2**20:.0f} "
              f"MiB, {time.perf_counter() - t0:.0f} s", file=sys.stderr)
        del model
        gc.collect()
    done.write_text(json.dumps({"seed": seed}))
    return paths


if __name__ == "__main__":
    ap = argparse.ArgumentParser()
    ap.add_argument("out_dir", type=Path)
    ap.add_argument("--seed", type=int, default=0)
    a = ap.parse_args()
    print(json.dumps({k: str(v) for k, v in make_random_sd_weights(a.out_dir, a.seed).items()}))
