"""An NTNDArray (areaDetector's image over PV Access) as pixels ready to draw, or the reason it
cannot be drawn. Plain numpy, no Qt: the pixels are views of the array the response already
decoded (in the PV service's thread), so this costs microseconds whatever the image size.

What is drawn (areaDetector's ColorMode attribute; dimension[0] is the fastest axis):

=========  ===================  ==================
ColorMode  dimension sizes      pixels (numpy)
=========  ===================  ==================
Mono (0)   x, y                 (y, x)
RGB1 (2)   3, x, y              (y, x, 3)
RGB2 (3)   x, 3, y              (y, x, 3) (a view)
RGB3 (4)   x, y, 3              (y, x, 3) (a view)
=========  ===================  ==================

Without a ColorMode attribute, two dimensions are Mono and three with one of size 3 are the
first RGB layout that fits (as p4p guesses when it wraps an array). Bayer and the YUV modes,
compressed frames (codec.name set) and other shapes are refused with a sentence saying why.
Pixel types: signed and unsigned 8/16/32/64-bit integers and float32/float64 (booleans as 0/1).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

COLOR_MODES = ("Mono", "Bayer", "RGB1", "RGB2", "RGB3", "YUV444", "YUV422", "YUV411")
MONO, BAYER, RGB1, RGB2, RGB3 = 0, 1, 2, 3, 4
#: what :func:`frame_of` draws, for messages and the README
SUPPORTED = "Mono and RGB1/RGB2/RGB3, uncompressed, 8/16/32/64-bit integers and floats"


class FrameRefused(ValueError):
    """The NTNDArray is not an image caprobe draws; the message says why, for the operator."""


@dataclass(frozen=True)
class Frame:
    """One image: ``pixels`` (y, x) or (y, x, 3), and what the view prints about it."""

    pixels: np.ndarray
    color_mode: str
    unique_id: int
    received: float  # time.time() when the update arrived (the service's thread)

    @property
    def width(self) -> int:
        return int(self.pixels.shape[1])

    @property
    def height(self) -> int:
        return int(self.pixels.shape[0])

    @property
    def dtype_name(self) -> str:
        return self.pixels.dtype.name

    @property
    def is_color(self) -> bool:
        return self.pixels.ndim == 3


def attributes(value: Any) -> dict[str, Any]:
    """NTNDArray's attribute[] as {name: value} (areaDetector sends a few dozen)."""
    out: dict[str, Any] = {}
    try:
        for element in value["attribute"]:
            out[str(element["name"])] = element["value"]
    except (KeyError, TypeError, ValueError):
        pass
    return out


def _color_mode(attrs: dict[str, Any], sizes: list[int]) -> int:
    mode = attrs.get("ColorMode")
    if mode is not None:
        if isinstance(mode, str):
            if mode in COLOR_MODES:
                return COLOR_MODES.index(mode)
            try:
                return int(mode)
            except ValueError:
                raise FrameRefused(f"unknown ColorMode attribute {mode!r}") from None
        try:
            return int(mode)
        except (TypeError, ValueError):
            raise FrameRefused(f"unknown ColorMode attribute {mode!r}") from None
    if len(sizes) == 3:
        for index, size in enumerate(sizes):
            if size == 3:
                return RGB1 + index
    return MONO


def frame_of(response: Any) -> Frame:
    """The drawable image of an NTNDArray response (a caprobe.pva PVAResponse); raises
    :class:`FrameRefused` with the reason when it is not one caprobe draws."""
    value = response.value
    try:
        codec = str(value["codec.name"] or "")
    except (KeyError, TypeError):
        codec = ""
    if codec:
        try:
            size = f", {int(value['compressedSize'])} bytes compressed"
        except (KeyError, TypeError, ValueError):
            size = ""
        raise FrameRefused(f"the frame is compressed with codec '{codec}'{size}; caprobe "
                           "shows uncompressed images only (turn the areaDetector codec "
                           "plugin off for this stream, or use a viewer that decodes "
                           f"'{codec}')")
    try:
        sizes = [int(d["size"]) for d in value["dimension"]]
    except (KeyError, TypeError, ValueError):
        sizes = []
    data = response.data
    if not isinstance(data, np.ndarray) or data.dtype == object:
        raise FrameRefused("the value holds no pixel array")
    if data.size == 0 or not sizes or 0 in sizes:
        raise FrameRefused(f"the image is empty (dimensions {sizes or 'none'})")
    if int(np.prod(sizes)) != data.size:
        raise FrameRefused(f"the dimension sizes {' × '.join(map(str, sizes))} do not match "
                           f"the {data.size} pixels sent")
    if data.dtype.kind == "b":
        data = data.view(np.uint8)
    elif data.dtype.kind not in "iuf":
        raise FrameRefused(f"pixels of type {data.dtype.name} are not drawn")
    mode = _color_mode(attributes(value), sizes)
    name = COLOR_MODES[mode] if 0 <= mode < len(COLOR_MODES) else f"ColorMode {mode}"
    if mode == MONO and data.ndim == 2:
        pixels = data
    elif mode == RGB1 and data.ndim == 3 and sizes[0] == 3:
        pixels = data  # (y, x, 3) already
    elif mode == RGB2 and data.ndim == 3 and sizes[1] == 3:
        pixels = data.transpose(0, 2, 1)  # (y, 3, x) -> (y, x, 3)
    elif mode == RGB3 and data.ndim == 3 and sizes[2] == 3:
        pixels = data.transpose(1, 2, 0)  # (3, y, x) -> (y, x, 3)
    elif mode in (MONO, RGB1, RGB2, RGB3):
        raise FrameRefused(f"ColorMode {name} does not fit the dimensions "
                           f"{' × '.join(map(str, sizes))}")
    else:
        raise FrameRefused(f"ColorMode {name} is not drawn (caprobe draws {SUPPORTED})")
    try:
        unique_id = int(value["uniqueId"])
    except (KeyError, TypeError, ValueError):
        unique_id = 0
    return Frame(pixels, name, unique_id, float(getattr(response, "received", 0.0)))
