"""Pixel formats: an emulator's own frame bytes on the wire, turned into RGB once, on the host (sans-I/O).

A game may send an image observation (a ``uint8`` Box of shape ``[H, W, 3]``) in the
pixel layout its emulator already has, instead of converting it to RGB itself
(docs/protocol.md, "Pixel formats"). It says so in the Box's description in its hello:
``{"type": "Box", "shape": [240, 256, 3], "dtype": "uint8", ..., "pixel_format": "xrgb"}``.
The user still gets the RGB Box; this module checks each wire value against its format
and converts it to RGB in one vectorized pass.

=============  ============================  ==================================================
format         wire value                    where it comes from
=============  ============================  ==================================================
``rgb``        uint8 ``[H, W, 3]``           the default: no conversion
``rgbx``       uint8 ``[H, W, 4]``: R,G,B,x  jsnes's ``0xBBGGRR`` Uint32 buffer, canvas RGBA
``bgrx``       uint8 ``[H, W, 4]``: B,G,R,x  XRGB8888 words (libretro, Windows DIBs), BGRA
``xrgb``       uint8 ``[H, W, 4]``: x,R,G,B  FCEUX's ``gui.gdscreenshot`` (gd2 truecolor, ARGB)
``palette``    uint8 ``[H, W]`` indices      8-bit indexed frames; ``"palette": [[r, g, b], ...]``
``png``        uint8 ``[N]``: a PNG file     BizHawk's ``comm.socketServerScreenShot()``
=============  ============================  ==================================================

The byte shuffles and the PNG decoder are OpenCV's (``cv2.cvtColor``, ``cv2.LUT``,
``cv2.imdecode``). Measured on a 256x240 frame (2 cores, loaded): ``cvtColor`` 35-80 µs,
numpy's strided channel copies 330-1,100 µs; a PNG decodes in the time zlib alone
needs to inflate it, Pillow takes about twice that.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from vecbridge.errors import ArrayMismatch, SpaceError
from vecbridge.protocol.values import with_article

FORMATS = ("rgb", "rgbx", "bgrx", "xrgb", "palette", "png")
_FOUR_BYTES = ("rgbx", "bgrx", "xrgb")
_PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"

LeafPath = tuple[Any, ...]


def _cv2():
    import cv2  # imported on first use: only games that declare a pixel format pay for it

    return cv2


@dataclass(frozen=True)
class PixelFormat:
    """One image leaf's wire format; ``height``/``width`` of the RGB image (None: any, for render frames)."""

    name: str
    height: int | None = None
    width: int | None = None
    palette: np.ndarray | None = field(default=None, compare=False, repr=False)  # (256, 1, 3) uint8 LUT

    def wire_shape(self) -> tuple[int, ...] | None:
        """The shape of a wire value (None: any length, for png)."""
        if self.name == "png":
            return None
        if self.name == "palette":
            return (self.height, self.width)
        return (self.height, self.width, 4 if self.name in _FOUR_BYTES else 3)

    def describe(self) -> str:
        shape = self.wire_shape()
        what = "a PNG file as uint8 [N]" if shape is None else f"uint8 {list(shape)}"
        return f"{what} (pixel_format {self.name!r})"

    def to_rgb(self, wire: Any, what: str = "image") -> np.ndarray:
        """A new uint8 ``[H, W, 3]`` RGB array from a wire value; ArrayMismatch if it does not fit."""
        if not isinstance(wire, np.ndarray) or wire.dtype != np.uint8:
            got = f"{with_article(wire.dtype.name)} array" if isinstance(wire, np.ndarray) else type(wire).__name__
            raise ArrayMismatch(f"{what}: expected {self.describe()}, got {got}")
        if self.name == "png":
            return self._from_png(wire, what)
        if self.height is None:  # a render frame: its wire shape says the size
            channels = () if self.name == "palette" else (4 if self.name in _FOUR_BYTES else 3,)
            if wire.ndim != 2 + len(channels) or wire.shape[2:] != channels:
                raise ArrayMismatch(f"{what}: expected uint8 [H, W{''.join(f', {c}' for c in channels)}] "
                                    f"(pixel_format {self.name!r}), got uint8 {list(wire.shape)}")  # fmt: skip
            return PixelFormat(self.name, wire.shape[0], wire.shape[1], self.palette).to_rgb(wire, what)
        shape = self.wire_shape()
        if wire.ndim == 1 and wire.size == np.prod(shape):  # a raw frame ({"$raw": k}) holds the bytes flat
            wire = wire.reshape(shape)
        if wire.shape != shape:
            raise ArrayMismatch(f"{what}: expected {self.describe()}, got uint8 {list(wire.shape)}")
        out = np.empty((self.height, self.width, 3), np.uint8)
        if self.name == "rgb":
            out[...] = wire
        elif self.name == "rgbx":
            _cv2().cvtColor(np.ascontiguousarray(wire), _cv2().COLOR_RGBA2RGB, dst=out)
        elif self.name == "bgrx":
            _cv2().cvtColor(np.ascontiguousarray(wire), _cv2().COLOR_BGRA2RGB, dst=out)
        elif self.name == "xrgb":
            _xrgb_to_rgb(np.ascontiguousarray(wire), out)
        else:  # palette
            cv2 = _cv2()
            cv2.LUT(cv2.cvtColor(np.ascontiguousarray(wire), cv2.COLOR_GRAY2RGB), self.palette, dst=out)
        return out

    def _from_png(self, wire: np.ndarray, what: str) -> np.ndarray:
        if wire.ndim != 1 or bytes(wire[:8]) != _PNG_SIGNATURE:
            raise ArrayMismatch(f"{what}: expected {self.describe()}, got uint8 {list(wire.shape)} "
                                f"starting {bytes(wire.reshape(-1)[:8])!r}")  # fmt: skip
        cv2 = _cv2()
        bgr = cv2.imdecode(wire, cv2.IMREAD_COLOR)
        if bgr is None:
            raise ArrayMismatch(f"{what}: the PNG file ({wire.size} bytes) could not be decoded")
        if self.height is not None and bgr.shape[:2] != (self.height, self.width):
            raise ArrayMismatch(
                f"{what}: the PNG is {bgr.shape[1]}x{bgr.shape[0]} but the observation space declares "
                f"{self.width}x{self.height} (uint8 [{self.height}, {self.width}, 3])"
            )
        return cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)


def _xrgb_to_rgb(wire: np.ndarray, out: np.ndarray) -> None:
    # Seen from its second byte, x,R,G,B,x,R,G,B,... is R,G,B,x,R,G,B,x,...: every pixel but the
    # last is an RGBA one there, which cvtColor drops to RGB in one pass; the last is 3 bytes.
    cv2 = _cv2()
    flat, o = wire.reshape(-1), out.reshape(-1)
    n = flat.size // 4
    if n > 1:
        cv2.cvtColor(flat[1 : 4 * n - 3].reshape(1, n - 1, 4), cv2.COLOR_RGBA2RGB, dst=o[: 3 * (n - 1)].reshape(1, n - 1, 3))
    o[3 * (n - 1) :] = flat[4 * n - 3 :]


# ---------------------------------------------------------------- from the hello


def _palette(value: Any, what: str) -> np.ndarray:
    try:
        pal = np.asarray(value, dtype=np.int64)
    except (TypeError, ValueError):
        pal = None
    if pal is None or pal.ndim != 2 or pal.shape[1] != 3 or not 1 <= len(pal) <= 256 or pal.min() < 0 or pal.max() > 255:
        raise SpaceError(f"{what}: 'palette' must be a list of 1 to 256 [r, g, b] entries (0..255), got {str(value)[:80]}")
    lut = np.zeros((256, 1, 3), np.uint8)  # indices past the palette's end are black
    lut[: len(pal), 0] = pal
    return lut


def format_of(desc: Any, what: str = "observation_space") -> PixelFormat | None:
    """The pixel format a Box description declares (None for plain RGB); SpaceError if misused."""
    name = desc.get("pixel_format") if isinstance(desc, dict) else None
    if name is None or name == "rgb":
        return None
    if name not in FORMATS:
        raise SpaceError(f"{what}: unknown pixel_format {name!r}; expected one of {', '.join(FORMATS)}")
    shape = desc.get("shape")
    if desc.get("type") != "Box" or desc.get("dtype") != "uint8" or not (
        isinstance(shape, list) and len(shape) == 3 and shape[2] == 3 and all(isinstance(d, int) and d > 0 for d in shape)
    ):
        raise SpaceError(f"{what}: a pixel_format belongs on a uint8 Box of shape [H, W, 3] (the RGB image the "
                         f"user gets), not on {str(desc)[:120]}")  # fmt: skip
    palette = _palette(desc.get("palette"), what) if name == "palette" else None
    return PixelFormat(name, shape[0], shape[1], palette)


def leaf_formats(desc: Any, what: str = "observation_space", path: LeafPath = ()) -> dict[LeafPath, PixelFormat]:
    """Every image leaf of a space description that declares a pixel format, by leaf path."""
    if not isinstance(desc, dict):
        return {}  # type strings: no images
    if desc.get("type") == "Dict" and isinstance(desc.get("spaces"), dict):
        found: dict[LeafPath, PixelFormat] = {}
        for k, sub in desc["spaces"].items():
            found.update(leaf_formats(sub, f"{what}[{k!r}]", (*path, str(k))))
        return found
    if desc.get("type") == "Tuple" and isinstance(desc.get("spaces"), list):
        found = {}
        for i, sub in enumerate(desc["spaces"]):
            found.update(leaf_formats(sub, f"{what}[{i}]", (*path, i)))
        return found
    fmt = format_of(desc, what)
    return {} if fmt is None else {path: fmt}


def render_format(fields: dict[str, Any]) -> PixelFormat | None:
    """The pixel format of a render_result (its optional ``pixel_format`` and ``palette`` fields)."""
    name = fields.get("pixel_format")
    if name is None or name == "rgb":
        return None
    if name not in FORMATS:
        raise ArrayMismatch(f"render_result: unknown pixel_format {name!r}; expected one of {', '.join(FORMATS)}")
    try:
        palette = _palette(fields.get("palette"), "render_result") if name == "palette" else None
    except SpaceError as exc:
        raise ArrayMismatch(str(exc)) from None
    return PixelFormat(name, palette=palette)


# ---------------------------------------------------------------- values


def convert_leaves(value: Any, formats: dict[LeafPath, PixelFormat], what: str) -> Any:
    """``value`` with the wire value at each format's leaf path replaced by its RGB array.

    A value whose structure does not reach a path is left as it is: the space check that
    follows names what is wrong with it.
    """
    if () in formats:
        return formats[()].to_rgb(value, what)
    for path, fmt in formats.items():
        value = _replace(value, path, fmt, what)
    return value


def _replace(value: Any, path: LeafPath, fmt: PixelFormat, what: str) -> Any:
    key, rest = path[0], path[1:]
    if isinstance(value, dict) and isinstance(key, str) and key in value:
        sub = f"{what}[{key!r}]"
        return {**value, key: fmt.to_rgb(value[key], sub) if not rest else _replace(value[key], rest, fmt, sub)}
    if isinstance(value, list) and isinstance(key, int) and 0 <= key < len(value):
        sub = f"{what}[{key}]"
        new = list(value)
        new[key] = fmt.to_rgb(value[key], sub) if not rest else _replace(value[key], rest, fmt, sub)
        return new
    return value


def check_wire(fmt: PixelFormat, value: Any, what: str = "observation") -> None:
    """Raise ArrayMismatch unless ``value`` is a valid wire value of ``fmt`` (for game-side checks)."""
    shape = fmt.wire_shape()
    if not isinstance(value, np.ndarray) or value.dtype != np.uint8 or (
        value.ndim != 1 if shape is None else value.shape != shape
    ):
        got = f"{value.dtype.name} {list(value.shape)}" if isinstance(value, np.ndarray) else type(value).__name__
        raise ArrayMismatch(f"{what}: expected {fmt.describe()}, got {got}")
