"""``--help`` teaches (ends with real examples and the man page) and a mistyped option names
the nearest one, for every tool; both through the real entry points as subprocesses."""

from __future__ import annotations

import importlib
import os
import shlex
import subprocess
import sys
from pathlib import Path

import pytest

from caprobe.cli import suggest

ROOT = Path(__file__).resolve().parents[2]

# tool -> (module run with -m, parser factory, exit code of a usage error (1 for the caget-like
# tools, as EPICS base's; 2 where argparse's or diff's convention holds), a command line with a
# typo, the typo and the option it should suggest)
TOOLS = {
    "caprobe": ("caprobe", "caprobe.__main__:_parser", 2, ["--demoo"], "--demoo", "--demo"),
    "caprobe-get": ("caprobe.cli.get", "caprobe.cli.get:build_parser", 1,
                    ["--timout", "5", "SR:C1:ai"], "--timout", "-w"),
    "caprobe-put": ("caprobe.cli.put", "caprobe.cli.put:build_parser", 1,
                    ["--calback", "SR:C1:ao", "1"], "--calback", "-c"),
    "caprobe-monitor": ("caprobe.cli.monitor", "caprobe.cli.monitor:build_parser", 1,
                        ["--durtion", "5", "SR:C1:ai"], "--durtion", "--duration"),
    "caprobe-info": ("caprobe.cli.info", "caprobe.cli.info:build_parser", 1,
                     ["--vrebose", "SR:C1:ai"], "--vrebose", "--verbose"),
    "caprobe-snapshot": ("caprobe.cli.snapshot", "caprobe.cli.snapshot:build_parser", 2,
                         ["restore", "x.snap", "--dryrun"], "--dryrun", "--dry-run"),
    "caprobe-repeater": ("caprobe.cli.repeater", "caprobe.cli.repeater:build_parser", 2,
                         ["--prot", "15065"], "--prot", "--port"),
}


def run(module: str, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(ROOT), "COLUMNS": "100",
           "EPICS_CA_AUTO_ADDR_LIST": "NO", "EPICS_CA_ADDR_LIST": "127.0.0.1"}
    return subprocess.run([sys.executable, "-m", module, *args], capture_output=True,
                          text=True, timeout=60, env=env)


def parser_of(spec: str):  # noqa: ANN201 - argparse.ArgumentParser
    module, _, function = spec.partition(":")
    return getattr(importlib.import_module(module), function)()


def examples(help_text: str) -> list[str]:
    """The command lines of the help's Examples section (the text before the comment)."""
    lines = help_text.split("Examples:", 1)[1].splitlines()[1:]
    commands = []
    for line in lines:
        if not line.startswith("  "):
            break
        commands.append(line.strip().split("  ")[0])
    return commands


@pytest.mark.parametrize("tool", sorted(TOOLS))
def test_help_ends_with_examples_and_the_man_page(tool: str) -> None:
    module = TOOLS[tool][0]
    result = run(module, "--help")
    assert result.returncode == 0, result.stderr
    text = result.stdout.rstrip()
    assert text.splitlines()[-1] == f"See man {tool} (docs/cli/{tool}.rst)."
    commands = examples(text)
    assert 2 <= len(commands) <= 4, commands
    assert (ROOT / "docs" / "cli" / f"{tool}.rst").is_file()


@pytest.mark.parametrize("tool", sorted(TOOLS))
def test_help_examples_are_valid_command_lines(tool: str) -> None:
    module, spec = TOOLS[tool][:2]
    parser = parser_of(spec)
    for command in examples(run(module, "--help").stdout):
        words = shlex.split(command)
        if tool == "caprobe" and len(words) > 1 and words[1] == "get":
            parser, words = parser_of("caprobe.cli.get:build_parser"), ["caprobe-get", *words[2:]]
        assert words[0] == parser.prog.split()[0], command
        if tool == "caprobe-snapshot":
            subcommands = {action.dest: action for action in parser._actions}["command"]
            subcommands.choices[words[1]].parse_intermixed_args(words[2:])
        else:
            parser.parse_args(words[1:])  # a usage error raises: the example would not run


@pytest.mark.parametrize("tool", sorted(TOOLS))
def test_unknown_option_names_the_nearest(tool: str) -> None:
    module, _, code, args, typo, meant = TOOLS[tool]
    result = run(module, *args)
    assert result.returncode == code, result.stderr
    assert f"unknown option {typo}; did you mean {meant}?" in result.stderr, result.stderr
    assert "Traceback" not in result.stderr


def test_a_word_nothing_resembles_gets_no_suggestion() -> None:
    result = run("caprobe.cli.get", "--zzzzzz", "SR:C1:ai")
    assert result.returncode == 1
    assert result.stderr == ("caprobe-get: unknown option --zzzzzz ('caprobe-get -h' for "
                             "help.)\n")


def test_suggestion_by_what_an_option_is_for() -> None:
    parser = parser_of("caprobe.cli.get:build_parser")
    assert suggest.nearest_option(parser, "--timeout") == "-w"
    assert suggest.nearest_option(parser, "--priorty") == "-p"
    assert suggest.nearest_option(parser, "--nanosecond") == "--nanoseconds"


def test_negative_numbers_are_values_not_options() -> None:
    parser = parser_of("caprobe.cli.get:build_parser")
    message = suggest.explain_unrecognized(parser, "unrecognized arguments: -5")
    assert message == "unrecognized arguments: -5"
