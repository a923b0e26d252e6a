"""The examples of the documentation run, against a real soft IOC.

Every ``.. code-block:: console`` of docs/ is a session: each ``$ command`` runs in bash (the
tools of this checkout on PATH, a scratch directory as the working directory) with stdout and
stderr together, and must print exactly the lines below it; ``...`` in a line stands for any
text (a time stamp, a counter). Every page gets a fresh IOC serving tests/ioc/test.db with the
prefix ``SR:C1:`` on its own loopback port, so the pages' writes do not meet. Every ``>>>``
example is a doctest against such an IOC; the PV Access page's also get the p4p test server
(tests/ioc/p4p_server.py, prefix ``SIM:``) and a PVA client environment reaching it only.
"""

from __future__ import annotations

import doctest
import os
import re
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pva_servers
import pytest
import servers

ROOT = Path(__file__).resolve().parent.parent
DOCS = ROOT / "docs"
PREFIX = "SR:C1:"
#: Pages whose examples are PV Access ones, and the p4p test server's prefix they use.
PVA_PAGES = {DOCS / "pva.rst"}
PVA_PREFIX = "SIM:"

# What each command of the docs runs: this checkout's modules, not whatever is installed.
COMMANDS = {
    "caprobe": "caprobe",
    "caprobe-get": "caprobe.cli.get",
    "caprobe-put": "caprobe.cli.put",
    "caprobe-monitor": "caprobe.cli.monitor",
    "caprobe-info": "caprobe.cli.info",
    "caprobe-snapshot": "caprobe.cli.snapshot",
    "caprobe-repeater": "caprobe.cli.repeater",
}


@dataclass
class Step:
    command: str
    expected: list[str]
    line: int


def console_sessions(path: Path) -> list[list[Step]]:
    """The console blocks of an .rst file, each as its list of commands."""
    lines = path.read_text().splitlines()
    sessions: list[list[Step]] = []
    index = 0
    while index < len(lines):
        if lines[index].strip() != ".. code-block:: console":
            index += 1
            continue
        index += 1
        block: list[tuple[int, str]] = []
        while index < len(lines) and (not lines[index].strip() or lines[index].startswith(" ")):
            block.append((index + 1, lines[index]))
            index += 1
        body = [(number, text) for number, text in block if text.strip()]
        indent = min(len(text) - len(text.lstrip()) for _, text in body)
        steps: list[Step] = []
        for number, text in body:
            text = text[indent:]
            if text.startswith("$ "):
                steps.append(Step(text[2:], [], number))
            else:
                assert steps, f"{path.name}:{number}: output before the first $ command"
                steps[-1].expected.append(text)
        sessions.append(steps)
    return sessions


def readme_sessions(path: Path) -> list[list[Step]]:
    """The ```console blocks of a markdown file."""
    sessions: list[list[Step]] = []
    steps: list[Step] | None = None
    for number, text in enumerate(path.read_text().splitlines(), start=1):
        if text.strip() == "```console":
            steps = []
        elif steps is not None and text.strip() == "```":
            sessions.append(steps)
            steps = None
        elif steps is not None:
            if text.startswith("$ "):
                steps.append(Step(text[2:], [], number))
            else:
                steps[-1].expected.append(text)
    return sessions


def pages_with(pattern: str) -> list[Path]:
    return sorted(path for path in DOCS.rglob("*.rst")
                  if "_build" not in path.parts and pattern in path.read_text())


def matches(expected: str, actual: str) -> bool:
    pattern = ".*".join(re.escape(part) for part in expected.rstrip().split("..."))
    return re.fullmatch(pattern, actual.rstrip()) is not None


@pytest.fixture
def ioc() -> Iterator[servers.Server]:
    server = servers.start_softioc(prefix=PREFIX)
    try:
        yield server
    finally:
        server.close()


@pytest.fixture
def tool_env(ioc: servers.Server, tmp_path: Path) -> dict[str, str]:
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    for command, module in COMMANDS.items():
        shim = bin_dir / command
        shim.write_text(f'#!/bin/sh\nexec "{sys.executable}" -m {module} "$@"\n')
        shim.chmod(0o755)
    env = {key: value for key, value in os.environ.items() if not key.startswith("EPICS_")}
    env.update(ioc.env)
    env.update(PATH=f"{bin_dir}{os.pathsep}{env.get('PATH', '/usr/bin:/bin')}",
               PYTHONPATH=str(ROOT), COLUMNS="100", QT_QPA_PLATFORM="offscreen",
               CAPROBE_DEFAULT_PROTOCOL="ca")
    return env


README = ROOT / "README.md"
CONSOLE_PAGES = [*pages_with(".. code-block:: console"), README]


def test_the_docs_have_console_examples() -> None:
    assert len(CONSOLE_PAGES) >= 7


@pytest.mark.parametrize("page", CONSOLE_PAGES, ids=lambda p: str(p.relative_to(ROOT)))
def test_console_examples_print_what_the_page_shows(page: Path, tool_env: dict[str, str],
                                                     tmp_path: Path) -> None:
    import subprocess

    work = tmp_path / "work"
    work.mkdir()
    sessions = readme_sessions(page) if page.suffix == ".md" else console_sessions(page)
    assert sessions
    for session in sessions:
        for step in session:
            result = subprocess.run(["bash", "-c", step.command], cwd=work, env=tool_env,
                                    stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                    text=True, timeout=60)
            actual = result.stdout.splitlines()
            where = f"{page.relative_to(ROOT)}:{step.line}: $ {step.command}"
            assert len(actual) == len(step.expected) and all(
                matches(e, a) for e, a in zip(step.expected, actual, strict=True)), (
                f"{where}\nexpected:\n" + "\n".join(step.expected) +
                "\nprinted:\n" + result.stdout)


DOCTEST_PAGES = [*pages_with("\n>>> "), *pages_with("\n   >>> "), README]


@pytest.mark.parametrize("page", sorted(set(DOCTEST_PAGES)),
                         ids=lambda p: str(p.relative_to(ROOT)))
def test_python_examples_run_as_doctests(page: Path, ioc: servers.Server,
                                         monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    for key in [key for key in os.environ if key.startswith("EPICS_")]:
        monkeypatch.delenv(key)
    for key, value in ioc.env.items():
        monkeypatch.setenv(key, value)
    monkeypatch.chdir(tmp_path)
    pva_server = None
    if page in PVA_PAGES:
        pytest.importorskip("p4p", reason="the pva extra (p4p) is not installed")
        pva_server = pva_servers.start_p4p_server(prefix=PVA_PREFIX)
        for key, value in pva_server.pva_env.items():
            monkeypatch.setenv(key, value)
    try:
        failures, tried = doctest.testfile(
            str(page), module_relative=False, globs={}, report=True,
            optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE)
    finally:
        if pva_server is not None:
            from caprobe import pva

            pva.reset()  # the shared context is this server's: not for the next test
            pva_server.close()
    assert tried > 0
    assert failures == 0, f"{page.relative_to(ROOT)}: {failures} of {tried} examples failed"
