"""Memory: this process's peak as the operating system counts it, what the system has
available, and which of a large model's stages stay loaded between images."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from .manifest import ModelManifest

#: A model whose UNet files are larger than this is "large" (Stable Diffusion): it may
#: let stages go to keep memory low; smaller models keep everything loaded.
_LARGE_UNET_BYTES = 256 * 2**20
#: What a large model's text encoder, UNet and full decoder may need together and still
#: all stay loaded between images (the process's own peak stays under 3 GiB).
RESIDENT_BUDGET_BYTES = int(2.5 * 2**30)
#: The full decoder's working memory per output pixel in a one-piece XNNPACK graph
#: (converter layout 3: a decoder process peaks at 1.08 GiB at 512x512, bench_engine).
_DECODER_BYTES_PER_PIXEL = 4096
#: The converter layout from which a Stable Diffusion decoder is one XNNPACK graph.
_ONE_PIECE_LAYOUT = 3


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


def peak_rss_gib() -> float:
    """:func:`peak_rss_bytes` in GiB, as the benchmarks report it."""
    return peak_rss_bytes() / 2**30


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


def resident_need(model_bytes: int, pixels: int) -> int:
    """Estimated bytes to keep a model's files (text encoder, UNet, decoder) and its full
    decoder's arena at ``pixels`` output pixels in memory together."""
    return model_bytes + pixels * _DECODER_BYTES_PER_PIXEL


def keep_stages_loaded(model_bytes: int, pixels: int, one_piece: bool,
                       available: int | None) -> bool:
    """Whether a large model keeps its UNet and full decoder both loaded between images.

    Letting the UNet go before each decode keeps the peak lower, at a price every image:
    the UNet's weights are packed again (about 1 s here, 5-15 s on an AVX2 CPU) and the
    decoder's arena is memory the process touches anew (3-5 s more in a virtual machine
    that backs memory on first use; docs/BENCHMARKS.md, "Engine speed"). Both stay when
    the files (``model_bytes``: text encoder, UNet, decoder) and the decoder's arena are
    estimated within :data:`RESIDENT_BUDGET_BYTES` and within half of what the system has
    available. SD 1.x at int8, 512x512: 2.0 GiB estimated, 2.34 GiB measured peak, 28.8 s
    an image against 33.6 s when swapping (bench_engine, AMD EPYC). Older conversions
    (``one_piece`` False: a decoder cut into pieces needs 0.4 GiB more) keep swapping."""
    need = resident_need(model_bytes, pixels)
    return (one_piece and need <= RESIDENT_BUDGET_BYTES
            and (available is None or 2 * need <= available))


def stage_plan(manifest: ModelManifest) -> tuple[bool, bool, str]:
    """(large, keep both stages loaded, a sentence for the Models window) for a model:
    small models keep everything and say nothing. Raises OSError where a file is missing."""
    unet_bytes = sum(manifest.path(p.file).stat().st_size for p in manifest.unet_parts)
    if unet_bytes <= _LARGE_UNET_BYTES:
        return False, True, ""
    model_bytes = unet_bytes + sum(manifest.path(f).stat().st_size
                                   for f in (manifest.text_encoder, manifest.decoder))
    pixels = manifest.width * manifest.height
    need_gib = resident_need(model_bytes, pixels) / 2**30
    one_piece = int(manifest.extra.get("layout", 1)) >= _ONE_PIECE_LAYOUT
    if keep_stages_loaded(model_bytes, pixels, one_piece, available_bytes()):
        return True, True, (f" Its UNet and decoder stay loaded between images (about "
                            f"{need_gib:.1f} GiB together).")
    why = ("a decoder converted before layout 3 needs more" if not one_piece else
           f"together they would need about {need_gib:.1f} GiB")
    return True, False, (" To keep memory low, its UNet is let go while each image decodes "
                         f"and loaded again for the next ({why}).")
