"""Joining a Ray cluster and checking that it can hold vecbridge's actors, before anything waits on Ray.

Ray's own answers to both mistakes are slow and silent: an address where nothing answers is
retried for minutes, and an actor that no node can hold waits ~150 s before it fails
(measured on 2 cores, Ray 2.60). These checks answer at once, naming what was asked for.
"""

from __future__ import annotations

import ipaddress
import os
import socket
from typing import Any

from vecbridge.errors import VecBridgeError

#: how long joining a cluster by address waits for its GCS port to answer
CONNECT_TIMEOUT_S = 10.0


def tcp_address(address: str | None) -> tuple[str, int] | None:
    """The host and port of a cluster address (``HOST:PORT``, ``ray://HOST:PORT``); None for
    ``None``, ``"auto"``, ``"local"`` and other forms Ray resolves itself."""
    if not address:
        return None
    host, sep, port = address.removeprefix("ray://").rpartition(":")
    if not sep or not port.isdigit() or not host:
        return None
    return host.strip("[]"), int(port)


def join_cluster(ray: Any, address: str | None) -> None:
    """``ray.init(address=...)``, after checking that something answers there: Ray itself retries an
    unreachable address for minutes without a word. A loopback address stays loopback
    (:func:`vecbridge.ray_local.keep_loopback`: Ray would rewrite 127.0.0.1 to this machine's
    first interface address, which a sandboxed machine may not reach)."""
    where = tcp_address(address or os.environ.get("RAY_ADDRESS"))
    if where is not None:
        host, port = where
        try:
            loopback = ipaddress.ip_address(host).is_loopback
        except ValueError:
            loopback = host == "localhost"
        if loopback:
            from vecbridge.ray_local import keep_loopback

            keep_loopback()
        try:
            socket.create_connection((host, port), timeout=CONNECT_TIMEOUT_S).close()
        except OSError as exc:
            raise VecBridgeError(
                f"no Ray cluster answers at {host}:{port} ({exc.strerror or exc}; from "
                f"{'ray_address' if address else 'RAY_ADDRESS'}): start one there (`ray start --head --port {port}`), "
                f"fix the address, or leave it out for a local Ray; on one machine, vecbridge.ray_local.LocalCluster "
                f"starts a cluster of several nodes"
            ) from None
    ray.init(address=address, log_to_driver=True)


def actor_needs(options: dict[str, Any]) -> dict[str, float]:
    """The resources one actor with Ray options ``options`` takes (as a node lists them)."""
    need = {"CPU": options.get("num_cpus", 1), "GPU": options.get("num_gpus", 0), **(options.get("resources") or {})}
    return {k: float(v) for k, v in need.items() if v}


def fits(need: dict[str, float], resources: dict[str, float]) -> bool:
    """Whether a node with ``resources`` (its totals) could ever hold ``need``."""
    return all(resources.get(k, 0) >= v for k, v in need.items())
