"""The reference checkpoints the importer is checked and measured on (made once, cached).

benchmarks/import_reference.py, run in the reference environment (.cache/ref-venv, made by
benchmarks/ref_env.sh), builds seeded random full-size SD 1.5 / SD 2.1-base models with
diffusers and saves each as a diffusers folder and a single LDM-layout file. Used by
tests/engine/test_import_parity.py and benchmarks/bench_import.py.
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
CACHE = ROOT / ".cache" / "import-parity"
REF_PY = ROOT / ".cache" / "ref-venv" / "bin" / "python"


def record_result(path: Path, key: str, **values: object) -> None:
    """Keep a figure under ``key`` in the results file ``path`` (a JSON object), which
    docs/BENCHMARKS.md quotes through benchmarks/report_parity.py (make test runs pytest
    without -s). Written through a temporary file, so a stopped run leaves the old file."""
    from parasight_desktop.engine.fileio import atomic_write_bytes

    data = json.loads(path.read_text()) if path.is_file() else {}
    data[key] = values
    atomic_write_bytes(path, json.dumps(data, indent=1).encode())


def reference(*args: str) -> None:
    """Run benchmarks/import_reference.py in the reference environment."""
    subprocess.run([str(REF_PY), str(ROOT / "benchmarks" / "import_reference.py"), *args],
                   check=True, cwd=ROOT)


def reference_model(family: str) -> Path:
    """CACHE/<family>/: ``diffusers/``, ``model.safetensors``, ``roundtrip.json``."""
    subprocess.run(["bash", str(ROOT / "benchmarks" / "ref_env.sh")], check=True)
    out = CACHE / family
    done = out / "roundtrip.json"
    if not (done.is_file() and json.loads(done.read_text()).get("exact")
            and (out / "model.safetensors").is_file()):
        reference("make-models", str(out), "--family", family, "--seed", "0")
    return out


def reference_loras(family: str, strength: float) -> Path:
    """CACHE/<family>/lora/: random LoRAs in kohya and PEFT layouts, and diffusers' fusion."""
    model = reference_model(family)
    out = model / "lora"
    if not (out / "lora.json").is_file():
        reference("lora", str(model), "--out", str(out), "--seed", "0",
                  "--strength", str(strength))
    return out
