"""peak_rss_bytes reports a child's own peak, not the peak of the process it came from;
available_bytes reads what the system can give; a large model keeps its UNet and decoder
loaded only where they fit, and the Models window says which."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np

from parasight_desktop.engine.memory import peak_rss_bytes

CHILD = ("import resource, numpy as np\n"
         "from parasight_desktop.engine.memory import peak_rss_bytes\n"
         "before = peak_rss_bytes()\n"
         "a = np.ones(64 * 2**20 // 8)\n"  # 64 MiB touched
         "print(before, peak_rss_bytes(), resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)")


def test_a_small_child_of_a_large_process_reports_its_own_peak() -> None:
    big = np.ones(400 * 2**20 // 8)  # this process: 400 MiB more, touched
    assert peak_rss_bytes() >= 400 * 2**20
    before, after, _ = (int(v) for v in subprocess.run(
        [sys.executable, "-c", CHILD], capture_output=True, text=True, check=True,
    ).stdout.split())
    del big
    assert after - before >= 60 * 2**20  # it sees its own 64 MiB
    assert after < 300 * 2**20  # and not this process's 400 MiB


def test_available_memory_is_what_the_system_says() -> None:
    from parasight_desktop.engine.memory import available_bytes

    got = available_bytes()
    assert got is not None and got > 0
    with open("/proc/meminfo", encoding="ascii") as f:
        total = next(int(line.split()[1]) for line in f if line.startswith("MemTotal:"))
    assert got <= total * 1024


def test_a_large_model_keeps_both_stages_only_where_they_fit() -> None:
    from parasight_desktop.engine.memory import RESIDENT_BUDGET_BYTES, keep_stages_loaded

    mib, gib = 2**20, 2**30
    sd15_int8 = (118 + 824 + 47) * mib  # text encoder, UNet parts, decoder at int8
    assert keep_stages_loaded(sd15_int8, 512 * 512, True, 20 * gib)
    assert keep_stages_loaded(sd15_int8, 512 * 512, True, None)  # the system cannot say
    assert not keep_stages_loaded(sd15_int8, 512 * 512, False, 20 * gib)  # older layout
    assert not keep_stages_loaded(sd15_int8, 768 * 768, True, 20 * gib)  # a larger arena
    assert not keep_stages_loaded((469 + 3279 + 189) * mib, 512 * 512, True, 20 * gib)  # fp32
    assert not keep_stages_loaded(sd15_int8, 512 * 512, True, 3 * gib)  # little memory free
    assert not keep_stages_loaded(RESIDENT_BUDGET_BYTES, 1, True, None)


def test_the_models_window_says_how_a_large_model_uses_memory(tiny_model_dir: Path,
                                                              tmp_path: Path) -> None:
    """A UNet of SD 1.x's size (a sparse file: only its size counts) at layout 3 keeps
    both stages; an older layout, or a larger image, lets the UNet go; the store's
    sentence for the Models window says which and why."""
    import json

    from parasight_desktop.engine.manifest import load_manifest
    from parasight_desktop.engine.memory import stage_plan
    from parasight_desktop.engine.store import ModelStore

    small = load_manifest(tiny_model_dir)
    assert stage_plan(small) == (False, True, "")
    with open(small.path(small.unet_parts[0].file), "r+b") as f:
        f.truncate(824 * 2**20)
    path = tiny_model_dir / "manifest.json"
    data = json.loads(path.read_text())
    said = {}
    for key, layout, size in (("kept", 3, 512), ("older", 2, 512), ("large", 3, 768)):
        data["extra"] = {"precision": "int8", "lean_attention": True, "layout": layout}
        data["image"] = {"width": size, "height": size}
        path.write_text(json.dumps(data))
        large, keep, sentence = stage_plan(load_manifest(tiny_model_dir))
        assert large and keep == (key == "kept")
        info = ModelStore([tiny_model_dir.parent], hash_cache=tmp_path / "h.json").get(
            "tiny-model")
        assert sentence and sentence in info.runs_on
        said[key] = sentence
    assert "stay loaded between images" in said["kept"]
    assert "let go" in said["older"] and "before layout 3" in said["older"]
    assert "let go" in said["large"] and "GiB" in said["large"]
