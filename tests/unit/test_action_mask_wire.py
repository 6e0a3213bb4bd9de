"""A game's ``action_mask`` field (docs/protocol.md, "Action masks"), byte for byte, through
today's host connection: the field is read past, the rest of the result decodes as before, and
the hello's ``metadata.action_mask`` reaches the Hello (sans-I/O)."""

from __future__ import annotations

import json
import struct

import numpy as np

from support.action_mask import RESET_FIELDS, STEP_FIELDS, masked_payload
from vecbridge.protocol import HostConnection
from vecbridge.protocol.connection import Hello, ResetResult, StepResult


def frame(payload: bytes) -> bytes:
    return struct.pack("<I", len(payload)) + payload


def test_host_reads_results_with_an_action_mask():
    host = HostConnection("t0k")
    hello = json.dumps({"type": "hello", "version": 1, "instance": 0, "token": "t0k", "observation_space": "float[2]",
                        "action_space": "int 0 2", "metadata": {"action_mask": True}}).encode()
    host.receive_data(frame(struct.pack("<I", len(hello)) + hello))
    event = host.next_event()
    assert isinstance(event, Hello) and event.metadata["action_mask"] is True
    host.send_welcome()
    for send, payload, kind in ((host.send_reset, masked_payload("reset_result", RESET_FIELDS), ResetResult),
                                (lambda: host.send_step(1), masked_payload("step_result", STEP_FIELDS), StepResult)):
        send()
        host.receive_data(frame(payload))
        event = host.next_event()
        assert isinstance(event, kind), event
        np.testing.assert_array_equal(event.observation, np.array([0.5, -1.0], np.float32))
        if kind is StepResult:
            assert event.reward == 1.0 and not event.terminated and not event.truncated
    # the same step result again (the host's header cache must not take the mask for the observation)
    host.send_step(1)
    host.receive_data(frame(masked_payload("step_result", STEP_FIELDS)))
    np.testing.assert_array_equal(host.next_event().observation, np.array([0.5, -1.0], np.float32))
