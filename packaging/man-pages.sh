#!/usr/bin/env bash
# Build the man pages from docs/ (Sphinx's man builder, the same source as the CLI reference)
# and install them gzipped into a package root: ROOT/usr/share/man/man1/<tool>.1.gz.
#
# Usage: bash packaging/man-pages.sh ROOT        (PYTHON: the interpreter with Sphinx, default
#                                                  .venv/bin/python, else python3)
# packaging/build.sh calls it for the .deb; tests/test_packaging.py runs it into a scratch root.
# Needs the 'docs' extra (Sphinx); without it one line says so and the exit status is 1.
set -euo pipefail
cd "$(dirname "$0")/.."

[ $# -eq 1 ] || { echo "usage: bash packaging/man-pages.sh ROOT" >&2; exit 2; }
DEST="$1/usr/share/man/man1"
if [ -z "${PYTHON:-}" ]; then
    if [ -x .venv/bin/python ]; then PYTHON=.venv/bin/python; else PYTHON=python3; fi
fi
if ! "$PYTHON" -c 'import sphinx' 2>/dev/null; then
    echo "man-pages.sh: $PYTHON has no Sphinx; install the docs extra: pip install -e '.[docs]'" >&2
    exit 1
fi

OUT="$(mktemp -d)"
trap 'rm -rf "$OUT"' EXIT
# -E: never reuse a stale environment; -W --keep-going -n: a broken page is an error here too.
"$PYTHON" -m sphinx -E -q -W --keep-going -n -b man docs "$OUT" >&2
mkdir -p "$DEST"
count=0
for page in "$OUT"/*.1; do
    # -n: no name or time stamp in the header, so the .deb is reproducible
    gzip -9n -c "$page" > "$DEST/$(basename "$page").gz"
    chmod 0644 "$DEST/$(basename "$page").gz"
    count=$((count + 1))
done
[ "$count" -gt 0 ] || { echo "man-pages.sh: Sphinx wrote no man page" >&2; exit 1; }
echo "man-pages.sh: $count man pages in $DEST"
