"""The end of ``vecbridge train --eval-episodes``: the table, eval.json's content and the closing lines (no processes)."""

from __future__ import annotations

import io
import json
from pathlib import Path
from types import SimpleNamespace

from vecbridge.sb3.compare import Comparison, print_where
from vecbridge.sb3.evaluate import EvalResult


def comparison() -> Comparison:
    return Comparison(
        {
            "random": EvalResult([-1.0, -2.0, 0.0, -1.0], [800, 700, 1000, 900], False, max_episode_steps=1000, truncated=1),
            "deterministic": EvalResult([2.0, 2.0, 3.0, 1.0], [1000] * 4, True, max_episode_steps=1000, truncated=4),
            "stochastic": EvalResult([1.0, 0.0, 2.0, 1.0], [1000, 950, 1000, 1000], False, max_episode_steps=1000),
        },
        {"random": 1.25, "deterministic": 2.5, "stochastic": 3.0},
    )  # fmt: skip


def test_margins_over_the_random_policy():
    c = comparison()
    assert c.margin("deterministic") == 2.0 - (-1.0)
    assert c.margin("stochastic") == 1.0 - (-1.0)
    assert c.margin("random") == 0.0


def test_table_has_one_row_per_policy_with_its_numbers():
    lines = comparison().lines()
    assert lines[0] == "evaluation: 4 episodes per policy, the same seeds and game options, step limit 1000"
    rows = {line.split()[0] + (" " + line.split()[1] if line.split()[0] == "trained," else ""): line for line in lines[2:]}
    assert rows.keys() == {"random", "trained, deterministic", "trained, stochastic"}
    assert "-1 ± 0.707" in rows["random"] and rows["random"].rstrip().endswith("850.0")
    assert "2 ± 0.707" in rows["trained, deterministic"] and rows["trained, deterministic"].rstrip().endswith("+3")
    assert rows["trained, stochastic"].rstrip().endswith("+2")


def test_json_keeps_every_episode_and_the_margins():
    data = json.loads(json.dumps(comparison().to_json()))
    assert list(data) == ["random", "deterministic", "stochastic"]
    assert data["random"]["returns"] == [-1.0, -2.0, 0.0, -1.0] and "margin_over_random" not in data["random"]
    assert data["deterministic"]["margin_over_random"] == 3.0 and data["deterministic"]["truncated_by_limit"] == 4
    assert data["stochastic"]["lengths"] == [1000, 950, 1000, 1000] and data["stochastic"]["seconds"] == 3.0


def test_closing_lines_name_the_score_throughput_and_files(tmp_path: Path):
    (tmp_path / "tensorboard").mkdir()
    files = {name: tmp_path / name for name in ("model.zip", "tensorboard", "learning_curve.png", "progress.csv")}
    files = {"model": files["model.zip"], "tensorboard": files["tensorboard"],
             "learning_curve": files["learning_curve.png"], "progress": files["progress.csv"]}  # fmt: skip
    result = SimpleNamespace(files=files, comparison=comparison(), steps_per_second=412.4, run_dir=tmp_path)
    out = io.StringIO()
    print_where(result, out)
    text = out.getvalue()
    assert "score (mean return): trained 2 deterministic, 1 stochastic; random -1" in text
    assert "throughput: 412 steps/s" in text
    for line, path in (("model:", "model.zip"), ("TensorBoard logs:", "tensorboard"), ("learning curve:", "learning_curve.png"),
                       ("evaluation:", "eval.json")):  # fmt: skip
        assert f"{line} {tmp_path / path}" in text
    result.comparison = None
    files["tensorboard"].rmdir()
    out = io.StringIO()
    print_where(result, out)
    assert "score" not in out.getvalue() and "TensorBoard" not in out.getvalue() and "model:" in out.getvalue()
