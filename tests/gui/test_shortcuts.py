"""Every shortcut of the window's menus (as Help ▸ Keyboard shortcuts lists them, read from the
menus) is on the keyboard page of the user guide, under the same menu."""

from __future__ import annotations

import re
from pathlib import Path

from caprobe.gui.shortcuts import FIELD_KEYS, menu_shortcuts

KEYBOARD_PAGE = Path(__file__).resolve().parents[2] / "docs" / "guide" / "keyboard.rst"


def documented_keys() -> dict[str, set[str]]:
    """{menu: keys} from the page's list-table (rows of menu, keys, does); ``Ctrl+1 … Ctrl+6``
    stands for each key of the range."""
    cells = re.findall(r"^   \* - (.+)\n     - (.+)\n     - ", KEYBOARD_PAGE.read_text(),
                       flags=re.MULTILINE)
    keys: dict[str, set[str]] = {}
    for menu, text in cells:
        found = keys.setdefault(menu.strip(), set())
        for first, last in re.findall(r"Ctrl\+(\d) … Ctrl\+(\d)", text):
            found.update(f"Ctrl+{n}" for n in range(int(first), int(last) + 1))
        for part in re.split(r" / | or |\(or |\)|, ", text):
            if part.strip() and "…" not in part:
                found.add(part.strip())
    return keys


def test_the_page_parses() -> None:
    keys = documented_keys()
    assert {"File", "Edit", "PV", "View", "Help"} <= set(keys)
    assert {"Ctrl+3", "Ctrl++", "Ctrl+=", "Ctrl+-", "Ctrl+PgUp"} <= keys["View"] | keys["PV"]


def test_every_menu_shortcut_is_on_the_keyboard_page(make_window) -> None:
    window = make_window()
    rows = menu_shortcuts(window.menuBar())
    assert len(rows) >= 20
    documented = documented_keys()
    missing = [f"{menu}: {key} ({what})" for menu, keys, what in rows
               for key in keys.split(" or ")
               if key not in documented.get(menu.split(" ▸ ")[0], set())]
    assert not missing, f"not on {KEYBOARD_PAGE.name}: {missing}"


def test_the_field_keys_are_on_the_keyboard_page() -> None:
    text = KEYBOARD_PAGE.read_text()
    for _where, keys, _what in FIELD_KEYS:
        assert keys in text, keys
