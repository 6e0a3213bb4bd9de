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


def test_cluster_addresses_are_parsed_for_the_reachability_check():
    from vecbridge.vector.ray_cluster import tcp_address

    assert tcp_address("127.0.0.1:6379") == ("127.0.0.1", 6379)
    assert tcp_address("ray://10.0.0.5:10001") == ("10.0.0.5", 10001)
    assert tcp_address("[::1]:6379") == ("::1", 6379)
    assert [tcp_address(a) for a in (None, "", "auto", "local", "127.0.0.1", ":80")] == [None] * 6


def test_an_address_where_no_cluster_answers_is_an_error_naming_it_not_a_hang():
    import socket

    import pytest

    import vecbridge
    from vecbridge.errors import VecBridgeError

    with socket.socket() as s:  # a port nothing listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    with pytest.raises(VecBridgeError, match=f"no Ray cluster answers at 127.0.0.1:{port} .*ray start --head"):
        vecbridge.make("vecbridge/Catch-v0", num_envs=2, backend="ray", ray_address=f"127.0.0.1:{port}")
    import ray

    assert not ray.is_initialized()


def test_ray_options_without_the_ray_backend_are_refused_not_sent_to_the_game():
    import pytest

    import vecbridge
    from vecbridge.sb3.common import check_backend

    for key, value in (("ray_address", "127.0.0.1:6379"), ("num_actors", 2), ("ray_actor_options", {})):
        with pytest.raises(ValueError, match=f"{key} is an option of backend='ray'"):
            vecbridge.make("vecbridge/Catch-v0", num_envs=2, **{key: value})
    with pytest.raises(SystemExit, match="--ray-address is for --backend ray"):
        check_backend("vecbridge", "127.0.0.1:6379", None)
    with pytest.raises(SystemExit, match="--num-workers is for the default backend"):
        check_backend("ray", None, 2)
    check_backend("ray", "127.0.0.1:6379", None)
    check_backend("vecbridge", None, 2)


def test_an_actor_fits_a_node_only_with_every_resource_it_asks_for():
    from vecbridge.vector.ray_cluster import actor_needs, fits

    need = actor_needs({"num_cpus": 1, "resources": {"fceux": 1}})
    assert need == {"CPU": 1.0, "fceux": 1.0} and actor_needs({}) == {"CPU": 1.0}
    assert actor_needs({"num_cpus": 0, "num_gpus": 1}) == {"GPU": 1.0}
    assert fits(need, {"CPU": 2, "fceux": 4}) and not fits(need, {"CPU": 2}) and not fits(need, {"CPU": 0.5, "fceux": 1})
