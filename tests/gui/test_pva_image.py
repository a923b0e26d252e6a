"""The probe draws an NTNDArray PV as an image, against the real p4p test server on loopback
(tests/ioc/p4p_server.py: image_live posts a moving gradient, image_rgb is RGB1, image_jpeg is
compressed, image_bayer is Bayer)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import numpy as np
import pytest
from PyQt5.QtCore import Qt

pytest.importorskip("p4p")

import pva_servers  # noqa: E402

from caprobe.gui import pva_backend  # noqa: E402

WAIT_MS = 8000
WIDTH, HEIGHT = 40, 30


@pytest.fixture(scope="module")
def image_server() -> Iterator[Any]:
    server = pva_servers.start_p4p_server(
        args=["--image-size", f"{WIDTH}x{HEIGHT}", "--image-rate", "20"])
    try:
        yield server
    finally:
        server.close()


@pytest.fixture
def image_env(image_server: Any, monkeypatch: pytest.MonkeyPatch) -> Any:
    for key, value in image_server.pva_env.items():
        monkeypatch.setenv(key, value)
    assert pva_backend.install() == "PV Access registered"
    return image_server


def open_image(qtbot: Any, window: Any, suffix: str, server: Any) -> Any:
    """The probe of ``suffix`` with its image window open and drawn (the details have no
    room for the image in the test window's 740 px)."""
    probe = window.open_pv(f"pva://{server.pv(suffix)}")
    assert probe is not None
    qtbot.waitUntil(lambda: probe.response is not None, timeout=WAIT_MS)
    window.drain()
    assert probe.image_button.isVisible()
    qtbot.mouseClick(probe.image_button, Qt.LeftButton)
    view = probe.image_window.view
    qtbot.waitUntil(lambda: view.frame is not None or view.refusal != "", timeout=WAIT_MS)
    return probe


def expected_gradient(unique_id: int) -> np.ndarray:
    """What tests/ioc/p4p_server.py posts as frame ``unique_id`` of image_live."""
    y, x = np.mgrid[0:HEIGHT, 0:WIDTH]
    base = ((x + y) * (65535 // (WIDTH + HEIGHT))).astype(np.uint16)
    return np.roll(base, unique_id, axis=1)


def test_live_image_is_drawn_the_right_way_up_and_follows_the_frames(
        qtbot: Any, make_window: Any, image_env: Any) -> None:
    window = make_window()
    probe = open_image(qtbot, window, "image_live", image_env)
    view = probe.image_window.view
    assert not probe.image_box.isHidden()
    assert not probe.structure_box.isHidden()  # the fields stay available
    first = view.frame
    assert (first.width, first.height, first.dtype_name, first.color_mode) == \
        (WIDTH, HEIGHT, "uint16", "Mono")
    # the pixels drawn are the server's: row 0 at the top, x along the row
    assert np.array_equal(view.image_item.image, expected_gradient(first.unique_id))
    qtbot.waitUntil(lambda: view.frame.unique_id > first.unique_id, timeout=WAIT_MS)
    assert np.array_equal(view.image_item.image, expected_gradient(view.frame.unique_id))
    qtbot.waitUntil(lambda: view.rate is not None and view.rate > 0, timeout=WAIT_MS)
    info = view.info_label.text()
    assert info.startswith(f"{WIDTH} × {HEIGHT}  uint16  Mono  ·  uniqueId ")
    assert "frames/s" in info and "measuring" not in info
    assert probe.value_label.text().replace("\u200b", "") == \
        f"NTNDArray: {WIDTH} × {HEIGHT} uint16 Mono image"
    # one monitor for the PV, whatever the view draws
    assert window.service.settle()
    assert sum(loop.group.monitors() for (protocol, _), loop in window.service._loops.items()
               if protocol == "pva") == 1


def test_levels_auto_and_fixed(qtbot: Any, make_window: Any, image_env: Any) -> None:
    window = make_window()
    view = open_image(qtbot, window, "image_live", image_env).image_window.view
    assert view.auto_box.isChecked() and not view.min_spin.isEnabled()
    low, high = view.image_item.levels
    assert low == view.min_spin.value() and high == view.max_spin.value()
    assert 0 <= low < high <= 65535
    view.set_levels(100, 2000)
    assert view.min_spin.isEnabled()
    drawn = view.draws
    qtbot.waitUntil(lambda: view.draws > drawn, timeout=WAIT_MS)  # a new frame keeps them
    assert list(view.image_item.levels) == [100, 2000]
    view.auto_box.setChecked(True)
    assert list(view.image_item.levels) != [100, 2000]


def test_rgb1_image_is_drawn_in_colour(qtbot: Any, make_window: Any, image_env: Any) -> None:
    window = make_window()
    view = open_image(qtbot, window, "image_rgb", image_env).image_window.view
    frame = view.frame
    assert frame.color_mode == "RGB1" and frame.pixels.shape == (6, 8, 3)
    assert frame.pixels[2, 3].tolist() == [3 * 32, 2 * 40, 128]  # red along x, green along y
    assert view.info_label.text().startswith("8 × 6  uint8  RGB1")


@pytest.mark.parametrize(("suffix", "reason"), [
    ("image_jpeg", "compressed with codec 'jpeg', 22 bytes compressed; caprobe shows "
                   "uncompressed images only"),
    ("image_bayer", "ColorMode Bayer is not drawn (caprobe draws Mono and RGB1/RGB2/RGB3"),
])
def test_frames_it_cannot_draw_are_refused_with_the_reason(
        qtbot: Any, make_window: Any, image_env: Any, suffix: str, reason: str) -> None:
    window = make_window()
    probe = open_image(qtbot, window, suffix, image_env)
    view = probe.image_window.view
    assert view.frame is None
    assert reason in view.refusal
    assert view.stack.currentWidget() is view.message
    assert view.message.text() == view.refusal
    assert not probe.structure_box.isHidden()
    assert probe.value_label.text().replace("\u200b", "").endswith(", not drawn (see below)")

