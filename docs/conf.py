"""Sphinx configuration: the HTML site and the man pages, from one source.

Build (after the README's set-up, which installs the ``docs`` extra):

    .venv/bin/python -m sphinx -W --keep-going -n -b html docs docs/_build/html
    .venv/bin/python -m sphinx -W --keep-going -n -b man docs docs/_build/man
"""

from __future__ import annotations

import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE / "_ext"))
sys.path.insert(0, str(HERE.parent))

import caprobe  # noqa: E402  (after the path above)

project = "caprobe"
author = "the caprobe developers"
copyright = "the caprobe developers, BSD-3-Clause"  # noqa: A001 (Sphinx's name)
version = release = caprobe.__version__

extensions = ["sphinx.ext.autodoc", "caprobe_options"]
exclude_patterns = ["_build"]
root_doc = "index"
nitpicky = True
# Names in signatures that are not part of the documented API (standard library, numpy,
# p4p, and caprobe's internal modules behind the public names).
nitpick_ignore_regex = [
    (r"py:.*", r"(numpy|np|p4p|collections|typing|enum|socket|threading|datetime)\..*"),
    (r"py:.*", r"caprobe\.(ca|pva)\.[a-z_]+\..*"),
    (r"py:class", r"(Any|Callable|Iterable|Iterator|Mapping|Sequence|NDArray|Path|Value|T)"),
    (r"py:class", r"(np\.ndarray|numpy\.ndarray|optional)"),
    (r"py:mod", r"caprobe\.ca\.[a-z_]+"),
    (r"py:class", r"(MessageHeader|Layout)"),
]

autodoc_member_order = "bysource"
autodoc_typehints = "description"
autodoc_typehints_format = "short"
autodoc_default_options = {"members": True, "show-inheritance": True}

html_theme = "alabaster"
html_title = f"caprobe {release}"
html_theme_options = {
    "description": "EPICS Channel Access and PV Access: a desktop probe, caget-style tools, "
                   "a Python client",
    "fixed_sidebar": True,
}
html_static_path: list[str] = []

# One man page per command-line tool, from its page of the CLI reference.
man_pages = [
    ("cli/caprobe", "caprobe", "desktop probe for EPICS Channel Access and PV Access PVs",
     [author], 1),
    ("cli/caprobe-get", "caprobe-get", "read EPICS PVs and print their values, like caget",
     [author], 1),
    ("cli/caprobe-put", "caprobe-put", "write a value to an EPICS PV, like caput", [author], 1),
    ("cli/caprobe-monitor", "caprobe-monitor", "print every update of EPICS PVs, like camonitor",
     [author], 1),
    ("cli/caprobe-info", "caprobe-info", "connection, server, access and type of EPICS PVs, "
     "like cainfo", [author], 1),
    ("cli/caprobe-snapshot", "caprobe-snapshot", "save many EPICS PVs to a file, compare, "
     "restore", [author], 1),
    ("cli/caprobe-repeater", "caprobe-repeater", "the EPICS Channel Access repeater",
     [author], 1),
]
man_show_urls = False
