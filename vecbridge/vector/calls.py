"""Game-specific calls, attributes, action masks and render of a vector env (``call``,
``call_at``, ``get_attr``, ``set_attr``, ``action_masks``, ``render``).

A mixin of :class:`~vecbridge.vector.vector_env.BridgeVectorEnv`: each request goes through
its driver to the instances and waits for every answer, with the vector env's state and
timeout (one round trip for all instances; the first error is raised).
"""

from __future__ import annotations

from typing import Any, Sequence

import numpy as np

from vecbridge.errors import InstanceTimeout, StateError
from vecbridge.vector.driver import CallRequest, MethodCall, Render, SetAttr
from vecbridge.vector.state import State


class GameCalls:
    """The call side of a vector env; needs its ``_driver``, ``_buffers``, ``_require_idle``,
    ``_await_all``, ``_env_ids``, ``_all``, ``_in_flight``, ``_late_calls``, ``_failure``, ``_got``, ``_state``
    and ``timeout``."""

    def _call(self, what: str, ids: list[int], request: CallRequest) -> list[Any]:
        """Run ``request`` on ``ids``; their results, in ``ids`` order (the first error raised)."""
        self._require_idle(what)
        self._driver.call(ids, request)
        self._in_flight.update(ids)
        self._got = ({}, {})
        self._state = State.WAITING_CALL
        try:
            _, results = self._await_all(self.timeout, what)
        except InstanceTimeout as exc:
            if self._failure is None:  # this wait's deadline: the answers still come, to be collected and dropped
                self._late_calls.update(self._in_flight)
                exc.args = (f"{exc.args[0]}; their answers are waited for (and dropped) before the next request",)
            raise
        finally:
            self._state = State.DEFAULT
        for i in ids:
            if isinstance(results[i], BaseException):
                raise results[i]
        return [results[i] for i in ids]

    def _collect_late_calls(self) -> None:
        """Wait for the answers of calls that timed out (and drop them), so the instances are idle again."""
        if not self._late_calls:
            return
        self._state = State.WAITING_CALL
        try:
            self._await_all(self.timeout, "a call that timed out earlier")
        except InstanceTimeout as exc:
            exc.args = (f"{exc.args[0]} either; the next request waits for them again",)
            raise
        finally:
            self._state = State.DEFAULT
        self._late_calls.clear()

    def call(self, name: str, *args: Any, **kwargs: Any) -> tuple[Any, ...]:
        """Call the game-specific method ``name`` on every instance; a tuple of their results.

        ``call("render")`` gives the frames ``render()`` gives (RGB ``uint8 [H, W, 3]`` arrays)."""
        return self.call_at(self._all, name, *args, **kwargs)

    def call_at(self, env_ids: Sequence[int], name: str, *args: Any, **kwargs: Any) -> tuple[Any, ...]:
        """Call ``name`` on the instances ``env_ids`` only; their results, in that order."""
        ids = self._env_ids(env_ids).tolist()
        if name == "render" and not args and not kwargs:
            # as a render request: a game's render() may return its frame in a pixel format (FCEUX's xrgb,
            # a browser's RGBA, ...), which only a render reply has decoded into RGB
            return tuple(self._call("call", ids, Render()))
        return tuple(self._call("call", ids, MethodCall(name, args, kwargs)))

    def get_attr(self, name: str) -> tuple[Any, ...]:
        return self.call("__getattr__", name)

    def set_attr(self, name: str, values: list[Any] | tuple[Any, ...] | Any) -> None:
        if not isinstance(values, (list, tuple)):
            values = [values] * self.num_envs
        if len(values) != self.num_envs:
            raise ValueError(f"set_attr needs one value per instance ({self.num_envs}), got {len(values)}")
        self._call("setattr", self._all, SetAttr(name, dict(zip(self._all, values))))  # one round trip for all

    def action_masks(self) -> np.ndarray:
        """The actions each instance allows now: ``bool [num_envs, n]`` in sb3-contrib's MaskablePPO layout,
        sent by the games with their latest observations (docs/protocol.md, "Action masks").

        AttributeError for a game that declares no mask (what sb3-contrib takes as "masking not supported").
        """
        masks = self._buffers.action_masks if self._buffers is not None else None
        if masks is None:
            raise AttributeError(
                f"{self.game_name or 'this game'} sends no action mask: its hello's metadata declares no "
                f"'action_mask': true (docs/protocol.md, \"Action masks\")"
            )
        return masks.copy()

    def render(self) -> tuple[np.ndarray, ...] | None:
        if self.render_mode is None:
            if self.closed:  # as with a render_mode: a closed env says so
                raise StateError("this vector env is closed")
            return None
        return tuple(self._call("render", self._all, Render()))
