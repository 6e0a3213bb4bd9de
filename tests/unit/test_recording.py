"""What ``vecbridge eval`` keeps of an episode: streamed frames, a capped GIF, the policy view."""

from __future__ import annotations

import imageio.v2 as imageio
import numpy as np
import pytest
from PIL import Image

from vecbridge.sb3.recording import EpisodeRecorder, _Spread


def test_spread_keeps_an_even_sample_of_a_sequence_of_unknown_length():
    spread = _Spread(8)
    for k in range(100):
        spread.add(k)
    assert len(spread.items) <= 8 and spread.items[0] == 0
    steps = np.diff(spread.items)
    assert (steps == steps[0]).all() and spread.items[-1] >= 100 - steps[0]


def test_recorder_writes_the_video_frames_and_the_policy_view(tmp_path):
    recorder = EpisodeRecorder(video=tmp_path / "ep.mp4", frames_dir=tmp_path / "f", policy_view=tmp_path / "v.png",
                               frame_channels=1, channels_first=True)  # fmt: skip
    for t in range(30):
        recorder.add(np.full((30, 40, 3), 8 * t, np.uint8), np.full((4, 21, 21), t, np.uint8))
    saved = recorder.close()
    assert tmp_path / "ep.mp4" in saved and tmp_path / "v.png" in saved
    assert len(imageio.mimread(tmp_path / "ep.mp4")) == 30 and len(list((tmp_path / "f").glob("*.png"))) == 30
    with Image.open(tmp_path / "v.png") as image:
        assert image.size == (2 + 4 * (168 + 2), 2 + 8 * (168 + 2))  # 4 stacked frames, 8 moments, 21 px at 8x


def test_a_gif_keeps_its_first_frames(tmp_path, capsys):
    recorder = EpisodeRecorder(video=tmp_path / "ep.gif", max_gif_frames=5)
    for t in range(12):
        recorder.add(np.full((8, 8, 3), t, np.uint8), None)
    recorder.close()
    with Image.open(tmp_path / "ep.gif") as image:
        assert image.n_frames == 5
    assert "the first 5 of 12 frames" in capsys.readouterr().err


def test_no_frames_at_all_is_an_error_that_says_why(tmp_path):
    recorder = EpisodeRecorder(video=tmp_path / "ep.mp4")
    recorder.add(None, None)
    with pytest.raises(SystemExit, match="no frames to write"):
        recorder.close()


def test_a_policy_view_of_vector_observations_is_refused(tmp_path):
    recorder = EpisodeRecorder(policy_view=tmp_path / "v.png")
    recorder.add(None, np.zeros(4, np.float32))
    with pytest.raises(SystemExit, match="needs image observations"):
        recorder.close()


@pytest.mark.parametrize("suffix", [".mp4", ".webm", ".mkv"])
def test_every_movie_suffix_eval_offers_is_written(tmp_path, suffix):
    from vecbridge.sb3.evaluate import VIDEO_SUFFIXES
    from vecbridge.transforms.views import VideoWriter

    assert suffix in VIDEO_SUFFIXES
    writer = VideoWriter(tmp_path / f"ep{suffix}", fps=30)  # (.webm used to fail: ffmpeg was asked for H.264)
    for t in range(12):
        writer.append(np.full((31, 41, 3), 20 * t, np.uint8))
    frames = imageio.mimread(writer.close())
    assert len(frames) == 12 and frames[0].shape[:2] == (32, 42)  # padded to even sides
