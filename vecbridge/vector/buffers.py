"""Shared-memory arrays, one per field (observation leaves, action leaves, rewards, terminations, truncations).

Each array is a file in /dev/shm mapped by the parent and by every worker. The
parent unlinks the files as soon as the workers have mapped them, so nothing is
left in /dev/shm even if every process is SIGKILLed.
"""

from __future__ import annotations

import mmap
import os
import tempfile
from dataclasses import dataclass
from typing import Any

import numpy as np
from gymnasium import spaces

from vecbridge.errors import SpaceError, VecBridgeError

ArrayLayout = tuple[str, str, tuple[int, ...]]  # (file path, dtype name, shape)

LeafPath = tuple[Any, ...]


def leaves(space: spaces.Space, prefix: LeafPath = ()) -> list[tuple[LeafPath, spaces.Space]]:
    """The array-valued leaves of a (possibly nested Dict/Tuple) space, in a fixed order."""
    if isinstance(space, spaces.Dict):
        return [leaf for k, sub in space.spaces.items() for leaf in leaves(sub, (*prefix, k))]
    if isinstance(space, spaces.Tuple):
        return [leaf for i, sub in enumerate(space.spaces) for leaf in leaves(sub, (*prefix, i))]
    if not isinstance(space, (spaces.Box, spaces.Discrete, spaces.MultiDiscrete, spaces.MultiBinary)):
        raise SpaceError(f"vecbridge cannot carry a {type(space).__name__} space")
    return [(prefix, space)]


def leaf_dtype_shape(space: spaces.Space) -> tuple[np.dtype, tuple[int, ...]]:
    """dtype and shape of one value of a leaf space, as it travels on the wire."""
    if isinstance(space, spaces.Discrete):
        return np.dtype(np.int64), ()
    return np.dtype(space.dtype), tuple(space.shape)


def _shm_dir() -> str:
    return "/dev/shm" if os.path.isdir("/dev/shm") and os.access("/dev/shm", os.W_OK) else tempfile.gettempdir()


def _reserve(fd: int, path: str, nbytes: int) -> None:
    """Size the new file ``path``, its memory reserved now: a sparse one (ftruncate) on a full
    /dev/shm ended the run with SIGBUS at the first write (a trial, with a 64-KiB /dev/shm)."""
    try:
        if hasattr(os, "posix_fallocate"):
            os.posix_fallocate(fd, 0, nbytes)
        else:
            os.ftruncate(fd, nbytes)
    except OSError as exc:
        os.unlink(path)
        folder = os.path.dirname(path)
        st = os.statvfs(folder)
        raise VecBridgeError(
            f"no room for vecbridge's shared buffers in {folder}: one needs {nbytes:,} bytes, {st.f_bavail * st.f_frsize:,} "
            f"of {st.f_blocks * st.f_frsize:,} are free ({exc.strerror}); free some, or give it more (a container: "
            f"docker run --shm-size=1g)"
        ) from None


def _map(path: str, dtype: np.dtype, shape: tuple[int, ...], create: bool) -> tuple[mmap.mmap, np.ndarray]:
    nbytes = max(1, int(np.prod(shape, dtype=np.int64)) * dtype.itemsize)
    flags = os.O_RDWR | (os.O_CREAT | os.O_EXCL if create else 0)
    fd = os.open(path, flags, 0o600)
    try:
        if create:
            _reserve(fd, path, nbytes)
        mm = mmap.mmap(fd, nbytes)
    finally:
        os.close(fd)
    arr = np.frombuffer(mm, dtype=dtype, count=int(np.prod(shape, dtype=np.int64))).reshape(shape)
    return mm, arr


@dataclass
class Buffers:
    """The shared arrays of one vector env, with the first axis the instance index."""

    obs_paths: list[LeafPath]
    act_paths: list[LeafPath]
    obs: list[np.ndarray]
    actions: list[np.ndarray]
    rewards: np.ndarray
    terminations: np.ndarray
    truncations: np.ndarray
    layout: list[ArrayLayout]
    _maps: list[mmap.mmap]
    #: each instance's latest action mask (bool, sb3-contrib's layout), if the game sends one
    action_masks: np.ndarray | None = None

    def __post_init__(self) -> None:
        # A plain (one-leaf) space needs no walk through a nested structure: bind the fast forms.
        if self.obs_paths == [()]:
            self.write_obs = self.obs[0].__setitem__
        if self.act_paths == [()]:
            self.action_of = self.actions[0].__getitem__
        #: one integer action per instance (a Discrete action space)
        self.discrete_actions = self.act_paths == [()] and self.actions[0].ndim == 1 and self.actions[0].dtype.kind == "i"

    @classmethod
    def create(
        cls, obs_space: spaces.Space, act_space: spaces.Space, num_envs: int, tag: str, mask_size: int | None = None
    ) -> "Buffers":
        base = os.path.join(_shm_dir(), f"vecbridge-{os.getpid()}-{tag}")
        obs_leaves, act_leaves = leaves(obs_space), leaves(act_space)
        specs: list[tuple[str, np.dtype, tuple[int, ...]]] = []
        for k, (_, leaf) in enumerate(obs_leaves):
            dtype, shape = leaf_dtype_shape(leaf)
            specs.append((f"{base}-obs{k}", dtype, (num_envs, *shape)))
        for k, (_, leaf) in enumerate(act_leaves):
            dtype, shape = leaf_dtype_shape(leaf)
            specs.append((f"{base}-act{k}", dtype, (num_envs, *shape)))
        if mask_size is not None:  # every mask starts all-allowed, until the first reset's arrives
            specs.append((f"{base}-mask", np.dtype(np.bool_), (num_envs, mask_size)))
        specs += [
            (f"{base}-rew", np.dtype(np.float64), (num_envs,)),
            (f"{base}-term", np.dtype(np.bool_), (num_envs,)),
            (f"{base}-trunc", np.dtype(np.bool_), (num_envs,)),
        ]
        layout = [(path, dtype.str, shape) for path, dtype, shape in specs]
        try:
            buffers = cls._from_layout([p for p, _ in obs_leaves], [p for p, _ in act_leaves], layout, create=True)
            if buffers.action_masks is not None:
                buffers.action_masks[:] = True
            return buffers
        except BaseException:
            cls.unlink_layout(layout)
            raise

    @classmethod
    def attach(cls, obs_paths: list[LeafPath], act_paths: list[LeafPath], layout: list[ArrayLayout]) -> "Buffers":
        return cls._from_layout(obs_paths, act_paths, layout, create=False)

    @classmethod
    def _from_layout(cls, obs_paths, act_paths, layout, create: bool) -> "Buffers":
        maps, arrays = [], []
        for path, dtype, shape in layout:
            mm, arr = _map(path, np.dtype(dtype), tuple(shape), create)
            maps.append(mm)
            arrays.append(arr)
        n_obs, n_act = len(obs_paths), len(act_paths)
        masks = arrays[n_obs + n_act] if len(arrays) == n_obs + n_act + 4 else None
        return cls(
            obs_paths, act_paths, arrays[:n_obs], arrays[n_obs : n_obs + n_act],
            arrays[-3], arrays[-2], arrays[-1], list(layout), maps, masks,
        )  # fmt: skip

    @staticmethod
    def unlink_layout(layout: list[ArrayLayout]) -> None:
        for path, _, _ in layout:
            try:
                os.unlink(path)
            except FileNotFoundError:
                pass

    def unlink(self) -> None:
        self.unlink_layout(self.layout)

    # ---------------------------------------------------------------- per instance
    def write_obs(self, i: int, value: Any) -> None:
        for path, arr in zip(self.obs_paths, self.obs):
            arr[i] = _at(value, path)

    def read_obs(self, i: int) -> Any:
        """A copy of instance ``i``'s observation, in the space's nested form."""
        return _assemble(self.obs_paths, [arr[i].copy() for arr in self.obs])

    def action_of(self, i: int) -> Any:
        """Instance ``i``'s action (views into the shared buffer)."""
        return _assemble(self.act_paths, [arr[i] for arr in self.actions])

    def batch_obs(self, copy: bool = True, index: Any = None) -> Any:
        arrays = [arr if index is None else arr[index] for arr in self.obs]
        if copy and index is None:
            arrays = [arr.copy() for arr in arrays]
        return _assemble(self.obs_paths, arrays)

    def close(self) -> None:
        for bound in ("write_obs", "action_of"):  # they hold the arrays, which pin the mappings
            self.__dict__.pop(bound, None)
        self.obs = self.actions = []
        self.rewards = self.terminations = self.truncations = np.zeros(0)
        self.action_masks = None
        for mm in self._maps:
            try:
                mm.close()
            except BufferError:
                pass  # a user still holds a view; the mapping goes with the process
        self._maps = []


def _at(value: Any, path: LeafPath) -> Any:
    for key in path:
        value = value[key]
    return value


def _assemble(paths: list[LeafPath], arrays: list[Any]) -> Any:
    """Rebuild the nested Dict/Tuple structure from leaf arrays."""
    if len(paths) == 1 and paths[0] == ():
        return arrays[0]
    root: dict = {}
    for path, arr in zip(paths, arrays):
        node = root
        for key in path[:-1]:
            node = node.setdefault(key, {})
        node[path[-1]] = arr
    return _tuplify(root)


def _tuplify(node: Any) -> Any:
    if not isinstance(node, dict):
        return node
    if node and all(isinstance(k, int) for k in node):
        return tuple(_tuplify(node[k]) for k in sorted(node))
    return {k: _tuplify(v) for k, v in node.items()}
