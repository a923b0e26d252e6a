"""``caprobe-repeater`` and ``caprobe repeater``: the CA repeater's command line, with the
tools' suggestion for a mistyped option. The repeater itself is :mod:`caprobe.ca.repeater`
(what clients spawn as ``python -m caprobe.ca.repeater``)."""

from __future__ import annotations

import argparse
from collections.abc import Sequence

from caprobe.ca import repeater
from caprobe.cli.suggest import SuggestingParser


def build_parser() -> argparse.ArgumentParser:
    return repeater.build_parser(SuggestingParser)


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of ``caprobe-repeater``; returns the exit code."""
    return repeater.main(None if argv is None else list(argv), SuggestingParser)


if __name__ == "__main__":
    raise SystemExit(main())
