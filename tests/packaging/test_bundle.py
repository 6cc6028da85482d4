"""The installable bundle (packaging/): its metadata, and the build-and-check script.

The slow test runs ``packaging/build_and_check.sh``: a fresh clone of HEAD is built
with PyInstaller, then the bundle generates an image through its own CLI, shows its
window under Xvfb and refuses to convert. Set PARASIGHT_BUNDLE_SOURCE to a source
folder (e.g. the working tree) to check uncommitted files instead.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

import parasight_desktop

ROOT = Path(__file__).resolve().parents[2]
PACKAGING = ROOT / "packaging"
METAINFO = PACKAGING / "linux" / "io.parasight.Desktop.metainfo.xml"
DESKTOP = PACKAGING / "linux" / "parasight.desktop"
MAX_BYTES = 300_000_000

# The environment before the autouse fixture points XDG_CACHE_HOME into tmp: pip and
# the build keep their caches.
_ENV = dict(os.environ)


def test_metainfo_release_is_the_package_version() -> None:
    releases = ET.parse(METAINFO).getroot().find("releases")
    assert releases is not None
    newest = releases.findall("release")[0].get("version")
    assert newest == parasight_desktop.__version__, (
        f"{METAINFO.name} lists {newest} as the newest release; add a <release> for "
        f"{parasight_desktop.__version__}")


def test_spec_reads_the_version_where_it_is_kept() -> None:
    spec = (PACKAGING / "parasight.spec").read_text(encoding="utf-8")
    pattern = re.search(r"re\.search\(r'(.+?)', _init", spec)
    assert pattern is not None
    init = (ROOT / "parasight_desktop" / "__init__.py").read_text(encoding="utf-8")
    found = re.search(pattern.group(1), init, re.MULTILINE)
    assert found is not None and found.group(1) == parasight_desktop.__version__


@pytest.mark.parametrize("tool,path", [("desktop-file-validate", DESKTOP),
                                       ("appstreamcli", METAINFO)])
def test_desktop_metadata_validates(tool: str, path: Path) -> None:
    exe = shutil.which(tool)
    if exe is None:
        pytest.skip(f"{tool} is not installed (apt-get install desktop-file-utils appstream)")
    args = [exe, "validate", "--no-net", str(path)] if tool == "appstreamcli" else [exe, str(path)]
    proc = subprocess.run(args, check=False, capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stdout + proc.stderr


def _why_pyinstaller_cannot_run() -> str | None:
    if not sys.platform.startswith("linux"):
        return (f"build_and_check.sh is Linux's; on {sys.platform} build with the spec by hand "
                "(packaging/README.md)")
    if shutil.which(os.environ.get("PY", "python3.11")) is None:
        return "no python3.11 to make the build venv with (set PY to one)"
    if not os.environ.get("PARASIGHT_BUNDLE_SOURCE") and not (ROOT / ".git").exists():
        return "not a git checkout, so there is no HEAD to clone (set PARASIGHT_BUNDLE_SOURCE)"
    return None


@pytest.mark.slow
def test_bundle_builds_generates_and_shows_its_window(tmp_path: Path) -> None:
    reason = _why_pyinstaller_cannot_run()
    if reason:
        pytest.skip(reason)
    report = tmp_path / "report.json"
    cmd = ["bash", str(PACKAGING / "build_and_check.sh"), "--report", str(report)]
    if os.environ.get("PARASIGHT_BUNDLE_SOURCE"):
        cmd.append(os.environ["PARASIGHT_BUNDLE_SOURCE"])
    proc = subprocess.run(cmd, check=False, capture_output=True, text=True, timeout=900,
                          env=_ENV, stdin=subprocess.DEVNULL)
    tail = "\n".join((proc.stdout + proc.stderr).splitlines()[-25:])
    assert proc.returncode == 0, tail
    result = json.loads(report.read_text(encoding="utf-8"))
    assert result["size_bytes"] <= MAX_BYTES
    assert (tmp_path / "red-blob.png").is_file()
    if result["window_skipped"]:
        pytest.skip(f"bundle built and its CLI checked; window not: {result['window_skipped']}")
    assert result["startup_s"] is not None and result["startup_s"] < 60
    assert (tmp_path / "window.png").is_file()
