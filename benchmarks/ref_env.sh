#!/usr/bin/env bash
# The reference environment for benchmarks/bench_speed.py: diffusers on PyTorch (CPU),
# in its own venv .cache/ref-venv so none of it enters the app's .venv.
#
#     bash benchmarks/ref_env.sh        # creates it once; a rerun with the same pins is a no-op
#
# torch is pinned to the CPU build (an unpinned `pip install torch` pulls the CUDA build,
# several GB); diffusers and transformers to the releases this benchmark was written against.
set -euo pipefail

PY=${PY:-python3.11}
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
VENV="$ROOT/.cache/ref-venv"
PINS="torch==2.13.0 diffusers==0.42.1 transformers==5.24.0 peft==0.21.2"
STAMP="$VENV/.installed-$(printf '%s' "$PINS" | sha256sum | cut -c1-12)"

if [ -f "$STAMP" ]; then
    exit 0
fi
test -x "$VENV/bin/python" || "$PY" -m venv "$VENV"
"$VENV/bin/python" -m pip install --quiet --upgrade pip
# shellcheck disable=SC2086  # PINS is a list of requirements
"$VENV/bin/python" -m pip install --quiet $PINS
rm -f "$VENV"/.installed-*
touch "$STAMP"
echo "reference environment ready: $VENV ($PINS)"
