"""The bytes of a reset_result / step_result carrying an ``action_mask`` (docs/protocol.md,
"Action masks"), written from the protocol page: a 2-float32 observation (0.5, -1) and the
mask (true, false, true). Shared by the unit test of today's host and the Lua client's test."""

from __future__ import annotations

import struct

STEP_FIELDS = ('"observation":{"$array":0},"reward":1,"terminated":false,"truncated":false,"info":{},'
               '"action_mask":{"$array":1},')
RESET_FIELDS = '"observation":{"$array":0},"info":{},"action_mask":{"$array":1},'


def masked_payload(type_: str, fields: str) -> bytes:
    header = ('{"type":"%s",%s"arrays":[{"dtype":"float32","shape":[2]},{"dtype":"bool","shape":[3]}]}'
              % (type_, fields)).encode()
    return struct.pack("<I", len(header)) + header + struct.pack("<2f", 0.5, -1.0) + b"\x01\x00\x01"
