"""Ordered, bounded work on background threads: ``parallel_map`` and ``prefetch``.

Used to decode bag images while the network runs on the previous batch (OpenCV, numpy
and torch release the GIL). ``parallel_map(fn, items, workers, depth)`` yields
``fn(item)`` in input order; the worker threads take turns pulling ``items`` (one at a
time, under a lock) and run ``fn`` in parallel, at most ``depth`` items ahead of the
consumer. ``prefetch`` is the 1-worker identity case: the iterator runs ahead on one thread.

Contract: an exception from ``items`` or ``fn`` re-raises in the consumer at its position,
after every earlier result; leaving the loop early (break, exception, ``close()``) stops
the workers: nothing new is pulled or started and they are joined. Every wait is bounded.
"""
from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable, Generator, Iterable
from typing import TypeVar

T = TypeVar("T")
R = TypeVar("R")
_POLL_S = 0.1
_JOIN_S = 5.0
_ITEM, _END, _ERROR = range(3)


def usable_cores() -> int:
    """CPU cores this process may run on (its affinity mask, else ``os.cpu_count()``)."""
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)


def default_workers(cap: int = 8) -> int:
    """Worker threads for a CPU-bound ``parallel_map``: the usable cores, at most ``cap``."""
    return max(1, min(cap, usable_cores()))


def prefetch(items: Iterable[T], depth: int = 8, name: str = "prefetch") -> Generator[T, None, None]:
    """Yield ``items`` in order, produced by a daemon thread at most ``depth`` ahead."""
    return parallel_map(_identity, items, workers=1, depth=depth, name=name)


def _identity(item: T) -> T:
    return item


def parallel_map(fn: Callable[[T], R], items: Iterable[T], workers: int, depth: int | None = None,
                 name: str = "parallel-map") -> Generator[R, None, None]:
    """``fn(item)`` for every item, in order, computed by ``workers`` daemon threads with at most
    ``depth`` (default ``2 * workers``) items pulled and not yet yielded. ``workers == 0`` runs
    everything on the consumer's thread (no threads, no read-ahead)."""
    if workers < 0:
        raise ValueError(f"workers must be >= 0, got {workers}")
    if workers == 0:
        return (fn(item) for item in items)
    return _threaded_map(fn, items, workers, max(1, depth if depth is not None else 2 * workers), name)


def _threaded_map(fn: Callable[[T], R], items: Iterable[T], workers: int, depth: int,
                  name: str) -> Generator[R, None, None]:
    source = iter(items)
    source_lock = threading.Lock()     # one worker at a time pulls from ``source``
    slots = threading.Semaphore(depth)  # one per item pulled and not yet handed to the consumer
    done = threading.Condition()        # guards ``results``; notified on every new result
    results: dict[int, tuple[int, object]] = {}
    stop = threading.Event()
    pulled = 0                          # items taken from ``source`` (the next one's position)
    exhausted = False                   # ``source`` ended or raised: pull nothing more

    def post(seq: int, kind: int, value: object) -> None:
        with done:
            results[seq] = (kind, value)
            done.notify_all()

    def pull() -> tuple[int, int, object] | None:
        """(seq, kind, item) of the next input, or None when there is none to take."""
        nonlocal pulled, exhausted
        while not source_lock.acquire(timeout=_POLL_S):
            if stop.is_set():
                return None
        try:
            if exhausted or stop.is_set():
                return None
            seq, pulled = pulled, pulled + 1
            try:
                return seq, _ITEM, next(source)
            except StopIteration:
                exhausted = True
                return seq, _END, None
            except BaseException as exc:  # noqa: BLE001 - handed to the consumer, re-raised there
                exhausted = True
                return seq, _ERROR, exc
        finally:
            source_lock.release()

    def work() -> None:
        while not stop.is_set():
            if not slots.acquire(timeout=_POLL_S):
                continue
            taken = pull()
            if taken is None:
                slots.release()
                return
            seq, kind, value = taken
            if kind != _ITEM:
                post(seq, kind, value)
                return
            if stop.is_set():  # the consumer left: drop the pending item
                return
            try:
                post(seq, _ITEM, fn(value))  # type: ignore[arg-type]
            except BaseException as exc:  # noqa: BLE001 - handed to the consumer, re-raised there
                post(seq, _ERROR, exc)

    threads = [threading.Thread(target=work, name=f"{name}-{i}", daemon=True) for i in range(workers)]
    for t in threads:
        t.start()
    try:
        seq = 0
        while True:
            with done:
                while seq not in results:
                    done.wait(_POLL_S)
                    if seq not in results and not any(t.is_alive() for t in threads):
                        raise RuntimeError(f"{name} threads ended without finishing")
                kind, value = results.pop(seq)
            slots.release()
            if kind == _END:
                return
            if kind == _ERROR:
                raise value  # type: ignore[misc]
            seq += 1
            yield value  # type: ignore[misc]
    finally:
        stop.set()
        deadline = time.monotonic() + _JOIN_S  # one bound for all the threads together
        for t in threads:
            t.join(max(0.0, deadline - time.monotonic()))
