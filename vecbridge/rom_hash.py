"""A processor's HASH check, said where the user looks: a warning and the env's metadata.

The processor runtime (launchers/lua/processor_game.lua) compares its ``HASH`` with the loaded
ROM's and, by default (``check_hash="warn"``), runs anyway: the game logs the mismatch and its
hello's metadata carries ``hash = {expected, actual, match, how}``. The log of a temporary run
folder is gone after ``close()``, so the host warns too.
"""

from __future__ import annotations

import warnings
from typing import Any, Mapping


def rom_hash(metadata: Mapping[str, Any], game: str) -> dict[str, Any]:
    """``{"hash": ...}`` for the env's metadata if the game reported one (else ``{}``); warns on a mismatch."""
    found = metadata.get("hash")
    if not isinstance(found, Mapping):
        return {}
    if found.get("match") is False:
        warnings.warn(f"{game or 'the game'}: the loaded ROM's hash {found.get('actual')} is not the processor's HASH "
                      f"{found.get('expected')} ({found.get('how', '')}); running anyway (game option "
                      f"check_hash=\"error\" makes this fatal)", UserWarning, stacklevel=3)  # fmt: skip
    return {"hash": dict(found)}
