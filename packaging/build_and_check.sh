#!/usr/bin/env bash
# Build the bundle and use it as a person would, on a clean environment without Python.
#
#   packaging/build_and_check.sh [--keep] [--report FILE.json] [SOURCE_DIR]
#
# SOURCE_DIR defaults to a fresh `git clone` of this repository's HEAD (uncommitted
# files are not in it: pass the working tree to check those). Then:
#   1. build dist/ParaSight-<version>/ with packaging/build.sh (its own venv, no TensorFlow);
#   2. generate "a red blob in the snow" through the bundle's CLI with the embedded model
#      (tests/data/tiny-model stands in while resources/models/ has none), check the PNG,
#      and read its metadata back with `parasight info --json`;
#   3. install.sh into a temporary prefix, run the installed link, uninstall;
#   4. under Xvfb, start the window, check it is painted, time it until it is shown
#      (the median of three starts);
#   5. ask the bundle to convert a model: it must refuse, saying where conversion works;
#   6. print the bundle's size and start-up time; fail above 300 MB.
# The bundle runs with `env -i` and a throwaway HOME: no Python, venv or user settings.
# Xvfb, xdotool and xwd are installed with apt-get where missing and allowed (root);
# otherwise step 4 is skipped with a message saying so.
set -euo pipefail

HERE=$(cd "$(dirname "$0")" && pwd)
REPO=$(cd "$HERE/.." && pwd)
VENV=${PARASIGHT_BUILD_VENV:-$HERE/.venv-build}
MAX_MB=300
PROMPT="a red blob in the snow"

keep=0
report=""
src_arg=""
while [ $# -gt 0 ]; do
    case "$1" in
        --keep) keep=1 ;;
        --report) report=$(realpath -m "$2"); shift ;;
        -h|--help) sed -n '2,19p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
        -*) echo "build_and_check: unknown option $1 (see --help)" >&2; exit 2 ;;
        *) src_arg=$1 ;;
    esac
    shift
done

say() { echo "build_and_check: $*" >&2; }
fail() { echo "build_and_check: FAIL: $*" >&2; exit 1; }

WORK=$(mktemp -d "${TMPDIR:-/tmp}/parasight-bundle.XXXXXX")
app_pid=""
xvfb_pid=""
cleanup() {
    [ -n "$app_pid" ] && kill -KILL "$app_pid" 2>/dev/null || true
    [ -n "$xvfb_pid" ] && kill "$xvfb_pid" 2>/dev/null || true
    if [ "$keep" = 1 ]; then say "kept $WORK"; else rm -rf "$WORK"; fi
}
trap cleanup EXIT

now() { date +%s.%N; }
secs() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", b - a }'; }

# 1. Source and build -------------------------------------------------------------------
if [ -n "$src_arg" ]; then
    SRC=$(cd "$src_arg" && pwd)
else
    git -C "$REPO" rev-parse --git-dir >/dev/null 2>&1 \
        || fail "$REPO is not a git repository: pass the source folder to build"
    say "cloning $(git -C "$REPO" rev-parse --short HEAD) of $REPO"
    git clone --quiet "$REPO" "$WORK/src"
    SRC=$WORK/src
fi
t0=$(now)
bundle=$("$HERE/build.sh" "$SRC" | tail -n 1) || fail "the build failed (above)"
build_s=$(secs "$t0" "$(now)")
[ -x "$bundle/parasight" ] || fail "no executable at $bundle/parasight"
version=$(basename "$bundle"); version=${version#ParaSight-}
size_bytes=$(du -sb "$bundle" | cut -f1)
size_mb=$(awk -v b="$size_bytes" 'BEGIN { printf "%.1f", b / 1e6 }')
say "built $bundle ($size_mb MB) in $build_s s"

# 1b. A clean environment: no Python on the path, a throwaway home ----------------------
home=$WORK/home
mkdir -p "$home" "$WORK/out"
run_env=(env -i "HOME=$home" "PATH=/usr/bin:/bin" "LANG=C.UTF-8" "TMPDIR=$WORK"
         "XDG_CONFIG_HOME=$home/.config" "XDG_DATA_HOME=$home/.local/share"
         "XDG_CACHE_HOME=$home/.cache" "XDG_RUNTIME_DIR=$WORK/runtime")
mkdir -p -m 700 "$WORK/runtime"
app() { "${run_env[@]}" "$bundle/parasight" "$@"; }

# 2. Generate with the embedded model ---------------------------------------------------
models=$(app models list) || fail "'parasight models list' failed"
if grep -q ' embedded ' <<<"$models"; then
    model_args=()
    expect_model=$(awk '$1 == "*" && / embedded / { print $2 }' <<<"$models")
    [ -n "$expect_model" ] || expect_model=$(awk '/ embedded / { print $1; exit }' <<<"$models")
    model_note="embedded model $expect_model"
else
    # Until resources/models/parasight-mini lands: the test model, installed as a user would.
    mkdir -p "$home/.local/share/ParaSight/models"
    cp -r "$SRC/tests/data/tiny-model" "$home/.local/share/ParaSight/models/"
    app models list | grep -q tiny-model \
        || fail "the stand-in model in $home/.local/share/ParaSight/models is not listed"
    model_args=(--model tiny-model)
    expect_model=tiny-model
    model_note="NO embedded model in the bundle: tests/data/tiny-model stood in"
    say "NOTE: $model_note"
fi
png=$WORK/out/red-blob.png
t0=$(now)
printed=$(app generate "$PROMPT" --seed 1 --steps 4 --out "$png" --quiet "${model_args[@]}") \
    || fail "'parasight generate' failed"
generate_s=$(secs "$t0" "$(now)")
[ "$printed" = "$png" ] || fail "generate printed '$printed', expected '$png'"
app info "$png" --json >"$WORK/out/info.json" || fail "'parasight info --json' failed"
"$VENV/bin/python" - "$png" "$WORK/out/info.json" "$PROMPT" "$expect_model" "$version" <<'EOF' \
    || fail "the generated PNG or its metadata is wrong (above)"
import json, sys
from PIL import Image, ImageStat
png, info, prompt, model, version = sys.argv[1:]
meta = json.load(open(info, encoding="utf-8"))
s = meta["settings"]
want = {"prompt": prompt, "seed": 1, "steps": 4, "model_name": model}
bad = {k: s.get(k) for k, v in want.items() if s.get(k) != v}
bad.update({k: v for k, v in {"ai_generated": meta["ai_generated"],
            "app_version": meta["parasight"]["app_version"]}.items()
            if v not in (True, version)})
with Image.open(png) as im:
    im.load()
    if im.format != "PNG" or im.size != (s["width"], s["height"]) or im.mode != "RGB":
        bad["image"] = f"{im.format} {im.mode} {im.size}"
    elif max(ImageStat.Stat(im).stddev) < 1.0:
        bad["image"] = "one flat colour"
if bad:
    sys.exit(f"unexpected: {bad}")
print(f"build_and_check: {png}: {s['width']}x{s['height']} PNG, seed 1, 4 steps, "
      f"model {model}, metadata read back", file=sys.stderr)
EOF

# 3. install.sh into a throwaway prefix, run through the bin link, uninstall -------------
prefix=$WORK/prefix
"${run_env[@]}" "PREFIX=$prefix" "$bundle/install.sh" >/dev/null || fail "install.sh failed"
for f in bin/parasight share/applications/parasight.desktop \
        share/metainfo/io.parasight.Desktop.metainfo.xml \
        share/icons/hicolor/48x48/apps/parasight.png share/icons/hicolor/256x256/apps/parasight.png; do
    [ -e "$prefix/$f" ] || fail "install.sh did not install $f"
done
"${run_env[@]}" "$prefix/bin/parasight" models list >/dev/null \
    || fail "the installed 'parasight' (a link into $prefix/lib) does not run"
if command -v desktop-file-validate >/dev/null; then
    desktop-file-validate "$prefix/share/applications/parasight.desktop" \
        || fail "the installed parasight.desktop is not valid (above)"
fi
"${run_env[@]}" "PREFIX=$prefix" "$prefix/lib/parasight/install.sh" --uninstall >/dev/null \
    || fail "install.sh --uninstall failed"
left=$(find "$prefix" \( -type f -o -type l \) ! -name mimeinfo.cache ! -name icon-theme.cache)
[ -z "$left" ] || fail "install.sh --uninstall left: $left"
say "install.sh installed into $prefix, ran, and uninstalled cleanly"

# 4. The window under Xvfb --------------------------------------------------------------
need_tools() {
    local missing=()
    command -v Xvfb >/dev/null || missing+=(xvfb)
    command -v xdotool >/dev/null || missing+=(xdotool)
    command -v xwd >/dev/null || missing+=(x11-apps)
    [ ${#missing[@]} = 0 ] && return 0
    if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
        say "installing ${missing[*]} with apt-get"
        { apt-get install -y --no-install-recommends "${missing[@]}" \
            || { apt-get update && apt-get install -y --no-install-recommends "${missing[@]}"; }
        } >"$WORK/apt.log" 2>&1 && return 0
        window_skip="apt-get could not install ${missing[*]} (log: $WORK/apt.log)"
    else
        window_skip="${missing[*]} missing and not installable here (needs root and apt-get)"
    fi
    return 1
}
startup_s=""
runs=()
window_skip=""
if need_tools; then
    exec 3>"$WORK/display"
    Xvfb -displayfd 3 -screen 0 1280x800x24 -nolisten tcp >"$WORK/xvfb.log" 2>&1 &
    xvfb_pid=$!
    exec 3>&-
    for _ in $(seq 100); do [ -s "$WORK/display" ] && break; sleep 0.1; done
    [ -s "$WORK/display" ] || fail "Xvfb did not start: $(cat "$WORK/xvfb.log")"
    display=:$(head -n 1 "$WORK/display")
    start_window() {  # sets app_pid, wid and shown_s (seconds until a visible window)
        local t0 deadline
        t0=$(now)
        "${run_env[@]}" "DISPLAY=$display" QT_QPA_PLATFORM=xcb "$bundle/parasight" \
            >"$WORK/out/window.log" 2>&1 &
        app_pid=$!
        wid=""
        deadline=$(awk -v t="$t0" 'BEGIN { printf "%.3f", t + 60 }')  # not %.6g: 1.7958e+09
        while [ -z "$wid" ]; do
            kill -0 "$app_pid" 2>/dev/null \
                || fail "the window process exited early: $(tail -n 5 "$WORK/out/window.log")"
            wid=$(DISPLAY=$display xdotool search --onlyvisible --name '^ParaSight' \
                  2>/dev/null | head -n 1 || true)
            [ -n "$wid" ] && break
            awk -v d="$deadline" -v n="$(now)" 'BEGIN { exit !(n > d) }' \
                && fail "no ParaSight window within 60 s: $(tail -n 5 "$WORK/out/window.log")"
            sleep 0.05
        done
        shown_s=$(secs "$t0" "$(now)")
    }
    stop_window() {
        kill -TERM "$app_pid"
        for _ in $(seq 50); do kill -0 "$app_pid" 2>/dev/null || break; sleep 0.1; done
        kill -KILL "$app_pid" 2>/dev/null || true
        app_pid=""
    }
    # The first start is checked (screenshot, title, Qt's complaints); three are timed.
    start_window
    runs=("$shown_s")
    sleep 2  # let it paint before the screenshot
    shot=$(DISPLAY=$display xwd -silent -id "$wid" \
           | "$VENV/bin/python" "$HERE/xwd_to_png.py" "$WORK/out/window.png") \
        || fail "could not take a screenshot of the window"
    read -r shot_size shot_spread <<<"$shot"
    awk -v s="$shot_spread" 'BEGIN { exit !(s >= 5) }' \
        || fail "the window ($shot_size) looks blank (pixel spread $shot_spread)"
    title=$(DISPLAY=$display xdotool getwindowname "$wid")
    stop_window
    if grep -iE "could not (load|find) the qt platform plugin|cannot load library" \
            "$WORK/out/window.log" >&2; then
        fail "Qt could not load parts of itself (above)"
    fi
    for _ in 2 3; do start_window; runs+=("$shown_s"); stop_window; done
    startup_s=$(printf '%s\n' "${runs[@]}" | sort -n | sed -n 2p)  # the median of three
    say "window '$title' ($shot_size) shown after ${runs[*]} s; screenshot $WORK/out/window.png"
else
    say "SKIPPED the window check: $window_skip"
fi

# 5. Conversion: refused, with where to do it instead ----------------------------------
for cmd in "models convert sd-v1.4" "models import-keras --text-encoder $WORK/e.h5 \
        --diffusion-model $WORK/d.h5 --decoder $WORK/x.h5"; do
    touch "$WORK/e.h5" "$WORK/d.h5" "$WORK/x.h5"
    # shellcheck disable=SC2086  # word splitting wanted
    if app $cmd >"$WORK/out/convert.txt" 2>&1; then
        fail "'parasight $cmd' succeeded in the bundle, which has no TensorFlow"
    fi
    grep -qF "[convert]" "$WORK/out/convert.txt" || fail "'parasight ${cmd%% --*}' in the \
bundle should say conversion needs the Python install with the convert extra; it said: \
$(tail -n 2 "$WORK/out/convert.txt")"
done
say "conversion refused with: $(tail -n 1 "$WORK/out/convert.txt")"

# 6. Report ------------------------------------------------------------------------------
echo "bundle:   $bundle"
echo "size:     $size_mb MB (limit $MAX_MB MB)"
echo "build:    $build_s s"
echo "generate: $generate_s s, 4 steps, $model_note"
if [ -n "$startup_s" ]; then
    echo "start-up: $startup_s s to a shown window, median of ${runs[*]} s" \
         "(Xvfb, $(nproc) cores, load average $(cut -d' ' -f1 /proc/loadavg))"
else
    echo "start-up: not measured: $window_skip"
fi
if [ -n "$report" ]; then
    mkdir -p "$(dirname "$report")"
    "$VENV/bin/python" - "$report" <<EOF
import json, sys
json.dump({"bundle": "$(basename "$bundle")", "version": "$version",
           "size_bytes": $size_bytes, "build_s": $build_s, "generate_s": $generate_s,
           "model": "$expect_model", "startup_s": ${startup_s:-None},
           "startup_runs_s": [$(IFS=,; echo "${runs[*]:-}")],
           "load_average": $(cut -d' ' -f1 /proc/loadavg),
           "window_skipped": "$window_skip" or None, "cores": $(nproc)},
          open(sys.argv[1], "w"), indent=2)
EOF
    cp "$WORK/out/"*.png "$(dirname "$report")/"  # the generated image and the window
fi
awk -v b="$size_bytes" -v m="$MAX_MB" 'BEGIN { exit !(b <= m * 1e6) }' \
    || fail "the bundle is $size_mb MB, over the $MAX_MB MB limit"
echo "build_and_check: OK"
