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
