"""The documentation builds (HTML and man pages) with warnings as errors and nit-picky
references; every public name of caprobe.ca/caprobe.pva is in the API reference with its
docstring; every option of every tool is on its page; every man page renders; every relative
link of the README leads to a file.

Needs the ``docs`` extra (Sphinx); skipped without it (tools/test-matrix's venvs)."""

from __future__ import annotations

import argparse
import html
import importlib
import inspect
import re
import shutil
import subprocess
import sys
import zlib
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
DOCS = ROOT / "docs"
sys.path.insert(0, str(DOCS / "_ext"))

pytest.importorskip("sphinx", reason="the docs extra (Sphinx) is not installed")
import caprobe_options  # noqa: E402  (docs/_ext, after the path above)

# (page, parser factory) for every tool: the same pairs the pages name in caprobe-options.
TOOLS = {
    "caprobe": "caprobe.__main__:_parser",
    "caprobe-get": "caprobe.cli.get:build_parser",
    "caprobe-put": "caprobe.cli.put:build_parser",
    "caprobe-monitor": "caprobe.cli.monitor:build_parser",
    "caprobe-info": "caprobe.cli.info:build_parser",
    "caprobe-snapshot": "caprobe.cli.snapshot:build_parser",
    "caprobe-repeater": "caprobe.cli.repeater:build_parser",
}


def sphinx_build(builder: str, out: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "sphinx", "-E", "-W", "--keep-going", "-n", "-q", "-b", builder,
         str(DOCS), str(out)], capture_output=True, text=True, timeout=300, cwd=ROOT)


@pytest.fixture(scope="module")
def html_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("html")
    result = sphinx_build("html", out)
    assert result.returncode == 0, result.stdout + result.stderr
    return out


@pytest.fixture(scope="module")
def man_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("man")
    result = sphinx_build("man", out)
    assert result.returncode == 0, result.stdout + result.stderr
    return out


def inventory(html_dir: Path) -> dict[tuple[str, str], str]:
    """{(domain:role, name): uri} from objects.inv (Sphinx's version 2 format)."""
    data = (html_dir / "objects.inv").read_bytes()
    lines = data.split(b"\n", 4)
    assert lines[0] == b"# Sphinx inventory version 2"
    entries: dict[tuple[str, str], str] = {}
    for line in zlib.decompress(lines[4]).decode().splitlines():
        match = re.match(r"(.+?)\s+(\S+:\S+)\s+-?\d+\s+(\S+)\s*(.*)", line)
        if match:
            name, role, uri, _ = match.groups()
            entries[(role, name)] = uri.replace("$", name)
    return entries


def page_text(path: Path) -> str:
    text = re.sub(r"<[^>]+>", " ", path.read_text())
    return " ".join(html.unescape(text).split())


def docstring_words(obj: object, count: int = 6) -> str:
    """The first words of a docstring as the HTML shows them (inline markup removed)."""
    doc = inspect.getdoc(obj) or ""
    first = doc.strip().split("\n\n")[0]
    first = re.sub(r":[a-z]+:`~?([^`]+)`", r"\1", first)
    first = first.replace("``", "").replace("`", "").replace("\\", "")
    return _plain(" ".join(first.split()[:count]))


def _plain(text: str) -> str:
    """Text with emphasis marks dropped and typographic quotes made plain."""
    for fancy, plain in (("\u2019", "'"), ("\u2018", "'"), ("\u201c", '"'), ("\u201d", '"'),
                         ("*", "")):
        text = text.replace(fancy, plain)
    return text


def test_html_builds_without_warnings(html_dir: Path) -> None:
    assert (html_dir / "index.html").is_file()
    assert (html_dir / "cli" / "caprobe-get.html").is_file()


@pytest.mark.parametrize("module_name", ["caprobe.ca", "caprobe.pva"])
def test_every_public_name_is_in_the_api_reference_with_its_docstring(
        html_dir: Path, module_name: str) -> None:
    module = importlib.import_module(module_name)
    entries = inventory(html_dir)
    names = {name for (role, name) in entries if role.startswith("py:")}
    missing = [name for name in module.__all__ if f"{module_name}.{name}" not in names]
    assert not missing, f"not in the API reference: {missing}"
    page = html_dir / "library" / f"api-{module_name.rsplit('.', 1)[-1]}.html"
    text = _plain(page_text(page))
    undocumented = []
    for name in module.__all__:
        obj = getattr(module, name)
        if inspect.isclass(obj) or inspect.isroutine(obj):
            words = docstring_words(obj)
            # spacing around inline markup differs: compare without blanks
            if not words or words.replace(" ", "") not in text.replace(" ", ""):
                undocumented.append(f"{name}: {words!r}")
    assert not undocumented, f"docstring not shown in {page.name}: {undocumented}"


def _parsers() -> list[tuple[str, str, argparse.ArgumentParser]]:
    """(page, program, parser) for every tool and sub-command."""
    found = []
    for page, spec in TOOLS.items():
        parser = caprobe_options.load_parser(spec)
        found.append((page, parser.prog, parser))
        for name, sub in caprobe_options.subcommands(parser).items():
            found.append((page, f"{parser.prog} {name}", sub))
    return found


def test_every_tool_has_its_page_and_man_page() -> None:
    conf = (DOCS / "conf.py").read_text()
    for page, spec in TOOLS.items():
        source = (DOCS / "cli" / f"{page}.rst").read_text()
        assert f".. caprobe-options:: {spec}" in source, page
        assert f'("cli/{page}", "{page}",' in conf, page


@pytest.mark.parametrize(("page", "program", "parser"), _parsers(),
                         ids=[program for _, program, _ in _parsers()])
def test_every_option_is_on_its_page(html_dir: Path, page: str, program: str,
                                     parser: argparse.ArgumentParser) -> None:
    entries = inventory(html_dir)
    missing = []
    for action in caprobe_options.documented_actions(parser):
        words = action.option_strings or [str(action.metavar or action.dest)]
        for word in words:
            uri = entries.get(("std:cmdoption", f"{program.replace(' ', '-')}.{word}"))
            if uri is None or not uri.startswith(f"cli/{page}.html"):
                missing.append(word)
    assert not missing, f"{program}: options missing from cli/{page}: {missing}"


@pytest.mark.skipif(shutil.which("man") is None, reason="man-db is not installed")
@pytest.mark.parametrize("page", sorted(TOOLS))
def test_man_page_renders(man_dir: Path, page: str) -> None:
    path = man_dir / f"{page}.1"
    assert path.is_file(), sorted(p.name for p in man_dir.iterdir())
    result = subprocess.run(["man", "-l", str(path)], capture_output=True, text=True,
                            timeout=60, env={"MANPAGER": "cat", "PAGER": "cat", "MANWIDTH": "100",
                                             "LANG": "C.UTF-8", "PATH": "/usr/bin:/bin"})
    assert result.returncode == 0, result.stderr
    assert "warning" not in result.stderr.lower(), result.stderr
    text = result.stdout
    for heading in ("NAME", "SYNOPSIS", "OPTIONS", "EXIT STATUS", "EXAMPLES"):
        assert heading in text, f"{page}.1 has no {heading} section"
    parser = caprobe_options.load_parser(TOOLS[page])
    for action in caprobe_options.documented_actions(parser):
        for word in action.option_strings:
            assert word in text, f"{page}.1 does not mention {word}"


README_LINK = re.compile(r"\]\(([^)\s]+)\)")


def test_every_relative_link_of_the_readme_resolves() -> None:
    readme = (ROOT / "README.md").read_text()
    checked = 0
    for target in README_LINK.findall(readme):
        if re.match(r"[a-z]+:", target) or target.startswith("#"):
            continue
        path = target.split("#", 1)[0]
        assert (ROOT / path).exists(), f"README links to {target}, which does not exist"
        checked += 1
    assert checked >= 20
