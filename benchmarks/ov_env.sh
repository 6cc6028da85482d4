#!/usr/bin/env bash
# OpenVINO's environment for benchmarks/bench_engine.py: OpenVINO, NNCF (its int8 quantizer,
# as FastSD CPU uses) and diffusers on PyTorch (CPU) to build the same UNet and VAE from the
# same weights, in its own venv .cache/ov-venv so none of it enters the app's .venv.
#
#     bash benchmarks/ov_env.sh        # creates it once; a rerun with the same pins is a no-op
#
# torch is pinned to the CPU build (an unpinned `pip install torch` pulls the CUDA build);
# diffusers to the release benchmarks/ref_env.sh pins; pip's cache is reused.
set -euo pipefail

# shellcheck source=benchmarks/_venv.sh
source "$(dirname "${BASH_SOURCE[0]}")/_venv.sh"
make_side_venv ov-venv "openvino==2026.4.1 nncf==3.4.0 torch==2.13.0 diffusers==0.42.1 safetensors==0.8.0" "OpenVINO environment"
