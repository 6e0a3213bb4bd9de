"""The vector env's state: which call is in flight (Gymnasium's AsyncVectorEnv guards the same way).

``reset_async``/``step_async``/a call move the vector env out of ``DEFAULT``; their ``*_wait``
moves it back. A call made in the wrong state raises :class:`~vecbridge.errors.StateError`
naming what is in flight and the call that ends it.
"""

from __future__ import annotations

import enum


class State(enum.Enum):
    DEFAULT = "default"
    WAITING_RESET = "reset"
    WAITING_STEP = "step"
    WAITING_CALL = "call"
