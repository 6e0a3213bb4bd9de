"""The Ray backend's and vecbridge.rllib's arithmetic, without a cluster."""

from __future__ import annotations

from vecbridge.rllib import runner_seed, workers_for_cpus
from vecbridge.vector.ray_driver import default_num_actors


def test_runners_seed_ranges_never_overlap():
    n = 4
    ranges = [set(range(runner_seed(7, k, n), runner_seed(7, k, n) + n)) for k in range(0, 6)]
    assert all(a.isdisjoint(b) for i, a in enumerate(ranges) for b in ranges[i + 1 :])
    assert runner_seed(0, 2, 4, evaluation=True) == 1_000_008


def test_worker_count_follows_the_cpus_ray_assigned():
    assert [workers_for_cpus(c) for c in (0.5, 1, 4, 5, 8, 64)] == [0, 0, 0, 1, 2, 16]


def test_default_actor_count_covers_every_node_and_one_per_four_cpus():
    assert default_num_actors(8, nodes=2, cpus=4) == 2  # one per node on a small cluster
    assert default_num_actors(1000, nodes=8, cpus=512) == 128  # one per 4 CPUs on a big one
    assert default_num_actors(3, nodes=8, cpus=512) == 3  # never more actors than instances
    assert default_num_actors(5, nodes=1, cpus=1) == 1


def test_normalize_observations_puts_a_mean_std_filter_before_the_policy():
    """ppo_config(normalize_observations=True): RLlib's pipeline normalizes Box observations."""
    import gymnasium as gym

    from vecbridge.rllib import ppo_config

    box, actions = gym.spaces.Box(0, 255, (3,)), gym.spaces.Discrete(3)
    spaces = {"__env__": (box, actions), "__env_single__": (box, actions)}
    plain = ppo_config("vecbridge/Catch-v0").build_env_to_module_connector(env=None, spaces=spaces)
    normalized = ppo_config("vecbridge/Catch-v0", normalize_observations=True).build_env_to_module_connector(
        env=None, spaces=spaces
    )
    assert "MeanStdFilter" not in [type(c).__name__ for c in plain.connectors]
    first = normalized.connectors[0]
    assert type(first).__name__ == "MeanStdFilter"
    assert normalized.observation_space.high.max() <= 10  # clipped to +-10, not the raw 0..255
