"""browser_spec's checks, in the user's process before anything is launched."""

from __future__ import annotations

from pathlib import Path

import pytest

from vecbridge.backends.browser import browser_spec

GAMES_JS = Path(__file__).resolve().parents[1] / "games" / "js"
PAGE = (GAMES_JS / "walker.html").as_uri()


def scripts_of(spec) -> list[str]:
    command = list(spec.command)
    return [command[i + 1] for i, part in enumerate(command) if part == "--script"]


def test_adapters_become_absolute_paths_or_shipped_names(monkeypatch):
    monkeypatch.chdir(GAMES_JS)
    spec = browser_spec(PAGE, scripts=["walker_adapter.js", "2048.js"])
    assert scripts_of(spec) == [str(GAMES_JS / "walker_adapter.js"), "2048.js"]  # the instance runs elsewhere


def test_a_missing_adapter_is_refused_naming_the_shipped_ones(tmp_path):
    with pytest.raises(FileNotFoundError, match=r"no adapter script 'my_adaptr\.js'.*nor a shipped adapter \(2048\.js\)"):
        browser_spec(PAGE, scripts=["my_adaptr.js"])
    with pytest.raises(FileNotFoundError, match="no adapter script"):
        browser_spec(PAGE, scripts=[tmp_path / "gone" / "2048.js"])  # a path is a path, not a shipped name


def test_a_missing_file_page_is_refused_and_other_urls_are_left_to_the_launcher(tmp_path):
    with pytest.raises(FileNotFoundError, match=f"the page {(tmp_path / 'nope.html').as_uri()} does not exist"):
        browser_spec((tmp_path / "nope.html").as_uri())
    assert "http://127.0.0.1:9/x.html" in browser_spec("http://127.0.0.1:9/x.html").command
    assert PAGE + "?level=2" in browser_spec(PAGE + "?level=2").command  # a query is not part of the file name
