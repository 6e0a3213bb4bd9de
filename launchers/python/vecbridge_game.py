"""The Python game client: serve any ``gymnasium.Env`` (or env factory) to vecbridge.

A game process started by vecbridge calls::

    from vecbridge.game import serve
    serve(MyGameEnv)          # a class or factory: called with the game options
    serve(gymnasium.make("CartPole-v1"))   # or an env instance

An env whose frames come in another pixel layout (an emulator's XRGB8888 words, a PNG)
passes ``pixel_format="bgrx"`` (rgbx, xrgb, palette with ``palette=[[r, g, b], ...]``, png):
its observation space stays the RGB ``uint8`` Box ``[H, W, 3]`` the user gets, while
``reset``/``step`` return the wire bytes (``uint8 [H, W, 4]``, ``[H, W]`` indices, or the PNG
file as ``uint8 [N]`` or a ``vecbridge.protocol.messages.RawFrame``); vecbridge converts them.

It reads ``VECBRIDGE_SOCKET`` or ``VECBRIDGE_HOST/PORT``, and ``VECBRIDGE_INSTANCE/TOKEN/CONFIG``
(docs/protocol.md, section 1), connects, says hello with the env's spaces, and answers reset/step/render/call
until vecbridge sends ``close`` or the connection ends. Exceptions raised by the
env are sent back as ``error`` replies with their traceback; the game keeps serving.
"""

from __future__ import annotations

import difflib
import json
import os
import socket
import traceback
from typing import Any, Callable

import numpy as np

from vecbridge.errors import ConnectionClosed, ProtocolError
from vecbridge.launch.options import keyword_options
from vecbridge.protocol.masks import check_mask, mask_size
from vecbridge.protocol.messages import RawFrame
from vecbridge.protocol.pixels import check_wire, format_of
from vecbridge.protocol.spaces import space_to_json
from vecbridge.protocol.connection import (
    CallRequest,
    CloseRequest,
    GameConnection,
    RenderRequest,
    ResetRequest,
    StepRequest,
)
from vecbridge.protocol.values import encode_value
from vecbridge.transport import read_event, send_all

EnvOrFactory = Any  # a gymnasium.Env, or a callable(**config) -> gymnasium.Env


def game_config() -> dict[str, Any]:
    """The game options vecbridge passed at launch (``VECBRIDGE_CONFIG``)."""
    return json.loads(os.environ.get("VECBRIDGE_CONFIG") or "{}")


def construct(factory: Callable[..., Any], config: dict[str, Any]) -> Any:
    """``factory(**config)``; options it does not take are a TypeError naming them and what it
    does take (Python's own says "unexpected keyword argument" and stops at the first)."""
    names = keyword_options(factory)  # None (no signature, or **kwargs): Python's own error, if any
    if names is not None:
        unknown = [k for k in config if k not in names]
        if unknown:
            hints = [f"{k!r} (did you mean {close[0]!r}?)" if (close := difflib.get_close_matches(k, names, 1)) else repr(k)
                     for k in unknown]  # fmt: skip
            what = getattr(factory, "__qualname__", repr(factory))
            raise TypeError(f"the game {what} takes no option {', '.join(hints)}; its options: "
                            f"{', '.join(names) or 'none'}")  # fmt: skip
    return factory(**config)


def _required(name: str) -> str:
    value = os.environ.get(name)
    if value is None:
        raise SystemExit(f"{name} is not set: this program is meant to be launched by vecbridge")
    return value


def connect() -> socket.socket:
    """The Unix-domain socket in ``VECBRIDGE_SOCKET`` if vecbridge offers one, else TCP to HOST:PORT."""
    path = os.environ.get("VECBRIDGE_SOCKET")
    if path:
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            sock.connect(path)
            return sock
        except OSError:
            sock.close()  # e.g. a game run in a container that cannot see the run folder: TCP still works
    host, port = os.environ.get("VECBRIDGE_HOST", "127.0.0.1"), int(_required("VECBRIDGE_PORT"))
    sock = socket.create_connection((host, port))
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    return sock


def serve(
    game: EnvOrFactory, *, framing: str = "binary", pixel_format: str | None = None, palette: list | None = None
) -> None:
    """Connect to vecbridge and serve ``game`` until closed (``pixel_format``: see the module's docstring)."""
    config = game_config()
    is_instance = hasattr(game, "step") and not isinstance(game, type)
    env = game if is_instance else construct(game, config)
    instance, token = int(_required("VECBRIDGE_INSTANCE")), _required("VECBRIDGE_TOKEN")
    conn = GameConnection(framing)
    metadata = {k: v for k, v in getattr(env, "metadata", {}).items() if k in ("render_modes", "render_fps")}
    if _mask_method(env) is not None:  # sb3-contrib's convention: the env's action_masks() (protocol.md, "Action masks")
        metadata["action_mask"] = True
    name = getattr(getattr(env, "spec", None), "id", None) or type(env).__name__
    obs_desc: Any = env.observation_space
    image = None
    if pixel_format not in (None, "rgb"):
        obs_desc = {**space_to_json(env.observation_space), "pixel_format": pixel_format}
        if palette is not None:
            obs_desc["palette"] = palette
        image = format_of(obs_desc)  # raises SpaceError for a misuse, before connecting
    sock = connect()
    send_all(sock, conn.send_hello(instance, token, obs_desc, env.action_space, name, metadata))
    try:
        read_event(sock, conn, None, "the welcome")
        _serve_requests(sock, conn, env, image)
    except ConnectionClosed:
        pass  # vecbridge went away: exit quietly
    except ProtocolError as exc:  # not vecbridge speaking: say what came, in the log vecbridge shows
        raise SystemExit(f"vecbridge game client: the host broke the protocol: {type(exc).__name__}: {exc}") from None
    finally:
        try:
            env.close()
        finally:
            sock.close()


def _mask_method(env: Any) -> Callable[[], Any] | None:
    for candidate in (env, getattr(env, "unwrapped", env)):
        method = getattr(candidate, "action_masks", None)
        if callable(method):
            return method
    return None


def _serve_requests(sock: socket.socket, conn: GameConnection, env: Any, image: Any = None) -> None:
    obs_space = env.observation_space
    method = _mask_method(env)
    size = None if method is None else mask_size(env.action_space)

    def mask() -> Any:
        return None if method is None else check_mask(np.asarray(method()), size, "the env's action_masks()")

    def wire(obs: Any) -> Any:
        if image is None:
            return encode_value(obs_space, obs)
        if not isinstance(obs, RawFrame):
            check_wire(image, obs)
        return obs

    while True:
        request = read_event(sock, conn, None, "a request")
        if isinstance(request, CloseRequest):
            return
        try:
            reply = _answer(conn, env, wire, mask, request)
        except Exception as exc:  # the env failed: report it, keep serving
            reply = conn.send_error(f"{type(exc).__name__}: {exc}", traceback.format_exc())
        send_all(sock, reply)


def _answer(conn: GameConnection, env: Any, wire: Callable[[Any], Any], mask: Callable[[], Any], request: Any) -> bytes:
    if isinstance(request, StepRequest):
        obs, reward, terminated, truncated, info = env.step(request.action)
        return conn.send_step_result(wire(obs), reward, terminated, truncated, info, mask())
    if isinstance(request, ResetRequest):
        obs, info = env.reset(seed=request.seed, options=request.options)
        return conn.send_reset_result(wire(obs), info, mask())
    if isinstance(request, RenderRequest):
        return conn.send_render_result(env.render())
    assert isinstance(request, CallRequest)
    result = _call(env, request.name, request.args, request.kwargs)
    try:
        return conn.send_call_result(result)
    except (TypeError, ValueError) as exc:  # e.g. get_attr("np_random"): a Generator has no wire form
        what = f"get_attr({request.args[0]!r})" if request.name == "__getattr__" and request.args else f"{request.name}()"
        raise TypeError(f"{what} gave {type(result).__name__}, which cannot be sent to vecbridge: results of "
                        f"call/get_attr must be JSON values (numbers, strings, lists, dicts), numpy arrays or "
                        f"None ({exc})") from None


def _call(env: Any, name: str, args: list[Any], kwargs: dict[str, Any]) -> Any:
    if name == "__getattr__":
        return getattr(env, args[0])
    if name == "__setattr__":
        setattr(env, args[0], args[1])
        return None
    attr: Callable[..., Any] | Any = getattr(env, name)
    return attr(*args, **kwargs) if callable(attr) else attr

