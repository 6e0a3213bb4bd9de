"""Folders and files a stranger on the machine could have prepared: refused, not used.

The stranger's side needs a second user, which tests cannot count on; what stands for it
here is what they would leave: a folder of another owner (``os.chown`` as root, else
skipped: an unprivileged test cannot give a folder away), a symbolic link, a folder others
may write to, a link where FCEUX writes its log.
"""

from __future__ import annotations

import os
import stat
import subprocess

import pytest

import vecbridge
from vecbridge.backends.fceux import PRELUDE
from vecbridge.errors import UnsafeFolder
from vecbridge.launch.folders import append_log, private_folder, run_folder


def mode(path) -> int:
    return stat.S_IMODE(os.lstat(path).st_mode)


def test_new_folders_are_private_and_existing_own_ones_are_made_so(tmp_path):
    made = run_folder(tmp_path / "a" / "run")
    assert mode(made) == 0o700
    mine = tmp_path / "mine"
    mine.mkdir(mode=0o755)
    os.chmod(mine, 0o755)
    assert run_folder(mine) == mine and mode(mine) == 0o755  # a folder of the user's own, left as it is
    inner = mine / "instance-0"
    inner.mkdir()
    os.chmod(inner, 0o755)
    private_folder(inner)
    assert mode(inner) == 0o700  # vecbridge's own folder in it: made private


def test_a_run_folder_others_may_write_to_is_refused(tmp_path):
    shared = tmp_path / "shared"
    shared.mkdir()
    os.chmod(shared, 0o777)
    with pytest.raises(UnsafeFolder, match=r"can be written by other users \(mode 0777\).*chmod go-w"):
        run_folder(shared)


def test_links_and_files_are_refused(tmp_path):
    target = tmp_path / "target"
    target.mkdir()
    link = tmp_path / "link"
    link.symlink_to(target)
    with pytest.raises(UnsafeFolder, match="is a symbolic link"):
        run_folder(link)
    with pytest.raises(UnsafeFolder, match="is a symbolic link"):
        private_folder(link, "folder of instance 0")
    plain = tmp_path / "file"
    plain.write_text("x")
    with pytest.raises(UnsafeFolder, match="is not a folder") as refused:
        run_folder(plain)
    assert refused.value.path == str(plain) and isinstance(refused.value, PermissionError)


@pytest.mark.skipif(os.geteuid() != 0, reason="giving a folder to another user needs root")
def test_another_users_folder_is_refused_with_its_owner_named(tmp_path):
    theirs = tmp_path / "theirs"
    theirs.mkdir(mode=0o755)
    os.chown(theirs, 12345, 12345)
    with pytest.raises(UnsafeFolder, match=r"belongs to uid 12345, not to you"):
        run_folder(theirs)
    with pytest.raises(UnsafeFolder, match=r"belongs to uid 12345"):
        private_folder(theirs)


def test_a_game_is_not_launched_into_a_prepared_run_folder(tmp_path):
    run = tmp_path / "run"
    run.mkdir()
    (tmp_path / "elsewhere").mkdir()
    (run / "instance-0").symlink_to(tmp_path / "elsewhere")  # a planted instance folder
    with pytest.raises(UnsafeFolder, match=r"folder of instance 0 .*instance-0 is a symbolic link"):
        vecbridge.make("vecbridge/Echo-v0", num_envs=1, num_workers=0, run_dir=run)
    assert os.listdir(tmp_path / "elsewhere") == []


def test_logs_are_never_appended_through_a_link(tmp_path):
    victim = tmp_path / "victim"
    victim.write_text("mine\n")
    (tmp_path / "game.log").symlink_to(victim)
    with pytest.raises(OSError):
        append_log(tmp_path / "game.log")
    fd = append_log(tmp_path / "real.log")
    os.close(fd)
    assert mode(tmp_path / "real.log") == 0o600 and victim.read_text() == "mine\n"


def prelude(rom, log, protected: bool):
    """FCEUX's launch prelude with ``cat`` of the sysctl answered by a stand-in on PATH."""
    bin_dir = rom.parent / "bin"
    bin_dir.mkdir(exist_ok=True)
    fake_cat = bin_dir / "cat"
    fake_cat.write_text(f"#!/bin/sh\necho {1 if protected else 0}\n")
    fake_cat.chmod(0o755)
    env = dict(os.environ, PATH=f"{bin_dir}:{os.environ['PATH']}")
    return subprocess.run(["/bin/sh", "-c", PRELUDE, "fceux-launch", str(rom), str(log), "echo", "FCEUX ran"],
                          capture_output=True, text=True, env=env)  # fmt: skip


def test_fceux_is_not_started_where_its_fixed_log_is_a_strangers_link(tmp_path):
    rom, log, victim = tmp_path / "game.nes", tmp_path / "fceux.log", tmp_path / "victim"
    rom.write_bytes(b"NES\x1a")
    victim.write_text("mine\n")
    ran = prelude(rom, log, protected=False)
    assert (ran.returncode, ran.stdout.strip()) == (0, "FCEUX ran") and mode(log) == 0o600  # created as the user's
    log.unlink()
    log.symlink_to(victim)
    refused = prelude(rom, log, protected=False)
    assert refused.returncode == 77 and refused.stdout == ""
    assert "refusing to start FCEUX" in refused.stderr and "fs.protected_symlinks" in refused.stderr
    assert "which is a symbolic link, and" in refused.stderr and "its owner or root can remove" in refused.stderr
    if os.geteuid() == 0:  # (only root can make a file another user's)
        log.unlink()
        log.write_text("")
        os.chown(log, 65534, 65534)  # another user's (nobody's) file: named, as the one who can remove it
        refused = prelude(rom, log, protected=False)
        assert refused.returncode == 77 and "which is user nobody's file, and" in refused.stderr, refused.stderr
    assert prelude(rom, log, protected=True).returncode == 0  # the kernel itself refuses to follow such links
    assert victim.read_text() == "mine\n"
    missing = prelude(tmp_path / "nope.nes", log, protected=False)
    assert missing.returncode == 66 and "the ROM file" in missing.stderr
