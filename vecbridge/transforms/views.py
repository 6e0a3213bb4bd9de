"""Frames for people: an episode as a video or PNGs, and a grid of what a policy sees.

The policy view takes the observations a policy was given (preprocessed, stacked) and
lays them out as a picture: one row per moment of the episode, one column per stacked
frame, oldest on the left. Pillow writes PNGs and GIFs; imageio (the ``video`` extra,
with imageio-ffmpeg) writes .mp4 and the other formats it knows.
"""

from __future__ import annotations

from pathlib import Path
from typing import Sequence

import numpy as np


def to_image(frame: np.ndarray) -> np.ndarray:
    """A frame as Pillow/imageio take it: uint8, (H, W) for one channel, (H, W, 3) for RGB."""
    frame = np.asarray(frame)
    if frame.dtype != np.uint8:
        frame = np.clip(frame, 0, 255).astype(np.uint8)
    if frame.ndim == 3 and frame.shape[-1] == 1:
        frame = frame[..., 0]
    return frame


def is_image(obs: np.ndarray) -> bool:
    """Whether an observation looks like a picture: uint8, 2 dimensions or 3 with 1, 3 or 4 channels."""
    obs = np.asarray(obs)
    return obs.dtype == np.uint8 and (obs.ndim == 2 or (obs.ndim == 3 and obs.shape[-1] in (1, 3, 4)))


def split_stack(obs: np.ndarray, frame_channels: int, channels_first: bool) -> list[np.ndarray]:
    """The frames of one stacked observation ((H, W, n*c) or (n*c, H, W)), oldest first, each (H, W, c)."""
    obs = np.asarray(obs)
    if obs.ndim != 3:
        raise ValueError(f"a stacked image observation has 3 dimensions, got shape {obs.shape}")
    if channels_first:
        obs = np.moveaxis(obs, 0, -1)
    total = obs.shape[-1]
    if frame_channels < 1 or total % frame_channels:
        raise ValueError(f"an observation with {total} channels is no stack of {frame_channels}-channel frames")
    return [obs[..., k : k + frame_channels] for k in range(0, total, frame_channels)]


def grid(rows: Sequence[Sequence[np.ndarray]], gap: int = 2, scale: int | None = None) -> np.ndarray:
    """Frames (each (H, W) or (H, W, 1|3), all one size) laid out in rows, on a mid-grey background.

    ``scale``: enlarge each frame by this integer factor (nearest pixel); default: enough
    for frames to be about 160 pixels high, so an 84x84 frame is readable.
    """
    rows = [[to_image(f) for f in row] for row in rows if len(row)]
    if not rows:
        raise ValueError("no frames to lay out")
    h, w = rows[0][0].shape[:2]
    scale = scale or max(1, round(160 / h))
    rgb = any(f.ndim == 3 for row in rows for f in row)
    cols = max(len(row) for row in rows)
    fh, fw = h * scale, w * scale
    shape = (len(rows) * (fh + gap) + gap, cols * (fw + gap) + gap) + ((3,) if rgb else ())
    canvas = np.full(shape, 128, dtype=np.uint8)
    for r, row in enumerate(rows):
        for c, frame in enumerate(row):
            if frame.shape[:2] != (h, w):
                raise ValueError(f"frames of one grid must have one size; got {frame.shape[:2]} and {(h, w)}")
            big = np.repeat(np.repeat(frame, scale, axis=0), scale, axis=1)
            if rgb and big.ndim == 2:
                big = np.repeat(big[..., None], 3, axis=2)
            y, x = gap + r * (fh + gap), gap + c * (fw + gap)
            canvas[y : y + fh, x : x + fw] = big[..., :3] if rgb else big
    return canvas


def policy_view(observations: Sequence[np.ndarray], frame_channels: int, channels_first: bool,
                max_rows: int = 8) -> np.ndarray:  # fmt: skip
    """A grid of what a policy saw: up to ``max_rows`` observations, evenly spread over
    ``observations`` (in order), one row each, its stacked frames as the columns."""
    if not observations:
        raise ValueError("no observations to show")
    picks = np.unique(np.linspace(0, len(observations) - 1, min(max_rows, len(observations))).round().astype(int))
    return grid([split_stack(observations[k], frame_channels, channels_first) for k in picks])


def save_image(image: np.ndarray, path: str | Path) -> Path:
    from PIL import Image

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(to_image(image)).save(path)
    return path


def save_frames(frames: Sequence[np.ndarray], folder: str | Path) -> list[Path]:
    """``frame_00000.png``, ... in ``folder``."""
    return [save_image(frame, Path(folder) / f"frame_{k:05d}.png") for k, frame in enumerate(frames)]


def save_video(frames: Sequence[np.ndarray], path: str | Path, fps: float = 30) -> Path:
    """A .gif (Pillow) or, where imageio is installed, any format imageio writes (.mp4 needs imageio-ffmpeg)."""
    path = Path(path)
    if not len(frames):
        raise ValueError("no frames to write")
    if path.suffix.lower() == ".gif":
        from PIL import Image

        path.parent.mkdir(parents=True, exist_ok=True)
        images = [Image.fromarray(to_image(f)) for f in frames]
        images[0].save(path, save_all=True, append_images=images[1:], duration=max(1, round(1000 / fps)), loop=0)
        return path
    writer = VideoWriter(path, fps)
    for frame in frames:
        writer.append(frame)
    return writer.close()


class VideoWriter:
    """Frames to a video file one at a time (imageio; .mp4 and the like through imageio-ffmpeg)."""

    MOVIES = (".mp4", ".mkv", ".mov", ".avi", ".webm", ".m4v")

    def __init__(self, path: str | Path, fps: float = 30) -> None:
        try:
            import imageio.v2 as imageio
        except ImportError:
            raise RuntimeError(f"writing {Path(path).suffix} needs imageio: pip install 'vecbridge[video]' (imageio, "
                               f"imageio-ffmpeg); or use a .gif name") from None  # fmt: skip
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.movie = self.path.suffix.lower() in self.MOVIES
        # macro_block_size=1: imageio would otherwise rescale frames to multiples of 16
        extra: dict = {"macro_block_size": 1, "ffmpeg_log_level": "error"} if self.movie else {}
        if self.path.suffix.lower() == ".webm":
            extra["codec"] = "libvpx-vp9"  # WebM holds VP8/VP9/AV1 only; imageio's default is H.264 (libx264)
        self._writer = imageio.get_writer(str(self.path), fps=fps, **extra)

    def append(self, frame: np.ndarray) -> None:
        image = to_image(frame)
        self._writer.append_data(_even(image) if self.movie else image)

    def close(self) -> Path:
        self._writer.close()
        return self.path


def _even(frame: np.ndarray) -> np.ndarray:
    """H.264 in yuv420p needs even sides: pad by one edge pixel rather than let ffmpeg rescale."""
    h, w = frame.shape[:2]
    pad = [(0, h % 2), (0, w % 2)] + [(0, 0)] * (frame.ndim - 2)
    return np.pad(frame, pad, mode="edge") if (h % 2 or w % 2) else frame
