"""Pixel formats (vecbridge/protocol/pixels.py) and raw frames, sans-I/O, against references built here.

Each format's RGB is checked byte for byte against a reference computed by plain
indexing; PNG files are written by Pillow (an independent encoder), in the colour
types BizHawk's encoder may produce. The host connection is fed the exact bytes a
game would send, in every framing, including BizHawk's comm framing with a raw
screenshot frame after the step_result.
"""

from __future__ import annotations

import base64
import io
import json
import struct
import zlib

import numpy as np
import pytest
from PIL import Image

from vecbridge.errors import ArrayMismatch, MalformedMessage, SpaceError
from vecbridge.protocol.connection import GameConnection, HostConnection, RenderResult, ResetResult, StepResult
from vecbridge.protocol.messages import RawFrame, decode_message, encode_message, resolve_raw
from vecbridge.protocol.pixels import FORMATS, PixelFormat, check_wire, format_of, leaf_formats

H, W = 5, 7
RNG = np.random.default_rng(7)
RGB = RNG.integers(0, 256, (H, W, 3), dtype=np.uint8)
X = RNG.integers(0, 256, (H, W, 1), dtype=np.uint8)  # the ignored byte: never 0 only


def wire_of(name: str, rgb: np.ndarray = RGB) -> np.ndarray:
    """The reference encoding of ``rgb`` in a format, by plain indexing."""
    x = X[: rgb.shape[0], : rgb.shape[1]]
    if name == "rgb":
        return rgb.copy()
    if name == "rgbx":
        return np.concatenate([rgb, x], axis=2)
    if name == "bgrx":
        return np.concatenate([rgb[..., ::-1], x], axis=2)
    if name == "xrgb":
        return np.concatenate([x, rgb], axis=2)
    if name == "png":
        buf = io.BytesIO()
        Image.fromarray(rgb, "RGB").save(buf, "PNG")
        return np.frombuffer(buf.getvalue(), np.uint8)
    raise AssertionError(name)


def box(name: str | None, h: int = H, w: int = W, **extra) -> dict:
    desc = {"type": "Box", "low": 0, "high": 255, "shape": [h, w, 3], "dtype": "uint8", **extra}
    if name is not None:
        desc["pixel_format"] = name
    return desc


@pytest.mark.parametrize("name", ["rgb", "rgbx", "bgrx", "xrgb", "png"])
def test_each_format_gives_the_reference_rgb(name):
    fmt = PixelFormat(name, H, W)
    out = fmt.to_rgb(wire_of(name))
    assert out.dtype == np.uint8 and out.shape == (H, W, 3) and out.flags.c_contiguous
    np.testing.assert_array_equal(out, RGB)


@pytest.mark.parametrize("h, w", [(1, 1), (1, 2), (240, 256), (3, 1)])
def test_xrgb_edges_and_the_fceux_size(h, w):
    """xrgb is converted through a view shifted by one byte: the first and last pixels matter."""
    rgb = np.random.default_rng(h * 1000 + w).integers(0, 256, (h, w, 3), dtype=np.uint8)
    wire = np.concatenate([np.full((h, w, 1), 0xAB, np.uint8), rgb], axis=2)
    np.testing.assert_array_equal(PixelFormat("xrgb", h, w).to_rgb(wire), rgb)


def test_xrgb_from_fceux_gd_bytes_sliced_past_the_header():
    """What the Lua client sends: gui.gdscreenshot(true) minus its 11-byte gd2 header."""
    header = b"\xff\xfe" + struct.pack(">HH", W, H) + b"\x01" + b"\xff\xff\xff\xff"
    gd = header + b"".join(bytes([0, *RGB[y, x]]) for y in range(H) for x in range(W))
    wire = np.frombuffer(gd[11:], np.uint8).reshape(H, W, 4)
    np.testing.assert_array_equal(PixelFormat("xrgb", H, W).to_rgb(wire), RGB)


def test_rgbx_from_jsnes_uint32_words():
    """jsnes's frame buffer: one little-endian uint32 0x00BBGGRR per pixel."""
    words = (RGB[..., 0].astype(np.uint32) | RGB[..., 1].astype(np.uint32) << 8 | RGB[..., 2].astype(np.uint32) << 16)
    wire = words.astype("<u4").view(np.uint8).reshape(H, W, 4)
    np.testing.assert_array_equal(PixelFormat("rgbx", H, W).to_rgb(wire), RGB)


def test_palette():
    palette = RNG.integers(0, 256, (20, 3)).tolist()
    fmt = format_of(box("palette", palette=palette))
    idx = RNG.integers(0, 25, (H, W), dtype=np.uint8)  # 20..24: past the palette's end
    ref = np.array(palette + [[0, 0, 0]] * 5, np.uint8)[idx]
    np.testing.assert_array_equal(fmt.to_rgb(idx), ref)


@pytest.mark.parametrize("mode", ["RGB", "RGBA", "P", "L"])
def test_png_colour_types(mode):
    img = Image.fromarray(RGB, "RGB")
    if mode == "RGBA":
        img = img.convert("RGBA")
    elif mode == "P":
        img = img.quantize(16)
    elif mode == "L":
        img = img.convert("L")
    buf = io.BytesIO()
    img.save(buf, "PNG")
    ref = np.asarray(img.convert("RGB"))
    np.testing.assert_array_equal(PixelFormat("png", H, W).to_rgb(np.frombuffer(buf.getvalue(), np.uint8)), ref)


def _png_every_filter(rgb: np.ndarray, alpha: bool) -> bytes:
    """A PNG written here from the specification, with rows of every filter type (0-4)."""
    h, w, _ = rgb.shape
    pix = np.concatenate([rgb, np.full((h, w, 1), 255, np.uint8)], 2) if alpha else rgb
    bpp = pix.shape[2]
    rows, prev = [], np.zeros(w * bpp, np.int32)
    for y in range(h):
        cur = pix[y].reshape(-1).astype(np.int32)
        a = np.concatenate([np.zeros(bpp, np.int32), cur[:-bpp]])
        c = np.concatenate([np.zeros(bpp, np.int32), prev[:-bpp]])
        f = y % 5
        if f == 0:
            out = cur
        elif f == 1:
            out = cur - a
        elif f == 2:
            out = cur - prev
        elif f == 3:
            out = cur - (a + prev) // 2
        else:
            p = a + prev - c
            pa, pb, pc = np.abs(p - a), np.abs(p - prev), np.abs(p - c)
            out = cur - np.where((pa <= pb) & (pa <= pc), a, np.where(pb <= pc, prev, c))
        rows.append(bytes([f]) + (out % 256).astype(np.uint8).tobytes())
        prev = cur

    def chunk(t: bytes, d: bytes) -> bytes:
        return struct.pack(">I", len(d)) + t + d + struct.pack(">I", zlib.crc32(t + d) & 0xFFFFFFFF)

    ihdr = struct.pack(">IIBBBBB", w, h, 8, 6 if alpha else 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(b"".join(rows), 9)) + chunk(b"IEND", b"")


@pytest.mark.parametrize("alpha", [False, True])
def test_png_with_every_filter_type(alpha):
    rng = np.random.default_rng(0)
    img = np.zeros((60, 64, 3), np.uint8)
    img[10:30, 5:50] = [200, 10, 30]
    img[::3, ::2] = rng.integers(0, 256, (20, 32, 3))
    png = np.frombuffer(_png_every_filter(img, alpha), np.uint8)
    np.testing.assert_array_equal(PixelFormat("png", 60, 64).to_rgb(png), img)


def test_wrong_wire_values_are_named():
    with pytest.raises(ArrayMismatch, match=r"expected uint8 \[5, 7, 4\] \(pixel_format 'xrgb'\), got uint8 \[5, 7, 3\]"):
        PixelFormat("xrgb", H, W).to_rgb(RGB, "step observation")
    with pytest.raises(ArrayMismatch, match="got a float32 array"):
        PixelFormat("rgbx", H, W).to_rgb(wire_of("rgbx").astype(np.float32))
    with pytest.raises(ArrayMismatch, match="PNG is 7x5 but the observation space declares 8x5"):
        PixelFormat("png", H, 8).to_rgb(wire_of("png"))
    with pytest.raises(ArrayMismatch, match="expected a PNG file"):
        PixelFormat("png", H, W).to_rgb(np.zeros(40, np.uint8))
    with pytest.raises(ArrayMismatch, match="could not be decoded"):
        PixelFormat("png", H, W).to_rgb(wire_of("png")[:30])
    with pytest.raises(ArrayMismatch):
        check_wire(PixelFormat("bgrx", H, W), wire_of("rgb"))
    check_wire(PixelFormat("bgrx", H, W), wire_of("bgrx"))


def test_declarations_in_the_space_description():
    assert format_of(box(None)) is None and format_of(box("rgb")) is None
    assert format_of(box("xrgb")) == PixelFormat("xrgb", H, W)
    both = {"type": "Dict", "spaces": {"image": box("rgbx"), "value": "float [8]"}}
    assert leaf_formats(both) == {("image",): PixelFormat("rgbx", H, W)}
    assert leaf_formats({"type": "Tuple", "spaces": ["int 0 3", box("png")]}) == {(1,): PixelFormat("png", H, W)}
    assert leaf_formats("float [4]") == {}
    with pytest.raises(SpaceError, match="unknown pixel_format 'argb32'"):
        format_of(box("argb32"))
    with pytest.raises(SpaceError, match=r"belongs on a uint8 Box of shape \[H, W, 3\]"):
        format_of({"type": "Box", "shape": [5, 7, 4], "dtype": "uint8", "pixel_format": "rgbx"})
    with pytest.raises(SpaceError, match="'palette' must be a list"):
        format_of(box("palette", palette=[[1, 2]]))
    assert set(FORMATS) == {"rgb", "rgbx", "bgrx", "xrgb", "palette", "png"}


# ---------------------------------------------------------------- raw frames in messages


def test_raw_frames_in_a_message():
    raw: list[bytes] = []
    payload = encode_message("step_result", {"observation": RawFrame(b"\x89PNGxyz"), "reward": 1.0}, raw)
    header = json.loads(payload[4 : 4 + struct.unpack_from("<I", payload)[0]])
    assert header == {"type": "step_result", "observation": {"$raw": 0}, "reward": 1.0, "raw_frames": 1}
    assert raw == [b"\x89PNGxyz"]
    msg = decode_message(payload, {"step_result": ()})
    assert msg.raw_frames == 1 and msg["observation"] == {"$raw": 0}
    resolve_raw(msg, raw)
    assert msg["observation"].dtype == np.uint8 and bytes(msg["observation"]) == b"\x89PNGxyz"
    with pytest.raises(ValueError, match="RawFrame"):
        encode_message("step_result", {"observation": RawFrame(b"x")})
    bad = b'{"type":"step_result","raw_frames":"2"}'
    with pytest.raises(MalformedMessage, match="'raw_frames' must be an integer"):
        decode_message(struct.pack("<I", len(bad)) + bad, {"step_result": ()})
    stray = b'{"type":"step_result","observation":{"$raw":1},"raw_frames":1}'
    with pytest.raises(MalformedMessage, match="points outside the 1 raw frame"):
        resolve_raw(decode_message(struct.pack("<I", len(stray)) + stray, {"step_result": ()}), [b"a"])


# ---------------------------------------------------------------- the host connection, byte for byte

TOKEN = "t0k"


def hello_bytes(framing: str, obs_desc) -> tuple[HostConnection, GameConnection]:
    game = GameConnection(framing)
    host = HostConnection(TOKEN)
    host.receive_data(game.send_hello(0, TOKEN, obs_desc, "int 0 1"))
    hello = host.next_event()
    game.receive_data(host.send_welcome())
    game.next_event()
    return host, game, hello


def one_reply(host: HostConnection, game: GameConnection, request: bytes, reply, feed_by_byte=False):
    game.receive_data(request)
    game.next_event()
    data = reply(game)
    if feed_by_byte:  # split anywhere: the host must wait for the raw frame
        for i in range(len(data)):
            host.receive_data(data[i : i + 1])
            event = host.next_event()
            if i < len(data) - 1:
                assert event is None
        return event
    host.receive_data(data)
    return host.next_event()


@pytest.mark.parametrize("framing", ["binary", "comm"])
@pytest.mark.parametrize("name", ["rgbx", "bgrx", "xrgb", "png"])
def test_host_converts_observations_on_every_path(framing, name):
    host, game, hello = hello_bytes(framing, box(name))
    assert hello.observation_space.shape == (H, W, 3) and hello.pixels == {(): PixelFormat(name, H, W)}
    wire = wire_of(name)
    event = one_reply(host, game, host.send_reset(0), lambda g: g.send_reset_result(wire))
    assert isinstance(event, ResetResult)
    np.testing.assert_array_equal(event.observation, RGB)
    for k in range(3):  # the first step takes the general path, the next ones the cached header
        event = one_reply(host, game, host.send_step(1), lambda g: g.send_step_result(wire, 0.5, False, False))
        assert isinstance(event, StepResult) and event.reward == 0.5
        np.testing.assert_array_equal(event.observation, RGB)


def test_comm_framing_raw_screenshot_frame_after_the_step_result():
    """BizHawk: the step_result in base64, then comm.socketServerScreenShot()'s "<len> <PNG bytes>"."""
    host, game, _ = hello_bytes("comm", box("png"))
    png = bytes(wire_of("png"))
    game.receive_data(host.send_reset(None))
    game.next_event()
    header = b'{"type":"reset_result","observation":{"$raw":0},"info":{},"raw_frames":1}'
    text = base64.b64encode(struct.pack("<I", len(header)) + header)
    data = b"%d " % len(text) + text + b"%d " % len(png) + png
    assert game.send_reset_result(RawFrame(png)) == data  # the Python client sends exactly these bytes
    for i in range(len(data)):
        host.receive_data(data[i : i + 1])
        event = host.next_event()
        assert (event is None) == (i < len(data) - 1)
    np.testing.assert_array_equal(event.observation, RGB)
    # the Python client makes the same bytes from a RawFrame
    game.receive_data(host.send_step(0))
    game.next_event()
    sent = game.send_step_result(RawFrame(png), 1.0, True, False)
    assert sent.endswith(b"%d " % len(png) + png)
    event = one_reply(host, game, b"", lambda g: sent)
    assert isinstance(event, StepResult) and event.terminated
    np.testing.assert_array_equal(event.observation, RGB)


def test_dict_observation_with_an_image_leaf():
    desc = {"type": "Dict", "spaces": {"image": box("xrgb"), "value": {"type": "Box", "shape": [2], "dtype": "float32"}}}
    host, game, _ = hello_bytes("binary", desc)
    value = np.array([1.5, -2], np.float32)
    event = one_reply(host, game, host.send_reset(None), lambda g: g.send_reset_result({"image": wire_of("xrgb"), "value": value}))
    np.testing.assert_array_equal(event.observation["image"], RGB)
    np.testing.assert_array_equal(event.observation["value"], value)


def test_wrong_wire_observation_is_an_array_mismatch():
    host, game, _ = hello_bytes("binary", box("xrgb"))
    with pytest.raises(ArrayMismatch, match=r"step observation: expected uint8 \[5, 7, 4\]"):
        one_reply(host, game, host.send_step(0), lambda g: g.send_step_result(RGB, 0, False, False))


def test_render_frames_in_a_pixel_format():
    host, game, _ = hello_bytes("comm", box(None))
    for name in ("xrgb", "rgbx", "bgrx"):
        event = one_reply(host, game, host.send_render(),
                          lambda g: g._reply("render", "render_result", {"frame": wire_of(name), "pixel_format": name}))
        assert isinstance(event, RenderResult)
        np.testing.assert_array_equal(event.frame, RGB)
    event = one_reply(host, game, host.send_render(), lambda g: g._reply(
        "render", "render_result", {"frame": RawFrame(bytes(wire_of("png"))), "pixel_format": "png"}))
    np.testing.assert_array_equal(event.frame, RGB)
    with pytest.raises(ArrayMismatch, match="unknown pixel_format"):
        one_reply(host, game, host.send_render(),
                  lambda g: g._reply("render", "render_result", {"frame": wire_of("rgbx"), "pixel_format": "yuv"}))


def test_bad_pixel_format_in_the_hello_fails_the_handshake():
    game = GameConnection("binary")
    host = HostConnection(TOKEN)
    host.receive_data(game.send_hello(3, TOKEN, box("rgba5551"), "int 0 1"))
    with pytest.raises(SpaceError, match="instance 3: the hello declares an invalid space: .*unknown pixel_format"):
        host.next_event()


# ---------------------------------------------------------------- a screen received in place


def test_a_large_binary_frame_is_received_into_its_own_payload():
    from vecbridge.errors import TruncatedFrame
    from vecbridge.protocol.framing import BinaryFraming

    payload = bytes(RNG.integers(0, 256, 300_000, dtype=np.uint8))
    small = b"next frame"
    wire = struct.pack("<I", len(payload)) + payload + struct.pack("<I", len(small)) + small
    f = BinaryFraming()
    assert f.recv_buffer() is None  # nothing yet
    f.receive_data(wire[:3])
    assert f.recv_buffer() is None  # no length yet
    f.receive_data(wire[3:1000])
    pos = 1000
    while (target := f.recv_buffer()) is not None and pos < 4 + len(payload):
        n = min(len(target), 70_000)  # the kernel gives what it has
        target[:n] = wire[pos : pos + n]
        f.received_into(n)
        pos += n
        if pos < 4 + len(payload):
            assert f.next_payload() is None
    got = f.next_payload()
    assert got == payload and isinstance(got, bytearray)
    f.receive_data(wire[pos:])  # what follows takes the usual path
    assert f.next_payload() == small and f.next_payload() is None and f.recv_buffer() is None
    # bytes of a large frame may also come through receive_data, mixed with what follows it
    g = BinaryFraming()
    g.receive_data(wire[:5000])
    g.recv_buffer()
    g.receive_data(wire[5000:])
    assert g.next_payload() == payload and g.next_payload() == small
    h = BinaryFraming()
    h.receive_data(wire[:5000])
    h.recv_buffer()
    with pytest.raises(TruncatedFrame, match="4996 of its 300000 payload bytes"):
        h.receive_eof()


def test_a_screen_received_in_place_takes_the_cached_path():
    """The host caches a step_result's header by bytes; a payload received in place is a bytearray."""
    host, game, _ = hello_bytes("binary", box("xrgb", 240, 256))
    rgb = RNG.integers(0, 256, (240, 256, 3), dtype=np.uint8)
    wire = np.concatenate([np.zeros((240, 256, 1), np.uint8), rgb], -1)
    for _ in range(3):
        game.receive_data(host.send_step(1))
        game.next_event()
        data = game.send_step_result(wire, 1.0, False, False, {"lives": 3})
        host.receive_data(data[:100])
        pos = 100
        while (target := host.recv_buffer()) is not None and pos < len(data):
            n = min(len(target), 65536)
            target[:n] = data[pos : pos + n]
            host.received_into(n)
            pos += n
        event = host.next_event()
        assert event.info == {"lives": 3} and event.reward == 1.0
        np.testing.assert_array_equal(event.observation, rgb)
