"""The two ends of one connection as state machines (sans-I/O), in one place to import from.

:class:`HostConnection` is vecbridge's end (vecbridge.protocol.host); :class:`GameConnection`
is the game's (vecbridge.protocol.game; the Python game client uses it). Both take received
bytes with ``receive_data``, give decoded events (vecbridge.protocol.events) from
``next_event``, and return the bytes to write from each ``send_*`` method. Requests and
replies alternate strictly: one request in flight.
"""

from vecbridge.protocol.endpoint import Endpoint
from vecbridge.protocol.events import (
    CallRequest,
    CallResult,
    CloseRequest,
    GameErrorReply,
    Hello,
    RenderRequest,
    RenderResult,
    ResetRequest,
    ResetResult,
    State,
    StepRequest,
    StepResult,
    Welcome,
)
from vecbridge.protocol.game import GameConnection
from vecbridge.protocol.host import HostConnection

__all__ = [
    "CallRequest", "CallResult", "CloseRequest", "Endpoint", "GameConnection", "GameErrorReply", "Hello",
    "HostConnection", "RenderRequest", "RenderResult", "ResetRequest", "ResetResult", "State", "StepRequest",
    "StepResult", "Welcome",
]  # fmt: skip
