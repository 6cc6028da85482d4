"""This process's peak resident memory, as the operating system counts it."""

from __future__ import annotations


def peak_rss_bytes() -> int:
    """Peak resident memory of this process in bytes (0 where the OS cannot say).

    Linux's ``VmHWM`` is the high-water mark of this process's own address space.
    ``getrusage``'s ``ru_maxrss`` is not: a child started with fork (or vfork) and exec
    carries the parent's resident size at exec into it, so a small child of a large
    process reports the parent's peak. ``ru_maxrss`` is the fallback elsewhere.
    """
    hwm = _proc_kib("/proc/self/status", "VmHWM:")
    if hwm is not None:
        return hwm * 1024
    try:
        import resource
    except ImportError:  # Windows
        return 0
    scale = 1 if __import__("sys").platform == "darwin" else 1024  # macOS says bytes
    return int(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss) * scale


def available_bytes() -> int | None:
    """Memory the system can give without swapping (Linux ``MemAvailable``; free pages
    elsewhere), or None where it cannot say."""
    available = _proc_kib("/proc/meminfo", "MemAvailable:")
    if available is not None:
        return available * 1024
    import os

    try:
        return int(os.sysconf("SC_AVPHYS_PAGES")) * int(os.sysconf("SC_PAGE_SIZE"))
    except (AttributeError, ValueError, OSError):
        return None


def _proc_kib(path: str, key: str) -> int | None:
    """The kB figure on ``key``'s line of a Linux /proc file; None where there is none."""
    try:
        with open(path, encoding="ascii", errors="replace") as f:
            for line in f:
                if line.startswith(key):
                    return int(line.split()[1])
    except (OSError, ValueError, IndexError):
        pass
    return None
