"""What both ends of a connection share (sans-I/O): the framing, detected from the peer's
first bytes on the host, and the queue of bytes to send.
"""

from __future__ import annotations

from typing import Any

from vecbridge.errors import (
    StateError,
    TruncatedFrame,
)
from vecbridge.protocol.framing import Framing, detect_framing, make_framing
from vecbridge.protocol.limits import DEFAULT_MAX_FRAME
from vecbridge.protocol.messages import (
    encode_message,
)


class Endpoint:
    """What both ends share: the framing (detected from the peer's first bytes on the host) and the send queue."""

    incoming: dict[str, tuple[str, ...]] = {}

    def __init__(
        self, framing: str = "auto", max_frame_size: int = DEFAULT_MAX_FRAME, first_frame_size: int | None = None
    ) -> None:
        self.max_frame_size = max_frame_size
        # the limit of the frames read now (the host reads a small hello first; see limits.py)
        self.frame_limit = max_frame_size if first_frame_size is None else min(first_frame_size, max_frame_size)
        self.framing: Framing | None = None if framing == "auto" else self._make_framing(framing)
        self._prefix = b""

    def _make_framing(self, name: str) -> Framing:
        framing = make_framing(name, self.frame_limit)
        if self.frame_limit < self.max_frame_size:  # the first frame's own limit
            framing.size_hint = (f"the first frame, the hello, is at most {self.frame_limit} bytes whatever "
                                 "max_frame_size is: docs/protocol.md, section 2")  # fmt: skip
        return framing

    @property
    def framing_name(self) -> str | None:
        return self.framing.name if self.framing else None

    def receive_data(self, data: bytes) -> None:
        if self.framing is None:
            self._prefix += data
            name = detect_framing(self._prefix)
            if name is None:
                return
            self.framing = self._make_framing(name)
            data, self._prefix = self._prefix, b""
        self.framing.receive_data(data)

    def receive_eof(self) -> None:
        if self.framing is not None:
            self.framing.receive_eof()
        elif self._prefix:
            raise TruncatedFrame(
                f"the stream ended after {len(self._prefix)} byte(s), before a whole frame header: {self._prefix!r}"
            )

    def data_to_send(self) -> bytes:
        return self.framing.data_to_send() if self.framing else b""

    def recv_buffer(self) -> memoryview | None:
        """Where the rest of a large frame may be received directly (``socket.recv_into``), or None."""
        return self.framing.recv_buffer() if self.framing is not None else None

    def received_into(self, n: int) -> None:
        self.framing.received_into(n)

    def has_data_to_send(self) -> bool:
        return self.framing is not None and bool(self.framing._outgoing)

    def _next_payload(self) -> bytes | None:
        return None if self.framing is None else self.framing.next_payload()

    def _frame(self, type_: str, fields: dict[str, Any] | None = None) -> bytes:
        if self.framing is None:
            raise StateError("cannot send before the peer's first bytes chose the framing")
        raw: list[bytes] = []
        data = self.framing.data_to_send() + self.framing.encode(encode_message(type_, fields, raw))
        for frame in raw:  # raw frames follow their message (docs/protocol.md, "Raw frames")
            data += self.framing.encode_raw(frame)
        return data
