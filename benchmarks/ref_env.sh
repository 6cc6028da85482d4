#!/usr/bin/env bash
# The reference environment for benchmarks/bench_speed.py: diffusers on PyTorch (CPU),
# in its own venv .cache/ref-venv so none of it enters the app's .venv.
#
#     bash benchmarks/ref_env.sh        # creates it once; a rerun with the same pins is a no-op
#
# torch is pinned to the CPU build (an unpinned `pip install torch` pulls the CUDA build,
# several GB); diffusers and transformers to the releases this benchmark was written against.
set -euo pipefail

# shellcheck source=benchmarks/_venv.sh
source "$(dirname "${BASH_SOURCE[0]}")/_venv.sh"
make_side_venv ref-venv "torch==2.13.0 diffusers==0.42.1 transformers==5.24.0 peft==0.21.2" "reference environment"
