"""``vecbridge train --eval-episodes K``: the run ends with the trained policy against the random one."""

from __future__ import annotations

import json
import re

import vecbridge.sb3.train as train_cmd


def test_train_ends_with_the_trained_policy_against_random(tmp_path, capsys):
    run = tmp_path / "run"
    argv = ["vecbridge/Catch-v0", "-n", "2", "-t", "256", "--run-dir", str(run), "--eval-episodes", "3",
            "--ppo", "n_steps=128", "--ppo", "batch_size=128", "--ppo", "n_epochs=1", "-o", "balls=2",
            "--checkpoint-freq", "0", "--no-progress", "--torch-threads", "1"]  # fmt: skip
    assert train_cmd.main(argv) == 0
    out = capsys.readouterr().out
    data = json.loads((run / "eval.json").read_text())
    assert list(data) == ["random", "deterministic", "stochastic"]
    for name, row in data.items():
        assert len(row["returns"]) == 3 and row["max_episode_steps"] == 1000, name
        assert row["lengths"] == [2 * 7] * 3  # the run's game options apply: 2 balls, 7 steps each
        assert all(r in (-2, 0, 2) for r in row["returns"])
    assert data["deterministic"]["margin_over_random"] == data["deterministic"]["mean"] - data["random"]["mean"]
    table = out[out.index("evaluation: 3 episodes per policy"):]
    for label, name in (("random", "random"), ("trained, deterministic", "deterministic"), ("trained, stochastic", "stochastic")):
        m = re.search(rf"^  {label} +(-?[\d.]+) ± ([\d.]+)", table, re.M)
        assert m and m.group(1) == f"{data[name]['mean']:.3g}", (label, table)
    closing = out[out.index("score (mean return)"):].splitlines()
    assert closing[0].startswith("score (mean return): trained ")
    assert re.fullmatch(r"throughput: [\d,]+ steps/s while training .*", closing[1])
    assert closing[2] == f"model: {run / 'model.zip'}"
    assert closing[3].startswith(f"TensorBoard logs: {run / 'tensorboard'}")
    assert closing[4].startswith(f"learning curve: {run / 'learning_curve.png'}")
    assert closing[5] == f"evaluation: {run / 'eval.json'}"
