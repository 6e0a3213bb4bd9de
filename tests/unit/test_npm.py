"""vecbridge.backends.instance.npm's pure parts: integrity strings, safe unpacking, names and folders."""

from __future__ import annotations

import base64
import hashlib
import io
import re
import tarfile

import pytest

from vecbridge.backends.instance import npm

DATA = b"the bytes of a tarball"


def sri(algo: str, data: bytes = DATA) -> str:
    return f"{algo}-{base64.b64encode(hashlib.new(algo, data).digest()).decode()}"


@pytest.mark.parametrize("algo", ["sha512", "sha384", "sha256", "sha1"])
def test_an_integrity_string_accepts_its_own_bytes_and_nothing_else(algo):
    npm.check_integrity(DATA, sri(algo))
    with pytest.raises(npm.NpmError, match=re.escape(f"integrity check failed: expected {sri(algo, b'other')}, the tarball has {sri(algo)}")):
        npm.check_integrity(DATA, sri(algo, b"other"))
    with pytest.raises(npm.NpmError, match="integrity check failed"):
        npm.check_integrity(DATA + b"!", sri(algo))


@pytest.mark.parametrize("integrity", ["md5-abc", "sha512", "sha512-", "", "nonsense"])
def test_unsupported_integrity_strings_are_refused(integrity):
    with pytest.raises(npm.NpmError, match="unsupported integrity string"):
        npm.check_integrity(DATA, integrity)


def test_names_and_folders():
    assert npm.env_name("jsnes") == "VECBRIDGE_NPM_JSNES"
    assert npm.env_name("@types/node") == "VECBRIDGE_NPM_TYPES_NODE"
    assert npm.cache_root({"VECBRIDGE_NPM_CACHE": "/c"}).as_posix() == "/c"
    assert npm.cache_root({"XDG_CACHE_HOME": "/x", "HOME": "/h"}).as_posix() == "/x/vecbridge/npm"
    assert npm.cache_root({"HOME": "/h"}).as_posix() == "/h/.cache/vecbridge/npm"
    assert npm.package_dir("@scope/pkg", "1.0.0", "/c").as_posix() == "/c/scope+pkg-1.0.0"


def test_a_relative_or_home_cache_is_made_absolute_here_not_in_the_instance_folder(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    assert npm.cache_root({"VECBRIDGE_NPM_CACHE": "npmc"}) == tmp_path / "npmc"
    assert npm.cache_root({"VECBRIDGE_NPM_CACHE": "~/npmc"}) == tmp_path / "home" / "npmc"
    assert npm.cache_root({"XDG_CACHE_HOME": "rel", "HOME": "/h"}) == tmp_path / "rel" / "vecbridge" / "npm"
    assert npm.package_dir("jsnes", "3.0.0", "c") == tmp_path / "c" / "jsnes-3.0.0"
    from vecbridge.backends.node import node_spec

    spec = node_spec("game.js", npm_packages=[("jsnes", "3.0.0", "sha512-x")], npm_cache="npmc")
    assert str(tmp_path / "npmc") in spec.command  # what the launcher gets, in the instance's folder


def test_unpacking_keeps_regular_files_and_folders(tmp_path):
    tgz = tmp_path / "ok.tgz"
    with tarfile.open(tgz, "w:gz") as tar:
        for name, body, mode in (("package/index.html", b"<html>", 0o644), ("package/bin/run", b"#!", 0o755)):
            info = tarfile.TarInfo(name)
            info.size, info.mode = len(body), mode
            tar.addfile(info, io.BytesIO(body))
    npm._extract(tgz, tmp_path / "out")
    assert (tmp_path / "out" / "index.html").read_bytes() == b"<html>"
    assert (tmp_path / "out" / "bin" / "run").stat().st_mode & 0o111


@pytest.mark.parametrize("kind", ["traversal", "symlink", "absolute"])
def test_unpacking_refuses_members_outside_the_package(tmp_path, kind):
    tgz = tmp_path / "bad.tgz"
    with tarfile.open(tgz, "w:gz") as tar:
        ok = tarfile.TarInfo("package/index.html")
        ok.size = 2
        tar.addfile(ok, io.BytesIO(b"ok"))
        bad = tarfile.TarInfo({"traversal": "package/../../evil", "symlink": "package/link", "absolute": "/evil"}[kind])
        if kind == "symlink":
            bad.type, bad.linkname = tarfile.SYMTYPE, "/etc/passwd"
        else:
            bad.size = 4
        tar.addfile(bad, io.BytesIO(b"evil") if kind != "symlink" else None)
    with pytest.raises(npm.NpmError, match="refusing"):
        npm._extract(tgz, tmp_path / "out")
    assert not (tmp_path / "evil").exists() and not (tmp_path / "out" / "link").exists()
