"""Image preprocessing for observations: grayscale, crop, resize, max-pool, frame stack.

    import vecbridge
    envs = vecbridge.make("vecbridge/EscapeFromPong-v0", num_envs=8, preprocess="gray,resize=84x84,maxpool,stack=4")

Sans-I/O: each step works on the rows of one batch of completed instances (see
:mod:`vecbridge.transforms.base`), :class:`Pipeline` composes them and parses the compact
spec (:mod:`vecbridge.transforms.pipeline`), :class:`PreprocessObservations` applies a
pipeline to any Gymnasium vector env, and :mod:`vecbridge.transforms.views` turns frames
into pictures for people (videos, the grid of what a policy sees).
"""

from vecbridge.transforms.base import PreprocessError, Transform
from vecbridge.transforms.image import Crop, Grayscale, Resize
from vecbridge.transforms.pipeline import Pipeline, PreprocessSpec
from vecbridge.transforms.temporal import FrameStack, MaxPool
from vecbridge.transforms.vector import PreprocessObservations

__all__ = ["Crop", "FrameStack", "Grayscale", "MaxPool", "Pipeline", "PreprocessError", "PreprocessObservations",
           "PreprocessSpec", "Resize", "Transform"]  # fmt: skip
