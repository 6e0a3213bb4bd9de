"""vecbridge.sb3.cnn: the small CNN's shapes and gradients, and naming extractors from a config."""

import numpy as np
import pytest
import torch
from gymnasium import spaces

from stable_baselines3.common.torch_layers import NatureCNN

from vecbridge.sb3.cnn import SmallCNN, extractor_class
from vecbridge.sb3.train import _resolve


@pytest.mark.parametrize("shape, flat", [((4, 84, 84), 32 * 9 * 9), ((1, 64, 64), 32 * 6 * 6), ((3, 240, 256), 32 * 28 * 30)])
def test_small_cnn_features_and_gradients(shape, flat):
    net = SmallCNN(spaces.Box(0, 255, shape, np.uint8), features_dim=128)
    assert net.linear[0].in_features == flat and net.features_dim == 128
    x = torch.rand(5, *shape, requires_grad=True)
    out = net(x)
    assert out.shape == (5, 128) and (out >= 0).all()  # ReLU features
    out.sum().backward()
    assert x.grad is not None and all(p.grad is not None for p in net.parameters())
    # about a third of NatureCNN's parameters at 84x84x4 (the cost is in the convolutions' multiply-adds)
    if shape == (4, 84, 84):
        nature = NatureCNN(spaces.Box(0, 255, shape, np.uint8))
        assert sum(p.numel() for p in net.parameters()) < sum(p.numel() for p in nature.parameters()) / 3


def test_small_cnn_refuses_a_vector_space():
    with pytest.raises(ValueError, match="image observation space"):
        SmallCNN(spaces.Box(-1, 1, (8,), np.float32))


def test_extractors_by_name_and_by_module_path():
    assert extractor_class("small") is SmallCNN and extractor_class("nature") is NatureCNN
    assert extractor_class("vecbridge.sb3.cnn:SmallCNN") is SmallCNN
    with pytest.raises(SystemExit, match=r"unknown features_extractor_class .tiny.*board.*nature.*small"):
        extractor_class("tiny")
    with pytest.raises(SystemExit, match="No module named"):
        extractor_class("no_such_module_xyz:Net")
    with pytest.raises(SystemExit, match="not a stable-baselines3 BaseFeaturesExtractor"):
        extractor_class("torch.nn:Linear")


def test_resolve_turns_names_into_classes_and_keeps_the_rest():
    kwargs = {"gamma": 0.9, "policy_kwargs": {"features_extractor_class": "small", "activation_fn": "relu",
                                              "features_extractor_kwargs": {"features_dim": 64}}}  # fmt: skip
    out = _resolve(kwargs)
    pk = out["policy_kwargs"]
    assert pk["features_extractor_class"] is SmallCNN and pk["activation_fn"] is torch.nn.ReLU
    assert pk["features_extractor_kwargs"] == {"features_dim": 64} and out["gamma"] == 0.9
    assert kwargs["policy_kwargs"]["features_extractor_class"] == "small"  # the JSON form is left as it was
    assert _resolve({"gamma": 0.9}) == {"gamma": 0.9}


def _board(cells):
    """4x4 one-hot board (channels last, 18 kinds) from {(row, col): kind}."""
    x = torch.zeros(1, 4, 4, 18)
    x[0, :, :, 0] = 1
    for (r, c), k in cells.items():
        x[0, r, c, 0], x[0, r, c, k] = 0, 1
    return x


def test_board_net_shares_its_pair_weights_across_the_board():
    from vecbridge.sb3.cnn import BoardNet, _pairs

    space = spaces.Box(0, 1, (4, 4, 18), np.uint8)
    net = BoardNet(space, features_dim=32, filters=8)
    # first layer: 4 rows x 3 horizontal pairs + 3 x 4 vertical; second: 4x2 + 3x3 + 3x3 + 2x4
    assert net.linear[0].in_features == 8 * (12 + 12 + 8 + 9 + 9 + 8)
    x = torch.rand(3, 4, 4, 18)
    h = _pairs(x, 2)
    assert h.shape == (3, 4, 3, 36) and torch.equal(h[1, 2, 0], torch.cat([x[1, 2, 0], x[1, 2, 1]]))
    v = _pairs(x, 1)
    assert v.shape == (3, 3, 4, 36) and torch.equal(v[2, 0, 3], torch.cat([x[2, 0, 3], x[2, 1, 3]]))
    # the same pair of tiles at two places: the same first-layer features, at those places
    a = torch.relu(net.h1(_pairs(_board({(0, 0): 3, (0, 1): 3}), 2)))
    b = torch.relu(net.h1(_pairs(_board({(2, 1): 3, (2, 2): 3}), 2)))
    assert torch.allclose(a[0, 0, 0], b[0, 2, 1])
    out = net(_board({(1, 1): 2}).to(torch.uint8))
    assert out.shape == (1, 32) and (out >= 0).all()
    out.sum().backward()
    assert all(p.grad is not None for p in net.parameters())
    with pytest.raises(ValueError, match="board of one-hot cells"):
        BoardNet(spaces.Box(0, 1, (16,), np.uint8))
    assert extractor_class("board") is BoardNet
