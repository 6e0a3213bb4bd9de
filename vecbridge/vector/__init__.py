"""The vector env and its parts: workers, shared buffers, restart budget."""

from vecbridge.vector.env import BridgeVectorEnv
from vecbridge.vector.restart import RestartBudget

__all__ = ["BridgeVectorEnv", "RestartBudget"]
