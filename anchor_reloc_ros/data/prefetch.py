"""Run an iterator on a background thread, a bounded number of items ahead.

Used to decode bag images while the network runs on the previous batch (OpenCV and
torch release the GIL). Exceptions raised by the producer re-raise in the consumer;
leaving the loop early stops the producer. Every wait is bounded.
"""
from __future__ import annotations

import queue
import threading
from collections.abc import Generator, Iterable
from typing import TypeVar

T = TypeVar("T")
_POLL_S = 0.1
_JOIN_S = 5.0
_ITEM, _END, _ERROR = range(3)


def prefetch(items: Iterable[T], depth: int = 8, name: str = "prefetch") -> Generator[T, None, None]:
    """Yield ``items`` in order, produced by a daemon thread at most ``depth`` ahead."""
    slots: queue.Queue[tuple[int, object]] = queue.Queue(maxsize=max(1, depth))
    stop = threading.Event()

    def put(entry: tuple[int, object]) -> bool:
        while not stop.is_set():
            try:
                slots.put(entry, timeout=_POLL_S)
                return True
            except queue.Full:
                continue
        return False

    def produce() -> None:
        try:
            for item in items:
                if not put((_ITEM, item)):
                    return
        except BaseException as exc:  # noqa: BLE001 - handed to the consumer, re-raised there
            put((_ERROR, exc))
            return
        put((_END, None))

    worker = threading.Thread(target=produce, name=name, daemon=True)
    worker.start()
    try:
        while True:
            try:
                kind, value = slots.get(timeout=_POLL_S)
            except queue.Empty:
                if not worker.is_alive() and slots.empty():
                    raise RuntimeError(f"{name} thread ended without finishing") from None
                continue
            if kind == _END:
                return
            if kind == _ERROR:
                raise value  # type: ignore[misc]
            yield value  # type: ignore[misc]
    finally:
        stop.set()
        worker.join(_JOIN_S)
