"""The events of a connection (sans-I/O): what each end's ``next_event`` returns, and the states.

The host (:class:`~vecbridge.protocol.host.HostConnection`) receives :class:`Hello` and the
results (:class:`ResetResult`, :class:`StepResult`, :class:`RenderResult`,
:class:`CallResult`, :class:`GameErrorReply`); the game
(:class:`~vecbridge.protocol.game.GameConnection`) receives :class:`Welcome` and the
requests. Both ends move through :class:`State`.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from gymnasium import spaces

from vecbridge.protocol.pixels import LeafPath, PixelFormat


@dataclass
class Hello:
    instance: int
    name: str
    observation_space: spaces.Space
    action_space: spaces.Space
    metadata: dict[str, Any]
    raw: dict[str, Any]
    pixels: dict[LeafPath, PixelFormat] = field(default_factory=dict)  # image leaves sent in a pixel format
    mask_size: int | None = None  # entries of the action mask every result carries (metadata.action_mask)


@dataclass
class ResetResult:
    observation: Any
    info: dict[str, Any]
    action_mask: np.ndarray | None = None


@dataclass
class StepResult:
    observation: Any
    reward: float
    terminated: bool
    truncated: bool
    info: dict[str, Any]
    action_mask: np.ndarray | None = None


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
