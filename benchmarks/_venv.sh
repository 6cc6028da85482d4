# Sourced by ref_env.sh and ov_env.sh: make a side venv under .cache/ with pinned
# requirements, once (a stamp named by the pins' hash makes a rerun a no-op).
#
#     make_side_venv NAME "PIN PIN ..." "what it is"

make_side_venv() {
    local name=$1 pins=$2 what=$3
    local py=${PY:-python3.11}
    local root venv stamp
    root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
    venv="$root/.cache/$name"
    stamp="$venv/.installed-$(printf '%s' "$pins" | sha256sum | cut -c1-12)"
    if [ -f "$stamp" ]; then
        return 0
    fi
    test -x "$venv/bin/python" || "$py" -m venv "$venv"
    "$venv/bin/python" -m pip install --quiet --upgrade pip
    # shellcheck disable=SC2086  # pins is a list of requirements
    "$venv/bin/python" -m pip install --quiet $pins
    rm -f "$venv"/.installed-*
    touch "$stamp"
    echo "$what ready: $venv ($pins)"
}
