"""The registry: lazy registrations, Gymnasium entry points, and a package without import cycles."""

from __future__ import annotations

import ast
from pathlib import Path

import gymnasium as gym
import pytest

import vecbridge
from vecbridge.launch.spec import LaunchSpec
from vecbridge.registry import max_episode_steps, register, registered_ids, resolve_spec

PACKAGE = Path(vecbridge.__file__).resolve().parent


def test_every_builtin_game_is_registered_with_gymnasium_entry_points():
    ids = registered_ids()
    for game_id in ("vecbridge/Echo-v0", "vecbridge/Catch-v0", "vecbridge/EscapeFromPong-v0",
                    "vecbridge/EscapeFromPongJS-v0", "vecbridge/2048-v0", "vecbridge/EscapeFromPongBizHawk-v0"):
        assert game_id in ids
        entry = gym.registry[game_id]
        assert entry.entry_point == "vecbridge.factory:make_single"
        assert entry.vector_entry_point == "vecbridge.factory:make_vector"


def test_a_lazy_registration_is_built_on_first_use_with_the_options(monkeypatch):
    calls = []

    def build():
        calls.append(1)
        return LaunchSpec(command=["{python}", "-c", "pass"], config={"a": 1})

    register("test/Lazy-v0", build, max_episode_steps=7)
    try:
        assert calls == []  # registering builds nothing
        spec = resolve_spec("test/Lazy-v0", {"b": 2})
        assert calls == [1] and dict(spec.config) == {"a": 1, "b": 2}
        assert max_episode_steps("test/Lazy-v0") == 7
    finally:
        del gym.registry["test/Lazy-v0"]


def test_a_module_function_string_is_imported_only_when_made():
    register("test/Str-v0", "vecbridge.backends.fceux:escape_from_pong_spec")
    try:
        spec = resolve_spec("test/Str-v0")
        assert spec.config["processor"] == "escape_from_pong"
    finally:
        del gym.registry["test/Str-v0"]


def test_bad_registrations_and_unknown_ids_say_what_is_wrong():
    with pytest.raises(ValueError, match="module:function"):
        register("test/Bad-v0", "no_colon_here")
    with pytest.raises(TypeError, match="LaunchSpec"):
        register("test/Bad-v0", 42)
    with pytest.raises(gym.error.UnregisteredEnv, match="no vecbridge game is registered as 'nope/Nope-v0'"):
        resolve_spec("nope/Nope-v0")
    register("test/Wrong-v0", lambda: "not a spec")
    try:
        with pytest.raises(TypeError, match="returned str, not a vecbridge.LaunchSpec"):
            resolve_spec("test/Wrong-v0")
    finally:
        del gym.registry["test/Wrong-v0"]


def test_the_bizhawk_game_names_what_is_missing(monkeypatch, tmp_path):
    monkeypatch.delenv("BIZHAWK_DIR", raising=False)
    with pytest.raises(FileNotFoundError, match="BIZHAWK_DIR"):
        resolve_spec("vecbridge/EscapeFromPongBizHawk-v0")
    monkeypatch.setenv("BIZHAWK_DIR", str(tmp_path))
    spec = resolve_spec("vecbridge/EscapeFromPongBizHawk-v0")
    assert spec.framing == "comm" and spec.config["processor"] == "escape_from_pong"


def _imports(path: Path, module: str) -> set[str]:
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parts = module.split(".") if path.name == "__init__.py" else module.split(".")[:-1]
                parts = parts[: len(parts) - node.level + 1]
                base = ".".join(parts + ([base] if base else []))
            found.add(base)
            found.update(f"{base}.{a.name}" for a in node.names)
    return found


def test_no_import_cycles_in_the_package():
    modules = {}
    for f in PACKAGE.rglob("*.py"):
        name = ".".join(("vecbridge", *f.relative_to(PACKAGE).with_suffix("").parts)).removesuffix(".__init__")
        modules[name] = f
    graph = {m: {t for t in _imports(f, m) if t in modules and t != m and not m.startswith(t + ".")}
             for m, f in modules.items()}
    cycles, state = [], {}

    def visit(u, stack):
        state[u] = 1
        stack.append(u)
        for v in sorted(graph[u]):
            if state.get(v) == 1:
                cycles.append(stack[stack.index(v):] + [v])
            elif v not in state:
                visit(v, stack)
        stack.pop()
        state[u] = 2

    for m in sorted(graph):
        if m not in state:
            visit(m, [])
    assert not cycles, "import cycles: " + "; ".join(" -> ".join(c) for c in cycles)


def test_the_names_the_readme_uses_are_reachable_from_import_vecbridge_alone():
    import subprocess
    import sys

    code = ("import vecbridge; vecbridge.testing.check_game; vecbridge.BridgeVectorEnv; "
            "vecbridge.InvalidAction; vecbridge.StateError; vecbridge.UnsafeFolder")  # fmt: skip
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
