"""Image feature extractors for ``CnnPolicy``, chosen by name from the command line.

    vecbridge train ... --ppo 'policy_kwargs={"features_extractor_class": "small"}'

``"nature"`` is SB3's own ``NatureCNN`` (Mnih et al. 2015: 32-64-64 filters, 512 features,
about 9.4 M multiply-adds per 84x84x4 frame). ``"small"`` is the network of the first DQN
paper (Mnih et al. 2013: 16 filters 8x8 stride 4, 32 filters 4x4 stride 2, 256 features),
about 2.9 M multiply-adds: why it is here, on a CPU the PPO update is most of a pixel run's
time (docs/results.md: NatureCNN trains at 49-69 steps/s on 2 cores, the games alone run
at about 200), so a network three times cheaper buys about three times the samples in an
hour. Any other ``"module:Class"`` (a ``BaseFeaturesExtractor`` subclass) works too.
"""

from __future__ import annotations

import importlib
from typing import Any

import torch
from gymnasium import spaces
from stable_baselines3.common.preprocessing import is_image_space
from stable_baselines3.common.torch_layers import BaseFeaturesExtractor, NatureCNN
from torch import nn


class SmallCNN(BaseFeaturesExtractor):
    """The DQN-2013 network: conv 16x8x8/4, conv 32x4x4/2, linear ``features_dim`` (256)."""

    def __init__(self, observation_space: spaces.Box, features_dim: int = 256, normalized_image: bool = False) -> None:
        if not is_image_space(observation_space, check_channels=False, normalized_image=normalized_image):
            raise ValueError(f"SmallCNN takes an image observation space (channels first, uint8), got {observation_space}")
        super().__init__(observation_space, features_dim)
        channels = observation_space.shape[0]
        self.cnn = nn.Sequential(
            nn.Conv2d(channels, 16, kernel_size=8, stride=4),
            nn.ReLU(),
            nn.Conv2d(16, 32, kernel_size=4, stride=2),
            nn.ReLU(),
            nn.Flatten(),
        )
        with torch.no_grad():
            flat = self.cnn(torch.as_tensor(observation_space.sample()[None]).float()).shape[1]
        self.linear = nn.Sequential(nn.Linear(flat, features_dim), nn.ReLU())

    def forward(self, observations: torch.Tensor) -> torch.Tensor:
        return self.linear(self.cnn(observations))


EXTRACTORS: dict[str, type] = {"nature": NatureCNN, "small": SmallCNN}


def extractor_class(name: str) -> Any:
    """``"small"``, ``"nature"`` or ``"module:Class"`` to the class; SystemExit naming the choices."""
    if name in EXTRACTORS:
        return EXTRACTORS[name]
    module, sep, attr = name.partition(":")
    if not sep:
        raise SystemExit(f"unknown features_extractor_class {name!r}; use one of {sorted(EXTRACTORS)} or 'module:Class'")
    try:
        cls = getattr(importlib.import_module(module), attr)
    except (ImportError, AttributeError) as exc:
        raise SystemExit(f"features_extractor_class {name!r}: {exc}") from None
    if not (isinstance(cls, type) and issubclass(cls, BaseFeaturesExtractor)):
        raise SystemExit(f"features_extractor_class {name!r} is not a stable-baselines3 BaseFeaturesExtractor")
    return cls
