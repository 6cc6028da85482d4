#!/bin/sh
# Put ParaSight in your own desktop menu, under ~/.local (no root needed).
#
#   ./install.sh               install, or update, from the bundle this script is in
#   ./install.sh --uninstall   remove what install.sh put there
#
# The bundle is copied to ~/.local/lib/parasight (the folder you unpacked can then go),
# `parasight` is linked into ~/.local/bin, and the menu entry, icons and AppStream
# metadata go to ~/.local/share. Your images, history and models (in
# ~/.local/share/ParaSight) are never touched, not even by --uninstall.
# PREFIX=/some/dir ./install.sh installs under /some/dir instead of ~/.local.
set -eu

PREFIX=${PREFIX:-$HOME/.local}
BUNDLE=$(cd "$(dirname "$0")" && pwd -P)
APPDIR=$PREFIX/lib/parasight
BIN=$PREFIX/bin/parasight
DESKTOP=$PREFIX/share/applications/parasight.desktop
METAINFO=$PREFIX/share/metainfo/io.parasight.Desktop.metainfo.xml
ICONS=$PREFIX/share/icons/hicolor
SIZES="16 24 32 48 64 128 256"

refresh() {  # menus and icon caches pick the change up now rather than at next login
    command -v update-desktop-database >/dev/null 2>&1 \
        && update-desktop-database -q "$PREFIX/share/applications" 2>/dev/null || true
    command -v gtk-update-icon-cache >/dev/null 2>&1 && [ -f "$ICONS/index.theme" ] \
        && gtk-update-icon-cache -q -t "$ICONS" 2>/dev/null || true
}

uninstall() {
    if [ -L "$BIN" ]; then
        case $(readlink "$BIN") in "$APPDIR"/*) rm -f "$BIN" ;; esac
    fi
    rm -f "$DESKTOP" "$METAINFO"
    for s in $SIZES; do rm -f "$ICONS/${s}x${s}/apps/parasight.png"; done
    rm -rf "$APPDIR"
    refresh
    echo "ParaSight is uninstalled. Your images, history and models are still in"
    echo "${XDG_DATA_HOME:-$HOME/.local/share}/ParaSight; delete that folder to remove them too."
}

install() {
    [ -x "$BUNDLE/parasight" ] && [ -d "$BUNDLE/share" ] \
        || { echo "install.sh: run the install.sh inside an unpacked ParaSight bundle" >&2; exit 1; }
    if [ "$BUNDLE" != "$(cd "$APPDIR" 2>/dev/null && pwd -P)" ]; then
        mkdir -p "$PREFIX/lib"
        rm -rf "$APPDIR.new"
        cp -a "$BUNDLE" "$APPDIR.new"
        rm -rf "$APPDIR"
        mv "$APPDIR.new" "$APPDIR"
    fi
    mkdir -p "$PREFIX/bin" "$(dirname "$DESKTOP")" "$(dirname "$METAINFO")"
    ln -sfn "$APPDIR/parasight" "$BIN"
    # Exec by full path: the menu works whether or not ~/.local/bin is on PATH.
    sed "s|^Exec=parasight|Exec=\"$APPDIR/parasight\"|" \
        "$APPDIR/share/parasight.desktop" >"$DESKTOP"
    cp "$APPDIR/share/io.parasight.Desktop.metainfo.xml" "$METAINFO"
    for s in $SIZES; do
        icon=$(find "$APPDIR" -path "*/resources/icons/parasight-$s.png" | head -n 1)
        [ -n "$icon" ] || continue
        mkdir -p "$ICONS/${s}x${s}/apps"
        cp "$icon" "$ICONS/${s}x${s}/apps/parasight.png"
    done
    refresh
    echo "ParaSight is installed: find it in your menu, or run 'parasight' ($BIN)."
    case ":$PATH:" in *":$PREFIX/bin:"*) ;; *)
        echo "Note: $PREFIX/bin is not on your PATH; add it to run 'parasight' by name." ;;
    esac
}

case "${1:-}" in
    "") install ;;
    --uninstall) uninstall ;;
    -h|--help) sed -n '2,11p' "$0" | sed 's/^# \{0,1\}//' ;;
    *) echo "install.sh: unknown option $1 (use --uninstall, or nothing)" >&2; exit 2 ;;
esac
