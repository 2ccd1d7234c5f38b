"""SIGINT / SIGTERM as a request for an orderly stop, instead of rclpy's own handlers.

rclpy's handlers shut the context down the moment a signal arrives, while worker
threads are still publishing and the ``~/relocalize`` thread is still waiting: they
then fail with "context is not valid". With ``rclpy.init(signal_handler_options=NO)``
and ``StopSignals``, a signal only sets an event; the node's main loop sees it, stops
its threads and nodes, and only then shuts the context down (``node.main``).
"""
from __future__ import annotations

import signal
import threading
from types import FrameType

STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM)


class StopSignals:
    """SIGINT and SIGTERM set ``requested``, for the rest of the process's life.

    The handlers stay installed until the process exits, so a second Ctrl-C while the
    node stops (or while the interpreter tears down) is absorbed instead of raising
    KeyboardInterrupt in the middle of it; every stop step is bounded by its timeout,
    and SIGKILL still ends a hung process. Handlers can only be installed from the main
    thread; elsewhere ``install`` installs nothing.
    """

    def __init__(self) -> None:
        self.requested = threading.Event()
        self.signal_name: str | None = None

    def _handle(self, signum: int, _frame: FrameType | None) -> None:
        self.signal_name = self.signal_name or signal.Signals(signum).name
        self.requested.set()

    @classmethod
    def install(cls) -> "StopSignals":
        signals = cls()
        if threading.current_thread() is threading.main_thread():
            for sig in STOP_SIGNALS:
                signal.signal(sig, signals._handle)
        return signals
