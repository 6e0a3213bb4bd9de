"""What one space description may still declare, and how a bad value is quoted in an error.

Shared by the JSON form (``spaces.py``) and gym-bizhawk's type strings (``type_strings.py``),
which nest into each other: a Dict's sub-space may be a type string, so both charge one budget.
"""

from __future__ import annotations

from typing import Any

from vecbridge.errors import SpaceError
from vecbridge.protocol.limits import MAX_SPACE_ELEMENTS, MAX_SUBSPACES


class Budget:
    """Elements a space description may still declare (summed over its sub-spaces)."""

    def __init__(self) -> None:
        self.left = MAX_SPACE_ELEMENTS
        self.subspaces_left = MAX_SUBSPACES

    def charge_subspaces(self, count: int, what: str) -> None:
        self.subspaces_left -= count
        if self.subspaces_left < 0:
            raise SpaceError(f"{what} brings the space past {MAX_SUBSPACES} sub-spaces in all (vecbridge's limit)")

    def charge(self, count: int, what: str) -> None:
        self.left -= count
        if self.left < 0:
            raise SpaceError(
                f"{what} makes the space larger than {MAX_SPACE_ELEMENTS} elements in all (vecbridge's limit)"
            )


def short(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 80 else text[:77] + "..."
