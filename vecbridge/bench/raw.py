"""The ``raw`` runner: the game's own loop with no vecbridge at all, the physical limit of a backend.

Each instance is the same emulator on the same ROM, started the same way as vecbridge
starts it (FCEUX headless, or Node with jsnes), running a loop of its own that does what
one env step does there: the same buttons and frames (``frameskip`` of them, with the
RAM reads the processor makes each frame) and the same observation per step
(``gui.gdscreenshot(true)`` for the screen, ``memory.readbyterange`` for
the RAM, the processor's 8 reads for values; under Node the game object's own
``step()``). No protocol, no socket per step: this process sends one byte, the
instance runs ``BATCH`` steps and answers one byte, so that an idle instance waits (the
bench interleaves runners) and the round trip costs nothing against the steps.
Instances are stepped in lockstep batches, as vecbridge's lockstep ``step()`` does.

Known games: ``vecbridge/EscapeFromPong-v0`` (FCEUX) and ``vecbridge/EscapeFromPongJS-v0``
(Node + jsnes); the runner is unavailable for others.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

from vecbridge.bench.base import Runner, RunnerUnavailable

#: steps an instance runs per round trip
BATCH = 16

FCEUX_LOOP = r"""
local socket = require("socket")
local obs_type, frameskip, batch = os.getenv("RAW_OBS"), tonumber(os.getenv("RAW_FRAMESKIP")), tonumber(os.getenv("RAW_BATCH"))
math.randomseed(tonumber(os.getenv("RAW_SEED")))
emu.speedmode("maximum")
emu.frameadvance()
local DIRS = { [0] = {}, { up = true }, { down = true }, { left = true }, { right = true }, { up = true, left = true },
  { up = true, right = true }, { down = true, left = true }, { down = true, right = true } }
local read, sink = memory.readbyte, 0
local function value()  -- the processor's getObservation(): 8 values from 11 bytes
  return { read(0x16) + read(0x15) / 256, read(0x18) + read(0x17) / 256, read(0x19) + read(0x1A) * 256,
    read(0x1B) + read(0x1C) * 256, read(0x1E), read(0x1F), read(0x1D), 3 }
end
local sock = assert(socket.connect(os.getenv("RAW_HOST"), tonumber(os.getenv("RAW_PORT"))))
sock:setoption("tcp-nodelay", true)
sock:send("r")
while sock:receive(1) == "g" do
  for _ = 1, batch do
    local buttons = DIRS[math.random(0, 8)]
    for _ = 1, frameskip do
      joypad.set(1, buttons)
      emu.frameadvance()
      -- what the processor's step reads each frame: level pointer, pause flag, ball position
      sink = read(0x31) + read(0x32) + read(0x02) + read(0x16) + read(0x18)
    end
    local obs
    if obs_type == "image" then obs = gui.gdscreenshot(true)
    elseif obs_type == "ram" then obs = memory.readbyterange(0, 2048)
    elseif obs_type == "both" then obs = { gui.gdscreenshot(true), value() }
    else obs = value() end
  end
  sock:send("d")
end
emu.exit()
"""

NODE_LOOP = r"""
import net from 'node:net';
import { pathToFileURL } from 'node:url';
const { EscapeFromPong, loadJsnes } = await import(pathToFileURL(process.env.RAW_GAME).href);
const config = JSON.parse(process.env.RAW_CONFIG);
const game = new EscapeFromPong(config, await loadJsnes(config));
const batch = Number(process.env.RAW_BATCH);
let seed = Number(process.env.RAW_SEED) + 1, sink = 0;
game.reset(null, null);
const sock = net.connect({ host: process.env.RAW_HOST, port: Number(process.env.RAW_PORT) }, () => sock.write('r'));
sock.setNoDelay(true);
sock.on('data', (data) => {
  for (const byte of data) {
    if (byte !== 0x67) { sock.destroy(); process.exit(0); }  // 'g'
    for (let i = 0; i < batch; i++) {
      seed = (seed * 48271) % 2147483647;
      const r = game.step(seed % 9);  // the game's own step: frames, rules, observation
      sink += r.reward;
      if (r.terminated || r.truncated) game.reset(null, null);
    }
    sock.write('d');
  }
});
sock.on('close', () => process.exit(0));
"""


class RawRunner(Runner):
    name = "raw"
    takes_preprocess = True  # it runs on raw frames: the limit vecbridge's preprocessing is timed against
    description = "the game's own loop, no vecbridge: the same frames and observation per step (the physical limit)"

    def start(self) -> None:
        from vecbridge.registry import resolve_spec

        # the same frames and screenshot per step; preprocessing is vecbridge's work, timed against it
        self.spec = resolve_spec(self.env_id, {k: v for k, v in self.options.items() if k != "preprocess"})
        make = {"EscapeFromPong": self._fceux_command, "EscapeFromPongJS": self._node_command}.get(self.spec.name)
        if make is None:
            raise RunnerUnavailable(f"no raw loop for {self.env_id} (known: the FCEUX and jsnes Escape from Pong)")
        config = self.spec.config
        self.dir = Path(tempfile.mkdtemp(prefix="vecbridge-raw-"))
        self.procs: list[subprocess.Popen] = []
        self.socks: list[socket.socket] = []
        listener = socket.create_server(("127.0.0.1", 0))
        try:
            listener.settimeout(60.0)
            command, extra = make(config)
            for i in range(self.num_envs):
                home = self.dir / f"instance-{i}"
                home.mkdir()
                env = {
                    **os.environ, **extra,
                    "HOME": str(home), "XDG_RUNTIME_DIR": str(home), "XDG_CONFIG_HOME": str(home / ".config"),
                    "TMPDIR": str(home), "VECBRIDGE_TOKEN": f"raw-{uuid.uuid4().hex}",  # counted as a game by the bench
                    "RAW_HOST": "127.0.0.1", "RAW_PORT": str(listener.getsockname()[1]), "RAW_BATCH": str(BATCH),
                    "RAW_SEED": str(self.seed + i), "RAW_OBS": str(config.get("observation_type", "image")),
                    "RAW_FRAMESKIP": str(config.get("frameskip", 4)), "RAW_CONFIG": json.dumps({**config, "noop_max": 0}),
                }  # fmt: skip
                self.procs.append(subprocess.Popen(command, env=env, cwd=home, stdin=subprocess.DEVNULL,
                                                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))  # fmt: skip
            for _ in range(self.num_envs):
                sock, _ = listener.accept()
                sock.settimeout(None)
                sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
                if sock.recv(1) != b"r":
                    raise RuntimeError("a raw instance did not start its loop")
                self.socks.append(sock)
        finally:
            listener.close()

    def _fceux_command(self, config: dict[str, Any]) -> tuple[list[str], dict[str, str]]:
        from vecbridge.backends.fceux import find_fceux

        script = self.dir / "raw.lua"
        script.write_text(FCEUX_LOOP)
        command = [find_fceux(), "--no-config", "1", "--videoDriver", "1", "--sound", "0", "--loadlua", str(script),
                   str(config["rom"])]  # fmt: skip
        return command, {"QT_QPA_PLATFORM": "offscreen", "SDL_AUDIODRIVER": "dummy"}

    def _node_command(self, config: dict[str, Any]) -> tuple[list[str], dict[str, str]]:
        import vecbridge
        from vecbridge.backends.node import env_name, fetch_jsnes, find_node

        script = self.dir / "raw.mjs"
        script.write_text(NODE_LOOP)
        game = vecbridge.launchers_dir() / "js" / "games" / "escape_from_pong.mjs"
        return [find_node(), str(script)], {"RAW_GAME": str(game), env_name("jsnes"): str(fetch_jsnes())}

    def step(self) -> int:
        for sock in self.socks:
            sock.sendall(b"g")
        for sock in self.socks:
            if sock.recv(1) != b"d":
                raise ConnectionError("a raw instance ended its loop")
        return BATCH * len(self.socks)

    def close(self) -> None:
        for sock in getattr(self, "socks", []):
            try:
                sock.sendall(b"q")
            except OSError:
                pass
            sock.close()
        deadline = time.monotonic() + 5.0
        for proc in getattr(self, "procs", []):
            try:
                proc.wait(timeout=max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        if getattr(self, "dir", None) is not None:
            shutil.rmtree(self.dir, ignore_errors=True)
