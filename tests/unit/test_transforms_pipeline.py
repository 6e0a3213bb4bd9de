"""The pipeline: its spec, its spaces, and the batch call an instance group makes."""

from __future__ import annotations

import pickle

import numpy as np
import pytest
from gymnasium import spaces

from vecbridge.transforms import Crop, FrameStack, Grayscale, MaxPool, Pipeline, PreprocessError, Resize

NES = spaces.Box(0, 255, (240, 256, 3), np.uint8)


def screens(k: int, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, size=(k, 240, 256, 3), dtype=np.uint8)


def test_the_spec_reads_back_as_it_was_written():
    spec = "crop=256x224+0+8,gray,resize=84x84,maxpool,stack=4"
    pipeline = Pipeline.parse(spec)
    assert [type(s) for s in pipeline.steps] == [Crop, Grayscale, Resize, MaxPool, FrameStack]
    assert str(pipeline) == spec
    assert Pipeline.parse(str(pipeline)) == pipeline


def test_spec_variants_and_their_canonical_form():
    assert str(Pipeline.parse(" grayscale , resize=84 ,stack=4:zero")) == "gray,resize=84x84,stack=4:zero"
    assert str(Pipeline.parse("resize=64x48:nearest,crop=10x10")) == "resize=64x48:nearest,crop=10x10+0+0"
    assert not Pipeline.parse("none") and not Pipeline.parse("") and str(Pipeline()) == "none"
    # names are read in any case, as the step names were (resize=84x84:AREA used to be refused)
    assert str(Pipeline.parse("GRAY,Resize=84X84:AREA,stack=4:ZERO,crop=8X8")) == "gray,resize=84x84,stack=4:zero,crop=8x8+0+0"


def test_python_lists_of_objects_or_strings():
    objects = Pipeline.of([Grayscale(), Resize(84, 84), FrameStack(4)])
    assert objects == Pipeline.of(["gray", "resize=84x84", "stack=4"]) == Pipeline.of("gray,resize=84x84,stack=4")
    assert Pipeline.of(MaxPool()).steps == [MaxPool()]
    assert not Pipeline.of(None)


@pytest.mark.parametrize("spec, message", [
    ("gray,blur", "unknown preprocessing step 'blur'; the steps are: gray, crop="),
    ("resize=84by84", "expected a size WIDTHxHEIGHT"),
    ("crop=1:2:3:4", r"expected crop=WIDTHxHEIGHT\+X\+Y"),
    ("stack", "expected stack=N"),
    ("maxpool=2", "maxpool takes no value"),
    ("resize=100000x100000", "resize: at most 4096 pixels a side; got 100000x100000"),  # (a bare MemoryError later)
    ("stack=100000", "stack: at most 256 frames; got 100000"),
])  # fmt: skip
def test_bad_specs_say_what_was_expected(spec, message):
    with pytest.raises(PreprocessError, match=message):
        Pipeline.parse(spec)


def test_observation_space_declares_the_result():
    pipeline = Pipeline.parse("crop=256x224+0+8,gray,resize=84x84,maxpool,stack=4")
    assert pipeline.observation_space(NES) == spaces.Box(0, 255, (84, 84, 4), np.uint8)
    assert pipeline.shapes((240, 256, 3)) == [(240, 256, 3), (224, 256, 3), (224, 256, 1), (84, 84, 1), (84, 84, 1),
                                              (84, 84, 4)]  # fmt: skip
    assert pipeline.frame_channels(NES) == 1
    assert Pipeline.parse("resize=84,stack=2").frame_channels(NES) == 3
    empty = Pipeline()
    assert empty.observation_space(spaces.Discrete(3)) == spaces.Discrete(3)  # nothing to do: any space


def test_a_space_that_is_no_image_is_refused():
    with pytest.raises(PreprocessError, match=r"Box uint8 of shape \(height, width, channels\); got Box"):
        Pipeline.parse("gray").observation_space(spaces.Box(0, 1, (4,), np.float32))
    with pytest.raises(PreprocessError, match="got Box"):
        Pipeline.parse("resize=8").observation_space(spaces.Box(0, 255, (4, 4), np.uint8))


def test_frames_of_another_shape_than_declared_name_the_instances():
    pipeline = Pipeline.parse("gray,resize=84x84")
    pipeline.observation_space(NES)
    with pytest.raises(PreprocessError, match=r"instances \[4, 6\]: expected frames of shape \[240, 256, 3\]"):
        pipeline(np.zeros((2, 224, 256, 3), np.uint8), [4, 6], True)
    with pytest.raises(PreprocessError, match="once per batch"):
        pipeline(screens(2), [1, 1], True)
    with pytest.raises(PreprocessError, match="expected uint8 frames"):
        pipeline(screens(2).astype(np.float32), [0, 1], True)


def test_write_puts_each_result_in_its_instances_row():
    frames = screens(3, seed=1)
    reference = Pipeline.parse("gray,resize=84x84,stack=2")(frames, [0, 1, 2], True)
    for ids in ([5, 6, 7], [7, 2, 5]):  # a contiguous slice (no scatter) and scattered rows
        pipeline = Pipeline.parse("gray,resize=84x84,stack=2")
        buffer = np.full((8, 84, 84, 2), 99, np.uint8)
        pipeline.write(frames, ids, True, buffer)
        for j, i in enumerate(ids):
            assert np.array_equal(buffer[i], reference[j])
        untouched = sorted(set(range(8)) - set(ids))
        assert (buffer[untouched] == 99).all()


def test_the_empty_pipeline_copies():
    frames = screens(2)
    assert np.array_equal(Pipeline()(frames, [0, 1], True), frames)


def test_a_pickled_pipeline_starts_with_no_memory():
    pipeline = Pipeline.parse("stack=2")
    small = np.ones((1, 2, 2, 1), np.uint8)
    pipeline(small, [0], True)
    copy = pickle.loads(pickle.dumps(pipeline))
    assert copy == pipeline
    out = copy(small * 5, [0], False)  # no memory of instance 0: a new episode
    assert out[0, 0, 0].tolist() == [5, 5]
    assert pipeline(small * 5, [0], False)[0, 0, 0].tolist() == [1, 5]
