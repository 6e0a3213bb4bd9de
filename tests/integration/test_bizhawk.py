"""The BizHawk (EmuHawk) backend: its command lines, its per-instance config.ini, and the
whole launch path end to end with a fake EmuHawk.exe (tests/games/lua/fake_emuhawk.py),
which reads EmuHawk's command line and runs the Lua script under lua5.4 with the BizHawk
stand-in (comm socket, userdata) and a fake emulator API (fake_bizhawk_emu.lua).
BizHawk itself cannot be installed here.
"""

from __future__ import annotations

import json
import stat
import sys
from pathlib import Path

import numpy as np
import pytest
from gymnasium import spaces

import vecbridge
from vecbridge import GameEnv, LaunchError
from vecbridge.backends.bizhawk import bizhawk_spec, emuhawk_command, find_emuhawk, instance_config
from vecbridge.backends.instance import bizhawk_launcher
from vecbridge.backends.instance.bizhawk_launcher import write_config
from vecbridge.backends.fceux import EFP_ROM

pytestmark = pytest.mark.lua

GAMES = Path(__file__).resolve().parents[1] / "games" / "lua"
TEMPLATE = GAMES / "template_processor.lua"
LAUNCHERS = str(vecbridge.launchers_dir())


def argv_of(spec, instance=3, port=4567, token="f00dcafe", workdir="/w/instance-3") -> list[str]:
    values = spec.template_values(host="127.0.0.1", port=port, instance=instance, token=token, workdir=Path(workdir))
    return spec.argv(values)


def env_of(spec, instance=3, port=4567, token="f00dcafe", workdir="/w/instance-3") -> dict:
    values = spec.template_values(host="127.0.0.1", port=port, instance=instance, token=token, workdir=Path(workdir))
    return spec.environment(values, Path(workdir))


# ------------------------------------------------------------------ command lines


def test_linux_command_line(tmp_path):
    folder = tmp_path / "BizHawk-2.9.1"
    spec = bizhawk_spec("escape_from_pong", rom=EFP_ROM, emuhawk=folder, windows=False, frameskip=4)
    argv = argv_of(spec)
    split = argv.index("--")
    assert argv[:split] == [
        sys.executable, "-m", "vecbridge.backends.instance.bizhawk_launcher",
        "--write-config", "/w/instance-3/config.ini",
        "--settings", json.dumps(instance_config(windows=False), separators=(",", ":")),
    ]
    assert argv[split + 1:] == [
        "xvfb-run", "-a", "-s", "-screen 0 1280x1024x24",
        "mono", str(folder / "EmuHawk.exe"),
        "--config=/w/instance-3/config.ini",
        "--socket_ip=127.0.0.1",
        "--socket_port=4567",
        f"--lua={LAUNCHERS}/lua/processor.lua",
        "--userdata=vecbridge_instance:3;vecbridge_token:f00dcafe",
        "--chromeless",
        str(EFP_ROM),
    ]
    assert spec.framing == "comm"  # EmuHawk speaks through its comm socket client
    assert spec.config == {"processor": "escape_from_pong", "frameskip": 4, "rom": str(EFP_ROM)}
    env = env_of(spec)
    assert env["LD_LIBRARY_PATH"].startswith(f"{folder}/dll:{folder}:")
    assert env["VECBRIDGE_PROCESSOR"] == "escape_from_pong"
    # vecbridge's per-instance environment: EmuHawk inherits the token and config, and a private HOME
    assert env["VECBRIDGE_TOKEN"] == "f00dcafe" and env["HOME"] == "/w/instance-3/home"
    assert json.loads(env["VECBRIDGE_CONFIG"])["processor"] == "escape_from_pong"


def test_windows_command_line(tmp_path):
    exe = tmp_path / "EmuHawk.exe"
    spec = bizhawk_spec(TEMPLATE, rom=EFP_ROM, emuhawk=exe, windows=True)
    argv = argv_of(spec, instance=0, port=50000, token="ab12", workdir="C:/run/instance-0")
    emu = argv[argv.index("--") + 1:]
    assert emu[0] == str(exe) and "mono" not in emu and "xvfb-run" not in emu
    assert emu[1:] == [
        "--config=C:/run/instance-0/config.ini", "--socket_ip=127.0.0.1", "--socket_port=50000",
        f"--lua={LAUNCHERS}/lua/processor.lua", "--userdata=vecbridge_instance:0;vecbridge_token:ab12",
        "--chromeless", str(EFP_ROM),
    ]
    settings = json.loads(argv[argv.index("--settings") + 1])
    assert settings["SingleInstanceMode"] is False and "DispMethod" not in settings
    assert spec.config["processor"] == str(TEMPLATE.resolve())  # a path: resolved
    assert "LD_LIBRARY_PATH" not in spec.env


def test_command_line_options(tmp_path):
    cmd = emuhawk_command(tmp_path / "EmuHawk.exe", None, windows=False, xvfb=False, mono="/opt/mono/bin/mono",
                          extra_args=["--audiosync=false", "--movie={weird}.bk2"])
    assert cmd[:2] == ["/opt/mono/bin/mono", str(tmp_path / "EmuHawk.exe")]
    assert cmd[-2:] == ["--audiosync=false", "--movie={{weird}}.bk2"]  # literal braces survive the template
    # flags that 2.9 would open as the ROM and 2.10 refuses, or that vecbridge sets itself
    with pytest.raises(ValueError, match="not an EmuHawk flag that BizHawk 2.9 and 2.10 both read"):
        emuhawk_command(tmp_path, None, extra_args=["--gdi"])
    with pytest.raises(ValueError, match="is set by vecbridge itself"):
        emuhawk_command(tmp_path, None, extra_args=["--lua=other.lua"])
    assert not any(a.endswith(".nes") for a in cmd)  # no ROM: the processor's ROM is opened with client.openrom
    spec = bizhawk_spec("x", emuhawk=tmp_path, windows=False, config_overrides={"SpeedPercent": 400},
                        base_config=tmp_path / "mine.ini")
    argv = argv_of(spec)
    assert json.loads(argv[argv.index("--settings") + 1])["SpeedPercent"] == 400
    assert argv[argv.index("--base-config") + 1] == str(tmp_path / "mine.ini")


def test_find_emuhawk(tmp_path, monkeypatch):
    monkeypatch.delenv("BIZHAWK_DIR", raising=False)
    with pytest.raises(FileNotFoundError, match="BIZHAWK_DIR"):
        find_emuhawk()
    monkeypatch.setenv("BIZHAWK_DIR", str(tmp_path))
    assert find_emuhawk() == tmp_path / "EmuHawk.exe"
    assert find_emuhawk(tmp_path / "EmuHawk.exe") == tmp_path / "EmuHawk.exe"


def test_config_ini(tmp_path):
    base = tmp_path / "user.ini"
    base.write_text("\ufeff" + json.dumps({"SingleInstanceMode": True, "SoundVolume": 30}), encoding="utf-8")
    target = tmp_path / "inst" / "config.ini"
    assert bizhawk_launcher.main(["--write-config", str(target), "--settings", json.dumps(instance_config(True)),
                         "--base-config", str(base), "--"]) == 0
    written = json.loads(target.read_text(encoding="utf-8"))
    assert written["SingleInstanceMode"] is False  # BizHawk's Config.SingleInstanceMode
    assert written["SoundVolume"] == 30 and written["ClockThrottle"] is False and written["FirstBoot"] is False
    assert write_config(tmp_path / "plain.ini", {"A": 1}) == {"A": 1}
    assert bizhawk_launcher.main(["--write-config", str(target)]) == 2  # no "--": a usage error


# ------------------------------------------------------------------ end to end with a fake EmuHawk.exe


@pytest.fixture
def fake_emuhawk(tmp_path) -> Path:
    folder = tmp_path / "BizHawk"
    folder.mkdir()
    exe = folder / "EmuHawk.exe"
    exe.write_text(f"#!/bin/sh\nexec {sys.executable} {GAMES / 'fake_emuhawk.py'} \"$@\"\n")
    exe.chmod(exe.stat().st_mode | stat.S_IXUSR)
    return exe


@pytest.mark.parametrize("parser", ["2.9", "2.10"])
def test_fake_emuhawk_end_to_end(fake_emuhawk, tmp_path, monkeypatch, parser):
    """The command line read as BizHawk 2.9 and 2.10 read theirs (ArgParser.cs of each)."""
    report = tmp_path / "args.json"
    monkeypatch.setenv("FAKE_EMUHAWK_ARGS_OUT", str(report))
    monkeypatch.setenv("FAKE_EMUHAWK_PARSER", parser)
    spec = bizhawk_spec(TEMPLATE, rom=EFP_ROM, emuhawk=fake_emuhawk, windows=True, observation_type="value",
                        startup_timeout=30, extra_args=("--audiosync=false",))
    env = GameEnv(spec)
    try:
        seen = json.loads(report.read_text())
        args, config = seen["args"], seen["config"]
        assert args["socket_ip"] == "127.0.0.1" and int(args["socket_port"]) > 0
        assert args["userdata"].startswith("vecbridge_instance:0;vecbridge_token:")
        assert args["rom"] == str(EFP_ROM) and args["chromeless"] is True and args["audiosync"] == "false"
        assert args["lua"] == f"{LAUNCHERS}/lua/processor.lua"
        assert config["SingleInstanceMode"] is False and Path(args["config"]).name == "config.ini"
        assert env.action_space == spaces.MultiDiscrete([2, 2])
        obs, _ = env.reset(seed=0)
        assert obs[0] == 120
        obs, *_ = env.step(np.array([1, 0]))
        assert obs[0] == 122
    finally:
        env.close()


def test_fake_emuhawk_2_10_parser_refuses_what_2_10_refuses(fake_emuhawk, tmp_path, monkeypatch):
    """The fake's 2.10 mode is strict where System.CommandLine is (so the test above means something)."""
    import subprocess

    config = tmp_path / "c.ini"
    config.write_text('{"SingleInstanceMode": false}')
    monkeypatch.setenv("FAKE_EMUHAWK_PARSER", "2.10")
    for argv, message in ((["--gdi"], "Unrecognized command or argument '--gdi'"),
                          (["--Chromeless"], "Unrecognized command or argument '--Chromeless'"),
                          (["--lua=a.lua", "--lua=b.lua"], "expects a single argument"),
                          (["a.nes", "b.nes"], "Unrecognized command or argument 'b.nes'")):
        done = subprocess.run([str(fake_emuhawk), f"--config={config}", *argv], capture_output=True, text=True, timeout=30)
        assert done.returncode != 0 and message in done.stderr, (argv, done.stderr)


def test_fake_emuhawk_vector_env(fake_emuhawk):
    """Two EmuHawks, each with its own config.ini, through the vector env (comm framing)."""
    spec = bizhawk_spec(TEMPLATE, rom=EFP_ROM, emuhawk=fake_emuhawk, windows=True, startup_timeout=30)
    envs = vecbridge.make(spec, num_envs=2, observation_type="image", frameskip=2)
    try:
        assert envs.single_observation_space == spaces.Box(0, 255, (24, 32, 3), np.uint8)
        obs, _ = envs.reset(seed=0)
        for _ in range(5):
            obs, reward, terminated, truncated, info = envs.step(np.array([[1, 0], [0, 1]]))
        # player x: 120 + 10 * 2 (right) and 120 - 10 * 2 (left); its column is x * 32 // 256
        assert (obs[0][:, 140 * 32 // 256] == 255).all() and (obs[1][:, 100 * 32 // 256] == 255).all()
    finally:
        envs.close()


def test_fake_emuhawk_hash_mismatch(fake_emuhawk, tmp_path):
    processor = tmp_path / "p.lua"
    processor.write_text(TEMPLATE.read_text(encoding="utf-8").replace('this.HASH = ""', 'this.HASH = "ABCDEF"'))
    with pytest.raises(LaunchError, match=r"(?s)HASH not match.*abcdef.*1dd014ece0763d49710ca3f27d032ae227cd9d96"):
        GameEnv(bizhawk_spec(processor, rom=EFP_ROM, emuhawk=fake_emuhawk, windows=True, check_hash="error"))


def test_processor_opens_its_rom_when_emuhawk_has_none(fake_emuhawk, monkeypatch):
    """Without a ROM on the command line, the runtime opens the processor's ROM (client.openrom), as gym-bizhawk."""
    monkeypatch.setenv("TEMPLATE_ROM", str(EFP_ROM))
    spec = bizhawk_spec(TEMPLATE, rom=None, emuhawk=fake_emuhawk, windows=True)
    env = GameEnv(spec)
    try:
        assert env.call("framecount") >= 1
        assert env.call("ROM") == str(EFP_ROM)
    finally:
        env.close()


def test_escape_from_pong_processor_loads_under_the_standin(fake_emuhawk):
    """The shipped processor loads under BizHawk's API too: the runtime parses it and waits for
    the game to start before its hello; the fake console is not Escape from Pong, so that wait
    ends in vain, with the processor's own message, before the hello (stage "connected")."""
    spec = bizhawk_spec("escape_from_pong", rom=EFP_ROM, emuhawk=fake_emuhawk, windows=True, observation_type="value")
    with pytest.raises(LaunchError, match="did not start within 1200 frames") as failed:
        GameEnv(spec)
    assert failed.value.stage == "connected" and "escape_from_pong" in failed.value.log_tail


def test_install_script_dry_run():
    """scripts/install-bizhawk.sh needs the internet (not here): its --dry-run shows what it would do."""
    import subprocess

    script = Path(__file__).resolve().parents[2] / "scripts" / "install-bizhawk.sh"
    for version in ("2.10", "2.9.1"):
        done = subprocess.run(["bash", str(script), "--dry-run", version, "/opt/bh"], capture_output=True, text=True,
                              timeout=30)
        assert done.returncode == 0, done.stderr
        url = f"https://github.com/TASEmulators/BizHawk/releases/download/{version}/BizHawk-{version}-linux-x64.tar.gz"
        assert url in done.stdout and "download.mono-project.com" in done.stdout and "mono-complete" in done.stdout
        assert "export BIZHAWK_DIR=/opt/bh" in done.stdout
    done = subprocess.run(["bash", str(script), "--dry-run", "2.9"], capture_output=True, text=True, timeout=30)
    assert done.returncode == 2 and "use 2.9.1 or later" in done.stderr


@pytest.mark.parametrize("option, value, least", [("lives", 2.5, 1), ("lives", 0, 1), ("max_steps", "x", 0)])
def test_escape_from_pong_processor_refuses_an_option_that_is_no_whole_number(fake_emuhawk, option, value, least):
    """Under another spec than vecbridge's (which checks them first), the processor itself refuses them."""
    spec = bizhawk_spec("escape_from_pong", rom=EFP_ROM, emuhawk=fake_emuhawk, windows=True, observation_type="value",
                        **{option: value})  # fmt: skip
    with pytest.raises(LaunchError, match=rf"{option} must be a whole number, {least} or more, got {value}"):
        GameEnv(spec)
