"""The fuzzer's bounded run (the full run is scripts/fuzz.py; its record: docs/fuzzing.md).

Mutated frames of real exchanges (captured from the Python, Lua and JavaScript clients, and
made by vecbridge's own two ends) fed to HostConnection, GameConnection and decode_message:
every outcome must be a VecBridgeError subclass or a clean run, and no case may hang.
"""

from __future__ import annotations

import os

from support.exchanges import generated_exchanges, load_corpus
from support.fuzzing import Fuzzer

CASES = int(os.environ.get("VECBRIDGE_FUZZ_CASES", "20000"))


def test_the_corpus_holds_captures_of_every_framing_from_real_games():
    captured = load_corpus()
    assert {ex.framing for ex in captured} == {"binary", "comm", "websocket"}
    assert {ex.name.split("-")[1] for ex in captured} >= {"python", "lua", "node"}


def test_mutated_exchanges_raise_only_vecbridge_errors():
    fuzzer = Fuzzer(generated_exchanges() + load_corpus(), seed=int(os.environ.get("VECBRIDGE_FUZZ_SEED", "1")), hang_s=5.0)
    report = fuzzer.run(CASES)
    details = "\n".join(f"case {b['index']} ({b['target']}, {b['exchange']}): {b['error']}\n{b['traceback']}" for b in report.bad)
    assert report.bad_count == 0, f"{report.summary()}\n{details}"
    outcomes = {outcome for _, outcome in report.outcomes}
    # the mutations reach every layer: framing, message layout, fields, spaces, arrays and the state machine
    assert {"ok", "MalformedFrame", "MalformedMessage", "ArrayMismatch", "SpaceError", "UnknownMessageType"} <= outcomes
