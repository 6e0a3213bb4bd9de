"""vecbridge.sb3.cnn: the small CNN's shapes and gradients, and naming extractors from a config."""

import numpy as np
import pytest
import torch
from gymnasium import spaces

pytest.importorskip("stable_baselines3")

from stable_baselines3.common.torch_layers import NatureCNN  # noqa: E402

from vecbridge.sb3.cnn import SmallCNN, extractor_class  # noqa: E402
from vecbridge.sb3.train import _resolve  # noqa: E402


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
    with pytest.raises(SystemExit, match=r"unknown features_extractor_class 'tiny'.*\['nature', 'small'\]"):
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
