#!/usr/bin/env bash
# Build caprobe for operators: a PyInstaller one-folder bundle, a single-file executable and a
# Debian package, all under dist/:
#
#   dist/caprobe-dir/caprobe          one-folder bundle (fast start; what the .deb installs)
#   dist/caprobe                      single file (unpacks itself to /tmp on every start)
#   dist/caprobe_<version>_amd64.deb  /opt/caprobe + /usr/bin/caprobe + desktop entry + icons
#
# Usage: bash packaging/build.sh [--dir-only] [--no-deb] [--clean] [--measure]
#   --dir-only  only the one-folder bundle (CI: then run its --self-test and `caprobe get`)
#   --no-deb    bundle and single file, no .deb
#   --clean     discard PyInstaller's caches in build/ first (slower, from scratch)
#   --measure   afterwards time launch-to-window of each build under a private Xvfb
#               (packaging/measure_start.py; needs Xvfb and xwininfo)
# Environment: PYTHON (default .venv/bin/python, else python3), DEB_MAINTAINER (the .deb's
# Maintainer field), CAPROBE_ENTRY (freeze another entry script, for baseline measurements only).
#
# Build-machine needs, installed here when missing (apt, as root or with sudo):
#   libxcb-icccm4 libxcb-keysyms1 libxcb-xinerama0  PyInstaller copies them into the bundle; a
#                                                   bundle built without them aborts under X
#   binutils (strip, readelf, objdump)              trimming and the dependency check
set -euo pipefail
cd "$(dirname "$0")/.."

DIR_ONLY=0
MAKE_DEB=1
CLEAN=()
MEASURE=0
for arg in "$@"; do
    case "$arg" in
        --dir-only) DIR_ONLY=1; MAKE_DEB=0 ;;
        --no-deb) MAKE_DEB=0 ;;
        --clean) CLEAN=(--clean) ;;
        --measure) MEASURE=1 ;;
        -h|--help) awk 'NR > 1 && /^#/ { sub(/^# ?/, ""); print; next } NR > 1 { exit }' "$0"; exit 0 ;;
        *) echo "build.sh: unknown option '$arg' (try --help)" >&2; exit 2 ;;
    esac
done

say() { printf 'build.sh: %s\n' "$*"; }
die() { printf 'build.sh: error: %s\n' "$*" >&2; exit 1; }
now() { date +%s.%N; }
elapsed() { awk -v a="$1" -v b="$(now)" 'BEGIN { printf "%.1f", b - a }'; }
size_mb() { du -sm "$1" | cut -f1; }

# Debian packages the .deb needs on the target: the system libraries the bundle links against
# but does not carry (check_bundle.py verifies this list after every build), the keyboard data
# behind libxkbcommon, and fonts (the PyQt5 wheel has none; without them text renders blank).
DEB_MAINTAINER="${DEB_MAINTAINER:-caprobe developers <caprobe@localhost>}"
DEB_DEPENDS_BASE="libgl1, libegl1, libxcb1, libx11-6, libxkbcommon-x11-0, fontconfig-config, fonts-dejavu-core"

# ---- build-machine packages ------------------------------------------------------------------
APT_BUILD_PACKAGES=(libxcb-icccm4 libxcb-keysyms1 libxcb-xinerama0 binutils)
if command -v dpkg-query >/dev/null 2>&1; then
    missing=()
    for pkg in "${APT_BUILD_PACKAGES[@]}"; do
        dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "ok installed" || missing+=("$pkg")
    done
    if [ "${#missing[@]}" -gt 0 ]; then
        SUDO=""
        [ "$(id -u)" -ne 0 ] && SUDO="sudo"
        say "installing build packages: ${missing[*]}"
        $SUDO apt-get update -qq
        DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends \
            "${missing[@]}" >/dev/null
    fi
else
    say "warning: no dpkg; make sure libxcb-icccm4, libxcb-keysyms1, libxcb-xinerama0 are installed"
fi

# ---- Python and PyInstaller ------------------------------------------------------------------
if [ -z "${PYTHON:-}" ]; then
    if [ -x .venv/bin/python ]; then PYTHON=.venv/bin/python; else PYTHON=python3; fi
fi
if ! "$PYTHON" -c "import PyInstaller" 2>/dev/null; then
    say "installing PyInstaller into $PYTHON's environment"
    "$PYTHON" -m pip install -q "pyinstaller>=6.6"
fi
# [project] version from pyproject.toml (sed, not tomllib: caprobe supports Python 3.10)
VERSION="$(sed -n '/^\[project\]/,/^\[/ s/^version *= *"\([^"]*\)".*/\1/p' pyproject.toml)"
[ -n "$VERSION" ] || die "could not read the version from pyproject.toml"
if [ -z "${CAPROBE_ENTRY:-}" ] && [ ! -f caprobe/__main__.py ]; then
    die "caprobe/__main__.py does not exist yet: nothing to freeze"
fi
say "caprobe $VERSION, $("$PYTHON" -m PyInstaller --version | sed 's/^/PyInstaller /'), $("$PYTHON" --version)"

TARGETS="dir,onefile"
[ "$DIR_ONLY" -eq 1 ] && TARGETS="dir"
REPORT=()

# ---- PyInstaller: one analysis, one-folder bundle and (unless --dir-only) the single file ----
t0="$(now)"
rm -rf dist/caprobe-dir dist/caprobe dist/caprobe-onefile
CAPROBE_TARGETS="$TARGETS" "$PYTHON" -m PyInstaller --noconfirm "${CLEAN[@]}" --log-level WARN \
    --distpath dist --workpath build/pyinstaller packaging/caprobe.spec
PYINSTALLER_SECONDS="$(elapsed "$t0")"
[ -x dist/caprobe-dir/caprobe ] || die "PyInstaller did not produce dist/caprobe-dir/caprobe"
REPORT+=("one-folder  dist/caprobe-dir/  $(size_mb dist/caprobe-dir) MB")
if [ "$DIR_ONLY" -eq 0 ]; then
    [ -x dist/caprobe-onefile ] || die "PyInstaller did not produce dist/caprobe-onefile"
    mv dist/caprobe-onefile dist/caprobe
    REPORT+=("single file dist/caprobe  $(size_mb dist/caprobe) MB")
fi
REPORT+=("PyInstaller ($TARGETS) took ${PYINSTALLER_SECONDS} s")

# Smoke test: the frozen program starts, imports its Qt binding and prints its version.
if [ -z "${CAPROBE_ENTRY:-}" ]; then
    QT_QPA_PLATFORM=offscreen dist/caprobe-dir/caprobe --version \
        || die "dist/caprobe-dir/caprobe --version failed"
fi

GLIBC_FLOOR="$("$PYTHON" packaging/check_bundle.py dist/caprobe-dir --glibc)"
DEB_DEPENDS="libc6 (>= ${GLIBC_FLOOR}), ${DEB_DEPENDS_BASE}"
say "system libraries the bundle uses (glibc >= ${GLIBC_FLOOR}):"
"$PYTHON" packaging/check_bundle.py dist/caprobe-dir --depends "$DEB_DEPENDS" | sed 's/^/    /' \
    || die "bundle library check failed (see above): fix the spec trimming or DEB_DEPENDS_BASE"

# ---- Debian package --------------------------------------------------------------------------
if [ "$MAKE_DEB" -eq 1 ]; then
    if command -v desktop-file-validate >/dev/null 2>&1; then
        desktop-file-validate resources/caprobe.desktop || die "resources/caprobe.desktop is invalid"
    fi
    if command -v appstreamcli >/dev/null 2>&1; then
        appstreamcli validate --no-net resources/io.github.caprobe.caprobe.metainfo.xml >/dev/null \
            || die "resources/io.github.caprobe.caprobe.metainfo.xml is invalid (appstreamcli validate --no-net)"
    fi
    t0="$(now)"
    DEB_NAME="caprobe_${VERSION}_amd64"
    STAGE="build/deb/${DEB_NAME}"
    rm -rf "$STAGE"
    mkdir -p "$STAGE/DEBIAN" "$STAGE/opt" "$STAGE/usr/bin" "$STAGE/usr/share/applications" \
        "$STAGE/usr/share/metainfo" "$STAGE/usr/share/icons/hicolor/scalable/apps"
    cp -a dist/caprobe-dir "$STAGE/opt/caprobe"
    ln -s /opt/caprobe/caprobe "$STAGE/usr/bin/caprobe"
    install -m 0644 resources/caprobe.desktop "$STAGE/usr/share/applications/caprobe.desktop"
    install -m 0644 resources/io.github.caprobe.caprobe.metainfo.xml "$STAGE/usr/share/metainfo/"
    install -m 0644 resources/caprobe.svg "$STAGE/usr/share/icons/hicolor/scalable/apps/caprobe.svg"
    install -D -m 0644 packaging/debian-copyright "$STAGE/usr/share/doc/caprobe/copyright"
    for png in resources/icons/caprobe-*.png; do
        size="${png##*-}"; size="${size%.png}"
        install -D -m 0644 "$png" "$STAGE/usr/share/icons/hicolor/${size}x${size}/apps/caprobe.png"
    done
    # No maintainer scripts: hicolor-icon-theme and desktop-file-utils refresh their caches
    # through dpkg triggers on these directories.
    chmod -R u+rwX,go+rX,go-w "$STAGE"
    INSTALLED_KB="$(du -sk --exclude=DEBIAN "$STAGE" | cut -f1)"
    cat > "$STAGE/DEBIAN/control" <<EOF
Package: caprobe
Version: ${VERSION}
Architecture: amd64
Maintainer: ${DEB_MAINTAINER}
Installed-Size: ${INSTALLED_KB}
Depends: ${DEB_DEPENDS}
Section: science
Priority: optional
Description: desktop probe and command-line tools for EPICS Channel Access PVs
 caprobe reads a process variable with its alarm state, time stamp and metadata,
 writes new values and draws PVs on a live strip chart. The same program carries
 caget/caput/camonitor/cainfo-style tools (caprobe get|put|monitor|info) and a
 Channel Access repeater. Self-contained: Python, Qt and numpy are bundled under
 /opt/caprobe; no EPICS installation is needed.
EOF
    rm -f "dist/${DEB_NAME}.deb"
    dpkg-deb --root-owner-group -Zzstd --build "$STAGE" "dist/${DEB_NAME}.deb" >/dev/null
    DEB_SECONDS="$(elapsed "$t0")"
    REPORT+=("debian      dist/${DEB_NAME}.deb  $(size_mb "dist/${DEB_NAME}.deb") MB  (dpkg-deb took ${DEB_SECONDS} s)")
fi

say "done:"
printf '    %s\n' "${REPORT[@]}"

if [ "$MEASURE" -eq 1 ]; then
    if command -v Xvfb >/dev/null 2>&1 && command -v xwininfo >/dev/null 2>&1; then
        say "start-up times (load average now: $(cut -d' ' -f1-3 /proc/loadavg)):"
        for program in dist/caprobe-dir/caprobe dist/caprobe; do
            [ -x "$program" ] || continue
            "$PYTHON" packaging/measure_start.py --runs 5 "$program" | sed 's/^/    /'
        done
    else
        say "--measure needs Xvfb and xwininfo (apt: xvfb x11-utils)"
    fi
fi
