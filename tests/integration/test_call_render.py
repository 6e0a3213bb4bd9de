"""``call("render")`` gives the frames ``render()`` gives, for games whose render() returns a pixel format.

FCEUX's processor, jsnes and the 2048 page return their frames in a pixel format (xrgb,
RGBA, ...) that only a render reply decodes; as a plain method call the user got the
wire dict (``{height, width, pixel_format, data}``). Real emulators and a real browser.
"""

from __future__ import annotations

import numpy as np
import pytest

import vecbridge

GAMES = [
    pytest.param("vecbridge/EscapeFromPong-v0", marks=pytest.mark.lua, id="fceux"),
    pytest.param("vecbridge/EscapeFromPongJS-v0", marks=pytest.mark.node, id="jsnes"),
    pytest.param("vecbridge/2048-v0", marks=pytest.mark.browser, id="2048-chromium"),
]


@pytest.mark.parametrize("game", GAMES)
def test_call_render_returns_the_decoded_frames_of_render(game):
    envs = vecbridge.make(game, num_envs=1, render_mode="rgb_array")
    try:
        envs.reset(seed=0)
        envs.step(np.zeros(1, dtype=np.int64))
        (frame,) = envs.render()
        assert isinstance(frame, np.ndarray) and frame.dtype == np.uint8 and frame.ndim == 3 and frame.shape[2] == 3
        assert frame.any()  # a real picture, not an empty one
        for how, called in (("call", envs.call("render")), ("call_at", envs.call_at([0], "render"))):
            assert isinstance(called[0], np.ndarray), f"{how}('render') gave {type(called[0]).__name__}, not a frame"
            np.testing.assert_array_equal(called[0], frame)  # the game state did not move: the same picture
    finally:
        envs.close()
