"""vecbridge.vector.staging: a group's raw frames become shared-buffer rows one batch at a time
(sans-I/O: the pipeline against its own reference, episode starts and SAME_STEP final frames)."""

from __future__ import annotations

import numpy as np
import pytest
from gymnasium import spaces

from vecbridge.transforms import Pipeline, PreprocessError
from vecbridge.vector.driver import Completion
from vecbridge.vector.staging import Staging

RAW = spaces.Box(0, 255, (6, 4, 3), np.uint8)


def frame(v: int) -> np.ndarray:
    return np.full((6, 4, 3), v, np.uint8)


def staging(spec: str = "gray,stack=2", ids=(1, 3)):
    out = np.zeros((4, 6, 4, 2), np.uint8)  # rows of every instance of the run; this group owns 1 and 3
    return Staging(Pipeline.parse(spec), RAW, ids, out), out, Pipeline.parse(spec)


def test_a_batch_is_preprocessed_into_its_rows_only():
    st, out, ref = staging()
    st.put(1, frame(10), True)
    st.put(3, frame(20), True)
    st.flush(Completion(ids=[1, 3]))
    want = ref(np.stack([frame(10), frame(20)]), [1, 3], True)
    np.testing.assert_array_equal(out[[1, 3]], want)
    assert not out[[0, 2]].any()
    # the next batch: only instance 3 answered; 1's row stays, 3's stack moves on
    st.put(3, frame(30), False)
    st.flush(Completion(ids=[3]))
    np.testing.assert_array_equal(out[1], want[0])
    assert out[3][0, 0].tolist() == [20, 30]  # gray of a flat frame is its value; the stack: previous, newest


@pytest.mark.parametrize("order", [(1, 3, 5), (5, 3, 1), (1, 5)])
def test_batches_in_order_out_of_order_and_with_gaps_give_the_reference_rows(order):
    # in order, the group's staged rows are handed over as a view (no copy); otherwise indexed
    out = np.zeros((6, 6, 4, 2), np.uint8)
    st, ref = Staging(Pipeline.parse("gray,stack=2"), RAW, (1, 3, 5), out), Pipeline.parse("gray,stack=2")
    for step in range(2):
        for i in order:
            st.put(i, frame(10 * i + step), step == 0)
        st.flush(Completion(ids=list(order)))
        want = ref(np.stack([frame(10 * i + step) for i in order]), list(order), step == 0)
        np.testing.assert_array_equal(out[list(order)], want)
        staged = {i: st._frames[st._slot[i]] for i in order}
        assert all((staged[i] == 10 * i + step).all() for i in order)  # the pipeline wrote nothing back


def test_same_step_final_frames_end_the_old_episode_before_the_new_first_frame():
    st, out, _ = staging()
    st.put(1, frame(10), True)
    st.flush(Completion(ids=[1]))
    info = {"final_obs": frame(11), "final_info": {}}
    st.put(1, frame(50), True)  # the autoreset's first frame
    completion = Completion(ids=[1], infos={1: info})
    st.flush(completion)
    assert completion.infos[1]["final_obs"][0, 0].tolist() == [10, 11]  # the old episode's stack
    assert out[1][0, 0].tolist() == [50, 50]  # the new episode starts its own


def test_nothing_staged_leaves_the_rows_as_they_are():
    st, out, _ = staging()
    out[1] = 7
    st.flush(Completion(ids=[1]))  # e.g. a failed step whose observation is kept
    assert (out[1] == 7).all()


def test_a_pipeline_that_does_not_fit_the_frames_is_refused_at_once():
    with pytest.raises(PreprocessError):
        Staging(Pipeline.parse("gray"), spaces.Box(0, 1, (5,), np.float32), [0], np.zeros((1, 5)))
