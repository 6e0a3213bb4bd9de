"""Private folders: where vecbridge launches games, keeps their logs and binds its sockets.

A run folder is ``tempfile.mkdtemp``'s (mode 0700) unless the user names one (``run_dir=``,
``--run-dir``). A named one may already exist, and on a shared machine it may be someone
else's: a stranger who created ``/tmp/run1`` first could plant ``instance-0/vecbridge/__init__.py``
(run by the Python game client, whose working folder that is), bind the Unix socket in
``.sockets`` first and read the token from the hellos, or put a symbolic link where a log is
appended (a review, 2026-12-01, did all three). So every folder vecbridge launches into is
checked to be a real folder owned by this user; the run folder must be writable by no one
else, and vecbridge's own folders in it are made 0700, as the temporary one is. A run folder
also holds one run at a time (:func:`hold`): two runs in one mixed their logs, instance
folders, progress rows and models (a trial).
"""

from __future__ import annotations

import fcntl
import os
import stat
from pathlib import Path

from vecbridge.errors import FolderInUse, UnsafeFolder


def private_folder(path: str | os.PathLike, what: str = "folder") -> Path:
    """vecbridge's own folder ``path`` (an instance's, the sockets'): created with mode 0700
    (parents as usual) if missing, else checked and made 0700; :class:`UnsafeFolder` if it is
    a symbolic link, not a folder, or another user's."""
    path, created = _make(path)
    info = _check(path, what)
    if not created and stat.S_IMODE(info.st_mode) != 0o700:
        os.chmod(path, 0o700)
    return path


def run_folder(path: str | os.PathLike) -> Path:
    """The run folder a user named: created with mode 0700 if missing; an existing one must be
    the user's and writable by no one else (its mode is left as it is: it may be a folder
    of theirs with other uses), else :class:`UnsafeFolder`."""
    path, created = _make(path)
    info = _check(path, "run folder")
    if not created and info.st_mode & 0o022:
        raise _unsafe(path, "run folder", f"can be written by other users (mode {stat.S_IMODE(info.st_mode):04o})",
                      f"they could put files where vecbridge runs games: chmod go-w {path}, or choose another")  # fmt: skip
    return path


def _make(path: str | os.PathLike) -> tuple[Path, bool]:
    path = Path(path)
    try:
        path.mkdir(mode=0o700, parents=True)
        return path, True
    except FileExistsError:
        return path, False


def _check(path: Path, what: str) -> os.stat_result:
    info = os.lstat(path)
    if stat.S_ISLNK(info.st_mode):
        raise _unsafe(path, what, f"is a symbolic link (to {os.readlink(path)})")
    if not stat.S_ISDIR(info.st_mode):
        raise _unsafe(path, what, "is not a folder")
    if info.st_uid != os.geteuid():
        raise _unsafe(path, what, f"belongs to {_user(info.st_uid)}, not to you ({_user(os.geteuid())})")
    return info


OWN_FOLDERS = "vecbridge launches games, keeps their logs and binds its sockets only in folders of your own"


def _unsafe(path: Path, what: str, problem: str, why: str = OWN_FOLDERS) -> UnsafeFolder:
    return UnsafeFolder(f"the {what} {path} {problem}: {why}", path=str(path))


def append_log(path: Path) -> int:
    """A descriptor appending to the log ``path`` (created 0600), never through a symbolic link."""
    return os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_NOFOLLOW | os.O_CLOEXEC, 0o600)


def _user(uid: int) -> str:
    try:
        import pwd

        return f"user {pwd.getpwuid(uid).pw_name!r} (uid {uid})"
    except (ImportError, KeyError):
        return f"uid {uid}"


def hold(folder: str | os.PathLike, what: str = "run folder") -> int:
    """Lock ``folder`` for this process's run: a second run there raises :class:`FolderInUse`.
    Returns the lock's file descriptor (close it to release; the kernel releases it when the
    process ends, however it ends)."""
    fd = os.open(folder, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        os.close(fd)
        raise FolderInUse(f"the {what} {folder} is in use by another vecbridge run (their logs, instance folders or "
                          f"models would mix): give each run a folder of its own", path=str(folder)) from None  # fmt: skip
    return fd
