"""Training progress: which episodes the CSV and the summary count.

An episode that an instance's failure cut short (a crash, a hang: ``info["vecbridge_error"]``
on its last step) is no result of the policy, so it stays out of progress.csv and the
recent return, and the summary says how many there were.
"""

from __future__ import annotations

import csv
from types import SimpleNamespace

from vecbridge.sb3.progress import ProgressCallback


def run_steps(callback: ProgressCallback, infos_per_step: list[list[dict]]) -> None:
    callback.model = SimpleNamespace(num_timesteps=0)
    callback.locals = {"total_timesteps": 100}
    callback._on_training_start()
    for infos in infos_per_step:
        callback.model.num_timesteps += len(infos)
        callback.locals = {"infos": infos}
        callback._on_step()
    callback._on_training_end()


def test_episodes_cut_short_by_a_failure_are_left_out_and_counted(tmp_path):
    path = tmp_path / "progress.csv"
    callback = ProgressCallback(path, show=False)
    run_steps(callback, [
        [{}, {}],
        [{"episode": {"r": 3.0, "l": 2}}, {"episode": {"r": -1.0, "l": 2}, "vecbridge_error": "instance 1 failed"}],
        [{"episode": {"r": 5.0, "l": 1}}, {}],
    ])  # fmt: skip
    with open(path, newline="") as f:
        rows = list(csv.DictReader(f))
    assert [(r["timesteps"], r["episode_return"], r["episode_length"]) for r in rows] == [("4", "3", "2"), ("6", "5", "1")]
    assert callback.episodes == 2 and callback.mean_return() == 4.0 and callback.cut_short == 1
    assert callback.summary() == "2 episodes, recent return 4 (1 more cut short by an instance's failure, not counted)"


def test_the_summary_before_any_episode_says_so_not_nan(tmp_path):
    callback = ProgressCallback(None, show=False)
    run_steps(callback, [[{}]])
    assert callback.summary() == "no episode finished"
    run_steps(callback, [[{"episode": {"r": 1.0, "l": 1}}]])
    assert callback.summary() == "1 episode, recent return 1"
