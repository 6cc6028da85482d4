"""PyInstaller runtime hook: the bundle's own resources, and a clean environment for children.

1. The spec puts resources/ at the top of the bundle's data folder (``sys._MEIPASS``),
   where code that finds it beside the package (``Path(__file__).parents[2]``) also
   looks; PARASIGHT_RESOURCES says so to ``engine.store.resources_dir()``. It is set, not
   defaulted: a bundle always reads its own resources, whatever the shell exports.
2. On Linux the bootloader starts this process with LD_LIBRARY_PATH pointing into the
   bundle. The dynamic loader has read it already; programs this one starts (xdg-open, a
   file manager for "Show file") must not load the bundle's GLib or libstdc++ instead of
   their own, so the variable goes back to what it was.
"""

import os
import sys

os.environ["PARASIGHT_RESOURCES"] = os.path.join(sys._MEIPASS, "resources")  # type: ignore[attr-defined]

if sys.platform.startswith("linux"):
    _orig = os.environ.pop("LD_LIBRARY_PATH_ORIG", None)
    if _orig is not None:
        os.environ["LD_LIBRARY_PATH"] = _orig
    else:
        os.environ.pop("LD_LIBRARY_PATH", None)
