"""The two ends of one connection as state machines (sans-I/O).

:class:`HostConnection` is vecbridge's end; :class:`GameConnection` is the game's
(the Python game client uses it). Both take received bytes with ``receive_data``,
give decoded events from ``next_event``, and return the bytes to write from each
``send_*`` method. Requests and replies alternate strictly: one request in flight.
"""

from __future__ import annotations

import enum
import hmac
from collections.abc import Container
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from gymnasium import spaces

from vecbridge.errors import (
    ArrayMismatch,
    BadToken,
    MalformedMessage,
    SpaceError,
    StateError,
    TruncatedFrame,
    UnexpectedMessage,
    VecBridgeError,
    VersionMismatch,
)
from vecbridge.protocol.fastpath import BoundedCache, StepResultCache, StepResultEncoder
from vecbridge.protocol.fields import finite_reward, info_object, is_int, optional
from vecbridge.protocol.framing import Framing, detect_framing, make_framing
from vecbridge.protocol.limits import DEFAULT_MAX_FRAME, HELLO_MAX_FRAME
from vecbridge.protocol.messages import (
    GAME_MESSAGES,
    HOST_MESSAGES,
    PROTOCOL_VERSION,
    Message,
    decode_message,
    encode_message,
    finish_message,
    read_header,
    resolve_raw,
)
from vecbridge.protocol.pixels import LeafPath, PixelFormat, convert_leaves, leaf_formats, render_format
from vecbridge.protocol.spaces import space_from_json, space_to_json
from vecbridge.protocol.values import decode_value, describe_value, encode_value

# ---------------------------------------------------------------- events


@dataclass
class Hello:
    instance: int
    name: str
    observation_space: spaces.Space
    action_space: spaces.Space
    metadata: dict[str, Any]
    raw: dict[str, Any]
    pixels: dict[LeafPath, PixelFormat] = field(default_factory=dict)  # image leaves sent in a pixel format


@dataclass
class ResetResult:
    observation: Any
    info: dict[str, Any]


@dataclass
class StepResult:
    observation: Any
    reward: float
    terminated: bool
    truncated: bool
    info: dict[str, Any]


@dataclass
class RenderResult:
    frame: np.ndarray | None


@dataclass
class CallResult:
    value: Any


@dataclass
class GameErrorReply:
    request: str
    message: str
    traceback: str


@dataclass
class Welcome:
    instance: int
    config: dict[str, Any]


@dataclass
class ResetRequest:
    seed: int | None
    options: dict[str, Any] | None


@dataclass
class StepRequest:
    action: Any


@dataclass
class RenderRequest:
    pass


@dataclass
class CallRequest:
    name: str
    args: list[Any] = field(default_factory=list)
    kwargs: dict[str, Any] = field(default_factory=dict)


@dataclass
class CloseRequest:
    pass


class State(enum.Enum):
    AWAIT_HELLO = "awaiting hello"
    GREETING = "owing the welcome"
    IDLE = "idle"
    AWAIT_REPLY = "awaiting reply"
    AWAIT_WELCOME = "awaiting welcome"
    AWAIT_REQUEST = "awaiting request"
    REPLYING = "replying"
    CLOSED = "closed"


_ANY_GAME_MESSAGE = {type_: () for type_ in GAME_MESSAGES}  # fields are checked after the token


class Endpoint:
    """What both ends share: the framing (detected from the peer's first bytes on the host) and the send queue."""

    incoming: dict[str, tuple[str, ...]] = {}

    def __init__(self, framing: str = "auto", max_frame_size: int = DEFAULT_MAX_FRAME, first_frame_size: int | None = None) -> None:
        self.max_frame_size = max_frame_size
        # the limit of the frames read now (the host reads a small hello first; see limits.py)
        self.frame_limit = max_frame_size if first_frame_size is None else min(first_frame_size, max_frame_size)
        self.framing: Framing | None = None if framing == "auto" else make_framing(framing, self.frame_limit)
        self._prefix = b""

    @property
    def framing_name(self) -> str | None:
        return self.framing.name if self.framing else None

    def receive_data(self, data: bytes) -> None:
        if self.framing is None:
            self._prefix += data
            name = detect_framing(self._prefix)
            if name is None:
                return
            self.framing = make_framing(name, self.frame_limit)
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
        self.hello = Hello(instance, name, obs_space, act_space, metadata, f, pixels)
        self.state = State.GREETING
        self.frame_limit = self.max_frame_size  # a trusted game from now on
        if self.framing is not None:
            self.framing.max_size = self.max_frame_size
        return self.hello

    def _result(self, request: str, f: dict[str, Any]):
        assert self.hello is not None
        if request == "reset":
            return ResetResult(self._observation(f["observation"], "reset observation"), info_object(f.get("info"), request))
        if request == "step":
            reward, term, trunc = finite_reward(f["reward"]), f["terminated"], f["truncated"]
            if not isinstance(term, bool) or not isinstance(trunc, bool):
                raise MalformedMessage(
                    f"step_result 'terminated' and 'truncated' must be true/false, got {term!r} and {trunc!r}"
                )
            obs = self._observation(f["observation"], "step observation")
            return StepResult(obs, reward, term, trunc, info_object(f.get("info"), request))
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

    def _observation(self, value: Any, what: str) -> Any:
        pixels = self.hello.pixels
        if pixels:  # image leaves in the game's pixel format: to RGB, once, here
            value = convert_leaves(value, pixels, what)
        return decode_value(self.hello.observation_space, value, what)


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
                raise MalformedMessage(f"the welcome's 'instance' must be an integer, got {describe_value(f['instance'])}")
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

    def send_reset_result(self, observation: Any, info: dict[str, Any] | None = None) -> bytes:
        return self._reply("reset", "reset_result", {"observation": observation, "info": info or {}})

    def send_step_result(self, observation: Any, reward: float, terminated: bool, truncated: bool, info=None) -> bytes:
        key = None if info or self._step_results is None else self._step_results.key(observation, reward, terminated, truncated)
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
