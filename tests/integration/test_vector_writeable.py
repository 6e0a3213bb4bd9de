"""Arrays the vector env hands out besides the batch are the user's own: writeable, with every driver.

Gymnasium's vector envs return writeable arrays; with ``num_workers=0`` the SAME_STEP
``info["final_obs"]``, ``render()`` frames and ``call`` results were read-only views of the
received frames ("assignment destination is read-only"). Real game processes: Catch and
EchoImage, the Python built-ins.
"""

from __future__ import annotations

import numpy as np
import pytest

import vecbridge

DRIVERS = pytest.mark.parametrize("num_workers", [0, 1], ids=["in-process", "worker"])


def _assert_writeable(array: np.ndarray, what: str) -> None:
    assert isinstance(array, np.ndarray) and array.flags.writeable, f"{what} is read-only"
    array[...] = 0  # the user may write into it


@DRIVERS
def test_final_obs_of_an_image_game_is_writeable(num_workers):
    envs = vecbridge.make("vecbridge/EchoImage-v0", num_envs=2, num_workers=num_workers, autoreset_mode="SameStep",
                          episode_length=2)  # fmt: skip
    try:
        envs.reset(seed=0)
        envs.step(np.zeros(2, dtype=np.int64))
        obs, _, terminated, _, info = envs.step(np.ones(2, dtype=np.int64))
        assert terminated.all() and obs[:, 0, 0, 0].tolist() == [0, 0]  # the new episodes' first frames
        for i in range(2):
            final = info["final_obs"][i]
            assert final.shape == (84, 84, 3) and final[0, 0, 0] == 2 and final[0, 1, 0] == 1  # the last step's frame
            _assert_writeable(final, f"final_obs[{i}]")
    finally:
        envs.close()


@DRIVERS
def test_render_frames_and_call_results_are_writeable(num_workers):
    envs = vecbridge.make("vecbridge/Catch-v0", num_envs=2, num_workers=num_workers, render_mode="rgb_array")
    try:
        envs.reset(seed=0)
        for i, frame in enumerate(envs.render()):
            assert frame.dtype == np.uint8 and frame.ndim == 3 and frame.any()
            _assert_writeable(frame, f"render()[{i}]")
        for i, frame in enumerate(envs.call("render")):
            _assert_writeable(frame, f"call('render')[{i}]")
    finally:
        envs.close()
