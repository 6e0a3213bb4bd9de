"""Feature extractors for SB3 policies (images, one-hot boards), chosen by name from the command line.

    vecbridge train ... --ppo 'policy_kwargs={"features_extractor_class": "small"}'

``"nature"`` is SB3's own ``NatureCNN`` (Mnih et al. 2015: 32-64-64 filters, 512 features,
about 9.4 M multiply-adds per 84x84x4 frame). ``"small"`` is the network of the first DQN
paper (Mnih et al. 2013: 16 filters 8x8 stride 4, 32 filters 4x4 stride 2, 256 features),
about 2.9 M multiply-adds: why it is here, on a CPU the PPO update is most of a pixel run's
time (docs/results.md: NatureCNN trains at 49-69 steps/s on 2 cores, the games alone run
at about 200), so a network three times cheaper buys about three times the samples in an
hour. ``"board"`` is for small boards of one-hot cells such as 2048's: features of
neighbouring pairs of cells (:class:`BoardNet`). Any other ``"module:Class"`` (a
``BaseFeaturesExtractor`` subclass) works too.
"""

from __future__ import annotations

import importlib
from typing import Any

import torch
from gymnasium import spaces
from stable_baselines3.common.preprocessing import is_image_space
from stable_baselines3.common.torch_layers import BaseFeaturesExtractor, NatureCNN
from torch import nn

from vecbridge.errors import UsageError


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


def _pairs(x: torch.Tensor, axis: int) -> torch.Tensor:
    """Every two neighbouring cells along ``axis`` (1: rows, 2: columns) of (N, H, W, C), their features joined."""
    n = x.shape[axis]
    return torch.cat([x.narrow(axis, 0, n - 1), x.narrow(axis, 1, n - 1)], -1)


class BoardNet(BaseFeaturesExtractor):
    """Features of a small board of one-hot cells, (H, W, C) channels last (2048's ``observation="onehot"``).

    Two layers of neighbour pairs: a linear layer over every horizontally and every
    vertically adjacent pair of cells (a 1x2 and a 2x1 convolution, written as one matrix
    product over the pairs: at 4x4x18, forward and backward, 1.2-1.5x less CPU than the same
    layers as ``Conv2d``, batches of 8 and 64, one thread),
    then the same over pairs of those; all of it joined and mapped to ``features_dim``.
    Why: whether a move merges depends on two equal neighbours, a product of two cells'
    one-hots that a first layer of pairs expresses directly; an MLP on the flat one-hot
    board did not learn it in 80k steps (docs/results.md, the 2048 study).
    """

    def __init__(self, observation_space: spaces.Box, features_dim: int = 256, filters: int = 64) -> None:
        shape = observation_space.shape
        if shape is None or len(shape) != 3 or min(shape[:2]) < 3:
            raise ValueError(f"BoardNet takes a board of one-hot cells, shape (H, W, C) with H, W >= 3; "
                             f"got {observation_space}")  # fmt: skip
        super().__init__(observation_space, features_dim)
        c = shape[2]
        self.h1, self.v1 = nn.Linear(2 * c, filters), nn.Linear(2 * c, filters)
        self.second = nn.ModuleList(nn.Linear(2 * filters, filters) for _ in range(4))  # hh, hv, vh, vv
        with torch.no_grad():
            flat = self._pair_features(torch.zeros(1, *shape)).shape[1]
        self.linear = nn.Sequential(nn.Linear(flat, features_dim), nn.ReLU())

    def _pair_features(self, x: torch.Tensor) -> torch.Tensor:
        h = torch.relu(self.h1(_pairs(x, 2)))
        v = torch.relu(self.v1(_pairs(x, 1)))
        hh, hv, vh, vv = self.second
        layers = [h, v, torch.relu(hh(_pairs(h, 2))), torch.relu(hv(_pairs(h, 1))),
                  torch.relu(vh(_pairs(v, 2))), torch.relu(vv(_pairs(v, 1)))]  # fmt: skip
        return torch.cat([f.flatten(1) for f in layers], 1)

    def forward(self, observations: torch.Tensor) -> torch.Tensor:
        return self.linear(self._pair_features(observations.float()))


EXTRACTORS: dict[str, type] = {"nature": NatureCNN, "small": SmallCNN, "board": BoardNet}


def extractor_class(name: str) -> Any:
    """A name of :data:`EXTRACTORS` (``"small"``, ``"nature"``, ``"board"``) or ``"module:Class"`` to the
    class; UsageError naming the choices."""
    if name in EXTRACTORS:
        return EXTRACTORS[name]
    module, sep, attr = name.partition(":")
    if not sep:
        raise UsageError(f"unknown features_extractor_class {name!r}; use one of {sorted(EXTRACTORS)} or 'module:Class'")
    try:
        cls = getattr(importlib.import_module(module), attr)
    except (ImportError, AttributeError) as exc:
        raise UsageError(f"features_extractor_class {name!r}: {exc}") from None
    if not (isinstance(cls, type) and issubclass(cls, BaseFeaturesExtractor)):
        raise UsageError(f"features_extractor_class {name!r} is not a stable-baselines3 BaseFeaturesExtractor")
    return cls
