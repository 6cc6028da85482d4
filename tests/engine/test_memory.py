"""peak_rss_bytes reports a child's own peak, not the peak of the process it came from;
available_bytes reads what the system can give."""

from __future__ import annotations

import subprocess
import sys

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
