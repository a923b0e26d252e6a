"""Copy the latest tables (bench/results/<bench>-latest.json) into bench/README.md.

    .venv/bin/python bench/update_readme.py

Replaces what lies between ``<!-- results:NAME -->`` and ``<!-- /results:NAME -->`` for
bench_client and bench_monitor; the analysis around the markers is written by hand.
"""

from __future__ import annotations

import json
import re
import sys

import _support

README = _support.BENCH_DIR / "README.md"


def section(name: str) -> str:
    path = _support.RESULTS_DIR / f"{name}-latest.json"
    data = json.loads(path.read_text())
    tables = data.get("table") or data.get("tables")
    return (f"{_support.machine_line(data['machine'])}  \n"
            f"Settings: {data['settings']}.  \n"
            f"Full run: {data['elapsed_s']:.0f} s. Raw figures: `bench/results/{path.name}`."
            f"\n\n{tables}\n")


def main() -> int:
    text = README.read_text()
    for name in ("bench_client", "bench_monitor", "bench_cli"):
        pattern = re.compile(rf"(<!-- results:{name} -->\n).*?(<!-- /results:{name} -->)",
                             re.DOTALL)
        if not pattern.search(text):
            print(f"README has no <!-- results:{name} --> markers", file=sys.stderr)
            return 1
        body = section(name)
        text = pattern.sub(lambda match, body=body: match.group(1) + body + match.group(2),
                           text)
    README.write_text(text)
    print(f"updated {README}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
