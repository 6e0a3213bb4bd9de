"""Grayscale, crop and resize (OpenCV) against numpy and Pillow references on known frames."""

from __future__ import annotations

import numpy as np
import pytest
from gymnasium import spaces
from PIL import Image

from vecbridge.transforms import Crop, Grayscale, Pipeline, PreprocessError, Resize



def run(step, frames: np.ndarray) -> np.ndarray:
    ids = np.arange(len(frames))
    out = np.full((len(frames), *step.output_shape(frames.shape[1:])), 77, dtype=np.uint8)
    step.apply(frames, ids, np.ones(len(frames), bool), out)
    return out


def screens(k: int, h: int = 240, w: int = 256, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, size=(k, h, w, 3), dtype=np.uint8)


def area_reference(img: np.ndarray, out_w: int, out_h: int) -> np.ndarray:
    """Area interpolation from its definition: each output pixel is the mean of the input area
    it covers, partly covered pixels weighted by the covered fraction (float64)."""

    def weights(n_in: int, n_out: int) -> np.ndarray:
        scale = n_in / n_out
        lo = np.arange(n_out)[:, None] * scale
        y = np.arange(n_in)[None, :]
        return np.clip(np.minimum(lo + scale, y + 1) - np.maximum(lo, y), 0, None) / scale

    wy, wx = weights(img.shape[0], out_h), weights(img.shape[1], out_w)
    return np.einsum("yi,ijc,xj->yxc", wy, img.astype(np.float64), wx, optimize=True)


# ---------------------------------------------------------------- grayscale
def test_gray_keeps_a_channel_axis_and_matches_the_itu_601_weights():
    frames = screens(3)
    out = run(Grayscale(), frames)
    assert out.shape == (3, 240, 256, 1) and out.dtype == np.uint8
    exact = frames.astype(np.float64) @ np.array([0.299, 0.587, 0.114])
    # OpenCV rounds a fixed-point sum: within a hair of half a level of the exact value, and
    # nearly always the exact value rounded (truncating instead would fail both)
    assert np.abs(out[..., 0] - exact).max() < 0.51
    assert (out[..., 0] == np.rint(exact)).mean() > 0.99


def test_gray_of_known_colours():
    colours = np.array([[0, 0, 0], [255, 255, 255], [255, 0, 0], [0, 255, 0], [0, 0, 255], [100, 100, 100]], np.uint8)
    frames = np.broadcast_to(colours[:, None, None, :], (6, 2, 2, 3)).copy()
    out = run(Grayscale(), frames)[:, 0, 0, 0]
    assert out.tolist() == [0, 255, 76, 150, 29, 100]  # round(255 * 0.299), round(255 * 0.587), round(255 * 0.114)


def test_gray_agrees_with_pillow_within_one_level():
    frames = screens(2, seed=1)
    out = run(Grayscale(), frames)[..., 0]
    for j in range(2):
        pil = np.asarray(Image.fromarray(frames[j]).convert("L"))
        assert np.abs(out[j].astype(int) - pil).max() <= 1


def test_gray_takes_rgba_and_ignores_alpha():
    rgb = screens(1, 4, 4)
    rgba = np.concatenate([rgb, np.full((1, 4, 4, 1), 9, np.uint8)], axis=-1)
    assert np.array_equal(run(Grayscale(), rgba), run(Grayscale(), rgb))


def test_gray_refuses_frames_that_are_not_colour():
    with pytest.raises(PreprocessError, match="RGB or RGBA"):
        Grayscale().observation_space(spaces.Box(0, 255, (84, 84, 1), np.uint8))


# ---------------------------------------------------------------- crop
def test_crop_keeps_the_rectangle_width_x_height_from_x_y():
    frames = screens(2)
    out = run(Crop(200, 100, x=16, y=8), frames)
    assert out.shape == (2, 100, 200, 3)
    assert np.array_equal(out, frames[:, 8:108, 16:216])


def test_crop_that_does_not_fit_says_so():
    with pytest.raises(PreprocessError, match=r"crop=256x224\+0\+20 does not fit in frames of 256x240"):
        Crop(256, 224, 0, 20).observation_space(spaces.Box(0, 255, (240, 256, 3), np.uint8))


# ---------------------------------------------------------------- resize
def test_area_resize_by_an_integer_factor_is_the_block_mean():
    small = screens(2, 84, 84, seed=2)
    big = np.repeat(np.repeat(small, 2, axis=1), 2, axis=2)  # every 2x2 block one colour: its mean is exact
    assert np.array_equal(run(Resize(84, 84), big), small)
    blocks = screens(1, 168, 168, seed=3)
    mean = blocks[0].reshape(84, 2, 84, 2, 3).astype(np.float64).mean(axis=(1, 3))
    assert np.abs(run(Resize(84), blocks)[0] - mean).max() <= 0.5 + 1e-6


def test_area_resize_of_a_nes_screen_matches_the_definition():
    frames = screens(2, seed=4)
    out = run(Resize(84, 84), frames)
    assert out.shape == (2, 84, 84, 3) and out.dtype == np.uint8
    for j in range(2):
        ref = area_reference(frames[j], 84, 84)
        assert np.abs(out[j].astype(np.float64) - ref).max() <= 1.0


def test_resize_is_width_by_height():
    out = run(Resize(64, 32), screens(1))
    assert out.shape == (1, 32, 64, 3)


def test_resize_of_one_channel_keeps_the_axis():
    gray = screens(2, seed=5)[..., :1].copy()
    out = run(Resize(84, 84), gray)
    assert out.shape == (2, 84, 84, 1)
    assert np.abs(out[1].astype(np.float64) - area_reference(gray[1], 84, 84)).max() <= 1.0


def test_nearest_resize_picks_pixels():
    small = screens(1, 21, 21, seed=6)
    big = np.repeat(np.repeat(small, 4, axis=1), 4, axis=2)
    assert np.array_equal(run(Resize(21, interpolation="nearest"), big), small)


def test_unknown_interpolation_is_refused():
    with pytest.raises(PreprocessError, match="unknown interpolation 'bicubic'"):
        Resize(84, 84, "bicubic")


# ---------------------------------------------------------------- together
def test_gray_resize_pipeline_equals_the_steps_one_after_another():
    frames = screens(4, seed=7)
    by_steps = run(Resize(84, 84), run(Grayscale(), frames))
    pipeline = Pipeline("gray,resize=84x84")
    assert np.array_equal(pipeline(frames, [3, 1, 0, 2], True), by_steps)


def test_a_crop_in_the_middle_of_a_pipeline_is_a_view_and_gives_the_same_result():
    frames = screens(2, seed=8)
    direct = Pipeline("crop=256x224+0+8,gray,resize=84x84")(frames, [0, 1], True)
    copied = run(Resize(84, 84), run(Grayscale(), frames[:, 8:232].copy()))
    assert np.array_equal(direct, copied)
