"""Write a benchmark's section into docs/BENCHMARKS.md, replacing its previous run."""

from __future__ import annotations

import os
import platform
import subprocess
from datetime import UTC, datetime
from pathlib import Path

DOC = Path(__file__).resolve().parents[1] / "docs" / "BENCHMARKS.md"
HEADER = """# Benchmarks

Every figure here comes from a script in `benchmarks/`, run as shown, on the
machine named with it. The machine is noisy: figures are medians of repeated
runs, and comparisons are made side by side in one run.
"""


def machine() -> str:
    cpu = "unknown CPU"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    mem = ""
    try:
        kb = int(Path("/proc/meminfo").read_text().split()[1])
        mem = f", {kb / 2**20:.0f} GiB"
    except (OSError, ValueError, IndexError):
        pass
    return f"{cpu}, {os.cpu_count()} cores{mem}, {platform.system()} {platform.release()}"


def commit() -> str:
    try:
        return subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True,
                              text=True, cwd=DOC.parent, timeout=10, check=False).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return "?"


def write_section(key: str, title: str, command: str, body: str) -> None:
    """Replace the block between ``<!-- key -->`` markers (or append it)."""
    stamp = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    block = (f"<!-- {key}:start -->\n## {title}\n\n"
             f"- date: {stamp}; commit {commit()}\n- machine: {machine()}\n"
             f"- command: `{command}`\n\n{body.rstrip()}\n<!-- {key}:end -->\n")
    text = DOC.read_text(encoding="utf-8") if DOC.exists() else HEADER
    start, end = f"<!-- {key}:start -->", f"<!-- {key}:end -->"
    if start in text and end in text:
        head, rest = text.split(start, 1)
        _, tail = rest.split(end, 1)
        text = head + block.rstrip("\n") + tail
    else:
        text = text.rstrip("\n") + "\n\n" + block
    DOC.parent.mkdir(parents=True, exist_ok=True)
    tmp = DOC.with_suffix(".md.part")
    tmp.write_text(text, encoding="utf-8")
    os.replace(tmp, DOC)
