"""What ``vecbridge eval`` keeps of one episode: the game's frames and what the policy saw.

The game's frames (``--video``, ``--frames``) are its ``render()`` images, or, for a game
that does not render, its raw image observations; they are written as they come (PNGs,
and videos through imageio), so a long episode costs no memory. A GIF is assembled at
the end, so it keeps at most ``max_frames`` frames. The policy's view (``--policy-view``)
is a grid of the observations the policy was given, as :mod:`vecbridge.transforms.views`
draws them: a few moments of the episode, each with its stacked frames.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import numpy as np
from stable_baselines3.common.vec_env import VecEnvWrapper

from vecbridge.errors import UsageError
from vecbridge.transforms import views

#: at most this many frames go into a GIF (Pillow holds them all); other formats stream
MAX_GIF_FRAMES = 2000
#: observations kept for the policy view, evenly spread over the episode
VIEW_SAMPLES = 64


class ObservationTap(VecEnvWrapper):
    """Passes everything through and keeps the last observations (the game's, under the other wrappers)."""

    def __init__(self, venv: Any) -> None:
        super().__init__(venv)
        self.last: Any = None

    def reset(self) -> Any:
        self.last = self.venv.reset()
        return self.last

    def step_wait(self) -> Any:
        obs, rewards, dones, infos = self.venv.step_wait()
        self.last = obs
        return obs, rewards, dones, infos


class _Spread:
    """At most ``cap`` items of a sequence of unknown length, evenly spread: keep every k-th, doubling k as needed."""

    def __init__(self, cap: int) -> None:
        self.cap, self.stride, self.seen, self.items = cap, 1, 0, []

    def add(self, item: Any) -> None:
        if self.seen % self.stride == 0:
            self.items.append(item)
            if len(self.items) >= self.cap:
                self.items, self.stride = self.items[::2], self.stride * 2
        self.seen += 1


class EpisodeRecorder:
    """Instance 0's first episode as a video and/or PNGs, and a grid of what its policy saw.

    Args:
        video: a .gif, .mp4 (imageio-ffmpeg), ... file for the game's frames.
        frames_dir: a folder for the game's frames as PNGs.
        policy_view: a .png file for the grid of the policy's observations.
        frame_channels: channels of one frame in the policy's (stacked) observations.
        channels_first: whether those observations are (channels, height, width).
    """

    def __init__(self, *, video: str | Path | None = None, frames_dir: str | Path | None = None,
                 policy_view: str | Path | None = None, frame_channels: int = 1, channels_first: bool = True,
                 fps: float = 30.0, max_gif_frames: int = MAX_GIF_FRAMES) -> None:  # fmt: skip
        self.video = Path(video) if video else None
        self.frames_dir = Path(frames_dir) if frames_dir else None
        self.policy_view = Path(policy_view) if policy_view else None
        self.frame_channels, self.channels_first, self.fps = frame_channels, channels_first, fps
        self.max_gif_frames = max_gif_frames
        self.frame_count = 0
        self.saved: list[Path] = []
        self._gif: list[np.ndarray] = []
        self._writer: Any = None
        self._views = _Spread(VIEW_SAMPLES)
        self._no_frames = False

    @property
    def wants_game_frames(self) -> bool:
        return self.video is not None or self.frames_dir is not None

    def add(self, game_frame: np.ndarray | None, policy_obs: Any) -> None:
        """One step: the game's frame (None if it gave none) and the observation the policy acts on."""
        if self.wants_game_frames:
            if game_frame is None:
                self._no_frames = True
            else:
                self._add_frame(np.asarray(game_frame))
        if self.policy_view is not None and isinstance(policy_obs, np.ndarray):
            self._views.add(policy_obs.copy())

    def _add_frame(self, frame: np.ndarray) -> None:
        if self.frames_dir is not None:
            self.saved.append(views.save_image(frame, self.frames_dir / f"frame_{self.frame_count:05d}.png"))
        if self.video is not None:
            if self.video.suffix.lower() == ".gif":
                if len(self._gif) < self.max_gif_frames:
                    self._gif.append(frame.copy())
            else:
                if self._writer is None:
                    self._writer = views.VideoWriter(self.video, self.fps)
                self._writer.append(frame)
        self.frame_count += 1

    def close(self) -> list[Path]:
        """Write what is left (the GIF, the policy view); the files written, in order."""
        if self.wants_game_frames and self.frame_count == 0:
            raise UsageError("no frames to write: the game returned no render() image and its observations are "
                             "no image (it needs render_mode='rgb_array' and a render())")  # fmt: skip
        if self._no_frames:
            print("warning: the game stopped giving frames during the episode; the video is shorter", file=sys.stderr)
        if self._writer is not None:
            self.saved.append(self._writer.close())
        if self._gif:
            if self.frame_count > len(self._gif):
                print(f"note: the GIF holds the first {len(self._gif)} of {self.frame_count} frames "
                      f"(use .mp4 for the whole episode)", file=sys.stderr)  # fmt: skip
            self.saved.append(views.save_video(self._gif, self.video, fps=self.fps))
        if self.policy_view is not None:
            observations = self._views.items
            if not observations or not all(o.ndim == 3 and o.dtype == np.uint8 for o in observations):
                raise UsageError("--policy-view needs image observations (uint8, 3 dimensions); this policy sees "
                                 + (f"{observations[0].dtype} {observations[0].shape}" if observations else "none"))
            grid = views.policy_view(observations, self.frame_channels, self.channels_first)
            self.saved.append(views.save_image(grid, self.policy_view))
        return self.saved


def game_frame(env: Any, tap: ObservationTap | None, render: bool = True) -> np.ndarray | None:
    """Instance 0's frame now: its ``render()`` image (``render``: the env renders rgb_array),
    else its raw observation if that is an image."""
    image = env.get_images()[0] if render else None
    if image is None and tap is not None and isinstance(tap.last, np.ndarray) and views.is_image(tap.last[0]):
        image = tap.last[0]
    return image
