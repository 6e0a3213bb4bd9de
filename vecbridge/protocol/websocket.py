"""The ``websocket`` framing (sans-I/O): RFC 6455 with vecbridge in the server role.

A browser page (the game) is the client: it sends an HTTP upgrade, then masked frames; one
binary message is one payload. :func:`mask_frame` makes client frames (tests, Python
WebSocket clients). Nothing here touches a socket.
"""

from __future__ import annotations

import base64
import hashlib
import struct

from vecbridge.errors import MalformedFrame, TruncatedFrame
from vecbridge.protocol.framing_base import Framing
from vecbridge.protocol.limits import DEFAULT_MAX_FRAME, MAX_WEBSOCKET_UPGRADE


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
