#!/usr/bin/env bash
# Build caprobe for operators: a PyInstaller one-folder bundle, a single-file executable and a
# Debian package, all under dist/, each one tested before it is put there:
#
#   dist/caprobe-dir/caprobe          one-folder bundle (fast start; what the .deb installs)
#   dist/caprobe                      single file (unpacks itself to /tmp on every start)
#   dist/caprobe_<version>_amd64.deb  /opt/caprobe + /usr/bin/caprobe + desktop entry + icons
#                                     + man pages (packaging/man-pages.sh)
#
# On a fresh clone this is the only command needed: without a .venv it runs .ci/setup.sh, which
# creates .venv and installs caprobe with its extras into it (and the Debian packages it needs).
#
# Usage: bash packaging/build.sh [--dir-only] [--no-deb] [--clean] [--measure]
#   --dir-only  only the one-folder bundle (CI: then run its --self-test and `caprobe get`)
#   --no-deb    bundle and single file, no .deb
#   --clean     discard PyInstaller's caches in build/ first (slower, from scratch)
#   --measure   afterwards time launch-to-window of each build under a private Xvfb
#               (packaging/measure_start.py; needs Xvfb and xwininfo) and what the CA
#               repeater each spawns costs (packaging/measure_repeater.py)
#
# Steps: (1) the Python environment: .venv (created by .ci/setup.sh when missing or incomplete),
# or the interpreter named by PYTHON, into which nothing is ever installed; packaging/check_env.py
# must find PyQt5, pyqtgraph, numpy and PyInstaller there (and p4p, if installed, is bundled);
# otherwise one line says what is missing and the build stops. (2) PyInstaller into build/stage/.
# (3) packaging/smoke_test.py on each artefact: `--check` (no IOC, offscreen) and, when a soft
# IOC can be started (the test extra), `--self-test IOC:ai` and `get IOC:ai`. Only artefacts
# that pass go to dist/; the .deb is made from the tested one-folder bundle and its payload is
# checked again. Any failure: non-zero exit, no "done".
#
# Environment: PYTHON (an interpreter to freeze instead of .venv; build.sh installs nothing into
# it), DEB_MAINTAINER (the .deb's Maintainer field), CAPROBE_ENTRY (freeze another entry script,
# for baseline measurements only: no smoke test).
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

# ---- Python environment ----------------------------------------------------------------------
# The project's .venv, made by .ci/setup.sh (run again when something is missing: it is
# idempotent), unless PYTHON names another interpreter: that one is only checked, never changed.
if [ -n "${PYTHON:-}" ]; then
    OWN_VENV=0
    command -v "$PYTHON" >/dev/null 2>&1 || die "PYTHON=$PYTHON: no such interpreter"
else
    OWN_VENV=1
    PYTHON=.venv/bin/python
    if [ ! -x "$PYTHON" ]; then
        say "no .venv here: creating it with .ci/setup.sh"
        bash .ci/setup.sh || die ".ci/setup.sh failed (see above): no .venv to build from"
    fi
fi
if ! ENV_SUMMARY="$("$PYTHON" packaging/check_env.py)"; then
    if [ "$OWN_VENV" -eq 1 ]; then
        say "$ENV_SUMMARY: completing .venv with .ci/setup.sh"
        bash .ci/setup.sh || die ".ci/setup.sh failed (see above)"
        ENV_SUMMARY="$("$PYTHON" packaging/check_env.py)" || die "$ENV_SUMMARY"
    else
        die "$ENV_SUMMARY"
    fi
fi
say "environment: $ENV_SUMMARY"
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
# Built into build/stage/; dist/ only ever receives artefacts that passed their smoke test.
STAGE_DIST=build/stage
t0="$(now)"
rm -rf dist/caprobe-dir dist/caprobe "$STAGE_DIST"
[ "$MAKE_DEB" -eq 1 ] && rm -f dist/caprobe_*_amd64.deb
CAPROBE_TARGETS="$TARGETS" "$PYTHON" -m PyInstaller --noconfirm "${CLEAN[@]}" --log-level WARN \
    --distpath "$STAGE_DIST" --workpath build/pyinstaller packaging/caprobe.spec \
    || die "PyInstaller failed (see above)"
PYINSTALLER_SECONDS="$(elapsed "$t0")"
[ -x "$STAGE_DIST/caprobe-dir/caprobe" ] || die "PyInstaller did not produce caprobe-dir/caprobe"
PROGRAMS=("$STAGE_DIST/caprobe-dir/caprobe")
if [ "$DIR_ONLY" -eq 0 ]; then
    [ -x "$STAGE_DIST/caprobe-onefile" ] || die "PyInstaller did not produce caprobe-onefile"
    PROGRAMS+=("$STAGE_DIST/caprobe-onefile")
fi

# ---- smoke test every artefact before it goes to dist/ ---------------------------------------
if [ -z "${CAPROBE_ENTRY:-}" ]; then
    say "smoke test (packaging/smoke_test.py):"
    t0="$(now)"
    # (pipefail: the pipeline fails when smoke_test.py does)
    "$PYTHON" packaging/smoke_test.py "${PROGRAMS[@]}" | sed 's/^/    /' \
        || die "smoke test failed (see above): nothing went to dist/; the failed build is in $STAGE_DIST/"
    SMOKE_SECONDS="$(elapsed "$t0")"
fi
mkdir -p dist
mv "$STAGE_DIST/caprobe-dir" dist/caprobe-dir
REPORT+=("one-folder  dist/caprobe-dir/  $(size_mb dist/caprobe-dir) MB")
if [ "$DIR_ONLY" -eq 0 ]; then
    mv "$STAGE_DIST/caprobe-onefile" dist/caprobe
    REPORT+=("single file dist/caprobe  $(size_mb dist/caprobe) MB")
fi
REPORT+=("PyInstaller ($TARGETS) took ${PYINSTALLER_SECONDS} s; smoke test ${SMOKE_SECONDS:-skipped} s")

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
    # man caprobe, man caprobe-get, ...: the CLI reference of docs/, built by Sphinx
    PYTHON="$PYTHON" bash packaging/man-pages.sh "$STAGE" >/dev/null \
        || die "the man pages did not build (see above)"
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
    dpkg-deb --root-owner-group -Zzstd --build "$STAGE" "build/deb/${DEB_NAME}.deb" >/dev/null
    # The payload is the tested bundle: unpack it and run its --check once more.
    rm -rf build/deb/payload
    dpkg-deb -x "build/deb/${DEB_NAME}.deb" build/deb/payload
    QT_QPA_PLATFORM=offscreen build/deb/payload/opt/caprobe/caprobe --check >/dev/null \
        || die "the .deb's /opt/caprobe/caprobe fails --check (see above)"
    mv "build/deb/${DEB_NAME}.deb" "dist/${DEB_NAME}.deb"
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
        say "the CA repeater each one spawns (packaging/measure_repeater.py):"
        for program in dist/caprobe-dir/caprobe dist/caprobe; do
            [ -x "$program" ] || continue
            "$PYTHON" packaging/measure_repeater.py "$program" | sed 's/^/    /'
        done
    else
        say "--measure needs Xvfb and xwininfo (apt: xvfb x11-utils)"
    fi
fi
