"""This process's peak resident memory, as the operating system counts it."""

from __future__ import annotations


def peak_rss_bytes() -> int:
    """Peak resident memory of this process in bytes (0 where the OS cannot say).

    Linux's ``VmHWM`` is the high-water mark of this process's own address space.
    ``getrusage``'s ``ru_maxrss`` is not: a child started with fork (or vfork) and exec
    carries the parent's resident size at exec into it, so a small child of a large
    process reports the parent's peak. ``ru_maxrss`` is the fallback elsewhere.
    """
    try:
        with open("/proc/self/status", encoding="ascii", errors="replace") as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    try:
        import resource
    except ImportError:  # Windows
        return 0
    scale = 1 if __import__("sys").platform == "darwin" else 1024  # macOS says bytes
    return int(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss) * scale


def available_bytes() -> int | None:
    """Memory the system can give without swapping (Linux ``MemAvailable``; free pages
    elsewhere), or None where it cannot say."""
    try:
        with open("/proc/meminfo", encoding="ascii", errors="replace") as f:
            for line in f:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    import os

    try:
        return int(os.sysconf("SC_AVPHYS_PAGES")) * int(os.sysconf("SC_PAGE_SIZE"))
    except (AttributeError, ValueError, OSError):
        return None
