#!/usr/bin/env bash
# Render the caprobe icon SVGs to the hicolor PNG sizes and refresh the runtime copies.
#
#   resources/caprobe.svg        the icon (also installed as hicolor/scalable)
#   resources/caprobe-small.svg  a pixel-hinted variant drawn on a 16 px grid, used for 16/22/24 px
#                                because the full drawing blurs at those sizes
#   -> resources/icons/caprobe-<N>.png          (committed: builds do not need an SVG renderer)
#   -> caprobe/resources/caprobe{.svg,-<N>.png}  (package data: the window icon at run time)
#
# Needs rsvg-convert (apt: librsvg2-bin); falls back to ImageMagick's convert, whose built-in
# SVG renderer draws round joins less cleanly. Run it after editing an SVG, then commit the PNGs.
set -euo pipefail
cd "$(dirname "$0")/.."

SIZES=(16 22 24 32 48 64 128 256)
SMALL_SIZES=" 16 22 24 "

render() {  # render <svg> <size> <png>
    if command -v rsvg-convert >/dev/null 2>&1; then
        rsvg-convert --width "$2" --height "$2" --keep-aspect-ratio "$1" --output "$3"
    elif command -v convert >/dev/null 2>&1; then
        convert -background none -density 384 "$1" -resize "$2x$2" "PNG32:$3"
    else
        echo "render-icons: need rsvg-convert (apt install librsvg2-bin) or ImageMagick" >&2
        exit 1
    fi
}

mkdir -p resources/icons caprobe/resources
for size in "${SIZES[@]}"; do
    svg=resources/caprobe.svg
    [[ "$SMALL_SIZES" == *" $size "* ]] && svg=resources/caprobe-small.svg
    render "$svg" "$size" "resources/icons/caprobe-$size.png"
    cp "resources/icons/caprobe-$size.png" "caprobe/resources/caprobe-$size.png"
done
cp resources/caprobe.svg caprobe/resources/caprobe.svg
echo "render-icons: wrote ${#SIZES[@]} PNGs to resources/icons and caprobe/resources"
