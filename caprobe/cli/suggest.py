"""Unknown options name the nearest known one: ``unknown option --timout; did you mean -w?``.

argparse offers ``suggest_on_error`` only from Python 3.14, and only for choices; this works on
3.10-3.13 and also matches what an option is for (``--timout`` -> ``-w``, whose destination
is ``timeout``), since caget's options are single letters a typo cannot resemble.
Standard library only: ``caprobe-repeater`` uses it and must start without the client.
"""

from __future__ import annotations

import argparse
import difflib
from typing import NoReturn

_UNRECOGNIZED = "unrecognized arguments: "


def _known(parser: argparse.ArgumentParser) -> tuple[list[str], dict[str, str]]:
    """(every option string, {destination word: its first option string})."""
    options: list[str] = []
    by_dest: dict[str, str] = {}
    for action in parser._actions:
        if not action.option_strings or action.help == argparse.SUPPRESS:
            continue
        options.extend(action.option_strings)
        preferred = max(action.option_strings, key=len)
        by_dest.setdefault(action.dest.replace("_", "-"), preferred)
    return options, by_dest


def nearest_option(parser: argparse.ArgumentParser, word: str) -> str | None:
    """The option of ``parser`` that ``word`` (``--timout``, ``--dryrun=1``) most likely meant."""
    typed = word.split("=", 1)[0]
    options, by_dest = _known(parser)
    close = difflib.get_close_matches(typed, options, n=1, cutoff=0.75)
    if close:
        return close[0]
    bare = typed.lstrip("-").lower().replace("_", "-")
    if not bare:
        return None
    close = difflib.get_close_matches(bare, list(by_dest), n=1, cutoff=0.75)
    return by_dest[close[0]] if close else None


def explain_unrecognized(parser: argparse.ArgumentParser, message: str) -> str:
    """argparse's ``unrecognized arguments: A B`` with a suggestion for each unknown option;
    any other message unchanged."""
    if not message.startswith(_UNRECOGNIZED):
        return message
    words = message[len(_UNRECOGNIZED):].split()
    parts: list[str] = []
    for word in words:
        if word.startswith("-") and len(word) > 1 and not _is_number(word):
            hint = nearest_option(parser, word)
            parts.append(f"unknown option {word}" +
                         (f"; did you mean {hint}?" if hint else ""))
    if not parts:
        return message
    # Words after an unknown option are most likely its value: naming the option is enough.
    return "; ".join(parts)


def _is_number(word: str) -> bool:
    try:
        float(word)
    except ValueError:
        return False
    return True


class SuggestingParser(argparse.ArgumentParser):
    """argparse with :func:`explain_unrecognized` applied to its errors (usage, exit code 2)."""

    def error(self, message: str) -> NoReturn:
        super().error(explain_unrecognized(self, message))
