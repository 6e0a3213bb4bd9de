"""The base of every framing (sans-I/O): a buffer of received bytes and a queue of bytes to send.

The framings themselves: :mod:`vecbridge.protocol.framing` (binary, comm, and the registry
``make_framing``/``detect_framing``) and :mod:`vecbridge.protocol.websocket` (RFC 6455).
"""

from __future__ import annotations

from vecbridge.errors import FrameTooLarge, TruncatedFrame
from vecbridge.protocol.limits import DEFAULT_MAX_FRAME


SIZE_HINT = "raise max_frame_size if the game really sends frames this large"


class Framing:
    """Base class: a buffer of received bytes and a queue of bytes to send."""

    name = ""

    def __init__(self, max_size: int = DEFAULT_MAX_FRAME) -> None:
        self.max_size = max_size
        self.size_hint = SIZE_HINT  # what to do about a frame above max_size
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
                f"{self.max_size} ({self.size_hint})"
            )
