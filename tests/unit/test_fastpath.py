"""The per-step caches give exactly what the general code path gives, and never hide an error.

Each test drives real HostConnection/GameConnection pairs through bytes only, and
compares cached answers with what a fresh connection (whose caches are empty, so it
takes the general path) makes of the same bytes.
"""

from __future__ import annotations

import struct

import numpy as np
import pytest
from gymnasium import spaces

from vecbridge.errors import ArrayMismatch, MalformedMessage, TruncatedFrame, UnexpectedMessage
from vecbridge.protocol import GameConnection, HostConnection, encode_message
from vecbridge.protocol.connection import StepRequest, StepResult
from vecbridge.protocol.fastpath import CACHE_LIMIT
from vecbridge.protocol.framing import BinaryFraming

TOKEN = "fastpath"
BOX4 = spaces.Box(-1.0, 1.0, shape=(4,), dtype=np.float32)


def pair(obs_space=BOX4, act_space=spaces.Discrete(3), framing="binary"):
    host, game = HostConnection(TOKEN), GameConnection(framing)
    host.receive_data(game.send_hello(0, TOKEN, obs_space, act_space))
    assert host.next_event() is not None
    game.receive_data(host.send_welcome())
    assert game.next_event() is not None
    return host, game


def one_event(conn, data: bytes):
    conn.receive_data(data)
    event = conn.next_event()
    assert event is not None and conn.next_event() is None
    return event


def frame(type_: str, fields: dict) -> bytes:
    payload = encode_message(type_, fields)
    return struct.pack("<I", len(payload)) + payload


def step_reply(host, data: bytes):
    host.send_step(0)
    return one_event(host, data)


def test_repeated_step_results_keep_their_own_observations():
    host, _ = pair()
    seen = []
    for k in range(5):  # the same header every time: from the second step on, the cache answers
        obs = np.full(4, k / 10, dtype=np.float32)
        event = step_reply(host, frame("step_result", {"observation": obs, "reward": 1.0, "terminated": False,
                                                       "truncated": False, "info": {}}))  # fmt: skip
        assert isinstance(event, StepResult)
        assert (event.reward, event.terminated, event.truncated, event.info) == (1.0, False, False, {})
        np.testing.assert_array_equal(event.observation, obs)
        seen.append(event.observation)
    for k, obs in enumerate(seen):  # earlier observations were not overwritten by later ones
        np.testing.assert_array_equal(obs, np.full(4, k / 10, dtype=np.float32))


@pytest.mark.parametrize("reward, terminated, truncated", [(0.0, False, False), (-2.5, True, False), (3, False, True)])
def test_cached_flags_and_rewards_match_the_general_path(reward, terminated, truncated):
    host, _ = pair()
    data = frame("step_result", {"observation": np.ones(4, np.float32), "reward": reward, "terminated": terminated,
                                 "truncated": truncated})  # fmt: skip
    general = step_reply(host, data)
    cached = step_reply(host, data)
    for event in (general, cached):
        assert (event.reward, event.terminated, event.truncated) == (float(reward), terminated, truncated)
        assert type(event.reward) is float


def test_a_known_header_with_the_wrong_data_length_is_still_an_error():
    host, _ = pair()
    good = frame("step_result", {"observation": np.zeros(4, np.float32), "reward": 0.0, "terminated": False,
                                 "truncated": False})  # fmt: skip
    step_reply(host, good)
    step_reply(host, good)
    (n,) = struct.unpack_from("<I", good)
    longer = struct.pack("<I", n + 4) + good[4:] + b"\0\0\0\0"  # same header, 4 bytes too many
    host.send_step(0)
    host.receive_data(longer)
    with pytest.raises(ArrayMismatch, match="4 byte\\(s\\) after its declared arrays"):
        host.next_event()


def test_infos_are_never_cached_or_shared():
    host, _ = pair()
    data = frame("step_result", {"observation": np.zeros(4, np.float32), "reward": 0.0, "terminated": False,
                                 "truncated": False, "info": {"lives": 3}})  # fmt: skip
    first = step_reply(host, data)
    first.info["lives"] = 0  # a user changing one step's info must not change the next one's
    second = step_reply(host, data)
    assert second.info == {"lives": 3}


def test_discrete_observations_are_cached_and_checked():
    host, _ = pair(obs_space=spaces.Discrete(5))
    data = frame("step_result", {"observation": 4, "reward": 1.0, "terminated": False, "truncated": False})
    assert step_reply(host, data).observation == 4
    assert step_reply(host, data).observation == 4
    host.send_step(0)
    host.receive_data(frame("step_result", {"observation": 5, "reward": 1.0, "terminated": False, "truncated": False}))
    with pytest.raises(ArrayMismatch, match=r"expected an integer in \[0, 4\]"):
        host.next_event()


def test_the_cache_stops_growing_and_misses_stay_correct():
    host, _ = pair()
    for k in range(CACHE_LIMIT + 20):  # every reward differs: the cache fills, then only misses
        data = frame("step_result", {"observation": np.full(4, 0.5, np.float32), "reward": float(k),
                                     "terminated": False, "truncated": False})  # fmt: skip
        assert step_reply(host, data).reward == float(k)
    assert len(host._step_results._plans) == CACHE_LIMIT


def test_a_cached_header_does_not_bypass_the_state_machine():
    host, _ = pair()
    data = frame("step_result", {"observation": np.zeros(4, np.float32), "reward": 0.0, "terminated": False,
                                 "truncated": False})  # fmt: skip
    step_reply(host, data)
    step_reply(host, data)
    host.receive_data(data)  # a reply nobody asked for
    with pytest.raises(UnexpectedMessage):
        host.next_event()


def test_a_bad_reward_is_reported_the_same_way_each_time():
    host, _ = pair()
    bad = frame("step_result", {"observation": np.zeros(4, np.float32), "reward": "1", "terminated": False,
                                "truncated": False})  # fmt: skip
    host.send_step(0)
    for _ in range(2):  # an error is never learned: the same bytes fail again
        host.receive_data(bad)
        with pytest.raises(MalformedMessage, match="'reward' must be a finite number"):
            host.next_event()
    assert not host._step_results._plans


# ---------------------------------------------------------------- the game side
def reference_step_result(obs, reward, terminated, truncated, info=None) -> bytes:
    return frame("step_result", {"observation": obs, "reward": float(reward), "terminated": terminated,
                                 "truncated": truncated, "info": info or {}})  # fmt: skip


@pytest.mark.parametrize("obs_space", [BOX4, spaces.Box(0, 255, (84, 84, 3), np.uint8)])
def test_game_step_results_are_byte_for_byte_the_general_encoding(obs_space):
    host, game = pair(obs_space=obs_space)
    rng = np.random.default_rng(0)
    for k in range(6):
        obs = (rng.random(obs_space.shape) * 100).astype(obs_space.dtype)
        host_req = host.send_step(1)
        assert isinstance(one_event(game, host_req), StepRequest)
        reward, terminated = [0.0, 1.0][k % 2], k == 5
        data = game.send_step_result(obs, reward, terminated, False)
        assert data == reference_step_result(obs, reward, terminated, False)
        event = one_event(host, data)
        np.testing.assert_array_equal(event.observation, obs)


def test_game_step_requests_from_the_cache_are_still_checked():
    host, game = pair()
    actions = []
    for action in (0, 2, 0, 2, 1):
        actions.append(one_event(game, host.send_step(action)).action)
        one_event(host, game.send_step_result(np.zeros(4, np.float32), 0.0, False, False))
    assert actions == [0, 2, 0, 2, 1]
    step0 = host._step_requests[0]
    game.receive_data(step0)
    assert game.next_event().action == 0
    game.receive_data(step0)  # a second request while the first is unanswered
    with pytest.raises(UnexpectedMessage):
        game.next_event()


def test_array_actions_are_byte_for_byte_the_general_encoding():
    act_space = spaces.Box(-1.0, 1.0, shape=(3,), dtype=np.float32)
    host, game = pair(act_space=act_space)
    for k in range(3):
        action = np.array([k, -k, 0.5], dtype=np.float32) / 4
        data = host.send_step(action)
        assert data == frame("step", {"action": action})
        np.testing.assert_array_equal(one_event(game, data).action, action)
        one_event(host, game.send_step_result(np.zeros(4, np.float32), 0.0, False, False))


# ---------------------------------------------------------------- binary framing, one chunk per frame
def payloads(framing: BinaryFraming) -> list[bytes]:
    out = []
    while (p := framing.next_payload()) is not None:
        out.append(p)
    return out


@pytest.mark.parametrize(
    "chunks",
    [
        [b"\x03\0\0\0abc"],  # exactly one frame
        [b"\x03\0\0\0abc\x02\0\0\0de"],  # two frames in one chunk
        [b"\x03\0\0", b"\0abc\x02\0\0\0de"],  # a header split
        [b"\x03\0\0\0a", b"bc", b"\x02\0\0\0de"],  # a payload split
        [b"\x03\0\0\0abc", b"\x02\0\0\0d", b"e"],
    ],
)
def test_binary_framing_gives_the_same_payloads_however_the_bytes_arrive(chunks):
    framing, got = BinaryFraming(), []
    for chunk in chunks:
        framing.receive_data(chunk)
        got += payloads(framing)
    assert got == [b"abc", b"de"][: len(got)] and got[0] == b"abc"
    assert b"".join(got) == b"".join(chunks).replace(b"\x03\0\0\0", b"").replace(b"\x02\0\0\0", b"")


def test_binary_framing_eof_inside_a_kept_chunk_is_truncation():
    framing = BinaryFraming()
    framing.receive_data(b"\x05\0\0\0ab")
    assert framing.next_payload() is None
    with pytest.raises(TruncatedFrame, match="6 byte"):
        framing.receive_eof()


def test_binary_framing_copies_a_mutable_chunk():
    framing, data = BinaryFraming(), bytearray(b"\x01\0\0\0z")
    framing.receive_data(data)
    data[4] = ord("!")
    assert framing.next_payload() == b"z"
