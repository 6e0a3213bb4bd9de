"""The exceptions vecbridge raises.

Everything derives from :class:`VecBridgeError`, so ``except VecBridgeError``
catches any failure of the bridge while leaving bugs in user code alone::

    VecBridgeError
    ├── ProtocolError            the peer broke the wire protocol (docs/protocol.md)
    │   ├── FramingError         the byte stream cannot be cut into frames
    │   │   ├── TruncatedFrame   the stream ended inside a frame
    │   │   ├── FrameTooLarge    a length prefix above the configured maximum
    │   │   └── MalformedFrame   bytes that are not a frame of this framing
    │   ├── MalformedMessage     a frame whose payload is not a valid message
    │   ├── UnknownMessageType   a message ``type`` the protocol does not define
    │   ├── UnexpectedMessage    a valid message at the wrong moment
    │   ├── ArrayMismatch        an array with the wrong dtype, shape or byte size
    │   ├── VersionMismatch      the game speaks another protocol version
    │   └── BadToken             the hello carried the wrong per-run secret
    ├── SpaceError               a space description or type string is invalid
    ├── InvalidAction            an action that does not fit the action space
    ├── GameError                the game answered a request with an error
    ├── LaunchError              an instance failed to start; ``stage`` says where
    ├── GameOptionError          a game option the game does not read, or a value it cannot take (also ValueError)
    ├── UsageError               a setting of the user's cannot work (also SystemExit, its code the message)
    ├── UnsafeFolder             a folder to launch in is not yours alone (also PermissionError)
    ├── FolderInUse              a run folder another vecbridge run is using
    ├── ConnectionClosed         the game closed its connection (also ConnectionError)
    ├── InstanceTimeout          an instance did not answer in time (also TimeoutError)
    ├── RestartBudgetExceeded    an instance kept failing and its restart budget is spent
    ├── WorkerError              a vecbridge worker process died or failed
    └── StateError               a call out of order (step_wait before step_async, use after close)

Errors raised inside worker processes travel to the parent intact: every
exception here pickles with its attributes.
"""

from __future__ import annotations

from typing import Any


class VecBridgeError(Exception):
    """Base class of every error vecbridge raises."""

    def __init__(self, message: str = "", **attrs: Any) -> None:
        super().__init__(message)
        self.__dict__.update(attrs)

    def __reduce__(self):  # keep attributes across process boundaries
        return (_rebuild, (type(self), str(self), dict(self.__dict__)))


def _rebuild(cls: type, message: str, attrs: dict[str, Any]) -> VecBridgeError:
    return cls(message, **attrs)


class ProtocolError(VecBridgeError):
    """The peer sent bytes that break the wire protocol."""


class FramingError(ProtocolError):
    """The byte stream cannot be cut into frames."""


class TruncatedFrame(FramingError):
    """The stream ended (or the payload ran out) in the middle of a frame."""


class FrameTooLarge(FramingError):
    """A frame announced a length above the configured maximum."""


class MalformedFrame(FramingError):
    """Bytes that are not a frame of the expected framing."""


class MalformedMessage(ProtocolError):
    """A frame whose payload is not a valid message (bad header, bad JSON, missing field)."""


class UnknownMessageType(ProtocolError):
    """A message whose ``type`` the protocol does not define."""


class UnexpectedMessage(ProtocolError):
    """A valid message that is not allowed in the connection's current state."""


class ArrayMismatch(ProtocolError):
    """An array whose dtype, shape or byte size differs from what was declared."""


class VersionMismatch(ProtocolError):
    """The game speaks a protocol version this vecbridge does not."""


class BadToken(ProtocolError):
    """The hello carried a token other than this run's secret."""


class SpaceError(VecBridgeError):
    """A space description or gym-bizhawk type string is invalid."""


class InvalidAction(VecBridgeError, ValueError):
    """An action that does not fit the action space."""


class GameError(VecBridgeError):
    """The game replied to a request with an error message.

    Attributes: ``instance`` (int), ``request`` (str), ``remote_traceback`` (str).
    """


class LaunchError(VecBridgeError):
    """An instance failed to start.

    Attributes: ``instance`` (int), ``stage`` (one of ``spawned``, ``connected``,
    ``handshake``, ``first observation``), ``log_path`` (str) and ``log_tail`` (str).
    """


class UsageError(VecBridgeError, SystemExit):
    """A setting the user gave cannot work (a flag, a config file, a model path, a game name):
    raised by ``vecbridge.sb3``'s ``train``/``evaluate`` and the commands' helpers, with a
    one-line message naming the setting and the fix.

    It is a :class:`VecBridgeError` (so ``except Exception`` catches it in a script or a
    notebook) and a ``SystemExit`` whose ``code`` is the message (so a command, or a script
    that does not catch it, ends with that one line and status 1, as before).
    """

    def __init__(self, message: str = "", **attrs: Any) -> None:
        super().__init__(message, **attrs)
        self.code = message


class GameOptionError(VecBridgeError, ValueError):
    """A game option the game does not read, or a value it cannot take (games whose LaunchSpec
    names its ``known_options``)."""


class UnsafeFolder(VecBridgeError, PermissionError):
    """A folder vecbridge would launch games in is not yours alone: another user's, a symbolic
    link, or not a folder. Attribute: ``path``."""


class FolderInUse(VecBridgeError):
    """A run folder another vecbridge run is using (its runs would mix their logs, instance
    folders, progress rows and models). Attribute: ``path``."""


class ConnectionClosed(VecBridgeError, ConnectionError):
    """The game closed its connection (it exited or crashed)."""


class InstanceTimeout(VecBridgeError, TimeoutError):
    """An instance (or a worker) did not answer within the timeout."""


class RestartBudgetExceeded(VecBridgeError):
    """An instance kept failing and its restart budget is spent.

    Attributes: ``instance``, ``log_path``, ``last_error``.
    """


class WorkerError(VecBridgeError):
    """A vecbridge worker process died or raised."""


class StateError(VecBridgeError):
    """A call made in the wrong state, e.g. ``step_wait`` without ``step_async``."""
