"""The small helpers ``vecbridge train`` and ``eval`` share: how many frames a model stacks, the folders a run made."""

from __future__ import annotations

import numpy as np
import pytest
from gymnasium import spaces

from vecbridge.sb3.common import frame_stack_for, frame_stack_of, refused_settings, remove_if_empty
from vecbridge.transforms import Pipeline


def test_frame_stack_of_a_model_counts_the_game_frames_in_its_channels():
    game = spaces.Box(0, 255, (84, 84, 1), np.uint8)
    assert frame_stack_of(spaces.Box(0, 255, (4, 84, 84), np.uint8), game) == 4
    assert frame_stack_of(spaces.Box(0, 255, (3, 84, 84), np.uint8), spaces.Box(0, 255, (84, 84, 3), np.uint8)) == 1
    assert frame_stack_of(spaces.Box(0, 1, (3,), np.float32), spaces.Box(0, 1, (4,), np.float32)) == 1  # no image
    with pytest.raises(ValueError, match=r"shape \(4, 84, 84\), which is no stack of the game's \(84, 84, 3\)"):
        frame_stack_of(spaces.Box(0, 255, (4, 84, 84), np.uint8), spaces.Box(0, 255, (84, 84, 3), np.uint8))


def test_refused_settings_is_one_line_and_cleans_up(tmp_path):
    made = tmp_path / "runs" / "run-1"
    made.mkdir(parents=True)
    with pytest.raises(SystemExit, match=r"^vecbridge train: no: ValueError: bad n_steps$"):
        with refused_settings("vecbridge train: no", lambda: remove_if_empty(made, made.parent)):
            raise ValueError("bad n_steps")
    assert not (tmp_path / "runs").exists()
    with pytest.raises(SystemExit, match=r"^vecbridge train: no: KeyError: 'x'; use the run's settings$"):
        with refused_settings("vecbridge train: no", fix="use the run's settings"):
            raise KeyError("x")


def test_remove_if_empty_stops_at_the_first_folder_with_something_in_it(tmp_path):
    outer, inner = tmp_path / "a", tmp_path / "a" / "b"
    inner.mkdir(parents=True)
    (outer / "keep.txt").write_text("x")
    remove_if_empty(inner, outer)
    assert not inner.exists() and outer.exists()


def test_frame_stack_for_stacks_once():
    stacking, plain = Pipeline.of("gray,resize=84x84,stack=4"), Pipeline.of("gray,resize=84x84")
    assert frame_stack_for(None, None) == 4 and frame_stack_for(stacking, None) == 1 and frame_stack_for(plain, None) == 1
    assert frame_stack_for(plain, 3) == 3 and frame_stack_for(stacking, 1) == 1
    with pytest.raises(SystemExit, match=r"--frame-stack 4 with --preprocess .*stack=4 would stack twice \(16 frames\)"):
        frame_stack_for(stacking, 4)  # (it trained on a 16-frame stack without a word)


def test_a_usage_error_is_caught_by_except_exception_and_still_ends_a_script_with_its_line():
    import pickle
    import subprocess
    import sys

    from vecbridge.errors import UsageError, VecBridgeError
    from vecbridge.sb3.common import check_ppo_keys

    try:
        check_ppo_keys({"n_stepz": 3})
    except Exception as exc:  # a script's or a notebook's own handler (SystemExit used to pass it by)
        caught = exc
    assert isinstance(caught, UsageError) and isinstance(caught, VecBridgeError) and isinstance(caught, SystemExit)
    assert caught.code == str(caught) and "unknown PPO hyperparameter(s) ['n_stepz']" in caught.code
    assert pickle.loads(pickle.dumps(caught)).code == caught.code
    script = "from vecbridge.sb3.common import check_ppo_keys; check_ppo_keys({'n_stepz': 3})"
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120)
    assert out.returncode == 1 and out.stderr.startswith("unknown PPO hyperparameter(s)"), out.stderr  # no traceback
