"""Framings: how a byte stream is cut into message payloads (sans-I/O).

Three framings carry the same messages (see docs/protocol.md):

* ``binary``: a u32 little-endian payload length, then the payload. The default.
* ``comm``: BizHawk's ``comm.socketServer*`` framing: the ASCII decimal byte length,
  one space, then the payload, which is base64 text because BizHawk moves .NET
  strings, not bytes.
* ``websocket``: RFC 6455, vecbridge in the server role; one binary message is one payload
  (:mod:`vecbridge.protocol.websocket`).

Nothing here touches a socket: feed bytes in with :meth:`Framing.receive_data`,
take payloads out with :meth:`Framing.next_payload`, and write whatever
:meth:`Framing.encode` and :meth:`Framing.data_to_send` return.
"""

from __future__ import annotations

import base64
import binascii
import struct
from typing import Callable

from vecbridge.errors import MalformedFrame, TruncatedFrame
from vecbridge.protocol.framing_base import Framing
from vecbridge.protocol.limits import DEFAULT_MAX_FRAME, MAX_COMM_DIGITS
from vecbridge.protocol.websocket import WebSocketFraming, mask_frame, websocket_accept

__all__ = ["FRAMINGS", "Framing", "BinaryFraming", "CommFraming", "WebSocketFraming", "make_framing",
           "detect_framing", "mask_frame", "websocket_accept"]  # fmt: skip

FRAMINGS = ("binary", "comm", "websocket")

_U32 = struct.Struct("<I")


class BinaryFraming(Framing):
    """``u32 LE length | payload``."""

    name = "binary"
    #: a frame this large is received into a buffer of its own (recv_buffer)
    LARGE = 1 << 16

    def __init__(self, max_size: int = DEFAULT_MAX_FRAME) -> None:
        super().__init__(max_size)
        # The usual case: one read brings exactly one frame. It is kept as received and its
        # payload sliced out once, with no copy through the buffer.
        self._chunk: bytes | None = None
        # A large frame (a screen) being received straight into the payload handed out.
        self._large: bytearray | None = None
        self._large_have = 0

    def recv_buffer(self) -> memoryview | None:
        # A 240 KiB screen came in 64 KiB reads, each appended to the buffer, and was copied out
        # again (py-spy: a tenth of the host's time per step); read into its own payload, it is
        # copied once, by the kernel.
        if self._large is None:
            data = self._chunk if self._chunk is not None else self._buffer
            if len(data) < 4:
                return None
            (length,) = _U32.unpack_from(data, 0)
            if length < self.LARGE or len(data) >= 4 + length:
                return None
            self._check_size(length)
            self._large, self._large_have = bytearray(length), len(data) - 4
            self._large[: self._large_have] = memoryview(data)[4:]
            self._chunk, self._buffer = None, bytearray()
        return memoryview(self._large)[self._large_have :]

    def received_into(self, n: int) -> None:
        self._large_have += n

    def receive_data(self, data: bytes) -> None:
        if self._large is not None:  # the rest of a large frame first
            take = min(len(self._large) - self._large_have, len(data))
            self._large[self._large_have : self._large_have + take] = data[:take]
            self._large_have += take
            data = data[take:]
            if not data:
                return
        if self._chunk is not None:
            self._buffer += self._chunk
            self._chunk = None
        if self._buffer:
            self._buffer += data
        else:
            self._chunk = bytes(data)

    def receive_eof(self) -> None:
        self._flush_chunk()
        if self._large is not None:
            raise TruncatedFrame(
                f"binary framing: the stream ended inside a frame ({self._large_have} of its {len(self._large)} "
                f"payload bytes received)"
            )
        super().receive_eof()

    def _flush_chunk(self) -> None:
        if self._chunk is not None:
            self._buffer += self._chunk
            self._chunk = None

    def next_payload(self, raw: bool = False) -> bytes | None:
        large = self._large
        if large is not None:
            if self._large_have < len(large):
                return None
            self._large = None
            return large  # a bytearray: bytes-like, never touched again here
        chunk = self._chunk
        if chunk is not None:
            if len(chunk) >= 4:
                (length,) = _U32.unpack_from(chunk, 0)
                if length > self.max_size:
                    self._check_size(length)
                if len(chunk) == 4 + length:
                    self._chunk = None
                    return chunk[4:]
            self._flush_chunk()
        buf = self._buffer
        if len(buf) < 4:
            return None
        (length,) = _U32.unpack_from(buf, 0)
        if length > self.max_size:
            self._check_size(length)
        end = 4 + length
        if len(buf) < end:
            return None
        payload = bytes(buf[4:end])
        del buf[:end]
        return payload

    def encode(self, payload: bytes) -> bytes:
        return _U32.pack(len(payload)) + payload


class CommFraming(Framing):
    """BizHawk's ``"<decimal byte length> <payload>"``, with the payload in base64."""

    name = "comm"
    _MAX_DIGITS = MAX_COMM_DIGITS

    def next_payload(self, raw: bool = False) -> bytes | None:
        buf = self._buffer
        space = buf.find(b" ", 0, self._MAX_DIGITS + 1)
        if space < 0:
            if len(buf) > self._MAX_DIGITS or not bytes(buf).isdigit() and buf:
                raise MalformedFrame(
                    f"comm framing: expected an ASCII decimal length and a space, got {bytes(buf[:16])!r}"
                )
            return None
        digits = bytes(buf[:space])
        if not digits.isdigit():
            raise MalformedFrame(
                f"comm framing: expected an ASCII decimal length before the space, got {digits!r}"
            )
        length = int(digits)
        self._check_size(length)
        end = space + 1 + length
        if len(buf) < end:
            return None
        text = bytes(buf[space + 1 : end])
        del buf[:end]
        if raw:  # BizHawk's comm.socketServerScreenShot(): the bytes themselves
            return text
        try:
            return base64.b64decode(text, validate=True)
        except (binascii.Error, ValueError) as exc:
            raise MalformedFrame(f"comm framing: the payload is not valid base64 ({exc}): {text[:32]!r}") from None

    def encode(self, payload: bytes) -> bytes:
        text = base64.b64encode(payload)
        return b"%d " % len(text) + text

    def encode_raw(self, payload: bytes) -> bytes:
        return b"%d " % len(payload) + payload


_BY_NAME: dict[str, Callable[[int], Framing]] = {
    "binary": BinaryFraming,
    "comm": CommFraming,
    "websocket": WebSocketFraming,
}


def make_framing(name: str, max_size: int = DEFAULT_MAX_FRAME) -> Framing:
    try:
        return _BY_NAME[name](max_size)
    except KeyError:
        raise ValueError(f"unknown framing {name!r}; expected one of {', '.join(FRAMINGS)} or 'auto'") from None


def detect_framing(prefix: bytes) -> str | None:
    """Which framing a connection uses, from its first bytes; None until 4 bytes are in.

    The first frame is always a hello, shorter than 16 MiB: in ``binary`` its 4th byte
    (the top byte of the little-endian length) is 0, which no ASCII framing produces.
    """
    if len(prefix) < 4:
        return None
    if prefix[3] == 0:
        return "binary"
    if prefix[:4] == b"GET ":
        return "websocket"
    if prefix[:1].isdigit():
        return "comm"
    raise MalformedFrame(
        f"cannot tell the framing from the first bytes {bytes(prefix[:16])!r}: expected a u32 LE length "
        f"(binary), an ASCII length and a space (comm), or 'GET ' (websocket)"
    )
