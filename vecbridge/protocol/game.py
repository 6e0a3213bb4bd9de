"""The game's end of one connection, as a state machine (sans-I/O; the Python game client uses it).

It says hello, takes the welcome, then answers vecbridge's requests: ``next_event`` gives
each request, a ``send_*_result`` method the bytes of its reply.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from gymnasium import spaces

from vecbridge.errors import (
    MalformedMessage,
    StateError,
    UnexpectedMessage,
    VersionMismatch,
)
from vecbridge.protocol.endpoint import Endpoint
from vecbridge.protocol.events import (
    CallRequest,
    CloseRequest,
    RenderRequest,
    ResetRequest,
    State,
    StepRequest,
    Welcome,
)
from vecbridge.protocol.fastpath import BoundedCache, StepResultEncoder
from vecbridge.protocol.fields import is_int, optional
from vecbridge.protocol.limits import DEFAULT_MAX_FRAME
from vecbridge.protocol.messages import (
    HOST_MESSAGES,
    PROTOCOL_VERSION,
    decode_message,
)
from vecbridge.protocol.spaces import space_from_json, space_to_json
from vecbridge.protocol.values import decode_value, describe_value


class GameConnection(Endpoint):
    """The game's end: says hello, then answers vecbridge's requests."""

    incoming = HOST_MESSAGES

    def __init__(self, framing: str = "binary", max_frame_size: int = DEFAULT_MAX_FRAME) -> None:
        if framing == "auto":
            raise ValueError("the game side must pick its framing; 'auto' is for the host")
        super().__init__(framing, max_frame_size)
        self.state = State.AWAIT_HELLO
        self.action_space: spaces.Space | None = None
        self.pending: str | None = None
        self._step_requests = BoundedCache()  # request bytes -> Discrete action
        self._step_results = StepResultEncoder() if self.framing.name == "binary" else None

    def send_hello(
        self,
        instance: int,
        token: str,
        observation_space: Any,
        action_space: Any,
        name: str = "",
        metadata: dict[str, Any] | None = None,
    ) -> bytes:
        if isinstance(action_space, spaces.Space):
            self.action_space, action_space = action_space, space_to_json(action_space)
        else:
            self.action_space = space_from_json(action_space)
        if isinstance(observation_space, spaces.Space):
            observation_space = space_to_json(observation_space)
        data = self._frame(
            "hello",
            {
                "version": PROTOCOL_VERSION,
                "instance": instance,
                "token": token,
                "name": name,
                "observation_space": observation_space,
                "action_space": action_space,
                "metadata": metadata or {},
            },
        )
        self.state = State.AWAIT_WELCOME
        return data

    def next_event(self):
        payload = self._next_payload()
        if payload is None:
            return None
        if self.state is State.AWAIT_REQUEST:
            action = self._step_requests.get(payload)
            if action is not None:  # the same bytes as an earlier Discrete step request
                self.state, self.pending = State.REPLYING, "step"
                return StepRequest(action)
        event = self._request(decode_message(payload, self.incoming))
        if isinstance(event, StepRequest) and isinstance(self.action_space, spaces.Discrete):
            self._step_requests.remember(payload, event.action)
        return event

    def _request(self, msg):
        f = msg.fields
        if self.state is State.AWAIT_WELCOME:
            if msg.type != "welcome":
                raise UnexpectedMessage(f"expected 'welcome' after hello, got {msg.type!r}")
            if f["version"] != PROTOCOL_VERSION or not is_int(f["version"]):
                raise VersionMismatch(
                    f"vecbridge speaks protocol version {describe_value(f['version'])}, this client {PROTOCOL_VERSION}"
                )
            if not is_int(f["instance"]):
                raise MalformedMessage(
                    f"the welcome's 'instance' must be an integer, got {describe_value(f['instance'])}"
                )
            self.state = State.AWAIT_REQUEST
            return Welcome(f["instance"], optional(f.get("config"), dict, "the welcome's 'config'") or {})
        if self.state is not State.AWAIT_REQUEST:
            raise UnexpectedMessage(f"got {msg.type!r} while {self.state.value}")
        if msg.type == "welcome":
            raise UnexpectedMessage("got a second 'welcome'")
        if msg.type == "close":
            self.state = State.CLOSED
            return CloseRequest()
        event = self._check_request(msg.type, f)
        self.state, self.pending = State.REPLYING, msg.type
        return event

    def _check_request(self, type_: str, f: dict[str, Any]):
        if type_ == "reset":
            seed = optional(f.get("seed"), int, "reset 'seed'")
            return ResetRequest(seed, optional(f.get("options"), dict, "reset 'options'"))
        if type_ == "step":
            assert self.action_space is not None
            return StepRequest(decode_value(self.action_space, f["action"], "action"))
        if type_ == "render":
            return RenderRequest()
        name = f["name"]
        if type(name) is not str:
            raise MalformedMessage(f"call 'name' must be a string, got {describe_value(name)}")
        args = optional(f.get("args"), list, "call 'args'") or []
        return CallRequest(name, args, optional(f.get("kwargs"), dict, "call 'kwargs'") or {})

    def _reply(self, request: str, type_: str, fields: dict[str, Any]) -> bytes:
        if self.state is not State.REPLYING or (request and self.pending != request):
            raise StateError(f"cannot send {type_!r}: the pending request is {self.pending!r} ({self.state.value})")
        data = self._frame(type_, fields)
        self.state, self.pending = State.AWAIT_REQUEST, None
        return data

    def send_reset_result(self, observation: Any, info: dict[str, Any] | None = None, action_mask: Any = None) -> bytes:
        fields = {"observation": observation, "info": info or {}}
        if action_mask is not None:  # a bool array (docs/protocol.md, "Action masks")
            fields["action_mask"] = action_mask
        return self._reply("reset", "reset_result", fields)

    def send_step_result(
        self, observation: Any, reward: float, terminated: bool, truncated: bool, info=None, action_mask: Any = None
    ) -> bytes:
        if action_mask is not None:
            fields = {"observation": observation, "reward": float(reward), "terminated": bool(terminated),
                      "truncated": bool(truncated), "info": info or {}, "action_mask": action_mask}  # fmt: skip
            return self._reply("step", "step_result", fields)
        key = (
            None
            if info or self._step_results is None
            else self._step_results.key(observation, reward, terminated, truncated)
        )
        if key is not None and self.state is State.REPLYING and self.pending == "step":
            data = self._step_results.lookup(key, observation)
            if data is not None:  # a header sent before: only the observation's bytes are new
                self.state, self.pending = State.AWAIT_REQUEST, None
                return data
        data = self._reply(
            "step",
            "step_result",
            {
                "observation": observation,
                "reward": float(reward),
                "terminated": bool(terminated),
                "truncated": bool(truncated),
                "info": info or {},
            },
        )
        if key is not None:
            self._step_results.learn(key, observation, data)
        return data

    def send_render_result(self, frame: np.ndarray | None) -> bytes:
        return self._reply("render", "render_result", {"frame": frame})

    def send_call_result(self, value: Any) -> bytes:
        return self._reply("call", "call_result", {"value": value})

    def send_error(self, message: str, traceback: str = "") -> bytes:
        return self._reply("", "error", {"message": message, "traceback": traceback})
