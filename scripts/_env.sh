# Shared by scripts/tour and scripts/check: one virtual environment at .venv.
# Sourced, not run. Works on a fresh Debian machine with only Python 3.11.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
VENV=${VENV:-$ROOT/.venv}
PY=${PYTHON:-python3}

# Install the Debian packages given that are missing: only as root, and only
# where apt-get exists; otherwise say which are missing and go on.
apt_install() {
    local missing=() pkg
    for pkg in "$@"; do
        dpkg -s "$pkg" >/dev/null 2>&1 || missing+=("$pkg")
    done
    [ ${#missing[@]} -eq 0 ] && return 0
    if [ "$(id -u)" -ne 0 ] || ! command -v apt-get >/dev/null 2>&1; then
        echo "note: missing Debian packages: ${missing[*]} (install them as root)" >&2
        return 0
    fi
    echo "installing Debian packages: ${missing[*]}" >&2
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq >/dev/null
    apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
}

# Create .venv if needed and install the toolkit into it (editable), with the
# extras named in $1 (e.g. "[test]").
ensure_venv() {
    local extras=${1:-}
    if ! "$PY" -c 'import venv, ensurepip' >/dev/null 2>&1; then
        apt_install python3-venv
    fi
    if [ ! -x "$VENV/bin/python" ]; then
        echo "creating the virtual environment $VENV" >&2
        "$PY" -m venv "$VENV"
    fi
    echo "installing the toolkit${extras:+ with $extras} into $VENV" >&2
    "$VENV/bin/python" -m pip install -q --disable-pip-version-check -e "$ROOT$extras" 2>&1 \
        | grep -v "^WARNING: Location" >&2 || true
    "$VENV/bin/python" -c 'import ipv6, mcast' # fail here, not later, if the install failed
}
