"""caprobe.gui.probe.image_frame: NTNDArray values (built with p4p's own NTNDArray, as a
server sends them) to drawable pixels, or a refusal that says why."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

pytest.importorskip("p4p")

from p4p.nt import NTNDArray  # noqa: E402

from caprobe.gui.image_view import auto_levels  # noqa: E402
from caprobe.gui.probe.image_frame import FrameRefused, frame_of  # noqa: E402
from caprobe.pva.response import PVAResponse, layout_of  # noqa: E402


def response(pixels: np.ndarray, **attrib: Any) -> PVAResponse:
    value = NTNDArray().wrap(pixels, attrib=attrib or None)
    value["uniqueId"] = 7
    return PVAResponse(value, layout_of(value))


@pytest.mark.parametrize("dtype", [np.uint8, np.int8, np.uint16, np.int16, np.uint32,
                                   np.int32, np.int64, np.uint64, np.float32, np.float64])
def test_mono_of_every_pixel_type_is_y_by_x(dtype: Any) -> None:
    pixels = (np.arange(12).reshape(3, 4) - 3).astype(dtype)
    frame = frame_of(response(pixels))
    assert (frame.width, frame.height, frame.color_mode, frame.unique_id) == (4, 3, "Mono", 7)
    assert frame.dtype_name == np.dtype(dtype).name
    assert np.array_equal(frame.pixels, pixels)


def test_the_three_rgb_layouts_give_the_same_picture() -> None:
    rgb = np.arange(2 * 4 * 3, dtype=np.uint8).reshape(2, 4, 3)  # (y, x, colour)
    layouts = {"RGB1": (rgb, 2), "RGB2": (rgb.transpose(0, 2, 1).copy(), 3),
               "RGB3": (rgb.transpose(2, 0, 1).copy(), 4)}
    for name, (sent, mode) in layouts.items():
        frame = frame_of(response(sent, ColorMode=mode))
        assert frame.color_mode == name and frame.is_color
        assert np.array_equal(frame.pixels, rgb), name
        assert (frame.width, frame.height) == (4, 2)


def test_colour_mode_is_guessed_from_the_shape_without_the_attribute() -> None:
    value = NTNDArray().wrap(np.zeros((2, 4, 3), np.uint8))
    value["attribute"] = []
    assert frame_of(PVAResponse(value, layout_of(value))).color_mode == "RGB1"
    value = NTNDArray().wrap(np.zeros((2, 4), np.uint8))
    value["attribute"] = []
    assert frame_of(PVAResponse(value, layout_of(value))).color_mode == "Mono"


@pytest.mark.parametrize(("pixels", "attrib", "reason"), [
    (np.zeros((2, 4), np.uint8), {"ColorMode": 1}, "ColorMode Bayer is not drawn"),
    (np.zeros((2, 4, 3), np.uint8), {"ColorMode": 5}, "ColorMode YUV444 is not drawn"),
    (np.zeros((2, 4, 3), np.uint8), {"ColorMode": 0}, "ColorMode Mono does not fit the "
                                                      "dimensions 3 × 4 × 2"),
    (np.zeros((2, 4, 5, 3), np.uint8), {"ColorMode": 2}, "ColorMode RGB1 does not fit"),
    (np.zeros((2, 4), np.uint8), {"ColorMode": "Sepia"}, "unknown ColorMode attribute"),
])
def test_colour_modes_it_cannot_draw_are_refused(pixels: np.ndarray, attrib: dict[str, Any],
                                                 reason: str) -> None:
    with pytest.raises(FrameRefused, match=reason):
        frame_of(response(pixels, **attrib))


def test_compressed_and_inconsistent_frames_are_refused() -> None:
    value = NTNDArray().wrap(np.zeros((2, 4), np.uint8))
    value["codec.name"] = "lz4"
    value["compressedSize"] = 5
    with pytest.raises(FrameRefused, match="compressed with codec 'lz4', 5 bytes"):
        frame_of(PVAResponse(value, layout_of(value)))
    value = NTNDArray().wrap(np.zeros((2, 4), np.uint8))
    value["dimension"] = [{"size": 3}, {"size": 3}]
    with pytest.raises(FrameRefused, match="3 × 3 do not match the 8 pixels"):
        frame_of(PVAResponse(value, layout_of(value)))
    value = NTNDArray().wrap(np.zeros((2, 4), np.uint8))
    value["dimension"] = []
    with pytest.raises(FrameRefused, match="the image is empty"):
        frame_of(PVAResponse(value, layout_of(value)))


def test_auto_levels_sample_ignore_nan_and_widen_a_flat_image() -> None:
    assert auto_levels(np.arange(12, dtype=np.uint16).reshape(3, 4)) == (0.0, 11.0)
    assert auto_levels(np.full((3, 4), 5, np.int16)) == (5.0, 6.0)
    floats = np.array([[np.nan, 1.5], [-2.0, np.inf]])
    assert auto_levels(floats) == (-2.0, 1.5)
    # 4 M pixels: a strided sample of about 65 k decides, close to the true ends
    big = np.tile(np.arange(2048, dtype=np.uint16), (2048, 1))
    low, high = auto_levels(big)
    assert low == 0 and 2030 <= high <= 2047
