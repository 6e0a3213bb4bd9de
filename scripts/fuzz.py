"""Fuzz the protocol layer with mutated frames of real exchanges; report outcomes by exception type.

    .venv/bin/python scripts/fuzz.py --cases 1000000            # the bar: 0 non-VecBridgeError, no hang
    .venv/bin/python scripts/fuzz.py --cases 20000 --seed 7     # a quick look
    .venv/bin/python scripts/fuzz.py --capture                  # re-record tests/fuzz_corpus from real games

The exchanges are those vecbridge's own two ends produce for every kind of space and
framing (tests/support/exchanges.py) plus those captured from real game processes: the
Python client (Echo), the Lua client under lua5.4 (binary and comm framings) and the
JavaScript client under Node (binary, and websocket with --experimental-websocket). Each
case mutates one exchange and replays it against HostConnection, GameConnection or
decode_message (tests/support/fuzzing.py). The run is deterministic for a seed: a bad case
is replayed with ``--replay INDEX --seed S``. Memory is capped (``--memory-gib``, default 4)
so that a runaway allocation shows up as a MemoryError rather than as a swapping machine.
Exit status 1 if any case raised something other than a VecBridgeError or hung.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))

from support.exchanges import CORPUS, TOKEN, Exchange, generated_exchanges, load_corpus  # noqa: E402
from support.fuzzing import Fuzzer, Report  # noqa: E402

# name -> (command, environment, framing); {launchers}/{python} are filled in by LaunchSpec
GAMES = {
    "python-echo-binary": (["{python}", "-m", "vecbridge.game", "vecbridge.games.echo:EchoEnv"], {}, "binary"),
    "lua-counter-binary": (["lua5.4", str(ROOT / "tests/games/lua/counter.lua")],
                           {"LUA_PATH": "{launchers}/lua/?.lua;;"}, "binary"),
    "lua-counter-comm": (["lua5.4", str(ROOT / "tests/games/lua/counter.lua")],
                         {"LUA_PATH": "{launchers}/lua/?.lua;;"}, "comm"),
    "node-echo-binary": (["node", str(ROOT / "tests/games/js/echo.mjs")], {}, "binary"),
    "node-echo-websocket": (["node", "--experimental-websocket", str(ROOT / "tests/games/js/echo.mjs")], {},
                            "websocket"),
}  # fmt: skip


def capture(name: str, command: list[str], env: dict[str, str], framing: str) -> Exchange:
    """Drive one real game through a whole conversation and record every frame."""
    import numpy as np

    from vecbridge.launch.spec import LaunchSpec
    from vecbridge.protocol import HostConnection
    from vecbridge.protocol.values import encode_value

    listener = socket.create_server(("127.0.0.1", 0))
    listener.settimeout(30)
    with tempfile.TemporaryDirectory(prefix="vecbridge-capture-") as workdir:
        spec = LaunchSpec(command=command, env=env, framing=framing)
        values = spec.template_values(host="127.0.0.1", port=listener.getsockname()[1], instance=0, token=TOKEN,
                                      workdir=Path(workdir))  # fmt: skip
        for sub in ("home", "tmp"):
            os.makedirs(os.path.join(workdir, sub), exist_ok=True)
        env_all = {k: v for k, v in spec.environment(values, Path(workdir)).items() if k != "VECBRIDGE_SOCKET"}
        proc = subprocess.Popen(spec.argv(values), env=env_all, cwd=workdir, stdin=subprocess.DEVNULL)
        try:
            sock, _ = listener.accept()
            sock.settimeout(30)
            host = HostConnection(TOKEN, None, framing)
            ex = Exchange(f"captured-{name}", framing)

            def game_says() -> object:
                raw = b""
                while True:
                    event = host.next_event()
                    if event is not None:
                        ex.add("game", raw)
                        return event
                    if host.has_data_to_send():
                        sock.sendall(host.data_to_send())  # the websocket upgrade's answer (not a message)
                    chunk = sock.recv(1 << 20)
                    if not chunk:
                        raise RuntimeError(f"{name}: the game closed the connection")
                    raw += chunk
                    host.receive_data(chunk)

            def host_says(data: bytes) -> None:
                ex.add("host", data)
                sock.sendall(data)

            hello = game_says()
            rng = np.random.default_rng(0)
            host_says(host.send_welcome({}))
            host_says(host.send_reset(seed=3, options=None))
            game_says()
            for _ in range(4):
                hello.action_space.seed(int(rng.integers(1 << 30)))
                host_says(host.send_step(encode_value(hello.action_space, hello.action_space.sample())))
                game_says()
            host_says(host.send_render())
            game_says()
            host_says(host.send_call("__getattr__", ["metadata"], {}))
            game_says()
            host_says(host.send_call("no_such_method", [1, "x"], {"k": None}))
            game_says()
            host_says(host.send_close())
            return ex
        finally:
            listener.close()
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--cases", type=int, default=100_000)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--start", type=int, default=0, help="the index of the first case (to rerun part of a campaign)")
    ap.add_argument("--hang-s", type=float, default=2.0, help="a case using more CPU seconds than this counts as a hang")
    ap.add_argument("--memory-gib", type=float, default=4.0)
    ap.add_argument("--capture", action="store_true", help="record the real games' exchanges into tests/fuzz_corpus")
    ap.add_argument("--replay", type=int, help="run only case INDEX of --seed, and show its traceback")
    ap.add_argument("--json", type=Path, help="also write the report here")
    args = ap.parse_args()

    if args.capture:
        CORPUS.mkdir(exist_ok=True)
        for name, (command, env, framing) in GAMES.items():
            ex = capture(name, command, env, framing)
            (CORPUS / f"{name}.json").write_text(json.dumps(ex.to_json(), indent=0) + "\n")
            print(f"captured {name}: {len(ex.frames)} frames, {sum(len(f.raw) for f in ex.frames)} bytes")
        return 0

    limit = int(args.memory_gib * 2**30)
    resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
    exchanges = generated_exchanges() + load_corpus()
    fuzzer = Fuzzer(exchanges, seed=args.seed, hang_s=args.hang_s)
    if args.replay is not None:
        report = fuzzer.run(1, start=args.replay)
        print(report.summary())
        for bad in report.bad:
            print(bad["traceback"])
        return 1 if report.bad_count else 0

    print(f"fuzzing: {len(exchanges)} exchanges ({sum(e.name.startswith('captured') for e in exchanges)} captured "
          f"from real games), {args.cases} cases from index {args.start}, seed {args.seed}; load average {os.getloadavg()[0]:.1f} "
          f"on {os.cpu_count()} cores", flush=True)  # fmt: skip

    shown = 0

    def progress(r: Report) -> None:
        nonlocal shown
        print(f"  {r.cases} cases, {r.bad_count} bad, {time.strftime('%H:%M:%S')}", flush=True)
        for bad in r.bad[shown:]:  # as they come: a long run is worth reading before it ends
            print(f"  bad case {bad['index']} ({bad['target']}, {bad['exchange']}): {bad['error']}", flush=True)
        shown = len(r.bad)

    report = fuzzer.run(args.cases, start=args.start, progress=progress)
    print(report.summary())
    for bad in report.bad:
        print(f"\n--- case {bad['index']} (seed {bad['seed']}), {bad['target']} on {bad['exchange']}: {bad['error']}")
        print(bad["traceback"])
    if args.json:
        args.json.write_text(json.dumps({"cases": report.cases, "start": args.start, "seconds": report.seconds, "seed": args.seed,
                                         "outcomes": {f"{t} {o}": n for (t, o), n in report.outcomes.items()},
                                         "bad": report.bad}, indent=1))  # fmt: skip
    return 1 if report.bad_count else 0


if __name__ == "__main__":
    sys.exit(main())
