"""``.. caprobe-options:: module:function``: a tool's options, generated from its argparse parser.

The function returns the tool's ``argparse.ArgumentParser`` (``caprobe.cli.get:build_parser``).
Each option and positional argument becomes a ``std:option`` of the tool (``.. program::``
``caprobe-get``, then ``.. option:: -w SEC``), so the reference can never list an option the
parser lacks or miss one it has (tests/test_docs.py checks the built inventory against every
parser), and ``:option:`caprobe-get -w``` links to it. Sub-commands (``caprobe-snapshot save``)
get a section each, as the programs ``caprobe-snapshot save`` etc.
"""

from __future__ import annotations

import argparse
import importlib
import inspect
import re
import sys
from typing import Any

from docutils import nodes
from docutils.statemachine import StringList
from sphinx.application import Sphinx
from sphinx.util.docutils import SphinxDirective
from sphinx.util.nodes import nested_parse_with_titles

_RST_SPECIAL = re.compile(r"([\\`*_|<>\[\]])")


def load_parser(spec: str) -> argparse.ArgumentParser:
    """``module:function`` -> the parser that function builds."""
    module_name, _, function = spec.partition(":")
    return getattr(importlib.import_module(module_name), function)()


def _escape(text: str) -> str:
    return _RST_SPECIAL.sub(r"\\\1", text)


def _help_text(parser: argparse.ArgumentParser, action: argparse.Action) -> str:
    if not action.help or action.help == argparse.SUPPRESS:
        return ""
    formatter = parser._get_formatter()
    return " ".join(formatter._expand_help(action).split())


def option_signatures(action: argparse.Action) -> list[str]:
    """``["-w SEC"]``, ``["--ns", "--nanoseconds"]``, ``["PV"]`` (positionals by metavar)."""
    if not action.option_strings:
        return [str(action.metavar or action.dest)]
    if action.nargs == 0:
        return list(action.option_strings)
    metavar = action.metavar or action.dest.upper()
    if isinstance(metavar, tuple):
        metavar = " ".join(metavar)
    return [f"{option} {metavar}" for option in action.option_strings]


def subcommands(parser: argparse.ArgumentParser) -> dict[str, argparse.ArgumentParser]:
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            return dict(action.choices)
    return {}


def documented_actions(parser: argparse.ArgumentParser) -> list[argparse.Action]:
    return [action for action in parser._actions
            if not isinstance(action, argparse._SubParsersAction)
            and action.help != argparse.SUPPRESS]


def _program_lines(program: str, parser: argparse.ArgumentParser) -> list[str]:
    lines = [f".. program:: {program}", ""]
    for action in documented_actions(parser):
        lines.append(f".. option:: {', '.join(option_signatures(action))}")
        lines.append("")
        help_text = _help_text(parser, action)
        if help_text:
            lines.append(f"   {_escape(help_text)}")
            lines.append("")
    return lines


class CaprobeOptions(SphinxDirective):
    required_arguments = 1
    has_content = False

    def run(self) -> list[nodes.Node]:
        parser = load_parser(self.arguments[0])
        program = parser.prog
        lines = _program_lines(program, parser)
        for name, sub in subcommands(parser).items():
            title = f"``{program} {name}``"
            lines += [title, "~" * len(title), ""]
            if sub.description:
                lines += [_escape(" ".join(sub.description.split())), ""]
            lines += _program_lines(f"{program} {name}", sub)
        container = nodes.section() if subcommands(parser) else nodes.container()
        nested_parse_with_titles(self.state, StringList(lines, source=self.arguments[0]),
                                 container)
        return list(container.children)


def reexported_names(module_name: str) -> list[str]:
    """Names of ``module.__all__`` defined outside the package (caprobe.pva's errors are
    caprobe.ca's classes)."""
    module = importlib.import_module(module_name)
    names = []
    for name in module.__all__:
        obj = getattr(module, name)
        if not _is_data(obj):
            home = getattr(obj, "__module__", module_name) or module_name
            if home != module_name and not home.startswith(module_name + "."):
                names.append(name)
    return names


def _is_data(obj: Any) -> bool:
    return not (inspect.isclass(obj) or inspect.isroutine(obj) or inspect.ismodule(obj))


def data_doc(module_name: str, name: str) -> str | None:
    """The ``#:`` comment above ``name`` in the submodule of ``module_name`` defining it."""
    from sphinx.pycode import ModuleAnalyzer

    for sub_name, sub in sorted(sys.modules.items()):
        if sub is None or not (sub_name == module_name or sub_name.startswith(module_name + ".")):
            continue
        if name not in vars(sub):
            continue
        try:
            docs = ModuleAnalyzer.for_module(sub_name).find_attr_docs()
        except Exception:  # no source (frozen, C): try the next module
            continue
        if ("", name) in docs:
            return "\n".join(docs[("", name)]).strip()
    return None


class CaprobeApi(SphinxDirective):
    """``.. caprobe-api:: caprobe.pva``: automodule of every name in ``__all__``; a name that
    is another package's class (re-exported) is described here under this module's name with
    its docstring, without claiming the class as its own (which would describe one object
    twice in the inventory)."""

    required_arguments = 1
    has_content = False

    def run(self) -> list[nodes.Node]:
        module_name = self.arguments[0]
        module = importlib.import_module(module_name)
        foreign = reexported_names(module_name)
        data = [name for name in module.__all__ if _is_data(getattr(module, name))]
        lines = [f".. automodule:: {module_name}", "   :members:", "   :member-order: bysource"]
        if foreign or data:
            lines.append(f"   :exclude-members: {', '.join(foreign + data)}")
        lines.append("")
        for name in data:
            doc = data_doc(module_name, name)
            if doc is None:
                raise self.error(f"{module_name}.{name} has no '#:' comment to document it")
            lines += [f".. py:data:: {name}", f"   :module: {module_name}",
                      f"   :value: {getattr(module, name)!r}", ""]
            lines += [f"   {line}" if line else "" for line in doc.splitlines()]
            lines.append("")
        for name in foreign:
            obj = getattr(module, name)
            kind = "exception" if isinstance(obj, type) and issubclass(obj, BaseException) \
                else "class"
            home = obj.__module__.rsplit(".", 1)[0] if obj.__module__.count(".") > 1 \
                else obj.__module__
            lines += [f".. py:{kind}:: {name}", f"   :module: {module_name}", "",
                      f"   The same class as :class:`{home}.{name}`.", ""]
            for line in inspect.getdoc(obj).splitlines():
                lines.append(f"   {line}" if line else "")
            lines.append("")
        container = nodes.section()
        nested_parse_with_titles(self.state, StringList(lines, source=module_name), container)
        return list(container.children)


def setup(app: Sphinx) -> dict[str, Any]:
    app.add_directive("caprobe-options", CaprobeOptions)
    app.add_directive("caprobe-api", CaprobeApi)
    return {"parallel_read_safe": True, "parallel_write_safe": True, "version": "1"}
