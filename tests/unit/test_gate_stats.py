"""The gate's counters (shared through a file of the run folder) and its rate-limited warnings."""

from __future__ import annotations

import logging

import pytest

from vecbridge.launch.gate_stats import REASONS, GateStats, WarningLimiter, read_stats, run_tag


def test_counters_are_read_back_by_reason_summed_over_gates_of_the_run(tmp_path):
    tag = run_tag("secret")
    a, b, other = GateStats(tmp_path, tag), GateStats(tmp_path, tag), GateStats(tmp_path, run_tag("other run"))
    for reason in ("bad_token", "bad_token", "timeout"):
        a.count(reason)
    b.count("timeout")
    other.count("malformed")
    assert read_stats(tmp_path, tag) == {**dict.fromkeys(REASONS, 0), "bad_token": 2, "timeout": 2}
    assert a.snapshot()["bad_token"] == 2
    for s in (a, b, other):
        s.close()
    assert read_stats(tmp_path, tag)["timeout"] == 2  # the files outlive the gates


def test_the_tag_does_not_reveal_the_token():
    assert "secret" not in run_tag("secret") and len(run_tag("secret")) == 12


def test_counters_without_a_folder_stay_in_memory():
    stats = GateStats()
    stats.count("capacity")
    assert stats.snapshot()["capacity"] == 1
    with pytest.raises(ValueError):
        stats.count("no such reason")


def test_warnings_come_in_a_burst_then_one_per_period_saying_how_many_were_left_out(caplog, monkeypatch):
    clock = [100.0]
    monkeypatch.setattr("vecbridge.launch.gate_stats.time.monotonic", lambda: clock[0])
    limiter = WarningLimiter(logging.getLogger("test.gate"), burst=3, period=10.0)
    with caplog.at_level(logging.WARNING, logger="test.gate"):
        for k in range(10):
            limiter.warn(f"refused {k}")
        clock[0] += 10.0
        limiter.warn("refused later")
    said = [r.getMessage() for r in caplog.records]
    assert said == ["refused 0", "refused 1", "refused 2", "refused later (7 similar warning(s) left out since the last)"]
