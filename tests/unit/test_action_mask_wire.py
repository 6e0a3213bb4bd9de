"""A game's ``action_mask`` field (docs/protocol.md, "Action masks"), byte for byte, through the
host connection (sans-I/O): the hello's ``metadata.action_mask`` declares it, every result's
mask reaches the event, and anything else is an error naming the instance and what came."""

from __future__ import annotations

import json
import struct

import numpy as np
import pytest
from gymnasium import spaces

from support.action_mask import RESET_FIELDS, STEP_FIELDS, masked_payload
from vecbridge.errors import ArrayMismatch, SpaceError
from vecbridge.protocol import HostConnection
from vecbridge.protocol.connection import GameConnection, Hello, ResetResult, StepResult
from vecbridge.protocol.masks import check_mask, mask_size
from vecbridge.vector.buffers import Buffers


def frame(payload: bytes) -> bytes:
    return struct.pack("<I", len(payload)) + payload


def greeted(metadata: dict, action_space: str = "int 0 2") -> HostConnection:
    host = HostConnection("t0k")
    hello = json.dumps({"type": "hello", "version": 1, "instance": 3, "token": "t0k", "observation_space": "float[2]",
                        "action_space": action_space, "metadata": metadata}).encode()
    host.receive_data(frame(struct.pack("<I", len(hello)) + hello))
    event = host.next_event()
    assert isinstance(event, Hello)
    host.send_welcome()
    return host


def test_host_reads_results_with_an_action_mask():
    host = greeted({"action_mask": True})
    assert host.hello.metadata["action_mask"] is True and host.hello.mask_size == 3
    for send, payload, kind in ((host.send_reset, masked_payload("reset_result", RESET_FIELDS), ResetResult),
                                (lambda: host.send_step(1), masked_payload("step_result", STEP_FIELDS), StepResult)):
        send()
        host.receive_data(frame(payload))
        event = host.next_event()
        assert isinstance(event, kind), event
        np.testing.assert_array_equal(event.observation, np.array([0.5, -1.0], np.float32))
        assert event.action_mask.dtype == np.bool_ and event.action_mask.tolist() == [True, False, True]
        if kind is StepResult:
            assert event.reward == 1.0 and not event.terminated and not event.truncated
    # the same step result again (the host's header cache must not take the mask for the observation)
    host.send_step(1)
    host.receive_data(frame(masked_payload("step_result", STEP_FIELDS)))
    event = host.next_event()
    np.testing.assert_array_equal(event.observation, np.array([0.5, -1.0], np.float32))
    assert event.action_mask.tolist() == [True, False, True]


def test_a_mask_the_hello_did_not_declare_is_read_past():
    host = greeted({})
    assert host.hello.mask_size is None
    host.send_step(1)
    host.receive_data(frame(masked_payload("step_result", STEP_FIELDS)))
    assert host.next_event().action_mask is None


@pytest.mark.parametrize("fields, came", [
    (STEP_FIELDS.replace('"action_mask":{"$array":1},', ""), r"got none \(no such field, or null\)"),
    (STEP_FIELDS.replace('{"$array":1}', '[true, false]'), r"got a JSON list \[True, False\]"),
    (STEP_FIELDS.replace('{"$array":1}', '"yes"'), "got string 'yes'"),
])
def test_a_declared_mask_missing_or_malformed_names_the_instance_and_what_came(fields, came):
    host = greeted({"action_mask": True})
    host.send_step(1)
    host.receive_data(frame(masked_payload("step_result", fields)))
    with pytest.raises(ArrayMismatch, match=rf"instance 3's step_result.*bool array of 3 entries.*{came}"):
        host.next_event()


def test_a_mask_of_the_wrong_length_is_an_array_mismatch():
    host = greeted({"action_mask": True}, action_space="int 0 3")  # Discrete(4): 4 entries, 3 came
    host.send_reset()
    host.receive_data(frame(masked_payload("reset_result", RESET_FIELDS)))
    with pytest.raises(ArrayMismatch, match=r"instance 3's reset_result.*4 entries.*shape \[3\]"):
        host.next_event()


def test_a_mask_needs_a_discrete_kind_of_action_space():
    with pytest.raises(SpaceError, match=r"instance 3: an action mask needs a Discrete, MultiDiscrete or MultiBinary"):
        greeted({"action_mask": True}, action_space="float[2]")


def test_mask_sizes_follow_sb3_contribs_layout():
    assert mask_size(spaces.Discrete(5, start=-2)) == 5
    assert mask_size(spaces.MultiDiscrete([3, 2, 4])) == 9
    assert mask_size(spaces.MultiBinary(3)) == 6
    assert mask_size(spaces.Tuple((spaces.Discrete(3), spaces.Discrete(2)))) == 5  # gym-bizhawk's exact form
    assert check_mask(np.array([1, 0, 1], np.uint8), 3, "x").tolist() == [True, False, True]
    assert check_mask([True, False], 2, "x").dtype == np.bool_
    with pytest.raises(ArrayMismatch, match="got a uint8 array"):
        check_mask(np.array([2, 0], np.uint8), 2, "x")  # not 0/1


def test_the_game_side_sends_the_mask_with_its_results():
    game, host = GameConnection(), HostConnection("t0k")
    host.receive_data(game.send_hello(0, "t0k", spaces.Box(-1, 1, (2,), np.float32), spaces.Discrete(3),
                                      metadata={"action_mask": True}))  # fmt: skip
    assert isinstance(host.next_event(), Hello)
    game.receive_data(host.send_welcome())
    game.next_event()
    obs = np.zeros(2, np.float32)
    for mask in ([True, False, True], [False, True, True], [False, True, True]):  # twice the same: no cached header
        game.receive_data(host.send_step(0))
        game.next_event()
        host.receive_data(game.send_step_result(obs, 0.0, False, False, None, np.array(mask)))
        assert host.next_event().action_mask.tolist() == mask
    game.receive_data(host.send_reset())
    game.next_event()
    host.receive_data(game.send_reset_result(obs, None, np.array([True, True, False])))
    assert host.next_event().action_mask.tolist() == [True, True, False]


def test_buffers_hold_one_mask_row_per_instance_all_allowed_at_first():
    buffers = Buffers.create(spaces.Box(0, 1, (2,)), spaces.MultiDiscrete([3, 2]), 4, "masktest", mask_size=5)
    try:
        assert buffers.action_masks.shape == (4, 5) and buffers.action_masks.all()
        other = Buffers.attach(buffers.obs_paths, buffers.act_paths, buffers.layout)  # a worker's view
        other.action_masks[2] = [True, False, True, True, False]
        assert buffers.action_masks[2].tolist() == [True, False, True, True, False]
        assert float(other.rewards[0]) == 0.0 and other.rewards.shape == (4,)
        other.close()
    finally:
        buffers.unlink()
        buffers.close()
    plain = Buffers.create(spaces.Box(0, 1, (2,)), spaces.Discrete(3), 2, "masktest2")
    try:
        assert plain.action_masks is None
    finally:
        plain.unlink()
        plain.close()
