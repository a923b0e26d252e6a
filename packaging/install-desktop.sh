#!/usr/bin/env bash
# Install caprobe for the current user, without root: the frozen program, its icon and its
# desktop entry, in the XDG user directories. Run packaging/build.sh first.
#
#   bash packaging/install-desktop.sh              install (or update) from dist/
#   bash packaging/install-desktop.sh --uninstall  remove exactly what install put there
#   options: --binary PATH  install this build instead (a one-folder bundle's caprobe, or the
#                           single file); default dist/caprobe-dir, else dist/caprobe
#            --force        replace a ~/.local/bin/caprobe that this script did not create
#
# Where (XDG_DATA_HOME defaults to ~/.local/share):
#   $XDG_DATA_HOME/caprobe/app/                    a copy of the build (rebuilding dist/ does not
#                                                  break the installed program)
#   ~/.local/bin/caprobe                           symlink to it
#   $XDG_DATA_HOME/applications/caprobe.desktop    Exec= the absolute path of that symlink, so
#                                                  menus work even if ~/.local/bin is not on PATH
#   $XDG_DATA_HOME/icons/hicolor/*/apps/caprobe.{png,svg}
#   $XDG_DATA_HOME/metainfo/io.github.caprobe.caprobe.metainfo.xml
set -euo pipefail
REPO="$(cd "$(dirname "$0")/.." && pwd)"

DATA_HOME="${XDG_DATA_HOME:-$HOME/.local/share}"
BIN_DIR="$HOME/.local/bin"
APP_DIR="$DATA_HOME/caprobe/app"
LINK="$BIN_DIR/caprobe"
DESKTOP="$DATA_HOME/applications/caprobe.desktop"
METAINFO="$DATA_HOME/metainfo/io.github.caprobe.caprobe.metainfo.xml"
ICON_ROOT="$DATA_HOME/icons/hicolor"
SIZES=(16 22 24 32 48 64 128 256)

say() { printf 'install-desktop: %s\n' "$*"; }
die() { printf 'install-desktop: error: %s\n' "$*" >&2; exit 1; }

UNINSTALL=0
FORCE=0
BINARY=""
while [ $# -gt 0 ]; do
    case "$1" in
        --uninstall) UNINSTALL=1 ;;
        --force) FORCE=1 ;;
        --binary) [ $# -ge 2 ] || die "--binary needs a path"; BINARY="$2"; shift ;;
        -h|--help) awk 'NR > 1 && /^#/ { sub(/^# ?/, ""); print; next } NR > 1 { exit }' "$0"; exit 0 ;;
        *) die "unknown option '$1' (try --help)" ;;
    esac
    shift
done

refresh_caches() {
    # Menus pick up a new .desktop file by themselves; the MIME cache and an *existing* icon
    # cache must be refreshed (a stale icon cache hides new icons; none at all is fine).
    if command -v update-desktop-database >/dev/null 2>&1; then
        update-desktop-database -q "$DATA_HOME/applications" 2>/dev/null || true
    fi
    if [ -f "$ICON_ROOT/icon-theme.cache" ] && command -v gtk-update-icon-cache >/dev/null 2>&1; then
        gtk-update-icon-cache -q -f -t "$ICON_ROOT" 2>/dev/null || true
    fi
}

link_is_ours() {  # the symlink exists and points into our app directory
    [ -L "$LINK" ] && case "$(readlink "$LINK")" in "$APP_DIR"/*) return 0 ;; esac
    return 1
}

if [ "$UNINSTALL" -eq 1 ]; then
    if link_is_ours; then
        rm -f "$LINK"
    elif [ -e "$LINK" ] || [ -L "$LINK" ]; then
        say "leaving $LINK alone: it is not the link this script made"
    fi
    rm -rf "$APP_DIR"
    rmdir "$DATA_HOME/caprobe" 2>/dev/null || true
    rm -f "$DESKTOP" "$METAINFO" "$ICON_ROOT/scalable/apps/caprobe.svg"
    for size in "${SIZES[@]}"; do
        rm -f "$ICON_ROOT/${size}x${size}/apps/caprobe.png"
    done
    refresh_caches
    say "removed caprobe for ${USER:-$(id -un)}"
    exit 0
fi

# ---- pick the build to install -------------------------------------------------------------
if [ -z "$BINARY" ]; then
    if [ -x "$REPO/dist/caprobe-dir/caprobe" ]; then
        BINARY="$REPO/dist/caprobe-dir/caprobe"
    elif [ -x "$REPO/dist/caprobe" ]; then
        BINARY="$REPO/dist/caprobe"
    else
        die "no build in $REPO/dist: run 'bash packaging/build.sh' first (or pass --binary PATH)"
    fi
fi
[ -f "$BINARY" ] && [ -x "$BINARY" ] || die "$BINARY is not an executable file"
BINARY="$(cd "$(dirname "$BINARY")" && pwd)/$(basename "$BINARY")"
if [ -e "$LINK" ] || [ -L "$LINK" ]; then
    link_is_ours || [ "$FORCE" -eq 1 ] \
        || die "$LINK exists and is not ours (a pip --user install?); use --force to replace it"
fi

# ---- the program ----------------------------------------------------------------------------
STAGING="$APP_DIR.new"
rm -rf "$STAGING"
mkdir -p "$STAGING"
if [ -d "$(dirname "$BINARY")/_internal" ]; then
    # a one-folder bundle: the program needs its _internal directory next to it
    cp -a "$(dirname "$BINARY")/." "$STAGING/"
    mv "$STAGING/$(basename "$BINARY")" "$STAGING/caprobe" 2>/dev/null || true
else
    cp -a "$BINARY" "$STAGING/caprobe"
fi
rm -rf "$APP_DIR"
mv "$STAGING" "$APP_DIR"
mkdir -p "$BIN_DIR"
ln -sfn "$APP_DIR/caprobe" "$LINK"

# ---- icon, desktop entry, AppStream metadata -----------------------------------------------
for size in "${SIZES[@]}"; do
    install -D -m 0644 "$REPO/resources/icons/caprobe-$size.png" \
        "$ICON_ROOT/${size}x${size}/apps/caprobe.png"
done
install -D -m 0644 "$REPO/resources/caprobe.svg" "$ICON_ROOT/scalable/apps/caprobe.svg"
install -D -m 0644 "$REPO/resources/io.github.caprobe.caprobe.metainfo.xml" "$METAINFO"
mkdir -p "$(dirname "$DESKTOP")"
EXEC="$LINK"
case "$LINK" in *" "*) EXEC="\"$LINK\"" ;; esac  # Exec= arguments with spaces are quoted
sed -e "s|^Exec=caprobe\$|Exec=$EXEC|" -e "s|^TryExec=caprobe\$|TryExec=$LINK|" \
    "$REPO/resources/caprobe.desktop" > "$DESKTOP"
chmod 0644 "$DESKTOP"
if command -v desktop-file-validate >/dev/null 2>&1; then
    desktop-file-validate "$DESKTOP" || die "the installed $DESKTOP does not validate"
fi
refresh_caches

say "installed $(basename "$BINARY") from $(dirname "$BINARY") for ${USER:-$(id -un)}:"
say "  program  $LINK -> $APP_DIR/caprobe"
say "  menu     $DESKTOP"
say "  icons    $ICON_ROOT/{16x16..256x256,scalable}/apps/"
case ":$PATH:" in
    *":$BIN_DIR:"*) ;;
    *) say "note: $BIN_DIR is not on PATH; the menu entry works anyway, for a shell add it to PATH" ;;
esac
