"""``parallel_map`` / ``prefetch``: input order, bounded read-ahead, errors in order, prompt stop."""
from __future__ import annotations

import random
import threading
import time
from collections.abc import Iterator

import pytest

from anchor_reloc_ros.data.prefetch import parallel_map, prefetch


def _threads(prefix: str) -> list[threading.Thread]:
    return [t for t in threading.enumerate() if t.name.startswith(prefix)]


class Source:
    """0..n-1, counting how many items were pulled."""

    def __init__(self, n: int) -> None:
        self.n = n
        self.pulled = 0

    def __iter__(self) -> Iterator[int]:
        for i in range(self.n):
            self.pulled += 1
            yield i


def _slow_square(i: int) -> int:
    time.sleep(random.uniform(0.0, 0.004))  # later items often finish first
    return i * i


@pytest.mark.parametrize("workers, depth", [(1, 1), (4, 3), (4, 16)])
def test_order_kept_and_read_ahead_bounded(workers: int, depth: int) -> None:
    source = Source(60)
    out = []
    for got in parallel_map(_slow_square, source, workers, depth, name="pm-order"):
        out.append(got)
        assert source.pulled <= len(out) + depth  # never more than depth pulled and not yielded
    assert out == [i * i for i in range(60)]
    assert not _threads("pm-order")


def test_error_in_fn_surfaces_at_its_position() -> None:
    def fn(i: int) -> int:
        time.sleep(0.002 if i != 7 else 0.0)  # item 7 fails before the earlier ones finish
        if i == 7:
            raise KeyError("item 7")
        return i

    out = []
    with pytest.raises(KeyError, match="item 7"):
        for got in parallel_map(fn, range(50), workers=4, depth=8, name="pm-error"):
            out.append(got)
    assert out == list(range(7))
    assert not _threads("pm-error")


def test_error_in_source_surfaces_after_earlier_items() -> None:
    def source() -> Iterator[int]:
        yield from range(5)
        raise OSError("truncated")

    out = []
    with pytest.raises(OSError, match="truncated"):
        for got in prefetch(source(), depth=2, name="pm-source"):
            out.append(got)
    assert out == list(range(5))


def test_leaving_early_stops_the_workers_promptly() -> None:
    source = Source(10_000)
    gen = parallel_map(lambda i: time.sleep(0.01) or i, source, workers=4, depth=8, name="pm-stop")
    for got in gen:
        if got == 3:
            break
    t0 = time.perf_counter()
    gen.close()
    assert time.perf_counter() - t0 < 1.0
    assert not _threads("pm-stop")
    pulled = source.pulled
    assert pulled <= 4 + 8  # nothing pulled beyond the read-ahead bound
    time.sleep(0.05)
    assert source.pulled == pulled


def test_prefetch_is_one_thread_ahead_and_inline_mode_uses_none() -> None:
    seen = []
    gen = prefetch((seen.append(threading.current_thread().name) or i for i in range(5)), depth=2,
                   name="pm-prefetch")
    assert list(gen) == list(range(5)) and set(seen) == {"pm-prefetch-0"}
    before = threading.active_count()
    assert list(parallel_map(str, range(3), workers=0)) == ["0", "1", "2"]
    assert threading.active_count() == before
    with pytest.raises(ValueError, match="workers"):
        parallel_map(str, range(3), workers=-1)
