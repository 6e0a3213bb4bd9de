"""Framings: how a byte stream is cut into message payloads (sans-I/O).

Three framings carry the same messages (see docs/protocol.md):

* ``binary``: a u32 little-endian payload length, then the payload. The default.
* ``comm``: BizHawk's ``comm.socketServer*`` framing: the ASCII decimal byte length,
  one space, then the payload, which is base64 text because BizHawk moves .NET
  strings, not bytes.
* ``websocket``: RFC 6455, vecbridge in the server role; one binary message is one payload.

Nothing here touches a socket: feed bytes in with :meth:`Framing.receive_data`,
take payloads out with :meth:`Framing.next_payload`, and write whatever
:meth:`Framing.encode` and :meth:`Framing.data_to_send` return.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import struct
from typing import Callable

from vecbridge.errors import FrameTooLarge, MalformedFrame, TruncatedFrame
from vecbridge.protocol.limits import DEFAULT_MAX_FRAME, MAX_COMM_DIGITS, MAX_WEBSOCKET_UPGRADE

FRAMINGS = ("binary", "comm", "websocket")

_U32 = struct.Struct("<I")


class Framing:
    """Base class: a buffer of received bytes and a queue of bytes to send."""

    name = ""

    def __init__(self, max_size: int = DEFAULT_MAX_FRAME) -> None:
        self.max_size = max_size
        self._buffer = bytearray()
        self._outgoing = bytearray()
        self.closed = False  # the peer ended the stream cleanly (websocket close)

    def receive_data(self, data: bytes) -> None:
        self._buffer += data

    def receive_eof(self) -> None:
        """The peer closed its side; raises :class:`TruncatedFrame` if a frame was cut short."""
        if self._buffer:
            raise TruncatedFrame(
                f"{self.name} framing: the stream ended inside a frame "
                f"({len(self._buffer)} byte(s) of an unfinished frame received)"
            )

    def next_payload(self, raw: bool = False) -> bytes | None:
        """The next complete payload, or None until more bytes arrive.

        ``raw``: the frame is a raw frame after a message (docs/protocol.md, "Raw frames");
        only the comm framing treats it differently (its payload is not base64).
        """
        raise NotImplementedError

    def encode(self, payload: bytes) -> bytes:
        """The bytes that carry ``payload`` to the peer."""
        raise NotImplementedError

    def encode_raw(self, payload: bytes) -> bytes:
        """The bytes that carry ``payload`` as a raw frame."""
        return self.encode(payload)

    def has_data_to_send(self) -> bool:
        return bool(self._outgoing)

    def recv_buffer(self) -> memoryview | None:
        """Where to receive the rest of the current frame directly (``socket.recv_into``), or None."""
        return None

    def received_into(self, n: int) -> None:
        """``n`` bytes were received into :meth:`recv_buffer`."""
        raise NotImplementedError

    def data_to_send(self) -> bytes:
        """Bytes the framing itself must send (handshake answers, pongs); empty if none."""
        out = bytes(self._outgoing)
        self._outgoing.clear()
        return out

    def _check_size(self, length: int) -> None:
        if length > self.max_size:
            raise FrameTooLarge(
                f"{self.name} framing: a frame announced {length} bytes, above the maximum of "
                f"{self.max_size} (raise max_frame_size if the game really sends frames this large)"
            )


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


_WS_GUID = b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11"
_OP_CONT, _OP_TEXT, _OP_BINARY, _OP_CLOSE, _OP_PING, _OP_PONG = 0, 1, 2, 8, 9, 10


def websocket_accept(key: bytes) -> bytes:
    """The ``Sec-WebSocket-Accept`` value for a client's ``Sec-WebSocket-Key``."""
    return base64.b64encode(hashlib.sha1(key.strip() + _WS_GUID).digest())


class WebSocketFraming(Framing):
    """RFC 6455, server side: the game (a browser page) is the client."""

    name = "websocket"

    def __init__(self, max_size: int = DEFAULT_MAX_FRAME) -> None:
        super().__init__(max_size)
        self._open = False
        self._fragments: bytearray | None = None

    def next_payload(self, raw: bool = False) -> bytes | None:
        if not self._open:
            if not self._handshake():
                return None
        while not self.closed:
            frame = self._parse_frame()
            if frame is None:
                return None
            fin, opcode, data = frame
            if opcode == _OP_PING:
                self._outgoing += self._frame(_OP_PONG, data)
            elif opcode == _OP_PONG:
                pass
            elif opcode == _OP_CLOSE:
                self._outgoing += self._frame(_OP_CLOSE, data[:2])
                self.closed = True
            elif opcode == _OP_TEXT:
                raise MalformedFrame(
                    "websocket framing: got a text message; vecbridge messages travel as binary "
                    "messages (send an ArrayBuffer or Uint8Array, not a string)"
                )
            elif opcode == _OP_BINARY:
                if self._fragments is not None:
                    raise MalformedFrame("websocket framing: a new binary message began inside a fragmented one")
                if fin:
                    return data
                self._fragments = bytearray(data)
            elif opcode == _OP_CONT:
                if self._fragments is None:
                    raise MalformedFrame("websocket framing: a continuation frame with no message to continue")
                self._fragments += data
                self._check_size(len(self._fragments))
                if fin:
                    payload, self._fragments = bytes(self._fragments), None
                    return payload
            else:
                raise MalformedFrame(f"websocket framing: unknown opcode {opcode:#x}")
        return None

    def encode(self, payload: bytes) -> bytes:
        return self._frame(_OP_BINARY, payload)

    def receive_data(self, data: bytes) -> None:
        if not self.closed:  # after a close frame nothing more is read (RFC 6455 5.5.1); nor kept
            self._buffer += data

    def receive_eof(self) -> None:
        if self.closed:
            return
        if self._fragments is not None:
            raise TruncatedFrame(
                f"websocket framing: the stream ended inside a fragmented message ({len(self._fragments)} byte(s) received)"
            )
        if not self._open and self._buffer:
            raise TruncatedFrame("websocket framing: the stream ended inside the HTTP upgrade request")
        super().receive_eof()

    @staticmethod
    def _frame(opcode: int, payload: bytes) -> bytes:
        n = len(payload)
        head = bytes([0x80 | opcode])
        if n < 126:
            head += bytes([n])
        elif n < 1 << 16:
            head += bytes([126]) + struct.pack(">H", n)
        else:
            head += bytes([127]) + struct.pack(">Q", n)
        return head + payload

    def _handshake(self) -> bool:
        end = self._buffer.find(b"\r\n\r\n")
        if end < 0:
            if len(self._buffer) > MAX_WEBSOCKET_UPGRADE:
                raise MalformedFrame(
                    f"websocket framing: the HTTP upgrade request is longer than {MAX_WEBSOCKET_UPGRADE // 1024} KiB"
                )
            return False
        request = bytes(self._buffer[:end]).decode("latin-1")
        del self._buffer[: end + 4]
        lines = request.split("\r\n")
        if not lines[0].startswith("GET ") or not lines[0].endswith("HTTP/1.1"):
            raise MalformedFrame(f"websocket framing: expected 'GET <path> HTTP/1.1', got {lines[0]!r}")
        headers = {}
        for line in lines[1:]:
            name, sep, value = line.partition(":")
            if not sep:
                raise MalformedFrame(f"websocket framing: bad header line {line!r}")
            headers[name.strip().lower()] = value.strip()
        if headers.get("upgrade", "").lower() != "websocket" or "upgrade" not in headers.get("connection", "").lower():
            raise MalformedFrame("websocket framing: the request lacks 'Upgrade: websocket' / 'Connection: Upgrade'")
        if headers.get("sec-websocket-version") != "13":
            raise MalformedFrame(
                f"websocket framing: expected Sec-WebSocket-Version 13, got {headers.get('sec-websocket-version')!r}"
            )
        key = headers.get("sec-websocket-key")
        if not key:
            raise MalformedFrame("websocket framing: the request has no Sec-WebSocket-Key")
        self._outgoing += (
            b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
            b"Sec-WebSocket-Accept: " + websocket_accept(key.encode()) + b"\r\n\r\n"
        )
        self._open = True
        return True

    def _parse_frame(self) -> tuple[bool, int, bytes] | None:
        buf = self._buffer
        if len(buf) < 2:
            return None
        b0, b1 = buf[0], buf[1]
        if b0 & 0x70:
            raise MalformedFrame("websocket framing: reserved bits set (no extension was negotiated)")
        if not b1 & 0x80:
            raise MalformedFrame("websocket framing: a client frame without a mask (RFC 6455 5.1)")
        length, pos = b1 & 0x7F, 2
        if length == 126:
            if len(buf) < 4:
                return None
            (length,) = struct.unpack_from(">H", buf, 2)
            pos = 4
        elif length == 127:
            if len(buf) < 10:
                return None
            (length,) = struct.unpack_from(">Q", buf, 2)
            pos = 10
        self._check_size(length)
        if len(buf) < pos + 4 + length:
            return None
        mask = bytes(buf[pos : pos + 4])
        data = _unmask(bytes(buf[pos + 4 : pos + 4 + length]), mask)
        del buf[: pos + 4 + length]
        return bool(b0 & 0x80), b0 & 0x0F, data


def _unmask(data: bytes, mask: bytes) -> bytes:
    if not data:
        return data
    # XOR as one big integer: far faster in CPython than a per-byte loop.
    n = len(data)
    key = (mask * (n // 4 + 1))[:n]
    return (int.from_bytes(data, "little") ^ int.from_bytes(key, "little")).to_bytes(n, "little")


def mask_frame(opcode: int, payload: bytes, mask: bytes, fin: bool = True) -> bytes:
    """A client-side (masked) WebSocket frame; for tests and Python WebSocket clients."""
    n = len(payload)
    head = bytes([(0x80 if fin else 0) | opcode])
    if n < 126:
        head += bytes([0x80 | n])
    elif n < 1 << 16:
        head += bytes([0x80 | 126]) + struct.pack(">H", n)
    else:
        head += bytes([0x80 | 127]) + struct.pack(">Q", n)
    return head + mask + _unmask(payload, mask)


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
