"""Turn an ``xwd`` window dump (stdin) into a PNG; print how varied its pixels are.

Used by build_and_check.sh to see that the bundle's window shows something painted
(a blank or black window has a spread near 0). Reads 24/32-bit TrueColor ZPixmap
dumps, which is what ``xwd`` writes on Xvfb.

    xwd -silent -id WINDOW | python xwd_to_png.py OUT.png   ->  prints "WIDTHxHEIGHT SPREAD"
"""

from __future__ import annotations

import struct
import sys

from PIL import Image, ImageStat


def read_xwd(data: bytes) -> Image.Image:
    fields = struct.unpack(">25I", data[:100])
    header_size, version, fmt, depth, width, height = fields[:6]
    byte_order, bits_per_pixel, bytes_per_line, ncolors = fields[7], fields[11], fields[12], fields[19]
    if version != 7 or fmt != 2 or bits_per_pixel != 32 or depth not in (24, 32):
        raise SystemExit(f"xwd_to_png: unsupported dump (version {version}, format {fmt}, "
                         f"depth {depth}, {bits_per_pixel} bits per pixel)")
    start = header_size + 12 * ncolors
    pixels = data[start:start + bytes_per_line * height]
    raw = "BGRX" if byte_order == 0 else "XRGB"  # LSBFirst / MSBFirst 32-bit pixels
    return Image.frombuffer("RGB", (width, height), pixels, "raw", raw, bytes_per_line, 1)


def main() -> int:
    image = read_xwd(sys.stdin.buffer.read())
    image.save(sys.argv[1])
    spread = max(ImageStat.Stat(image).stddev)
    print(f"{image.width}x{image.height} {spread:.1f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
