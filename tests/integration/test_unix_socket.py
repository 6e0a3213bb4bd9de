"""The Unix-domain socket: offered to every game, used by the Python, Lua and Node clients, private to the user."""

from __future__ import annotations

import os
import socket
import stat
import subprocess
from dataclasses import replace
from pathlib import Path

import numpy as np
import psutil
import pytest

import vecbridge
from vecbridge.launch.listener import Listener

GAMES = Path(__file__).resolve().parents[1] / "games"


def transports(pid: int) -> set[str]:
    """The kinds of sockets process ``pid`` (a game) holds: "unix" and/or "tcp"."""
    proc = psutil.Process(pid)
    kinds = set()
    if any(c.raddr or c.status == psutil.CONN_NONE for c in proc.net_connections("unix")):
        kinds.add("unix")
    if any(c.raddr for c in proc.net_connections("tcp")):
        kinds.add("tcp")
    return kinds


def game_pids(envs) -> list[int]:
    return [inst.process.pid for inst in envs._pipes[0].group.instances.values()]


CLIENTS = {
    "python": vecbridge.registered()["vecbridge/Echo-v0"],
    "lua": vecbridge.LaunchSpec(command=["lua5.4", str(GAMES / "lua" / "counter.lua")],
                                env={"LUA_PATH": "{launchers}/lua/?.lua;;"}),
    "luajit": vecbridge.LaunchSpec(command=["luajit", str(GAMES / "lua" / "counter.lua")],
                                   env={"LUA_PATH": "{launchers}/lua/?.lua;;"}),
    "node": vecbridge.LaunchSpec(command=["node", str(GAMES / "js" / "counter.mjs")], startup_timeout=20),
}  # fmt: skip


@pytest.mark.parametrize("client", CLIENTS)
def test_clients_that_can_use_the_unix_socket_do(client):
    envs = vecbridge.make(CLIENTS[client], num_envs=2, num_workers=0)
    try:
        envs.reset(seed=0)
        envs.step(np.zeros(2, dtype=np.int64))
        assert [transports(pid) for pid in game_pids(envs)] == [{"unix"}, {"unix"}]
    finally:
        envs.close()


@pytest.mark.parametrize("client", ["python", "lua", "node"])
def test_without_the_unix_socket_the_clients_use_tcp(client):
    envs = vecbridge.make(replace(CLIENTS[client], unix_socket=False), num_envs=1, num_workers=0)
    try:
        envs.reset(seed=0)
        assert [transports(pid) for pid in game_pids(envs)] == [{"tcp"}]
    finally:
        envs.close()


def test_the_socket_lives_in_a_private_folder_and_goes_with_the_run():
    envs = vecbridge.make("vecbridge/Echo-v0", num_envs=1, num_workers=0)
    listener = envs._pipes[0].group.listener
    path = Path(listener.unix_path)
    try:
        assert path.is_socket() and path.parent.parent == envs._run.run_dir
        mode = stat.S_IMODE(path.parent.stat().st_mode)
        assert mode == 0o700 and path.parent.stat().st_uid == os.getuid()
    finally:
        envs.close()
    assert not path.exists()


@pytest.mark.skipif(os.geteuid() != 0, reason="needs root to try the socket as another user (the folder's mode is checked above)")
def test_another_user_cannot_connect():
    envs = vecbridge.make("vecbridge/Echo-v0", num_envs=1, num_workers=0)
    try:
        code = f"import socket; s = socket.socket(socket.AF_UNIX); s.connect({envs._pipes[0].group.listener.unix_path!r})"
        # the system Python: a venv under a private home may not be readable by the other user
        out = subprocess.run(["/usr/bin/python3", "-c", code], user=65534, capture_output=True, text=True, timeout=30, cwd="/")
        assert out.returncode != 0 and "PermissionError" in out.stderr, out.stderr
    finally:
        envs.close()


def test_the_token_is_checked_on_the_unix_socket_too():
    envs = vecbridge.make("vecbridge/Echo-v0", num_envs=1, num_workers=0)
    try:
        envs.reset(seed=0)
        s = socket.socket(socket.AF_UNIX)
        s.connect(envs._pipes[0].group.listener.unix_path)
        head = b'{"type":"hello","version":1,"instance":0,"token":"guess","observation_space":"float","action_space":"bool"}'
        payload = len(head).to_bytes(4, "little") + head
        s.sendall(len(payload).to_bytes(4, "little") + payload)
        s.settimeout(10)
        for _ in range(20):  # the gate reads when the env polls
            envs.step(np.zeros(1, dtype=np.int64))
        assert s.recv(100) == b""  # closed by vecbridge
        s.close()
        assert envs.connection_stats()["bad_token"] == 1
    finally:
        envs.close()


def test_a_run_folder_too_deep_for_a_socket_path_falls_back_to_a_private_temporary_folder(tmp_path):
    deep = tmp_path / ("d" * 60) / ("e" * 60)
    envs = vecbridge.make("vecbridge/Echo-v0", num_envs=1, num_workers=0, run_dir=str(deep))
    try:
        path = Path(envs._pipes[0].group.listener.unix_path)
        assert len(os.fsencode(path)) <= 107 and deep not in path.parents
        assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700
        envs.reset(seed=0)
        assert transports(game_pids(envs)[0]) == {"unix"}
    finally:
        envs.close()
    assert not path.parent.exists()


def test_a_listener_without_a_launch_has_tcp_only():
    listener = Listener()
    try:
        assert listener.unix_path is None and len(listener.sockets) == 1
    finally:
        listener.close()
