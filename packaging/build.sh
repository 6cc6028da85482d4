#!/usr/bin/env bash
# Build the one-folder bundle dist/ParaSight-<version>/ from a source tree with PyInstaller.
#
#   packaging/build.sh [SOURCE_DIR]      (default: the tree this script is in; `make package`)
#
# SOURCE_DIR gives the package, resources/ and pyproject.toml; the spec and this script
# are always this tree's, so a check of a fresh clone uses the packaging being worked on.
# PyInstaller runs in its own virtual environment (packaging/.venv-build, or
# $PARASIGHT_BUILD_VENV) holding the runtime dependencies from pyproject.toml and the
# build tools, never the `convert` extra: what is not installed cannot end up in the
# bundle. The venv is made afresh whenever pyproject.toml or requirements-build.txt
# changes, so a dependency dropped from pyproject.toml leaves it too. The package itself
# is taken from SOURCE_DIR (the spec puts it first on the path), not from the venv.
set -euo pipefail

HERE=$(cd "$(dirname "$0")" && pwd)
SRC=$(cd "${1:-$HERE/..}" && pwd)
VENV=${PARASIGHT_BUILD_VENV:-$HERE/.venv-build}
PY=${PY:-python3.11}

# 1. The build venv: runtime dependencies + PyInstaller, made again when either list changes.
key=$(cat "$SRC/pyproject.toml" "$HERE/requirements-build.txt" | sha256sum | cut -c1-12)
if [ ! -f "$VENV/.installed-$key" ]; then
    echo "build.sh: making the build venv $VENV (runtime dependencies + PyInstaller)" >&2
    rm -rf "$VENV"
    "$PY" -m venv "$VENV"
    "$VENV/bin/python" -m pip install --quiet --upgrade pip
    # "$SRC" brings [project] dependencies without extras; the project copy is then removed
    # so that the spec's source tree is the only parasight_desktop PyInstaller can find.
    "$VENV/bin/python" -m pip install --quiet "$SRC" -r "$HERE/requirements-build.txt"
    "$VENV/bin/python" -m pip uninstall --quiet --yes parasight-desktop
    touch "$VENV/.installed-$key"
fi

# 2. PyInstaller.
version=$(cd "$SRC" && "$VENV/bin/python" -c \
    'import parasight_desktop; print(parasight_desktop.__version__)')
bundle="$SRC/dist/ParaSight-$version"
echo "build.sh: building $bundle" >&2
PARASIGHT_SOURCE="$SRC" "$VENV/bin/python" -m PyInstaller --noconfirm --log-level WARN \
    --distpath "$SRC/dist" --workpath "$SRC/build/pyinstaller" "$HERE/parasight.spec"

# 3. Debug information out of shared libraries (pyenv's libpython carries 18 MB of it);
# symbols stay. The executables are left alone: their archive is appended to them.
if command -v strip >/dev/null && command -v file >/dev/null; then
    find "$bundle" -type f -name '*.so*' -print0 | while IFS= read -r -d '' so; do
        if file -b "$so" | grep -q 'with debug_info'; then strip --strip-debug "$so"; fi
    done
fi

# 4. The runtime only: no TensorFlow, Keras or keras-cv inside.
found=$(find "$bundle" \( -iname 'tensorflow*' -o -iname 'keras*' -o -iname 'tf_keras*' \) \
    -print | head -5)
if [ -n "$found" ]; then
    echo "build.sh: FAIL: conversion-only packages are in the bundle:" >&2
    echo "$found" >&2
    exit 1
fi
echo "$bundle"
