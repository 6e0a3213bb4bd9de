"""vecbridge's end of one connection, as a state machine (sans-I/O).

It takes received bytes with ``receive_data``, gives decoded events from ``next_event``
(the hello, checked field by field only after the token; then one result per request)
and returns the bytes to write from each ``send_*`` method. Requests and replies
alternate strictly: one request in flight.
"""

from __future__ import annotations

import hmac
from collections.abc import Container
from typing import Any

import numpy as np
from gymnasium import spaces

from vecbridge.errors import (
    ArrayMismatch,
    BadToken,
    MalformedMessage,
    SpaceError,
    StateError,
    UnexpectedMessage,
    VecBridgeError,
    VersionMismatch,
)
from vecbridge.protocol.endpoint import Endpoint
from vecbridge.protocol.events import CallResult, GameErrorReply, Hello, RenderResult, ResetResult, State, StepResult
from vecbridge.protocol.fastpath import BoundedCache, StepResultCache
from vecbridge.protocol.fields import finite_reward, info_object, is_int, optional
from vecbridge.protocol.framing_base import SIZE_HINT
from vecbridge.protocol.limits import DEFAULT_MAX_FRAME, HELLO_MAX_FRAME
from vecbridge.protocol.masks import check_mask, mask_size
from vecbridge.protocol.messages import (
    GAME_MESSAGES,
    PROTOCOL_VERSION,
    Message,
    decode_message,
    finish_message,
    read_header,
    resolve_raw,
)
from vecbridge.protocol.pixels import convert_leaves, leaf_formats, render_format
from vecbridge.protocol.spaces import space_from_json
from vecbridge.protocol.values import decode_value, describe_value, encode_value

_ANY_GAME_MESSAGE = {type_: () for type_ in GAME_MESSAGES}  # fields are checked after the token


class HostConnection(Endpoint):
    """vecbridge's end of a connection to one game instance."""

    incoming = GAME_MESSAGES

    def __init__(
        self,
        token: str,
        instances: Container[int] | None = None,
        framing: str = "auto",
        max_frame_size: int = DEFAULT_MAX_FRAME,
    ) -> None:
        super().__init__(framing, max_frame_size, first_frame_size=HELLO_MAX_FRAME)
        self.token = token
        self._token = token.encode("utf-8", "surrogatepass")
        self.authenticated = False  # the hello carried this run's token; until then the peer is a stranger
        self.instances = instances
        self.state = State.AWAIT_HELLO
        self.hello: Hello | None = None
        self.pending: str | None = None  # the request awaiting its reply
        self._step_requests = BoundedCache()  # Discrete action -> request bytes
        self._action_prefix: bytes | None = None  # array actions: the frame bytes before the raw data
        self._step_results = StepResultCache()
        self._raw_message: Message | None = None  # a message whose raw frames are still on their way
        self._raw_frames: list[bytes] = []

    @property
    def instance(self) -> int | None:
        return self.hello.instance if self.hello else None

    # -- sending
    def send_welcome(self, config: dict[str, Any] | None = None) -> bytes:
        self._expect_state(State.GREETING, "welcome")
        data = self._frame("welcome", {"version": PROTOCOL_VERSION, "instance": self.instance, "config": config or {}})
        self.state = State.IDLE
        return data

    def send_reset(self, seed: int | None = None, options: dict[str, Any] | None = None) -> bytes:
        return self._request("reset", {"seed": seed, "options": options})

    def send_step(self, action: Any) -> bytes:
        if self.state is not State.IDLE:
            self._expect_state(State.IDLE, "step")
        space = self.hello.action_space
        if self.framing.name == "websocket":  # the frame header depends on the length: no caching
            return self._request("step", {"action": encode_value(space, action)})
        if isinstance(space, spaces.Discrete):
            # The bytes of a Discrete step request depend on the action alone: build each once.
            key = int(action)
            data = self._step_requests.get(key)
            if data is None:
                data = self._frame("step", {"action": encode_value(space, key)})
                self._step_requests.remember(key, data)
        elif self.framing.name == "binary" and isinstance(space, (spaces.Box, spaces.MultiDiscrete, spaces.MultiBinary)):
            # An array action's header never changes: only its raw bytes follow it.
            arr = encode_value(space, action)
            if self._action_prefix is None:
                data = self._frame("step", {"action": arr})
                self._action_prefix = data[: len(data) - arr.nbytes]
            else:
                data = self._action_prefix + arr.tobytes()
        else:
            return self._request("step", {"action": encode_value(space, action)})
        self.state, self.pending = State.AWAIT_REPLY, "step"
        return data

    def send_render(self) -> bytes:
        return self._request("render", {})

    def send_call(self, name: str, args: list[Any] | tuple = (), kwargs: dict[str, Any] | None = None) -> bytes:
        return self._request("call", {"name": name, "args": list(args), "kwargs": kwargs or {}})

    def send_close(self) -> bytes:
        data = self._frame("close") if self.framing is not None and self.state != State.CLOSED else b""
        self.state = State.CLOSED
        return data

    def _request(self, type_: str, fields: dict[str, Any]) -> bytes:
        self._expect_state(State.IDLE, type_)
        data = self._frame(type_, fields)
        self.state, self.pending = State.AWAIT_REPLY, type_
        return data

    def _expect_state(self, state: State, what: str) -> None:
        if self.state is not state:
            raise StateError(f"cannot send {what!r} while the connection is {self.state.value}")

    # -- receiving
    def next_event(self):
        """The next event from the game (Hello, a *Result, GameErrorReply), or None."""
        framing = self.framing
        if self._raw_message is not None:
            msg = self._with_raw_frames()
            return None if msg is None else self._reply(msg)
        payload = None if framing is None else framing.next_payload()
        if payload is None:
            return None
        if self.state is State.AWAIT_HELLO:
            return self._read_hello(payload)
        if self.pending == "step":
            known = self._step_results.lookup(payload)
            if known is not None:  # a header seen before: only the observation's bytes are new
                self.state, self.pending = State.IDLE, None
                return StepResult(*known)
            msg = self._message(payload)
            if msg is None:
                return None
            event = self._reply(msg)
            if isinstance(event, StepResult) and not msg.raw_frames:
                image = self.hello.pixels.get(())
                self._step_results.learn(payload, event.reward, event.terminated, event.truncated, event.observation,
                                         image and image.to_rgb)  # fmt: skip
            return event
        msg = self._message(payload)
        return None if msg is None else self._reply(msg)

    def _message(self, payload: bytes) -> Message | None:
        msg = decode_message(payload, self.incoming)
        if not msg.raw_frames:
            return msg
        self._raw_message, self._raw_frames = msg, []
        return self._with_raw_frames()

    def _with_raw_frames(self) -> Message | None:
        """The waiting message once its raw frames have all come (None until then)."""
        while len(self._raw_frames) < self._raw_message.raw_frames:
            frame = self.framing.next_payload(raw=True)
            if frame is None:
                return None
            self._raw_frames.append(frame)
        msg, self._raw_message = self._raw_message, None
        return resolve_raw(msg, self._raw_frames)

    def _reply(self, msg):
        if self.state is not State.AWAIT_REPLY:
            raise UnexpectedMessage(f"got {msg.type!r} while no request was pending ({self.state.value})")
        request = self.pending
        if msg.type == "error":
            message, trace = msg["message"], msg.get("traceback")
            if type(message) is not str or (trace is not None and type(trace) is not str):
                raise MalformedMessage(
                    f"an 'error' reply needs a string 'message' (and a string or null 'traceback'), "
                    f"got {describe_value(message)} and {describe_value(trace)}"
                )
            event = GameErrorReply(request, message, trace or "")
        elif msg.type != f"{request}_result":
            raise UnexpectedMessage(f"expected '{request}_result' (or 'error') in reply to {request!r}, got {msg.type!r}")
        else:
            event = self._result(request, msg.fields)
        self.state, self.pending = State.IDLE, None
        return event

    # -- the hello: nothing but its JSON header is read before the token is checked
    def _read_hello(self, payload: bytes) -> Hello:
        type_, header, offset = read_header(payload, _ANY_GAME_MESSAGE)
        if type_ != "hello":
            raise UnexpectedMessage(f"expected 'hello' as the first message, got {type_!r}")
        claimed = header.get("instance")
        try:
            self._authenticate(header)
            missing = [f for f in GAME_MESSAGES["hello"] if f not in header]
            if missing:
                raise MalformedMessage(f"the hello lacks the field(s) {', '.join(missing)}")
            return self._check_hello(finish_message(payload, type_, header, offset).fields)
        except VecBridgeError as exc:
            exc.instance = claimed if is_int(claimed) else None  # lets the launcher say whose hello failed
            raise

    def _authenticate(self, f: dict[str, Any]) -> None:
        token = f.get("token")
        if type(token) is not str:
            raise BadToken(f"the hello needs the run's token as a string 'token', got {describe_value(token)}")
        # constant time: a stranger learns nothing from how long a wrong guess takes
        if not hmac.compare_digest(token.encode("utf-8", "surrogatepass"), self._token):
            raise BadToken("the hello's token does not match this run's secret (is the game reading VECBRIDGE_TOKEN?)")
        self.authenticated = True

    def _check_hello(self, f: dict[str, Any]) -> Hello:
        version = f["version"]
        if version != PROTOCOL_VERSION or not is_int(version):
            raise VersionMismatch(
                f"the game speaks protocol version {describe_value(version)}; this vecbridge speaks {PROTOCOL_VERSION} "
                f"(update the game's client library or vecbridge)",
                version=version if is_int(version) else None,
            )
        instance = f["instance"]
        if not is_int(instance):
            raise MalformedMessage(
                f"the hello's 'instance' must be a JSON integer (the number in VECBRIDGE_INSTANCE), "
                f"got {describe_value(instance)}"
            )
        if self.instances is not None and instance not in self.instances:
            raise UnexpectedMessage(
                f"the hello names instance {instance}, which this listener is not waiting for "
                f"(no instance of that number is being launched, or it already said hello)"
            )
        try:
            obs_space = space_from_json(f["observation_space"])
            act_space = space_from_json(f["action_space"])
        except SpaceError as exc:
            raise SpaceError(f"instance {instance}: the hello declares an invalid space: {exc}") from None
        try:
            pixels = leaf_formats(f["observation_space"])
        except SpaceError as exc:
            raise SpaceError(f"instance {instance}: the hello declares an invalid space: {exc}") from None
        metadata = optional(f.get("metadata"), dict, "the hello's 'metadata'") or {}
        name = optional(f.get("name"), str, "the hello's 'name'") or ""
        mask = None
        if metadata.get("action_mask") is True:
            try:
                mask = mask_size(act_space)
            except SpaceError as exc:
                raise SpaceError(f"instance {instance}: {exc}") from None
        self.hello = Hello(instance, name, obs_space, act_space, metadata, f, pixels, mask)
        self.state = State.GREETING
        self.frame_limit = self.max_frame_size  # a trusted game from now on
        if self.framing is not None:
            self.framing.max_size = self.max_frame_size
            self.framing.size_hint = SIZE_HINT
        return self.hello

    def _result(self, request: str, f: dict[str, Any]):
        assert self.hello is not None
        if request == "reset":
            obs = self._observation(f["observation"], "reset observation")
            return ResetResult(obs, info_object(f.get("info"), request), self._mask(f, "reset_result"))
        if request == "step":
            reward, term, trunc = finite_reward(f["reward"]), f["terminated"], f["truncated"]
            if not isinstance(term, bool) or not isinstance(trunc, bool):
                raise MalformedMessage(
                    f"step_result 'terminated' and 'truncated' must be true/false, got {term!r} and {trunc!r}"
                )
            obs = self._observation(f["observation"], "step observation")
            return StepResult(obs, reward, term, trunc, info_object(f.get("info"), request), self._mask(f, "step_result"))
        if request == "render":
            frame = f["frame"]
            fmt = render_format(f)
            if fmt is not None and frame is not None:
                frame = fmt.to_rgb(frame, "render frame")
            if frame is not None and not (
                isinstance(frame, np.ndarray) and frame.dtype == np.uint8 and frame.ndim == 3 and frame.shape[2] == 3
            ):
                raise ArrayMismatch(f"render frame: expected a uint8 array of shape [H, W, 3] or null, got {describe_value(frame)}")
            return RenderResult(frame)
        return CallResult(f["value"])

    def _mask(self, f: dict[str, Any], what: str) -> np.ndarray | None:
        size = self.hello.mask_size
        if size is None:
            return None  # a game that declared no mask: an 'action_mask' field is read past
        return check_mask(f.get("action_mask"), size, f"instance {self.hello.instance}'s {what}")

    def _observation(self, value: Any, what: str) -> Any:
        pixels = self.hello.pixels
        if pixels:  # image leaves in the game's pixel format: to RGB, once, here
            value = convert_leaves(value, pixels, what)
        return decode_value(self.hello.observation_space, value, what)
