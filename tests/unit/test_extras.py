"""The optional-dependency extras: ``vecbridge[all]`` installs every optional part."""

from __future__ import annotations

import tomllib
from pathlib import Path

PYPROJECT = Path(__file__).resolve().parents[2] / "pyproject.toml"


def test_all_extra_names_every_optional_part():
    extras = tomllib.loads(PYPROJECT.read_text())["project"]["optional-dependencies"]
    (all_spec,) = extras["all"]
    named = set(all_spec.split("[", 1)[1].rstrip("]").split(","))
    assert all_spec.startswith("vecbridge[")
    assert named == set(extras) - {"all", "dev"}, f"vecbridge[all] names {sorted(named)}; the extras are {sorted(extras)}"
