"""A ROS service whose callback may block, served off the node's main executor.

The node runs on a ``SingleThreadedExecutor``: rclpy's ``MultiThreadedExecutor`` delayed
image callbacks by about 10 ms at the median and 90 ms at p95 on a 2-core machine
(measured with ``benchmarks.node_latency``), against about 1 ms and 5 ms single-threaded.
A single-threaded executor must never wait inside a callback, but ``~/relocalize``
waits for the next estimate. So that service lives on a small companion node with its
own executor thread, under the main node's name (``<node>/relocalize``).
"""
from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

import rclpy
from rclpy.executors import ExternalShutdownException, SingleThreadedExecutor
from rclpy.node import Node

JOIN_TIMEOUT_S = 5.0


class BlockingService:
    """``srv_type`` at ``owner``'s ``~/name``, answered by ``callback`` on its own thread."""

    def __init__(self, owner: Node, srv_type: Any, name: str,
                 callback: Callable[[Any, Any], Any]) -> None:
        # No global arguments: a launch file's node-name remap must not rename this node too.
        self.node = rclpy.create_node(f"{owner.get_name()}_{name}_server", namespace=owner.get_namespace(),
                                      context=owner.context, use_global_arguments=False,
                                      start_parameter_services=False, enable_rosout=False)
        self.service = self.node.create_service(srv_type, f"{owner.get_fully_qualified_name()}/{name}",
                                                callback)
        self._executor = SingleThreadedExecutor(context=owner.context)
        self._executor.add_node(self.node)
        self._thread = threading.Thread(target=self._spin, name=f"{name}_server", daemon=True)
        self._thread.start()

    def _spin(self) -> None:
        try:
            self._executor.spin()
        except ExternalShutdownException:
            pass  # rclpy was shut down: nothing left to serve

    def close(self) -> None:
        self._executor.shutdown(timeout_sec=JOIN_TIMEOUT_S)
        self._thread.join(JOIN_TIMEOUT_S)
        self.node.destroy_node()
