"""A Ray cluster of several nodes on this one machine, for tests, benchmarks and trying things out.

    from vecbridge.ray_local import LocalCluster

    with LocalCluster(nodes=2, cpus_per_node=2) as cluster:   # ray.init(address=cluster.address) is done
        envs = vecbridge.make("vecbridge/Catch-v0", num_envs=8, backend="ray")
        ...

Every node listens on 127.0.0.1, keeps its files in a private temporary folder (removed
at the end), and is ended by the process handles Ray's ``cluster_utils.Cluster`` keeps:
never ``ray stop``, which kills every Ray process of the machine by name.

Three settings make a multi-node cluster work on one machine (measured on this kind of VM):

* ``RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER=0``: ``ray.init(address="127.0.0.1:…")`` otherwise
  rewrites a loopback address to the machine's first interface address, which a
  sandboxed machine may not reach (connections to it time out, and ``ray.init`` retries
  for ever). Ray reads the variable once, at import, so this process also sets the
  constant it was read into (:func:`keep_loopback`); child processes read the variable.
* ``RAY_TMPDIR``: Ray writes ``ray_current_cluster`` under its default temporary folder
  even when given another one; pointing the default at the private folder keeps the
  machine's ``/tmp/ray`` (and other users' clusters) out of it.
* explicit agent ports per node (metrics, runtime env, dashboard agent): a raylet
  otherwise waits for each agent to write its port to a file before it registers, and
  aborts if the metrics agent takes more than ~15 s, which it did on a loaded 2-core machine.
"""

from __future__ import annotations

import os
import shutil
import socket
import tempfile
import time
from typing import Any

import psutil

#: environment variables set while the cluster lives (see the module docstring)
RAY_ENV = {"RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER": "0", "RAY_USAGE_STATS_ENABLED": "0"}
#: node k of a LocalCluster has the custom resource f"{NODE_RESOURCE}{k}"
NODE_RESOURCE = "local_node_"


def keep_loopback(on: bool = True) -> bool:
    """Make ``ray.init(address="127.0.0.1:…")`` in this process connect to 127.0.0.1 (see above);
    ``on=False`` undoes it. Returns the previous setting."""
    from ray._private import ray_constants

    before = not ray_constants.ENABLE_RAY_CLUSTER
    ray_constants.ENABLE_RAY_CLUSTER = not on
    return before


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


#: ports given to each node rather than left for its agents to pick and write to files,
#: which the raylet waits for before it registers (seconds on a loaded machine)
AGENT_PORTS = ("metrics_agent_port", "runtime_env_agent_port", "dashboard_agent_listen_port")
#: a node that does not come up is tried again this many times in all
NODE_ATTEMPTS = 3


def _end(procs: list[psutil.Process], grace: float) -> None:
    """Give ``procs`` ``grace`` seconds to leave on their own, then SIGKILL the rest and wait for them."""
    _, alive = psutil.wait_procs(procs, timeout=grace) if grace > 0 else ([], procs)
    for proc in alive:
        try:
            proc.kill()
        except psutil.Error:
            pass
    psutil.wait_procs(alive, timeout=10)


def _add_node(cluster: Any, **args: Any) -> Any:
    """``cluster.add_node``, tried again when the node does not come up in time.

    Ray gives a new node a fixed 30 s to register with the GCS; on a machine loaded far
    beyond its cores (load 25 on 2 cores, measured) that fails now and then. The failed
    node's processes are children of this process started during the attempt: they are
    ended by process id before the next attempt.
    """
    me = psutil.Process()
    for attempt in range(1, NODE_ATTEMPTS + 1):
        before = {p.pid for p in me.children(recursive=True)}
        try:
            ports = {name: _free_port() for name in AGENT_PORTS}
            return cluster.add_node(**ports, **args)
        except Exception:
            if attempt == NODE_ATTEMPTS:
                raise
            _end([p for p in me.children(recursive=True) if p.pid not in before], grace=0)


class LocalCluster:
    """``nodes`` Ray nodes on this machine; this process joins them (``ray.init``) unless ``connect=False``.

    ``resources``: custom resources per node, a list with one dict per node (e.g.
    ``[{}, {"fceux": 4}]``: only the second node "has the emulator"). Each node also
    gets the resource ``"local_node_<k>"`` (1.0), so a test can place an actor on node ``k``.
    """

    def __init__(
        self,
        nodes: int = 2,
        cpus_per_node: float = 2,
        resources: list[dict[str, float]] | None = None,
        connect: bool = True,
        object_store_mb: int = 100,
        runtime_env: dict[str, Any] | None = None,
    ) -> None:
        import ray
        from ray.cluster_utils import Cluster

        if nodes < 1:
            raise ValueError(f"nodes must be at least 1, got {nodes}")
        if ray.is_initialized():
            raise RuntimeError("this process has already joined a Ray cluster; ray.shutdown() first")
        resources = list(resources or [{} for _ in range(nodes)])
        if len(resources) != nodes:
            raise ValueError(f"resources needs one dict per node ({nodes}), got {len(resources)}")
        self.temp_dir = tempfile.mkdtemp(prefix="r-")  # short: Ray's socket paths below it must fit in 107 bytes
        self._saved_env = {k: os.environ.get(k) for k in [*RAY_ENV, "RAY_TMPDIR"]}
        os.environ.update(RAY_ENV, RAY_TMPDIR=self.temp_dir)
        self._loopback_before = keep_loopback(True)
        self.cluster: Any = None
        self.connected = False
        self._node_pids: list[int] = []
        self.nodes: list[Any] = []  # Ray's Node handles, in the order added (node k has "local_node_<k>")
        self._object_store_mb = object_store_mb
        self._added = 0
        started = time.monotonic()
        try:
            self.cluster = Cluster(shutdown_at_exit=True)
            for k in range(nodes):
                self.add_node(cpus_per_node, resources[k])
            if connect:
                ray.init(address=self.address, log_to_driver=False, runtime_env=runtime_env)
                self.connected = True
        except BaseException:
            self.shutdown()
            raise
        self.start_s = time.monotonic() - started

    @property
    def address(self) -> str:
        return self.cluster.address

    def add_node(self, cpus: float = 2, resources: dict[str, float] | None = None) -> Any:
        """One more node (the next index ``k``, with the resource ``local_node_<k>``); its Ray ``Node``
        handle (``node.all_processes["raylet"][0].process`` is its raylet, for tests that kill it)."""
        node = _add_node(
            self.cluster, num_cpus=cpus, node_ip_address="127.0.0.1", include_dashboard=False,
            object_store_memory=self._object_store_mb * 1024 * 1024,
            resources={**(resources or {}), f"{NODE_RESOURCE}{self._added}": 1.0},
        )  # fmt: skip
        self._added += 1
        self.nodes.append(node)
        # the node's own processes (GCS, raylet, agents), as Ray started them
        self._node_pids += [info.process.pid for infos in node.all_processes.values() for info in infos]
        return node

    def remove_node(self, node: Any) -> None:
        """End one node's processes (without a graceful drain: as a lost node)."""
        self.cluster.remove_node(node, allow_graceful=False)
        self.nodes.remove(node)

    def node_ids(self) -> list[str]:
        """The nodes' Ray ids (hex), in the order they were added; also without ``connect``."""
        return [node.node_id for node in self.nodes]

    def _node_processes(self) -> list[psutil.Process]:
        """The nodes' processes and everything they started (workers, actors, env runners)."""
        procs = []
        for pid in self._node_pids:
            try:
                node = psutil.Process(pid)
                procs += [node, *node.children(recursive=True)]
            except psutil.Error:
                pass
        return procs

    def shutdown(self) -> None:
        """Disconnect, end every node's processes and their workers (by handle), remove the
        temporary folder; idempotent."""
        import ray

        try:
            procs = self._node_processes() if self.cluster is not None else []
            if self.connected:
                ray.shutdown()
                self.connected = False
            if self.cluster is not None:
                self.cluster.shutdown()
                self.cluster = None
            # Why: Ray's workers (actors, RLlib's env runners) leave on their own once their raylet is
            # gone, but measured here up to 10+ s later; a closed cluster leaves nothing running.
            _end(procs, grace=3)
        finally:
            keep_loopback(self._loopback_before)
            for key, value in self._saved_env.items():
                if value is None:
                    os.environ.pop(key, None)
                else:
                    os.environ[key] = value
            shutil.rmtree(self.temp_dir, ignore_errors=True)

    def __enter__(self) -> "LocalCluster":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.shutdown()
