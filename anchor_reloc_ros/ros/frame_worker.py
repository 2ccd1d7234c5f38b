"""Latest-frame hand-off between the executor and one inference thread (ROS-free).

The subscription callback only ``put``s a frame; it never waits. A frame that arrives
while an older one is still waiting replaces it (the OLDEST is dropped), so the worker
always starts on the NEWEST frame and never works through a stale queue.
"""
from __future__ import annotations

import threading
from typing import Callable, Generic, TypeVar

T = TypeVar("T")


class LatestFrameSlot(Generic[T]):
    """A one-element mailbox where ``put`` overwrites and ``take`` waits (bounded)."""

    def __init__(self) -> None:
        self._item: T | None = None
        self._cond = threading.Condition()

    def put(self, item: T) -> T | None:
        """Store ``item``; return the unprocessed frame it replaced, if any."""
        with self._cond:
            dropped, self._item = self._item, item
            self._cond.notify()
        return dropped

    def take(self, timeout_s: float) -> T | None:
        """The newest frame, waiting at most ``timeout_s``; None when none came."""
        with self._cond:
            if self._item is None:
                self._cond.wait_for(lambda: self._item is not None, timeout=timeout_s)
            item, self._item = self._item, None
            return item

    def restore(self, item: T) -> None:
        """Put back a frame that was taken but not used, unless a newer one arrived."""
        with self._cond:
            if self._item is None:
                self._item = item
                self._cond.notify()

    def clear(self) -> None:
        with self._cond:
            self._item = None


class FrameWorker(threading.Thread):
    """Daemon thread that repeatedly runs ``step()`` until ``stop()``.

    ``step`` must return within about ``poll_s`` when idle (e.g. a ``take`` with that
    timeout) so ``stop`` is honoured promptly. An exception escaping ``step`` goes to
    ``on_error`` and the loop continues: one bad frame never kills the worker.
    """

    def __init__(self, step: Callable[[], None], on_error: Callable[[BaseException], None],
                 name: str = "anchor_reloc_worker") -> None:
        super().__init__(name=name, daemon=True)
        self._step = step
        self._on_error = on_error
        self._stop_event = threading.Event()

    def run(self) -> None:
        while not self._stop_event.is_set():
            try:
                self._step()
            except Exception as exc:  # noqa: BLE001 - reported, counted, loop goes on
                self._on_error(exc)

    def stop(self, timeout_s: float = 5.0) -> bool:
        """Ask the loop to end and join it; True when it ended within the timeout."""
        self._stop_event.set()
        if self.is_alive() and threading.current_thread() is not self:
            self.join(timeout_s)
        return not self.is_alive()
