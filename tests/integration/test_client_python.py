"""The Python game client (launchers/python/vecbridge_game.py) serving images in a pixel format, in a real process."""

from __future__ import annotations

import textwrap

import numpy as np
import pytest
from gymnasium import spaces

import vecbridge
from vecbridge import GameEnv

GAME = textwrap.dedent('''
    import io, sys
    import gymnasium as gym
    import numpy as np
    from PIL import Image
    from vecbridge.game import serve
    from vecbridge.protocol.messages import RawFrame

    FMT, FRAMING = sys.argv[1], sys.argv[2]

    def rgb(t):
        y, x = np.mgrid[0:4, 0:6]
        return np.stack([(y * 7 + x + t) % 256, (x * 9 + t) % 256, (y * x + 3 * t) % 256], -1).astype(np.uint8)

    def wire(t):
        img = rgb(t)
        if FMT == "bgrx":
            return np.concatenate([img[..., ::-1], np.full((4, 6, 1), 7, np.uint8)], -1)
        buf = io.BytesIO()
        Image.fromarray(img).save(buf, "PNG")
        return RawFrame(buf.getvalue()) if FMT == "png-raw" else np.frombuffer(buf.getvalue(), np.uint8)

    class Game(gym.Env):
        observation_space = gym.spaces.Box(0, 255, (4, 6, 3), np.uint8)
        action_space = gym.spaces.Discrete(2)

        def reset(self, *, seed=None, options=None):
            self.t = 0
            return wire(0), {}

        def step(self, action):
            self.t += 1 + int(action)
            return wire(self.t), 0.0, self.t > 20, False, {}

    serve(Game, framing=FRAMING, pixel_format=FMT.split("-")[0])
''')


def reference(t: int) -> np.ndarray:
    y, x = np.mgrid[0:4, 0:6]
    return np.stack([(y * 7 + x + t) % 256, (x * 9 + t) % 256, (y * x + 3 * t) % 256], -1).astype(np.uint8)


@pytest.mark.parametrize("fmt, framing", [("bgrx", "binary"), ("png", "binary"), ("png-raw", "binary"), ("png-raw", "comm")])
def test_python_client_pixel_formats(tmp_path, fmt, framing):
    script = tmp_path / "game.py"
    script.write_text(GAME)
    spec = vecbridge.LaunchSpec(command=["{python}", str(script), fmt, framing], startup_timeout=30)
    env = GameEnv(spec)
    try:
        assert env.observation_space == spaces.Box(0, 255, (4, 6, 3), np.uint8)
        np.testing.assert_array_equal(env.reset()[0], reference(0))
        for t, a in ((2, 1), (3, 0), (5, 1)):
            np.testing.assert_array_equal(env.step(a)[0], reference(t))
    finally:
        env.close()
