"""Pictures for people: stacks split into frames, grids, the policy view, videos read back."""

from __future__ import annotations

import imageio.v2 as imageio
import numpy as np
import pytest
from PIL import Image

from vecbridge.transforms import views


def stacked(values: list[int], c: int = 1, first: bool = False) -> np.ndarray:
    """One stacked observation (H=2, W=3) whose frame k is filled with values[k]."""
    obs = np.concatenate([np.full((2, 3, c), v, np.uint8) for v in values], axis=-1)
    return np.moveaxis(obs, -1, 0) if first else obs


@pytest.mark.parametrize("first", [False, True])
def test_split_stack_gives_frames_oldest_first(first):
    frames = views.split_stack(stacked([1, 2, 3, 4], first=first), 1, channels_first=first)
    assert [int(f[0, 0, 0]) for f in frames] == [1, 2, 3, 4] and frames[0].shape == (2, 3, 1)
    rgb = views.split_stack(stacked([5, 6], c=3, first=first), 3, channels_first=first)
    assert len(rgb) == 2 and rgb[1].shape == (2, 3, 3) and rgb[1].max() == 6


def test_split_stack_refuses_a_channel_count_that_is_no_stack():
    with pytest.raises(ValueError, match="no stack of 3-channel frames"):
        views.split_stack(stacked([1, 2, 3, 4]), 3, channels_first=False)


def test_grid_places_frames_in_rows_and_columns():
    a, b = np.full((2, 3), 10, np.uint8), np.full((2, 3), 200, np.uint8)
    image = views.grid([[a, b], [b]], gap=1, scale=1)
    assert image.shape == (1 + 2 * 3, 1 + 2 * 4)
    assert image[1, 1] == 10 and image[1, 5] == 200 and image[4, 1] == 200
    assert image[4, 5] == 128 and image[0, 0] == 128  # the background: an empty cell and the gaps


def test_grid_scales_small_frames_up_and_mixes_grey_with_colour():
    grey, colour = np.zeros((84, 84, 1), np.uint8), np.zeros((84, 84, 3), np.uint8)
    image = views.grid([[grey, colour]])
    assert image.shape == (2 + 168 + 2, 2 + 2 * (168 + 2), 3)


def test_policy_view_spreads_its_rows_over_the_episode():
    observations = [stacked([t, t + 1], first=True) for t in range(0, 200, 10)]  # 20 moments, stacks of 2
    image = views.policy_view(observations, frame_channels=1, channels_first=True, max_rows=4)
    scale = round(160 / 2)
    rows = (image.shape[0] - 2) // (2 * scale + 2)
    assert rows == 4
    first_pixels = [int(image[2 + r * (2 * scale + 2), 2]) for r in range(4)]
    assert first_pixels == [0, 60, 130, 190]  # moments 0, 6, 13, 19: the first and the last included


def test_videos_and_gifs_read_back(tmp_path):
    frames = [np.full((45, 61, 3), 20 * k, np.uint8) for k in range(8)]  # odd sides: padded for H.264
    mp4 = views.save_video(frames, tmp_path / "a.mp4", fps=10)
    back = imageio.mimread(mp4)
    assert len(back) == 8 and back[0].shape == (46, 62, 3)
    assert abs(int(back[5][20, 30, 0]) - 100) <= 3  # lossy, but the picture is there
    gif = views.save_video(frames, tmp_path / "a.gif", fps=10)
    with Image.open(gif) as image:
        assert image.n_frames == 8


def test_a_video_of_grey_frames(tmp_path):
    writer = views.VideoWriter(tmp_path / "g.mp4", fps=5)
    for k in range(4):
        writer.append(np.full((84, 84, 1), 60 * k, np.uint8))
    assert len(imageio.mimread(writer.close())) == 4


def test_save_frames_writes_numbered_pngs(tmp_path):
    paths = views.save_frames([np.zeros((4, 4, 3), np.uint8)] * 3, tmp_path / "f")
    assert [p.name for p in paths] == ["frame_00000.png", "frame_00001.png", "frame_00002.png"]
    assert views.is_image(np.asarray(Image.open(paths[0])))
