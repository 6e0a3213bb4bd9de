"""The vector env and its parts: drivers (in-process, worker processes), instance groups, shared buffers, restart budget."""

from vecbridge.vector.vector_env import BridgeVectorEnv
from vecbridge.vector.budget import RestartBudget

__all__ = ["BridgeVectorEnv", "RestartBudget"]
