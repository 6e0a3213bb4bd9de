"""The vector env and its parts: workers, shared buffers, restart budget."""

from vecbridge.vector.vector_env import BridgeVectorEnv
from vecbridge.vector.budget import RestartBudget

__all__ = ["BridgeVectorEnv", "RestartBudget"]
