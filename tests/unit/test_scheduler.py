"""The scheduler's rules, event by event: no sockets, no processes, time passed in by hand."""

from __future__ import annotations

import pytest

from vecbridge.errors import GameError, StateError, VecBridgeError
from vecbridge.protocol.connection import CallResult, GameErrorReply, RenderResult, ResetResult, StepResult
from vecbridge.vector.budget import RestartBudget
from vecbridge.vector.driver import MethodCall, Render
from vecbridge.vector.actions import (
    AUTORESET,
    KEEP,
    STEP,
    Answer,
    BudgetSpent,
    Call,
    FailedAtStartup,
    Final,
    FinalReset,
    Finish,
    Raise,
    Relaunch,
    Reset,
    Send,
)
from vecbridge.vector.scheduler import Scheduler

TIMEOUT = 5.0


def make(n: int = 2, same_step: bool = False, budget: RestartBudget | None = None) -> Scheduler:
    return Scheduler(range(n), same_step=same_step, step_timeout=TIMEOUT, budget=budget or RestartBudget())


def step(obs, reward=0.0, terminated=False, truncated=False, info=None) -> StepResult:
    return StepResult(obs, reward, terminated, truncated, info or {})


def started(n: int = 2, same_step: bool = False, budget: RestartBudget | None = None) -> Scheduler:
    """A scheduler whose instances have all been reset once (start-up is over)."""
    s = make(n, same_step, budget)
    s.reset(list(range(n)), [None] * n, None, 0.0)
    for i in range(n):
        replied(s, i, ResetResult(f"r{i}", {}), 0.0)
    return s


def replied(s: Scheduler, i: int, event, now: float) -> list:
    return list(s.replied(i, event, now))


def note(i: int, reason: str, restarts: int = 1, first_observation: bool = False) -> dict:
    stage = " before its first observation (stage: first observation)" if first_observation else ""
    return {"vecbridge_error": f"instance {i} failed{stage}: {reason}", "vecbridge_restarts": restarts}


# ---------------------------------------------------------------- requests and replies
def test_a_lockstep_step_is_one_send_and_each_reply_finishes_its_instance():
    s = started(3)
    assert s.step([0, 1, 2], 1.0) == [Send([0, 1, 2], STEP)]
    assert s.busy and s.next_deadline() == 1.0 + TIMEOUT
    assert replied(s, 1, step("o1", 1.0), 1.1) == [Finish(1, "o1", 1.0, False, False, None)]
    assert replied(s, 0, step("o0", info={"k": 1}), 1.1) == [Finish(0, "o0", 0.0, False, False, {"k": 1})]
    assert replied(s, 2, step("o2"), 1.2) == [Finish(2, "o2", 0.0, False, False, None)]
    assert not s.busy and s.next_deadline() is None


def test_a_user_reset_finishes_with_its_observation_and_zero_reward():
    s = make(2)
    assert s.reset([0, 1], [7, None], {"x": 1}, 0.0) == [Send([0], Reset(7, {"x": 1})), Send([1], Reset(None, {"x": 1}))]
    assert replied(s, 0, ResetResult("r0", {"a": 1}), 0.1) == [Finish(0, "r0", 0.0, False, False, {"a": 1}, new_episode=True)]


def test_calls_and_renders_answer_their_values():
    s = started(2)
    assert s.call([0, 1], MethodCall("echo", (1,)), 1.0) == [Send([0, 1], Call(MethodCall("echo", (1,))))]
    assert replied(s, 1, CallResult({"v": 1}), 1.1) == [Answer(1, {"v": 1})]
    assert replied(s, 0, CallResult(None), 1.1) == [Answer(0, None)]
    s.call([0], Render(), 2.0)
    assert replied(s, 0, RenderResult("frame"), 2.1) == [Answer(0, "frame")]


def test_a_second_request_to_a_busy_instance_is_refused():
    s = started(2)
    s.step([0, 1], 1.0)
    with pytest.raises(StateError, match="instance 0 already has a step in flight"):
        s.reset([0], [None], None, 1.0)
    with pytest.raises(ValueError, match="instance 5 is not one of this group's"):
        s.call([5], Render(), 1.0)


# ---------------------------------------------------------------- autoreset
def test_next_step_the_step_after_a_done_is_a_reset():
    s = started(2)
    s.step([0, 1], 1.0)
    assert replied(s, 0, step("end", 1.0, terminated=True), 1.1) == [Finish(0, "end", 1.0, True, False, None)]
    replied(s, 1, step("o1"), 1.1)
    assert s.step([0, 1], 2.0) == [Send([1], STEP), Send([0], AUTORESET)]
    assert replied(s, 0, ResetResult("new", {"r": 1}), 2.1) == [Finish(0, "new", 0.0, False, False, {"r": 1}, new_episode=True)]
    replied(s, 1, step("o1"), 2.1)
    assert s.step([0, 1], 3.0) == [Send([0, 1], STEP)]  # back on the hot path


def test_next_step_a_truncation_also_resets_and_a_user_reset_cancels_the_autoreset():
    s = started(1)
    s.step([0], 1.0)
    replied(s, 0, step("end", truncated=True), 1.1)
    s.reset([0], [3], None, 2.0)
    replied(s, 0, ResetResult("r", {}), 2.1)
    assert s.step([0], 3.0) == [Send([0], STEP)]


def test_same_step_a_done_step_finishes_with_the_reset_observation_and_the_final_step():
    s = started(2, same_step=True)
    s.step([0, 1], 1.0)
    assert replied(s, 0, step("end", 2.0, terminated=True, info={"score": 9}), 1.1) == [
        Send([0], FinalReset(Final("end", {"score": 9}, 2.0, True, False)))
    ]
    assert s.busy  # instance 0 has not completed yet
    assert replied(s, 0, ResetResult("new", {"r": 1}), 1.2) == [
        Finish(0, "new", 2.0, True, False, {"r": 1, "final_obs": "end", "final_info": {"score": 9}}, new_episode=True)
    ]
    replied(s, 1, step("o1"), 1.2)
    assert s.step([0, 1], 2.0) == [Send([0, 1], STEP)]  # no reset owed in SAME_STEP


# ---------------------------------------------------------------- the episode step limit
def test_next_step_the_step_limit_truncates_the_step_that_reaches_it_and_counts_again_after_the_reset():
    s = Scheduler(range(2), same_step=False, step_timeout=TIMEOUT, budget=RestartBudget(), max_episode_steps=2)
    s.reset([0, 1], [None, None], None, 0.0)
    for i in range(2):
        replied(s, i, ResetResult(f"r{i}", {}), 0.0)
    s.step([0, 1], 1.0)
    assert replied(s, 0, step("a"), 1.1) == [Finish(0, "a", 0.0, False, False, None)]
    assert replied(s, 1, step("b", terminated=True), 1.1) == [Finish(1, "b", 0.0, True, False, None)]  # its own end
    s.step([0, 1], 2.0)  # instance 1 resets (NEXT_STEP); instance 0's second step reaches the limit
    assert replied(s, 0, step("a2", 1.0), 2.1) == [Finish(0, "a2", 1.0, False, True, None)]
    assert replied(s, 1, ResetResult("r1", {}), 2.1) == [Finish(1, "r1", 0.0, False, False, None, new_episode=True)]
    assert s.step([0, 1], 3.0) == [Send([1], STEP), Send([0], AUTORESET)]
    replied(s, 0, ResetResult("r0", {}), 3.1)
    assert replied(s, 1, step("b1"), 3.1) == [Finish(1, "b1", 0.0, False, False, None)]  # 1 step into its new episode
    s.step([0, 1], 4.0)
    assert replied(s, 0, step("a3"), 4.1) == [Finish(0, "a3", 0.0, False, False, None)]  # counting again from the reset
    assert replied(s, 1, step("b2", terminated=True), 4.1) == [Finish(1, "b2", 0.0, True, True, None)]  # both, as TimeLimit


def test_same_step_the_step_limit_ends_the_episode_with_final_obs_and_the_reset_observation():
    s = Scheduler(range(1), same_step=True, step_timeout=TIMEOUT, budget=RestartBudget(), max_episode_steps=1)
    s.reset([0], [None], None, 0.0)
    replied(s, 0, ResetResult("r", {}), 0.0)
    s.step([0], 1.0)
    assert replied(s, 0, step("end", 0.5), 1.1) == [Send([0], FinalReset(Final("end", {}, 0.5, False, True)))]
    assert replied(s, 0, ResetResult("new", {}), 1.2) == [
        Finish(0, "new", 0.5, False, True, {"final_obs": "end", "final_info": {}}, new_episode=True)
    ]


# ---------------------------------------------------------------- failures
def test_next_step_a_crashed_step_ends_truncated_and_the_next_step_resets_the_new_process():
    s = started(2)
    s.step([0, 1], 1.0)
    assert s.failed(1, "it exited with status 7", 1.1) == [
        Relaunch(1, 1),
        Finish(1, KEEP, 0.0, False, True, note(1, "it exited with status 7")),
    ]
    replied(s, 0, step("o0"), 1.1)
    assert s.step([0, 1], 2.0) == [Send([0], STEP)]  # instance 1's autoreset waits for its new process
    assert s.busy
    assert s.relaunched(1, 3.0) == [Send([1], AUTORESET)]
    assert s.next_deadline() == 2.0 + TIMEOUT  # instance 0's step is older
    assert replied(s, 1, ResetResult("new", {}), 3.1) == [Finish(1, "new", 0.0, False, False, None, new_episode=True)]


def test_same_step_a_crashed_step_ends_truncated_with_the_new_process_first_observation():
    s = started(2, same_step=True)
    s.step([0, 1], 1.0)
    replied(s, 0, step("last0"), 1.1)
    replied(s, 1, step("last1"), 1.1)
    s.step([0, 1], 2.0)
    assert s.failed(0, "crash", 2.5) == [Relaunch(0, 1)]  # the reset of the new process waits
    # final_obs: KEEP, the row the last step left (the group reads it): the failed step made no observation
    assert s.relaunched(0, 3.0) == [Send([0], FinalReset(Final(KEEP, {}, 0.0, False, True)))]
    assert replied(s, 0, ResetResult("new", {}), 3.1) == [
        Finish(0, "new", 0.0, False, True, {"final_obs": KEEP, "final_info": {}, **note(0, "crash")}, new_episode=True)
    ]


def test_same_step_a_failed_final_reset_keeps_the_step_that_ended_the_episode():
    s = started(1, same_step=True)
    s.step([0], 1.0)
    replied(s, 0, step("end", 5.0, terminated=True, info={"s": 1}), 1.1)
    assert s.failed(0, "crash", 1.2) == [Relaunch(0, 1)]
    # only the reset after it failed: the step's reward and termination are facts (it used to end truncated, reward 0)
    assert s.relaunched(0, 2.0) == [Send([0], FinalReset(Final("end", {"s": 1}, 5.0, True, False)))]


def test_a_failed_autoreset_is_sent_again_to_the_new_process():
    s = started(1)
    s.step([0], 1.0)
    replied(s, 0, step("end", terminated=True), 1.1)
    s.step([0], 2.0)
    assert s.failed(0, "crash", 2.1) == [Relaunch(0, 1)]
    assert s.relaunched(0, 3.0) == [Send([0], AUTORESET)]
    assert replied(s, 0, ResetResult("new", {}), 3.1) == [Finish(0, "new", 0.0, False, False, note(0, "crash"), new_episode=True)]


def test_a_failed_user_reset_is_sent_again_with_its_seed():
    s = started(1)
    s.reset([0], [42], {"o": 1}, 1.0)
    assert s.failed(0, "crash", 1.1) == [Relaunch(0, 1)]
    assert s.relaunched(0, 2.0) == [Send([0], Reset(42, {"o": 1}))]


def test_a_failed_call_answers_an_error_and_the_next_step_resets():
    s = started(1)
    s.call([0], MethodCall("echo"), 1.0)
    actions = s.failed(0, "crash", 1.1)
    assert actions[0] == Relaunch(0, 1) and type(actions[1]) is Answer
    error = actions[1].result
    assert type(error) is VecBridgeError and str(error) == "instance 0 failed: crash" and error.instance == 0
    assert s.step([0], 2.0) == []
    assert s.relaunched(0, 2.5) == [Send([0], AUTORESET)]
    assert replied(s, 0, ResetResult("new", {}), 2.6) == [Finish(0, "new", 0.0, False, False, None, new_episode=True)]  # the note went with the call


def test_a_failure_between_requests_makes_the_next_step_a_reset():
    s = started(1)
    assert s.failed(0, "the game closed the connection", 1.0) == [Relaunch(0, 1)]
    s.relaunched(0, 1.5)
    assert s.step([0], 2.0) == [Send([0], AUTORESET)]
    assert replied(s, 0, ResetResult("new", {}), 2.1) == [
        Finish(0, "new", 0.0, False, False, note(0, "the game closed the connection"), new_episode=True)
    ]


def test_error_replies_fail_a_step_refuse_a_reset_and_answer_a_call():
    s = started(3)
    s.step([0], 1.0)
    reason = "the game answered step with an error: boom\nTraceback"
    assert replied(s, 0, GameErrorReply("step", "boom", "Traceback"), 1.1) == [
        Relaunch(0, 1),
        Finish(0, KEEP, 0.0, False, True, note(0, reason)),
    ]
    s.reset([1], [None], None, 2.0)
    [refused] = replied(s, 1, GameErrorReply("reset", "no", "tb"), 2.1)
    assert type(refused) is Answer and type(refused.result) is GameError and refused.result.instance == 1
    assert str(refused.result).startswith("instance 1: the game failed to reset: no") and not s.busy
    assert s.step([1], 2.5) == [Send([1], AUTORESET)]  # its episode never started: the next step resets it
    s.call([2], MethodCall("nope"), 3.0)
    [answer] = replied(s, 2, GameErrorReply("call", "no such method", "tb"), 3.1)
    assert type(answer.result) is GameError and answer.result.instance == 2 and answer.result.remote_traceback == "tb"
    assert "instance 2: the game failed the call: no such method" in str(answer.result)


def test_an_error_reply_to_an_autoreset_is_a_failure():
    s = started(1)
    s.step([0], 1.0)
    replied(s, 0, step("end", terminated=True), 1.1)
    s.step([0], 2.0)
    actions = replied(s, 0, GameErrorReply("reset", "bad", ""), 2.1)
    assert actions == [Relaunch(0, 1)] and s.relaunched(0, 3.0) == [Send([0], AUTORESET)]


# ---------------------------------------------------------------- deadlines
def test_a_request_past_its_deadline_is_a_hung_failure():
    s = started(2)
    s.step([0, 1], 1.0)
    replied(s, 1, step("o1"), 1.5)
    assert s.expire(1.0 + TIMEOUT - 0.01) == []
    assert s.expire(1.0 + TIMEOUT) == [
        Relaunch(0, 1),
        Finish(0, KEEP, 0.0, False, True, note(0, "no reply to step within 5 s (hung)")),
    ]
    assert s.next_deadline() is None


def test_deadlines_stay_in_order_and_a_waiting_request_has_none_until_sent():
    s = started(3)
    s.step([0, 1, 2], 1.0)
    replied(s, 0, step("o"), 2.0)
    s.failed(1, "crash", 2.0)
    s.call([0], Render(), 3.0)
    assert s.next_deadline() == 1.0 + TIMEOUT  # instance 2's step
    replied(s, 2, step("o"), 3.0)
    assert s.next_deadline() == 3.0 + TIMEOUT
    s.step([1], 4.0)  # waits for the relaunch: no deadline
    replied(s, 0, RenderResult(None), 4.0)
    assert s.next_deadline() is None and s.busy
    s.relaunched(1, 9.0)
    assert s.next_deadline() == 9.0 + TIMEOUT
    assert s.expire(9.0 + TIMEOUT)[0] == Relaunch(1, 2)


def test_every_hung_request_expires_in_one_call():
    s = started(3)
    s.step([0, 1, 2], 1.0)
    actions = s.expire(100.0)
    assert [a.i for a in actions if type(a) is Relaunch] == [0, 1, 2]


# ---------------------------------------------------------------- start-up
def test_a_failure_before_the_first_observation_at_start_up_raises():
    s = make(2)
    s.reset([0, 1], [None, None], None, 0.0)
    replied(s, 1, ResetResult("r1", {}), 0.1)
    assert s.failed(0, "ArrayMismatch: reset observation", 0.2) == [Raise(FailedAtStartup(0, "ArrayMismatch: reset observation"))]


def test_a_hang_before_the_first_observation_at_start_up_raises():
    s = make(1)
    s.reset([0], [None], None, 0.0)
    assert s.expire(TIMEOUT) == [Raise(FailedAtStartup(0, "no reply to reset within 5 s (hung)"))]


def test_a_relaunched_process_failing_before_its_first_observation_costs_a_restart():
    s = started(1, budget=RestartBudget(max_restarts=2))
    s.step([0], 1.0)
    s.failed(0, "crash", 1.1)
    s.step([0], 2.0)
    s.relaunched(0, 2.5)  # its autoreset goes to the new process...
    assert s.failed(0, "crash again", 2.6) == [Relaunch(0, 2)]  # ...which fails before answering
    assert s.relaunched(0, 3.0) == [Send([0], AUTORESET)]
    [finish] = replied(s, 0, ResetResult("new", {}), 3.1)
    assert finish.info == note(0, "crash again", restarts=2, first_observation=True)


def test_a_spent_budget_says_the_last_failure_came_before_the_first_observation():
    s = started(1, budget=RestartBudget(max_restarts=1))
    s.step([0], 1.0)
    s.failed(0, "crash", 1.1)
    s.step([0], 2.0)
    s.relaunched(0, 2.5)
    assert s.failed(0, "crash again", 2.6) == [
        Raise(BudgetSpent(0, "crash again", True, "1 restart(s) used of 1 per run, 1 of 3 per 60 s"))
    ]


# ---------------------------------------------------------------- relaunches and the budget
def test_a_failed_relaunch_is_retried_within_the_budget_and_the_note_gives_the_last_reason():
    s = started(1, budget=RestartBudget(max_restarts=3))
    s.step([0], 1.0)
    s.failed(0, "crash", 1.1)
    assert s.relaunch_failed(0, "did not connect within 60 s", 2.0) == [Relaunch(0, 2)]
    assert s.relaunch_failed(0, "declares other spaces", 3.0) == [Relaunch(0, 3)]
    assert s.relaunch_failed(0, "died", 4.0) == [Raise(BudgetSpent(0, "died", False, "3 restart(s) used of 3 per run, 3 of 3 per 60 s"))]


def test_a_relaunch_that_finally_works_reports_every_restart():
    s = started(1, budget=RestartBudget(max_restarts=5))
    s.step([0], 1.0)
    s.failed(0, "crash", 1.1)
    s.relaunch_failed(0, "died before it connected", 2.0)
    s.step([0], 2.5)
    assert s.relaunched(0, 3.0) == [Send([0], AUTORESET)]
    [finish] = replied(s, 0, ResetResult("new", {}), 3.1)
    assert finish.info == note(0, "died before it connected", restarts=2)


def test_the_budget_limits_restarts_per_run():
    s = started(1, budget=RestartBudget(max_restarts=2, max_per_period=10))
    for k, t in enumerate((1.0, 2.0), start=1):
        crash_and_come_back(s, t, k)
    s.step([0], 3.0)
    assert s.failed(0, "crash", 3.0) == [Raise(BudgetSpent(0, "crash", False, "2 restart(s) used of 2 per run, 2 of 10 per 60 s"))]


def crash_and_come_back(s: Scheduler, t: float, restarts: int) -> None:
    s.step([0], t)
    assert s.failed(0, "crash", t)[0] == Relaunch(0, restarts)
    s.relaunched(0, t)
    assert s.step([0], t) == [Send([0], AUTORESET)]
    replied(s, 0, ResetResult("r", {}), t)


@pytest.mark.parametrize("gap, survives", [(1.0, False), (6.0, True)])
def test_the_budget_limits_restarts_per_period(gap, survives):
    s = started(1, budget=RestartBudget(max_restarts=10, max_per_period=2, period_s=10.0))
    t = 1.0
    for k in range(1, 3):
        crash_and_come_back(s, t, k)
        t += gap
    s.step([0], t)
    actions = s.failed(0, "crash", t)
    if not survives:
        assert actions == [Raise(BudgetSpent(0, "crash", False, "2 restart(s) used of 10 per run, 2 of 2 per 10 s"))]
        return
    assert actions[0] == Relaunch(0, 3)  # 3 restarts within 13 s: the first had left the 10 s window


def test_no_budget_means_the_first_failure_after_start_up_raises():
    s = started(1, budget=RestartBudget(0))
    s.step([0], 1.0)
    assert s.failed(0, "crash", 1.1) == [Raise(BudgetSpent(0, "crash", False, "0 restart(s) used of 0 per run, 0 of 3 per 60 s"))]
