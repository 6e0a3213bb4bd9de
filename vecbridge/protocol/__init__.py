"""The wire protocol, sans-I/O: framings, messages, spaces and connection state machines.

Nothing in this package opens, reads or writes a socket; see docs/protocol.md.
"""

from vecbridge.protocol.connection import GameConnection, HostConnection
from vecbridge.protocol.values import decode_value, encode_value
from vecbridge.protocol.framing import FRAMINGS, detect_framing, make_framing
from vecbridge.protocol.messages import PROTOCOL_VERSION, Message, decode_message, encode_message
from vecbridge.protocol.spaces import space_from_json, space_from_type_strings, space_to_json

__all__ = [
    "FRAMINGS",
    "PROTOCOL_VERSION",
    "GameConnection",
    "HostConnection",
    "Message",
    "decode_message",
    "decode_value",
    "detect_framing",
    "encode_message",
    "encode_value",
    "make_framing",
    "space_from_json",
    "space_from_type_strings",
    "space_to_json",
]
