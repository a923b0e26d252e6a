#!/usr/bin/env bash
# One-shot set-up on a fresh Debian/Ubuntu machine: the system libraries PyQt5 needs (offscreen
# and under X), fonts, then a virtual environment in .venv with caprobe and its test/demo/pva/docs
# extras.
# Safe to run again: every step is idempotent and fast when already done.
set -euo pipefail
cd "$(dirname "$0")/.."

APT_PACKAGES=(
    # Qt's xcb platform plugin (a real X server or Xvfb); offscreen needs none of these
    libgl1 libegl1 libxkbcommon-x11-0 libxcb-icccm4 libxcb-keysyms1 libxcb-xinerama0
    libxcb-image0 libxcb-render-util0 libxcb-shape0 libxcb-randr0 libxcb-xfixes0
    libdbus-1-3 libfontconfig1
    # text renders blank without a font; the PyQt5 wheel ships none
    fonts-dejavu-core
    # packaging: desktop entry and AppStream checks, strip for the bundle, a virtual display
    # for the frozen app's self-test and for screenshots
    desktop-file-utils appstream binutils xvfb
    # the man pages: the tests render each with man -l
    man-db groff-base
)

missing=()
if command -v dpkg-query >/dev/null 2>&1; then
    for pkg in "${APT_PACKAGES[@]}"; do
        dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "ok installed" || missing+=("$pkg")
    done
fi
if [ "${#missing[@]}" -gt 0 ]; then
    SUDO=""
    [ "$(id -u)" -ne 0 ] && SUDO="sudo"
    echo "setup: installing Debian packages: ${missing[*]}"
    $SUDO apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

PYTHON="${PYTHON:-python3}"
if [ ! -x .venv/bin/python ]; then
    "$PYTHON" -m venv .venv
fi
.venv/bin/python -m pip install -q --upgrade pip
.venv/bin/python -m pip install -q -e '.[test,demo,packaging,pva,docs]'
echo "setup: done (.venv ready)"
