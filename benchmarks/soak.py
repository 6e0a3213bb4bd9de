"""Soak: Echo at N = 16 at full speed while instances are SIGKILLed and strangers knock.

    python benchmarks/soak.py --minutes 30                  # the recorded run (benchmarks/README.md)
    python benchmarks/soak.py --minutes 2 --json soak.json  # a quick look

For ``--minutes`` the caller steps ``vecbridge.make("vecbridge/Echo-v0", num_envs=16)`` in
lockstep with random actions, while
- a killer SIGKILLs a random game process every ``--kill-every`` seconds (3), and
- a stranger process connects every ``--stranger-every`` seconds (1) to one of vecbridge's
  listeners (TCP or Unix-domain, in turn) and sends something other than a valid hello:
  a hello nested 100,000 deep, a wrong token, garbage, a 16 MiB frame that never
  completes, a WebSocket upgrade with a bad hello, or nothing at all (left open).

It reports steps, kills, the restarts vecbridge reported (``info["vecbridge_restarts"]``),
the connections it refused, and the resident memory (RSS) and open files of vecbridge's own
processes (the caller's, the workers', the reapers': not the games') after a warm-up and at
the end. The targets for 30 minutes: RSS growth under 5 %, open files flat, every killed
instance relaunched (restarts == kills, all 16 instances stepping at the end), and no
exception reaching the caller. Exit status 1 if a target is missed.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import signal
import socket
import struct
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np
import psutil

GAME_MARK = "vecbridge.game"


# ---------------------------------------------------------------- the stranger (a process of its own)
def _binary(header: bytes) -> bytes:
    payload = struct.pack("<I", len(header)) + header
    return struct.pack("<I", len(payload)) + payload


def _knock(target: str, kind: int, held: list[socket.socket]) -> None:
    hello = b'{"type":"hello","version":1,"instance":0,"token":"guess","observation_space":"float","action_space":"bool"}'
    sends = [
        _binary(b'{"type":"hello","x":' + b"[" * 100_000 + b"]" * 100_000 + b"}"),
        _binary(hello),
        os.urandom(512),
        struct.pack("<I", 16 * 1024 * 1024 - 1) + b"\0" * 4096,
        b"GET / HTTP/1.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: a2V5a2V5a2V5a2V5a2V5a2V5\r\n"
        b"Sec-WebSocket-Version: 13\r\n\r\n\x82\x80\0\0\0\0",
        b"",  # silent: left open; vecbridge closes it at its handshake deadline
    ]
    if target.startswith("/"):
        s = socket.socket(socket.AF_UNIX)
        s.settimeout(2)
        s.connect(target)
    else:
        s = socket.create_connection(("127.0.0.1", int(target)), timeout=2)
    data = sends[kind % len(sends)]
    try:
        if data:
            s.sendall(data)
    except OSError:
        pass
    if data:
        s.close()
    else:
        held.append(s)
        while len(held) > 8:  # the stranger's own files stay bounded too
            held.pop(0).close()


def stranger_main(every: float, targets_file: str) -> None:
    held: list[socket.socket] = []
    kind = 0
    while True:
        try:
            targets = [t for t in Path(targets_file).read_text().split() if t]
        except OSError:
            targets = []
        if targets:
            try:
                _knock(targets[kind % len(targets)], kind // max(1, len(targets)), held)
            except OSError:
                pass
            kind += 1
        time.sleep(every)


# ---------------------------------------------------------------- measuring vecbridge's own processes
def own_processes() -> list[psutil.Process]:
    """The caller and its descendants that are not games (workers, reapers)."""
    me = psutil.Process()
    found = [me]
    for p in me.children(recursive=True):
        try:
            cmd = " ".join(p.cmdline())
            if GAME_MARK not in cmd and "--stranger" not in cmd:
                found.append(p)
        except psutil.Error:
            continue
    return found


def games() -> list[psutil.Process]:
    found = []
    for p in psutil.Process().children(recursive=True):
        try:
            if GAME_MARK in " ".join(p.cmdline()) and p.status() != psutil.STATUS_ZOMBIE:
                found.append(p)
        except psutil.Error:
            continue
    return found


def measure() -> dict:
    rss = fds = 0
    procs = own_processes()
    for p in procs:
        try:
            rss += p.memory_info().rss
            fds += p.num_fds()
        except psutil.Error:
            continue
    return {"rss_mib": round(rss / 2**20, 1), "open_files": fds, "processes": len(procs), "t": time.time()}


def listener_targets(envs) -> list[str]:
    """TCP ports and Unix-domain socket paths vecbridge listens on."""
    targets = []
    for p in own_processes():
        try:
            for c in p.net_connections("tcp"):
                if c.status == psutil.CONN_LISTEN and c.laddr.ip == "127.0.0.1":
                    targets.append(str(c.laddr.port))
        except psutil.Error:
            continue
    targets += sorted(str(p) for p in Path(envs._run.run_dir, ".sockets").glob("*.sock"))
    return targets


# ---------------------------------------------------------------- the soak
def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--minutes", type=float, default=30.0)
    ap.add_argument("--num-envs", type=int, default=16)
    ap.add_argument("--kill-every", type=float, default=3.0)
    ap.add_argument("--stranger-every", type=float, default=1.0)
    ap.add_argument("--warmup", type=float, default=30.0, help="seconds before the start figures are taken")
    ap.add_argument("--num-workers", type=int, default=None)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--json", type=Path)
    ap.add_argument("--stranger", nargs=2, metavar=("EVERY", "TARGETS_FILE"), help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.stranger:
        stranger_main(float(args.stranger[0]), args.stranger[1])
        return 0

    import vecbridge
    from vecbridge.vector.budget import RestartBudget

    load_start = os.getloadavg()
    rng = random.Random(args.seed)
    budget = RestartBudget(max_restarts=10**9, max_per_period=10**9, period_s=1.0)  # every kill is relaunched
    kw = {} if args.num_workers is None else {"num_workers": args.num_workers}
    envs = vecbridge.make("vecbridge/Echo-v0", num_envs=args.num_envs, restart_budget=budget, **kw)
    n = envs.num_envs
    stop = threading.Event()
    kills: list[int] = []
    error: list[str] = []
    targets_file = Path(envs._run.run_dir) / "soak-targets"

    def killer() -> None:
        while not stop.wait(args.kill_every):
            alive = games()
            if not alive:
                continue
            victim = rng.choice(alive)
            try:
                os.kill(victim.pid, signal.SIGKILL)
                kills.append(victim.pid)
            except ProcessLookupError:
                pass

    restarts = np.zeros(n, dtype=np.int64)  # the highest vecbridge_restarts reported per instance
    failures = 0
    steps = 0
    series = []
    stranger = None
    t_start = time.monotonic()
    try:
        envs.reset(seed=args.seed)
        targets_file.write_text("\n".join(listener_targets(envs)))
        stranger = subprocess.Popen([sys.executable, __file__, "--stranger", str(args.stranger_every), str(targets_file)],
                                    stdin=subprocess.DEVNULL)  # fmt: skip
        kill_thread = threading.Thread(target=killer, daemon=True)
        kill_thread.start()
        start = None
        end_at = t_start + args.warmup + args.minutes * 60
        next_sample = time.monotonic()
        actions = np.zeros(n, dtype=np.int64)
        while time.monotonic() < end_at:
            actions[:] = [rng.randrange(2) for _ in range(n)]
            _, _, _, _, info = envs.step(actions)
            steps += 1
            if "vecbridge_error" in info:
                failures += int(info["_vecbridge_error"].sum())
            if "vecbridge_restarts" in info:
                mask = info["_vecbridge_restarts"]
                restarts[mask] = np.maximum(restarts[mask], info["vecbridge_restarts"][mask])
            now = time.monotonic()
            if now >= next_sample:
                m = measure()
                m.update(steps=steps, kills=len(kills), rejected=envs.rejected_connections)
                series.append(m)
                if start is None and now - t_start >= args.warmup:
                    start = dict(m, restarts=int(restarts.sum()))
                next_sample = now + 10
        stop.set()
        kill_thread.join()
        stranger.kill()
        stranger.wait()
        # settle: every killed instance must come back and step
        settle_until = time.monotonic() + 120
        while time.monotonic() < settle_until:
            _, _, _, _, info = envs.step(np.zeros(n, dtype=np.int64))
            steps += 1
            if "vecbridge_restarts" in info:
                mask = info["_vecbridge_restarts"]
                restarts[mask] = np.maximum(restarts[mask], info["vecbridge_restarts"][mask])
            if int(restarts.sum()) >= len(kills):
                break
        quiet_until = time.monotonic() + envs.spec_launch.handshake_timeout + 1
        while time.monotonic() < quiet_until:  # the strangers' last connections meet their deadline
            envs.step(np.zeros(n, dtype=np.int64))
            steps += 1
        end = measure()
        end.update(steps=steps, kills=len(kills), rejected=envs.rejected_connections, restarts=int(restarts.sum()))
        alive_games = len(games())
    except Exception as exc:  # noqa: BLE001 -- the soak's finding
        error.append(f"{type(exc).__name__}: {exc}")
        start = start or {}
        end, alive_games = measure(), len(games())
    finally:
        stop.set()
        if stranger is not None and stranger.poll() is None:
            stranger.kill()
            stranger.wait()
        stats = envs.connection_stats()
        envs.close()

    elapsed = time.monotonic() - t_start
    result = {
        "minutes": args.minutes, "num_envs": n, "kill_every_s": args.kill_every, "stranger_every_s": args.stranger_every,
        "steps": steps, "env_steps_per_s": round(steps * n / elapsed, 1), "elapsed_s": round(elapsed, 1),
        "kills": len(kills), "restarts": end.get("restarts"), "failed_steps_reported": failures,
        "games_alive_at_end": alive_games, "refused_connections": stats, "start": start, "end": end,
        "errors": error, "load_average_start": load_start, "load_average_end": os.getloadavg(),
        "cpus": os.cpu_count(), "series": series,
    }  # fmt: skip
    checks = {}
    if start and "rss_mib" in start:
        growth = (end["rss_mib"] - start["rss_mib"]) / start["rss_mib"]
        result["rss_growth"] = round(growth, 4)
        checks["RSS growth < 5 %"] = growth < 0.05
        checks["open files flat"] = end["open_files"] <= start["open_files"]
    checks["every killed instance relaunched"] = result["restarts"] == len(kills) and alive_games == n
    checks["no exception reached the caller"] = not error
    result["checks"] = checks
    print(json.dumps({k: v for k, v in result.items() if k != "series"}, indent=1))
    if args.json:
        args.json.write_text(json.dumps(result, indent=1))
    return 0 if all(checks.values()) and len(checks) == 4 else 1


if __name__ == "__main__":
    sys.exit(main())
