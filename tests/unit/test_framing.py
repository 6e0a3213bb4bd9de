"""Framings, byte for byte (docs/protocol.md section 2)."""

from __future__ import annotations

import base64
import struct

import pytest

from vecbridge.errors import FrameTooLarge, FramingError, MalformedFrame, ProtocolError, TruncatedFrame
from vecbridge.protocol.framing import (
    FRAMINGS,
    BinaryFraming,
    CommFraming,
    WebSocketFraming,
    detect_framing,
    make_framing,
    mask_frame,
    websocket_accept,
)

RFC_KEY = "dGhlIHNhbXBsZSBub25jZQ=="
RFC_ACCEPT = b"s3pPLMBiTxaQ9kYGzzhZRbK+xOo="
HANDSHAKE = (
    b"GET /chat HTTP/1.1\r\n"
    b"Host: 127.0.0.1:5000\r\n"
    b"Upgrade: websocket\r\n"
    b"Connection: Upgrade\r\n"
    b"Sec-WebSocket-Key: " + RFC_KEY.encode() + b"\r\n"
    b"Sec-WebSocket-Version: 13\r\n"
    b"\r\n"
)
HANDSHAKE_ANSWER = (
    b"HTTP/1.1 101 Switching Protocols\r\n"
    b"Upgrade: websocket\r\n"
    b"Connection: Upgrade\r\n"
    b"Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n"
    b"\r\n"
)
MASK = b"\x37\xfa\x21\x3d"  # the mask of RFC 6455's examples (section 5.7)


def drain(framing) -> list[bytes]:
    out = []
    while (p := framing.next_payload()) is not None:
        out.append(p)
    return out


def feed_bytewise(framing, data: bytes) -> list[bytes]:
    out = []
    for i in range(len(data)):
        framing.receive_data(data[i : i + 1])
        out.extend(drain(framing))
    return out


def open_ws(max_size: int | None = None) -> WebSocketFraming:
    ws = WebSocketFraming() if max_size is None else WebSocketFraming(max_size)
    ws.receive_data(HANDSHAKE)
    assert ws.next_payload() is None
    assert ws.data_to_send() == HANDSHAKE_ANSWER
    return ws


# ---------------------------------------------------------------- factory


def test_framings_tuple_and_make_framing():
    assert FRAMINGS == ("binary", "comm", "websocket")
    assert isinstance(make_framing("binary"), BinaryFraming)
    assert isinstance(make_framing("comm"), CommFraming)
    assert isinstance(make_framing("websocket"), WebSocketFraming)
    assert make_framing("comm", max_size=10).max_size == 10
    with pytest.raises(ValueError, match="unknown framing"):
        make_framing("xml")


# ---------------------------------------------------------------- binary


@pytest.mark.parametrize(
    ("payload", "frame"),
    [
        (b"hello", b"\x05\x00\x00\x00hello"),
        (b"", b"\x00\x00\x00\x00"),
        (b"\x00\xff", b"\x02\x00\x00\x00\x00\xff"),
        (b"x" * 300, b"\x2c\x01\x00\x00" + b"x" * 300),
        (b"y" * 65536, b"\x00\x00\x01\x00" + b"y" * 65536),
    ],
    ids=["hello", "empty", "binary", "300", "65536"],
)
def test_binary_encode_exact(payload, frame):
    assert BinaryFraming().encode(payload) == frame


def test_binary_decode_whole_split_and_coalesced():
    f = BinaryFraming()
    assert f.next_payload() is None
    f.receive_data(b"\x05\x00\x00\x00hello")
    assert f.next_payload() == b"hello"
    assert f.next_payload() is None

    stream = b"\x05\x00\x00\x00hello" + b"\x00\x00\x00\x00" + b"\x03\x00\x00\x00abc"
    assert feed_bytewise(BinaryFraming(), stream) == [b"hello", b"", b"abc"]

    f = BinaryFraming()
    f.receive_data(stream + b"\x02\x00")  # three whole frames and the start of a fourth
    assert drain(f) == [b"hello", b"", b"abc"]
    f.receive_data(b"\x00\x00z")
    assert f.next_payload() is None
    f.receive_data(b"!")
    assert f.next_payload() == b"z!"


def test_binary_payload_is_bytes():
    f = BinaryFraming()
    f.receive_data(bytearray(b"\x01\x00\x00\x00Q"))
    p = f.next_payload()
    assert type(p) is bytes and p == b"Q"


def test_binary_eof_between_frames_is_clean():
    f = BinaryFraming()
    f.receive_data(b"\x01\x00\x00\x00a")
    assert f.next_payload() == b"a"
    f.receive_eof()  # nothing pending: no error


@pytest.mark.parametrize("partial", [b"\x05", b"\x05\x00\x00", b"\x05\x00\x00\x00", b"\x05\x00\x00\x00hell"])
def test_binary_truncated_at_eof(partial):
    f = BinaryFraming()
    f.receive_data(partial)
    assert f.next_payload() is None
    with pytest.raises(TruncatedFrame):
        f.receive_eof()


def test_binary_too_large():
    f = BinaryFraming(max_size=8)
    f.receive_data(b"\x08\x00\x00\x0012345678")
    assert f.next_payload() == b"12345678"  # exactly the maximum is fine
    f.receive_data(b"\x09\x00\x00\x00")  # raised on the length alone, before the payload arrives
    with pytest.raises(FrameTooLarge, match="9"):
        f.next_payload()


def test_binary_default_max_is_64_mib():
    f = BinaryFraming()
    assert f.max_size == 64 * 1024 * 1024
    f.receive_data(struct.pack("<I", 64 * 1024 * 1024 + 1))
    with pytest.raises(FrameTooLarge):
        f.next_payload()


# ---------------------------------------------------------------- comm


@pytest.mark.parametrize(
    ("payload", "frame"),
    [
        (b"hi", b"4 aGk="),
        (b"", b"0 "),
        (b"hello", b"8 aGVsbG8="),
        (b"\x00\xff\xfe", b"4 AP/+"),
        (b"x" * 30, b"40 " + b"eHh4" * 10),
    ],
    ids=["hi", "empty", "hello", "binary", "30"],
)
def test_comm_encode_exact(payload, frame):
    assert CommFraming().encode(payload) == frame


def test_comm_decode_whole_split_and_coalesced():
    f = CommFraming()
    f.receive_data(b"4 aGk=")
    assert f.next_payload() == b"hi"
    assert f.next_payload() is None

    stream = b"4 aGk=" + b"0 " + b"8 aGVsbG8=" + b"4 AP/+"
    assert feed_bytewise(CommFraming(), stream) == [b"hi", b"", b"hello", b"\x00\xff\xfe"]

    f = CommFraming()
    f.receive_data(stream + b"4 aG")
    assert drain(f) == [b"hi", b"", b"hello", b"\x00\xff\xfe"]
    f.receive_data(b"k=")
    assert f.next_payload() == b"hi"


def test_comm_length_counts_bytes_of_base64_text():
    payload = bytes(range(256)) * 4
    frame = CommFraming().encode(payload)
    text = base64.b64encode(payload)
    assert frame == str(len(text)).encode() + b" " + text
    f = CommFraming()
    f.receive_data(frame)
    assert f.next_payload() == payload


def test_comm_ten_digit_length_is_allowed():
    f = CommFraming(max_size=16)
    f.receive_data(b"0000000004 aGk=")
    assert f.next_payload() == b"hi"


@pytest.mark.parametrize(
    "data",
    [
        b"x aGk=",  # not a digit
        b"4x",  # a non-digit before any space
        b" aGk=",  # empty length
        b"+4 aGk=",  # sign
        b"-4 aGk=",
        b"4\taGk=",  # tab, not space
        b"12345678901 ",  # 11 digits
        b"12345678901",  # 11 digits, no space yet
        b"4.0 aGk=",
    ],
)
def test_comm_bad_length(data):
    f = CommFraming()
    f.receive_data(data)
    with pytest.raises(MalformedFrame):
        f.next_payload()


@pytest.mark.parametrize("data", [b"4 aGk!", b"3 aGk", b"4 a\nk=", b"4 ====", b"8 aGk=aGk="])
def test_comm_bad_base64(data):
    f = CommFraming()
    f.receive_data(data)
    with pytest.raises(MalformedFrame, match="base64"):
        f.next_payload()


def test_comm_incomplete_digits_wait():
    f = CommFraming()
    f.receive_data(b"12")
    assert f.next_payload() is None
    f.receive_data(b"")
    assert f.next_payload() is None


@pytest.mark.parametrize("partial", [b"4", b"4 ", b"4 aGk"])
def test_comm_truncated_at_eof(partial):
    f = CommFraming()
    f.receive_data(partial)
    assert f.next_payload() is None
    with pytest.raises(TruncatedFrame):
        f.receive_eof()


def test_comm_too_large():
    f = CommFraming(max_size=8)
    f.receive_data(b"8 aGVsbG8=")
    assert f.next_payload() == b"hello"
    f.receive_data(b"12 ")
    with pytest.raises(FrameTooLarge):
        f.next_payload()


# ---------------------------------------------------------------- websocket: handshake


def test_websocket_accept_rfc_example():
    assert websocket_accept(RFC_KEY.encode()) == RFC_ACCEPT
    assert websocket_accept(b"  " + RFC_KEY.encode() + b" ") == RFC_ACCEPT


def test_websocket_handshake_answer_exact():
    ws = WebSocketFraming()
    ws.receive_data(HANDSHAKE)
    assert ws.next_payload() is None
    assert ws.data_to_send() == HANDSHAKE_ANSWER
    assert ws.data_to_send() == b""  # handed out once


def test_websocket_handshake_bytewise_then_frame():
    ws = WebSocketFraming()
    out = feed_bytewise(ws, HANDSHAKE + mask_frame(0x2, b"hello", MASK))
    assert out == [b"hello"]
    assert ws.data_to_send() == HANDSHAKE_ANSWER


def test_websocket_handshake_and_frames_coalesced():
    ws = WebSocketFraming()
    ws.receive_data(HANDSHAKE + mask_frame(0x2, b"one", MASK) + mask_frame(0x2, b"two", b"\x00\x00\x00\x00"))
    assert drain(ws) == [b"one", b"two"]
    assert ws.data_to_send() == HANDSHAKE_ANSWER


def test_websocket_handshake_header_case_and_connection_list():
    request = (
        b"GET / HTTP/1.1\r\n"
        b"host: localhost\r\n"
        b"upgrade: WebSocket\r\n"
        b"connection: keep-alive, Upgrade\r\n"
        b"sec-websocket-key: " + RFC_KEY.encode() + b"\r\n"
        b"sec-websocket-version: 13\r\n"
        b"\r\n"
    )
    ws = WebSocketFraming()
    ws.receive_data(request)
    assert ws.next_payload() is None
    assert ws.data_to_send() == HANDSHAKE_ANSWER


def _request(*lines: bytes) -> bytes:
    return b"\r\n".join(lines) + b"\r\n\r\n"


@pytest.mark.parametrize(
    "request_bytes",
    [
        _request(b"POST / HTTP/1.1", b"Upgrade: websocket", b"Connection: Upgrade",
                 b"Sec-WebSocket-Key: " + RFC_KEY.encode(), b"Sec-WebSocket-Version: 13"),
        _request(b"GET / HTTP/1.0", b"Upgrade: websocket", b"Connection: Upgrade",
                 b"Sec-WebSocket-Key: " + RFC_KEY.encode(), b"Sec-WebSocket-Version: 13"),
        # no Upgrade header
        _request(b"GET / HTTP/1.1", b"Connection: Upgrade",
                 b"Sec-WebSocket-Key: " + RFC_KEY.encode(), b"Sec-WebSocket-Version: 13"),
        # no Sec-WebSocket-Version
        _request(b"GET / HTTP/1.1", b"Upgrade: websocket", b"Connection: Upgrade",
                 b"Sec-WebSocket-Key: " + RFC_KEY.encode()),
        # version 8
        _request(b"GET / HTTP/1.1", b"Upgrade: websocket", b"Connection: Upgrade",
                 b"Sec-WebSocket-Key: " + RFC_KEY.encode(), b"Sec-WebSocket-Version: 8"),
        # no key
        _request(b"GET / HTTP/1.1", b"Upgrade: websocket", b"Connection: Upgrade", b"Sec-WebSocket-Version: 13"),
        # a header line without a colon
        _request(b"GET / HTTP/1.1", b"Upgrade websocket", b"Connection: Upgrade",
                 b"Sec-WebSocket-Key: " + RFC_KEY.encode(), b"Sec-WebSocket-Version: 13"),
    ],
    ids=["post", "http-1.0", "no-upgrade", "no-version", "version-8", "no-key", "no-colon"],
)  # fmt: skip
def test_websocket_bad_handshake(request_bytes):
    ws = WebSocketFraming()
    ws.receive_data(request_bytes)
    with pytest.raises(MalformedFrame):
        ws.next_payload()
    assert ws.data_to_send() == b""  # no 101 for a refused upgrade


def test_websocket_handshake_too_long():
    ws = WebSocketFraming()
    ws.receive_data(b"GET / HTTP/1.1\r\nX-Pad: " + b"a" * (17 * 1024))
    with pytest.raises(MalformedFrame, match="16 KiB"):
        ws.next_payload()


# ---------------------------------------------------------------- websocket: server frames


@pytest.mark.parametrize(
    ("payload", "frame"),
    [
        (b"Hello", b"\x82\x05Hello"),
        (b"", b"\x82\x00"),
        (b"a" * 125, b"\x82\x7d" + b"a" * 125),
        (b"b" * 126, b"\x82\x7e\x00\x7e" + b"b" * 126),
        (b"c" * 256, b"\x82\x7e\x01\x00" + b"c" * 256),  # RFC 6455 5.7: 256 bytes -> 0x7E 0x0100
        (b"d" * 65535, b"\x82\x7e\xff\xff" + b"d" * 65535),
        (b"e" * 65536, b"\x82\x7f\x00\x00\x00\x00\x00\x01\x00\x00" + b"e" * 65536),
    ],
    ids=["5", "0", "125", "126", "256", "65535", "65536"],
)
def test_websocket_encode_exact(payload, frame):
    assert WebSocketFraming().encode(payload) == frame


# ---------------------------------------------------------------- websocket: client frames


def test_mask_frame_rfc_example():
    # RFC 6455 5.7: a single-frame masked text message containing "Hello"
    assert mask_frame(0x1, b"Hello", MASK) == b"\x81\x85\x37\xfa\x21\x3d\x7f\x9f\x4d\x51\x58"


def test_mask_frame_lengths_and_fin():
    assert mask_frame(0x2, b"", MASK) == b"\x82\x80" + MASK
    assert mask_frame(0x2, b"ab", b"\x00\x00\x00\x00", fin=False) == b"\x02\x82\x00\x00\x00\x00ab"
    assert mask_frame(0x0, b"ab", b"\xff\xff\xff\xff") == b"\x80\x82\xff\xff\xff\xff\x9e\x9d"
    f126 = mask_frame(0x2, b"\x00" * 126, MASK)
    assert f126[:8] == b"\x82\xfe\x00\x7e" + MASK
    assert f126[8:] == MASK * 31 + MASK[:2]  # zeros XOR mask = the mask, repeated
    f64k = mask_frame(0x2, b"\x00" * 65536, MASK)
    assert f64k[:14] == b"\x82\xff\x00\x00\x00\x00\x00\x01\x00\x00" + MASK
    assert len(f64k) == 14 + 65536


@pytest.mark.parametrize("n", [0, 1, 3, 4, 5, 125, 126, 127, 1000, 65535, 65536, 70001])
def test_websocket_masked_round_trip(n):
    payload = bytes((i * 7 + 3) % 256 for i in range(n))
    ws = open_ws()
    ws.receive_data(mask_frame(0x2, payload, b"\xa1\xb2\xc3\xd4"))
    assert ws.next_payload() == payload
    assert ws.next_payload() is None


def test_websocket_frames_bytewise_and_coalesced():
    frames = [b"first", b"", b"x" * 200, b"last"]
    stream = b"".join(mask_frame(0x2, p, MASK) for p in frames)
    ws = open_ws()
    assert feed_bytewise(ws, stream) == frames
    ws = open_ws()
    ws.receive_data(stream)
    assert drain(ws) == frames


def test_websocket_fragmented_message():
    ws = open_ws()
    stream = (
        mask_frame(0x2, b"hel", MASK, fin=False)
        + mask_frame(0x0, b"lo ", b"\x01\x02\x03\x04", fin=False)
        + mask_frame(0x0, b"world", b"\x05\x06\x07\x08", fin=True)
    )
    assert feed_bytewise(ws, stream) == [b"hello world"]
    ws.receive_data(mask_frame(0x2, b"next", MASK))
    assert ws.next_payload() == b"next"


def test_websocket_ping_pong():
    ws = open_ws()
    ws.receive_data(mask_frame(0x9, b"Hello", MASK))
    assert ws.next_payload() is None
    assert ws.data_to_send() == b"\x8a\x05Hello"  # RFC 6455 5.7: unmasked pong "Hello"
    ws.receive_data(mask_frame(0x9, b"", MASK))
    assert ws.next_payload() is None
    assert ws.data_to_send() == b"\x8a\x00"


def test_websocket_ping_inside_fragmented_message_and_pong_ignored():
    ws = open_ws()
    ws.receive_data(
        mask_frame(0x2, b"ab", MASK, fin=False)
        + mask_frame(0x9, b"p", MASK)
        + mask_frame(0xA, b"unsolicited pong", MASK)
        + mask_frame(0x0, b"cd", MASK)
    )
    assert ws.next_payload() == b"abcd"
    assert ws.data_to_send() == b"\x8a\x01p"


def test_websocket_close_echo():
    ws = open_ws()
    ws.receive_data(mask_frame(0x8, b"\x03\xe8bye", MASK))  # 1000, reason "bye"
    assert ws.next_payload() is None
    assert ws.closed
    assert ws.data_to_send() == b"\x88\x02\x03\xe8"  # echoes the status code
    ws.receive_eof()  # a clean close: no error

    ws = open_ws()
    ws.receive_data(mask_frame(0x8, b"", MASK))
    assert ws.next_payload() is None
    assert ws.closed and ws.data_to_send() == b"\x88\x00"


def test_websocket_nothing_after_close():
    ws = open_ws()
    ws.receive_data(mask_frame(0x8, b"\x03\xe8", MASK) + mask_frame(0x2, b"late", MASK))
    assert ws.next_payload() is None
    assert ws.next_payload() is None


def test_websocket_text_message_is_an_error():
    ws = open_ws()
    ws.receive_data(mask_frame(0x1, b'{"type":"hello"}', MASK))
    with pytest.raises(MalformedFrame, match="text"):
        ws.next_payload()


def test_websocket_unmasked_client_frame():
    ws = open_ws()
    ws.receive_data(b"\x82\x05hello")
    with pytest.raises(MalformedFrame, match="mask"):
        ws.next_payload()


@pytest.mark.parametrize("rsv", [0x40, 0x20, 0x10])
def test_websocket_reserved_bits(rsv):
    frame = bytearray(mask_frame(0x2, b"hello", MASK))
    frame[0] |= rsv
    ws = open_ws()
    ws.receive_data(bytes(frame))
    with pytest.raises(MalformedFrame, match="reserved"):
        ws.next_payload()


@pytest.mark.parametrize("opcode", [0x3, 0x7, 0xB, 0xF])
def test_websocket_unknown_opcode(opcode):
    ws = open_ws()
    ws.receive_data(mask_frame(opcode, b"x", MASK))
    with pytest.raises(MalformedFrame, match="opcode"):
        ws.next_payload()


def test_websocket_continuation_without_start():
    ws = open_ws()
    ws.receive_data(mask_frame(0x0, b"orphan", MASK))
    with pytest.raises(MalformedFrame, match="continuation"):
        ws.next_payload()


def test_websocket_new_message_inside_fragmented_one():
    ws = open_ws()
    ws.receive_data(mask_frame(0x2, b"a", MASK, fin=False) + mask_frame(0x2, b"b", MASK))
    with pytest.raises(MalformedFrame):
        ws.next_payload()


def test_websocket_too_large_single_frame():
    ws = open_ws(max_size=100)
    ws.receive_data(mask_frame(0x2, b"z" * 100, MASK))
    assert ws.next_payload() == b"z" * 100
    ws.receive_data(b"\x82\xfe\x00\x65")  # announces 101 bytes; the length alone is enough
    with pytest.raises(FrameTooLarge):
        ws.next_payload()


def test_websocket_too_large_64bit_length():
    ws = open_ws(max_size=1 << 20)
    ws.receive_data(b"\x82\xff" + struct.pack(">Q", 1 << 40))
    with pytest.raises(FrameTooLarge):
        ws.next_payload()


def test_websocket_too_large_fragmented():
    ws = open_ws(max_size=10)
    ws.receive_data(mask_frame(0x2, b"123456", MASK, fin=False) + mask_frame(0x0, b"78901", MASK))
    with pytest.raises(FrameTooLarge):
        ws.next_payload()


@pytest.mark.parametrize(
    "partial",
    [b"\x82", b"\x82\x85", b"\x82\x85\x37\xfa", b"\x82\xfe\x00", mask_frame(0x2, b"hello", MASK)[:-1]],
    ids=["1-byte", "2-bytes", "half-mask", "half-ext-length", "payload-short"],
)
def test_websocket_truncated_at_eof(partial):
    ws = open_ws()
    ws.receive_data(partial)
    assert ws.next_payload() is None
    with pytest.raises(TruncatedFrame):
        ws.receive_eof()


def test_websocket_truncated_fragmented_message_at_eof():
    # Every frame arrived whole, but the message they belong to never finished:
    # the payload was cut short, which errors.py calls TruncatedFrame.
    ws = open_ws()
    ws.receive_data(mask_frame(0x2, b"half of a message", MASK, fin=False))
    assert ws.next_payload() is None
    with pytest.raises(TruncatedFrame):
        ws.receive_eof()


def test_websocket_eof_between_messages_is_clean():
    ws = open_ws()
    ws.receive_data(mask_frame(0x2, b"whole", MASK))
    assert ws.next_payload() == b"whole"
    ws.receive_eof()


# ---------------------------------------------------------------- detection


@pytest.mark.parametrize(
    ("prefix", "name"),
    [
        (b"\x05\x00\x00\x00hello", "binary"),
        (b"\x05\x00\x00\x00", "binary"),
        (b"\xff\xff\xff\x00", "binary"),  # 16 MiB - 1
        (b"1\x00\x00\x00", "binary"),  # a length whose low byte is '1' is still binary
        (b"GET\x00", "binary"),
        (b"4 aGk=", "comm"),
        (b"1234 ", "comm"),
        (b"0000000004 aGk=", "comm"),
        (b"GET / HTTP/1.1\r\n", "websocket"),
        (b"GET ", "websocket"),
        (bytearray(b"GET /x"), "websocket"),
    ],
)
def test_detect_framing(prefix, name):
    assert detect_framing(prefix) == name


@pytest.mark.parametrize("prefix", [b"", b"\x05", b"\x05\x00\x00", b"GET", b"12"])
def test_detect_framing_needs_four_bytes(prefix):
    assert detect_framing(prefix) is None


@pytest.mark.parametrize("prefix", [b"\xff\xff\xff\xff", b"abcd", b"POST / HTTP/1.1", b"get / HTTP/1.1", b" 4 aGk="])
def test_detect_framing_garbage(prefix):
    with pytest.raises(MalformedFrame):
        detect_framing(prefix)


def test_detect_framing_of_encoded_frames():
    payload = b"\x10\x00\x00\x00" + b'{"type":"hello"}'
    assert detect_framing(BinaryFraming().encode(payload)) == "binary"
    assert detect_framing(CommFraming().encode(payload)) == "comm"


# ---------------------------------------------------------------- hierarchy


def test_framing_errors_are_protocol_errors():
    for cls in (TruncatedFrame, FrameTooLarge, MalformedFrame):
        assert issubclass(cls, FramingError)
        assert issubclass(cls, ProtocolError)
